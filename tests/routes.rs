//! Routes end to end: files uploaded over SFTP reach a spool directory
//! with their trigger file; files another program writes into a
//! distribution folder reach the tenant's outbox only when complete;
//! failures are retried and reported; a kill -9 at any moment neither
//! loses nor doubles a file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{BIN, Daemon, default_tenants, eventually, hidden_files, pseudo_random, sha256_hex};
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
source = { dir = "dist/{tenant}", settle = "1s" }
destination = { box = "outbox" }
rescan = "500ms"
"#;

fn spool(d: &Daemon, tenant: &str) -> PathBuf {
    d.root.path().join("spool").join(tenant)
}

fn dist(d: &Daemon, tenant: &str) -> PathBuf {
    d.root.path().join("dist").join(tenant)
}

/// `ctl routes --json`, whatever its monitoring bits.
fn routes(d: &Daemon) -> Vec<Value> {
    let (code, out) = d.ctl_code(&["routes", "--json"]);
    assert!(code != 1, "ctl routes failed: {out}");
    serde_json::from_str(&out).unwrap()
}

fn route<'a>(all: &'a [Value], name: &str) -> &'a Value {
    all.iter().find(|r| r["name"] == name).unwrap()
}

#[test]
fn an_upload_reaches_the_spool_with_its_trigger_file_once() {
    let d = Daemon::start_with(default_tenants(), UP);
    let name = "住民基本台帳情報_032018_20261121.csv";
    let data = pseudo_random(300_000, 7);
    let local = d.work.join(name);
    fs::write(&local, &data).unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!(
            "put {} /inbox/{name}\nput {} /inbox/memo.txt\n",
            local.display(),
            local.display()
        ),
    );
    let dir = spool(&d, "032018");
    let end = dir.join(format!("{name}.end"));
    eventually("the trigger file", Duration::from_secs(20), || {
        end.exists().then_some(())
    });
    assert_eq!(
        fs::read(dir.join(name)).unwrap(),
        data,
        "byte-exact at the destination"
    );
    // The pattern takes only *.csv; 札幌市's spool saw nothing.
    assert!(!dir.join("memo.txt").exists());
    assert!(!spool(&d, "011002").join(name).exists());
    // `delivered` is committed just after the trigger file appears, and the
    // receipt removed just after that.
    let r = eventually("the delivery recorded", Duration::from_secs(10), || {
        let all = routes(&d);
        let r = route(&all, "juki-up").clone();
        (r["delivered"] == 1 && hidden_files(&dir).is_empty()).then_some(r)
    });
    assert_eq!(r["queued"], 0);
    let delivered = d.wait_event("handoff_delivered", |e| e["event"] == "handoff_delivered");
    assert_eq!(delivered["sha256"], sha256_hex(&data));
    assert_eq!(delivered["tenant"], "032018");
    assert_eq!(delivered["already_there"], false);

    // A restart does not hand it on again.
    let mut d = d;
    d.restart();
    fs::remove_file(dir.join(name)).unwrap();
    fs::remove_file(&end).unwrap();
    fs::write(&local, b"second,file\n").unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!("put {} /inbox/second.csv\n", local.display()),
    );
    eventually("the second file", Duration::from_secs(20), || {
        dir.join("second.csv.end").exists().then_some(())
    });
    assert!(
        !dir.join(name).exists(),
        "the first file was delivered again"
    );
    let handed = eventually("both audit records", Duration::from_secs(10), || {
        let v = d.audit_query("handoff_delivered");
        (v.len() >= 2).then_some(v)
    });
    assert_eq!(handed.len(), 2, "{handed:?}");
}

#[test]
fn a_slowly_written_file_is_taken_only_when_complete() {
    let d = Daemon::start_with(default_tenants(), DOWN);
    let src = dist(&d, "032018");
    eventually("the source directory", Duration::from_secs(10), || {
        src.is_dir().then_some(())
    });
    let name = "被保険者情報_032018.csv";
    let data = pseudo_random(64 * 1024, 3);
    // Another process writes it in pieces, pausing shorter than `settle`.
    let writer = Command::new(common::PYTHON)
        .arg("-c")
        .arg(
            "import sys,time\n\
             data=open(sys.argv[1],'rb').read()\n\
             f=open(sys.argv[2],'wb')\n\
             for i in range(0,len(data),4096):\n\
             \x20   f.write(data[i:i+4096]); f.flush(); time.sleep(0.15)\n\
             f.close()\n",
        )
        .arg({
            let p = d.work.join("payload");
            fs::write(&p, &data).unwrap();
            p
        })
        .arg(src.join(name))
        .spawn()
        .unwrap();
    let out = writer.wait_with_output().unwrap();
    assert!(out.status.success());
    eventually("the import", Duration::from_secs(20), || {
        (!src.join(name).exists()).then_some(())
    });
    // What reached the outbox is the whole file: never a prefix.
    assert_eq!(d.get("032018", "outbox", name), data);
    let imports = eventually("the audit record", Duration::from_secs(10), || {
        let v = d.audit_query("file_imported");
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert_eq!(imports[0]["size"], data.len());

    // The municipality downloads it over SFTP.
    let got = d.work.join("got.csv");
    d.sftp_ok(
        "032018-juki",
        &format!("get /outbox/{name} {}\n", got.display()),
    );
    assert_eq!(fs::read(&got).unwrap(), data);
    // 札幌市 sees nothing of it.
    assert!(d.ls("011002").is_empty());
}

#[test]
fn a_ready_file_rule_waits_for_the_trigger() {
    let extra = r#"
[[route]]
name = "down-end"
source = { dir = "dist/{tenant}", ready_suffix = ".end" }
destination = { box = "outbox" }
tenants = ["032018"]
rescan = "300ms"
"#;
    let d = Daemon::start_with(default_tenants(), extra);
    let src = dist(&d, "032018");
    eventually("the source directory", Duration::from_secs(10), || {
        src.is_dir().then_some(())
    });
    fs::write(src.join("a.csv"), b"complete,1\n").unwrap();
    fs::write(src.join("b.csv"), b"incomplete").unwrap();
    fs::write(src.join("a.csv.end"), b"").unwrap();
    eventually("a.csv taken", Duration::from_secs(20), || {
        (!src.join("a.csv").exists()).then_some(())
    });
    assert!(
        !src.join("a.csv.end").exists(),
        "the ready file goes with its data file"
    );
    // b.csv has no ready file: it stays, however long it sits (a second
    // file, c.csv, taken later shows the route has looked again since).
    fs::write(src.join("c.csv"), b"c\n").unwrap();
    fs::write(src.join("c.csv.end"), b"").unwrap();
    eventually("c.csv taken", Duration::from_secs(20), || {
        (!src.join("c.csv").exists()).then_some(())
    });
    assert!(src.join("b.csv").exists());
    let names: Vec<String> = d
        .ls("032018")
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["a.csv", "c.csv"]);
}

#[test]
fn failures_are_retried_then_reported_and_requeued_by_the_operator() {
    let d = Daemon::start_with(default_tenants(), UP);
    // A regular file where the spool directory should be: every attempt
    // fails until it is gone.
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    let blocker = spool(&d, "032018");
    fs::write(&blocker, b"not a directory").unwrap();
    d.put("032018", "inbox", "JUKI.csv", b"a,b,c\n");
    let failed = d.wait_event("handoff gave up", |e| {
        e["event"] == "handoff_failed" && e["gave_up"] == true
    });
    assert_eq!(failed["attempts"], 3);
    // Giving up is logged as an error, each retry before it as a warning,
    // so a log monitor can tell them apart.
    let levels: Vec<(String, bool)> = d
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "handoff_failed")
        .map(|v| {
            let rec: Value = serde_json::from_str(v["record"].as_str().unwrap()).unwrap();
            (
                v["level"].as_str().unwrap().to_string(),
                rec["gave_up"] == true,
            )
        })
        .collect();
    assert!(levels.contains(&("ERROR".to_string(), true)), "{levels:?}");
    assert!(levels.contains(&("WARN".to_string(), false)), "{levels:?}");
    let tries: Vec<Value> = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "handoff_failed")
        .collect();
    assert_eq!(tries.len(), 3, "three attempts, then it stops: {tries:?}");
    assert!(tries[0]["next_attempt"].is_string());
    let all = routes(&d);
    let r = route(&all, "juki-up");
    assert_eq!(r["failed"], 1);
    assert_eq!(r["failures"][0]["path"], "JUKI.csv");
    let (code, text) = d.ctl_code(&["routes"]);
    assert!(
        text.contains("FAILED") && text.contains("JUKI.csv"),
        "{text}"
    );
    assert_eq!(code, 2, "a failed hand-off is exit status 2: {text}");

    fs::remove_file(&blocker).unwrap();
    let out = d.ctl_ok(&["retry", "juki-up"]);
    assert!(out.contains("1 item"), "{out}");
    eventually("delivery after retry", Duration::from_secs(20), || {
        blocker.join("JUKI.csv.end").exists().then_some(())
    });
    assert_eq!(fs::read(blocker.join("JUKI.csv")).unwrap(), b"a,b,c\n");
    eventually("the requeue record", Duration::from_secs(10), || {
        (d.audit_query("handoff_requeued").len() == 1).then_some(())
    });
    let out = d.ctl(&["retry", "no-such-route"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no route named"));
}

#[test]
fn a_different_file_waiting_in_the_spool_is_never_overwritten() {
    let d = Daemon::start_with(default_tenants(), UP);
    let dir = spool(&d, "032018");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("X.csv"), b"yesterday's file, not yet ingested\n").unwrap();
    d.put("032018", "inbox", "X.csv", b"today's file\n");
    let e = d.wait_event("conflict", |e| e["event"] == "handoff_failed");
    assert!(
        e["error"].as_str().unwrap().contains("already exists"),
        "{e}"
    );
    assert_eq!(
        fs::read(dir.join("X.csv")).unwrap(),
        b"yesterday's file, not yet ingested\n"
    );
    // The ingest takes the old file; the next attempt delivers the new one.
    fs::remove_file(dir.join("X.csv")).unwrap();
    eventually("delivery", Duration::from_secs(20), || {
        dir.join("X.csv.end").exists().then_some(())
    });
    assert_eq!(fs::read(dir.join("X.csv")).unwrap(), b"today's file\n");
}

/// A stand-in for the ingest: moves each delivered file (once its trigger
/// file exists) out of the spool, counting what it saw.
fn ingest(dir: &Path, taken: &Path, seen: &mut HashMap<String, u32>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name().into_string().unwrap();
        let Some(data_name) = name.strip_suffix(".end") else {
            continue;
        };
        let from = dir.join(data_name);
        let n = seen.entry(data_name.to_string()).or_insert(0);
        *n += 1;
        let to = taken.join(format!("{data_name}.{n}"));
        fs::rename(&from, &to)
            .unwrap_or_else(|e| panic!("{data_name}: trigger without data file: {e}"));
        fs::remove_file(dir.join(&name)).unwrap();
    }
}

#[test]
fn kill_9_at_random_moments_neither_loses_nor_doubles_a_file() {
    let mut d = Daemon::start_with(default_tenants(), &format!("{UP}{DOWN}"));
    let taken = d.root.path().join("taken");
    fs::create_dir_all(&taken).unwrap();
    let up_dir = spool(&d, "032018");
    let down_src = dist(&d, "011002");
    eventually("the source directory", Duration::from_secs(10), || {
        down_src.is_dir().then_some(())
    });
    let mut seen = HashMap::new();
    let mut expected_up = HashMap::new();
    let mut expected_down = HashMap::new();
    let rounds = 6;
    let per_round = 40;
    let mut seed = 1u64;
    for round in 0..rounds {
        // Up: operator puts (committed before ctl returns).
        for i in 0..per_round {
            let name = format!("UP_{round:02}_{i:03}.csv");
            let data = pseudo_random(1000 + (i * 37) % 5000, seed);
            seed += 1;
            d.put("032018", "inbox", &name, &data);
            expected_up.insert(name, data);
        }
        // Down: written under a temporary name and renamed into place.
        for i in 0..per_round {
            let name = format!("DOWN_{round:02}_{i:03}.csv");
            let data = pseudo_random(500 + (i * 53) % 3000, seed);
            seed += 1;
            let tmp = down_src.join(format!(".{name}.tmp"));
            let mut f = fs::File::create(&tmp).unwrap();
            f.write_all(&data).unwrap();
            f.sync_all().unwrap();
            fs::rename(&tmp, down_src.join(&name)).unwrap();
            expected_down.insert(name, data);
        }
        // Let some of it move, then kill at an arbitrary point.
        let wait_for = (seed % 7) as usize * 5;
        let _ = common::try_eventually(Duration::from_secs(5), || {
            ingest(&up_dir, &taken, &mut seen);
            (seen.len() >= wait_for).then_some(())
        });
        d.kill9();
        ingest(&up_dir, &taken, &mut seen);
        d.start_again();
    }
    eventually("every file up", Duration::from_secs(60), || {
        ingest(&up_dir, &taken, &mut seen);
        (seen.len() == expected_up.len()).then_some(())
    });
    eventually("every file down", Duration::from_secs(60), || {
        let left = fs::read_dir(&down_src).unwrap().count();
        (left == 0).then_some(())
    });
    for (name, data) in &expected_up {
        assert_eq!(
            seen[name], 1,
            "{name} reached the ingest {} times",
            seen[name]
        );
        assert_eq!(
            &fs::read(taken.join(format!("{name}.1"))).unwrap(),
            data,
            "{name}"
        );
    }
    let outbox = d.ls("011002");
    assert_eq!(outbox.len(), expected_down.len());
    for (name, data) in &expected_down {
        assert_eq!(&d.get("011002", "outbox", name), data, "{name}");
    }
    // The last receipt goes just after the last commit.
    let clean = common::try_eventually(Duration::from_secs(10), || {
        hidden_files(&up_dir).is_empty().then_some(())
    });
    assert!(clean.is_some(), "{:?}", hidden_files(&up_dir));
    let imported = eventually("every import record", Duration::from_secs(10), || {
        let v = d.audit_query("file_imported");
        (v.len() >= expected_down.len()).then_some(v)
    });
    assert_eq!(
        imported.len(),
        expected_down.len(),
        "each file imported once"
    );
    eventually("every delivery recorded", Duration::from_secs(10), || {
        let all = routes(&d);
        (route(&all, "juki-up")["delivered"] == expected_up.len()).then_some(())
    });
}

#[test]
fn routes_are_checked_with_file_and_line() {
    let d = Daemon::start_with(default_tenants(), "");
    for (extra, says) in [
        (
            "[[route]]\nname = \"r\"\nsource = { box = \"inbox\" }\ndestination = { dir = \"s/{tenant}\" }\nschedule = \"0 2 * *\"\n",
            "five",
        ),
        (
            "[[route]]\nname = \"r\"\nsource = { box = \"inbox\" }\ndestination = { dir = \"shared\" }\n",
            "{tenant}",
        ),
        (
            "[[route]]\nname = \"r\"\nsource = { dir = \"a/{tenant}\" }\ndestination = { dir = \"b/{tenant}\" }\n",
            "would not pass through",
        ),
        (
            "[[route]]\nname = \"r\"\nsource = { box = \"inbox\" }\ndestination = { dir = \"s/{tenant}\" }\ntenants = [\"032019\"]\n",
            "check digit",
        ),
        (
            "[[route]]\nname = \"r\"\nsource = { box = \"inbox\" }\ndestination = { dir = \"s/{tenant}\" }\nschedule = \"0 2 * * *\"\non_closed_days = \"holiday\"\n",
            "use \"run\" or \"skip\"",
        ),
        (
            "[[route]]\nname = \"r\"\nsource = { box = \"inbox\" }\ndestination = { dir = \"s/{tenant}\" }\non_closed_days = \"skip\"\n",
            "neither",
        ),
        ("[calendar]\nclosed = [\"2026-02-30\"]\n", "is not a date"),
    ] {
        let path = d.root.path().join("bad.toml");
        let base = fs::read_to_string(&d.config).unwrap();
        fs::write(&path, format!("{base}\n{extra}")).unwrap();
        let out = Command::new(BIN)
            .arg("check")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}");
        assert!(
            err.contains("bad.toml:") && err.contains(says),
            "{extra}: {err}"
        );
    }
}

#[test]
fn the_municipality_reads_a_receipt_for_each_file_it_sent() {
    let d = Daemon::start_with(default_tenants(), UP);
    let name = "住民基本台帳情報_032018_20261121.csv";
    let data = b"1,2,3\n".to_vec();
    let local = d.work.join(name);
    fs::write(&local, &data).unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!("put {} /inbox/{name}\n", local.display()),
    );
    let out = eventually("a delivered receipt", Duration::from_secs(20), || {
        let got = d.work.join("receipt.txt");
        let _ = fs::remove_file(&got);
        let listing = d.sftp_ok("032018-juki", "ls -1 /receipts\n");
        let receipt = listing
            .lines()
            .map(str::trim)
            .find(|l| l.contains(name) && l.ends_with("_juki-up.txt"))?
            .to_string();
        d.sftp_ok("032018-juki", &format!("get {receipt} {}\n", got.display()));
        let text = fs::read_to_string(&got).ok()?;
        text.contains("連携完了 (delivered)").then_some(text)
    });
    assert!(out.contains(&sha256_hex(&data)), "{out}");
    assert!(out.contains(&format!("/inbox/{name}")), "{out}");
    assert!(out.contains("連携日時 / delivered:"), "{out}");
    // The top level shows it; 札幌市 has none; nobody can write there.
    let top = d.sftp_ok("032018-juki", "ls -1 /\n");
    assert!(top.contains("receipts"), "{top}");
    let theirs = d.sftp_ok("011002-juki", "ls -1 /receipts\n");
    assert!(!theirs.contains(name), "{theirs}");
    let refused = d.sftp(
        "032018-juki",
        format!("put {} /receipts/x.txt\n", local.display()).as_bytes(),
        &[],
    );
    assert!(!refused.status.success());
}

#[test]
fn a_file_missing_at_its_deadline_raises_an_alert() {
    // A deadline every minute, so the test sees one within a minute.
    let extra = format!("{UP}expect = {{ pattern = \"JUKI_*.csv\", by = \"* * * * *\" }}\n");
    let d = Daemon::start_with(default_tenants(), &extra);
    d.put("032018", "inbox", "JUKI_032018.csv", b"on time\n");
    let uploaded = eventually("the upload record", Duration::from_secs(10), || {
        d.audit_query("upload_committed").into_iter().next()
    });
    let t = uploaded["ts"].as_str().unwrap().to_string();
    let in_window = |e: &Value| {
        e["since"].as_str().unwrap() < t.as_str() && t.as_str() <= e["deadline"].as_str().unwrap()
    };
    // 札幌市 sent nothing: alerted for the window that holds the upload.
    let alert = eventually("the alert", Duration::from_secs(90), || {
        d.audit_query("expected_file_missing")
            .into_iter()
            .find(|e| e["tenant"] == "011002" && in_window(e))
    });
    assert_eq!(alert["pattern"], "JUKI_*.csv");
    assert_eq!(alert["route"], "juki-up");
    // 盛岡市 sent its file in that window: no alert for it.
    let own: Vec<Value> = d
        .audit_query("expected_file_missing")
        .into_iter()
        .filter(|e| e["tenant"] == "032018" && in_window(e))
        .collect();
    assert!(own.is_empty(), "{own:?}");
    // Missing, listed, and an exit status a monitor can act on (4).
    let (code, text) = d.ctl_code(&["routes"]);
    assert!(
        text.contains("MISSING    no file matching JUKI_*.csv from 011002"),
        "{text}"
    );
    assert_eq!(code, 4, "{text}");
    let (code, _) = d.ctl_code(&["status"]);
    assert_eq!(code, 4);
}

#[test]
fn a_delivered_file_is_purged_after_retention_and_its_receipt_stays() {
    let extra = format!("{UP}\n[retention]\nacknowledged = \"2s\"\nsweep_interval = \"1s\"\n");
    let d = Daemon::start_with(default_tenants(), &extra);
    d.put("032018", "inbox", "OLD.csv", b"handed on\n");
    let purged = d.wait_event("the purge", |e| {
        e["event"] == "purged" && e["path"] == "OLD.csv"
    });
    assert_eq!(purged["state"], "delivered");
    assert!(d.ls("032018").is_empty(), "{:?}", d.ls("032018"));
    // The ingest still has it; the municipality still has its receipt.
    assert_eq!(
        fs::read(spool(&d, "032018").join("OLD.csv")).unwrap(),
        b"handed on\n"
    );
    let listing = d.sftp_ok("032018-juki", "ls -1 /receipts\n");
    assert!(listing.contains("OLD.csv_juki-up.txt"), "{listing}");
    // No blob is left behind.
    eventually("the blob gone", Duration::from_secs(10), || {
        d.vault_files().is_empty().then_some(())
    });
}

#[test]
fn stored_bytes_that_fail_their_check_are_never_delivered() {
    let d = Daemon::start_with(default_tenants(), UP);
    // The first attempt fails (a file where the spool directory should
    // be), which leaves time to damage the stored copy before the next.
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    let blocker = spool(&d, "032018");
    fs::write(&blocker, b"not a directory").unwrap();
    d.put("032018", "inbox", "DAMAGED.csv", &pseudo_random(200_000, 9));
    d.wait_event("the first failure", |e| e["event"] == "handoff_failed");
    let blobs = d.vault_files();
    assert_eq!(blobs.len(), 1);
    let mut bytes = d.blob_bytes(&blobs[0]);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    d.overwrite_blob(&blobs[0], &bytes);
    fs::remove_file(&blocker).unwrap();
    let e = d.wait_event("the check to stop it", |e| {
        e["event"] == "handoff_failed" && e["gave_up"] == true
    });
    let err = e["error"].as_str().unwrap();
    assert!(err.contains("decrypt") || err.contains("SHA-256"), "{err}");
    assert!(
        !blocker.join("DAMAGED.csv").exists(),
        "corrupt data was delivered"
    );
    assert!(
        hidden_files(&blocker).is_empty(),
        "{:?}",
        hidden_files(&blocker)
    );
    let all = routes(&d);
    assert_eq!(route(&all, "juki-up")["failed"], 1);
}

#[test]
fn a_file_handed_on_stays_and_one_still_queued_can_be_withdrawn() {
    // 札幌市's spool is blocked by a regular file, so its items wait.
    let patient = UP.replace("attempts = 3", "attempts = 1000");
    let d = Daemon::start_with(default_tenants(), &patient);
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    fs::write(spool(&d, "011002"), b"not a directory").unwrap();

    d.put("032018", "inbox", "SENT.csv", b"sent\n");
    eventually("the delivery recorded", Duration::from_secs(20), || {
        (route(&routes(&d), "juki-up")["delivered"] == 1).then_some(())
    });
    let r = d.paramiko_json("032018-juki", &["try", "remove", "/inbox/SENT.csv"]);
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("already handed on"),
        "{r}"
    );
    let names: Vec<Value> = d.ls("032018");
    assert!(names.iter().any(|e| e["path"] == "SENT.csv"), "{names:?}");
    let refused = d.wait_event("the refusal", |e| e["event"] == "operation_refused");
    assert_eq!(refused["path"], "/inbox/SENT.csv");

    d.put("011002", "inbox", "WAIT.csv", b"wait\n");
    d.wait_event("a failed attempt", |e| {
        e["event"] == "handoff_failed" && e["path"] == "WAIT.csv"
    });
    let r = d.paramiko_json("011002-juki", &["try", "remove", "/inbox/WAIT.csv"]);
    assert_eq!(r["ok"], true, "{r}");
    let c = d.wait_event("the cancellation", |e| e["event"] == "handoff_cancelled");
    assert_eq!(c["path"], "WAIT.csv");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("deleted by 011002-juki"),
        "{c}"
    );
    let all = routes(&d);
    assert_eq!(route(&all, "juki-up")["cancelled"], 1);
    assert_eq!(route(&all, "juki-up")["queued"], 0);
}

/// Minutes since the epoch.
fn minute_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

/// Seconds into the current minute (Asia/Tokyo minutes start with UTC's).
fn second_of_minute() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60
}

#[test]
fn a_firing_and_a_deadline_missed_while_down_are_made_up_at_start() {
    // Files go on at every minute's firing; a deadline every minute.
    let extra = UP.replace(
        "retry = ",
        "schedule = \"* * * * *\"\nexpect = { pattern = \"*.csv\", by = \"* * * * *\" }\nretry = ",
    );
    // Start, upload and stop inside one minute, so no firing comes between
    // (tried again should a slow machine straddle a minute).
    let mut tries = 0;
    let (mut d, minute) = loop {
        tries += 1;
        eventually("the start of a minute", Duration::from_secs(61), || {
            (second_of_minute() < 40).then_some(())
        });
        let before = minute_now();
        let mut d = Daemon::start_with(default_tenants(), &extra);
        d.put("032018", "inbox", "NIGHTLY.csv", b"nightly\n");
        d.stop();
        if minute_now() == before || tries == 3 {
            break (d, before);
        }
    };
    eventually("the next minute", Duration::from_secs(61), || {
        (minute_now() > minute).then_some(())
    });
    d.start_again();
    // The firing missed while down runs at once, not at the next minute.
    let caught = d.wait_event("the catch-up", |e| e["event"] == "schedule_caught_up");
    assert_eq!(caught["route"], "juki-up");
    let end = spool(&d, "032018").join("NIGHTLY.csv.end");
    eventually("the delivery", Duration::from_secs(20), || {
        end.exists().then_some(())
    });
    // The deadline that passed while down is checked, marked late: 札幌市
    // sent nothing, 盛岡市 sent its file in time.
    let late = eventually("the late alert", Duration::from_secs(20), || {
        let v: Vec<Value> = d
            .audit_query("expected_file_missing")
            .into_iter()
            .filter(|e| e["late"] == true)
            .collect();
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["tenant"], "011002");
}

#[test]
fn a_reload_starts_changes_and_stops_routes_without_a_restart() {
    let d = Daemon::start_with(default_tenants(), UP);
    d.put("032018", "inbox", "A.csv", b"a\n");
    let dir = spool(&d, "032018");
    eventually("A delivered", Duration::from_secs(20), || {
        dir.join("A.csv.end").exists().then_some(())
    });
    let pid = d.pid();

    // A new municipality and a second route; juki-up now also serves the
    // new municipality.
    d.append_config(
        r#"
[[tenant]]
code = "131016"
name = "千代田区"
networks = ["127.0.0.1/32"]

[[route]]
name = "juki-copy"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "copy/{tenant}" }
"#,
    );
    let out = d.ctl_ok(&["reload"]);
    assert!(out.contains("routes: starting juki-copy"), "{out}");
    assert!(out.contains("routes: replacing juki-up"), "{out}");
    assert!(!out.contains("next restart"), "{out}");
    let changed = d.wait_event("the change", |e| e["event"] == "routes_changed");
    assert_eq!(changed["started"], serde_json::json!(["juki-copy"]));
    assert_eq!(changed["changed"], serde_json::json!(["juki-up"]));
    d.put("131016", "inbox", "C.csv", b"c\n");
    let copy = d.root.path().join("copy");
    eventually("C on both routes", Duration::from_secs(20), || {
        (spool(&d, "131016").join("C.csv.end").exists() && copy.join("131016/C.csv").exists())
            .then_some(())
    });
    // A new route takes what is in its box, like any route at start; the
    // replaced one does not hand A on again.
    eventually("A copied", Duration::from_secs(20), || {
        copy.join("032018/A.csv").exists().then_some(())
    });
    let a_up: Vec<Value> = d
        .audit_query("handoff_delivered")
        .into_iter()
        .filter(|e| e["route"] == "juki-up" && e["path"] == "A.csv")
        .collect();
    assert_eq!(a_up.len(), 1, "{a_up:?}");

    // A broken route is refused with its line; the running ones stay.
    d.append_config("\n[[route]]\nname = \"bad\"\nsource = { box = \"inbox\" }\n");
    let out = d.ctl(&["reload"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("renkei.toml:") && err.contains("destination"),
        "{err}"
    );
    d.put("032018", "inbox", "B.csv", b"b\n");
    eventually("B still delivered", Duration::from_secs(20), || {
        (dir.join("B.csv.end").exists() && copy.join("032018/B.csv").exists()).then_some(())
    });

    // Removing a route (and the broken one) stops it.
    let config = fs::read_to_string(&d.config).unwrap();
    let cut = config.find("\n[[route]]\nname = \"juki-copy\"").unwrap();
    fs::write(&d.config, &config[..cut]).unwrap();
    let out = d.ctl_ok(&["reload"]);
    assert!(out.contains("routes: stopping juki-copy"), "{out}");
    eventually("juki-copy gone", Duration::from_secs(20), || {
        let all = routes(&d);
        (all.len() == 1 && all[0]["name"] == "juki-up").then_some(())
    });
    d.put("032018", "inbox", "D.csv", b"d\n");
    eventually("D delivered", Duration::from_secs(20), || {
        dir.join("D.csv.end").exists().then_some(())
    });
    assert!(!copy.join("032018/D.csv").exists());
    assert_eq!(d.pid(), pid, "no restart");
}

/// Today's and tomorrow's dates in Asia/Tokyo, as TOML strings.
fn tokyo_today_and_tomorrow() -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz).date();
    let tomorrow = today.tomorrow().unwrap();
    format!("\"{today}\", \"{tomorrow}\"")
}

#[test]
fn a_route_that_skips_closed_days_neither_runs_nor_alerts_on_one() {
    // Today is closed (and tomorrow, should the test run over midnight);
    // the route would run and check every minute.
    let extra = format!(
        "[calendar]\nclosed = [{}]\n{}",
        tokyo_today_and_tomorrow(),
        UP.replace(
            "retry = ",
            "schedule = \"* * * * *\"\non_closed_days = \"skip\"\nexpect = { pattern = \"*.csv\", by = \"* * * * *\" }\nretry = ",
        )
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    d.put("032018", "inbox", "HOLIDAY.csv", b"waits\n");
    let skipped = |what: &str| {
        d.audit_query("closed_day_skipped")
            .into_iter()
            .any(|e| e["route"] == "juki-up" && e["what"] == what)
    };
    eventually("both skipped", Duration::from_secs(70), || {
        (skipped("schedule") && skipped("expect")).then_some(())
    });
    assert!(!spool(&d, "032018").join("HOLIDAY.csv").exists());
    assert!(d.audit_query("expected_file_missing").is_empty());
    assert_eq!(route(&routes(&d), "juki-up")["queued"], 0);
    let text = d.ctl_ok(&["routes"]);
    assert!(text.contains("not on closed days"), "{text}");
}

/// Finding: two uploads of one name within a second got one receipt name
/// twice, and the second could not be opened. Every receipt has its own
/// name and each opens to its own file's receipt.
#[test]
fn two_uploads_of_one_name_in_one_second_have_two_receipts() {
    let d = Daemon::start_with(default_tenants(), UP);
    fs::write(d.work.join("a1.csv"), "first\n").unwrap();
    fs::write(d.work.join("a2.csv"), "second!\n").unwrap();
    d.sftp_ok(
        "032018-juki",
        "put a1.csv /inbox/a.csv\nput a2.csv /inbox/a.csv\n",
    );
    let names = eventually("two receipts", Duration::from_secs(20), || {
        let listing = d.sftp_ok("032018-juki", "ls -1 /receipts\n");
        let names: Vec<String> = listing
            .lines()
            .map(str::trim)
            .filter(|l| l.contains("_a.csv_"))
            .map(String::from)
            .collect();
        (names.len() == 2).then_some(names)
    });
    assert_ne!(names[0], names[1]);
    let mut sizes = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let got = d.work.join(format!("r{i}.txt"));
        d.sftp_ok("032018-juki", &format!("get {n} {}\n", got.display()));
        let text = fs::read_to_string(&got).unwrap();
        sizes.push(
            text.lines()
                .find(|l| l.starts_with("サイズ"))
                .unwrap()
                .to_string(),
        );
    }
    sizes.sort();
    assert_eq!(
        sizes,
        [
            "サイズ / size:            6 bytes",
            "サイズ / size:            8 bytes"
        ]
    );
}

/// Finding: a tenant's source directory replaced by a symbolic link to
/// another directory was followed, and that directory's files were
/// imported as the tenant's and removed. The directory is never followed.
#[test]
fn a_source_directory_that_is_a_symlink_is_not_followed() {
    let d = Daemon::start_with(default_tenants(), DOWN);
    // Wait until the route has made its directories, then swap 032018's.
    eventually("the source directories", Duration::from_secs(10), || {
        dist(&d, "011002").is_dir().then_some(())
    });
    let elsewhere = d.root.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(elsewhere.join("other.csv"), "NOT 032018's").unwrap();
    // The route re-creates a missing source directory, so it may come
    // back between the removal and the link: try again until the link
    // is in its place.
    eventually(
        "the link in place of 032018's directory",
        Duration::from_secs(10),
        || {
            let _ = fs::remove_dir_all(dist(&d, "032018"));
            std::os::unix::fs::symlink(&elsewhere, dist(&d, "032018")).ok()
        },
    );
    let e = d.wait_event("the refusal to follow", |e| {
        e["event"] == "import_failed"
            && e["tenant"] == "032018"
            && e["error"].as_str().unwrap_or("").contains("symbolic link")
    });
    assert!(
        e["source"].as_str().unwrap().ends_with("dist/032018"),
        "{e}"
    );
    // Another municipality's files still flow.
    fs::write(dist(&d, "011002").join("fine.csv"), "sapporo").unwrap();
    eventually("011002's file", Duration::from_secs(20), || {
        (!dist(&d, "011002").join("fine.csv").exists()).then_some(())
    });
    assert!(
        elsewhere.join("other.csv").exists(),
        "nothing taken from elsewhere"
    );
    assert!(d.ls("032018").is_empty(), "{:?}", d.ls("032018"));
}

/// Finding: a spool step that never returns (a FIFO then; a hung mount
/// still) blocked the whole route, for every municipality, with no time
/// limit. Now a step without progress for `limits.fs_timeout` is given up
/// on: the attempt fails with the reason, other municipalities' files are
/// delivered, and no second attempt writes into the hung directory.
#[test]
fn a_hung_spool_directory_stops_only_its_own_municipality() {
    let d = Daemon::start_with_hung_dir(
        default_tenants(),
        &format!("{UP}\n[limits]\nfs_timeout = \"300ms\"\n"),
        "spool/032018",
    );
    fs::write(d.work.join("a.csv"), "morioka").unwrap();
    fs::write(d.work.join("b.csv"), "sapporo").unwrap();
    d.sftp_ok("032018-juki", "put a.csv /inbox/a.csv\n");
    let failed = d.wait_event("the stuck attempt given up on", |e| {
        e["event"] == "handoff_failed" && e["tenant"] == "032018"
    });
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("made no progress for limits.fs_timeout (300ms)"),
        "{failed}"
    );
    // Another municipality's file goes through meanwhile.
    d.sftp_ok("011002-juki", "put b.csv /inbox/b.csv\n");
    eventually("011002's file delivered", Duration::from_secs(20), || {
        (fs::read(spool(&d, "011002").join("b.csv")).ok()? == b"sapporo").then_some(())
    });
    // Later attempts wait for the stuck step instead of starting another
    // one in the same directory; the route says so.
    let out = eventually(
        "the route reports the wait",
        Duration::from_secs(20),
        || {
            let out = d.ctl_ok(&["routes"]);
            out.contains("has not returned yet").then_some(out)
        },
    );
    assert!(out.contains("juki-up"), "{out}");
    let failures = d
        .events()
        .iter()
        .filter(|e| e["event"] == "handoff_failed" && e["tenant"] == "032018")
        .count();
    assert_eq!(failures, 1, "one attempt, not one per retry");
    // A thread inside a hung file-system call cannot be stopped by anyone
    // (the kernel holds it); the harness ends the hung file system first.
}
