//! Several host keys (`[server] host_keys`): RSA (3072 bits and more,
//! SHA-2 signatures only) and ECDSA beside the ed25519 key, for clients
//! too old for ed25519; short or missing keys refused at start with the
//! command that makes a good one; and ssh-audit (the PyPI release the
//! test command installs) finds no failure in the recommended set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Daemon, default_tenants};

fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-f"])
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Host keys to make: (file name, ssh-keygen arguments).
type KeySpec<'a> = &'a [(&'a str, &'a [&'a str])];

/// A daemon with the listed host keys (made under `<root>/hostkeys`).
fn with_keys(keys: KeySpec) -> Daemon {
    let d = Daemon::unstarted(default_tenants(), "", "", &[]);
    let dir = d.root.path().join("hostkeys");
    fs::create_dir_all(&dir).unwrap();
    let mut list = vec!["\"data/host_ed25519\"".to_string()];
    for (name, args) in keys {
        let p = keygen(&dir, name, args);
        list.push(format!("\"{}\"", p.display()));
    }
    let text = fs::read_to_string(&d.config).unwrap().replacen(
        "data_dir = \"data\"\n",
        &format!("data_dir = \"data\"\nhost_keys = [{}]\n", list.join(", ")),
        1,
    );
    fs::write(&d.config, text).unwrap();
    d
}

/// Whether OpenSSH's sftp logs in when it accepts only `algorithm` for the
/// host key.
fn logs_in_with(d: &Daemon, algorithm: &str) -> bool {
    d.sftp(
        "032018-juki",
        b"ls /\n",
        &["-o", &format!("HostKeyAlgorithms={algorithm}")],
    )
    .status
    .success()
}

fn keyscan(d: &Daemon, kind: &str) -> String {
    let out = Command::new("ssh-keyscan")
        .args(["-p", &d.port.to_string(), "-t", kind, "127.0.0.1"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn public_of(path: &Path) -> String {
    let text = fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn an_rsa_host_key_serves_sha2_clients_and_ssh_audit_finds_no_failure() {
    let d = with_keys(&[("host_rsa", &["-t", "rsa", "-b", "3072"])]).started();
    let rsa = d.root.path().join("hostkeys").join("host_rsa");
    // The rsa crate's open timing advisory is said, at start and by check.
    assert!(d.log_text().contains("RUSTSEC-2023-0071"));
    let (ok, out) = d.cli("check", &[]);
    assert!(
        ok && out.contains("warning: host key") && out.contains("RUSTSEC-2023-0071"),
        "{out}"
    );
    assert!(
        keyscan(&d, "rsa").contains(&public_of(&rsa)),
        "the RSA key presented is the configured one"
    );
    assert!(logs_in_with(&d, "ssh-ed25519"));
    assert!(logs_in_with(&d, "rsa-sha2-512"));
    assert!(logs_in_with(&d, "rsa-sha2-256"));
    assert!(
        !logs_in_with(&d, "ssh-rsa"),
        "SHA-1 signatures are never made"
    );
    assert!(
        !logs_in_with(&d, "ecdsa-sha2-nistp256"),
        "no ECDSA key here"
    );

    let tool = ssh_audit();
    let out = Command::new(&tool)
        .args(["--skip-rate-test", "-p", &d.port.to_string(), "127.0.0.1"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("rsa-sha2-512 (3072-bit)"), "{report}");
    assert!(report.contains("mlkem768x25519-sha256"), "{report}");
    let fails: Vec<&str> = report.lines().filter(|l| l.contains("[fail]")).collect();
    assert!(fails.is_empty(), "ssh-audit failures: {fails:#?}\n{report}");
    // ssh-audit exits 0 when all is good, 2 with warnings only (explained
    // in docs/operations.md), 3 with failures.
    assert!(matches!(out.status.code(), Some(0 | 2)), "{report}");
}

#[test]
fn an_ecdsa_host_key_serves_clients_that_know_only_nist_curves() {
    let d = with_keys(&[("host_ecdsa", &["-t", "ecdsa", "-b", "384"])]).started();
    let ecdsa = d.root.path().join("hostkeys").join("host_ecdsa");
    assert!(keyscan(&d, "ecdsa").contains(&public_of(&ecdsa)));
    assert!(logs_in_with(&d, "ecdsa-sha2-nistp384"));
    // Such clients use ECDH on the same curves, offered only now.
    let out = d.sftp(
        "032018-juki",
        b"ls /\n",
        &["-o", "KexAlgorithms=ecdh-sha2-nistp384"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn short_missing_or_duplicate_host_keys_refuse_to_start() {
    let cases: [(KeySpec, &str); 2] = [
        (
            &[("host_rsa", &["-t", "rsa", "-b", "2048"])],
            "2048-bit RSA key; use at least 3072",
        ),
        (
            &[("a_ecdsa", &["-t", "ecdsa"]), ("b_ecdsa", &["-t", "ecdsa"])],
            "one host key per algorithm",
        ),
    ];
    for (keys, words) in cases {
        let d = with_keys(keys);
        let (ok, out) = d.cli("check", &[]);
        assert!(!ok && out.contains(words), "{out}");
        // Bounded, should it start after all.
        let serve = Command::new("timeout")
            .arg("20")
            .arg(env!("CARGO_BIN_EXE_renkei"))
            .arg("--config")
            .arg(&d.config)
            .arg("serve")
            .output()
            .unwrap();
        assert!(!serve.status.success());
        assert!(String::from_utf8_lossy(&serve.stderr).contains(words));
    }
    let d = with_keys(&[]);
    let missing = d.root.path().join("hostkeys").join("host_rsa");
    let text = fs::read_to_string(&d.config).unwrap().replacen(
        "host_keys = [\"data/host_ed25519\"]",
        &format!(
            "host_keys = [\"data/host_ed25519\", \"{}\"]",
            missing.display()
        ),
        1,
    );
    fs::write(&d.config, text).unwrap();
    let (ok, out) = d.cli("check", &[]);
    assert!(!ok && out.contains("ssh-keygen -t rsa -b 3072"), "{out}");
}

/// ssh-audit from PyPI, installed by scripts/test.sh (Debian 12's is too
/// old to know ML-KEM).
fn ssh_audit() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/tools/ssh-audit/bin/ssh-audit"
    ));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, which installs it",
        path.display()
    );
    path
}
