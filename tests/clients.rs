//! paramiko, lftp and curl against a real daemon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::Command;

use common::{Daemon, names, pseudo_random, sha256_file, sha256_hex};

const NAME: &str = "資格情報(個人)_032018_20261121.csv";

#[test]
fn paramiko_put_and_prefetching_get() {
    let d = Daemon::start();
    let data = pseudo_random(48 << 20, 11);
    fs::write(d.work.join("up.dat"), &data).unwrap();
    let r = d.paramiko_json("032018-juki", &["put", "up.dat", &format!("/inbox/{NAME}")]);
    assert_eq!(r["size"], data.len());
    // get() prefetches: dozens of reads outstanding, the pattern that
    // freezes a server whose request loop blocks on its own replies.
    let r = d.paramiko_json(
        "032018-juki",
        &["get", &format!("/inbox/{NAME}"), "down.dat"],
    );
    assert_eq!(r["ok"], true);
    assert_eq!(sha256_file(&d.work.join("down.dat")), sha256_hex(&data));
    let r = d.paramiko_json("032018-juki", &["listdir", "/inbox"]);
    assert_eq!(r["names"], serde_json::json!([NAME]));
}

#[test]
fn paramiko_sees_clear_error_messages() {
    let d = Daemon::start();
    d.put("032018", "outbox", "down.csv", b"xyz");
    let cases: &[(&[&str], &str)] = &[
        (
            &["open_write", "/outbox/new.csv"],
            "/outbox is filled by the standard system",
        ),
        (
            &["stat", "/inbox/../../011002/outbox/down.csv"],
            "the boxes are /inbox and /outbox",
        ),
        (
            &["open_read", "/011002/inbox/x"],
            "the boxes are /inbox and /outbox",
        ),
        (
            &["symlink", "/outbox/down.csv", "/inbox/l"],
            "symbolic links do not exist",
        ),
        (&["readlink", "/inbox/l"], "symbolic links do not exist"),
        (&["truncate", "/outbox/down.csv"], "files are written once"),
        (
            &["open_write", &format!("/inbox/{}", "長".repeat(90))],
            "the limit is 255 bytes",
        ),
        (
            &["open_write", "/inbox/a\tb.csv"],
            "control character U+0009",
        ),
        (&["open_write", "/inbox/nodir/x.csv"], "no such file"),
        (&["rmdir", "/inbox"], "not possible on / or on a box"),
    ];
    for (args, want) in cases {
        let mut a = vec!["try"];
        a.extend_from_slice(args);
        let r = d.paramiko_json("032018-juki", &a);
        assert_eq!(r["ok"], false, "{args:?} must fail");
        let msg = r["message"].as_str().unwrap();
        assert!(
            msg.contains(want),
            "{args:?}: {msg:?} should mention {want:?}"
        );
    }
    // The refused write created nothing.
    assert_eq!(
        names(&d.ls("032018"), "outbox", "stored"),
        vec!["down.csv".to_string()]
    );
    assert!(names(&d.ls("032018"), "inbox", "stored").is_empty());
}

fn lftp(d: &Daemon, user: &str, script: &str) -> std::process::Output {
    let key = d.keys[user].private.display().to_string();
    let connect = format!(
        "set sftp:auto-confirm yes; set net:max-retries 1; set sftp:connect-program 'ssh -a -x -i {key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes'; open -u {user}, -p {} sftp://127.0.0.1; {script}",
        d.port
    );
    Command::new("lftp")
        .args(["-c", &connect])
        .current_dir(&d.work)
        .output()
        .unwrap()
}

#[test]
fn lftp_put_get_mirror_and_remove() {
    let d = Daemon::start();
    let data = pseudo_random(5 << 20, 5);
    fs::write(d.work.join(NAME), &data).unwrap();
    fs::create_dir_all(d.work.join("tree/収納情報")).unwrap();
    fs::write(d.work.join("tree/収納情報/a.csv"), "a").unwrap();
    fs::write(d.work.join("tree/b.csv"), "b").unwrap();
    let out = lftp(
        &d,
        "032018-juki",
        &format!("cd inbox; put {NAME}; get {NAME} -o back.dat; mirror -R tree tree; cls -1 tree"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_file(&d.work.join("back.dat")), sha256_hex(&data));
    let stored = names(&d.ls("032018"), "inbox", "stored");
    let mut want = vec![
        NAME.to_string(),
        "tree/b.csv".into(),
        "tree/収納情報/a.csv".into(),
    ];
    want.sort();
    assert_eq!(stored, want);
    let out = lftp(&d, "032018-juki", "cd inbox; rm tree/b.csv; rm -r tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(&d.ls("032018"), "inbox", "stored"),
        vec![NAME.to_string()]
    );
    assert!(names(&d.ls("032018"), "inbox", "dir").is_empty());
}

fn curl(d: &Daemon, user: &str, args: &[&str]) -> std::process::Output {
    let key = d.keys[user].private.display().to_string();
    Command::new("curl")
        .args([
            "-sS",
            "-k",
            "-u",
            &format!("{user}:"),
            "--key",
            &key,
            "--pubkey",
            &format!("{key}.pub"),
        ])
        .args(args)
        .current_dir(&d.work)
        .output()
        .unwrap()
}

#[test]
fn curl_upload_download_list_and_traversal() {
    let d = Daemon::start();
    let data = pseudo_random(3 << 20, 8);
    fs::write(d.work.join("c.dat"), &data).unwrap();
    let base = format!("sftp://127.0.0.1:{}", d.port);
    // curl wants URL-encoded non-ASCII names.
    let encoded: String = NAME
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let out = curl(
        &d,
        "032018-juki",
        &["-T", "c.dat", &format!("{base}/inbox/{encoded}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = curl(
        &d,
        "032018-juki",
        &["-o", "c-back.dat", &format!("{base}/inbox/{encoded}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_file(&d.work.join("c-back.dat")), sha256_hex(&data));
    let out = curl(&d, "032018-juki", &[&format!("{base}/inbox/")]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(NAME));
    // A traversal attempt through curl's path handling fails and leaks nothing.
    d.put("011002", "inbox", "secret.csv", b"SAPPORO");
    let out = curl(
        &d,
        "032018-juki",
        &[
            "-o",
            "leak.dat",
            &format!("{base}/inbox/%2E%2E/%2E%2E/011002/inbox/secret.csv"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        !d.work.join("leak.dat").exists() || fs::read(d.work.join("leak.dat")).unwrap().is_empty()
    );
}

/// Uploads the first `n` bytes of `local` and drops the connection, then
/// waits until the daemon has kept them as a partial.
fn cut_upload(d: &Daemon, local: &str, remote: &str, n: usize) {
    let r = d.paramiko_json("032018-juki", &["cut", local, remote, &n.to_string()]);
    assert_eq!(r["sent"], n);
    common::eventually("the partial", std::time::Duration::from_secs(30), || {
        d.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial" && e["size"] == n)
            .then_some(())
    });
}

#[test]
fn lftp_and_curl_resume_a_partial() {
    let d = Daemon::start();
    let data = pseudo_random(6 << 20, 31);
    fs::write(d.work.join("r.dat"), &data).unwrap();
    // lftp: `put -c` continues from the size stat reports.
    cut_upload(&d, "r.dat", "/inbox/lftp.dat", 2 << 20);
    let out = lftp(&d, "032018-juki", "cd inbox; put -c r.dat -o lftp.dat");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "lftp.dat")),
        sha256_hex(&data)
    );
    // curl: `-C -` asks the server for the size and appends.
    cut_upload(&d, "r.dat", "/inbox/curl.dat", 3 << 20);
    let out = curl(
        &d,
        "032018-juki",
        &[
            "-C",
            "-",
            "-T",
            "r.dat",
            &format!("sftp://127.0.0.1:{}/inbox/curl.dat", d.port),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "curl.dat")),
        sha256_hex(&data)
    );
    let resumed = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "upload_committed" && e["resumed"] == true)
        .count();
    assert_eq!(resumed, 2);
    assert!(names(&d.ls("032018"), "inbox", "partial").is_empty());
}

#[test]
fn rclone_copies_a_tree_both_ways() {
    let d = Daemon::start();
    let src = d.work.join("src");
    fs::create_dir_all(src.join("月次")).unwrap();
    let big = pseudo_random(24 << 20, 12);
    fs::write(src.join("big.dat"), &big).unwrap();
    fs::write(src.join("月次/small.csv"), "a,b\n").unwrap();
    let key = d.keys["032018-juki"].private.display().to_string();
    let rclone = |args: &[&str]| {
        Command::new("rclone")
            .args(args)
            .args([
                "--sftp-host",
                "127.0.0.1",
                "--sftp-port",
                &d.port.to_string(),
                "--sftp-user",
                "032018-juki",
            ])
            .args([
                "--sftp-key-file",
                &key,
                "--sftp-shell-type",
                "none",
                "--sftp-concurrency",
                "64",
                "--config",
                "/dev/null",
            ])
            .current_dir(&d.work)
            .output()
            .unwrap()
    };
    let out = rclone(&["copy", "src", ":sftp:inbox/rc"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls = d.ls("032018");
    let big_entry = ls
        .iter()
        .find(|e| e["path"] == "rc/big.dat")
        .expect("big.dat uploaded");
    assert_eq!(big_entry["sha256"], sha256_hex(&big));
    assert!(ls.iter().any(|e| e["path"] == "rc/月次/small.csv"));
    let out = rclone(&["copy", ":sftp:inbox/rc", "back"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_file(&d.work.join("back/big.dat")), sha256_hex(&big));
}

#[test]
fn writes_may_arrive_out_of_order_within_the_window_but_never_overlap_or_leave_holes() {
    let d = Daemon::start_with(
        common::default_tenants(),
        "[limits]\nreorder_window = \"1MiB\"\n",
    );
    let data = pseudo_random(4 << 20, 17);
    fs::write(d.work.join("o.dat"), &data).unwrap();
    let k = 65536;
    // Pairs swapped: every second write arrives before the one it follows.
    let swapped: Vec<String> = (0..64)
        .map(|i| i ^ 1)
        .map(|i| format!("{}:{k}", i * k))
        .collect();
    let r = d.paramiko_json(
        "032018-juki",
        &["writes", "o.dat", "/inbox/swapped.dat", &swapped.join(",")],
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(d.get("032018", "inbox", "swapped.dat"), data);
    // Rewriting bytes already written is refused.
    let r = d.paramiko_json(
        "032018-juki",
        &[
            "writes",
            "o.dat",
            "/inbox/overlap.dat",
            &format!("0:{k},0:{k}"),
        ],
    );
    assert_eq!(r["ok"], false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("would overwrite bytes already written"),
        "{r}"
    );
    // Further ahead than the window allows is refused.
    let r = d.paramiko_json(
        "032018-juki",
        &[
            "writes",
            "o.dat",
            "/inbox/far.dat",
            &format!("{}:{k}", 2 << 20),
        ],
    );
    assert_eq!(r["ok"], false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("can be held out of order"),
        "{r}"
    );
    // A hole at close: refused, and the prefix before it is kept.
    let r = d.paramiko_json(
        "032018-juki",
        &[
            "writes",
            "o.dat",
            "/inbox/hole.dat",
            &format!("0:{k},{}:{k}", 2 * k),
        ],
    );
    assert_eq!(r["ok"], false);
    assert!(r["message"].as_str().unwrap().contains("has a hole"), "{r}");
    let ls = d.ls("032018");
    assert_eq!(
        names(&ls, "inbox", "stored"),
        vec!["swapped.dat".to_string()]
    );
    let hole = ls.iter().find(|e| e["path"] == "hole.dat").unwrap();
    assert_eq!(
        (hole["state"].as_str(), hole["size"].as_u64()),
        (Some("partial"), Some(k as u64))
    );
}

#[test]
fn scp_and_lftp_traversal_attempts_fail_and_reveal_nothing() {
    let d = Daemon::start();
    d.put("011002", "inbox", "secret.csv", b"SAPPORO-ONLY");
    for remote in [
        "/011002/inbox/secret.csv",
        "../011002/inbox/secret.csv",
        "/inbox/../../011002/inbox/secret.csv",
        "/etc/passwd",
    ] {
        let out = Command::new("scp")
            .args(d.ssh_opts("032018-juki", "-P"))
            .arg(format!("032018-juki@127.0.0.1:{remote}"))
            .arg("leak.csv")
            .current_dir(&d.work)
            .output()
            .unwrap();
        assert!(!out.status.success(), "scp {remote}");
        assert!(!d.work.join("leak.csv").exists());
    }
    fs::write(d.work.join("evil.csv"), "x").unwrap();
    let out = Command::new("scp")
        .args(d.ssh_opts("032018-juki", "-P"))
        .arg("evil.csv")
        .arg("032018-juki@127.0.0.1:/inbox/../../011002/inbox/evil.csv")
        .current_dir(&d.work)
        .output()
        .unwrap();
    assert!(!out.status.success());
    for script in [
        "get /011002/inbox/secret.csv -o leak.csv",
        "cd /inbox; get ../../011002/inbox/secret.csv -o leak.csv",
        "cls /011002/inbox",
        "put evil.csv -o /011002/inbox/evil.csv",
        "put evil.csv -o /inbox/../outbox/evil.csv",
        "mv /inbox/x /outbox/x",
    ] {
        let out = lftp(&d, "032018-juki", script);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "lftp {script}: {text}");
        assert!(
            !text.contains("SAPPORO") && !text.contains("secret.csv\n"),
            "lftp {script} leaked: {text}"
        );
        assert!(
            !d.work.join("leak.csv").exists()
                || fs::read(d.work.join("leak.csv")).unwrap().is_empty()
        );
    }
    assert_eq!(d.ls("011002").len(), 1);
    assert!(d.ls("032018").is_empty());
}
