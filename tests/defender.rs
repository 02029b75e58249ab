//! The defender and the connection limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Daemon, default_tenants, eventually, pseudo_random, sha256_hex};

/// An OpenSSH `sftp` login as `user` with `key_of`'s key, from `bind`.
fn attempt(d: &Daemon, user: &str, key_of: &str, bind: &str) -> bool {
    let batch = d.work.join("pwd");
    std::fs::write(&batch, "pwd\n").unwrap();
    Command::new("sftp")
        .args([
            "-i",
            d.keys[key_of].private.to_str().unwrap(),
            "-P",
            &d.port.to_string(),
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
        ])
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            "-o",
            &format!("BindAddress={bind}"),
        ])
        .arg("-b")
        .arg(&batch)
        .arg(format!("{user}@127.0.0.1"))
        .output()
        .unwrap()
        .status
        .success()
}

/// Reads what the server sends a client connecting from `bind` (via
/// Python, which can bind before connecting).
fn greeting_from(port: u16, bind: &str) -> String {
    let script = format!(
        "import socket\ns=socket.socket()\ns.bind(('{bind}',0))\ns.connect(('127.0.0.1',{port}))\ns.settimeout(30)\nb=b''\nwhile True:\n    d=s.recv(4096)\n    if not d: break\n    b+=d\nprint(b.decode('utf-8','replace'))\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_wrong_key_loop_is_banned_and_the_ban_survives_a_restart() {
    let mut d = Daemon::start_with(
        default_tenants(),
        "[defender]\nthreshold = 4\nban_time = \"1h\"\n",
    );
    // The attacker, from 127.0.0.5, tries 032018-juki with the wrong key.
    // Each failed connection scores 1; the threshold is 4.
    for _ in 0..4 {
        assert!(!attempt(&d, "032018-juki", "032018-zei", "127.0.0.5"));
    }
    let ban = d.wait_event("the ban", |e| e["event"] == "banned");
    assert_eq!(ban["ip"], "127.0.0.5");
    assert!(
        ban["reason"]
            .as_str()
            .unwrap()
            .contains("score 4 reached the threshold 4"),
        "{ban}"
    );
    // Banned: refused at accept, with the reason said; the right key does not help.
    assert!(greeting_from(d.port, "127.0.0.5").contains("127.0.0.5 is banned until"));
    assert!(!attempt(&d, "032018-juki", "032018-juki", "127.0.0.5"));
    // Everyone else is unaffected.
    assert!(attempt(&d, "032018-juki", "032018-juki", "127.0.0.1"));
    assert!(d.ctl_ok(&["bans"]).contains("127.0.0.5"));

    // The ban survives a restart.
    d.restart();
    assert!(!attempt(&d, "032018-juki", "032018-juki", "127.0.0.5"));
    let refusals = d
        .events()
        .into_iter()
        .filter(|e| {
            e["event"] == "connection_refused" && e["reason"].as_str().unwrap().contains("banned")
        })
        .count();
    assert!(
        refusals >= 2,
        "refused at accept before and after the restart"
    );

    // Lifting it is audited.
    d.ctl_ok(&["unban", "127.0.0.5"]);
    d.wait_event("the unban", |e| {
        e["event"] == "unbanned" && e["ip"] == "127.0.0.5"
    });
    assert!(attempt(&d, "032018-juki", "032018-juki", "127.0.0.5"));
    assert!(d.ctl_ok(&["bans"]).contains("no address is banned"));
}

#[test]
fn password_guessing_is_banned_and_repeat_bans_grow() {
    let d = Daemon::start_with(
        default_tenants(),
        "[defender]\nthreshold = 3\nban_time = \"1s\"\nban_time_growth = 30\nmax_ban_time = \"1h\"\nscore_unknown_user = 1\n",
    );
    let guess = |user: &str| {
        let out = d.paramiko_keyed(user, "032018-juki", &["password", "secret123"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ok"], false, "{v}");
    };
    for user in ["root", "admin", "032018-juki"] {
        guess(user);
    }
    let first = d.wait_event("the first ban", |e| e["event"] == "banned");
    assert_eq!(
        (first["ip"].as_str(), first["bans"].as_u64()),
        (Some("127.0.0.1"), Some(1))
    );
    // The first ban lasts 1 s; wait it out by polling, then offend again.
    eventually("the first ban to expire", Duration::from_secs(30), || {
        d.ctl_ok(&["bans"])
            .contains("no address is banned")
            .then_some(())
    });
    for _ in 0..3 {
        guess("root");
    }
    let second = d.wait_event("the second ban", |e| {
        e["event"] == "banned" && e["bans"] == 2
    });
    let until: jiff::Timestamp = second["until"].as_str().unwrap().parse().unwrap();
    let left = until.duration_since(jiff::Timestamp::now()).as_secs();
    assert!(left > 20, "the second ban is 30 times longer: {left}s left");
}

#[test]
fn a_connection_flood_from_one_address_does_not_starve_another_tenant() {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nmax_connections_per_source = 4\nlogin_grace_time = \"1m\"\n[defender]\nenabled = false\n",
    );
    // 40 connections from 127.0.0.6 that never log in, held open.
    let script = format!(
        "import socket,sys\nheld=[]\nrefused=0\nfor i in range(40):\n    s=socket.socket(); s.bind(('127.0.0.6',0)); s.connect(('127.0.0.1',{})); s.settimeout(10)\n    d=s.recv(200)\n    if b'too many connections' in d: refused+=1\n    held.append(s)\nprint(refused, flush=True)\nsys.stdin.read()\n",
        d.port
    );
    let mut flood = Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(flood.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "36",
        "all but 4 refused at accept with the reason"
    );
    // Meanwhile 札幌市 moves a file both ways.
    let data = pseudo_random(4 << 20, 3);
    std::fs::write(d.work.join("s.dat"), &data).unwrap();
    d.sftp_ok(
        "011002-juki",
        "put s.dat /inbox/s.dat\nget /inbox/s.dat back.dat\n",
    );
    assert_eq!(
        sha256_hex(&std::fs::read(d.work.join("back.dat")).unwrap()),
        sha256_hex(&data)
    );
    let _ = flood.kill();
    let _ = flood.wait();
    let ev = d.wait_event("the refusal", |e| e["event"] == "connection_refused");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_connections_per_source"),
        "{ev}"
    );
}

#[test]
fn an_account_over_its_connection_limit_is_told_why() {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nmax_connections_per_account = 2\n",
    );
    let r = d.paramiko_json("032018-juki", &["sessions", "3"]);
    assert_eq!(r["opened"], 2, "{r}");
    let ev = d.wait_event("the refusal", |e| e["event"] == "login_failed");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_connections_per_account"),
        "{ev}"
    );
    // Another account of the same tenant is not affected.
    assert_eq!(
        d.paramiko_json("032018-zei", &["sessions", "2"])["opened"],
        2
    );
    // Once those sessions are gone the account logs in again.
    let out = d.sftp("032018-juki", b"pwd\n", &[]);
    assert!(out.status.success());
}

/// A parallel client (WinSCP, rclone) opening more connections than its
/// account may have is told why, but its address is not banned: the
/// account proved who it is, and other municipalities may share that
/// address (NAT).
#[test]
fn connections_over_the_account_limit_do_not_ban_the_address() {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nmax_connections_per_account = 2\n",
    );
    let r = d.paramiko_json("032018-juki", &["crowd", "8"]);
    assert_eq!(r["opened"], 2, "{r}");
    assert_eq!(r["refused"], 6, "{r}");
    let refusals: Vec<_> = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "login_failed")
        .collect();
    assert_eq!(refusals.len(), 6);
    assert!(refusals.iter().all(|e| {
        e["reason"]
            .as_str()
            .unwrap()
            .contains("limits.max_connections_per_account")
    }));
    assert!(
        !d.events().iter().any(|e| e["event"] == "banned"),
        "the address was banned"
    );
    assert!(!d.ctl_ok(&["bans"]).contains("127.0.0.1"));
    // Every municipality behind that address still gets in.
    assert!(attempt(&d, "011002-juki", "011002-juki", "127.0.0.1"));
    assert!(attempt(&d, "032018-zei", "032018-zei", "127.0.0.1"));
}

/// `max_channels_per_connection` counts the sessions open now, not every
/// session ever opened on the connection.
#[test]
fn sessions_opened_one_after_another_on_one_connection_are_not_capped() {
    let d = Daemon::start_with(
        default_tenants(),
        "[limits]\nmax_channels_per_connection = 2\n",
    );
    let r = d.paramiko_json("032018-juki", &["channels", "12"]);
    assert_eq!(r["opened"], 12, "{r}");
}

/// Finding: a network written `::ffff:127.0.0.0/104` could never match
/// (sources are matched as IPv4) and `check` said nothing. It is read as
/// the IPv4 network it means, with a warning.
#[test]
fn an_ipv4_mapped_network_is_read_as_ipv4_with_a_warning() {
    let d = Daemon::start_with(
        vec![common::TenantSpec {
            code: "032018",
            name: "盛岡市",
            networks: vec!["::ffff:127.0.0.0/104"],
            accounts: vec![("032018-juki", None)],
        }],
        "",
    );
    let (ok, out) = d.cli("check", &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("IPv4-mapped") && out.contains("127.0.0.0/8"),
        "{out}"
    );
    d.sftp_ok("032018-juki", "ls /inbox\n");
}
