//! The HTTPS front door (オンラインファイル連携) driven with curl as a
//! browser: a 窓口 account of 札幌市 logs in with its password, uploads
//! and downloads through the same core as SFTP, and every way a hostile
//! page or person could misuse it is refused: forged requests, another
//! municipality's files, path tricks, old TLS, guessing passwords, uploads
//! over the limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::web::{Browser, certificate, password_line, url, web_table};
use common::{Daemon, default_tenants, pseudo_random};

const PASSWORD: &str = "madoguchi-correct-horse";
const USER: &str = "011002-madoguchi";

struct World {
    d: Daemon,
    cert: std::path::PathBuf,
    _certs: tempfile::TempDir,
}

/// 盛岡市 and 札幌市 as in every test, plus 札幌市's 窓口 account with a
/// web login only; `web` is added to the `[web]` table, `more` after it.
fn world(web: &str, more: &str) -> World {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let extra = format!(
        "[[tenant.account]]\nuser = \"{USER}\"\n{}\n{}{more}",
        password_line(USER, PASSWORD),
        web_table(&cert, &key, web)
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    World {
        d,
        cert,
        _certs: certs,
    }
}

impl World {
    fn browser(&self) -> Browser {
        Browser::new(&self.d.web_addr("staff"), &self.cert)
    }

    fn logged_in(&self) -> Browser {
        let b = self.browser();
        let a = b.login(USER, PASSWORD, "");
        assert_eq!(a.status, 303, "login: {a:?}");
        b
    }
}

/// Every file under the data directory, read whole.
fn data_files(dir: &Path, out: &mut Vec<Vec<u8>>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            data_files(&p, out);
        } else if let Ok(b) = fs::read(&p) {
            out.push(b);
        }
    }
}

#[test]
fn a_browser_upload_is_the_same_file_over_sftp_and_never_plaintext_at_rest() {
    let w = world("", "");
    let b = w.logged_in();
    let marker = b"MARKER-PLAINTEXT-0123456789-WEB";
    let mut content = marker.repeat(20_000);
    content.extend(pseudo_random(3 * 1024 * 1024, 7));
    let name = "住民基本台帳_011002_20261202.csv";
    let local = w.d.work.join(name);
    fs::write(&local, &content).unwrap();
    let token = b.csrf("/box/inbox");
    let a = b.upload("/inbox", &local, Some(&token));
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body.contains(name), "{}", a.body);

    // Over SFTP, as the municipality's batch account: byte for byte.
    fs::remove_file(&local).unwrap();
    w.d.sftp_ok("011002-juki", &format!("get /inbox/{name}"));
    assert_eq!(fs::read(w.d.work.join(name)).unwrap(), content);

    // And back through the browser.
    let back = w.d.work.join("back.csv");
    assert_eq!(
        b.download(&format!("/box{}", url(&format!("/inbox/{name}"))), &back),
        200
    );
    assert_eq!(fs::read(&back).unwrap(), content);

    // The trail says who, from where, and that it came over https.
    let committed = w.d.audit_query("upload_committed");
    let rec = committed
        .iter()
        .find(|r| r["path"] == name)
        .expect("upload_committed");
    assert_eq!(rec["user"], USER);
    assert_eq!(rec["protocol"], "https");
    assert_eq!(rec["tenant"], "011002");
    let logins = w.d.audit_query("login_succeeded");
    assert!(
        logins
            .iter()
            .any(|r| r["user"] == USER && r["method"] == "password")
    );

    // Nothing under the data directory holds the plaintext.
    let mut files = Vec::new();
    data_files(&w.d.data, &mut files);
    assert!(!files.is_empty());
    for f in &files {
        assert!(
            !f.windows(marker.len()).any(|win| win == marker),
            "plaintext found at rest"
        );
    }
}

#[test]
fn outbox_files_download_and_are_acknowledged_in_the_browser() {
    let w = world("", "");
    let content = pseudo_random(700_000, 3);
    w.d.put("011002", "outbox", "被保険者情報_011002.csv", &content);
    let b = w.logged_in();
    let page = b.get("/box/outbox");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("被保険者情報_011002.csv"),
        "{}",
        page.body
    );
    let got = w.d.work.join("got.csv");
    let path = format!("/box{}", url("/outbox/被保険者情報_011002.csv"));
    assert_eq!(b.download(&path, &got), 200);
    assert_eq!(fs::read(&got).unwrap(), content);
    let token = b.csrf("/box/outbox");
    let ack = b.post(
        &format!("/delete{}", url("/outbox/被保険者情報_011002.csv")),
        &[("csrf", &token)],
    );
    assert_eq!(ack.status, 303, "{ack:?}");
    assert!(common::names(&w.d.ls("011002"), "outbox", "stored").is_empty());
    let deleted = w.d.audit_query("deleted");
    let ack = deleted
        .iter()
        .find(|r| r["path"] == "被保険者情報_011002.csv")
        .expect("deleted record");
    assert_eq!(ack["acknowledged"], true);
    assert_eq!(ack["protocol"], "https");
    assert_eq!(ack["user"], USER);
    let downloaded = w.d.audit_query("downloaded");
    assert!(
        downloaded
            .iter()
            .any(|r| r["path"] == "被保険者情報_011002.csv" && r["protocol"] == "https")
    );
}

#[test]
fn forged_requests_are_refused_and_change_nothing() {
    let w = world("", "");
    w.d.put("011002", "inbox", "keep.csv", b"keep me\n");
    let b = w.logged_in();
    for token in [
        "",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let a = b.post("/delete/inbox/keep.csv", &[("csrf", token)]);
        assert_eq!(a.status, 403, "token {token:?}: {a:?}");
    }
    let missing = b.request("/delete/inbox/keep.csv", &["-X", "POST"]);
    assert!(
        matches!(missing.status, 403 | 400 | 415 | 422),
        "{missing:?}"
    );
    assert_eq!(
        common::names(&w.d.ls("011002"), "inbox", "stored"),
        vec!["keep.csv"]
    );

    // An upload without the token stores nothing.
    let local = w.d.work.join("forged.csv");
    fs::write(&local, b"forged\n").unwrap();
    let a = b.upload("/inbox", &local, None);
    assert_eq!(a.status, 403, "{a:?}");
    let a = b.upload("/inbox", &local, Some("wrong"));
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(
        common::names(&w.d.ls("011002"), "inbox", "stored"),
        vec!["keep.csv"]
    );

    // A login form posted from elsewhere (no token cookie) is refused.
    let other = w.browser();
    let a = other.post(
        "/login",
        &[("token", "x"), ("user", USER), ("password", PASSWORD)],
    );
    assert_eq!(a.status, 403, "{a:?}");

    // Logging out ends the session: the cookie no longer opens anything.
    let token = b.csrf("/box/inbox");
    assert_eq!(b.post("/logout", &[("csrf", &token)]).status, 303);
    assert_eq!(b.get("/box/inbox").status, 303);
    assert!(
        w.d.audit_query("web_session_ended")
            .iter()
            .any(|r| r["user"] == USER && r["reason"] == "logout")
    );
}

#[test]
fn cookies_and_headers_keep_the_session_to_this_site() {
    let w = world("", "");
    let b = w.browser();
    let login = b.get("/login");
    let a = b.login(USER, PASSWORD, "");
    let cookie = a
        .headers
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: __host-renkei=")
        })
        .unwrap_or_else(|| panic!("{}", a.headers));
    for flag in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    for h in [&login.headers, &a.headers] {
        let lower = h.to_ascii_lowercase();
        assert!(lower.contains("strict-transport-security: max-age="), "{h}");
        assert!(
            lower.contains("content-security-policy: default-src 'self'"),
            "{h}"
        );
        assert!(lower.contains("x-frame-options: deny"), "{h}");
        assert!(lower.contains("x-content-type-options: nosniff"), "{h}");
    }
    // No inline script and nothing from elsewhere on the page.
    assert!(!login.body.contains("<script>"), "{}", login.body);
    assert!(!login.body.contains("http://") && !login.body.contains("https://"));
}

#[test]
fn another_municipalitys_file_cannot_be_named_by_any_url() {
    let w = world("", "");
    let secret = b"MORIOKA-SECRET-ROW\n";
    w.d.put("032018", "inbox", "secret.csv", secret);
    w.d.put("032018", "outbox", "secret-out.csv", secret);
    let b = w.logged_in();
    let token = b.csrf("/box/inbox");
    let tries = [
        "/box/inbox/secret.csv",
        "/box/outbox/secret-out.csv",
        "/box/inbox/..%2F..%2F032018%2Finbox%2Fsecret.csv",
        "/box/inbox/%2e%2e/%2e%2e/032018/inbox/secret.csv",
        "/box/032018/inbox/secret.csv",
        "/box//032018/inbox/secret.csv",
        "/box/inbox/secret.csv%00",
        "/box/inbox/..%5C..%5Csecret.csv",
        "/box/receipts/..%2Finbox%2Fsecret.csv",
    ];
    for t in tries {
        // As written: curl would otherwise resolve the dots itself.
        let a = b.request(t, &["--path-as-is"]);
        assert!(matches!(a.status, 400 | 404), "{t}: {a:?}");
        assert!(!a.body.contains("MORIOKA-SECRET"), "{t}");
    }
    for t in ["/delete/inbox/secret.csv", "/delete/outbox/secret-out.csv"] {
        let a = b.post(t, &[("csrf", &token)]);
        assert_eq!(a.status, 404, "{t}: {a:?}");
    }
    let entries = w.d.ls("032018");
    assert_eq!(
        common::names(&entries, "inbox", "stored"),
        vec!["secret.csv"]
    );
    assert_eq!(
        common::names(&entries, "outbox", "stored"),
        vec!["secret-out.csv"]
    );
    // Dots above the top stay at the caller's own top (as SFTP's
    // realpath does): its own boxes, nobody else's.
    let top = b.request("/box/%2e%2e/%2e%2e/", &["--path-as-is"]);
    assert!(
        top.body.contains("inbox/") && !top.body.contains("032018"),
        "{top:?}"
    );
    // The listing shows this municipality's files only.
    let list = b.get("/box/inbox");
    assert!(!list.body.contains("secret.csv"), "{}", list.body);
}

/// What `openssl s_client` says to one protocol version and cipher list.
fn handshake(addr: &str, args: &[&str]) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-brief"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.contains("CONNECTION ESTABLISHED")
}

#[test]
fn old_tls_versions_and_weak_suites_are_refused() {
    let w = world("", "");
    let addr = w.d.web_addr("staff");
    // The client is told to offer what it has, weak ones included.
    let weak = ["-cipher", "ALL:@SECLEVEL=0"];
    assert!(handshake(&addr, &["-tls1_3"]), "TLS 1.3 works");
    assert!(
        handshake(
            &addr,
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]
        ),
        "TLS 1.2 with an AEAD suite works"
    );
    for v in ["-tls1", "-tls1_1"] {
        assert!(!handshake(&addr, &[v, weak[0], weak[1]]), "{v} refused");
    }
    for suite in [
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "AES128-GCM-SHA256",
        "AES128-SHA",
        "DES-CBC3-SHA",
    ] {
        let cipher = format!("{suite}:@SECLEVEL=0");
        assert!(
            !handshake(&addr, &["-tls1_2", "-cipher", &cipher]),
            "{suite} refused"
        );
    }
}

#[test]
fn guessing_passwords_locks_the_address_without_saying_what_was_wrong() {
    let w = world("", "[defender]\nthreshold = 3\nban_time = \"1h\"\n");
    let b = w.browser();
    let wrong_password = b.login(USER, "not-the-password", "");
    let unknown_user = b.login("nobody", PASSWORD, "");
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    // The same words whatever was wrong.
    let msg = |a: &common::web::Answer| {
        a.body
            .split("class=\"notice error\"")
            .nth(1)
            .map(|s| s.split("</p>").next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert!(!msg(&wrong_password).is_empty());
    assert_eq!(msg(&wrong_password), msg(&unknown_user));
    let third = b.login(USER, "still-wrong", "");
    assert_eq!(third.status, 401);
    // Now locked: the page says so and until when, even to the right password.
    let locked = b.get("/login");
    assert_eq!(locked.status, 403, "{locked:?}");
    assert!(locked.body.contains("停止"), "{}", locked.body);
    let right = b.login(USER, PASSWORD, "");
    assert_eq!(right.status, 403);
    let bans = w.d.ctl_ok(&["bans"]);
    assert!(bans.contains("127.0.0.1"), "{bans}");
    let failed = w.d.audit_query("login_failed");
    let reasons: Vec<&str> = failed.iter().filter_map(|r| r["reason"].as_str()).collect();
    assert!(reasons.contains(&"wrong password"), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("unknown user")),
        "{reasons:?}"
    );
}

#[test]
fn an_upload_over_the_limit_is_refused_and_leaves_nothing() {
    let w = world("max_upload_size = \"1MiB\"\n", "");
    let b = w.logged_in();
    let before = w.d.vault_files().len();
    let local = w.d.work.join("big.bin");
    fs::write(&local, pseudo_random(2 * 1024 * 1024 + 10, 5)).unwrap();
    let token = b.csrf("/box/inbox");
    let a = b.upload("/inbox", &local, Some(&token));
    assert_eq!(a.status, 413, "{a:?}");
    assert!(a.body.contains("max_upload_size"), "{}", a.body);
    // Below the limit the same path works (the refusal was the size).
    let small = w.d.work.join("small.bin");
    fs::write(&small, pseudo_random(100_000, 6)).unwrap();
    assert_eq!(b.upload("/inbox", &small, Some(&token)).status, 200);
    let entries = w.d.ls("011002");
    assert_eq!(
        common::names(&entries, "inbox", "stored"),
        vec!["small.bin"]
    );
    assert!(common::names(&entries, "inbox", "partial").is_empty());
    assert_eq!(
        w.d.vault_files().len(),
        before + 1,
        "only small.bin is stored"
    );
}

#[test]
fn the_certificate_is_replaced_on_reload_and_a_broken_one_is_refused() {
    let w = world("", "");
    let status = |d: &Daemon| -> serde_json::Value { d.status_json() };
    let before = status(&w.d)["web"]["certificate_sha256"].clone();
    // A new pair written over the old files, as an operator renews it.
    let renewed = tempfile::tempdir().unwrap();
    let (new_cert, new_key) = certificate(renewed.path());
    let web_cfg = fs::read_to_string(&w.d.config).unwrap();
    let cert_path = web_cfg
        .lines()
        .find_map(|l| l.strip_prefix("tls_cert = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .unwrap();
    let key_path = cert_path.replace("web.crt", "web.key");
    fs::copy(&new_cert, &cert_path).unwrap();
    fs::copy(&new_key, &key_path).unwrap();
    w.d.ctl_ok(&["reload"]);
    let after = status(&w.d)["web"]["certificate_sha256"].clone();
    assert_ne!(before, after);
    let b = Browser::new(&w.d.web_addr("staff"), &new_cert);
    assert_eq!(
        b.get("/login").status,
        200,
        "served with the new certificate"
    );
    // A broken certificate: the reload says so, the good one keeps serving.
    fs::write(&cert_path, b"-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    let out = w.d.ctl_ok(&["reload"]);
    assert!(out.contains("web certificate was not replaced"), "{out}");
    assert_eq!(status(&w.d)["web"]["certificate_sha256"], after);
    assert_eq!(b.get("/login").status, 200);
}

#[test]
fn rules_can_keep_an_account_off_the_browser() {
    // The baseline, with the browser closed to 札幌市's 窓口 account.
    let rules = format!(
        "[[rule]]\naction = \"deny\"\naccount = \"{USER}\"\nprotocol = \"https\"\nop = [\"connect\", \"login\"]\nreason = \"this terminal uses SFTP only\"\n\n{}",
        Daemon::baseline_rules()
    );
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path());
    let extra = format!(
        "[[tenant.account]]\nuser = \"{USER}\"\n{}\n{}",
        password_line(USER, PASSWORD),
        web_table(&cert, &key, "")
    );
    let d = Daemon::start_with_policies(default_tenants(), &extra, &[("10-web.toml", &rules)]);
    let b = Browser::new(&d.web_addr("staff"), &cert);
    assert_eq!(b.login(USER, PASSWORD, "").status, 401);
    let failed = d.wait_event("refused by the rule", |e| {
        e["event"] == "login_failed" && e["protocol"] == "https"
    });
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("this terminal uses SFTP only"), "{reason}");
    assert!(
        failed["rule"].as_str().unwrap().contains("10-web.toml:1"),
        "{failed}"
    );
    // `policy explain` answers for the browser too.
    let (ok, out) = d.cli(
        "policy",
        &[
            "explain",
            "--tenant",
            "011002",
            "--user",
            USER,
            "--from",
            "127.0.0.1",
            "--op",
            "login",
            "--protocol",
            "https",
        ],
    );
    assert!(!ok && out.contains("10-web.toml:1"), "{out}");
    let (ok, out) = d.cli(
        "policy",
        &[
            "explain",
            "--tenant",
            "011002",
            "--user",
            USER,
            "--from",
            "127.0.0.1",
            "--op",
            "login",
            "--protocol",
            "sftp",
        ],
    );
    assert!(ok, "{out}");
}
