//! The HTTPS front door on separated networks (decision 0011): each
//! segment's web listener serves that segment's accounts only, from its
//! networks only; a lane file is sent, approved (with a second factor) and
//! received in the browser through the same core as over SFTP. And the
//! second factors themselves: TOTP codes (wrong, replayed, right) and
//! client certificates pinned by fingerprint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::web::{Browser, certificate, password_line, url};
use common::{Daemon, default_tenants, pseudo_random};
use sha2::{Digest, Sha256};

const PW: &str = "segment-staff-password";
/// The approver's TOTP secret (base32 of 20 bytes).
const TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

struct World {
    d: Daemon,
    cert: std::path::PathBuf,
    client: (std::path::PathBuf, std::path::PathBuf),
    other_client: (std::path::PathBuf, std::path::PathBuf),
    _dir: tempfile::TempDir,
}

/// A client certificate (cert, key) and its SHA-256 fingerprint.
fn client_cert(
    dir: &std::path::Path,
    name: &str,
) -> ((std::path::PathBuf, std::path::PathBuf), String) {
    let made =
        rcgen::generate_simple_self_signed(vec![format!("{name}.madoguchi.example")]).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    fs::write(&c, made.cert.pem()).unwrap();
    fs::write(&k, made.signing_key.serialize_pem()).unwrap();
    let fp = hex::encode(Sha256::digest(made.cert.der()));
    ((c, k), fp)
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let (client, fp) = client_cert(dir.path(), "terminal-1");
    let (other_client, _) = client_cert(dir.path(), "terminal-2");
    let pw = |u: &str| password_line(u, PW);
    let extra = format!(
        r#"[[tenant.account]]
user = "011002-terminal"
web_client_cert = "{fp}"

[web]
listen = ["127.0.0.1:0"]
tls_cert = "{cert}"
tls_key = "{key}"

[[segment]]
name = "standard"
label = "標準システム系"
listen = ["127.0.0.2:0"]
web_listen = ["127.0.0.2:0"]
networks = ["127.0.0.2/32", "127.0.0.3/32"]

[[segment.account]]
user = "std-ope"
{std_ope}

[[segment.account]]
user = "std-kakarichou"
{kakarichou}
web_totp = "{TOTP}"

[[segment]]
name = "chukan"
label = "統合専用端末系"
listen = ["127.0.0.3:0"]
web_listen = ["127.0.0.3:0"]
networks = ["127.0.0.3/32"]

[[segment.account]]
user = "chukan-ope"
{chukan_ope}

[[lane]]
name = "kanyusha-down"
from = "standard"
to = "chukan"
senders = ["std-ope"]
receivers = ["chukan-ope"]
approvers = ["std-kakarichou"]
"#,
        cert = cert.display(),
        key = key.display(),
        std_ope = pw("std-ope"),
        kakarichou = pw("std-kakarichou"),
        chukan_ope = pw("chukan-ope"),
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    World {
        d,
        cert,
        client,
        other_client,
        _dir: dir,
    }
}

impl World {
    fn at(&self, door: &str, from: &str) -> Browser {
        Browser::new(&self.d.web_addr(door), &self.cert).from(from)
    }
}

fn totp_now(step_offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD.decode(TOTP.as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    renkei_core::door::proof::totp_at(&secret, ((now / 30) + step_offset) as u64)
}

#[test]
fn each_segments_web_listener_serves_its_own_accounts_only() {
    let w = world();
    // Inside standard's networks, but chukan's account: refused at login.
    let b = w.at("segment:standard", "127.0.0.3");
    let a = b.login("chukan-ope", PW, "");
    assert_eq!(a.status, 401, "{a:?}");
    // The municipalities' 窓口 account is not served there either.
    let a = b.login("011002-terminal", PW, "");
    assert_eq!(a.status, 401, "{a:?}");
    // Nor is a segment's account on the municipalities' listener.
    let staff = w.at("staff", "127.0.0.1");
    assert_eq!(staff.login("std-ope", PW, "").status, 401);
    // From outside chukan's networks its listener does not answer at all.
    let outside = w.at("segment:chukan", "127.0.0.2");
    assert_eq!(outside.get("/login").status, 0, "dropped at accept");
    // Its own listener, from its own network: in.
    let own = w.at("segment:chukan", "127.0.0.3");
    assert_eq!(own.login("chukan-ope", PW, "").status, 303);
    let failed = w.d.audit_query("login_failed");
    let reasons: Vec<&str> = failed.iter().filter_map(|r| r["reason"].as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains(
            "chukan-ope of segment chukan is not served on the web listener of segment standard"
        )),
        "{reasons:?}"
    );
    let refused = w.d.audit_query("connection_refused");
    assert!(
        refused.iter().any(|r| r["protocol"] == "https"
            && r["reason"]
                .as_str()
                .unwrap_or("")
                .contains("segment chukan")),
        "{refused:?}"
    );
}

#[test]
fn a_lane_file_is_sent_approved_and_received_in_the_browser() {
    let w = world();
    let sender = w.at("segment:standard", "127.0.0.2");
    assert_eq!(sender.login("std-ope", PW, "").status, 303);
    let content = pseudo_random(400_000, 11);
    let name = "加入者情報一括登録_20261202.csv";
    let local = w.d.work.join(name);
    fs::write(&local, &content).unwrap();
    let token = sender.csrf("/box/send/kanyusha-down");
    let a = sender.upload("/send/kanyusha-down", &local, Some(&token));
    assert_eq!(a.status, 200, "{a:?}");

    // The approver: password and a TOTP code.
    let approver = w.at("segment:standard", "127.0.0.2");
    assert_eq!(
        approver.login("std-kakarichou", PW, "").status,
        401,
        "the code is required"
    );
    assert_eq!(
        approver.login("std-kakarichou", PW, &totp_now(0)).status,
        303
    );
    let queue = approver.get("/box/approve/kanyusha-down");
    assert!(queue.body.contains(name), "{}", queue.body);
    assert!(
        queue.body.contains("送付者 / sender std-ope"),
        "{}",
        queue.body
    );
    let inspect = w.d.work.join("inspect.csv");
    let path = format!("/box{}", url(&format!("/approve/kanyusha-down/{name}")));
    assert_eq!(approver.download(&path, &inspect), 200);
    assert_eq!(fs::read(&inspect).unwrap(), content);
    let token = approver.csrf("/box/approve/kanyusha-down");
    let a = approver.post(
        &format!("/decide/kanyusha-down/{}", url(name)),
        &[("csrf", &token), ("decision", "approve")],
    );
    assert_eq!(a.status, 303, "{a:?}");

    // The receiver, on the other network's listener.
    let receiver = w.at("segment:chukan", "127.0.0.3");
    assert_eq!(receiver.login("chukan-ope", PW, "").status, 303);
    let got = w.d.work.join("got.csv");
    let path = format!("/box{}", url(&format!("/receive/kanyusha-down/{name}")));
    assert_eq!(receiver.download(&path, &got), 200);
    assert_eq!(fs::read(&got).unwrap(), content);
    let token = receiver.csrf("/box/receive/kanyusha-down");
    let ack = receiver.post(
        &format!("/delete{}", url(&format!("/receive/kanyusha-down/{name}"))),
        &[("csrf", &token)],
    );
    assert_eq!(ack.status, 303, "{ack:?}");

    // The one approval needed delivers the file: the record names who
    // approved, from where and over which door.
    let delivered = w.d.audit_query("lane_delivered");
    let rec = delivered.first().expect("lane_delivered");
    assert_eq!(rec["user"], "std-kakarichou");
    assert_eq!(rec["protocol"], "https");
    assert_eq!(rec["approved_by"][0], "std-kakarichou");
    assert_eq!(w.d.audit_query("lane_acknowledged").len(), 1);
    let login = w.d.audit_query("login_succeeded");
    assert!(
        login
            .iter()
            .any(|r| r["user"] == "std-kakarichou" && r["method"] == "password+totp")
    );
}

#[test]
fn a_rejection_needs_a_reason_and_reaches_the_senders_receipt() {
    let w = world();
    let sender = w.at("segment:standard", "127.0.0.2");
    assert_eq!(sender.login("std-ope", PW, "").status, 303);
    let local = w.d.work.join("wrong.csv");
    fs::write(&local, b"not this one\n").unwrap();
    let token = sender.csrf("/box/send/kanyusha-down");
    assert_eq!(
        sender
            .upload("/send/kanyusha-down", &local, Some(&token))
            .status,
        200
    );
    let approver = w.at("segment:standard", "127.0.0.2");
    assert_eq!(
        approver.login("std-kakarichou", PW, &totp_now(0)).status,
        303
    );
    let token = approver.csrf("/box/approve/kanyusha-down");
    let empty = approver.post(
        "/decide/kanyusha-down/wrong.csv",
        &[("csrf", &token), ("decision", "reject"), ("reason", " ")],
    );
    assert_eq!(empty.status, 403, "{empty:?}");
    // Refused by the core, and recorded as every refusal is.
    let refused = w.d.wait_event("the refused rejection", |e| {
        e["event"] == "operation_refused" && e["op"] == "reject"
    });
    assert!(
        refused["reason"].as_str().unwrap().contains("reason"),
        "{refused}"
    );
    let a = approver.post(
        "/decide/kanyusha-down/wrong.csv",
        &[
            ("csrf", &token),
            ("decision", "reject"),
            ("reason", "対象月が違います/再送してください"),
        ],
    );
    assert_eq!(a.status, 303, "{a:?}");
    let rejected = w.d.audit_query("lane_rejected");
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("対象月が違います")
    );
    let receipts = sender.get("/box/receipts");
    assert!(receipts.body.contains("wrong.csv"), "{}", receipts.body);
}

#[test]
fn second_factors_wrong_replayed_and_pinned() {
    let mut w = world();
    let b = w.at("segment:standard", "127.0.0.2");
    assert_eq!(b.login("std-kakarichou", PW, "000000").status, 401);
    // The next step's code: valid (within the drift allowed) for a minute,
    // long enough to outlive a restart.
    let code = totp_now(1);
    assert_eq!(b.login("std-kakarichou", PW, &code).status, 303);
    let again = w.at("segment:standard", "127.0.0.2");
    assert_eq!(
        again.login("std-kakarichou", PW, &code).status,
        401,
        "a code is used once"
    );
    let failed = w.d.audit_query("login_failed");
    assert!(
        failed
            .iter()
            .any(|r| r["reason"].as_str().unwrap_or("").contains("replayed"))
    );
    // Used codes are kept in the journal: a restart does not make one
    // usable again.
    w.d.restart();
    let after = w.at("segment:standard", "127.0.0.2");
    assert_eq!(
        after.login("std-kakarichou", PW, &code).status,
        401,
        "a used code works again after a restart"
    );

    // The 窓口 terminal's certificate is its login.
    let staff = w.d.web_addr("staff");
    let with = Browser::new(&staff, &w.cert).with_client_cert(&w.client.0, &w.client.1);
    assert_eq!(with.login("011002-terminal", "", "").status, 303);
    assert_eq!(with.get("/box/inbox").status, 200);
    let without = Browser::new(&staff, &w.cert);
    assert_eq!(without.login("011002-terminal", "", "").status, 401);
    let other =
        Browser::new(&staff, &w.cert).with_client_cert(&w.other_client.0, &w.other_client.1);
    assert_eq!(other.login("011002-terminal", "", "").status, 401);
    let logins = w.d.audit_query("login_succeeded");
    assert!(
        logins
            .iter()
            .any(|r| r["user"] == "011002-terminal" && r["method"] == "client certificate")
    );
}
