//! Routes facing a broken or hostile spool directory: what someone else
//! puts there never blocks a route, and never passes for a delivery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, default_tenants, eventually};

const UP: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
retry = { attempts = 50, first = "200ms", max = "500ms" }
"#;

fn spool(d: &Daemon, tenant: &str) -> PathBuf {
    d.root.path().join("spool").join(tenant)
}

/// A FIFO at a file's final name used to block the whole route forever
/// (the "same contents?" check opened it for reading). It is now refused
/// as "not a regular file" and the route's other items go on.
#[test]
fn a_fifo_at_a_final_name_blocks_neither_the_route_nor_other_municipalities() {
    let d = Daemon::start_with(default_tenants(), UP);
    let dir = spool(&d, "032018");
    fs::create_dir_all(&dir).unwrap();
    let st = Command::new("mkfifo")
        .arg(dir.join("F1.csv"))
        .status()
        .unwrap();
    assert!(st.success());
    d.put("032018", "inbox", "F1.csv", b"first\n");
    d.put("032018", "inbox", "AFTER.csv", b"after\n");
    d.put("011002", "inbox", "SAPPORO.csv", b"sapporo\n");
    eventually("the other files delivered", Duration::from_secs(30), || {
        (dir.join("AFTER.csv.end").exists() && spool(&d, "011002").join("SAPPORO.csv.end").exists())
            .then_some(())
    });
    assert_eq!(fs::read(dir.join("AFTER.csv")).unwrap(), b"after\n");
    let failed = d.wait_event("the FIFO refused", |e| {
        e["event"] == "handoff_failed" && e["path"] == "F1.csv"
    });
    assert!(
        failed["error"].as_str().unwrap().contains("FIFO"),
        "{failed}"
    );
    // Nothing was written in the FIFO's place.
    assert!(!dir.join("F1.csv.end").exists());
}

/// A receipt planted where renkei keeps its working files must not make an
/// undelivered file count as delivered.
#[test]
fn a_planted_receipt_is_not_taken_for_a_delivery() {
    let d = Daemon::start_with(default_tenants(), UP);
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    let dir = spool(&d, "032018");
    // A regular file where the directory should be: the first attempts fail.
    fs::write(&dir, b"not a directory").unwrap();
    d.put("032018", "inbox", "JUKI.csv", b"real contents\n");
    let failed = d.wait_event("a failed attempt", |e| e["event"] == "handoff_failed");
    let object = failed["object"].as_str().unwrap().to_string();
    fs::remove_file(&dir).unwrap();
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join(format!(".renkei-juki-up-{object}.sent")),
        b"planted",
    )
    .unwrap();
    let delivered = d.wait_event("the delivery", |e| e["event"] == "handoff_delivered");
    assert_eq!(delivered["path"], "JUKI.csv");
    assert_eq!(fs::read(dir.join("JUKI.csv")).unwrap(), b"real contents\n");
    assert!(dir.join("JUKI.csv.end").exists());
}
