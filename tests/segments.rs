//! Segments (情報連携機器, decision 0011): each separated network has its
//! own listener, admits only its own networks, and logs in only its own
//! accounts; a municipality's account is refused on a segment's listener
//! and a segment's account on the municipalities' listener. Two segment
//! listeners on 127.0.0.2 and 127.0.0.3, the tenants' on 127.0.0.1; the
//! client picks its source address with OpenSSH's BindAddress.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::{Daemon, Key, default_tenants, keygen};
use serde_json::Value;

struct World {
    d: Daemon,
    _keys: tempfile::TempDir,
    std_ope: Key,
    chukan_ope: Key,
}

fn world() -> World {
    let keys = tempfile::tempdir().unwrap();
    let std_ope = keygen(keys.path(), "std-ope", "ed25519");
    let chukan_ope = keygen(keys.path(), "chukan-ope", "ed25519");
    let extra = format!(
        r#"
[[segment]]
name = "standard"
label = "標準システム系"
listen = ["127.0.0.2:0"]
networks = ["127.0.0.2/32"]

[[segment.account]]
user = "std-ope"
keys = ["{}"]

[[segment]]
name = "chukan"
label = "統合専用端末系"
listen = ["127.0.0.3:0"]
networks = ["127.0.0.3/32"]

[[segment.account]]
user = "chukan-ope"
keys = ["{}"]
"#,
        std_ope.public_line, chukan_ope.public_line
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    World {
        d,
        _keys: keys,
        std_ope,
        chukan_ope,
    }
}

/// The port each segment listens on, from `ctl status`.
fn segment_port(d: &Daemon, segment: &str) -> u16 {
    let st: Value = d.status_json();
    let listen = st["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["segment"] == segment)
        .unwrap()["listen"]
        .as_str()
        .unwrap()
        .to_string();
    listen.rsplit(':').next().unwrap().parse().unwrap()
}

/// An OpenSSH `sftp -b` batch as `user` with `key`, to `host:port`, from
/// source address `from`.
fn sftp_as(
    d: &Daemon,
    key: &Path,
    user: &str,
    host: &str,
    port: u16,
    from: &str,
    batch: &str,
) -> Output {
    let file = d.work.join(format!("batch-{user}-{port}-{from}"));
    fs::write(&file, batch).unwrap();
    common::sftp_from(key, user, host, port, from, &file)
        .current_dir(&d.work)
        .output()
        .unwrap()
}

fn failed_logins(d: &Daemon, user: &str) -> Vec<Value> {
    d.events()
        .into_iter()
        .filter(|e| e["event"] == "login_failed" && e["user"] == user)
        .collect()
}

#[test]
fn a_segment_account_logs_in_only_on_its_own_listener_from_its_own_network() {
    let w = world();
    let d = &w.d;
    let (std_port, chukan_port) = (segment_port(d, "standard"), segment_port(d, "chukan"));
    let key = &w.std_ope.private;

    // Its own listener, from its own network: in, with an empty top
    // level (no boxes; lanes come next) where nothing can be written.
    let out = sftp_as(
        d,
        key,
        "std-ope",
        "127.0.0.2",
        std_port,
        "127.0.0.2",
        "ls -la /\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    // No boxes; no lanes configured here, so no views; its receipts.
    assert!(
        !listing.contains("inbox") && !listing.contains("send") && listing.contains("receipts"),
        "{listing}"
    );
    let ok = d.wait_event("the segment login", |e| {
        e["event"] == "login_succeeded" && e["user"] == "std-ope"
    });
    assert_eq!(ok["segment"], "standard", "{ok}");
    assert!(ok.get("tenant").is_none(), "{ok}");
    fs::write(d.work.join("x.csv"), b"1,2\r\n").unwrap();
    for batch in [
        "put x.csv /inbox/x.csv\n",
        "put x.csv /x.csv\n",
        "mkdir /send\n",
    ] {
        let out = sftp_as(d, key, "std-ope", "127.0.0.2", std_port, "127.0.0.2", batch);
        assert!(!out.status.success(), "{batch} succeeded");
    }
    assert!(d.ls("032018").is_empty(), "nothing reached a municipality");

    // The other segment's listener, from that segment's network: the key
    // is right, the account is refused.
    let out = sftp_as(
        d,
        key,
        "std-ope",
        "127.0.0.3",
        chukan_port,
        "127.0.0.3",
        "ls /\n",
    );
    assert!(!out.status.success());
    let refused = d.wait_event("refused on the other listener", |e| {
        e["event"] == "login_failed"
            && e["user"] == "std-ope"
            && e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("listener of segment chukan")
    });
    assert_eq!(refused["segment"], "standard");

    // Its own listener from the other segment's network: dropped at
    // accept, before any SSH.
    let out = sftp_as(
        d,
        key,
        "std-ope",
        "127.0.0.2",
        std_port,
        "127.0.0.3",
        "ls /\n",
    );
    assert!(!out.status.success());
    d.wait_event("dropped at accept", |e| {
        e["event"] == "connection_refused"
            && e["stage"] == "accept"
            && e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("segment standard")
    });

    // The municipalities' listener: refused.
    let out = sftp_as(
        d,
        key,
        "std-ope",
        "127.0.0.1",
        d.port,
        "127.0.0.1",
        "ls /\n",
    );
    assert!(!out.status.success());
    d.wait_event("refused on the tenants' listener", |e| {
        e["event"] == "login_failed"
            && e["user"] == "std-ope"
            && e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("municipalities' listener")
    });
    assert!(failed_logins(d, "std-ope").len() >= 2);

    // The other segment's account on its own listener works.
    let out = sftp_as(
        d,
        &w.chukan_ope.private,
        "chukan-ope",
        "127.0.0.3",
        chukan_port,
        "127.0.0.3",
        "ls /\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_municipality_account_is_refused_on_segment_listeners() {
    let w = world();
    let d = &w.d;
    let std_port = segment_port(d, "standard");
    let key = d.keys["032018-juki"].private.clone();
    let out = sftp_as(
        d,
        &key,
        "032018-juki",
        "127.0.0.2",
        std_port,
        "127.0.0.2",
        "ls /\n",
    );
    assert!(!out.status.success());
    let refused = d.wait_event("a tenant account refused on a segment listener", |e| {
        e["event"] == "login_failed" && e["user"] == "032018-juki"
    });
    let why = refused["reason"].as_str().unwrap();
    assert!(
        why.contains("tenant 032018") && why.contains("segment standard"),
        "{why}"
    );
    // And it still works where it belongs, where no lane is to be seen.
    d.sftp_ok("032018-juki", "ls /inbox\n");
    fs::write(d.work.join("y.csv"), b"1\r\n").unwrap();
    for batch in [
        "ls /send\n",
        "ls /receive/any\n",
        "put y.csv /send/any/y.csv\n",
    ] {
        let out = d.sftp("032018-juki", batch.as_bytes(), &[]);
        assert!(
            !out.status.success(),
            "{batch} succeeded for a municipality"
        );
    }
    d.wait_event("the lane path refused", |e| {
        e["event"] == "operation_refused"
            && e["reason"]
                .as_str()
                .unwrap_or("")
                .contains("lanes belong to")
    });
    let status = d.ctl_ok(&["status"]);
    assert!(
        status.contains("標準システム系") || status.contains("standard"),
        "{status}"
    );

    // `policy explain` says the same as the daemon.
    let (ok, out) = d.cli(
        "policy",
        &[
            "explain",
            "--tenant",
            "032018",
            "--user",
            "std-ope",
            "--from",
            "127.0.0.2",
            "--op",
            "list",
            "--path",
            "/inbox",
        ],
    );
    assert!(
        !ok && out.contains("of segment standard") && out.contains("no boxes"),
        "{out}"
    );
    let (ok, out) = d.cli(
        "policy",
        &[
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
            "/send/any/x.csv",
        ],
    );
    assert!(
        !ok && out.contains("lanes belong to segment accounts"),
        "{out}"
    );
}
