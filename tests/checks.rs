//! The arrival checks end to end with a real clamd (tests/common/clamd.rs)
//! and a real daemon. A file is invisible to everyone but its uploader and
//! never handed on until it is checked; a marked file is quarantined (never
//! in the spool, the receipt says 検疫 with the signature), a clean one is
//! delivered; while clamd is down files wait and go on by themselves,
//! exactly once, when it is back; a kill -9 mid-check neither loses nor
//! doubles a check. The content rules are in tests/checks_rules.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::time::Duration;

use common::checks::{check_receipt, clean, marked, outcome_for, spool, state_of};
use common::clamd::{SIGNATURE, TestClamd};
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
    // A monitor sees it: `ctl status` exits with the held-files bit (8).
    let (code, text) = d.ctl_code(&["status"]);
    assert_eq!(code, 8, "{text}");
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
    assert_eq!(d.ctl_code(&["status"]).0, 0, "nothing held any more");
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
    let local = d.work.join("ctl.csv");
    fs::write(&local, marked(10_000, 5)).unwrap();
    let said = d.ctl_ok(&[
        "put",
        "--tenant",
        "011002",
        "--box",
        "inbox",
        local.to_str().unwrap(),
    ]);
    assert!(said.contains("held for the arrival checks"), "{said}");
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

/// How many times each route delivered each path, from the trail.
fn deliveries(d: &Daemon) -> std::collections::HashMap<String, usize> {
    let mut n = std::collections::HashMap::new();
    for e in d.audit_query("handoff_delivered") {
        *n.entry(e["path"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    n
}

fn status_json(d: &Daemon) -> Value {
    d.status_json()
}

#[test]
fn while_clamd_is_down_files_wait_unseen_and_go_on_exactly_once_when_it_is_back() {
    let mut clamd = TestClamd::start("16M");
    let d = Daemon::start_with(
        default_tenants(),
        &format!("{UP}\n{}", clamd.scan_table("")),
    );
    clamd.stop();
    let names = ["a.csv", "b.csv", "c.csv"];
    for (i, n) in names.iter().enumerate() {
        fs::write(d.work.join(n), clean(30_000, 10 + i as u64)).unwrap();
    }
    fs::write(d.work.join("v.csv"), marked(30_000, 20)).unwrap();
    d.sftp_ok(
        "032018-juki",
        "put a.csv /inbox/a.csv\nput b.csv /inbox/b.csv\nput c.csv /inbox/c.csv\nput v.csv /inbox/v.csv\n",
    );
    let alert = d.wait_event("scan_unavailable", |e| e["event"] == "scan_unavailable");
    assert!(
        alert["error"].as_str().unwrap().contains("not reachable"),
        "{alert}"
    );
    // Waiting: the uploader lists them, the other account of the same
    // municipality does not, the operator sees them as checking, and
    // nothing reached the spool.
    let own = d.sftp_ok("032018-juki", "ls -1 /inbox\n");
    assert!(names.iter().all(|n| own.contains(n)), "{own}");
    let other = d.sftp_ok("032018-zei", "ls -1 /inbox\n");
    assert!(names.iter().all(|n| !other.contains(n)), "{other}");
    let out = d.sftp("032018-zei", b"get /inbox/a.csv x\n", &[]);
    assert!(
        !out.status.success(),
        "a file under check was readable by another account"
    );
    assert_eq!(state_of(&d, "032018", "a.csv").as_deref(), Some("checking"));
    let st = status_json(&d);
    assert_eq!(st["checks"]["waiting"], 4, "{st}");
    let r = check_receipt(&d, "032018-juki", "a.csv").expect("a receipt while checking");
    assert!(r.contains("検査中"), "{r}");
    let routes = d.ctl_ok(&["routes"]);
    assert!(routes.contains("waiting for arrival checks"), "{routes}");
    assert!(!spool(&d, "032018").join("a.csv").exists());
    // The alert is raised once per outage, not once per retry.
    assert_eq!(d.audit_query("scan_unavailable").len(), 1);
    assert!(deliveries(&d).is_empty());

    clamd.run();
    let dir = spool(&d, "032018");
    eventually(
        "every clean file delivered",
        Duration::from_secs(30),
        || {
            names
                .iter()
                .all(|n| dir.join(format!("{n}.end")).exists())
                .then_some(())
        },
    );
    d.wait_event("the marked file quarantined", |e| {
        e["event"] == "file_quarantined" && e["path"] == "v.csv"
    });
    let back = d.wait_event("scan_available", |e| e["event"] == "scan_available");
    assert!(
        back["version"].as_str().unwrap().starts_with("ClamAV"),
        "{back}"
    );
    let delivered = deliveries(&d);
    for n in names {
        assert_eq!(delivered.get(n), Some(&1), "{n}: {delivered:?}");
        assert_eq!(outcome_for(&d, n).len(), 1, "{n} checked once");
    }
    assert!(!dir.join("v.csv").exists());
    let other = d.sftp_ok("032018-zei", "ls -1 /inbox\n");
    assert!(names.iter().all(|n| other.contains(n)), "{other}");
}

#[test]
fn a_kill_while_files_are_checked_neither_loses_nor_doubles_a_check() {
    let mut clamd = TestClamd::start("16M");
    let mut d = Daemon::start_with(
        default_tenants(),
        &format!("{UP}\n{}", clamd.scan_table("")),
    );
    // Files committed while the scanner is away are all `checking` when
    // the daemon dies; the next start checks each of them once.
    clamd.stop();
    let mut batch = String::new();
    let mut expect_clean = Vec::new();
    let mut expect_marked = Vec::new();
    for i in 0..12u64 {
        let name = format!("f{i:02}.csv");
        let data = if i % 4 == 0 {
            expect_marked.push(name.clone());
            marked(400_000, i)
        } else {
            expect_clean.push(name.clone());
            clean(400_000, i)
        };
        fs::write(d.work.join(&name), data).unwrap();
        batch.push_str(&format!("put {name} /inbox/{name}\n"));
    }
    d.sftp_ok("032018-juki", &batch);
    assert_eq!(status_json(&d)["checks"]["waiting"], 12);
    d.kill9();
    clamd.run();
    d.start_again();
    // And a second kill while the restarted daemon is checking them.
    eventually("some checks done", Duration::from_secs(30), || {
        (!d.audit_query("file_checked").is_empty()).then_some(())
    });
    d.kill9();
    d.start_again();
    let dir = spool(&d, "032018");
    eventually(
        "every clean file delivered",
        Duration::from_secs(60),
        || {
            expect_clean
                .iter()
                .all(|n| dir.join(format!("{n}.end")).exists())
                .then_some(())
        },
    );
    eventually("every check settled", Duration::from_secs(30), || {
        (status_json(&d)["checks"]["waiting"] == 0).then_some(())
    });
    let checked = d.audit_query("file_checked");
    let quarantined = d.audit_query("file_quarantined");
    for n in &expect_clean {
        let k = checked.iter().filter(|e| e["path"] == n.as_str()).count();
        assert_eq!(k, 1, "{n} accepted {k} times");
    }
    for n in &expect_marked {
        let k = quarantined
            .iter()
            .filter(|e| e["path"] == n.as_str())
            .count();
        assert_eq!(k, 1, "{n} quarantined {k} times");
        assert!(!dir.join(n).exists(), "{n} reached the spool");
    }
    let delivered = deliveries(&d);
    for n in &expect_clean {
        assert_eq!(delivered.get(n.as_str()), Some(&1), "{n}: {delivered:?}");
    }
}

#[test]
fn a_file_too_large_to_scan_is_quarantined_and_retention_destroys_held_files() {
    let clamd = TestClamd::start("16M");
    let extra = format!(
        "{}\n[retention]\nquarantine = \"2s\"\nsweep_interval = \"1s\"\n",
        clamd.scan_table("max_file_size = \"1KiB\"")
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    fs::write(d.work.join("big.csv"), clean(4096, 30)).unwrap();
    fs::write(d.work.join("small.csv"), clean(500, 31)).unwrap();
    d.sftp_ok(
        "032018-juki",
        "put big.csv /inbox/big.csv\nput small.csv /inbox/small.csv\n",
    );
    let q = d.wait_event("the large file quarantined", |e| {
        e["event"] == "file_quarantined" && e["path"] == "big.csv"
    });
    assert!(
        q["reason"]
            .as_str()
            .unwrap()
            .contains("could not be scanned"),
        "{q}"
    );
    d.wait_event("the small file accepted", |e| {
        e["event"] == "file_checked" && e["path"] == "small.csv"
    });
    let held_blobs = d.vault_files().len();
    let purged = d.wait_event("the held file destroyed by retention", |e| {
        e["event"] == "purged" && e["path"] == "big.csv"
    });
    assert_eq!(purged["state"], "quarantined", "{purged}");
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert!(held.is_empty(), "{held:?}");
    assert!(
        d.vault_files().len() < held_blobs,
        "its encrypted bytes are gone"
    );
    assert_eq!(
        state_of(&d, "032018", "small.csv").as_deref(),
        Some("stored")
    );
}
