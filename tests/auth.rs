//! Who may log in, with what, from where.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::Command;

use common::{Daemon, TenantSpec, keygen};

fn sftp_as(d: &Daemon, user: &str, key: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let batch = d.work.join("pwd-batch");
    fs::write(&batch, "pwd\n").unwrap();
    Command::new("sftp")
        .args(common::openssh_opts(key, "-P", d.port))
        .args(extra)
        .arg("-b")
        .arg(&batch)
        .arg(format!("{user}@127.0.0.1"))
        .output()
        .unwrap()
}

#[test]
fn an_account_logs_in_only_with_its_own_key() {
    let d = Daemon::start();
    let own = d.keys["032018-juki"].private.clone();
    let other = d.keys["032018-zei"].private.clone();
    assert!(sftp_as(&d, "032018-juki", &own, &[]).status.success());
    assert!(!sftp_as(&d, "032018-juki", &other, &[]).status.success());
    assert!(!sftp_as(&d, "nobody", &own, &[]).status.success());
    let ev = d.wait_event("the wrong-key failure", |e| {
        e["event"] == "login_failed" && e["user"] == "032018-juki"
    });
    assert!(
        ev["reason"].as_str().unwrap().contains("not authorized"),
        "{ev}"
    );
    assert!(
        ev["key_fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
    let ev = d.wait_event("the unknown user", |e| {
        e["event"] == "login_failed" && e["user"] == "nobody"
    });
    assert!(ev["reason"].as_str().unwrap().contains("unknown user"));
    let ok = d.wait_event("the login", |e| e["event"] == "login_succeeded");
    assert_eq!(ok["tenant"], "032018");
    assert_eq!(ok["key_algorithm"], "ssh-ed25519");
}

#[test]
fn ssh_rsa_sha1_signatures_are_refused_and_sha2_accepted() {
    let root = tempfile::tempdir().unwrap();
    let rsa = keygen(root.path(), "rsa-key", "rsa");
    let d = Daemon::start();
    // A configuration with an RSA key for a new account.
    let mut d = d;
    d.append_config(&format!(
        "[[tenant]]\ncode = \"131016\"\nname = \"千代田区\"\nnetworks = [\"127.0.0.0/8\"]\n[[tenant.account]]\nuser = \"131016-rsa\"\nkeys = [\"{}\"]\n",
        rsa.public_line
    ));
    d.restart();
    let sha1 = sftp_as(
        &d,
        "131016-rsa",
        &rsa.private,
        &["-o", "PubkeyAcceptedAlgorithms=ssh-rsa"],
    );
    assert!(!sha1.status.success(), "ssh-rsa must be refused");
    let sha2 = sftp_as(
        &d,
        "131016-rsa",
        &rsa.private,
        &["-o", "PubkeyAcceptedAlgorithms=rsa-sha2-512"],
    );
    assert!(
        sha2.status.success(),
        "{}",
        String::from_utf8_lossy(&sha2.stderr)
    );
    let ok = d.wait_event("the RSA login", |e| {
        e["event"] == "login_succeeded" && e["user"] == "131016-rsa"
    });
    assert_eq!(ok["key_algorithm"], "rsa-sha2-512");
}

#[test]
fn a_source_address_no_tenant_may_use_is_refused_at_accept() {
    let tenants = vec![
        TenantSpec {
            code: "032018",
            name: "盛岡市",
            networks: vec!["127.0.0.1/32"],
            accounts: vec![
                ("032018-juki", None),
                ("032018-remote", Some(vec!["127.0.0.2/32"])),
            ],
        },
        TenantSpec {
            code: "011002",
            name: "札幌市",
            networks: vec!["127.0.0.1/32"],
            accounts: vec![("011002-juki", None)],
        },
    ];
    let d = Daemon::start_with(tenants, "");
    let juki = d.keys["032018-juki"].private.clone();
    let remote = d.keys["032018-remote"].private.clone();
    // From 127.0.0.3 nobody may connect: dropped before the SSH handshake.
    let out = sftp_as(&d, "032018-juki", &juki, &["-o", "BindAddress=127.0.0.3"]);
    assert!(!out.status.success());
    let ev = d.wait_event("the refusal at accept", |e| {
        e["event"] == "connection_refused"
    });
    assert_eq!(ev["stage"], "accept");
    assert!(ev["peer"].as_str().unwrap().starts_with("127.0.0.3:"));
    // An account with its own networks: only from there, and its tenant's
    // networks no longer apply to it.
    assert!(
        sftp_as(
            &d,
            "032018-remote",
            &remote,
            &["-o", "BindAddress=127.0.0.2"]
        )
        .status
        .success()
    );
    assert!(
        !sftp_as(
            &d,
            "032018-remote",
            &remote,
            &["-o", "BindAddress=127.0.0.1"]
        )
        .status
        .success()
    );
    // 127.0.0.2 is admitted (032018-remote may use it) but not for juki.
    assert!(
        !sftp_as(&d, "032018-juki", &juki, &["-o", "BindAddress=127.0.0.2"])
            .status
            .success()
    );
    let ev = d.wait_event("the network refusal", |e| {
        e["event"] == "login_failed"
            && e["user"] == "032018-juki"
            && e["peer"].as_str().unwrap().starts_with("127.0.0.2")
    });
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("not in the networks"),
        "{ev}"
    );
    assert!(
        sftp_as(&d, "032018-juki", &juki, &["-o", "BindAddress=127.0.0.1"])
            .status
            .success()
    );
}

/// An ssh-agent with several keys: five wrong ones, then the right one,
/// logs in as with OpenSSH's MaxAuthTries 6; six wrong ones do not.
#[test]
fn five_wrong_keys_then_the_right_one_log_in_as_with_openssh() {
    let d = Daemon::start();
    let keys = d.root.path().join("keys");
    let wrong: Vec<_> = (0..6)
        .map(|i| keygen(&keys, &format!("wrong{i}"), "ed25519").private)
        .collect();
    let right = &d.keys["032018-juki"].private;
    let with = |n: usize| {
        let mut extra: Vec<String> = Vec::new();
        for w in &wrong[1..=n] {
            extra.push("-i".into());
            extra.push(w.display().to_string());
        }
        extra.push("-i".into());
        extra.push(right.display().to_string());
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        sftp_as(&d, "032018-juki", &wrong[0], &extra)
    };
    // sftp_as puts the first key first: five wrong keys, then the right one.
    let out = with(4);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = with(5);
    assert!(!out.status.success(), "six wrong keys were let through");
}

/// A failed login for a configured account belongs to its municipality:
/// `audit query --tenant` shows it.
#[test]
fn a_failed_login_of_an_account_is_in_its_municipalitys_audit_view() {
    let d = Daemon::start();
    let out = sftp_as(&d, "032018-juki", &d.keys["011002-juki"].private, &[]);
    assert!(!out.status.success());
    common::eventually(
        "the failed login in 盛岡市's audit view",
        std::time::Duration::from_secs(30),
        || {
            let (ok, text) = d.cli(
                "audit",
                &[
                    "query",
                    "--tenant",
                    "032018",
                    "--event",
                    "login_failed",
                    "--json",
                ],
            );
            assert!(ok, "{text}");
            let rows: serde_json::Value =
                serde_json::from_str(text.trim_start_matches(|c| c != '[')).unwrap();
            rows.as_array()
                .unwrap()
                .iter()
                .any(|r| r["user"] == "032018-juki" && r["tenant"] == "032018")
                .then_some(())
        },
    );
    let (_, other) = d.cli(
        "audit",
        &[
            "query",
            "--tenant",
            "011002",
            "--event",
            "login_failed",
            "--json",
        ],
    );
    assert!(!other.contains("032018-juki"), "{other}");
}
