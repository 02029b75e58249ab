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
    serde_json::from_str(&d.ctl_ok(&["status", "--json"])).unwrap()
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

const JUKI_RULES: &str = r#"
[[check]]
name = "juki-fixed"
box = "inbox"
patterns = ["JUKI_*"]
types = ["text"]
name_template = "JUKI_@市町村コード@_@日時@.DAT"
format = { encoding = "shift_jis", line_ending = "crlf", records = "fixed", record_length = 24, kind_field = [0, 1], header = "1", data = "2", trailer = "8", count_field = [1, 6] }

[[check]]
name = "pdf-only"
box = "inbox"
patterns = ["*.pdf"]
types = ["pdf"]
"#;

/// 盛岡 and 山田太郎 in Shift_JIS.
const MORIOKA: &[u8] = &[0x90, 0xB7, 0x89, 0xAA];
const YAMADA: &[u8] = &[0x8E, 0x52, 0x93, 0x63, 0x91, 0xBE, 0x98, 0x59];

fn record(kind: u8, body: &[u8], len: usize) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend_from_slice(body);
    r.resize(len, b' ');
    r.extend_from_slice(b"\r\n");
    r
}

/// Header, `people` data records and a trailer saying `count`.
fn juki(people: usize, count: &str) -> Vec<u8> {
    let mut f = record(b'1', &[b"032018".as_slice(), MORIOKA].concat(), 24);
    for _ in 0..people {
        f.extend(record(b'2', YAMADA, 24));
    }
    f.extend(record(b'8', count.as_bytes(), 24));
    f
}

#[test]
fn linkage_files_are_validated_and_a_refused_one_says_where_in_its_receipt() {
    // No scanner: the [[check]] rules alone hold the selected files.
    let d = Daemon::start_with(default_tenants(), &format!("{UP}\n{JUKI_RULES}"));
    let ok = "JUKI_032018_20261201093000.DAT";
    let count = "JUKI_032018_20261201093001.DAT";
    let byte = "JUKI_032018_20261201093002.DAT";
    let length = "JUKI_032018_20261201093003.DAT";
    let other_code = "JUKI_011002_20261201093004.DAT";
    let bad_time = "JUKI_032018_20261341093000.DAT";
    fs::write(d.work.join(ok), juki(2, "000002")).unwrap();
    fs::write(d.work.join(count), juki(2, "000003")).unwrap();
    let mut invalid = juki(2, "000002");
    invalid[24 + 2 + 3] = 0x80; // a lone byte no Shift_JIS character starts with
    fs::write(d.work.join(byte), invalid).unwrap();
    let mut short = juki(1, "000001");
    short.extend(record(b'2', YAMADA, 20));
    fs::write(d.work.join(length), short).unwrap();
    fs::write(d.work.join(other_code), juki(1, "000001")).unwrap();
    fs::write(d.work.join(bad_time), juki(1, "000001")).unwrap();
    let mut exe = vec![0u8; 512];
    exe[..2].copy_from_slice(b"MZ");
    exe[0x3C] = 0x80;
    exe[0x80..0x84].copy_from_slice(b"PE\0\0");
    fs::write(d.work.join("tsuchi.pdf"), &exe).unwrap();
    fs::write(
        d.work.join("real.pdf"),
        b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n",
    )
    .unwrap();
    let names = [
        ok,
        count,
        byte,
        length,
        other_code,
        bad_time,
        "tsuchi.pdf",
        "real.pdf",
    ];
    let batch: String = names
        .iter()
        .map(|n| format!("put {n} /inbox/{n}\n"))
        .collect();
    d.sftp_ok("032018-juki", &batch);
    for n in names {
        eventually(&format!("{n} checked"), Duration::from_secs(30), || {
            (!outcome_for(&d, n).is_empty()).then_some(())
        });
    }
    let outcome = |n: &str| outcome_for(&d, n)[0].clone();
    assert_eq!(outcome(ok)["event"], "file_checked");
    assert_eq!(outcome("real.pdf")["event"], "file_checked");
    for n in [count, byte, length, other_code, bad_time, "tsuchi.pdf"] {
        assert_eq!(outcome(n)["event"], "file_rejected", "{n}: {}", outcome(n));
    }
    let why = |n: &str| outcome(n)["reason"].as_str().unwrap().to_string();
    assert!(
        why(count).contains("4行目") && why(count).contains("line 4"),
        "{}",
        why(count)
    );
    assert!(
        why(count).contains('3') && why(count).contains('2'),
        "{}",
        why(count)
    );
    assert!(
        why(byte).contains("line 2") && why(byte).contains("byte 29"),
        "{}",
        why(byte)
    );
    assert!(
        why(length).contains("line 4") && why(length).contains("24"),
        "{}",
        why(length)
    );
    assert!(
        why(other_code).contains("JUKI_@市町村コード@_@日時@.DAT"),
        "{}",
        why(other_code)
    );
    assert!(why(bad_time).contains("name"), "{}", why(bad_time));
    assert!(
        why("tsuchi.pdf").contains("executable"),
        "{}",
        why("tsuchi.pdf")
    );

    // The sender reads the same in its receipt, and the file is nowhere.
    let r = check_receipt(&d, "032018-juki", count).expect("a receipt");
    assert!(r.contains("却下") && r.contains("line 4"), "{r}");
    let ls = d.sftp_ok("032018-juki", "ls -1 /inbox\n");
    assert!(
        ls.contains(ok) && !ls.contains(count) && !ls.contains("tsuchi.pdf"),
        "{ls}"
    );
    // Files no rule selects are not held at all (no [scan]).
    fs::write(d.work.join("memo.txt"), b"hello").unwrap();
    d.sftp_ok("032018-juki", "put memo.txt /inbox/memo.txt\n");
    assert_eq!(
        state_of(&d, "032018", "memo.txt").as_deref(),
        Some("stored")
    );
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert_eq!(held.len(), 6, "{held:?}");
    assert!(held.iter().all(|h| h["state"] == "rejected"));
}

/// Writes ZIP files with Python's zipfile: a plain one, a bomb (8 MiB of
/// zeros deflated) and one whose entry claims to be encrypted.
fn make_zips(dir: &std::path::Path) {
    let script = r#"
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + '/plain.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.csv', '032018,1\r\n' * 100)
with zipfile.ZipFile(d + '/bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('zeros.bin', b'\0' * (8 << 20))
with zipfile.ZipFile(d + '/locked.zip', 'w', zipfile.ZIP_STORED) as z:
    z.writestr('secret.csv', '1,2\r\n')
b = bytearray(open(d + '/locked.zip', 'rb').read())
b[6] |= 1
c = b.find(b'PK\x01\x02')
b[c + 8] |= 1
open(d + '/locked.zip', 'wb').write(b)
"#;
    let out = std::process::Command::new(common::PYTHON)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn zip_bombs_and_encrypted_archives_are_rejected_plain_archives_pass() {
    let rule = "[[check]]\nname = \"archives\"\nbox = \"inbox\"\npatterns = [\"*.zip\"]\ntypes = [\"archive\"]\n";
    let d = Daemon::start_with(default_tenants(), rule);
    make_zips(&d.work);
    d.sftp_ok(
        "032018-juki",
        "put plain.zip /inbox/plain.zip\nput bomb.zip /inbox/bomb.zip\nput locked.zip /inbox/locked.zip\n",
    );
    for n in ["plain.zip", "bomb.zip", "locked.zip"] {
        eventually(&format!("{n} checked"), Duration::from_secs(30), || {
            (!outcome_for(&d, n).is_empty()).then_some(())
        });
    }
    assert_eq!(outcome_for(&d, "plain.zip")[0]["event"], "file_checked");
    let bomb = &outcome_for(&d, "bomb.zip")[0];
    assert_eq!(bomb["event"], "file_rejected");
    assert!(
        bomb["reason"]
            .as_str()
            .unwrap()
            .contains("archive_max_ratio"),
        "{bomb}"
    );
    let locked = &outcome_for(&d, "locked.zip")[0];
    assert_eq!(locked["event"], "file_rejected");
    assert!(
        locked["reason"].as_str().unwrap().contains("encrypted"),
        "{locked}"
    );
}

#[test]
fn a_file_renamed_into_a_checked_name_is_checked_under_that_name() {
    // The batch-client habit: upload under a temporary name, rename when
    // complete. The final name's rules apply to the final name.
    let route = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "JUKI_*" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
"#;
    let d = Daemon::start_with(default_tenants(), &format!("{route}\n{JUKI_RULES}"));
    let good = "JUKI_032018_20261201100000.DAT";
    let bad = "JUKI_032018_20261201100001.DAT";
    fs::write(d.work.join("good.tmp"), juki(2, "000002")).unwrap();
    fs::write(d.work.join("bad.tmp"), juki(2, "000005")).unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!(
            "put good.tmp /inbox/good.tmp\nrename /inbox/good.tmp /inbox/{good}\nput bad.tmp /inbox/bad.tmp\nrename /inbox/bad.tmp /inbox/{bad}\n"
        ),
    );
    let dir = spool(&d, "032018");
    eventually("the good file delivered", Duration::from_secs(30), || {
        dir.join(format!("{good}.end")).exists().then_some(())
    });
    let rejected = d.wait_event("the bad file rejected under its final name", |e| {
        e["event"] == "file_rejected" && e["path"] == bad
    });
    assert!(
        rejected["reason"].as_str().unwrap().contains("line 4"),
        "{rejected}"
    );
    assert!(!dir.join(bad).exists());
    let ls = d.sftp_ok("032018-zei", "ls -1 /inbox\n");
    assert!(
        ls.contains(good) && !ls.contains(bad) && !ls.contains(".tmp"),
        "{ls}"
    );
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
