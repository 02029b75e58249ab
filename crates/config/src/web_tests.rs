//! `[web]` and web logins: what loads, and every mistake named by line.

use super::tests::{err_of, parse};
use super::*;

pub(super) const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0123456789abcdefghijABCDEFGHIJabcdefghijk";

fn with(account: &str, web: &str) -> String {
    format!(
        r#"[server]
data_dir = "/var/lib/renkei"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["10.1.0.0/24"]

[[tenant.account]]
user = "madoguchi"
{account}
{web}"#
    )
}

const WEB: &str =
    "[web]\nlisten = [\"10.1.0.5:443\"]\ntls_cert = \"tls/web.crt\"\ntls_key = \"tls/web.key\"\n";

#[test]
fn a_web_login_loads() {
    let c = parse(&with(
        &format!("web_password = \"{HASH}\"\nweb_totp = \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\"\nweb_client_cert = \"AA:{}\"", "BB:".repeat(30) + "CC"),
        &format!("{WEB}\n[[web.user]]\nuser = \"kansa\"\nrole = \"auditor\"\ntenants = [\"032018\"]\nnetworks = [\"10.1.0.0/24\"]\nweb_password = \"{HASH}\"\n"),
    ))
    .unwrap();
    let (_, a) = c.account("madoguchi").unwrap();
    let login = a.web.as_ref().unwrap();
    assert_eq!(login.totp.as_ref().unwrap().len(), 20);
    assert_eq!(login.client_cert.as_ref().unwrap().len(), 64);
    let w = c.web.as_ref().unwrap();
    assert_eq!(w.tls_cert, Path::new("/etc/renkei/tls/web.crt"));
    assert_eq!(c.web_user("kansa").unwrap().role, WebRole::Auditor);
    assert!(c.summary().contains("https on 10.1.0.5:443"));
}

#[test]
fn a_plain_password_is_refused_and_named() {
    let (line, msg) = err_of(&with("web_password = \"hunter2\"", WEB));
    assert_eq!(line, 11);
    assert!(
        msg.contains("argon2id") && msg.contains("renkei passwd"),
        "{msg}"
    );
}

#[test]
fn totp_mistakes_are_named() {
    let (line, msg) = err_of(&with(
        "web_totp = \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\"",
        WEB,
    ));
    assert_eq!(line, 11);
    assert!(msg.contains("needs web_password"), "{msg}");
    let (_, msg) = err_of(&with(
        &format!("web_password = \"{HASH}\"\nweb_totp = \"not base32!\""),
        WEB,
    ));
    assert!(msg.contains("base32"), "{msg}");
    let (_, msg) = err_of(&with(
        &format!("web_password = \"{HASH}\"\nweb_totp = \"GEZDGNBV\""),
        WEB,
    ));
    assert!(msg.contains("at least 128"), "{msg}");
}

#[test]
fn web_user_mistakes_are_named() {
    let user = |body: &str| with("", &format!("{WEB}\n[[web.user]]\nuser = \"u\"\n{body}"));
    let (_, msg) = err_of(&user(&format!(
        "role = \"admin\"\nnetworks = [\"10.1.0.0/24\"]\nweb_password = \"{HASH}\""
    )));
    assert!(msg.contains("\"auditor\" or \"operator\""), "{msg}");
    let (_, msg) = err_of(&user("role = \"auditor\"\nnetworks = [\"10.1.0.0/24\"]"));
    assert!(msg.contains("could never log in"), "{msg}");
    let (_, msg) = err_of(&user(&format!(
        "role = \"operator\"\ntenants = [\"032018\"]\nnetworks = [\"10.1.0.0/24\"]\nweb_password = \"{HASH}\""
    )));
    assert!(msg.contains("limits auditors only"), "{msg}");
    let (_, msg) = err_of(&user(&format!(
        "role = \"auditor\"\nnetworks = []\nweb_password = \"{HASH}\""
    )));
    assert!(msg.contains("networks is empty"), "{msg}");
    let (_, msg) = err_of(&with(
        "",
        &format!(
            "{WEB}\n[[web.user]]\nuser = \"madoguchi\"\nrole = \"auditor\"\nnetworks = [\"10.1.0.0/24\"]\nweb_password = \"{HASH}\""
        ),
    ));
    assert!(msg.contains("unique"), "{msg}");
}

#[test]
fn limits_and_listeners_are_checked() {
    let (_, msg) = err_of(&with(
        "",
        &format!("{WEB}session_idle = \"2h\"\nsession_absolute = \"1h\"\n"),
    ));
    assert!(msg.contains("session_absolute"), "{msg}");
    let (_, msg) = err_of(&with(
        "",
        "[web]\nlisten = [\"10.1.0.5\"]\ntls_cert = \"a\"\ntls_key = \"b\"\n",
    ));
    assert!(msg.contains("not an address and port"), "{msg}");
    let seg = "\n[[segment]]\nname = \"s\"\nlabel = \"S\"\nlisten = [\"10.2.0.5:22\"]\nweb_listen = [\"10.2.0.5:443\"]\nnetworks = [\"10.2.0.0/24\"]\n";
    let (_, msg) = err_of(&with("", seg));
    assert!(msg.contains("no [web] section"), "{msg}");
}
