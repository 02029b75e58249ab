//! Hostile clients of the HTTPS front door: connections that never speak,
//! never finish TLS, or go silent after a request are closed within
//! `web.header_timeout`; downloads whose client stops reading end after
//! `limits.send_timeout`, are recorded, and free what they held while
//! another tenant keeps working; one address cannot hold more than
//! `web.max_connections_per_source` connections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::web::{Browser, certificate, password_line, web_table};
use common::{Daemon, PYTHON, default_tenants, eventually, pseudo_random, rss};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/web_hostile.py");
const PW: &str = "hostile-test-password";
const MIB: u64 = 1 << 20;

fn start(web: &str, more: &str) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let extra = format!(
        "[[tenant.account]]\nuser = \"011002-madoguchi\"\n{}\n{}{more}",
        password_line("011002-madoguchi", PW),
        web_table(&cert, &key, web)
    );
    (Daemon::start_with(default_tenants(), &extra), cert, dir)
}

fn hostile(args: &[&str]) -> String {
    common::python_client("web_hostile.py", args)
}

#[test]
fn silent_and_idle_connections_are_closed() {
    let (d, _cert, _dir) = start("header_timeout = \"2s\"\n", "");
    let addr = d.web_addr("staff");
    let (host, port) = addr.rsplit_once(':').unwrap();
    for mode in ["silent-tcp", "silent-tls", "idle-after"] {
        let waited = hostile(&[mode, host, port]);
        assert_ne!(waited, "open", "{mode}: the server never closed it");
        let secs: f64 = waited.parse().unwrap();
        assert!(
            secs >= 1.0,
            "{mode}: closed after {secs}s, before web.header_timeout"
        );
    }
}

#[test]
fn stalled_downloads_end_free_their_memory_and_others_keep_working() {
    let (d, cert, _dir) = start("", "[limits]\nsend_timeout = \"2s\"\n");
    let size = 32 * MIB;
    d.put(
        "011002",
        "outbox",
        "big.bin",
        &pseudo_random(size as usize, 9),
    );
    let addr = d.web_addr("staff");
    let b = Browser::new(&addr, &cert);
    assert_eq!(b.login("011002-madoguchi", PW, "").status, 303);
    let cookie = b.cookie("__Host-renkei").expect("session cookie");
    let before = rss(d.pid());
    let (host, port) = addr.rsplit_once(':').unwrap();
    let n = 8;
    let mut child = Command::new(PYTHON)
        .arg(CLIENT)
        .args([
            "stall",
            host,
            port,
            &cookie,
            "/box/outbox/big.bin",
            &n.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let mut peak = rss(d.pid());
    // Another municipality keeps working meanwhile.
    let local = d.work.join("juki.csv");
    std::fs::write(&local, pseudo_random(MIB as usize, 4)).unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!("put {} /inbox/juki.csv", local.display()),
    );
    // Every stalled download ends, and says how much it served.
    let ended = eventually(
        "the stalled downloads to end",
        Duration::from_secs(60),
        || {
            peak = peak.max(rss(d.pid()));
            let done: Vec<serde_json::Value> = d
                .events()
                .into_iter()
                .filter(|e| e["event"] == "downloaded" && e["path"] == "big.bin")
                .collect();
            (done.len() == n).then_some(done)
        },
    );
    for e in &ended {
        assert!(e["bytes_served"].as_u64().unwrap() < size, "{e}");
        assert_eq!(e["protocol"], "https");
    }
    let grew = peak.saturating_sub(before);
    eprintln!(
        "{n} stalled downloads: RSS {} MiB before, peak {} MiB",
        before / MIB,
        peak / MIB
    );
    // Per stalled download: 4 chunks of 256 KiB in flight, hyper's and
    // TLS's buffers; the allowance covers the daemon's own working set.
    assert!(
        grew < 64 * MIB,
        "stalled downloads grew the daemon by {} MiB",
        grew / MIB
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn one_address_holds_at_most_its_share_of_connections() {
    let (d, cert, _dir) = start("max_connections_per_source = 3\n", "");
    let addr = d.web_addr("staff");
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // The daemon counts a connection once it has accepted it.
    eventually("three accepted", Duration::from_secs(10), || {
        (d.events()
            .iter()
            .filter(|e| e["event"] == "connection_accepted" && e["protocol"] == "https")
            .count()
            >= 3)
            .then_some(())
    });
    let mut fourth = TcpStream::connect(&addr).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = fourth.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the fourth connection is closed unanswered");
    let refused = d.wait_event("refused", |e| {
        e["event"] == "connection_refused"
            && e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("web.max_connections_per_source")
    });
    assert_eq!(refused["protocol"], "https");
    // Another address is not affected.
    let other = Browser::new(&addr, &cert).from("127.0.0.7");
    assert_eq!(other.login("011002-madoguchi", PW, "").status, 303);
    drop(held);
}
