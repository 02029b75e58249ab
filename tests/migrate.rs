//! `renkei storage migrate`: a single-node data directory with stored
//! files, a partial upload, delivered hand-offs, a ban and an audit trail
//! moves onto a real PostgreSQL and a real S3 server (Garage), and the
//! daemon carries on from there: nothing lost, nothing delivered twice,
//! the partial resumes, the trail verifies across the move, every SHA-256
//! matches, and no plaintext reaches the database or the bucket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{BIN, Daemon, eventually, garage::Garage, pg::Postgres, pseudo_random, sha256_hex};

const MARKER: &[u8] = b"RENKEI-MIGRATION-PLAINTEXT";

const SETUP: &str = r#"
[defender]
threshold = 2
ban_time = "1h"

[limits]
upload_checkpoint = "2MiB"

[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
"#;

/// path → SHA-256 of every stored file of 032018.
fn stored(d: &Daemon) -> BTreeMap<String, String> {
    d.ls("032018")
        .into_iter()
        .filter(|e| e["state"] == "stored")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_string(),
                e["sha256"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn triggers(d: &Daemon) -> usize {
    fs::read_dir(d.root.path().join("spool/032018"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".end"))
                .count()
        })
        .unwrap_or(0)
}

fn wrong_key_from(d: &Daemon, bind: &str) -> bool {
    let batch = d.work.join("ban-batch");
    fs::write(&batch, "ls\n").unwrap();
    common::sftp_from(
        &d.keys["032018-zei"].private,
        "032018-juki",
        "127.0.0.1",
        d.port,
        bind,
        &batch,
    )
    .output()
    .unwrap()
    .status
    .success()
}

/// `renkei storage migrate --from <d's data> --to TARGET`.
fn storage_migrate(d: &Daemon, target: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["storage", "migrate", "--from"])
        .arg(&d.data)
        .arg("--to")
        .arg(target)
        .output()
        .unwrap()
}

#[test]
fn a_single_node_moves_to_postgresql_and_s3_losing_nothing_and_sending_nothing_twice() {
    let mut d = Daemon::start_local(SETUP);
    // Thirty files up (each handed on once by the route) and one down.
    let mut batch = String::new();
    for i in 0..30 {
        let mut body = MARKER.to_vec();
        body.extend_from_slice(&pseudo_random(10_000 + i * 100, i as u64));
        fs::write(d.work.join(format!("f{i:02}.csv")), &body).unwrap();
        batch.push_str(&format!("put f{i:02}.csv /inbox/f{i:02}.csv\n"));
    }
    d.sftp_ok("032018-juki", &batch);
    d.put(
        "032018",
        "outbox",
        "down.txt",
        b"RENKEI-MIGRATION-PLAINTEXT down",
    );
    eventually("thirty hand-offs", Duration::from_secs(60), || {
        (triggers(&d) == 30).then_some(())
    });
    // An upload cut off after a checkpoint: a partial to resume later.
    let big = pseudo_random(20 << 20, 99);
    fs::write(d.work.join("big.dat"), &big).unwrap();
    let client = d.sftp_background("032018-juki", "put big.dat /inbox/big.dat\n", 40_000);
    eventually("a checkpoint", Duration::from_secs(60), || {
        d.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial" && e["size"].as_u64() >= Some(2 << 20))
            .then_some(())
    });
    common::kill_client(client);
    // A ban.
    for _ in 0..2 {
        assert!(!wrong_key_from(&d, "127.0.0.5"));
    }
    d.wait_event("the ban", |e| e["event"] == "banned");
    let before = stored(&d);
    assert_eq!(before.len(), 31, "thirty up, one down: {before:?}");
    let partial_before = d
        .ls("032018")
        .into_iter()
        .find(|e| e["state"] == "partial")
        .and_then(|e| e["size"].as_u64())
        .unwrap();
    assert!(d.stop().success());

    // The engines, and the configuration that names them.
    let pg = Postgres::start();
    let s3 = Garage::start();
    let old = fs::read_to_string(&d.config).unwrap();
    let target = d.root.path().join("renkei-engines.toml");
    fs::write(
        &target,
        format!("{old}\n{}{}", pg.storage_toml(), s3.storage_lines()),
    )
    .unwrap();
    let out = storage_migrate(&d, &target);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("SHA-256 matching: 31"),
        "thirty up, one down: {said}"
    );
    assert!(
        said.contains("audit trail copied to s3://renkei/audit"),
        "{said}"
    );
    assert!(d.data.join("journal.redb.migrated").exists());
    // Run again, it finds everything already there and changes nothing.
    let again = storage_migrate(&d, &target);
    assert!(
        !again.status.success()
            && String::from_utf8_lossy(&again.stderr).contains("nothing to migrate"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // No plaintext in the database or the bucket.
    pg.sql("CHECKPOINT");
    let mut files = Vec::new();
    let mut stack = vec![pg.data()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    for f in files {
        let bytes = fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext in {}",
            f.display()
        );
    }
    let objects: Vec<String> = s3
        .objects_sized("vault")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(objects.len() >= 32, "31 files and a partial: {objects:?}");
    for key in &objects {
        let bytes = s3.object(key);
        assert!(bytes.starts_with(b"age-encryption.org/v1"), "{key}");
        assert!(!bytes.windows(MARKER.len()).any(|w| w == MARKER), "{key}");
    }

    // The daemon on the engines: everything there, nothing sent twice.
    fs::copy(&target, &d.config).unwrap();
    d.pg = Some(pg);
    d.s3 = Some(s3);
    d.start_again();
    assert_eq!(stored(&d), before, "every file, every SHA-256");
    assert_eq!(
        d.get("032018", "outbox", "down.txt"),
        b"RENKEI-MIGRATION-PLAINTEXT down"
    );
    assert!(d.ctl_ok(&["bans"]).contains("127.0.0.5"));
    fs::write(d.work.join("after.csv"), b"after the move\n").unwrap();
    d.sftp_ok("032018-juki", "put after.csv /inbox/after.csv\n");
    eventually("the new file handed on", Duration::from_secs(60), || {
        (triggers(&d) == 31).then_some(())
    });
    let delivered = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "handoff_delivered")
        .count();
    assert_eq!(
        delivered, 31,
        "thirty before the move, one after, none again"
    );
    let kept = d
        .ls("032018")
        .into_iter()
        .find(|e| e["state"] == "partial")
        .and_then(|e| e["size"].as_u64());
    assert_eq!(kept, Some(partial_before), "the partial moved");
    d.sftp_ok("032018-juki", "reput big.dat /inbox/big.dat\n");
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "big.dat")),
        sha256_hex(&big)
    );

    // The trail verifies across the move.
    let (ok, out) = d.cli("audit", &["verify"]);
    assert!(ok, "{out}");

    // Its copy in the bucket too, up to the seal of a clean stop.
    assert!(d.stop().success());
    let copy = d.root.path().join("trail-copy");
    d.s3.as_ref().unwrap().download("audit", &copy);
    let local = fs::read_dir(d.data.join("audit"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("segment-"))
        .count();
    assert!(local >= 1);
    for e in fs::read_dir(d.data.join("audit")).unwrap().flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("segment-") {
            assert_eq!(
                fs::read(copy.join(&name)).unwrap(),
                fs::read(e.path()).unwrap(),
                "{name:?} copied whole after the final checkpoint"
            );
        }
    }
    let out = std::process::Command::new(common::BIN)
        .args(["audit", "verify", "--dir"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
