//! Stopping: the shutdown tree ends sessions, control commands, routes and
//! upkeep before the audit trail is sealed, so a stop in the middle of
//! traffic leaves a trail that verifies, ends with the stop, and loses no
//! record to the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::{Daemon, default_tenants, kill_client, pseudo_random};
use serde_json::Value;

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
