//! The SFTP session's budget without SSH in front: a client that pipelines
//! requests and never takes a reply makes the daemon hold no more than the
//! session's caps allow, is cut off after `limits.send_timeout`, and
//! everything it held is given back when the session ends.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};

use super::{Context, End, Input, Output, serve};
use renkei_config::Config;
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::{Namespace, Principal};
use renkei_core::policy::PolicySet;

const CONFIG: &str = r#"
[server]
data_dir = "data"

[limits]
max_queued_requests = "1MiB"
max_response_buffer = "1MiB"
send_timeout = "1s"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["127.0.0.0/8"]

[[tenant.account]]
user = "032018-juki"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd t"]
"#;

const USER: &str = "032018-juki";

fn namespace(dir: &Path) -> Arc<Namespace> {
    let config = Config::parse("test.toml", CONFIG, dir).expect("the test configuration");
    let policy = PolicySet::load(&config).expect("the baseline rules");
    let live = Live::new(config, policy, None);
    Namespace::open(
        &dir.join("journal.redb"),
        &dir.join("vault.key"),
        &dir.join("vault"),
        live,
        Arc::new(Events::new()),
    )
    .expect("journal and vault")
}

/// One SFTP packet: length, type, then the body.
fn packet(kind: u8, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(1 + body.len() as u32);
    b.put_u8(kind);
    b.put_slice(body);
    b.freeze()
}

/// `INIT` (version 3), then `count` pipelined `STAT /inbox`, in chunks.
fn pipelined_stats(count: u32) -> VecDeque<Bytes> {
    let mut chunks = VecDeque::new();
    chunks.push_back(packet(1, &3u32.to_be_bytes()));
    let mut chunk = BytesMut::new();
    for id in 0..count {
        let mut body = BytesMut::new();
        body.put_u32(id);
        body.put_u32(6);
        body.put_slice(b"/inbox");
        chunk.put_slice(&packet(17, &body));
        if chunk.len() >= 32 << 10 {
            chunks.push_back(chunk.split().freeze());
        }
    }
    chunks.push_back(chunk.freeze());
    chunks
}

/// A client that sends everything it has and then waits, forever.
struct Pipelining {
    chunks: VecDeque<Bytes>,
    taken: Arc<AtomicUsize>,
}

impl Input for Pipelining {
    async fn recv(&mut self) -> Option<Bytes> {
        match self.chunks.pop_front() {
            Some(c) => {
                self.taken.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            None => std::future::pending().await,
        }
    }
}

/// A channel whose peer never reads: every send waits forever.
struct NeverRead;

impl Output for NeverRead {
    async fn send(&self, _data: Bytes) -> io::Result<()> {
        std::future::pending().await
    }
    async fn close(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_and_never_reads_is_held_to_the_session_caps_and_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = namespace(dir.path());
    let (_gone_tx, gone) = tokio::sync::watch::channel(false);
    let who = logged_in(ns.live(), USER);
    let ctx = Context {
        ns: Arc::clone(&ns),
        who,
        tally: Arc::default(),
        volume: dir.path().to_path_buf(),
        gone,
    };
    // 200 000 requests: about 30 MiB held if nothing capped them.
    let chunks = pipelined_stats(200_000);
    let total = chunks.len();
    let taken = Arc::new(AtomicUsize::new(0));
    let input = Pipelining {
        chunks,
        taken: Arc::clone(&taken),
    };
    // What the account holds, sampled while the session runs (a
    // measurement; the session's end is what the test waits for).
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (ns, peak) = (Arc::clone(&ns), Arc::clone(&peak));
        tokio::spawn(async move {
            loop {
                peak.fetch_max(ns.memory().account_used(USER), Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    let end = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        serve(input, NeverRead, ctx),
    )
    .await
    .expect("the session ends by itself");
    sampler.abort();
    // The replies stop first (nobody reads them), so the handler stops
    // taking requests, the reader stops at the request cap, and the writer
    // gives up after limits.send_timeout.
    match &end {
        End::Lost(why) => assert!(why.contains("limits.send_timeout"), "{why}"),
        other => panic!("expected the session to be cut off, got {other:?}"),
    }
    let limits = ns.limits();
    let cap = limits.max_queued_requests + limits.max_response_buffer + limits.max_packet;
    let peak = peak.load(Ordering::Relaxed);
    eprintln!(
        "peak {peak} of cap {cap}, read {} of {total} chunks",
        taken.load(Ordering::Relaxed)
    );
    assert!(peak > 0, "the sampler saw the session hold something");
    assert!(peak <= cap, "held {peak} bytes; the caps allow {cap}");
    assert!(
        taken.load(Ordering::Relaxed) < total,
        "the session stopped reading before the client ran out of requests"
    );
    assert_eq!(ns.memory().account_used(USER), 0, "all given back");
}

/// A session's principal, as the door kit mints it for an accepted SFTP
/// login from 127.0.0.1 (nothing else may construct one).
fn logged_in(live: &renkei_core::live::Live, user: &str) -> Principal {
    let snap = live.get();
    renkei_core::door::login::find(
        &snap,
        &renkei_core::door::login::Attempt {
            user,
            ip: "127.0.0.1".parse().expect("ip"),
            conn: 1,
            protocol: renkei_core::policy::Protocol::Sftp,
            scope: &renkei_core::door::Scope::Tenants,
        },
    )
    .verdict
    .expect("the login is accepted")
}
