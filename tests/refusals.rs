//! Every refusal is answered with OpenSSH's standard status text followed by
//! renkei's reason, and recorded once as `operation_refused` with that
//! reason; SFTP's APPEND flag appends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::{Daemon, eventually};
use serde_json::Value;
use std::time::Duration;

fn refusals(d: &Daemon, op: &str) -> Vec<Value> {
    d.events()
        .into_iter()
        .filter(|e| e["event"] == "operation_refused" && e["op"] == op)
        .collect()
}

#[test]
fn every_refusal_is_answered_in_standard_words_and_recorded() {
    let d = Daemon::start();
    d.put("032018", "inbox", "done.csv", b"complete");
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["open_rw", "/inbox/done.csv"],
            "open",
            "Operation unsupported: a file can be opened for reading or for writing, not both",
        ),
        (
            &["open_append_rw", "/inbox/done.csv"],
            "open",
            "Operation unsupported: a file can be opened",
        ),
        (
            &["symlink", "/inbox/done.csv", "/inbox/l"],
            "symlink",
            "Operation unsupported: symbolic links do not exist",
        ),
        (
            &["readlink", "/inbox/l"],
            "readlink",
            "Operation unsupported: symbolic links do not exist",
        ),
        (
            &["truncate", "/inbox/done.csv"],
            "truncate",
            "Operation unsupported: changing a file's size",
        ),
        (
            &["hardlink", "/inbox/done.csv", "/inbox/h"],
            "hardlink",
            "Operation unsupported: hard links do not exist",
        ),
        (
            &["check_file", "/inbox/done.csv"],
            "extension check-file",
            "Operation unsupported: the extension \"check-file\" is not supported",
        ),
        (
            &["append", "/inbox/done.csv"],
            "append",
            "Failure: /inbox/done.csv: cannot append to a file that is already complete",
        ),
        (
            &["open_write", "/outbox/x.csv"],
            "upload",
            "Permission denied: /outbox/x.csv: permission denied",
        ),
        (
            &["stat", "/inbox/none.csv"],
            "",
            "No such file: /inbox/none.csv: no such file",
        ),
    ];
    for (args, op, want) in cases {
        let mut a = vec!["try"];
        a.extend_from_slice(args);
        let r = d.paramiko_json("032018-juki", &a);
        assert_eq!(r["ok"], false, "{args:?} must fail");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(want), "{args:?}: {msg}");
        if !op.is_empty() {
            let reason = want.split_once(": ").unwrap().1;
            let found = eventually("the refusal is recorded", Duration::from_secs(10), || {
                refusals(&d, op).into_iter().find(|e| {
                    e["reason"]
                        .as_str()
                        .unwrap()
                        .contains(reason.trim_end_matches(" not both"))
                })
            });
            assert_eq!(found["user"], "032018-juki", "{found}");
        }
    }
    // A looked-up name that does not exist is an answer, not a refusal.
    assert!(refusals(&d, "stat").is_empty());
    assert_eq!(
        d.ls("032018").len(),
        1,
        "nothing changed: {:?}",
        d.ls("032018")
    );
}

/// A write over bytes already written is refused, answered and recorded as
/// such (before, only `upload_interrupted` said "a write was refused").
#[test]
fn an_overwriting_write_is_recorded_as_a_refusal() {
    let d = Daemon::start();
    fs::write(d.work.join("w.bin"), vec![7u8; 4096]).unwrap();
    let r = d.paramiko_json(
        "032018-juki",
        &["writes", "w.bin", "/inbox/w.bin", "0:4096,1024:1024"],
    );
    let text = r.to_string();
    assert!(
        text.contains(
            "Failure: /inbox/w.bin: a write of 1024 bytes at offset 1024 would overwrite"
        ),
        "{text}"
    );
    let e = eventually("write refusal", Duration::from_secs(10), || {
        refusals(&d, "write").into_iter().next()
    });
    assert_eq!(e["path"], "/inbox/w.bin");
    assert!(
        e["reason"].as_str().unwrap().contains("would overwrite"),
        "{e}"
    );
}

/// OpenSSH's own client prints only the text of the code, so the code must
/// be the right one; the reason is in the trail.
#[test]
fn openssh_shows_the_standard_text_and_the_trail_the_reason() {
    let d = Daemon::start();
    let out = d.sftp("032018-juki", b"-ln -s /inbox/a /inbox/b\n", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Operation unsupported"), "{err}");
    let e = eventually("symlink refusal", Duration::from_secs(10), || {
        refusals(&d, "symlink").into_iter().next()
    });
    assert!(
        e["reason"].as_str().unwrap().contains("symbolic links"),
        "{e}"
    );
}

/// SFTP's APPEND flag: every write goes to the end of the file whatever its
/// offset, as OpenSSH does (23 bytes, seek to 11, 11 bytes → 34 bytes).
#[test]
fn append_mode_writes_at_the_end() {
    let d = Daemon::start();
    let r = d.paramiko_json("032018-juki", &["append", "/inbox/log.txt"]);
    assert_eq!(r["size"], 34, "{r}");
    let got = d.get("032018", "inbox", "log.txt");
    assert_eq!(got, [vec![b'A'; 23], vec![b'B'; 11]].concat());
    assert!(refusals(&d, "write").is_empty());
}
