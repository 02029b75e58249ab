//! `[[notify]]` and `[server]` host keys and disk settings: what loads,
//! and every mistake named by line.

use super::*;

fn parse_in(dir: &Path, text: &str) -> Result<Config, ConfigError> {
    Config::parse("renkei.toml", text, dir)
}

fn err_in(dir: &Path, text: &str) -> (usize, String) {
    match parse_in(dir, text) {
        Err(ConfigError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

const HEAD: &str = "[server]\ndata_dir = \"/var/lib/renkei\"\n";

fn with_notify(notify: &str) -> String {
    format!("{HEAD}\n[[notify]]\nname = \"ops\"\n{notify}")
}

#[test]
fn a_mail_channel_loads_with_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp.pw"), "secret\n").unwrap();
    let c = parse_in(
        dir.path(),
        &with_notify("smtp = \"mail.example.lg.jp\"\nsmtp_user = \"renkei\"\nsmtp_password_file = \"smtp.pw\"\nfrom = \"renkei@example.lg.jp\"\nto = [\"ops@example.lg.jp\"]\n"),
    )
    .unwrap();
    let notify::Destination::Mail(m) = &c.notify[0].to else {
        panic!("a mail channel")
    };
    assert_eq!((m.port, m.tls), (587, notify::SmtpTls::StartTls));
    assert_eq!(m.login, Some(("renkei".into(), "secret".into())));
    assert!(c.notify[0].events.contains(&"disk_space_low".to_string()));
}

#[test]
fn notify_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("hook.key"), "0123456789abcdef0123").unwrap();
    let cases = [
        (
            "webhook = \"https://h/x\"\nsecret_file = \"hook.key\"\nevents = [\"handoff_faild\"]\n",
            8,
            "did you mean \"handoff_failed\"",
        ),
        (
            "smtp = \"mail\"\nsmtp_tls = \"none\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
            7,
            "never sent in clear",
        ),
        (
            "smtp = \"mail\"\nfrom = \"a@b\"\nto = [\"not an address\"]\n",
            8,
            "is not a mail address",
        ),
        ("smtp = \"mail\"\nfrom = \"a@b\"\n", 6, "mail needs to ="),
        (
            "smtp = \"mail\"\nsmtp_user = \"u\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n",
            7,
            "needs smtp_password_file",
        ),
        (
            "webhook = \"https://h/x\"\nsmtp = \"mail\"\n",
            6,
            "not both",
        ),
        (
            "webhook = \"https://h/x\"\nsecret_file = \"hook.key\"\nto = [\"c@d\"]\n",
            8,
            "takes no mail keys",
        ),
        ("webhook = \"https://h/x\"\n", 6, "needs secret_file"),
        ("", 5, "give webhook"),
    ];
    for (text, line, words) in cases {
        let (l, msg) = err_in(d, &with_notify(text));
        assert!(msg.contains(words), "{text:?}: {msg}");
        assert_eq!(l, line, "{text:?}: {msg}");
    }
}

#[test]
fn server_host_keys_and_disk_settings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let c = parse_in(
        d,
        "[server]\ndata_dir = \"/var/lib/renkei\"\nhost_keys = [\"k/ed25519\", \"/etc/renkei/host_rsa\"]\ndisk_low = \"10GiB\"\n",
    )
    .unwrap();
    assert_eq!(
        c.server.host_keys,
        vec![d.join("k/ed25519"), PathBuf::from("/etc/renkei/host_rsa")]
    );
    assert_eq!(c.server.disk_low, DiskLow::Bytes(10 << 30));
    let cases = [
        ("host_key = \"a\"\nhost_keys = [\"b\"]\n", 3, "not both"),
        ("host_keys = []\n", 3, "is empty"),
        ("host_keys = [\"a\", \"a\"]\n", 3, "listed twice"),
        ("disk_low = \"90%\"\n", 3, "between \"1%\" and \"50%\""),
        ("disk_check_every = \"0s\"\n", 3, "disk_check_every"),
    ];
    for (text, line, words) in cases {
        let (l, msg) = err_in(d, &format!("{HEAD}{text}"));
        assert!(msg.contains(words), "{text:?}: {msg}");
        assert_eq!(l, line, "{text:?}: {msg}");
    }
}
