//! OpenSSH `sftp` and `scp` against a real daemon.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, eventually, names, pseudo_random, sha256_file, sha256_hex};

const JUKI: &str = "住民基本台帳情報_032018_20261121.csv";
const ZEI: &str = "所得・課税情報_032018_20261121.csv";

#[test]
fn japanese_names_round_trip_with_sftp_and_scp() {
    let d = Daemon::start();
    let body = "氏名,住所\n盛岡太郎,盛岡市内丸12-2\n".repeat(1000);
    fs::write(d.work.join(JUKI), &body).unwrap();
    fs::write(d.work.join(ZEI), pseudo_random(300_000, 7)).unwrap();

    let out = d.sftp_ok(
        "032018-juki",
        &format!("cd inbox\nput {JUKI}\nls -l\nget {JUKI} back-sftp.csv\n"),
    );
    assert!(out.contains(JUKI), "ls shows the name: {out}");
    assert_eq!(
        fs::read_to_string(d.work.join("back-sftp.csv")).unwrap(),
        body
    );

    // scp (SFTP mode, the OpenSSH 9 default) both ways.
    let scp = |args: Vec<String>| {
        let st = Command::new("scp")
            .args(d.ssh_opts("032018-juki", "-P"))
            .args(args)
            .current_dir(&d.work)
            .status()
            .unwrap();
        assert!(st.success());
    };
    scp(vec![
        ZEI.into(),
        format!("032018-juki@127.0.0.1:/inbox/{ZEI}"),
    ]);
    scp(vec![
        format!("032018-juki@127.0.0.1:/inbox/{ZEI}"),
        "back-scp.csv".into(),
    ]);
    assert_eq!(
        sha256_file(&d.work.join("back-scp.csv")),
        sha256_file(&d.work.join(ZEI))
    );

    // The operator sees both, with the SHA-256 of the plaintext.
    let ls = d.ls("032018");
    assert_eq!(
        names(&ls, "inbox", "stored"),
        vec![JUKI.to_string(), ZEI.to_string()]
    );
    let juki = ls.iter().find(|e| e["path"] == JUKI).unwrap();
    assert_eq!(juki["sha256"], sha256_hex(body.as_bytes()));
    assert_eq!(juki["size"], body.len());
}

#[test]
fn large_downloads_default_and_256_outstanding_requests() {
    let d = Daemon::start();
    let data = pseudo_random(64 << 20, 42);
    d.put("032018", "outbox", "被保険者情報_032018.dat", &data);
    let want = sha256_hex(&data);
    for (i, extra) in [vec![], vec!["-R", "256"], vec!["-B", "261120", "-R", "256"]]
        .into_iter()
        .enumerate()
    {
        let local = format!("dl{i}.dat");
        let out = d.sftp(
            "032018-juki",
            format!("get /outbox/被保険者情報_032018.dat {local}\n").as_bytes(),
            &extra,
        );
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            sha256_file(&d.work.join(&local)),
            want,
            "download with {extra:?} is byte-exact"
        );
    }
    // Deleting from the outbox is the acknowledgement.
    d.sftp_ok("032018-juki", "rm /outbox/被保険者情報_032018.dat\n");
    assert!(names(&d.ls("032018"), "outbox", "stored").is_empty());
    let ack = d.wait_event("the acknowledgement", |e| e["event"] == "deleted");
    assert_eq!(ack["acknowledged"], true);
}

#[test]
fn reput_resumes_an_upload_cut_off_by_a_dropped_connection() {
    let d = Daemon::start();
    let data = pseudo_random(24 << 20, 3);
    fs::write(d.work.join("big.dat"), &data).unwrap();
    // 40 Mbit/s: slow enough to cut off half-way.
    let client = d.sftp_background(
        "032018-juki",
        "put big.dat /inbox/big.dat
",
        40_000,
    );
    // Watch real encrypted bytes reach the disk, then pull the plug.
    d.wait_for_blob_over(4 << 20);
    common::kill_client(client);

    let kept = eventually(
        "the cut-off upload to be kept as a partial",
        Duration::from_secs(30),
        || {
            d.ls("032018")
                .into_iter()
                .find(|e| e["state"] == "partial")
                .map(|e| e["size"].as_u64().unwrap())
        },
    );
    assert!(kept > 0 && kept < data.len() as u64, "kept {kept}");
    // Not listed to the client, not downloadable, but stat tells the size.
    let out = d.sftp_ok("032018-juki", "ls -l /inbox\n");
    assert!(!out.contains("big.dat"), "a partial is not listed: {out}");
    let st = d.paramiko_json("032018-juki", &["stat", "/inbox/big.dat"]);
    assert_eq!(st["size"], kept);
    let r = d.paramiko_json("032018-juki", &["try", "open_read", "/inbox/big.dat"]);
    assert_eq!(r["ok"], false);
    // Another account of the same tenant does not see it at all.
    let r = d.paramiko_json("032018-zei", &["try", "stat", "/inbox/big.dat"]);
    assert_eq!(r["errno"], 2);

    d.sftp_ok("032018-juki", "reput big.dat /inbox/big.dat\n");
    assert_eq!(d.get("032018", "inbox", "big.dat"), data);
    let ev = d.wait_event("the resumed commit", |e| {
        e["event"] == "upload_committed" && e["path"] == "big.dat"
    });
    assert_eq!(ev["resumed"], true);
    assert_eq!(ev["sha256"], sha256_hex(&data));
    assert!(names(&d.ls("032018"), "inbox", "partial").is_empty());
}

#[test]
fn a_partial_survives_a_server_crash_and_resumes_from_its_last_checkpoint() {
    let d = Daemon::start_with(
        common::default_tenants(),
        "[limits]\nupload_checkpoint = \"2MiB\"\n",
    );
    let data = pseudo_random(20 << 20, 9);
    fs::write(d.work.join("crash.dat"), &data).unwrap();
    let client = d.sftp_background(
        "032018-juki",
        "put crash.dat /inbox/crash.dat
",
        40_000,
    );
    let mut d = d;
    // A checkpoint makes the first bytes durable and visible to the operator.
    eventually("a checkpoint", Duration::from_secs(30), || {
        d.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial" && e["size"].as_u64() >= Some(2 << 20))
            .then_some(())
    });
    d.kill9();
    common::kill_client(client);
    d.start_again();
    let kept = d
        .ls("032018")
        .into_iter()
        .find(|e| e["state"] == "partial")
        .map(|e| e["size"].as_u64().unwrap())
        .expect("the partial survived the crash");
    assert!(kept >= 2 << 20 && kept < data.len() as u64);
    d.sftp_ok("032018-juki", "reput crash.dat /inbox/crash.dat\n");
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "crash.dat")),
        sha256_hex(&data)
    );
}

#[test]
fn a_name_that_is_not_utf8_gets_a_clear_error_and_changes_nothing() {
    let d = Daemon::start();
    fs::write(d.work.join("x.csv"), "x").unwrap();
    let out = d.sftp("032018-juki", b"put x.csv /inbox/\xff\xfe.csv\n", &[]);
    assert!(!out.status.success());
    let ev = d.wait_event("the refusal", |e| {
        e["event"] == "operation_refused" && e["op"] == "open"
    });
    assert!(
        ev["reason"].as_str().unwrap().contains("not valid UTF-8"),
        "{ev}"
    );
    assert!(d.ls("032018").is_empty());
}

#[test]
fn traversal_and_cross_tenant_attempts_fail_and_reveal_nothing() {
    let d = Daemon::start();
    d.put("011002", "inbox", "sapporo-secret.csv", b"SAPPORO-ONLY");
    d.put("011002", "outbox", "sapporo-down.csv", b"SAPPORO-DOWN");
    let before = d.ls("011002");
    fs::write(d.work.join("evil.csv"), "x").unwrap();
    let attempts = [
        "get /011002/inbox/sapporo-secret.csv s1",
        "get ../011002/inbox/sapporo-secret.csv s2",
        "get /inbox/../../011002/inbox/sapporo-secret.csv s3",
        "get /inbox/../../../etc/passwd s4",
        "ls /011002",
        "ls /etc",
        "put evil.csv /011002/inbox/evil.csv",
        "put evil.csv /inbox/../outbox/evil.csv",
        "put evil.csv /outbox/evil.csv",
        "rename /inbox/a /outbox/a",
        "rm /011002/outbox/sapporo-down.csv",
        "symlink /inbox /inbox/link",
        "ln /outbox/x /inbox/x",
        "mkdir /011002",
        "rmdir /inbox",
    ];
    for a in attempts {
        let out = d.sftp("032018-juki", format!("{a}\n").as_bytes(), &[]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{a} must fail: {text}");
        assert!(!text.contains("SAPPORO"), "{a} leaked: {text}");
    }
    for f in ["s1", "s2", "s3", "s4"] {
        assert!(!d.work.join(f).exists());
    }
    // The top level shows only the tenant's own boxes.
    let out = d.sftp_ok("032018-juki", "cd /\nls -1\ncd ..\nls -1 /\n");
    assert!(!out.contains("011002") && !out.contains("sapporo"), "{out}");
    assert_eq!(d.ls("011002").len(), before.len());
    assert!(
        d.ls("032018").is_empty(),
        "nothing was created for the attacker either"
    );
    assert!(d.events().iter().any(|e| {
        e["event"] == "operation_refused"
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("the boxes are /inbox and /outbox")
    }));
}

#[test]
fn shell_exec_and_legacy_scp_are_refused_with_a_message() {
    let d = Daemon::start();
    let out = Command::new("ssh")
        .args(d.ssh_opts("032018-juki", "-p"))
        .args(["032018-juki@127.0.0.1", "cat /etc/passwd"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only the SFTP subsystem"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(d.work.join("l.csv"), "x").unwrap();
    let out = Command::new("scp")
        .args(d.ssh_opts("032018-juki", "-P"))
        .args(["-O", "l.csv", "032018-juki@127.0.0.1:/inbox/l.csv"])
        .current_dir(&d.work)
        .output()
        .unwrap();
    assert!(!out.status.success());
    d.wait_event("the refused exec", |e| {
        e["event"] == "channel_refused" && e["request"].as_str().unwrap().contains("exec")
    });
    assert!(d.ls("032018").is_empty());
}

#[test]
fn setstat_times_chmod_and_rename_semantics() {
    let d = Daemon::start();
    fs::write(d.work.join("a.csv"), "A").unwrap();
    fs::write(d.work.join("b.csv"), "B").unwrap();
    // put -p preserves the local mtime; chmod is accepted and ignored.
    Command::new("touch")
        .args(["-d", "2020-01-02 03:04:05 UTC", "a.csv"])
        .current_dir(&d.work)
        .status()
        .unwrap();
    d.sftp_ok(
        "032018-juki",
        "cd inbox\nput -p a.csv\nput b.csv\nchmod 600 a.csv\nrename a.csv c.csv\n",
    );
    let st = d.paramiko_json("032018-juki", &["stat", "/inbox/c.csv"]);
    assert_eq!(st["size"], 1);
    let out = d.sftp_ok("032018-juki", "ls -l /inbox\n");
    assert!(
        out.contains("2020") || out.contains("Jan  2"),
        "mtime kept: {out}"
    );
    // SFTP v3 rename does not overwrite; posix-rename (which OpenSSH's
    // `rename` uses when offered) does.
    let r = d.paramiko_json(
        "032018-juki",
        &["try", "rename", "/inbox/b.csv", "/inbox/c.csv"],
    );
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("already exists"),
        "{r}"
    );
    let r = d.paramiko_json(
        "032018-juki",
        &["try", "posix_rename", "/inbox/b.csv", "/inbox/c.csv"],
    );
    assert_eq!(r["ok"], true);
    assert_eq!(d.get("032018", "inbox", "c.csv"), b"B");
    assert_eq!(
        names(&d.ls("032018"), "inbox", "stored"),
        vec!["c.csv".to_string()]
    );
}
