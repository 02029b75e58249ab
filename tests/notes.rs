//! Audit records committed with their changes (journal notes) reach the
//! trail exactly once, even when the daemon stops between the two.
//!
//! That window cannot be hit on purpose through a running daemon, so this
//! test drives the library with a real journal, vault and signed trail on
//! disk: changes made while no trail is attached stand for records lost
//! in a crash, and start-up settling must add exactly those.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use renkei::audit::{AuditConfig, AuditLog};
use renkei::config::Config;
use renkei::events::Events;
use renkei::journal::Journal;
use renkei::live::Live;
use renkei::namespace::{Namespace, NsPath, Principal, notes};
use renkei::policy::PolicySet;
use renkei::transfer::{OpenMode, Upload};
use renkei::vault::Vault;
use serde_json::Value;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd x";

/// Every record of the trail in `dir`, as JSON.
fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    renkei::audit::read::each(dir, 1, |f| {
        out.push(f.record.fields.clone());
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn upload(ns: &Arc<Namespace>, who: &Principal, path: &str) {
    let p = NsPath::parse(path.as_bytes(), 8).unwrap();
    let mut up = Upload::begin(ns, who, &p, OpenMode::Truncate).unwrap();
    up.write(0, Bytes::from_static(b"1,2,3\n")).unwrap();
    up.commit().unwrap();
}

#[test]
fn records_committed_with_changes_reach_the_trail_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\ndata_dir = \"data\"\n[[tenant]]\ncode = \"032018\"\nname = \"盛岡市\"\nnetworks = [\"127.0.0.0/8\"]\n[[tenant.account]]\nuser = \"032018-juki\"\nkeys = [\"{KEY}\"]\n"
    );
    let config = Config::parse("t.toml", &text, dir.path()).unwrap();
    let data = dir.path().join("data");
    let vault = Arc::new(Vault::open(&data.join("vault.key"), &data.join("vault")).unwrap());
    let journal = Journal::open(&data.join("journal.redb")).unwrap();
    let live = Live::new(config, PolicySet::baseline(), None);
    let who = common::logged_in(&live, "032018-juki");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Changes whose records never reached the trail (as if the daemon had
    // stopped right after committing them).
    let lost = Namespace::new(
        journal.clone(),
        Arc::clone(&vault),
        Arc::clone(&live),
        Arc::new(Events::new()),
    );
    upload(&lost, &who, "/inbox/lost.csv");
    rt.block_on(lost.mkdir(&who, &NsPath::parse(b"/inbox/d", 8).unwrap()))
        .unwrap();
    // A refused change commits no note.
    assert!(
        rt.block_on(lost.mkdir(&who, &NsPath::parse(b"/inbox/x/y", 8).unwrap()))
            .is_err()
    );
    assert_eq!(journal.notes().unwrap().len(), 2);

    // Then the trail is attached and a change reaches it normally.
    let audit_dir = data.join("audit");
    let (audit, _) = AuditLog::open(
        &audit_dir,
        &data.join("audit.key"),
        AuditConfig {
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            segment_size: 1 << 20,
        },
    )
    .unwrap();
    let ns = Namespace::new(
        journal.clone(),
        vault,
        live,
        Arc::new(Events::with_audit(audit.clone())),
    );
    upload(&ns, &who, "/inbox/delivered.csv");
    assert_eq!(journal.notes().unwrap().len(), 3);
    // Its record was handed to the trail's writer; settling reads the
    // trail from disk, so (as the daemon's own `clear` does) wait until the
    // trail has written everything handed to it.
    rt.block_on(audit.checkpoint()).unwrap();

    // Start-up settling adds exactly the two missing records, marked.
    assert_eq!(notes::settle_all(&ns, &audit).unwrap(), 2);
    assert!(journal.notes().unwrap().is_empty());
    // Nothing is left to add a second time.
    assert_eq!(notes::settle_all(&ns, &audit).unwrap(), 0);
    rt.block_on(audit.close());

    let all = records(&audit_dir);
    let noted: Vec<(u64, String, String, bool)> = all
        .iter()
        .filter_map(|r| {
            Some((
                r["journal_seq"].as_u64()?,
                r["event"].as_str()?.to_string(),
                r["path"].as_str()?.to_string(),
                r["recovered"].as_bool().unwrap_or(false),
            ))
        })
        .collect();
    assert_eq!(
        noted,
        vec![
            (3, "upload_committed".into(), "delivered.csv".into(), false),
            (1, "upload_committed".into(), "lost.csv".into(), true),
            (2, "dir_created".into(), "d".into(), true),
        ]
    );
    let key = renkei::audit::keys::read_public(
        &std::fs::read_to_string(audit_dir.join("audit.pub")).unwrap(),
    )
    .unwrap();
    renkei::audit::verify::verify_dir(&audit_dir, std::slice::from_ref(&key), false).unwrap();
}
