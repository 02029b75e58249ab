//! What every door decides alike, through the real daemon and real
//! clients: a ban reaches a connection that is already open, a dual-stack
//! listener serves IPv4 clients by their IPv4 address, a removed person's
//! web session ends, bodies and command lines that stall or swell are cut
//! off within their named limits, and a file renamed while (or after) it
//! is checked is checked under the name it ends up with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::checks::{clean, outcome_for};
use common::clamd::TestClamd;
use common::ftps::{FtpsWorld, reply};
use common::web::{Browser, certificate, password_line, web_table};
use common::{Daemon, PYTHON, default_tenants, eventually};
use serde_json::{Value, json};

const HELD_CLAMD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/held_clamd.py");
const PW: &str = "door-kit-test-password";
const MADOGUCHI: &str = "011002-madoguchi";
const MIB: u64 = 1 << 20;

fn probe(args: &[&str]) -> String {
    common::python_client("door_kit.py", args)
}

/// A daemon with a 窓口 account of 札幌市 and `[web]` with `web_extra`.
fn web_world(web_extra: &str, more: &str) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let extra = format!(
        "[[tenant.account]]\nuser = \"{MADOGUCHI}\"\n{}\n{}{more}",
        password_line(MADOGUCHI, PW),
        web_table(&cert, &key, web_extra)
    );
    (Daemon::start_with(default_tenants(), &extra), cert, dir)
}

/// The most memory the process has held (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        * 1024
}

fn seconds(s: &str) -> f64 {
    assert_ne!(s, "open", "the server never closed the connection");
    s.parse().unwrap()
}

#[test]
fn a_ban_reaches_an_open_web_connection() {
    // Finding 1: 30 wrong passwords on one keep-alive connection, then the
    // right one. The address is banned at the 10th (defender.threshold);
    // from then on every request, the right password included, gets the
    // lockout page.
    let (d, _cert, _dir) = web_world("", "");
    let addr = d.web_addr("staff");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = probe(&["web-logins", host, port, MADOGUCHI, "wrong", "30", PW]);
    let statuses: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(
        statuses[..10].iter().all(|s| s == 401),
        "the first 10 are refused logins: {statuses:?}"
    );
    assert!(
        statuses[10..].iter().all(|s| *s == 403 || *s == "closed"),
        "after the ban, only the lockout page: {statuses:?}"
    );
    assert!(
        !statuses.contains(&json!(303)),
        "the right password logged in while banned: {statuses:?}"
    );
    assert!(
        d.audit_query("login_succeeded")
            .iter()
            .all(|e| e["protocol"] != "https"),
        "a browser login while banned"
    );
    d.wait_event("the ban", |e| e["event"] == "banned");
}

#[test]
fn every_door_serves_ipv4_clients_on_a_dual_stack_listener() {
    // Finding 4: a listener on [::] sees an IPv4 client as ::ffff:a.b.c.d;
    // the rules, bans, limits and records must see a.b.c.d.
    let (mut d, cert, _dir) = AllDoors::unstarted("");
    let config = fs::read_to_string(&d.config)
        .unwrap()
        .replace("\"127.0.0.1:0\"", "\"[::]:0\"");
    fs::write(&d.config, config).unwrap();
    d = d.started();

    // SFTP.
    d.sftp_ok("011002-juki", "ls /inbox\n");
    // HTTPS.
    let web_port = d.web_addr("staff").rsplit(':').next().unwrap().to_string();
    let b = Browser::new(&format!("127.0.0.1:{web_port}"), &cert);
    assert_eq!(b.login(MADOGUCHI, PW, "").status, 303);
    // FTPS.
    let ftps_port = d.ftps_port("explicit");
    let out = Command::new(PYTHON)
        .arg(common::ftps::FTPS_CLIENT)
        .args(["127.0.0.1", &ftps_port, MADOGUCHI, PW])
        .arg(&cert)
        .arg(json!([["pwd"]]).to_string())
        .current_dir(&d.work)
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines.first().is_some_and(|l| reply(l).starts_with("257")),
        "{lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for protocol in ["sftp", "https", "ftps"] {
        let accepted = d.wait_event(&format!("{protocol} accepted"), |e| {
            e["event"] == "connection_accepted" && e["protocol"] == protocol
        });
        assert!(
            accepted["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
            "{protocol}: the record names the IPv4 address: {accepted}"
        );
    }
    assert!(
        d.audit_query("connection_refused").is_empty(),
        "{:?}",
        d.audit_query("connection_refused")
    );
}

#[test]
fn a_removed_person_loses_their_web_session_at_the_next_request() {
    // Finding 5: every request is decided against the configuration in
    // force. An operator removed by a reload, or a 窓口 account whose
    // password was removed, is logged out at once.
    let users = format!(
        "\n[[web.user]]\nuser = \"unyou\"\nrole = \"operator\"\nnetworks = [\"127.0.0.0/8\"]\n{}\n",
        password_line("unyou", PW)
    );
    let (d, cert, _dir) = web_world("", &users);
    let addr = d.web_addr("staff");
    let operator = Browser::new(&addr, &cert);
    assert_eq!(operator.login("unyou", PW, "").status, 303);
    let staff = Browser::new(&addr, &cert);
    assert_eq!(staff.login(MADOGUCHI, PW, "").status, 303);
    assert_eq!(operator.get("/status").status, 200);
    assert_eq!(staff.get("/box/inbox/").status, 200);

    let text = fs::read_to_string(&d.config).unwrap();
    let mut kept = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line == "[[web.user]]" {
            skipping = true;
        } else if line.starts_with('[') {
            skipping = false;
        }
        let madoguchi_password = line.starts_with("web_password")
            && kept.last() == Some(&format!("user = \"{MADOGUCHI}\""));
        if !skipping && !madoguchi_password {
            kept.push(line.to_string());
        }
    }
    fs::write(&d.config, kept.join("\n")).unwrap();
    d.ctl_ok(&["reload"]);

    let page = operator.get("/status");
    assert_eq!(page.status, 303, "the removed operator still sees /status");
    assert!(page.headers.contains("/login"));
    let page = staff.get("/box/inbox/");
    assert_eq!(
        page.status, 303,
        "the account without a web login still browses"
    );
    let ended = d.wait_event("the operator's session ended", |e| {
        e["event"] == "web_session_ended" && e["user"] == "unyou"
    });
    assert_eq!(ended["reason"], "revoked");
    d.wait_event("the 窓口's session ended", |e| {
        e["event"] == "web_session_ended" && e["user"] == MADOGUCHI && e["reason"] == "revoked"
    });
}

#[test]
fn stalled_web_bodies_are_cut_off_and_free_their_upload_slot() {
    // Finding 6: a login form that declares 200 bytes and sends 9, and an
    // upload that sends one part and stops, each end within their limit;
    // the one upload slot is then free for another municipality.
    let (d, cert, _dir) = web_world(
        "header_timeout = \"2s\"\nmax_uploads = 1\n",
        "\n[limits]\nidle_timeout = \"2s\"\n",
    );
    let addr = d.web_addr("staff");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let waited = seconds(&probe(&["web-short-body", host, port]));
    assert!(waited < 10.0, "the short login body held {waited}s");

    let b = Browser::new(&addr, &cert);
    assert_eq!(b.login(MADOGUCHI, PW, "").status, 303);
    let cookie = b.cookie("__Host-renkei").unwrap();
    let token = b.csrf("/box/inbox");
    let waited = seconds(&probe(&["web-stalled-upload", host, port, &cookie, &token]));
    assert!(waited < 10.0, "the stalled upload held {waited}s");
    let local = d.work.join("after.csv");
    fs::write(&local, b"1,2,3\n").unwrap();
    let a = b.upload("/inbox", &local, Some(&token));
    assert_eq!(a.status, 200, "{a:?}");
}

#[test]
fn hostile_upload_bodies_hold_no_more_than_the_form_limit() {
    // Finding 2: a body without its boundary, a part whose headers never
    // end, an oversized csrf field: each 128 MiB, with web.max_upload_size
    // large enough that only the form's own bound can stop them.
    let (d, cert, _dir) = web_world("max_upload_size = \"4GiB\"\n", "");
    let addr = d.web_addr("staff");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let b = Browser::new(&addr, &cert);
    assert_eq!(b.login(MADOGUCHI, PW, "").status, 303);
    let cookie = b.cookie("__Host-renkei").unwrap();
    let token = b.csrf("/box/inbox");
    let before = peak_rss(d.pid());
    for kind in ["no-boundary", "endless-headers", "huge-csrf"] {
        let got = probe(&["web-bomb", host, port, &cookie, &token, kind, "128"]);
        assert!(
            got == "413" || got == "400" || got == "403" || got == "closed",
            "{kind}: {got}"
        );
    }
    let grew = peak_rss(d.pid()).saturating_sub(before);
    assert!(
        grew < 48 * MIB,
        "the daemon's peak memory grew by {} MiB",
        grew / MIB
    );
    // Each body refused for the form's limit is recorded as a refusal.
    eventually("the refusals", Duration::from_secs(20), || {
        let n = d
            .audit_query("operation_refused")
            .iter()
            .filter(|e| {
                e["reason"]
                    .as_str()
                    .unwrap_or("")
                    .contains("web.max_form_size")
            })
            .count();
        (n >= 2).then_some(())
    });
    // The door still serves.
    let local = d.work.join("after.csv");
    fs::write(&local, b"1,2,3\n").unwrap();
    assert_eq!(b.upload("/inbox", &local, Some(&token)).status, 200);
}

#[test]
fn ftps_login_grace_is_one_deadline_from_accept() {
    // Finding 7: a client that sends one byte a second and never a whole
    // command is closed when limits.login_grace_time has passed since
    // accept, not kept while it keeps sending.
    let w = FtpsWorld::start("", "", "\n[limits]\nlogin_grace_time = \"3s\"\n");
    let waited = seconds(&probe(&["ftps-drip", "127.0.0.1", &w.port(), "1"]));
    assert!(
        (2.5..8.0).contains(&waited),
        "closed after {waited}s (grace 3s)"
    );
}

/// A `[scan]` whose first scan answer waits for the test (held_clamd.py).
struct HeldScanner {
    _clamd: TestClamd,
    proxy: Child,
    dir: tempfile::TempDir,
}

impl Drop for HeldScanner {
    fn drop(&mut self) {
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
    }
}

impl HeldScanner {
    /// With `hang`, scans of files holding those bytes are never
    /// answered (and no first scan is held).
    fn start(hang: Option<&str>) -> HeldScanner {
        let clamd = TestClamd::start("64M");
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("held.sock");
        let proxy = Command::new(PYTHON)
            .arg(HELD_CLAMD)
            .arg(&socket)
            .arg(&clamd.socket)
            .arg(dir.path())
            .args(hang)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let ready = dir.path().join("ready");
        eventually("the held scanner", Duration::from_secs(20), || {
            ready.exists().then_some(())
        });
        HeldScanner {
            _clamd: clamd,
            proxy,
            dir,
        }
    }

    fn table(&self, timeout: &str, extra: &str) -> String {
        format!(
            "[scan]\nclamd = {:?}\ntimeout = \"{timeout}\"\nretry_first = \"1s\"\nretry_max = \"2s\"\n{extra}",
            self.dir.path().join("held.sock").display().to_string()
        )
    }

    fn scanning(&self) -> bool {
        self.dir.path().join("scanning").exists()
    }

    fn release(&self) {
        fs::write(self.dir.path().join("release"), b"").unwrap();
    }
}

const JUKI_RULE: &str = r#"
[[check]]
name = "juki-fixed"
box = "inbox"
patterns = ["JUKI_*"]
format = { encoding = "shift_jis", line_ending = "crlf", records = "fixed", record_length = 24, kind_field = [0, 1], header = "1", data = "2", trailer = "8", count_field = [1, 6] }
"#;

/// A 住基 fixed-length file whose trailer's count is wrong.
fn bad_juki() -> Vec<u8> {
    let rec = |kind: u8, body: &[u8]| {
        let mut r = vec![kind];
        r.extend_from_slice(body);
        r.resize(24, b' ');
        r.extend_from_slice(b"\r\n");
        r
    };
    let mut f = rec(b'1', b"032018");
    f.extend(rec(b'2', b"0001"));
    f.extend(rec(b'8', b"000009"));
    f
}

fn get_fails(d: &Daemon, user: &str, path: &str) -> bool {
    let out = d.sftp(user, format!("get {path} got.bin\n").as_bytes(), &[]);
    !out.status.success()
}

#[test]
fn a_file_renamed_while_it_is_checked_is_checked_under_its_new_name() {
    // Finding 3: the verdict is for the name the file has when it is
    // settled. Renamed during its scan to a name the 住基 rule selects,
    // it is checked again under that name, and refused.
    let scanner = HeldScanner::start(None);
    let d = Daemon::start_with(
        default_tenants(),
        &format!("{}\n{JUKI_RULE}", scanner.table("60s", "")),
    );
    let final_name = "JUKI_032018_20261201093000.DAT";
    fs::write(d.work.join("race0.tmp"), bad_juki()).unwrap();
    d.sftp_ok("032018-juki", "put race0.tmp /inbox/race0.tmp\n");
    eventually("the scan under way", Duration::from_secs(30), || {
        scanner.scanning().then_some(())
    });
    d.sftp_ok(
        "032018-juki",
        &format!("rename /inbox/race0.tmp /inbox/{final_name}\n"),
    );
    scanner.release();
    let out = eventually("the outcome", Duration::from_secs(30), || {
        outcome_for(&d, final_name).into_iter().next()
    });
    assert_eq!(out["event"], "file_rejected", "{out}");
    assert!(
        out["checks"].to_string().contains("rule:juki-fixed"),
        "{out}"
    );
    assert!(
        outcome_for(&d, "race0.tmp").is_empty(),
        "no verdict for the old name"
    );
    assert!(get_fails(&d, "032018-zei", &format!("/inbox/{final_name}")));
}

#[test]
fn a_stored_file_renamed_to_another_suffix_is_checked_again() {
    // Finding 9: an executable stored as tool.bin and renamed meibo.csv
    // is checked as a .csv, and refused.
    let clamd = TestClamd::start("64M");
    let d = Daemon::start_with(default_tenants(), &clamd.scan_table(""));
    let mut elf = b"\x7fELF\x02\x01\x01\x00".to_vec();
    elf.extend(clean(4096, 3));
    fs::write(d.work.join("tool.bin"), &elf).unwrap();
    d.sftp_ok("032018-juki", "put tool.bin /inbox/tool.bin\n");
    let first = eventually("tool.bin checked", Duration::from_secs(30), || {
        outcome_for(&d, "tool.bin").into_iter().next()
    });
    assert_eq!(first["event"], "file_checked", "{first}");
    d.sftp_ok("032018-juki", "rename /inbox/tool.bin /inbox/meibo.csv\n");
    let out = eventually("meibo.csv checked", Duration::from_secs(30), || {
        outcome_for(&d, "meibo.csv").into_iter().next()
    });
    assert_eq!(out["event"], "file_rejected", "{out}");
    assert!(get_fails(&d, "032018-zei", "/inbox/meibo.csv"));
}

/// The cipher suite a TLS 1.2 client offering `ciphers` (in its order of
/// preference) gets from `port`, sending `127.0.0.1` as SNI as clients
/// that reach a server by its address may.
fn cipher_chosen(port: &str, ciphers: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-tls1_2", "-cipher", ciphers, "-servername", "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Cipher    :"))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|| panic!("no cipher in: {text}"))
}

#[test]
fn every_tls_door_chooses_the_cipher_and_logs_nothing_of_an_address_as_sni() {
    // Finding 15: the server's order decides at the web and FTPS doors,
    // and a client sending an IP address as SNI is not a warning.
    let w = AllDoors::start("");
    let d = &w.d;
    let web = d.web_addr("staff").rsplit(':').next().unwrap().to_string();
    let implicit = d.ftps_port("implicit");
    let strongest = "ECDHE-ECDSA-AES256-GCM-SHA384";
    for port in [&web, &implicit] {
        for offer in [
            "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
        ] {
            assert_eq!(
                cipher_chosen(port, offer),
                strongest,
                "port {port}, offered {offer}"
            );
        }
    }
    assert!(
        !d.log_text().contains("Illegal SNI"),
        "a warning for what clients normally do"
    );
}

#[test]
fn a_web_upload_over_the_limit_is_recorded_as_a_refusal_with_its_reason() {
    // Finding 11: the record says it was refused for its size, not that
    // the browser's upload ended; and the same when the size is announced
    // up front (Content-Length) or found as the bytes arrive.
    let (d, cert, _dir) = web_world("max_upload_size = \"1MiB\"\n", "");
    let b = Browser::new(&d.web_addr("staff"), &cert);
    assert_eq!(b.login(MADOGUCHI, PW, "").status, 303);
    let token = b.csrf("/box/inbox");
    // Within web.max_upload_size + web.max_form_size, so the body is read
    // and the size found as it arrives.
    let near = d.work.join("near.bin");
    fs::write(&near, common::pseudo_random((1 << 20) + 4096, 5)).unwrap();
    let a = b.upload("/inbox", &near, Some(&token));
    assert_eq!(a.status, 413, "{a:?}");
    // Announced larger than both: refused before it is read.
    let far = d.work.join("far.bin");
    fs::write(&far, common::pseudo_random(2 << 20, 6)).unwrap();
    let a = b.upload("/inbox", &far, Some(&token));
    assert_eq!(a.status, 413, "{a:?}");
    let refused = eventually("two refusals", Duration::from_secs(20), || {
        let r: Vec<Value> = d
            .audit_query("operation_refused")
            .into_iter()
            .filter(|e| e["op"] == "upload")
            .collect();
        (r.len() >= 2).then_some(r)
    });
    for r in &refused {
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("web.max_upload_size"),
            "{r}"
        );
    }
    assert!(
        !d.audit_query("upload_interrupted")
            .iter()
            .any(|e| e["reason"].as_str().unwrap_or("").contains("ended before")),
        "{:?}",
        d.audit_query("upload_interrupted")
    );
}

#[test]
fn a_file_the_scanner_never_answers_neither_holds_others_back_nor_waits_forever() {
    // Finding 13: one file whose scan always times out. Another
    // municipality's file uploaded after it is checked meanwhile, and the
    // stuck one is held for the operator after scan.max_attempts tries.
    let scanner = HeldScanner::start(Some("STUCK-SCAN-MARKER"));
    let d = Daemon::start_with(
        default_tenants(),
        &scanner.table("2s", "max_attempts = 2\n"),
    );
    let mut stuck = b"STUCK-SCAN-MARKER\n".to_vec();
    stuck.extend(clean(10_000, 4));
    fs::write(d.work.join("stuck.csv"), &stuck).unwrap();
    fs::write(d.work.join("other.csv"), clean(10_000, 5)).unwrap();
    d.sftp_ok("032018-juki", "put stuck.csv /inbox/stuck.csv\n");
    d.wait_event("the stuck scan's first timeout", |e| {
        e["event"] == "scan_unavailable"
    });
    d.sftp_ok("011002-juki", "put other.csv /inbox/other.csv\n");
    let other = eventually(
        "the other municipality's file",
        Duration::from_secs(30),
        || outcome_for(&d, "other.csv").into_iter().next(),
    );
    assert_eq!(other["event"], "file_checked", "{other}");
    let held = eventually("the stuck file held", Duration::from_secs(60), || {
        outcome_for(&d, "stuck.csv").into_iter().next()
    });
    assert_eq!(held["event"], "file_quarantined", "{held}");
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("scan.max_attempts"),
        "{held}"
    );
    let list = d.ctl_ok(&["quarantine", "list"]);
    assert!(list.contains("stuck.csv"), "{list}");
}

/// A session of one door held open across a change the test makes: it
/// acts once, waits for the gate file, acts again, and says how that went.
struct Held {
    door: &'static str,
    child: Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Held {
    fn next(&mut self) -> Value {
        let line = self.lines.next().unwrap().unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Whether the second act succeeded, and what the client was told.
    fn after(mut self) -> (bool, String) {
        let v = self.next();
        let _ = self.child.wait();
        match self.door {
            "sftp" => (
                v["after_ok"] == true,
                v["message"].as_str().unwrap_or("").to_string(),
            ),
            _ => (v["ok"] == true, v["reply"].to_string()),
        }
    }
}

/// Every door's world: 札幌市's `011002-madoguchi` logs in over SFTP
/// (its key), FTPS and HTTPS (its passwords).
struct AllDoors {
    d: Daemon,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl AllDoors {
    fn start(more: &str) -> AllDoors {
        let (d, cert, dir) = AllDoors::unstarted(more);
        AllDoors {
            d: d.started(),
            cert,
            _dir: dir,
        }
    }

    /// The daemon configured, not yet started (a test may change its
    /// configuration first), its certificate and the folder that holds it.
    fn unstarted(more: &str) -> (Daemon, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = certificate(dir.path());
        let mut tenants = default_tenants();
        tenants[1].accounts.push((MADOGUCHI, None));
        let text = format!(
            "{}\n{}\n{}{}{more}",
            password_line(MADOGUCHI, PW),
            common::ftps::ftps_password_line(MADOGUCHI, PW),
            web_table(&cert, &key, ""),
            common::ftps::ftps_table(&cert, &key, "")
        );
        (Daemon::unstarted(tenants, "", &text, &[]), cert, dir)
    }

    /// Opens a session of `door` that lists /inbox, waits for `gate`, and
    /// lists it again.
    fn hold(&self, door: &'static str, gate: &std::path::Path) -> Held {
        let mut cmd = match door {
            "sftp" => {
                let mut c = Command::new(PYTHON);
                c.arg(common::PARAMIKO)
                    .args(["127.0.0.1", &self.d.port.to_string(), MADOGUCHI])
                    .arg(&self.d.keys[MADOGUCHI].private)
                    .args(["gated", "/inbox"])
                    .arg(gate);
                c
            }
            _ => {
                let steps = json!([["list", "/inbox"], ["wait", gate], ["list", "/inbox"]]);
                let mut c = Command::new(PYTHON);
                c.arg(common::ftps::FTPS_CLIENT)
                    .args(["127.0.0.1", &self.d.ftps_port("explicit"), MADOGUCHI, PW])
                    .arg(&self.cert)
                    .arg(steps.to_string());
                c
            }
        };
        let mut child = cmd
            .current_dir(&self.d.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut h = Held { door, child, lines };
        let first = h.next();
        let ok = match door {
            "sftp" => first["before"].is_array(),
            _ => first["ok"] == true,
        };
        assert!(ok, "{door}: the session did not start: {first}");
        h
    }
}

#[test]
fn every_door_applies_a_ban_and_a_removal_to_sessions_already_open() {
    // The conformance table: for each door, a session open before the
    // change is refused after it, with the reason, and the refusal is
    // recorded with the same fields whatever the door.
    for change in ["ban", "removal"] {
        let w = AllDoors::start("\n[defender]\nthreshold = 3\n");
        let gate = w.d.work.join(format!("gate-{change}"));
        let mut held = vec![w.hold("sftp", &gate), w.hold("ftps", &gate)];
        let web = Browser::new(&w.d.web_addr("staff"), &w.cert);
        assert_eq!(web.login(MADOGUCHI, PW, "").status, 303);
        assert_eq!(web.get("/box/inbox/").status, 200);

        match change {
            "ban" => {
                // Three wrong passwords on another connection ban the
                // address every session above comes from.
                let other = Browser::new(&w.d.web_addr("staff"), &w.cert);
                for _ in 0..3 {
                    other.login(MADOGUCHI, "wrong", "");
                }
                w.d.wait_event("the ban", |e| e["event"] == "banned");
            }
            _ => {
                let text = fs::read_to_string(&w.d.config).unwrap();
                let kept: Vec<&str> = text
                    .split("[[tenant.account]]")
                    .filter(|block| !block.contains(&format!("user = \"{MADOGUCHI}\"")))
                    .collect();
                fs::write(&w.d.config, kept.join("[[tenant.account]]")).unwrap();
                w.d.ctl_ok(&["reload"]);
            }
        }
        fs::write(&gate, b"").unwrap();
        if let Some(h) = held.iter_mut().find(|h| h.door == "ftps") {
            let waited = h.next();
            assert_eq!(waited["value"], true, "{waited}");
        }
        let expect = if change == "ban" {
            "banned"
        } else {
            "no longer in the configuration"
        };
        for h in held {
            let door = h.door;
            let (ok, told) = h.after();
            assert!(!ok, "{change}: {door} still serves the session");
            assert!(told.contains(expect), "{change}: {door} was told {told}");
        }
        let page = web.get("/box/inbox/");
        assert!(
            page.status == 403 || page.status == 303,
            "{change}: the browser still browses: {}",
            page.status
        );
        // One refusal record per door, with the same fields.
        let refused = eventually("the refusals", Duration::from_secs(20), || {
            let r: Vec<Value> =
                w.d.audit_query("operation_refused")
                    .into_iter()
                    .filter(|e| e["reason"].as_str().unwrap_or("").contains(expect))
                    .collect();
            let doors: std::collections::HashSet<String> = r
                .iter()
                .filter_map(|e| e["protocol"].as_str().map(String::from))
                .collect();
            (doors.contains("sftp") && doors.contains("ftps")).then_some(r)
        });
        let fields = |protocol: &str| -> Vec<String> {
            let e = refused.iter().find(|e| e["protocol"] == protocol).unwrap();
            let mut k: Vec<String> = e.as_object().unwrap().keys().cloned().collect();
            k.retain(|k| !matches!(k.as_str(), "seq" | "ts" | "prev" | "hash" | "path"));
            k.sort();
            k
        };
        assert_eq!(fields("sftp"), fields("ftps"), "{change}: {refused:?}");
    }
}

#[test]
fn a_browser_transfer_is_charged_to_the_accounts_memory_as_sftp_and_ftps_are() {
    // Every door charges a transfer's working set (TRANSFER_MEMORY,
    // 1.5 MiB) to the account and the daemon. With 4 MiB for the account
    // (2 MiB of it for uploads), an upload held open by a client that
    // stopped sending leaves no room for a second: it is refused naming
    // the limit, and recorded; once the stalled one is cut off, the room
    // is back.
    let (d, cert, _dir) = web_world(
        "",
        "\n[limits]\nmax_account_memory = \"4MiB\"\nidle_timeout = \"8s\"\n",
    );
    let addr = d.web_addr("staff");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let b = Browser::new(&addr, &cert);
    assert_eq!(b.login(MADOGUCHI, PW, "").status, 303);
    let cookie = b.cookie("__Host-renkei").unwrap();
    let token = b.csrf("/box/inbox");
    let script = format!("{}/tests/clients/door_kit.py", env!("CARGO_MANIFEST_DIR"));
    let stalled: Vec<Child> = (0..1)
        .map(|_| {
            Command::new(PYTHON)
                .args([&script, "web-stalled-upload", host, port, &cookie, &token])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    eventually(
        "the stalled upload is charged",
        Duration::from_secs(20),
        || {
            let held = d.status_json()["client_memory"]["held"]
                .as_u64()
                .unwrap_or(0);
            (held >= renkei_core::memory::TRANSFER_MEMORY).then_some(())
        },
    );
    let local = d.work.join("second.csv");
    fs::write(&local, b"1,2,3\n").unwrap();
    let a = b.upload("/inbox", &local, Some(&token));
    assert_eq!(a.status, 503, "{a:?}");
    assert!(a.body.contains("limits.max_account_memory"), "{a:?}");
    let refused = d.wait_event("the refusal is recorded", |e| {
        e["event"] == "operation_refused" && e["user"] == MADOGUCHI && e["protocol"] == "https"
    });
    assert!(
        refused["reason"]
            .as_str()
            .unwrap_or("")
            .contains("limits.max_account_memory"),
        "{refused}"
    );
    for mut c in stalled {
        c.wait().unwrap();
    }
    eventually(
        "the stalled upload gave its memory back",
        Duration::from_secs(20),
        || (d.status_json()["client_memory"]["held"].as_u64() == Some(0)).then_some(()),
    );
    let a = b.upload("/inbox", &local, Some(&token));
    assert_eq!(a.status, 200, "{a:?}");
}
