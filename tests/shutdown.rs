//! Stopping: the shutdown tree ends sessions, control commands, routes and
//! upkeep before the audit trail is sealed, so a stop in the middle of
//! traffic leaves a trail that verifies, ends with the stop, and loses no
//! record to the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ftps::{FtpsWorld, PW, USER};
use common::{Daemon, default_tenants, eventually, kill_client, pseudo_random};
use serde_json::{Value, json};

const ROUTE: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}" }
"#;

#[test]
fn a_stop_during_uploads_and_hand_offs_seals_the_trail_last() {
    let mut d = Daemon::start_with(
        default_tenants(),
        &format!("{ROUTE}[limits]\nshutdown_grace = \"1s\"\nshutdown_disconnect_wait = \"1s\"\n"),
    );
    // Files the route is handing on, and an upload still running.
    for i in 0..20 {
        d.put("032018", "inbox", &format!("F{i:02}.csv"), b"juki\n");
    }
    let data = pseudo_random(16 << 20, 9);
    fs::write(d.work.join("big.dat"), &data).unwrap();
    let client = d.sftp_background("032018-juki", "put big.dat /inbox/big.dat\n", 16_000);
    d.wait_for_blob_over(1 << 20);
    let st = d.stop();
    assert!(st.success(), "clean exit on SIGTERM: {st}");
    kill_client(client);

    let (ok, out) = d.cli("audit", &["verify"]);
    assert!(ok, "the trail verifies after the stop: {out}");
    let (ok, out) = d.cli("audit", &["query", "--json"]);
    assert!(ok, "{out}");
    let records: Vec<Value> = serde_json::from_str(out.trim_start_matches(|c| c != '[')).unwrap();
    let last = records.last().expect("records");
    assert_eq!(last["event"], "daemon_stopped", "{last}");
    // The session cut by the stop and the hand-offs recorded before it.
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "session_ended" && r["user"] == "032018-juki"),
        "the cut session has its record"
    );
    assert!(records.iter().any(|r| r["event"] == "handoff_delivered"));
    let log = d.log_text();
    assert!(
        !log.contains("the audit trail is sealed"),
        "no record was appended after the seal"
    );
    assert!(
        !records.iter().any(|r| r["event"] == "audit_records_lost"),
        "no record was lost"
    );
}

/// Bytes the daemon's side of the connections on `port` has queued and the
/// client has not taken (`ss`'s Send-Q, summed).
fn send_queue(port: &str) -> u64 {
    let out = Command::new("ss")
        .args([
            "-tnH",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Finding: FTPS (and browser) connections still open when the shutdown
/// grace ran out were left to the runtime's end, so their
/// `session_ended` record came after the trail was sealed, or never.
#[test]
fn an_ftps_session_still_open_after_the_grace_is_cut_and_recorded_before_the_seal() {
    let mut w = FtpsWorld::start(
        "",
        "",
        "[limits]\nshutdown_grace = \"1s\"\nsend_timeout = \"120s\"\n",
    );
    // A logged-in client sends command after command and reads no reply:
    // the daemon is stuck writing replies when the stop comes.
    let gate = w.d.work.join("gate");
    let steps = json!([
        ["flood_unread", "FEAT", 400_000],
        ["wait", gate.to_str().unwrap()]
    ]);
    let client = w
        .python_command(USER, PW, &steps, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Stuck: its queue of unsent replies is large and has stopped
    // growing (the same over ten polls in a row).
    let port = w.port();
    let (mut last, mut same) = (0, 0);
    eventually(
        "the daemon stuck sending replies",
        Duration::from_secs(30),
        || {
            let queued = send_queue(&port);
            same = if queued == last { same + 1 } else { 0 };
            last = queued;
            (queued > 256 << 10 && same >= 10).then_some(())
        },
    );
    let st = w.d.stop();
    assert!(st.success(), "clean exit on SIGTERM: {st}");
    fs::write(&gate, b"").unwrap();
    kill_client(client);

    let (ok, out) = w.d.cli("audit", &["verify"]);
    assert!(ok, "the trail verifies after the stop: {out}");
    let (ok, out) = w.d.cli("audit", &["query", "--json"]);
    assert!(ok, "{out}");
    let records: Vec<Value> = serde_json::from_str(out.trim_start_matches(|c| c != '[')).unwrap();
    assert_eq!(records.last().unwrap()["event"], "daemon_stopped");
    let ended = records
        .iter()
        .find(|r| r["event"] == "session_ended" && r["protocol"] == "ftps" && r["user"] == USER)
        .expect("the cut FTPS session has its record");
    let reason = ended["reason"].as_str().unwrap();
    assert!(reason.contains("cut off"), "{reason}");
    assert!(
        !w.d.log_text().contains("the audit trail is sealed"),
        "no record was appended after the seal"
    );
}
