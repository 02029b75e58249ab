//! A full disk: the upload that hits it fails clearly, nothing half-written
//! becomes visible, nothing stored is harmed, and the daemon keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::{Daemon, names, pseudo_random, sha256_hex};

#[test]
fn a_full_vault_refuses_the_upload_and_harms_nothing() {
    let d = Daemon::start_with_small_vault(24 << 20);
    let small = pseudo_random(4 << 20, 1);
    let big = pseudo_random(40 << 20, 2);
    fs::write(d.work.join("small.dat"), &small).unwrap();
    fs::write(d.work.join("big.dat"), &big).unwrap();
    d.sftp_ok("032018-juki", "put small.dat /inbox/small.dat\n");

    let out = d.sftp("032018-juki", b"put big.dat /inbox/big.dat\n", &[]);
    assert!(
        !out.status.success(),
        "an upload that does not fit must fail"
    );
    let failure = d.wait_event("the storage failure", |e| {
        e["event"] == "session_ended" || e["event"] == "upload_interrupted"
    });
    assert!(failure.is_object());
    assert!(
        d.log_text().contains("No space left on device"),
        "the reason is logged"
    );
    let ls = d.ls("032018");
    assert_eq!(
        names(&ls, "inbox", "stored"),
        vec!["small.dat".to_string()],
        "nothing half-written is visible"
    );

    // The space of the failed upload was given back: the daemon keeps
    // serving, and what was stored before is intact.
    let again = pseudo_random(8 << 20, 3);
    fs::write(d.work.join("again.dat"), &again).unwrap();
    d.sftp_ok("032018-juki", "put again.dat /inbox/again.dat\n");
    assert_eq!(d.get("032018", "inbox", "small.dat"), small);
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "again.dat")),
        sha256_hex(&again)
    );
    assert_eq!(
        names(&d.ls("032018"), "inbox", "stored"),
        vec!["again.dat".to_string(), "small.dat".to_string()]
    );
    // Restart after a full disk is covered elsewhere: this vault is a tmpfs
    // that lives and dies with the daemon's namespace.
}

#[test]
fn when_the_audit_trail_cannot_be_written_operations_are_refused_not_done_unrecorded() {
    let d = Daemon::start_with_small("audit", 64 << 10);
    std::fs::write(d.work.join("x.csv"), "x").unwrap();
    // Each session leaves a handful of records; sooner or later the trail's
    // disk is full.
    let mut refused = None;
    for i in 0..400 {
        let r = d.paramiko_json(
            "032018-juki",
            &["try", "open_write", &format!("/inbox/f{i}.csv")],
        );
        if r["ok"] == false {
            refused = Some(r["message"].as_str().unwrap().to_string());
            break;
        }
    }
    let msg = refused.expect("the audit trail never filled up");
    assert!(msg.contains("audit"), "{msg}");
    // From then on everything is refused with the reason, and the daemon lives.
    let r = d.paramiko_json("032018-juki", &["try", "listdir", "/inbox"]);
    assert_eq!(r["ok"], false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("audit trail cannot be written"),
        "{r}"
    );
    d.ctl_ok(&["status"]);
    assert!(
        d.log_text()
            .contains("operations are refused until it can be written")
    );
}
