//! Auditors and operators in the browser (`[[web.user]]`): an auditor
//! finds a browser upload's record, reads it whole, exports CSV and the
//! signed bundle, and sees that the trail verifies; an auditor of one
//! municipality sees nothing of another's; an operator sees the failed
//! hand-off, retries it and lifts a ban, each action recorded with their
//! name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::time::Duration;

use common::web::{Browser, certificate, password_line, web_table};
use common::{Daemon, default_tenants, eventually};

const PW: &str = "staff-password-long-enough";
const MADOGUCHI: &str = "011002-madoguchi";

const ROUTE: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}" }
retry = { attempts = 2, first = "200ms", max = "500ms" }
"#;

struct World {
    d: Daemon,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn world(more: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let users = format!(
        r#"
[[web.user]]
user = "kansa"
role = "auditor"
networks = ["127.0.0.0/8"]
{}

[[web.user]]
user = "kansa-morioka"
role = "auditor"
tenants = ["032018"]
networks = ["127.0.0.0/8"]
{}

[[web.user]]
user = "unyou"
role = "operator"
networks = ["127.0.0.1/32"]
{}
"#,
        password_line("kansa", PW),
        password_line("kansa-morioka", PW),
        password_line("unyou", PW)
    );
    let extra = format!(
        "[[tenant.account]]\nuser = \"{MADOGUCHI}\"\n{}\n[audit]\ncheckpoint_every = 5\ncheckpoint_interval = \"1s\"\n{}{users}{more}",
        password_line(MADOGUCHI, PW),
        web_table(&cert, &key, ""),
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    World { d, cert, _dir: dir }
}

impl World {
    fn login(&self, user: &str) -> Browser {
        let b = Browser::new(&self.d.web_addr("staff"), &self.cert);
        let a = b.login(user, PW, "");
        assert_eq!(a.status, 303, "{user}: {a:?}");
        b
    }
}

#[test]
fn an_auditor_finds_a_browser_upload_and_exports_it() {
    let w = world("");
    let staff = w.login(MADOGUCHI);
    let local = w.d.work.join("所得・課税情報_011002.csv");
    fs::write(&local, b"1,2,3\n").unwrap();
    let token = staff.csrf("/box/inbox");
    assert_eq!(staff.upload("/inbox", &local, Some(&token)).status, 200);
    // The record is in the trail once written (the search reads the files).
    let auditor = w.login("kansa");
    let page = eventually(
        "the record in the auditor's search",
        Duration::from_secs(20),
        || {
            let p =
                auditor.get("/audit?event=upload_committed&tenant=011002&file=%E6%89%80%E5%BE%97");
            p.body.contains("所得・課税情報_011002.csv").then_some(p)
        },
    );
    assert!(
        page.body.contains("札幌市"),
        "the municipality's name is shown"
    );
    assert!(page.body.contains("https"), "{}", page.body);
    // One record, whole.
    let seq = page
        .body
        .split("/audit/record/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let rec = auditor.get(&format!("/audit/record/{seq}"));
    assert!(
        rec.body.contains("&quot;protocol&quot;: &quot;https&quot;"),
        "{}",
        rec.body
    );
    assert!(rec.body.contains(MADOGUCHI));
    // CSV: UTF-8 with BOM, a header, the row.
    let csv_path = w.d.work.join("audit.csv");
    let status = auditor.download(
        "/audit/export.csv?event=upload_committed&tenant=011002",
        &csv_path,
    );
    assert_eq!(status, 200);
    let csv = fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.starts_with("\u{feff}seq,time_asia_tokyo,event,event_ja"),
        "{csv}"
    );
    assert!(
        csv.contains("所得・課税情報_011002.csv") && csv.contains(",https,"),
        "{csv}"
    );
    assert!(
        w.d.audit_query("web_action")
            .iter()
            .any(|r| r["user"] == "kansa" && r["action"] == "audit_csv")
            || w.d
                .events()
                .iter()
                .any(|e| e["event"] == "web_action" && e["action"] == "audit_csv")
    );
    // The trail verifies, and says with which key.
    let v = auditor.get("/audit/verify");
    assert!(v.body.contains("検証済み"), "{}", v.body);
    // The signed bundle of today verifies on its own with the public key.
    let today = renkei::time::tokyo(jiff::Timestamp::now())
        .strftime("%Y-%m-%d")
        .to_string();
    let bundle = w.d.work.join("bundle.jsonl");
    let got = eventually("a sealed bundle", Duration::from_secs(20), || {
        let s = auditor.download(
            &format!(
                "/audit/bundle?since={today}&until={}",
                renkei::time::tokyo(jiff::Timestamp::now()).strftime("%Y-%m-%dT%H:%M:%S%%2B09:00")
            ),
            &bundle,
        );
        (s == 200).then_some(s)
    });
    assert_eq!(got, 200);
    let (ok, out) = w.d.cli(
        "audit",
        &[
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pubkey",
            w.d.data.join("audit").join("audit.pub").to_str().unwrap(),
        ],
    );
    assert!(ok && out.contains("verified"), "{out}");
}

#[test]
fn an_auditor_of_one_municipality_sees_nothing_of_another() {
    let w = world("");
    w.d.put("011002", "inbox", "sapporo-only.csv", b"x\n");
    w.d.put("032018", "inbox", "morioka.csv", b"y\n");
    let global = w.login("kansa");
    eventually("both records", Duration::from_secs(20), || {
        let p = global.get("/audit?event=upload_committed");
        (p.body.contains("sapporo-only.csv") && p.body.contains("morioka.csv")).then_some(())
    });
    let scoped = w.login("kansa-morioka");
    let p = scoped.get("/audit?event=upload_committed");
    assert!(p.body.contains("morioka.csv"), "{}", p.body);
    assert!(!p.body.contains("sapporo-only.csv"), "{}", p.body);
    let p = scoped.get("/audit?tenant=011002");
    assert!(!p.body.contains("sapporo-only.csv"));
    // Not even by sequence number.
    let seq = global
        .get("/audit?event=upload_committed&file=sapporo")
        .body
        .split("/audit/record/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(scoped.get(&format!("/audit/record/{seq}")).status, 404);
    let out = w.d.work.join("scoped.csv");
    assert_eq!(scoped.download("/audit/export.csv", &out), 200);
    let csv = fs::read_to_string(&out).unwrap();
    assert!(
        !csv.contains("sapporo-only.csv") && !csv.contains("daemon_started"),
        "{csv}"
    );
    assert_eq!(
        scoped
            .get("/audit/bundle?since=2026-01-01&until=2030-01-01")
            .status,
        403
    );
    // Auditors read only: no boxes, no operator page.
    assert_eq!(scoped.get("/box/inbox").status, 404);
    assert_eq!(scoped.get("/status").status, 404);
    // And the 窓口 account cannot read the trail.
    assert_eq!(w.login(MADOGUCHI).get("/audit").status, 404);
}

#[test]
fn an_operator_retries_a_failed_hand_off_and_lifts_a_ban() {
    let w = world(&format!(
        "{ROUTE}\n[defender]\nthreshold = 2\nban_time = \"1h\"\n"
    ));
    fs::create_dir_all(w.d.root.path().join("spool")).unwrap();
    let blocker = w.d.root.path().join("spool").join("032018");
    fs::write(&blocker, b"not a directory").unwrap();
    w.d.put("032018", "inbox", "JUKI.csv", b"a,b,c\n");
    w.d.wait_event("the hand-off gave up", |e| {
        e["event"] == "handoff_failed" && e["gave_up"] == true
    });
    let op = w.login("unyou");
    let page = op.get("/status");
    assert!(
        page.body.contains("juki-up") && page.body.contains("JUKI.csv"),
        "{}",
        page.body
    );
    fs::remove_file(&blocker).unwrap();
    let token = common::web::hidden(&page.body, "csrf").unwrap();
    let a = op.post("/operate/retry", &[("csrf", &token), ("route", "juki-up")]);
    assert_eq!(a.status, 303, "{a:?}");
    w.d.wait_event("delivered after the retry", |e| {
        e["event"] == "handoff_delivered"
    });
    assert!(blocker.join("JUKI.csv").exists());
    let action = w.d.wait_event("the operator's action", |e| {
        e["event"] == "web_action" && e["action"] == "retry"
    });
    assert_eq!(action["user"], "unyou");
    assert_eq!(action["ok"], true);

    // Two failed logins from 127.0.0.9 ban it; the operator lifts the ban.
    let stranger = Browser::new(&w.d.web_addr("staff"), &w.cert).from("127.0.0.9");
    stranger.login("kansa", "wrong-password!", "");
    stranger.login("kansa", "wrong-password!", "");
    assert_eq!(stranger.get("/login").status, 403, "banned");
    let page = op.get("/status");
    assert!(page.body.contains("127.0.0.9"), "{}", page.body);
    let a = op.post("/operate/unban", &[("csrf", &token), ("ip", "127.0.0.9")]);
    assert_eq!(a.status, 303, "{a:?}");
    assert_eq!(stranger.get("/login").status, 200, "the ban is lifted");
    let unbanned = w.d.wait_event("unbanned", |e| e["event"] == "unbanned");
    assert_eq!(unbanned["by"], "web unyou");
    // A forged action does nothing.
    let forged = op.post("/operate/unban", &[("csrf", "x"), ("ip", "127.0.0.9")]);
    assert_eq!(forged.status, 403);
    // The operator works from 127.0.0.1 only (their networks).
    let elsewhere = Browser::new(&w.d.web_addr("staff"), &w.cert).from("127.0.0.5");
    assert_eq!(elsewhere.login("unyou", PW, "").status, 401);
}
