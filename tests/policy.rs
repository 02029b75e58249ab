//! Firewall-like rules through the real daemon and real clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::Command;

use common::{BIN, Daemon, default_tenants, names, pseudo_random};

/// "HH:MM" `delta_minutes` from now in Asia/Tokyo.
fn tokyo_hhmm(delta_minutes: i64) -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
    let m = (i64::from(now.hour()) * 60 + i64::from(now.minute()) + delta_minutes).rem_euclid(1440);
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn test_rules() -> String {
    format!(
        r#"# One rule per match type.
[[rule]]
action = "deny"
account = "032018-zei"
op = "delete"
reason = "032018-zei may not delete"

[[rule]]
action = "deny"
tenant = "011002"
op = "mkdir"
reason = "札幌市 may not create directories"

[[rule]]
action = "deny"
account = "032018-juki"
op = "read"
from = "127.0.0.2/32"
reason = "no downloads from 127.0.0.2"

[[rule]]
action = "deny"
op = "upload"
box = "inbox"
path = "locked/**"
reason = "inbox/locked is read-only"

[[rule]]
action = "allow"
account = "032018-juki"
op = "upload"
box = "inbox"
name = "JUKI_@市町村コード@_@日時@.csv"

[[rule]]
action = "deny"
account = "032018-juki"
op = "upload"
name = "JUKI_*"
reason = "JUKI files must be named JUKI_<own code>_<YYYYMMDDhhmmss>.csv"

[[rule]]
action = "allow"
account = "032018-zei"
op = "upload"
box = "inbox"
max_size = "1MiB"

[[rule]]
action = "deny"
account = "032018-zei"
op = "upload"
reason = "032018-zei uploads are limited to 1 MiB"

[[rule]]
action = "allow"
tenant = "011002"
op = "upload"
box = "inbox"
name = "now-*"
time = "daily {}-{}"

[[rule]]
action = "allow"
tenant = "011002"
op = "upload"
box = "inbox"
name = "later-*"
time = "daily {}-{}"

[[rule]]
action = "deny"
tenant = "011002"
op = "upload"
name = "later-*"
reason = "later-* files are accepted at another hour"
"#,
        tokyo_hhmm(-90),
        tokyo_hhmm(90),
        tokyo_hhmm(180),
        tokyo_hhmm(240)
    )
}

/// Line of the `n`th (1-based) rule header in `text`.
fn rule_line(text: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("[[rule]]"))
        .nth(n - 1)
        .unwrap()
        .0
        + 1
}

fn start() -> (Daemon, String) {
    let rules = test_rules();
    let d = Daemon::start_with_policies(
        default_tenants(),
        "",
        &[
            ("10-test.toml", &rules),
            ("90-baseline.toml", &Daemon::baseline_rules()),
        ],
    );
    (d, rules)
}

fn try_op(d: &Daemon, user: &str, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["try"];
    a.extend_from_slice(args);
    d.paramiko_json(user, &a)
}

fn refused_with(r: &serde_json::Value, want: &str) {
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains(want),
        "{r} should say {want:?}"
    );
}

#[test]
fn every_match_type_allows_and_refuses_through_real_clients() {
    let (d, rules) = start();
    fs::write(d.work.join("x.csv"), "x").unwrap();
    fs::write(d.work.join("small.dat"), pseudo_random(512 << 10, 1)).unwrap();
    fs::write(d.work.join("big.dat"), pseudo_random(2 << 20, 2)).unwrap();

    // tenant: 札幌市 may not mkdir, 盛岡市 may.
    refused_with(
        &try_op(&d, "011002-juki", &["mkdir", "/inbox/d"]),
        "札幌市 may not create directories",
    );
    assert_eq!(
        try_op(&d, "032018-juki", &["mkdir", "/inbox/locked"])["ok"],
        true
    );
    assert_eq!(
        try_op(&d, "032018-juki", &["mkdir", "/inbox/open"])["ok"],
        true
    );

    // operation + box + path glob: uploads into inbox/locked/** are refused.
    refused_with(
        &try_op(&d, "032018-juki", &["open_write", "/inbox/locked/x.csv"]),
        "inbox/locked is read-only",
    );
    assert_eq!(
        try_op(&d, "032018-juki", &["open_write", "/inbox/open/x.csv"])["ok"],
        true
    );

    // account: zei may not delete; juki may.
    refused_with(
        &try_op(&d, "032018-zei", &["remove", "/inbox/open/x.csv"]),
        "032018-zei may not delete",
    );
    d.sftp_ok(
        "032018-juki",
        "put x.csv /inbox/keep.csv\nrm /inbox/open/x.csv\n",
    );

    // source network: juki may not download from 127.0.0.2 (OpenSSH sftp, bound there).
    let from2 = d.sftp(
        "032018-juki",
        b"get /inbox/keep.csv k2.csv\n",
        &["-o", "BindAddress=127.0.0.2"],
    );
    assert!(!from2.status.success());
    assert!(!d.work.join("k2.csv").exists());
    d.sftp_ok("032018-juki", "get /inbox/keep.csv k1.csv\n");

    // file-name template: own code and a real date-time only.
    d.sftp_ok(
        "032018-juki",
        "put x.csv /inbox/JUKI_032018_20261121093000.csv\n",
    );
    refused_with(
        &try_op(
            &d,
            "032018-juki",
            &["open_write", "/inbox/JUKI_011002_20261121093000.csv"],
        ),
        "JUKI files must be named",
    );
    refused_with(
        &try_op(
            &d,
            "032018-juki",
            &["open_write", "/inbox/JUKI_032018_20261341093000.csv"],
        ),
        "JUKI files must be named",
    );

    // maximum size: zei's 512 KiB upload goes, 2 MiB is refused part-way.
    assert_eq!(
        d.paramiko_json("032018-zei", &["put", "small.dat", "/inbox/small.dat"])["size"],
        512 << 10
    );
    let r = d.paramiko_json(
        "032018-zei",
        &[
            "writes",
            "big.dat",
            "/inbox/big.dat",
            &format!("0:{}", 2 << 20),
        ],
    );
    refused_with(&r, "limited to 1 MiB");

    // time window (Asia/Tokyo): now-* inside its window, later-* outside.
    assert_eq!(
        try_op(&d, "011002-juki", &["open_write", "/inbox/now-1.csv"])["ok"],
        true
    );
    refused_with(
        &try_op(&d, "011002-juki", &["open_write", "/inbox/later-1.csv"]),
        "accepted at another hour",
    );

    let stored = names(&d.ls("032018"), "inbox", "stored");
    assert_eq!(
        stored,
        vec!["JUKI_032018_20261121093000.csv", "keep.csv", "small.dat"]
    );
    assert_eq!(names(&d.ls("011002"), "inbox", "stored"), vec!["now-1.csv"]);

    // Refusals name the rule that made them.
    let ev = d.wait_event("the locked refusal", |e| {
        e["event"] == "operation_refused" && e["path"] == "/inbox/locked/x.csv"
    });
    assert!(
        ev["rule"]
            .as_str()
            .unwrap()
            .ends_with(&format!("10-test.toml:{}", rule_line(&rules, 4))),
        "{ev}"
    );
    let ev = d.wait_event("the network refusal", |e| {
        e["event"] == "operation_refused" && e["op"] == "read"
    });
    assert!(
        ev["rule"]
            .as_str()
            .unwrap()
            .ends_with(&format!("10-test.toml:{}", rule_line(&rules, 3))),
        "{ev}"
    );
}

fn policy_cmd(d: &Daemon, args: &[&str]) -> (bool, String) {
    d.cli("policy", args)
}

/// `policy explain` of an upload by 032018-juki from loopback.
fn juki(path: &str) -> [&str; 11] {
    [
        "explain",
        "--tenant",
        "032018",
        "--user",
        "032018-juki",
        "--from",
        "127.0.0.1",
        "--op",
        "upload",
        "--path",
        path,
    ]
}

#[test]
fn explain_who_and_check_answer_the_operators_questions() {
    let (d, rules) = start();
    let (ok, out) = policy_cmd(&d, &juki("/inbox/JUKI_032018_20261121093000.csv"));
    assert!(ok, "{out}");
    assert!(
        out.starts_with("allow  upload /inbox/JUKI_032018_20261121093000.csv"),
        "{out}"
    );
    assert!(
        out.contains(&format!("10-test.toml:{}", rule_line(&rules, 5))),
        "{out}"
    );
    let (ok, out) = policy_cmd(&d, &juki("/inbox/JUKI_011002_20261121093000.csv"));
    assert!(!ok, "deny exits 1");
    assert!(
        out.starts_with("deny")
            && out.contains(&format!("10-test.toml:{}", rule_line(&rules, 6)))
            && out.contains("reason: JUKI files"),
        "{out}"
    );

    // Uploads are decided at size 0 when they open, and again as they grow.
    let zei = |size: Option<&str>| {
        let mut a = vec![
            "explain",
            "--tenant",
            "032018",
            "--user",
            "032018-zei",
            "--from",
            "127.0.0.1",
            "--op",
            "upload",
            "--path",
            "/inbox/z.dat",
        ];
        if let Some(s) = size {
            a.extend(["--size", s]);
        }
        policy_cmd(&d, &a)
    };
    assert!(zei(None).0, "{}", zei(None).1);
    let (ok, out) = zei(Some("2MiB"));
    assert!(
        !ok && out.contains("limited to 1 MiB") && out.contains("size 2MiB"),
        "{out}"
    );

    // A point in time: later-* is allowed inside its window.
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_mins(200))
        .unwrap()
        .to_string();
    let sapporo = |at: &str| -> (bool, String) {
        policy_cmd(
            &d,
            &[
                "explain",
                "--tenant",
                "011002",
                "--user",
                "011002-juki",
                "--from",
                "127.0.0.1",
                "--op",
                "upload",
                "--path",
                "/inbox/later-1.csv",
                "--at",
                at,
            ],
        )
    };
    assert!(sapporo(&at).0, "{}", sapporo(&at).1);
    let now = jiff::Timestamp::now().to_string();
    assert!(!sapporo(&now).0);

    // Default deny, and isolation.
    let (ok, out) = policy_cmd(
        &d,
        &[
            "explain",
            "--tenant",
            "032018",
            "--user",
            "032018-juki",
            "--from",
            "192.0.2.7",
            "--op",
            "connect",
        ],
    );
    assert!(!ok && out.contains("default deny"), "{out}");
    let (ok, out) = policy_cmd(
        &d,
        &[
            "explain",
            "--tenant",
            "011002",
            "--user",
            "032018-juki",
            "--from",
            "127.0.0.1",
            "--op",
            "read",
            "--path",
            "/inbox/x",
        ],
    );
    assert!(!ok && out.contains("isolation"), "{out}");

    who_and_check(&d);
}

/// `policy who` and `policy check`, on the rules of `start()`.
fn who_and_check(d: &Daemon) {
    // Who can write to 032018's inbox?
    let (ok, out) = policy_cmd(
        d,
        &[
            "who", "--tenant", "032018", "--op", "upload", "--path", "/inbox",
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("account 032018-juki") && out.contains("account 032018-zei"),
        "{out}"
    );
    assert!(
        out.contains("name JUKI_@市町村コード@_@日時@.csv") && out.contains("size ≤ 1MiB"),
        "{out}"
    );
    assert!(out.contains("accounts of other tenants: never"), "{out}");

    // check: a shadowed rule and a rule that can never match are warned about, with file:line.
    d.write_policy("50-lint.toml", "[[rule]]\naction = \"allow\"\nbox = \"inbox\"\n\n[[rule]]\naction = \"deny\"\nbox = \"inbox\"\nop = \"rmdir\"\n\n[[rule]]\naction = \"allow\"\ntenant = \"131016\"\n");
    let (ok, out) = policy_cmd(d, &["check"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("50-lint.toml:5: this rule is shadowed by")
            && out.contains("50-lint.toml:10: this rule can never match"),
        "{out}"
    );
    assert!(
        out.contains("both claim network"),
        "two tenants share 127.0.0.0/8: {out}"
    );
    d.write_policy(
        "60-bad.toml",
        "[[rule]]\naction = \"allow\"\nop = \"upload\"\ntime = \"Mon-Fry 06:00-22:00\"\n",
    );
    let (ok, out) = policy_cmd(d, &["check"]);
    assert!(
        !ok && out.contains("60-bad.toml:4:") && out.contains("not a day"),
        "{out}"
    );
}

#[test]
fn a_reload_applies_to_new_operations_while_transfers_finish() {
    let d = Daemon::start_with_policies(
        default_tenants(),
        "",
        &[("90-baseline.toml", &Daemon::baseline_rules())],
    );
    fs::write(d.work.join("slow.dat"), pseudo_random(8 << 20, 5)).unwrap();
    fs::write(d.work.join("x.csv"), "x").unwrap();
    let slow = d.sftp_background("032018-juki", "put slow.dat /inbox/slow.dat\n", 16_000);
    d.wait_for_blob_over(1 << 20);
    d.write_policy("10-freeze.toml", "[[rule]]\naction = \"deny\"\naccount = \"032018-juki\"\nop = \"upload\"\nreason = \"uploads are frozen for maintenance\"\n");
    let out = d.ctl_ok(&["reload"]);
    assert!(out.contains("10-freeze.toml"), "{out}");
    // New operations follow the new rules…
    refused_with(
        &try_op(&d, "032018-juki", &["open_write", "/inbox/new.csv"]),
        "frozen for maintenance",
    );
    assert_eq!(
        try_op(&d, "032018-juki", &["listdir", "/inbox"])["ok"],
        true
    );
    // …while the transfer under way finishes under the rules it started with.
    let out = slow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(names(&d.ls("032018"), "inbox", "stored").contains(&"slow.dat".to_string()));
    let loaded = d.wait_event("the reload", |e| {
        e["event"] == "config_loaded" && e["how"] == "reload"
    });
    assert_eq!(loaded["rules"], 5);
    assert!(loaded["policy_sha256"].as_str().unwrap().len() == 64);

    // SIGHUP reloads too.
    fs::remove_file(d.root.path().join("policies/10-freeze.toml")).unwrap();
    d.hup();
    common::eventually(
        "the SIGHUP reload",
        std::time::Duration::from_secs(30),
        || {
            (d.events()
                .iter()
                .filter(|e| e["event"] == "config_loaded" && e["how"] == "reload")
                .count()
                == 2)
                .then_some(())
        },
    );
    d.sftp_ok("032018-juki", "put x.csv /inbox/after.csv\n");
}

#[test]
fn a_broken_rule_file_keeps_the_running_rules() {
    let mut d = Daemon::start_with_policies(
        default_tenants(),
        "",
        &[("90-baseline.toml", &Daemon::baseline_rules())],
    );
    fs::write(d.work.join("x.csv"), "x").unwrap();
    d.write_policy(
        "10-broken.toml",
        "[[rule]]\naction = \"deny\"\nop = \"upload\"\nfrom = \"10.0.0.1/8\"\n",
    );
    let out = d.ctl(&["reload"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10-broken.toml:4:")
            && err.contains("did you mean 10.0.0.0/8")
            && err.contains("running configuration and rules stay"),
        "{err}"
    );
    d.hup();
    d.wait_event("the refused SIGHUP reload", |e| {
        e["event"] == "reload_failed"
    });
    // The old rules still apply: uploads work.
    d.sftp_ok("032018-juki", "put x.csv /inbox/still.csv\n");
    // And a daemon does not start on a broken rule file.
    let st = d.stop();
    assert!(st.success());
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&d.config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("10-broken.toml:4:"));
}

#[test]
fn business_windows_follow_the_holiday_calendar() {
    // The Cabinet Office's holiday list, in Shift_JIS as it is published.
    let cal = tempfile::tempdir().unwrap();
    let csv = cal.path().join("syukujitsu.csv");
    let list = "国民の祝日・休日月日,国民の祝日・休日名称\r\n2026/11/3,文化の日\r\n2026/11/23,勤労感謝の日\r\n";
    fs::write(&csv, encoding_rs::SHIFT_JIS.encode(list).0).unwrap();
    let extra = format!(
        "[calendar]\nholidays_file = \"{}\"\nclosed = [\"2026-12-29\"]\n",
        csv.display()
    );
    let hours = "[[rule]]\naction = \"allow\"\nop = \"upload\"\ntime = \"開庁日 08:30-17:15\"\n\n[[rule]]\naction = \"deny\"\nop = \"upload\"\nreason = \"uploads are taken on business days 08:30-17:15\"\n";
    let d = Daemon::start_with_policies(
        default_tenants(),
        &extra,
        &[
            ("10-hours.toml", hours),
            ("90-baseline.toml", &Daemon::baseline_rules()),
        ],
    );
    let explain = |at: &str| {
        let mut args = juki("/inbox/a.csv").to_vec();
        args.extend(["--at", at]);
        policy_cmd(&d, &args)
    };
    // 2026-11-23 is a Monday and 勤労感謝の日.
    let (ok, out) = explain("2026-11-23 10:00");
    assert!(!ok && out.contains("business days"), "{out}");
    let (ok, out) = explain("2026-11-24 10:00");
    assert!(ok && out.contains("10-hours.toml:1"), "{out}");
    // A closure written in the configuration (年末年始).
    let (ok, _) = explain("2026-12-29 10:00");
    assert!(!ok);
    let (ok, out) = d.cli("check", &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("calendar  3 closed days, 2026-11-03 to 2026-12-29"),
        "{out}"
    );
    // A line that is not a date is named with its file and line.
    fs::write(&csv, "2026/11/3,文化の日\n2026/11/31,no such day\n").unwrap();
    let (ok, out) = d.cli("check", &[]);
    assert!(!ok);
    assert!(
        out.contains("syukujitsu.csv:2:1") && out.contains("2026/11/31"),
        "{out}"
    );
}

/// Finding: `explain --op upload --from` an address outside the tenant's
/// networks said allow, while `--op connect` from it said deny. The whole
/// path is evaluated (accept → login → operation) and the first stage that
/// refuses is named.
#[test]
fn explain_evaluates_accept_login_and_the_operation_in_order() {
    let (d, _rules) = start();
    let mut args = juki("/inbox/JUKI_032018_20261121093000.csv");
    args[6] = "10.9.9.9";
    let (ok, out) = policy_cmd(&d, &args);
    assert!(!ok, "{out}");
    assert!(
        out.starts_with("deny  upload /inbox/JUKI_032018_20261121093000.csv"),
        "{out}"
    );
    assert!(out.contains("refused at accept"), "{out}");
    // From the tenant's own network every stage passes, and says so.
    let (ok, out) = policy_cmd(&d, &juki("/inbox/JUKI_032018_20261121093000.csv"));
    assert!(
        ok && out.contains("passes accept, connect, login from 127.0.0.1"),
        "{out}"
    );
    // An IPv4-mapped address is judged as the IPv4 address it carries.
    let (ok, out) = policy_cmd(
        &d,
        &[
            "explain",
            "--tenant",
            "032018",
            "--user",
            "032018-juki",
            "--from",
            "::ffff:10.9.9.9",
            "--op",
            "read",
            "--path",
            "/inbox/x",
        ],
    );
    assert!(!ok && out.contains("from 10.9.9.9"), "{out}");
}
