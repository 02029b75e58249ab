//! Start-up reconciliation of the journal with the audit trail.
//!
//! A commit's audit record is written while the journal makes the commit
//! durable, so a power cut can leave either one without the other. That
//! window cannot be hit on purpose through a running daemon (a kill -9
//! loses neither: both are in the page cache), so this test builds the two
//! disagreements with the library — a real journal, vault and signed trail
//! on disk — and checks what start-up reconciliation writes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use renkei::audit::{AuditConfig, AuditLog};
use renkei::config::{Config, TenantCode};
use renkei::events::{Actor, Event, Events};
use renkei::journal::{BoxKind, Journal, ObjectRecord, ObjectState, Op, entry_key};
use renkei::live::Live;
use renkei::namespace::{Namespace, NsPath, Principal, reconcile};
use renkei::policy::{PolicySet, Role};
use renkei::transfer::{OpenMode, Upload};
use renkei::vault::Vault;
use serde_json::Value;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd x";

fn actor() -> Actor {
    Actor {
        tenant: "032018".into(),
        user: "032018-juki".into(),
        source: Some("127.0.0.1".parse().unwrap()),
        conn: Some(1),
    }
}

fn object(id: &str, path: &str) -> ObjectRecord {
    let now = jiff::Timestamp::now();
    ObjectRecord {
        id: id.into(),
        tenant: "032018".into(),
        bx: BoxKind::Inbox,
        path: path.into(),
        size: 0,
        sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        segments: Vec::new(),
        uploaded_by: "032018-juki".into(),
        source: Some("127.0.0.1".into()),
        started_at: now,
        committed_at: now,
        mtime: now.as_second(),
        state: ObjectState::Stored,
    }
}

fn committed(id: &str, path: &str) -> Event {
    Event::UploadCommitted {
        actor: actor(),
        box_name: "inbox".into(),
        path: path.into(),
        object: id.into(),
        size: 0,
        sha256: object(id, path).sha256,
        resumed: false,
        recovered: false,
    }
}

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

#[test]
fn start_up_records_commits_the_trail_missed_and_marks_commits_the_journal_lost() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\ndata_dir = \"data\"\n[[tenant]]\ncode = \"032018\"\nname = \"盛岡市\"\nnetworks = [\"127.0.0.0/8\"]\n[[tenant.account]]\nuser = \"032018-juki\"\nkeys = [\"{KEY}\"]\n"
    );
    let config = Config::parse("t.toml", &text, dir.path()).unwrap();
    let data = dir.path().join("data");
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
    let events = Arc::new(Events::with_audit(audit.clone()));
    let vault = Arc::new(Vault::open(&data.join("vault.key"), &data.join("vault")).unwrap());
    let journal = Journal::open(&data.join("journal.redb")).unwrap();
    let live = Live::new(config, PolicySet::baseline(), None);
    let ns = Namespace::new(journal.clone(), vault, live, Arc::clone(&events));
    let who = Principal {
        tenant: TenantCode::parse("032018").unwrap(),
        user: "032018-juki".into(),
        role: Role::Account,
        source: Some("127.0.0.1".parse().unwrap()),
        conn: Some(1),
    };

    // In agreement: a normal upload.
    let p = NsPath::parse(b"/inbox/normal.csv", 8).unwrap();
    let mut up = Upload::begin(&ns, &who, &p, OpenMode::Truncate).unwrap();
    up.write(0, Bytes::from_static(b"1,2,3\n")).unwrap();
    up.commit().unwrap();

    // The journal committed, the trail never heard of it.
    let journal_only = "a".repeat(32);
    journal
        .apply_one_blocking(Op::CommitObject {
            entry_key: entry_key("032018", BoxKind::Inbox, "", "journal-only.csv"),
            parent_key: None,
            object: object(&journal_only, "journal-only.csv"),
            exclusive: false,
            clear_partial: None,
        })
        .unwrap();
    // The trail recorded a commit the journal does not hold.
    let trail_only = "b".repeat(32);
    events
        .record_durable_blocking(committed(&trail_only, "trail-only.csv"))
        .unwrap();
    // Not in the journal either, but its story is complete: deleted, then
    // forgotten by retention.
    let deleted = "c".repeat(32);
    events
        .record_durable_blocking(committed(&deleted, "deleted.csv"))
        .unwrap();
    events
        .record_durable_blocking(Event::Deleted {
            actor: actor(),
            box_name: "inbox".into(),
            path: "deleted.csv".into(),
            object: deleted.clone(),
            acknowledged: false,
            recovered: false,
        })
        .unwrap();

    let last = jiff::Timestamp::now().to_string();
    let added = reconcile::with_trail(&ns, &audit_dir, &last).unwrap();
    assert_eq!(added, 2);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(audit.close());
    let all = records(&audit_dir);
    let about = |id: &str| -> Vec<(String, bool)> {
        all.iter()
            .filter(|r| r["object"] == id)
            .map(|r| {
                (
                    r["event"].as_str().unwrap().to_string(),
                    r["recovered"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    assert_eq!(
        about(&journal_only),
        vec![("upload_committed".to_string(), true)]
    );
    assert_eq!(
        about(&trail_only),
        vec![
            ("upload_committed".to_string(), false),
            ("commit_failed".to_string(), false)
        ]
    );
    let failed = all.iter().find(|r| r["event"] == "commit_failed").unwrap();
    assert_eq!(failed["path"], "trail-only.csv");
    assert_eq!(failed["tenant"], "032018");
    assert!(failed["reason"].as_str().unwrap().contains("not told OK"));
    assert!(about(&deleted).iter().all(|(e, _)| e != "commit_failed"));
    assert_eq!(
        all.iter()
            .filter(|r| r["event"] == "upload_committed" && r["path"] == "normal.csv")
            .count(),
        1
    );
    // The corrections are part of the signed chain.
    let key = renkei::audit::keys::read_public(
        &std::fs::read_to_string(audit_dir.join("audit.pub")).unwrap(),
    )
    .unwrap();
    renkei::audit::verify::verify_dir(&audit_dir, &key, false).unwrap();
}
