//! The audit trail, end to end: what a real daemon records, what
//! `renkei audit verify | query | export` make of it, and that tampering,
//! crashes and retention leave it verifiable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Daemon, PARAMIKO, PYTHON, default_tenants, names, sha256_hex};
use serde_json::Value;

/// Small segments and frequent checkpoints, so a short test spans several.
const SMALL: &str =
    "[audit]\ncheckpoint_every = 20\ncheckpoint_interval = \"1s\"\nsegment_size = \"8KiB\"\n";

fn audit(d: &Daemon, args: &[&str]) -> (bool, String) {
    d.cli("audit", args)
}

fn query_json(d: &Daemon, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["query", "--json"];
    a.extend_from_slice(args);
    let (ok, out) = audit(d, &a);
    assert!(ok, "{out}");
    serde_json::from_str(out.trim_start_matches(|c| c != '[')).unwrap()
}

/// A morning's work for 盛岡市, then a clean stop.
fn session(d: &mut Daemon) {
    fs::write(d.work.join("住民基本台帳情報_032018.csv"), "氏名,住所\n").unwrap();
    d.put("032018", "outbox", "被保険者情報_032018.csv", b"down");
    for i in 0..12 {
        d.sftp_ok(
            "032018-juki",
            &format!("put 住民基本台帳情報_032018.csv /inbox/juki-{i}.csv\n"),
        );
    }
    d.sftp_ok("032018-juki", "get /outbox/被保険者情報_032018.csv got.csv\nrm /outbox/被保険者情報_032018.csv\nrename /inbox/juki-0.csv /inbox/juki-final.csv\n");
    let _ = d.sftp(
        "032018-juki",
        "put 住民基本台帳情報_032018.csv /outbox/nope.csv\n".as_bytes(),
        &[],
    );
    let _ = d.paramiko_keyed("032018-juki", "032018-zei", &["stat", "/"]);
    // A connection lost mid-upload.
    let _ = d.paramiko_json(
        "032018-juki",
        &["cut", "住民基本台帳情報_032018.csv", "/inbox/cut.csv", "6"],
    );
    assert!(d.stop().success());
}

#[test]
fn a_session_is_recorded_and_queries_answer_who_did_what() {
    let mut d = Daemon::start_with(default_tenants(), SMALL);
    session(&mut d);
    let (ok, out) = audit(&d, &["verify"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("sealed by the final checkpoint of a clean stop"),
        "{out}"
    );

    let uploads = query_json(
        &d,
        &[
            "--tenant",
            "032018",
            "--event",
            "upload_committed",
            "--user",
            "032018-juki",
        ],
    );
    assert_eq!(uploads.len(), 12);
    let sha = sha256_hex("氏名,住所\n".as_bytes());
    let size = "氏名,住所\n".len();
    assert!(
        uploads.iter().all(|r| r["sha256"] == sha.as_str()
            && r["size"] == size
            && r["source"] == "127.0.0.1")
    );
    assert!(
        uploads
            .iter()
            .all(|r| r["ts"].as_str().unwrap().ends_with("+09:00"))
    );
    let ack = query_json(&d, &["--event", "deleted", "--file", "被保険者情報"]);
    assert_eq!(
        (ack.len(), &ack[0]["acknowledged"]),
        (1, &Value::Bool(true))
    );
    let refused = query_json(&d, &["--result", "refused"]);
    let op = refused
        .iter()
        .find(|r| r["event"] == "operation_refused")
        .expect("the outbox upload was refused");
    assert_eq!(
        (op["path"].as_str(), op["rule"].as_str()),
        (Some("/outbox/nope.csv"), Some("built-in baseline:25"))
    );
    let failed = refused
        .iter()
        .find(|r| r["event"] == "login_failed")
        .expect("the wrong key was recorded");
    assert!(
        failed["key_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
    let failed = query_json(&d, &["--result", "failed"]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (
            &failed[0]["event"],
            &failed[0]["path"],
            &failed[0]["kept_bytes"]
        ),
        (
            &Value::from("upload_interrupted"),
            &Value::from("cut.csv"),
            &Value::from(6)
        )
    );
    assert!(
        query_json(&d, &["--event", "ctl_command"])
            .iter()
            .any(|r| r["command"] == "put")
    );
    assert_eq!(
        query_json(&d, &["--event", "renamed"])[0]["to"],
        "juki-final.csv"
    );
    // The readable table: local time, municipality name beside the code, Japanese terms.
    let (ok, table) = audit(&d, &["query", "--event", "upload_committed"]);
    assert!(ok);
    assert!(
        table.contains("盛岡市(032018)")
            && table.contains("受信完了")
            && table.contains("13 records"),
        "{table}"
    );
    let (ok, csv) = audit(&d, &["query", "--csv", "--result", "refused"]);
    assert!(
        ok && csv.starts_with("\u{feff}seq,time_asia_tokyo,event,event_ja"),
        "{csv}"
    );
    // A time range.
    let all = query_json(&d, &[]);
    let mid = all[all.len() / 2]["ts"].as_str().unwrap().to_string();
    let later = query_json(&d, &["--since", &mid]);
    assert!(
        later.len() < all.len()
            && later
                .iter()
                .all(|r| r["ts"].as_str().unwrap() >= mid.as_str())
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn set_lines(p: &Path, l: &[String]) {
    fs::write(p, l.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
}

#[test]
fn verify_names_the_first_bad_record_for_every_kind_of_tampering() {
    let mut d = Daemon::start_with(default_tenants(), SMALL);
    session(&mut d);
    let mut other = Daemon::start_with(default_tenants(), SMALL);
    session(&mut other);
    let original = d.data.join("audit");
    let pubkey = d.data.join("audit.pub");
    let seg = |n: u32| format!("segment-{n:06}.jsonl");
    assert!(
        original.join(seg(3)).exists(),
        "the session spans several segments"
    );
    type Tamper = Box<dyn Fn(&Path)>;
    let tampers: Vec<(&str, Tamper, &str)> = vec![
        ("nothing", Box::new(|_: &Path| {}), ""),
        (
            "an edited byte",
            Box::new(move |dir: &Path| {
                let p = dir.join(seg(2));
                let mut l = lines(&p);
                l[3] = l[3].replacen("127.0.0.1", "127.0.0.9", 1);
                set_lines(&p, &l);
            }),
            "segment-000002.jsonl, line 4",
        ),
        (
            // Found by fuzzing: the reader panicked on a line whose hash
            // field would start inside a multi-byte character.
            "a line cut inside a character",
            Box::new(move |dir: &Path| {
                let p = dir.join(seg(2));
                let mut l = lines(&p);
                l[3] = format!("{{\"a\":\"本{}\"}}", "y".repeat(71));
                set_lines(&p, &l);
            }),
            "segment-000002.jsonl, line 4",
        ),
        (
            "a deleted record",
            Box::new(move |dir: &Path| {
                let p = dir.join(seg(2));
                let mut l = lines(&p);
                l.remove(5);
                set_lines(&p, &l);
            }),
            "are missing",
        ),
        (
            "an inserted record",
            Box::new(move |dir: &Path| {
                let p = dir.join(seg(2));
                let mut l = lines(&p);
                let c = l[1].clone();
                l.insert(4, c);
                set_lines(&p, &l);
            }),
            "segment-000002.jsonl, line 5",
        ),
        (
            "two records swapped",
            Box::new(move |dir: &Path| {
                let p = dir.join(seg(2));
                let mut l = lines(&p);
                l.swap(2, 3);
                set_lines(&p, &l);
            }),
            "segment-000002.jsonl, line 3",
        ),
        (
            "a truncated tail",
            Box::new(|dir: &Path| {
                let last = fs::read_dir(dir)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().contains("segment-"))
                    .max()
                    .unwrap();
                let mut l = lines(&last);
                l.truncate(l.len() - 2);
                set_lines(&last, &l);
            }),
            "does not end with the final checkpoint",
        ),
        (
            "a replaced segment",
            Box::new(move |dir: &Path| {
                fs::copy(dir.join("../other-audit").join(seg(2)), dir.join(seg(2))).unwrap();
            }),
            "segment-000002.jsonl, line 1",
        ),
    ];
    let scratch = tempfile::tempdir().unwrap();
    copy_dir(
        &other.data.join("audit"),
        &scratch.path().join("other-audit"),
    );
    for (i, (what, tamper, want)) in tampers.into_iter().enumerate() {
        let dir = scratch.path().join(format!("copy-{i}"));
        copy_dir(&original, &dir);
        tamper(&dir);
        let out = Command::new(BIN)
            .args(["audit", "verify", "--dir"])
            .arg(&dir)
            .arg("--pubkey")
            .arg(&pubkey)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if what == "nothing" {
            assert!(out.status.success(), "{text}");
        } else {
            assert!(!out.status.success(), "{what} went unnoticed: {text}");
            assert!(
                text.contains("FAILED") && text.contains(want),
                "{what}: {text}"
            );
        }
    }
    // Another daemon's public key does not verify this trail.
    let (ok, out) = audit(
        &d,
        &[
            "verify",
            "--pubkey",
            other.data.join("audit.pub").to_str().unwrap(),
        ],
    );
    assert!(
        !ok && out.contains("which is not among the given keys"),
        "{out}"
    );
}

#[test]
fn a_kill_during_concurrent_uploads_leaves_a_trail_that_verifies_after_restart() {
    let mut d = Daemon::start_with(default_tenants(), SMALL);
    let mut load = Command::new(PYTHON)
        .arg(PARAMIKO)
        .args(["127.0.0.1", &d.port.to_string(), "032018-juki"])
        .arg(&d.keys["032018-juki"].private)
        .args(["load", "audit", "4", "40", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let mut out = BufReader::new(load.stdout.take().unwrap()).lines();
    while acked.len() < 30 {
        let v: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
        if let Some(n) = v["ok"].as_str() {
            acked.push(n.to_string());
        }
    }
    d.kill9();
    for line in out {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if let Some(n) = v["ok"].as_str() {
            acked.push(n.to_string());
        }
    }
    let _ = load.wait();
    // Mid-crash the trail is unsealed; live verification accepts that.
    let (ok, out) = audit(&d, &["verify", "--live"]);
    assert!(ok, "{out}");
    d.start_again();
    let stored = names(&d.ls("032018"), "inbox", "stored");
    assert!(d.stop().success());
    let (ok, out) = audit(&d, &["verify"]);
    assert!(ok, "{out}");
    // Every upload the clients were told about is in the trail, once.
    let records = query_json(&d, &["--event", "upload_committed"]);
    let recorded: Vec<String> = records
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    let mut objects: Vec<&str> = records
        .iter()
        .map(|r| r["object"].as_str().unwrap())
        .collect();
    objects.sort_unstable();
    let before = objects.len();
    objects.dedup();
    assert_eq!(objects.len(), before, "an upload was recorded twice");
    // Each record names the journal transaction it was committed with.
    let mut seqs: Vec<u64> = records
        .iter()
        .map(|r| r["journal_seq"].as_u64().expect("journal_seq"))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), records.len());
    for name in &acked {
        assert!(
            recorded.contains(name),
            "{name} was acknowledged but is not in the audit trail"
        );
    }
    // And every file in the journal has its record.
    for name in stored {
        assert!(
            recorded.contains(&name),
            "{name} is stored but not recorded"
        );
    }
    assert_eq!(query_json(&d, &["--event", "audit_recovered"]).len(), 1);
}

#[test]
fn retention_purges_acknowledged_files_and_old_audit_segments() {
    let extra = format!(
        "{SMALL}[retention]\nacknowledged = \"2s\"\naudit = \"4s\"\nsweep_interval = \"1s\"\n"
    );
    let mut d = Daemon::start_with(default_tenants(), &extra);
    d.put("032018", "outbox", "保険料情報.csv", b"premium");
    d.put("032018", "inbox", "kept.csv", b"never handed on");
    d.sftp_ok(
        "032018-juki",
        "get /outbox/保険料情報.csv p.csv\nrm /outbox/保険料情報.csv\n",
    );
    let purged = d.wait_event("the purge", |e| e["event"] == "purged");
    assert_eq!(
        (purged["path"].as_str(), purged["state"].as_str()),
        (Some("保険料情報.csv"), Some("acknowledged"))
    );
    // The record is written at the commit; the blobs go right after it.
    let left = common::try_eventually(std::time::Duration::from_secs(10), || {
        (d.vault_files().len() == 1).then_some(())
    });
    assert!(
        left.is_some(),
        "only the inbox file's blob is left: {:?}",
        d.vault_files()
    );
    let kept = d.wait_event("the retention report", |e| e["event"] == "retention_report");
    assert_eq!(
        (kept["tenant"].as_str(), kept["files"].as_u64()),
        (Some("032018"), Some(1))
    );
    assert_eq!(
        names(&d.ls("032018"), "inbox", "stored"),
        vec!["kept.csv".to_string()]
    );
    // Enough activity for several segments; old ones go, and the rest still
    // verifies from the signed anchor.
    for _ in 0..12 {
        d.sftp_ok("032018-juki", "ls /inbox\nls /outbox\n");
    }
    // The anchor is written first, then the segments it replaces go.
    common::eventually(
        "old segments to be pruned",
        std::time::Duration::from_secs(30),
        || {
            (d.data.join("audit/anchor.json").exists()
                && !d.data.join("audit/segment-000001.jsonl").exists())
            .then_some(())
        },
    );
    assert!(d.stop().success());
    // A slow run may prune twice before the stop; each is recorded.
    assert!(
        !query_json(&d, &["--event", "audit_pruned"]).is_empty(),
        "the pruning is itself recorded"
    );
    let (ok, out) = audit(&d, &["verify"]);
    assert!(ok && out.contains("starts at a signed checkpoint"), "{out}");
}

#[test]
fn an_exported_period_verifies_on_its_own_and_tampering_with_it_does_not() {
    let mut d = Daemon::start_with(default_tenants(), SMALL);
    session(&mut d);
    let all = query_json(&d, &[]);
    let since = all[all.len() / 3]["ts"].as_str().unwrap().to_string();
    let until = all[all.len() / 2]["ts"].as_str().unwrap().to_string();
    let bundle = d.work.join("period.jsonl");
    let (ok, out) = audit(
        &d,
        &[
            "export",
            "--since",
            &since,
            "--until",
            &until,
            "-o",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let pubkey = d.data.join("audit.pub");
    let verify = |p: &Path| {
        let out = Command::new(BIN)
            .args(["audit", "verify", "--bundle"])
            .arg(p)
            .arg("--pubkey")
            .arg(&pubkey)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = verify(&bundle);
    assert!(ok, "{out}");
    let text = fs::read_to_string(&bundle).unwrap();
    assert!(text.contains(&since) && text.contains(&until));
    let forged = d.work.join("forged.jsonl");
    fs::write(&forged, text.replacen("032018-juki", "032018-zei", 1)).unwrap();
    assert!(!verify(&forged).0);
}

#[test]
fn a_signing_key_replaced_after_a_loss_is_listed_beside_the_old_and_both_verify() {
    let mut d = Daemon::start_with(default_tenants(), SMALL);
    d.put("032018", "inbox", "before.csv", b"signed by the first key");
    // The copy of the public key the auditors were given at installation.
    let first = d.work.join("first.pub");
    fs::copy(d.data.join("audit.pub"), &first).unwrap();
    d.stop();
    // The signing key is lost; the next start makes a new one.
    fs::remove_file(d.data.join("audit.key")).unwrap();
    d.start_again();
    d.put("032018", "inbox", "after.csv", b"signed by the second key");
    d.stop();
    let second = d.data.join("audit.pub");
    assert_ne!(
        fs::read_to_string(&first).unwrap(),
        fs::read_to_string(&second).unwrap()
    );
    // The trail's own copy lists both keys, the old one first.
    let beside = fs::read_to_string(d.data.join("audit").join("audit.pub")).unwrap();
    assert_eq!(beside.matches("ed25519:").count(), 2, "{beside}");
    // The first key alone stops at the first checkpoint of the second.
    let (ok, out) = audit(&d, &["verify", "--pubkey", first.to_str().unwrap()]);
    assert!(
        !ok && out.contains("which is not among the given keys"),
        "{out}"
    );
    // Given both, the whole trail verifies, and says which keys signed.
    let (ok, out) = audit(
        &d,
        &[
            "verify",
            "--pubkey",
            first.to_str().unwrap(),
            "--pubkey",
            second.to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains(" then "), "{out}");
    // So does the copy beside the trail.
    let (ok, out) = audit(&d, &["verify"]);
    assert!(ok, "{out}");
}

/// Finding: the README's `audit verify` failed while the daemon ran; the
/// table showed `ctl_command` rows without command or user.
#[test]
fn verify_while_the_daemon_runs_and_ctl_rows_name_the_command() {
    let d = Daemon::start();
    d.put("032018", "outbox", "被保険者情報_032018.csv", b"down");
    let (ok, out) = audit(&d, &["verify"]);
    assert!(ok, "verify while running: {out}");
    assert!(out.contains("the daemon is running"), "{out}");
    assert!(out.contains("verified"), "{out}");
    let (ok, out) = audit(&d, &["query", "--user", "ctl", "--event", "ctl_command"]);
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.contains("ctl_command") && l.contains(" put "))
        .unwrap_or_else(|| panic!("no row for ctl put: {out}"));
    assert!(row.contains("ctl") && row.contains("uid "), "{row}");
    assert!(
        row.contains("put") && row.contains("被保険者情報_032018.csv"),
        "{row}"
    );
}
