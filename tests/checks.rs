//! The arrival checks end to end: a real clamd (tests/common/clamd.rs)
//! and a real daemon. A file is invisible to everyone but its uploader
//! and never handed on until it is checked; a marked file is quarantined
//! (never in the spool, the receipt says 検疫 with the signature), a
//! clean one is delivered; while clamd is down files wait and go on by
//! themselves, exactly once, when it is back; a kill -9 mid-check
//! neither loses nor doubles a check.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use common::clamd::{MARKER, SIGNATURE, TestClamd};
use common::{Daemon, default_tenants, eventually};
use serde_json::Value;

const UP: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
retry = { attempts = 3, first = "200ms", max = "1s" }
"#;

const DOWN: &str = r#"
[[route]]
name = "kokuho-down"
source = { dir = "dist/{tenant}", settle = "300ms" }
destination = { box = "outbox" }
rescan = "300ms"
"#;

fn spool(d: &Daemon, tenant: &str) -> PathBuf {
    d.root.path().join("spool").join(tenant)
}

/// A clean CSV-like text of about `len` bytes, different per seed.
fn clean(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = seed;
    while out.len() < len {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("032018,{:020},{}\r\n", n, n % 97).as_bytes());
    }
    out
}

/// The same, with the test signature's marker in the middle.
fn marked(len: usize, seed: u64) -> Vec<u8> {
    let mut data = clean(len, seed);
    let at = data.len() / 2;
    data[at..at + MARKER.len()].copy_from_slice(MARKER);
    data
}

fn outcome_for(d: &Daemon, path: &str) -> Vec<Value> {
    d.events()
        .into_iter()
        .filter(|e| {
            matches!(
                e["event"].as_str(),
                Some("file_checked" | "file_quarantined" | "file_rejected")
            ) && e["path"] == path
        })
        .collect()
}

/// `ctl ls` state of a file, if the operator sees it.
fn state_of(d: &Daemon, tenant: &str, path: &str) -> Option<String> {
    d.ls(tenant)
        .into_iter()
        .find(|e| e["path"] == path)
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
}

/// The text of the receipt of `name` whose name ends with `_checks.txt`.
fn check_receipt(d: &Daemon, user: &str, name: &str) -> Option<String> {
    let listing = d.sftp_ok(user, "ls -1 /receipts\n");
    let receipt = listing
        .lines()
        .map(|l| l.trim().trim_start_matches("/receipts/"))
        .find(|l| l.contains(name) && l.ends_with("_checks.txt"))?
        .to_string();
    let local = d.work.join(format!(
        "receipt-{}",
        common::sha256_hex(receipt.as_bytes())
    ));
    d.sftp_ok(
        user,
        &format!("get /receipts/{receipt} {}\n", local.display()),
    );
    fs::read_to_string(local).ok()
}

#[test]
fn a_marked_upload_is_quarantined_and_never_handed_on_a_clean_one_is_delivered() {
    let clamd = TestClamd::start("16M");
    let d = Daemon::start_with(
        default_tenants(),
        &format!("{UP}\n{}", clamd.scan_table("")),
    );
    let good = clean(200_000, 1);
    let bad = marked(200_000, 2);
    fs::write(d.work.join("good.csv"), &good).unwrap();
    fs::write(d.work.join("bad.csv"), &bad).unwrap();
    d.sftp_ok(
        "032018-juki",
        "put good.csv /inbox/good.csv\nput bad.csv /inbox/bad.csv\n",
    );
    let dir = spool(&d, "032018");
    eventually("the clean file delivered", Duration::from_secs(30), || {
        dir.join("good.csv.end").exists().then_some(())
    });
    assert_eq!(fs::read(dir.join("good.csv")).unwrap(), good);
    let q = d.wait_event("the marked file quarantined", |e| {
        e["event"] == "file_quarantined" && e["path"] == "bad.csv"
    });
    assert_eq!(q["signature"], SIGNATURE, "{q}");
    assert!(
        q["scanner"].as_str().unwrap_or("").starts_with("ClamAV "),
        "{q}"
    );
    let ok = outcome_for(&d, "good.csv");
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["event"], "file_checked");
    assert!(
        ok[0]["checks"]
            .as_array()
            .unwrap()
            .contains(&"virus".into())
    );

    // Held: not in the spool, not in anyone's listing, not downloadable.
    assert!(!dir.join("bad.csv").exists());
    for user in ["032018-juki", "032018-zei"] {
        let ls = d.sftp_ok(user, "ls -1 /inbox\n");
        assert!(!ls.contains("bad.csv"), "{user}: {ls}");
        let out = d.sftp(user, b"get /inbox/bad.csv x\n", &[]);
        assert!(!out.status.success(), "{user} could download a held file");
    }
    assert_eq!(state_of(&d, "032018", "bad.csv"), None);
    // The sender's receipt says 検疫 and names the signature.
    let r = check_receipt(&d, "032018-juki", "bad.csv").expect("a check receipt");
    assert!(r.contains("検疫") && r.contains(SIGNATURE), "{r}");
    let r = check_receipt(&d, "032018-juki", "good.csv").expect("a check receipt");
    assert!(r.contains("検査合格") && r.contains("ClamAV"), "{r}");
    // Another municipality sees neither receipt.
    assert!(check_receipt(&d, "011002-juki", "bad.csv").is_none());

    // The operator sees it, and releases it with a reason: it is handed
    // on like any accepted file, once.
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["state"], "quarantined");
    assert_eq!(held[0]["signature"], SIGNATURE);
    let id = held[0]["id"].as_str().unwrap().to_string();
    let show = d.ctl_ok(&["quarantine", "show", &id[..12]]);
    assert!(
        show.contains(SIGNATURE) && show.contains("bad.csv"),
        "{show}"
    );
    let refused = d.ctl(&["quarantine", "release", &id, "--reason", " "]);
    assert!(!refused.status.success(), "a release needs a reason");
    let said = d.ctl_ok(&[
        "quarantine",
        "release",
        &id,
        "--reason",
        "false positive confirmed with the vendor (ticket 42)",
    ]);
    assert!(said.contains("No check was run again"), "{said}");
    eventually(
        "the released file delivered",
        Duration::from_secs(30),
        || dir.join("bad.csv.end").exists().then_some(()),
    );
    assert_eq!(fs::read(dir.join("bad.csv")).unwrap(), bad);
    let rel = d.wait_event("quarantine_released", |e| {
        e["event"] == "quarantine_released"
    });
    assert_eq!(rel["object"], id.as_str());
    assert!(rel["reason"].as_str().unwrap().contains("ticket 42"));
    let r = check_receipt(&d, "032018-juki", "bad.csv").expect("a check receipt");
    assert!(r.contains("検疫解除") && r.contains("ticket 42"), "{r}");
    let status = d.ctl_ok(&["status"]);
    assert!(
        status.contains("0 waiting") && status.contains("0 held"),
        "{status}"
    );
}

#[test]
fn a_marked_file_imported_by_a_route_is_quarantined_and_ctl_put_is_checked_too() {
    let clamd = TestClamd::start("16M");
    let d = Daemon::start_with(
        default_tenants(),
        &format!("{DOWN}\n{}", clamd.scan_table("")),
    );
    let dist = d.root.path().join("dist").join("032018");
    fs::create_dir_all(&dist).unwrap();
    fs::write(dist.join("kekka.csv"), clean(50_000, 3)).unwrap();
    fs::write(dist.join("virus.csv"), marked(50_000, 4)).unwrap();
    d.wait_event("the imported marked file quarantined", |e| {
        e["event"] == "file_quarantined" && e["path"] == "virus.csv"
    });
    d.wait_event("the clean import accepted", |e| {
        e["event"] == "file_checked" && e["path"] == "kekka.csv"
    });
    let ls = d.sftp_ok("032018-juki", "ls -1 /outbox\n");
    assert!(
        ls.contains("kekka.csv") && !ls.contains("virus.csv"),
        "{ls}"
    );
    assert!(!dist.join("virus.csv").exists(), "the source was taken");

    // The operator's own placement goes through the same stage.
    d.put("011002", "inbox", "ctl.csv", &marked(10_000, 5));
    d.wait_event("ctl put quarantined", |e| {
        e["event"] == "file_quarantined" && e["path"] == "ctl.csv" && e["uploaded_by"] == "ctl"
    });
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    let id = held.iter().find(|h| h["path"] == "ctl.csv").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    d.ctl_ok(&[
        "quarantine",
        "delete",
        &id,
        "--reason",
        "confirmed infected",
    ]);
    let gone = d.wait_event("quarantine_deleted", |e| e["event"] == "quarantine_deleted");
    assert_eq!(gone["reason"], "confirmed infected");
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
}
