//! A client over a limit is disconnected; everyone else keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::process::{Command, Stdio};

use common::{Daemon, default_tenants, pseudo_random, sha256_file, sha256_hex};

/// Starts a slow download by another tenant that must finish intact
/// whatever the abusive client does.
fn bystander(d: &Daemon) -> (std::process::Child, String) {
    let data = pseudo_random(8 << 20, 77);
    d.put("011002", "outbox", "bystander.dat", &data);
    let batch = d.work.join("bystander-batch");
    std::fs::write(&batch, "get /outbox/bystander.dat bystander.dat\n").unwrap();
    let child = Command::new("sftp")
        .args(d.ssh_opts("011002-juki", "-P"))
        .args(["-l", "16000", "-b"])
        .arg(&batch)
        .arg("011002-juki@127.0.0.1")
        .current_dir(&d.work)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, sha256_hex(&data))
}

fn bystander_finished(d: &Daemon, child: std::process::Child, sha: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the other tenant's download failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_file(&d.work.join("bystander.dat")), sha);
}

#[test]
fn an_oversized_packet_closes_only_that_session() {
    let d = Daemon::start();
    let (child, sha) = bystander(&d);
    let r = d.paramiko_json("032018-juki", &["oversize", "100000000"]);
    assert_eq!(r["closed"], true, "{r}");
    let ev = d.wait_event("the violation", |e| e["event"] == "protocol_violation");
    assert!(
        ev["reason"].as_str().unwrap().contains("limits.max_packet"),
        "{ev}"
    );
    assert_eq!(ev["user"], "032018-juki");
    bystander_finished(&d, child, &sha);
}

#[test]
fn a_client_that_floods_requests_without_reading_replies_is_cut_off() {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nmax_queued_requests = \"1MiB\"\n",
    );
    let (child, sha) = bystander(&d);
    let r = d.paramiko_json("032018-juki", &["flood", "64000000"]);
    assert_eq!(r["closed"], true, "{r}");
    let ev = d.wait_event("the violation", |e| e["event"] == "protocol_violation");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_queued_requests"),
        "{ev}"
    );
    bystander_finished(&d, child, &sha);
}

#[test]
fn too_many_open_handles_disconnects() {
    let d = Daemon::start_with(default_tenants(), "[limits]\nmax_open_handles = 4\n");
    d.put("032018", "outbox", "h.csv", b"h");
    let r = d.paramiko_json("032018-juki", &["handles", "10", "/outbox/h.csv"]);
    assert_eq!(r["opened"], 4, "{r}");
    let ev = d.wait_event("the violation", |e| e["event"] == "protocol_violation");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_open_handles"),
        "{ev}"
    );
    // The account itself can reconnect and work normally.
    let r = d.paramiko_json("032018-juki", &["handles", "4", "/outbox/h.csv"]);
    assert_eq!(r["opened"], 4);
}

#[test]
fn a_client_that_never_logs_in_is_cut_off_after_the_grace_time() {
    use std::io::Read;
    let d = Daemon::start_with(default_tenants(), "[limits]\nlogin_grace_time = \"1s\"\n");
    // Connects and says nothing at all, not even its SSH version.
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match silent.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("the server did not close the silent connection: {e}"),
        }
    }
    assert!(total > 0, "the server's version line came first");
    let ev = d.wait_event("the session end", |e| e["event"] == "session_ended");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("limits.login_grace_time"),
        "{ev}"
    );
    // A real client is unaffected.
    d.sftp_ok("032018-juki", "ls /inbox\n");
}

#[test]
fn partials_expire_after_the_configured_time() {
    let d = Daemon::start_with(default_tenants(), "[limits]\npartial_expiry = \"2s\"\n");
    let data = pseudo_random(1 << 20, 5);
    std::fs::write(d.work.join("p.dat"), &data).unwrap();
    let r = d.paramiko_json("032018-juki", &["cut", "p.dat", "/inbox/p.dat", "300000"]);
    assert_eq!(r["sent"], 300000);
    common::eventually("the partial", std::time::Duration::from_secs(30), || {
        d.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial")
            .then_some(())
    });
    let ev = d.wait_event("the expiry", |e| e["event"] == "partial_expired");
    assert_eq!(
        (
            ev["path"].as_str(),
            ev["size"].as_u64(),
            ev["user"].as_str()
        ),
        (Some("p.dat"), Some(300000), Some("032018-juki"))
    );
    assert!(d.ls("032018").is_empty());
    assert!(d.vault_files().is_empty(), "its blobs are gone too");
}
