//! The ledger without a route loop in front: which committed files are
//! queued (by a full look and by named arrivals), that a file is queued
//! once per route whatever restarts, and how records move between states.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use renkei_config::Config;
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::{Namespace, NsPath, Principal};
use renkei_core::policy::PolicySet;
use renkei_core::transfer::{OpenMode, Upload};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd t";
const KEY2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGtSvNRmdzJNg0/LFQKhvhHoW8Zz3WcTFFa4f9ETCRQn u";

fn config_text() -> String {
    format!(
        r#"
[server]
data_dir = "data"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["127.0.0.0/8"]
[[tenant.account]]
user = "032018-juki"
keys = ["{KEY}"]

[[tenant]]
code = "011002"
name = "札幌市"
networks = ["10.0.0.0/8"]
[[tenant.account]]
user = "011002-juki"
keys = ["{KEY2}"]

[[route]]
name = "juki-up"
tenants = ["032018"]
source = {{ box = "inbox", pattern = "*.csv" }}
destination = {{ dir = "spool/{{tenant}}" }}
retry = {{ attempts = 2, first = "1s", max = "1s" }}
"#
    )
}

struct World {
    _dir: tempfile::TempDir,
    ns: Arc<Namespace>,
    route: Route,
    rt: tokio::runtime::Runtime,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        Config::parse("test.toml", &config_text(), dir.path()).expect("the test configuration");
    let route = config.routes[0].clone();
    let policy = PolicySet::load(&config).expect("the baseline rules");
    let d = dir.path();
    let live = Live::new(config, policy, None);
    let ns = Namespace::open(
        &d.join("journal.redb"),
        &d.join("vault.key"),
        &d.join("vault"),
        live,
        Arc::new(Events::new()),
    )
    .expect("journal and vault");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    World {
        _dir: dir,
        ns,
        route,
        rt,
    }
}

/// The principal of `code`'s account, logged in from its own network as
/// the door kit mints it.
fn account(ns: &Namespace, code: &str) -> Principal {
    let snap = ns.live().get();
    let user = format!("{code}-juki");
    let ip = snap
        .config
        .tenant(code)
        .and_then(|t| t.networks.first())
        .map(|n| n.addr())
        .expect("the tenant has a network");
    renkei_core::door::login::find(
        &snap,
        &renkei_core::door::login::Attempt {
            user: &user,
            ip,
            conn: 1,
            protocol: renkei_core::policy::Protocol::Sftp,
            scope: &renkei_core::door::Scope::Tenants,
        },
    )
    .verdict
    .expect("the login is accepted")
}

/// Uploads `body` as `path` for `code`'s account (the operator places
/// outbox files); returns the object.
fn put(ns: &Arc<Namespace>, code: &str, path: &str, body: &str) -> ObjectRecord {
    let who = if path.starts_with("/outbox") {
        Principal::operator(renkei_config::TenantCode::parse(code).expect("code"))
    } else {
        account(ns, code)
    };
    let p = NsPath::parse(path.as_bytes(), 8).expect("path");
    let mut up = Upload::begin(ns, &who, &p, OpenMode::Truncate).expect("begin");
    up.write(0, Bytes::from(body.to_string())).expect("write");
    up.commit().expect("commit")
}

fn arrival(o: &ObjectRecord) -> Arrival {
    Arrival {
        tenant: o.tenant.clone(),
        bx: o.bx,
        object: o.id.clone(),
        path: o.path.clone(),
    }
}

fn paths(records: &[DeliveryRecord]) -> Vec<&str> {
    let mut p: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
    p.sort();
    p
}

#[test]
fn a_look_queues_the_matching_files_of_the_routes_tenants_once() {
    let w = world();
    put(&w.ns, "032018", "/inbox/JUKI.csv", "a");
    put(&w.ns, "032018", "/inbox/notes.txt", "not a csv");
    put(&w.ns, "032018", "/outbox/OUT.csv", "other box");
    put(
        &w.ns,
        "011002",
        "/inbox/SAPPORO.csv",
        "not this route's tenant",
    );
    let mut known = HashSet::new();
    let queued =
        w.rt.block_on(enqueue_new(&w.ns, &w.route, &mut known))
            .expect("enqueue");
    assert_eq!(paths(&queued), ["JUKI.csv"]);
    assert!(queued.iter().all(|r| r.state == DeliveryState::Queued));
    // Looking again, or after a restart (nothing known), queues nothing.
    let again = w.rt.block_on(enqueue_new(&w.ns, &w.route, &mut known));
    assert!(again.expect("enqueue").is_empty());
    let mut forgotten = HashSet::new();
    let restart = w.rt.block_on(enqueue_new(&w.ns, &w.route, &mut forgotten));
    assert!(restart.expect("enqueue").is_empty());
    assert_eq!(w.ns.deliveries("juki-up").expect("records").len(), 1);
}

#[test]
fn named_arrivals_queue_only_what_the_route_takes() {
    let w = world();
    let mine = put(&w.ns, "032018", "/inbox/A.csv", "a");
    let txt = put(&w.ns, "032018", "/inbox/a.txt", "a");
    let other = put(&w.ns, "011002", "/inbox/B.csv", "b");
    let old = put(&w.ns, "032018", "/inbox/C.csv", "old");
    // Replaced before the route got to it: the old version is not queued.
    let new = put(&w.ns, "032018", "/inbox/C.csv", "new");
    let told = [&mine, &txt, &other, &old, &new]
        .into_iter()
        .map(arrival)
        .collect();
    let mut known = HashSet::new();
    let queued =
        w.rt.block_on(enqueue_arrived(&w.ns, &w.route, told, &mut known))
            .expect("enqueue");
    let objects: Vec<&str> = queued.iter().map(|r| r.object.as_str()).collect();
    assert_eq!(objects, [mine.id.as_str(), new.id.as_str()]);
    // Told twice: queued once.
    let again =
        w.rt.block_on(enqueue_arrived(
            &w.ns,
            &w.route,
            vec![arrival(&mine)],
            &mut known,
        ))
        .expect("enqueue");
    assert!(again.is_empty());
}

#[test]
fn a_failure_is_retried_until_the_attempts_run_out_and_retry_requeues_it() {
    let w = world();
    put(&w.ns, "032018", "/inbox/A.csv", "a");
    let mut known = HashSet::new();
    let r =
        w.rt.block_on(enqueue_new(&w.ns, &w.route, &mut known))
            .expect("enqueue")
            .remove(0);
    let r =
        w.rt.block_on(failed(&w.ns, &w.route, r, "disk away".into(), false))
            .expect("first failure");
    assert_eq!((r.state, r.attempts), (DeliveryState::Queued, 1));
    let r =
        w.rt.block_on(failed(&w.ns, &w.route, r, "disk away".into(), false))
            .expect("second failure");
    assert_eq!(r.state, DeliveryState::Failed, "2 attempts configured");
    // A record may only move on from the state it is expected in.
    let stale = w.rt.block_on(delivered(&w.ns, r.clone(), false));
    assert!(stale.is_err(), "a failed record cannot become delivered");
    let n =
        w.rt.block_on(requeue(&w.ns, "juki-up", None))
            .expect("requeue");
    assert_eq!(n, 1);
    let back =
        w.ns.delivery("juki-up", &r.object)
            .expect("read")
            .expect("record");
    assert_eq!((back.state, back.attempts), (DeliveryState::Queued, 0));
}

#[test]
fn working_files_are_stale_only_once_their_record_is_settled() {
    let w = world();
    let o = put(&w.ns, "032018", "/inbox/A.csv", "a");
    let mut known = HashSet::new();
    let r =
        w.rt.block_on(enqueue_new(&w.ns, &w.route, &mut known))
            .expect("enqueue")
            .remove(0);
    let tag = renkei_model::placement::tag("juki-up", &o.id);
    let part = renkei_model::placement::part_name(&tag);
    let receipt = renkei_model::placement::receipt_name(&tag);
    // Queued: both belong to an attempt that may be resumed.
    assert!(!stale_working_file(&w.ns, "juki-up", &part));
    assert!(!stale_working_file(&w.ns, "juki-up", &receipt));
    // Another route's names, and names that are not working files, never.
    assert!(!stale_working_file(&w.ns, "other", &part));
    assert!(!stale_working_file(&w.ns, "juki-up", "A.csv"));
    w.rt.block_on(delivered(&w.ns, r, false))
        .expect("delivered");
    assert!(stale_working_file(&w.ns, "juki-up", &part));
    assert!(stale_working_file(&w.ns, "juki-up", &receipt));
}
