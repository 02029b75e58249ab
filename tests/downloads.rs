//! A download keeps reading the version it opened, whatever other sessions
//! do to the name meanwhile (POSIX unlink semantics), and the old version's
//! blobs go once the last reader closes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use common::{Daemon, default_tenants, eventually, pseudo_random, sha256_hex};
use serde_json::Value;

/// A file of several segments (`upload_checkpoint` = 1 MiB), being read by
/// one session while another replaces it (`replace`) or deletes it.
fn read_while(change: &str) {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nupload_checkpoint = \"1MiB\"\n",
    );
    let old = pseudo_random(6 << 20, 1);
    let new = pseudo_random(5 << 20, 2);
    fs::write(d.work.join("old.bin"), &old).unwrap();
    fs::write(d.work.join("new.bin"), &new).unwrap();
    d.sftp_ok("032018-juki", "put old.bin /inbox/f.bin\n");
    let old_blobs = d.vault_files();
    assert!(old_blobs.len() >= 3, "several segments: {old_blobs:?}");
    let mut reader = d.paramiko_child("032018-juki", &["hold_read", "/inbox/f.bin"]);
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["read"], 1 << 20);
    // Another session of the same account changes the name meanwhile.
    match change {
        "replace" => d.sftp_ok("032018-zei", "put new.bin /inbox/f.bin\n"),
        _ => d.sftp_ok("032018-zei", "rm /inbox/f.bin\n"),
    };
    writeln!(reader.stdin.as_mut().unwrap()).unwrap();
    let done: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(done["sha256"], sha256_hex(&old), "{change}: {done}");
    assert_eq!(done["size"], old.len());
    let _ = reader.wait();
    // The old version's blobs go with their last reader.
    eventually("the old blobs removed", Duration::from_secs(10), || {
        let now = d.vault_files();
        old_blobs.iter().all(|b| !now.contains(b)).then_some(())
    });
    if change == "replace" {
        assert_eq!(d.get("032018", "inbox", "f.bin"), new);
    }
}

#[test]
fn a_download_keeps_reading_the_version_it_opened_when_the_file_is_replaced() {
    read_while("replace");
}

#[test]
fn a_download_keeps_reading_the_version_it_opened_when_the_file_is_deleted() {
    read_while("delete");
}
