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
