//! paramiko, lftp and curl against a real daemon.

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
            &["stat", "/inbox/../outbox/down.csv"],
            "'..' is not allowed",
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
