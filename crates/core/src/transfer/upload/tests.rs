//! The upload path without a protocol in front: writes in and out of
//! order, the write-once rule, APPEND, the size rules, and what a commit
//! leaves (a file whose bytes and SHA-256 are what was written).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{OpenMode, Upload};
use crate::events::Events;
use crate::live::Live;
use crate::namespace::{Namespace, NsError, NsPath, Principal};
use crate::policy::{PolicySet, Role};
use crate::transfer::Download;
use renkei_config::Config;
use renkei_storage::journal::Journal;
use renkei_storage::vault::Vault;

const CONFIG: &str = r#"
[server]
data_dir = "data"

[limits]
reorder_window = "1MiB"
upload_checkpoint = "1MiB"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["127.0.0.0/8"]

[[tenant.account]]
user = "032018-juki"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd t"]
"#;

/// A namespace on a temporary directory, with the built-in baseline rules.
fn namespace(dir: &Path) -> Arc<Namespace> {
    let config = Config::parse("test.toml", CONFIG, dir).expect("the test configuration");
    let policy = PolicySet::load(&config).expect("the baseline rules");
    let journal = Journal::open(&dir.join("journal.redb")).expect("journal");
    let vault = Arc::new(Vault::open(&dir.join("vault.key"), &dir.join("vault")).expect("vault"));
    let live = Live::new(config, policy, None);
    Namespace::new(journal, vault, live, Arc::new(Events::new()))
}

fn juki() -> Principal {
    Principal {
        scope: crate::namespace::Scope::Tenant(
            renkei_config::TenantCode::parse("032018").expect("code"),
        ),
        user: "032018-juki".into(),
        role: Role::Account,
        source: Some("127.0.0.1".parse().expect("ip")),
        conn: None,
        protocol: crate::policy::Protocol::Sftp,
    }
}

fn path(p: &str) -> NsPath {
    NsPath::parse(p.as_bytes(), 8).expect("a valid path")
}

/// The committed file's bytes, read back through a download.
fn read_back(ns: &Arc<Namespace>, p: &str) -> Vec<u8> {
    let mut d = Download::open(ns, &juki(), &path(p)).expect("download");
    let mut out = vec![0u8; d.size() as usize];
    let mut at = 0;
    while at < out.len() {
        let n = d.read_at(at as u64, &mut out[at..]).expect("read");
        assert!(n > 0, "short file");
        at += n;
    }
    out
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn writes_out_of_order_within_the_window_commit_the_file_written() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let all = data(3 << 20);
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/a.bin"), OpenMode::Truncate).unwrap();
    // Chunks of 256 KiB, each pair swapped.
    let chunk = 256 << 10;
    let mut offsets: Vec<usize> = (0..all.len()).step_by(chunk).collect();
    for pair in offsets.chunks_mut(2) {
        pair.reverse();
    }
    for off in offsets {
        let end = (off + chunk).min(all.len());
        up.write(off as u64, Bytes::copy_from_slice(&all[off..end]))
            .unwrap();
    }
    let object = up.commit().unwrap();
    assert_eq!(object.size, all.len() as u64);
    assert!(
        object.segments.len() >= 2,
        "checkpoints made several segments"
    );
    assert_eq!(
        object.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&all))
    );
    assert_eq!(read_back(&ns, "/inbox/a.bin"), all);
}

#[test]
fn an_overlapping_write_is_refused_and_the_commit_too() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/b.bin"), OpenMode::Truncate).unwrap();
    up.write(0, Bytes::from_static(b"0123456789")).unwrap();
    let e = up.write(5, Bytes::from_static(b"xx")).unwrap_err();
    assert!(e.to_string().contains("would overwrite"), "{e}");
    let e = up.commit().unwrap_err();
    assert!(e.to_string().contains("not committed"), "{e}");
    assert!(Download::open(&ns, &juki(), &path("/inbox/b.bin")).is_err());
}

#[test]
fn a_write_past_the_reorder_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/c.bin"), OpenMode::Truncate).unwrap();
    let e = up.write(2 << 20, Bytes::from_static(b"far")).unwrap_err();
    assert!(e.to_string().contains("can be held out of order"), "{e}");
}

#[test]
fn append_mode_writes_at_the_end_whatever_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/d.txt"), OpenMode::Append).unwrap();
    up.write(0, Bytes::from_static(b"AAAA")).unwrap();
    up.write(2, Bytes::from_static(b"BB")).unwrap();
    up.commit().unwrap();
    // The upload holds its name until it is dropped (the worker drops it
    // at close).
    drop(up);
    assert_eq!(read_back(&ns, "/inbox/d.txt"), b"AAAABB");
    // A complete file cannot be appended to.
    let e = Upload::begin(&ns, &juki(), &path("/inbox/d.txt"), OpenMode::Append).err();
    assert!(matches!(e, Some(NsError::Invalid(_))), "{e:?}");
}

#[test]
fn an_exclusive_upload_of_an_existing_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/e.csv"), OpenMode::Truncate).unwrap();
    up.write(0, Bytes::from_static(b"first")).unwrap();
    up.commit().unwrap();
    drop(up);
    let e = Upload::begin(&ns, &juki(), &path("/inbox/e.csv"), OpenMode::Exclusive).err();
    assert!(matches!(e, Some(NsError::Exists { .. })), "{e:?}");
    // Truncate replaces it.
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/e.csv"), OpenMode::Truncate).unwrap();
    up.write(0, Bytes::from_static(b"second")).unwrap();
    up.commit().unwrap();
    assert_eq!(read_back(&ns, "/inbox/e.csv"), b"second");
}

#[test]
fn an_abandoned_upload_is_kept_as_a_partial_and_continued() {
    let dir = tempfile::tempdir().unwrap();
    let ns = namespace(dir.path());
    let all = data(100_000);
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/f.bin"), OpenMode::Truncate).unwrap();
    up.write(0, Bytes::copy_from_slice(&all[..60_000])).unwrap();
    up.abandon("the connection was lost");
    drop(up);
    let mut up = Upload::begin(&ns, &juki(), &path("/inbox/f.bin"), OpenMode::Append).unwrap();
    assert_eq!(up.size(), 60_000, "continues the partial");
    up.write(60_000, Bytes::copy_from_slice(&all[60_000..]))
        .unwrap();
    up.commit().unwrap();
    assert_eq!(read_back(&ns, "/inbox/f.bin"), all);
}
