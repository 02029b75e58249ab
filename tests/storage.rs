//! What reaches the disk, and what survives a crash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, PARAMIKO, PYTHON, eventually, names, sha256_hex};
use serde_json::Value;

const MARKER: &[u8] = b"RENKEI-PLAINTEXT-MARKER-7f3a";

fn every_file(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            every_file(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_plaintext_reaches_the_data_directory() {
    let d = Daemon::start();
    let mut content = Vec::new();
    for i in 0..20_000 {
        content.extend_from_slice(MARKER);
        content.extend_from_slice(format!(" 行{i}\n").as_bytes());
    }
    fs::write(d.work.join("m.csv"), &content).unwrap();
    // Complete uploads by three routes, and an upload cut off half-way.
    d.sftp_ok("032018-juki", "put m.csv /inbox/m1.csv\n");
    d.paramiko_json("032018-juki", &["put", "m.csv", "/inbox/m2.csv"]);
    d.put("032018", "outbox", "m3.csv", &content);
    let mut cut = Command::new("sftp")
        .args(d.ssh_opts("032018-juki", "-P"))
        .args(["-l", "800", "-b", "-"])
        .arg("032018-juki@127.0.0.1")
        .current_dir(&d.work)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    cut.stdin
        .take()
        .unwrap()
        .write_all(b"put m.csv /inbox/m4.csv\n")
        .unwrap();
    // At 100 kB/s, a fifth of the file on its way.
    d.wait_for_received_over(150_000);
    let _ = Command::new("pkill")
        .args(["-9", "-P", &cut.id().to_string()])
        .status();
    let _ = cut.kill();
    let _ = cut.wait();
    eventually("the partial", Duration::from_secs(30), || {
        d.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial")
            .then_some(())
    });

    let mut files = Vec::new();
    every_file(&d.data, &mut files);
    assert!(files.len() >= 6, "vault blobs, journal, keys: {files:?}");
    if let Some(pg) = &d.pg {
        // The journal's database, WAL included.
        pg.sql("CHECKPOINT");
        every_file(&pg.data(), &mut files);
    }
    let mut scanned = 0;
    for f in &files {
        let Ok(bytes) = fs::read(f) else { continue };
        scanned += bytes.len();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext found in {}",
            f.display()
        );
    }
    // The bucket's objects, when the blobs are there.
    let objects = if d.s3.is_some() {
        d.vault_files()
    } else {
        Vec::new()
    };
    for blob in objects {
        let bytes = d.blob_bytes(&blob);
        scanned += bytes.len();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext found in {blob:?}"
        );
    }
    assert!(
        scanned as u64 > 3 * content.len() as u64,
        "the encrypted copies were scanned ({scanned} bytes)"
    );
    // And the bytes come back intact.
    assert_eq!(d.get("032018", "inbox", "m1.csv"), content);
    assert_eq!(d.get("032018", "outbox", "m3.csv"), content);
}

#[test]
fn kill_9_during_uploads_loses_no_acknowledged_file_and_shows_no_half_file() {
    let mut d = Daemon::start();
    let mut load = Command::new(PYTHON)
        .arg(PARAMIKO)
        .args(["127.0.0.1", &d.port.to_string(), "032018-juki"])
        .arg(&d.keys["032018-juki"].private)
        .args(["load", "crash", "4", "60", "300000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut expected: HashMap<String, (String, u64)> = HashMap::new();
    let mut acked = Vec::new();
    let reader = BufReader::new(load.stdout.take().unwrap());
    let mut lines = reader.lines();
    // Let a good number of uploads be acknowledged, then pull the plug
    // while the others are in flight.
    let record =
        |line: String, expected: &mut HashMap<String, (String, u64)>, acked: &mut Vec<String>| {
            let v: Value = serde_json::from_str(&line).unwrap();
            if let Some(name) = v["start"].as_str() {
                let sha = v["sha256"].as_str().unwrap().to_string();
                expected.insert(name.to_string(), (sha, v["size"].as_u64().unwrap()));
            } else if let Some(name) = v["ok"].as_str() {
                acked.push(name.to_string());
            }
        };
    while acked.len() < 40 {
        let line = lines.next().expect("load output").unwrap();
        record(line, &mut expected, &mut acked);
    }
    d.kill9();
    for line in lines {
        record(line.unwrap(), &mut expected, &mut acked);
    }
    let _ = load.wait();
    // Each of the 4 sessions had started an upload it never saw finish.
    assert!(
        expected.len() >= acked.len() + 4,
        "uploads were in flight at the kill: {} started, {} acknowledged",
        expected.len(),
        acked.len()
    );

    d.start_again();
    let ls = d.ls("032018");
    let stored: HashMap<String, &Value> = ls
        .iter()
        .filter(|e| e["state"] == "stored")
        .map(|e| (e["path"].as_str().unwrap().to_string(), e))
        .collect();
    // Every acknowledged upload is there, byte-exact.
    for name in &acked {
        let e = stored
            .get(name)
            .unwrap_or_else(|| panic!("acknowledged {name} is missing after the crash"));
        let (sha, size) = &expected[name];
        assert_eq!(e["sha256"], *sha, "{name}");
        assert_eq!(e["size"], *size, "{name}");
        assert_eq!(
            sha256_hex(&d.get("032018", "inbox", name)),
            *sha,
            "{name} reads back byte-exact"
        );
    }
    // Whatever else is visible was complete: an upload whose OK was lost
    // in the crash may be there, but never a half file.
    for (name, e) in &stored {
        let (sha, size) = expected
            .get(name)
            .unwrap_or_else(|| panic!("unexpected {name}"));
        assert_eq!(e["sha256"], *sha, "{name} is complete");
        assert_eq!(e["size"], *size, "{name} is complete");
    }
    // Clients list no partial.
    let listed = d.paramiko_json("032018-juki", &["listdir", "/inbox"]);
    let listed: Vec<String> = listed["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut want: Vec<String> = stored.keys().cloned().collect();
    want.sort();
    assert_eq!(listed, want);
    // Start-up swept what the crash left behind, and the vault holds
    // exactly the blobs the journal names.
    let rec = d.wait_event("recovery after the crash", |e| {
        e["event"] == "recovery_completed" && e["committed_files"].as_u64() > Some(0)
    });
    assert_eq!(rec["committed_files"], stored.len());
    let partials = names(&ls, "inbox", "partial").len();
    assert!(
        d.vault_files().len() >= stored.len()
            && d.vault_files().len() <= stored.len() + partials * 2
    );
}

#[test]
fn every_blob_is_a_plain_age_file_that_the_vault_key_opens() {
    let d = Daemon::start();
    let content = common::pseudo_random(1 << 20, 99);
    d.put("032018", "inbox", "a.dat", &content);
    let blobs = d.vault_files();
    assert_eq!(blobs.len(), 1);
    let blob = d.work.join("blob.age");
    fs::write(&blob, d.blob_bytes(&blobs[0])).unwrap();
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(d.data.join("vault.key"))
        .arg(&blob)
        .output()
        .expect("the age tool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, content, "stock age decrypts renkei's storage");
}

#[test]
fn a_blob_lost_outside_renkei_is_reported_as_data_loss() {
    let mut d = Daemon::start();
    d.put("032018", "outbox", "lost.csv", b"gone");
    for blob in d.vault_files() {
        d.remove_blob(&blob);
    }
    let r = d.paramiko_json("032018-juki", &["try", "open_read", "/outbox/lost.csv"]);
    assert_eq!(r["ok"], false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("missing from the vault"),
        "{r}"
    );
    d.restart();
    assert!(
        d.log_text()
            .contains("a blob named by the journal is missing from the vault")
    );
}

/// Everything under the data directory is owner-only, whatever the umask
/// the daemon was started with (public keys excepted).
#[test]
fn files_under_the_data_directory_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let d = Daemon::start();
    d.sftp_ok("032018-juki", "mkdir /inbox/d\n");
    let mut checked = 0;
    let mut stack = vec![d.data.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                stack.push(p.clone());
            }
            let public = p.extension().is_some_and(|x| x == "pub")
                || p.file_name().is_some_and(|n| n == "known_hosts");
            if !public {
                assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", p.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "only {checked} files checked");
}
