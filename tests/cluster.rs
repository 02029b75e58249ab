//! Several nodes on one PostgreSQL (decision 0017), through a real
//! database started by the test: node heartbeats, leases timed by the
//! database's clock, and fenced commits — a node that lost its lease
//! commits nothing, whatever it believes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::{eventually, pg::Postgres};
use renkei::journal::pg::cluster::Cluster;
use renkei::journal::{Journal, Op, OpError, PgConfig, PgJournal};

/// The journal as one node of several sees it (`shared`).
fn config(pg: &Postgres) -> PgConfig {
    PgConfig {
        url: pg.url.clone(),
        password: Some(
            std::fs::read_to_string(&pg.password_file)
                .unwrap()
                .trim()
                .to_string(),
        ),
        timeout: Duration::from_secs(10),
        readers: 1,
        tls: None,
        shared: true,
    }
}

/// A change fenced by `fence`: a fact in `meta`.
fn fenced_put(j: &Journal, fence: renkei::journal::Fence, value: &str) -> Vec<Result<(), OpError>> {
    j.apply_blocking(vec![
        Op::Fence(fence),
        Op::PutMeta {
            key: "test:fenced".into(),
            value: value.into(),
        },
    ])
    .unwrap()
    .into_iter()
    .map(|r| r.map(|_| ()))
    .collect()
}

#[test]
fn a_lease_is_held_by_one_node_and_a_node_that_lost_it_commits_nothing() {
    let pg = Postgres::start();
    let journal = Journal::with_store(std::sync::Arc::new(PgJournal::open(config(&pg)).unwrap()));
    let a = Cluster::new(&config(&pg), "node-a");
    let b = Cluster::new(&config(&pg), "node-b");
    a.heartbeat("127.0.0.11:2222", "test", true).unwrap();
    b.heartbeat("127.0.0.12:2222", "test", true).unwrap();
    let nodes = a.nodes().unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
        ["node-a", "node-b"]
    );
    assert!(nodes.iter().all(|n| n.silent_ms < 5_000), "{nodes:?}");

    // One holder at a time; the holder renews at the same epoch.
    let short = Duration::from_millis(1500);
    let first = a
        .take("route:up", short)
        .unwrap()
        .expect("a free lease is taken");
    assert_eq!(first.epoch, 1);
    assert_eq!(b.take("route:up", short).unwrap(), None, "held by node-a");
    assert_eq!(a.take("route:up", short).unwrap(), Some(first.clone()));
    assert_eq!(
        fenced_put(&journal, first.clone(), "by a"),
        [Ok(()), Ok(())]
    );
    assert_eq!(
        journal.meta("test:fenced").unwrap().as_deref(),
        Some("by a")
    );

    // node-a stops renewing (paused, as by SIGSTOP): once the lease ends
    // by the database's clock, node-b takes it at the next epoch…
    let second = eventually(
        "node-b takes the expired lease",
        Duration::from_secs(20),
        || b.take("route:up", Duration::from_secs(30)).unwrap(),
    );
    assert_eq!((second.holder.as_str(), second.epoch), ("node-b", 2));
    // …and node-a, waking up, commits nothing of what it was doing.
    assert_eq!(
        fenced_put(&journal, first.clone(), "by a, too late"),
        [Err(OpError::Fenced), Err(OpError::Fenced)]
    );
    assert_eq!(
        journal.meta("test:fenced").unwrap().as_deref(),
        Some("by a")
    );
    assert_eq!(
        a.take("route:up", short).unwrap(),
        None,
        "nor takes it back"
    );
    assert_eq!(
        fenced_put(&journal, second.clone(), "by b"),
        [Ok(()), Ok(())]
    );
    assert_eq!(
        journal.meta("test:fenced").unwrap().as_deref(),
        Some("by b")
    );

    // A clean stop gives the lease back at once; the next taker's epoch
    // is new, so the old holder's fence never holds again.
    b.release(&second).unwrap();
    let third = a.take("route:up", short).unwrap().expect("released");
    assert_eq!(third.epoch, 3);
    assert_eq!(
        fenced_put(&journal, second, "by b, released"),
        [Err(OpError::Fenced), Err(OpError::Fenced)]
    );
    let leases = a.leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!((leases[0].holder.as_str(), leases[0].epoch), ("node-a", 3));
    assert!(leases[0].remaining_ms > 0, "{leases:?}");
}

/// Two nodes race to use up the same steps of one counter (a TOTP code's
/// "once only"), each from several threads, with an audit note per step
/// used: PostgreSQL serialises their groups, so every step is used once,
/// by one node, with exactly one note, whatever the interleaving.
#[test]
fn two_nodes_writing_at_once_never_both_pass_one_precondition() {
    use renkei::journal::{Note, OpResult};
    let pg = Postgres::start();
    let nodes: Vec<Journal> = (0..2)
        .map(|_| Journal::with_store(std::sync::Arc::new(PgJournal::open(config(&pg)).unwrap())))
        .collect();
    const STEPS: u64 = 150;
    let spent = std::sync::Mutex::new(Vec::new());
    // All four writers try each step at the same moment.
    let together = std::sync::Barrier::new(4);
    std::thread::scope(|s| {
        for (n, journal) in nodes.iter().enumerate() {
            for t in 0..2 {
                let (spent, together) = (&spent, &together);
                s.spawn(move || {
                    for step in 1..=STEPS {
                        together.wait();
                        let who = format!("node-{n}/{t}");
                        let text = {
                            let who = who.clone();
                            move |seq: u64, r: &[OpResult]| {
                                r[0].as_ref().ok().map(|_| format!("{seq} {step} {who}"))
                            }
                        };
                        let note = Note {
                            text: Box::new(text),
                            deliver: Box::new(|_| {}),
                        };
                        let op = Op::SpendStep {
                            key: "totp:race".into(),
                            step,
                        };
                        let r = journal.apply_noted_blocking(vec![op], note).unwrap();
                        match &r[0] {
                            Ok(_) => spent.lock().unwrap().push((step, who)),
                            Err(OpError::Stale) => {}
                            Err(e) => panic!("step {step}: {e}"),
                        }
                    }
                });
            }
        }
    });
    let mut spent = spent.into_inner().unwrap();
    spent.sort();
    let steps: Vec<u64> = spent.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        steps,
        (1..=STEPS).collect::<Vec<_>>(),
        "each step used exactly once: {spent:?}"
    );
    let by_both = spent.iter().any(|(_, w)| w.starts_with("node-0"))
        && spent.iter().any(|(_, w)| w.starts_with("node-1"));
    assert!(by_both, "both nodes wrote: {spent:?}");
    // One note per step used, each under its own number.
    let notes = nodes[0].notes().unwrap();
    assert_eq!(notes.len(), spent.len(), "{notes:?}");
    let mut noted: Vec<u64> = notes
        .iter()
        .map(|(_, t)| t.split(' ').nth(1).unwrap().parse().unwrap())
        .collect();
    noted.sort();
    assert_eq!(noted, steps);
}
