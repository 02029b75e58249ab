//! Isolation as a property: whatever one tenant does — any sequence of
//! operations, hostile paths included — nothing in another tenant's
//! namespace changes.
//!
//! The property test drives the namespace service directly (the code every
//! protocol adapter calls) with generated sequences; the second test sends
//! a seeded random sequence through the real daemon with paramiko.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use renkei::config::{Config, TenantCode};
use renkei::events::Events;
use renkei::journal::Journal;
use renkei::live::Live;
use renkei::namespace::{Namespace, NsPath, Principal};
use renkei::policy::PolicySet;
use renkei::transfer::{Download, OpenMode, Upload};
use renkei::vault::Vault;

/// A second key: each municipality has its own.
const KEY2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACca1VobMERR0037eMtz5FPmiVY2GqK2kvffxw/cJPt y";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd x";

struct World {
    _dir: tempfile::TempDir,
    ns: Arc<Namespace>,
    /// The same journal the namespace writes, read directly to see
    /// everything stored for 札幌市, not only what the core would show.
    journal: Journal,
    rt: tokio::runtime::Runtime,
    actor: Principal,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\ndata_dir = \"data\"\n[[tenant]]\ncode = \"032018\"\nname = \"盛岡市\"\nnetworks = [\"127.0.0.0/8\"]\n[[tenant.account]]\nuser = \"032018-juki\"\nkeys = [\"{KEY}\"]\n[[tenant]]\ncode = \"011002\"\nname = \"札幌市\"\nnetworks = [\"127.0.0.0/8\"]\n[[tenant.account]]\nuser = \"011002-juki\"\nkeys = [\"{KEY2}\"]\n"
    );
    let config = Config::parse("t.toml", &text, dir.path()).unwrap();
    let data = dir.path().join("data");
    let vault = Arc::new(Vault::open(&data.join("vault.key"), &data.join("vault")).unwrap());
    let journal = Journal::open(&data.join("journal.redb")).unwrap();
    let live = Live::new(config, PolicySet::baseline(), None);
    let ns = Namespace::new(journal.clone(), vault, live, Arc::new(Events::new()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // 札幌市's files and directories, placed by the operator and the account.
    let sapporo = Principal::operator(TenantCode::parse("011002").unwrap());
    for (path, body) in [
        ("/inbox/b.csv", "SAPPORO-IN"),
        ("/outbox/b.csv", "SAPPORO-OUT"),
        ("/inbox/sub/c.csv", "C"),
    ] {
        let p = NsPath::parse(path.as_bytes(), 8).unwrap();
        if path.contains("/sub/") {
            rt.block_on(ns.mkdir(&sapporo, &p.parent())).unwrap();
        }
        let mut up = Upload::begin(&ns, &sapporo, &p, OpenMode::Truncate).unwrap();
        up.write(0, Bytes::from(body)).unwrap();
        up.commit().unwrap();
    }
    let actor = common::logged_in(ns.live(), "032018-juki");
    World {
        _dir: dir,
        ns,
        journal,
        rt,
        actor,
    }
}

/// Everything the journal holds for 札幌市, as text.
fn sapporo_state(journal: &Journal) -> String {
    let entries = journal.tenant_entries("011002").unwrap();
    let partials = journal.partials("011002\0").unwrap();
    let objects: Vec<_> = journal
        .objects()
        .unwrap()
        .into_iter()
        .filter(|o| o.tenant == "011002")
        .collect();
    format!("{entries:?}\n{partials:?}\n{objects:?}")
}

#[derive(Debug, Clone)]
enum Op {
    Mkdir(String),
    Rmdir(String),
    Upload(String, usize, bool),
    Remove(String),
    Rename(String, String, bool),
    Touch(String),
    Read(String),
    List(String),
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "/inbox/a.csv",
            "/inbox/b.csv",
            "/inbox/sub",
            "/inbox/sub/c.csv",
            "/outbox/b.csv",
            "/inbox/new/d.csv",
            "/inbox",
            "/outbox",
            "/",
            "../011002/inbox/b.csv",
            "/011002/inbox/b.csv",
            "/inbox/../../011002/inbox/b.csv",
            "/inbox/../outbox/b.csv",
            "011002/outbox",
            "/inbox/b.csv\u{0}x",
            "/inbox/a\nb",
            "inbox/sub/../b.csv",
            "/inbox/\u{202E}vsc.exe",
            "//inbox//a.csv",
            "/inbox/./sub/./c.csv",
        ])
        .prop_map(str::to_string),
        "(/inbox|/outbox|/011002|)(/[a-c.]{1,3}){0,3}".prop_map(|s| s),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Mkdir),
        path().prop_map(Op::Rmdir),
        (path(), 0usize..300_000, any::<bool>()).prop_map(|(p, n, c)| Op::Upload(p, n, c)),
        path().prop_map(Op::Remove),
        (path(), path(), any::<bool>()).prop_map(|(a, b, o)| Op::Rename(a, b, o)),
        path().prop_map(Op::Touch),
        path().prop_map(Op::Read),
        path().prop_map(Op::List),
    ]
}

fn run(w: &World, op: &Op) {
    let ns = &w.ns;
    let who = &w.actor;
    let parse = |p: &str| ns.parse(p.as_bytes());
    // Results are ignored: the property is about what they cannot touch.
    match op {
        Op::Mkdir(p) => {
            if let Ok(p) = parse(p) {
                let _ = w.rt.block_on(ns.mkdir(who, &p));
            }
        }
        Op::Rmdir(p) => {
            if let Ok(p) = parse(p) {
                let _ = w.rt.block_on(ns.rmdir(who, &p));
            }
        }
        Op::Upload(p, n, close) => {
            let up = parse(p)
                .ok()
                .and_then(|p| Upload::begin(ns, who, &p, OpenMode::Truncate).ok());
            if let Some(mut up) = up {
                let _ = up.write(0, Bytes::from(vec![b'z'; *n]));
                if *close {
                    let _ = up.commit();
                }
            }
        }
        Op::Remove(p) => {
            if let Ok(p) = parse(p) {
                let _ = w.rt.block_on(ns.remove(who, &p));
            }
        }
        Op::Rename(a, b, overwrite) => {
            if let (Ok(a), Ok(b)) = (parse(a), parse(b)) {
                let _ = w.rt.block_on(ns.rename(who, &a, &b, *overwrite));
            }
        }
        Op::Touch(p) => {
            if let Ok(p) = parse(p) {
                let _ = w.rt.block_on(ns.set_mtime(who, &p, 1_700_000_000));
            }
        }
        Op::Read(p) => {
            let download = parse(p).ok().and_then(|p| Download::open(ns, who, &p).ok());
            if let Some(mut d) = download {
                let mut buf = vec![0u8; 64];
                let got = d.read_at(0, &mut buf).unwrap_or(0);
                assert!(
                    !String::from_utf8_lossy(&buf[..got]).contains("SAPPORO"),
                    "read 札幌市's data through {p}"
                );
            }
        }
        Op::List(p) => {
            if let Ok(p) = parse(p) {
                let _ = ns.list(who, &p);
                let _ = ns.stat(who, &p);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn nothing_one_tenant_does_changes_another_tenants_namespace(ops in prop::collection::vec(op(), 1..40)) {
        let w = world();
        let before = sapporo_state(&w.journal);
        for op in &ops {
            run(&w, op);
        }
        prop_assert_eq!(sapporo_state(&w.journal), before);
        let sapporo = Principal::operator(TenantCode::parse("011002").unwrap());
        let mut d = Download::open(&w.ns, &sapporo, &NsPath::parse(b"/inbox/b.csv", 8).unwrap()).unwrap();
        let mut buf = vec![0u8; 32];
        let n = d.read_at(0, &mut buf).unwrap();
        prop_assert_eq!(&buf[..n], b"SAPPORO-IN");
    }
}

#[test]
fn a_random_session_of_one_tenant_leaves_the_other_untouched_through_the_daemon() {
    let d = common::Daemon::start();
    d.put("011002", "inbox", "b.csv", b"SAPPORO-IN");
    d.put("011002", "outbox", "b.csv", b"SAPPORO-OUT");
    let before = d.ls("011002");
    let out = d.paramiko("032018-juki", &["fuzz", "20261121", "300"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["ops"].as_u64().unwrap() == 300 && report["refused"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SAPPORO"));
    assert_eq!(d.ls("011002").len(), before.len());
    for (a, b) in d.ls("011002").iter().zip(&before) {
        assert_eq!(
            (&a["path"], &a["sha256"], &a["state"]),
            (&b["path"], &b["sha256"], &b["state"])
        );
    }
    assert_eq!(d.get("011002", "inbox", "b.csv"), b"SAPPORO-IN");
}
