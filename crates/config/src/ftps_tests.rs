//! `[ftps]` and FTPS logins: what loads, and every mistake named by line.

use super::tests::{err_of, parse};
use super::web_tests::HASH;
use super::*;

fn with(account: &str, ftps: &str) -> String {
    format!(
        r#"[server]
data_dir = "/var/lib/renkei"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["10.1.0.0/24"]

[[tenant.account]]
user = "juki-batch"
{account}

[ftps]
tls_cert = "tls/ftps.crt"
tls_key = "tls/ftps.key"
{ftps}"#
    )
}

#[test]
fn an_ftps_door_and_login_load() {
    let c = parse(&with(
        &format!("ftps_password = \"{HASH}\"\nftps_client_cert = \"{}\"", "ab".repeat(32)),
        "listen = [\"10.1.0.5:21\"]\nimplicit_listen = [\"10.1.0.5:990\"]\npassive_ports = \"50100-50199\"\npassive_address = \"192.0.2.10\"\nmax_connections = 64\ndata_connect_timeout = \"10s\"\nmax_upload_size = \"4GiB\"\n",
    ))
    .unwrap();
    let (_, a) = c.account("juki-batch").unwrap();
    let login = a.ftps.as_ref().unwrap();
    assert!(login.password.is_some() && login.client_cert.is_some());
    assert!(a.web.is_none());
    let f = c.ftps.as_ref().unwrap();
    assert_eq!(f.passive_ports, 50100..=50199);
    assert_eq!(f.tls_key, Path::new("/etc/renkei/tls/ftps.key"));
    assert_eq!(f.limits.max_connections, 64);
    assert_eq!(f.limits.max_upload_size, 4 << 30);
    assert_eq!(f.implicit_listen.len(), 1);
}

#[test]
fn every_ftps_mistake_is_named_with_its_line() {
    let listen = "listen = [\"10.1.0.5:21\"]\n";
    let cases: Vec<(String, String, usize, &str)> = vec![
        (
            "ftps_password = \"hunter2\"".into(),
            listen.into(),
            11,
            "ftps_password must be an argon2id hash",
        ),
        (
            "ftps_client_cert = \"abc\"".into(),
            listen.into(),
            11,
            "ftps_client_cert must be the certificate's SHA-256",
        ),
        (
            String::new(),
            "passive_ports = \"60000-50000\"\n".to_string() + listen,
            16,
            "lower first",
        ),
        (
            String::new(),
            "passive_ports = \"21-30\"\n".to_string() + listen,
            16,
            "from 1024",
        ),
        (
            String::new(),
            "passive_address = \"ftp.example\"\n".to_string() + listen,
            16,
            "not an IP address",
        ),
        (
            String::new(),
            "listen = [\"10.1.0.5\"]\n".into(),
            16,
            "not an address and port",
        ),
        (
            String::new(),
            String::new(),
            14,
            "neither listen nor implicit_listen",
        ),
        (
            String::new(),
            "max_connections = 0\n".to_string() + listen,
            16,
            "ftps.max_connections must be between",
        ),
        (
            String::new(),
            "data_connect_timeout = \"0s\"\n".to_string() + listen,
            16,
            "ftps.data_connect_timeout",
        ),
        (
            String::new(),
            "passive = true\n".to_string() + listen,
            16,
            "unknown field",
        ),
    ];
    for (account, ftps, want_line, want) in cases {
        let (line, msg) = err_of(&with(&account, &ftps));
        assert!(msg.contains(want), "{want}: got {msg}");
        assert_eq!(line, want_line, "{want}: {msg}");
    }
}

#[test]
fn a_segment_account_cannot_have_an_ftps_login() {
    let text = format!(
        "[server]\ndata_dir = \"/d\"\n\n[[segment]]\nname = \"chukan\"\nlabel = \"中間サーバー系\"\nlisten = [\"10.9.0.1:22\"]\nnetworks = [\"10.9.0.0/24\"]\n\n[[segment.account]]\nuser = \"seg-a\"\nftps_password = \"{HASH}\"\n"
    );
    let (line, msg) = err_of(&text);
    assert_eq!(line, 12, "{msg}");
    assert!(
        msg.contains("FTPS serves municipalities' accounts only"),
        "{msg}"
    );
}
