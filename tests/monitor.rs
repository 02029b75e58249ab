//! The monitoring listener: Prometheus metrics scraped with curl after a
//! known sequence of uploads, downloads and refusals; `/healthz`; and
//! `/readyz` going unready when the configured scanner is down; sources
//! outside `[admin] allow` refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::clamd::TestClamd;
use common::{Daemon, default_tenants, eventually};

const ADMIN: &str = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";

fn monitor(d: &Daemon) -> String {
    d.status_json()["monitor_listen"]
        .as_str()
        .expect("the monitoring listener")
        .to_string()
}

/// (status, body) of `curl http://ADDR/PATH`, optionally from `from`.
fn get(addr: &str, path: &str, from: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"]);
    if let Some(ip) = from {
        c.args(["--interface", ip]);
    }
    let out = c.arg(format!("http://{addr}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The value of one sample line (`name{labels}`) in a scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn metrics_count_what_happened_and_health_answers() {
    let d = Daemon::start_with(default_tenants(), ADMIN);
    let addr = monitor(&d);
    fs::write(d.work.join("a.csv"), vec![b'a'; 1000]).unwrap();
    fs::write(d.work.join("b.csv"), vec![b'b'; 2000]).unwrap();
    d.sftp_ok(
        "032018-juki",
        "put a.csv /inbox/a.csv\nput b.csv /inbox/b.csv\nget /inbox/a.csv back.csv\n",
    );
    // One refused login: an unknown user.
    let refused = Command::new("sftp")
        .args(d.ssh_opts("032018-juki", "-P"))
        .arg("-b")
        .arg("/dev/null")
        .arg("nobody@127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    d.wait_event("the refused login", |e| e["event"] == "login_failed");
    d.wait_event("the download", |e| e["event"] == "downloaded");
    let scrape = eventually("the counts", std::time::Duration::from_secs(10), || {
        let (code, body) = get(&addr, "/metrics", None);
        (code == 200 && sample(&body, "renkei_events_total{event=\"downloaded\"}") == Some(1.0))
            .then_some(body)
    });
    assert_eq!(
        sample(&scrape, "renkei_events_total{event=\"upload_committed\"}"),
        Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "renkei_events_total{event=\"login_failed\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "renkei_events_total{event=\"login_succeeded\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&scrape, "renkei_upload_bytes_total"), Some(3000.0));
    assert_eq!(sample(&scrape, "renkei_download_bytes_total"), Some(1000.0));
    assert_eq!(sample(&scrape, "renkei_files_held"), Some(0.0));
    assert_eq!(sample(&scrape, "renkei_audit_writable"), Some(1.0));
    assert!(sample(&scrape, "renkei_disk_free_bytes").unwrap() > 0.0);
    for documented in [
        "renkei_connections_open{protocol=\"sftp\"}",
        "renkei_checks_waiting",
        "renkei_bans_active",
        "renkei_uptime_seconds",
        "renkei_audit_unsigned_records",
    ] {
        assert!(
            sample(&scrape, documented).is_some(),
            "{documented} missing:\n{scrape}"
        );
    }
    assert_eq!(get(&addr, "/healthz", None), (200, "ok\n".to_string()));
    assert_eq!(get(&addr, "/readyz", None), (200, "ready\n".to_string()));
}

#[test]
fn a_source_outside_admin_allow_is_refused() {
    let d = Daemon::start_with(
        default_tenants(),
        &format!("{ADMIN}allow = [\"127.0.0.1/32\"]\n"),
    );
    let addr = monitor(&d);
    assert_eq!(get(&addr, "/metrics", Some("127.0.0.1")).0, 200);
    assert_eq!(get(&addr, "/metrics", Some("127.0.0.5")).0, 403);
    assert_eq!(get(&addr, "/readyz", Some("127.0.0.5")).0, 403);
}

#[test]
fn readyz_is_unready_while_the_configured_scanner_is_down() {
    let clamd = TestClamd::start("16M");
    let d = Daemon::start_with(
        default_tenants(),
        &format!(
            "{ADMIN}\n[scan]\nclamd = \"{}\"\ntimeout = \"2s\"\n",
            clamd.socket.display()
        ),
    );
    let addr = monitor(&d);
    assert_eq!(get(&addr, "/readyz", None).0, 200);
    drop(clamd);
    let (code, body) = eventually("unready", std::time::Duration::from_secs(20), || {
        let r = get(&addr, "/readyz", None);
        (r.0 == 503).then_some(r)
    });
    assert_eq!(code, 503);
    assert!(body.contains("scanner"), "{body}");
    // Alive all the same.
    assert_eq!(get(&addr, "/healthz", None).0, 200);
}

#[test]
fn a_route_shows_its_queue_and_the_age_of_its_oldest_item() {
    // The destination refuses (a file where the directory should be) and
    // the next attempt is an hour away: the item waits in the queue.
    let route = "\n[[route]]\nname = \"juki-up\"\nsource = { box = \"inbox\", pattern = \"*.csv\" }\ndestination = { dir = \"spool/{tenant}\" }\nretry = { attempts = 3, first = \"1h\", max = \"1h\" }\n";
    let d = Daemon::start_with(default_tenants(), &format!("{ADMIN}{route}"));
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    fs::write(
        d.root.path().join("spool").join("032018"),
        b"not a directory",
    )
    .unwrap();
    let addr = monitor(&d);
    d.put("032018", "inbox", "JUKI_032018.csv", b"a,b\n");
    let scrape = eventually(
        "a queue a second old",
        std::time::Duration::from_secs(15),
        || {
            let (_, body) = get(&addr, "/metrics", None);
            (sample(
                &body,
                "renkei_handoff_oldest_queued_seconds{route=\"juki-up\"}",
            )? >= 1.0)
                .then_some(body)
        },
    );
    assert_eq!(
        sample(
            &scrape,
            "renkei_handoffs{route=\"juki-up\",state=\"queued\"}"
        ),
        Some(1.0),
        "{scrape}"
    );
}
