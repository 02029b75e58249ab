//! Notifications to a webhook (`[[notify]]`): a real HTTPS listener
//! receives the JSON for a hand-off that gave up, signed with HMAC-SHA256
//! over the body; a webhook that never answers does not hold up uploads,
//! and the failure is recorded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::web::certificate;
use common::{Daemon, PYTHON, default_tenants, eventually};
use serde_json::Value;

const RECEIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/webhook.py");
const SECRET: &str = "webhook-secret-for-the-tests-0123456789";

struct Receiver {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receiver(dir: &Path, cert: &Path, key: &Path, mode: &str) -> Receiver {
    listener(RECEIVER, dir, cert, key, mode, &[])
}

/// Starts a Python listener (`script CERT KEY PORT_FILE OUT MODE`) and
/// waits for the port it bound.
fn listener(
    script: &str,
    dir: &Path,
    cert: &Path,
    key: &Path,
    mode: &str,
    env: &[(&str, &str)],
) -> Receiver {
    let name = Path::new(script).file_stem().unwrap().to_string_lossy();
    let port_file = dir.join(format!("{name}-{mode}.port"));
    let out = dir.join(format!("{name}-{mode}.jsonl"));
    let child = Command::new(PYTHON)
        .arg(script)
        .args([cert, key, &port_file, &out])
        .arg(mode)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let port = eventually("the listener's port", Duration::from_secs(20), || {
        fs::read_to_string(&port_file).ok()?.trim().parse().ok()
    });
    Receiver { child, port, out }
}

/// A daemon with `channel` whose route `juki-up` gives up on the file it
/// was just given: its spool directory is a file, and it tries twice.
fn a_hand_off_that_gives_up(channel: &str) -> Daemon {
    let route = "\n[[route]]\nname = \"juki-up\"\nsource = { box = \"inbox\", pattern = \"*.csv\" }\ndestination = { dir = \"spool/{tenant}\" }\nretry = { attempts = 2, first = \"200ms\", max = \"500ms\" }\n";
    let d = Daemon::start_with(default_tenants(), &format!("{route}{channel}"));
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    fs::write(
        d.root.path().join("spool").join("032018"),
        b"not a directory",
    )
    .unwrap();
    d.put("032018", "inbox", "JUKI_032018.csv", b"a,b\n");
    d
}

fn channel(dir: &Path, cert: &Path, port: u16, extra: &str) -> String {
    let secret = dir.join("webhook.key");
    fs::write(&secret, format!("{SECRET}\n")).unwrap();
    format!(
        "\n[[notify]]\nname = \"ops\"\nwebhook = \"https://127.0.0.1:{port}/hooks/renkei\"\nsecret_file = \"{}\"\nca_file = \"{}\"\n{extra}\n",
        secret.display(),
        cert.display()
    )
}

#[test]
fn a_hand_off_that_gave_up_reaches_the_webhook_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let rx = receiver(dir.path(), &cert, &key, "ok");
    let d = a_hand_off_that_gives_up(&channel(dir.path(), &cert, rx.port, ""));
    let line = eventually("the webhook's POST", Duration::from_secs(30), || {
        fs::read_to_string(&rx.out)
            .ok()?
            .lines()
            .next()
            .map(str::to_string)
    });
    let got: Value = serde_json::from_str(&line).unwrap();
    let headers = &got["headers"];
    assert_eq!(headers["x-renkei-event"], "handoff_failed");
    let body = got["body"].as_str().unwrap();
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v["record"]["gave_up"], true,
        "only the giving up, not each attempt"
    );
    let subject = v["subject"].as_str().unwrap();
    assert!(
        subject.contains("連携失敗") && subject.contains("盛岡市(032018)"),
        "{subject}"
    );
    // The signature is HMAC-SHA256 of the body with the shared secret.
    let body_file = dir.path().join("body");
    fs::write(&body_file, body).unwrap();
    let mac = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", SECRET, "-r"])
        .arg(&body_file)
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&mac.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(headers["x-renkei-signature"], format!("sha256={expected}"));
    let sent = d.wait_event("notification_sent", |e| e["event"] == "notification_sent");
    assert_eq!(sent["channel"], "ops");
    assert_eq!(sent["about"], "handoff_failed");
}

#[test]
fn a_webhook_that_never_answers_does_not_hold_up_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let rx = receiver(dir.path(), &cert, &key, "hang");
    // Every upload is notified, to an endpoint that never answers.
    let d = Daemon::start_with(
        default_tenants(),
        &channel(
            dir.path(),
            &cert,
            rx.port,
            "events = [\"upload_committed\"]\ntimeout = \"1s\"\nattempts = 2\n",
        ),
    );
    let files = 300;
    let mut batch = String::new();
    for i in 0..files {
        let name = format!("f{i}.csv");
        fs::write(d.work.join(&name), format!("{i}\n")).unwrap();
        batch.push_str(&format!("put {name} /inbox/{name}\n"));
    }
    d.sftp_ok("032018-juki", &batch);
    assert_eq!(
        d.events()
            .iter()
            .filter(|e| e["event"] == "upload_committed")
            .count(),
        files,
        "every upload was answered and committed"
    );
    let failed = d.wait_event("a failed notification", |e| {
        e["event"] == "notification_failed"
    });
    assert_eq!(failed["attempts"], 2);
    assert!(
        failed["error"].as_str().unwrap().contains("notify.timeout"),
        "{failed}"
    );
    // More than the backlog waited: the rest are logged as not notified.
    let log = d.log_text();
    assert!(
        log.contains("records behind; this one is not notified"),
        "the backlog is bounded"
    );
}

/// A real SMTP server (aiosmtpd) on loopback, each message one JSON line.
fn smtp(dir: &Path, cert: &Path, key: &Path, mode: &str) -> Receiver {
    listener(
        SMTP_SERVER,
        dir,
        cert,
        key,
        mode,
        &[("SMTP_PASSWORD", SMTP_PASSWORD)],
    )
}

const SMTP_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtp.py");
const SMTP_PASSWORD: &str = "smtp-password-for-the-tests";

fn mails(rx: &Receiver, what: &str, n: usize) -> Vec<Value> {
    eventually(what, Duration::from_secs(30), || {
        let got: Vec<Value> = fs::read_to_string(&rx.out)
            .ok()?
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (got.len() >= n).then_some(got)
    })
}

#[test]
fn a_hand_off_that_gave_up_is_mailed_over_starttls_with_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let rx = smtp(dir.path(), &cert, &key, "starttls");
    let password = dir.path().join("smtp.password");
    fs::write(&password, format!("{SMTP_PASSWORD}\n")).unwrap();
    let channel = format!(
        "\n[[notify]]\nname = \"mail\"\nsmtp = \"127.0.0.1:{}\"\nsmtp_user = \"renkei\"\nsmtp_password_file = \"{}\"\nfrom = \"renkei@renkei.example.lg.jp\"\nto = [\"ops@example.lg.jp\", \"joho@example.lg.jp\"]\nca_file = \"{}\"\n",
        rx.port,
        password.display(),
        cert.display()
    );
    let d = a_hand_off_that_gives_up(&channel);
    let mail = &mails(&rx, "the mail", 1)[0];
    assert_eq!(mail["tls"], true, "sent only after STARTTLS");
    assert_eq!(mail["auth"], "renkei");
    assert_eq!(mail["mail_from"], "renkei@renkei.example.lg.jp");
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["ops@example.lg.jp", "joho@example.lg.jp"])
    );
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.contains("連携失敗")
            && subject.contains("盛岡市(032018)")
            && subject.contains("juki-up"),
        "{subject}"
    );
    let body = mail["body"].as_str().unwrap();
    assert!(
        body.contains("handoff_failed") && body.contains("\"gave_up\": true"),
        "{body}"
    );
    let sent = d.wait_event("notification_sent", |e| e["event"] == "notification_sent");
    assert_eq!(sent["channel"], "mail");
    // Only the giving up is news: the attempt before it is not mailed.
    assert_eq!(fs::read_to_string(&rx.out).unwrap().lines().count(), 1);
}

#[test]
fn a_nearly_full_vault_volume_is_recorded_and_mailed_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let rx = smtp(dir.path(), &cert, &key, "tls");
    let channel = format!(
        "\n[[notify]]\nname = \"mail\"\nsmtp = \"127.0.0.1:{}\"\nsmtp_tls = \"tls\"\nfrom = \"renkei@renkei.example.lg.jp\"\nto = [\"ops@example.lg.jp\"]\nca_file = \"{}\"\nevents = [\"disk_space_low\"]\n",
        rx.port,
        cert.display()
    );
    let d = Daemon::unstarted(
        default_tenants(),
        "disk_low = \"4MiB\"\ndisk_check_every = \"1s\"",
        &channel,
        &[],
    )
    .on_small("vault", 8 << 20)
    .started();
    assert!(
        !d.events().iter().any(|e| e["event"] == "disk_space_low"),
        "an empty vault is not low"
    );
    // Fill the vault's volume past half through the front door.
    let big: Vec<u8> = (0..5u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    d.put("032018", "inbox", "big.bin", &big);
    let low = d.wait_event("disk_space_low", |e| e["event"] == "disk_space_low");
    assert!(low["path"].as_str().unwrap().ends_with("vault"), "{low}");
    assert!(low["free_bytes"].as_u64().unwrap() < low["threshold_bytes"].as_u64().unwrap());
    let mail = &mails(&rx, "the mail", 1)[0];
    assert_eq!(mail["tls"], true);
    assert!(
        mail["subject"].as_str().unwrap().contains("空き容量不足"),
        "{mail}"
    );
    // Once room is made, it is recorded as recovered.
    d.sftp_ok("032018-juki", "rm /inbox/big.bin\n");
    d.wait_event("disk_space_recovered", |e| {
        e["event"] == "disk_space_recovered"
    });
}
