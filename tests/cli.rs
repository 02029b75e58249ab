//! The command line: check, serve (embedded default and refusals), ctl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, Daemon, eventually, names, pseudo_random, sha256_hex};

const VALID: &str = r#"
[server]
listen = "127.0.0.1:0"
data_dir = "data"

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["10.20.0.0/16"]

[[tenant.account]]
user = "032018-juki"
keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd juki-batch"]
"#;

fn renkei(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn check_summarises_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("renkei.toml"), VALID).unwrap();
    let out = renkei(dir.path(), &["check", "--config", "renkei.toml"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("is valid")
            && text.contains("032018 盛岡市")
            && text.contains("account 032018-juki  keys: 1"),
        "{text}"
    );
    // --config is global: it may also come first.
    assert!(
        renkei(dir.path(), &["--config", "renkei.toml", "check"])
            .status
            .success()
    );
}

#[test]
fn check_and_serve_name_the_file_line_and_the_expected_digit() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bad.toml"),
        VALID.replace("\"032018\"", "\"032019\""),
    )
    .unwrap();
    for cmd in ["check", "serve"] {
        let out = renkei(dir.path(), &["--config", "bad.toml", cmd]);
        assert!(!out.status.success(), "{cmd} must refuse");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("bad.toml:7:8:"), "{cmd}: {err}");
        assert!(err.contains("the check digit is 8"), "{cmd}: {err}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused serve creates nothing"
    );
    fs::write(
        dir.path().join("typo.toml"),
        VALID.replace("networks", "netwroks"),
    )
    .unwrap();
    let err =
        String::from_utf8(renkei(dir.path(), &["--config", "typo.toml", "check"]).stderr).unwrap();
    assert!(
        err.contains("typo.toml:9:1:") && err.contains("netwroks"),
        "{err}"
    );
}

#[test]
fn ctl_without_a_daemon_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("renkei.toml"), VALID).unwrap();
    let out = renkei(dir.path(), &["--config", "renkei.toml", "ctl", "status"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot reach the daemon") && err.contains("renkei serve"),
        "{err}"
    );
}

#[test]
fn a_second_daemon_on_the_same_data_directory_is_refused() {
    let d = Daemon::start();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&d.config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("already in use by another renkei process"),
        "{err}"
    );
    // The first one is unaffected.
    d.ctl_ok(&["status"]);
}

#[test]
fn operator_places_files_in_an_outbox_and_the_municipality_picks_them_up() {
    let d = Daemon::start();
    let data = pseudo_random(3 << 20, 21);
    let name = "保険料情報_032018_20261121.dat";
    d.put("032018", "outbox", name, &data);
    let table = d.ctl_ok(&["ls", "--tenant", "032018"]);
    assert!(
        table.contains(name) && table.contains(&sha256_hex(&data)) && table.contains("+09:00"),
        "{table}"
    );
    d.sftp_ok(
        "032018-juki",
        &format!("get /outbox/{name} got.dat\nrm /outbox/{name}\n"),
    );
    assert_eq!(fs::read(d.work.join("got.dat")).unwrap(), data);
    assert!(names(&d.ls("032018"), "outbox", "stored").is_empty());
    // Another tenant never saw it.
    let r = d.paramiko_json("011002-juki", &["listdir", "/outbox"]);
    assert_eq!(r["names"], serde_json::json!([]));
    // The operator's actions are recorded.
    let ev = d.wait_event("the ctl put", |e| {
        e["event"] == "ctl_command" && e["command"] == "put"
    });
    assert_eq!(ev["ok"], true);
    assert!(ev["detail"].as_str().unwrap().contains(&sha256_hex(&data)));
}

#[test]
fn ctl_refuses_bad_requests_clearly() {
    let d = Daemon::start();
    fs::write(d.work.join("f.csv"), "x").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["put", "--tenant", "032019", "--box", "inbox", "f.csv"],
            "check digit",
        ),
        (
            &["put", "--tenant", "131016", "--box", "inbox", "f.csv"],
            "not in the configuration",
        ),
        (
            &["put", "--tenant", "032018", "--box", "spam", "f.csv"],
            "use inbox or outbox",
        ),
        (
            &["put", "--tenant", "032018", "--box", "inbox", "missing.csv"],
            "missing.csv",
        ),
        (
            &[
                "get", "--tenant", "032018", "--box", "inbox", "nope.csv", "-o", "o",
            ],
            "no such file",
        ),
    ];
    for (args, want) in cases {
        let out = d.ctl(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!d.work.join("o").exists(), "a failed get leaves no file");
    assert!(d.ls("032018").is_empty());
}

#[test]
fn sigterm_keeps_an_upload_in_progress_as_a_partial() {
    let mut d = Daemon::start_with(
        common::default_tenants(),
        "[limits]\nshutdown_grace = \"0s\"\n",
    );
    let data = pseudo_random(16 << 20, 4);
    fs::write(d.work.join("t.dat"), &data).unwrap();
    let client = d.sftp_background(
        "032018-juki",
        "put t.dat /inbox/t.dat
",
        16_000,
    );
    d.wait_for_blob_over(1 << 20);
    let st = d.stop();
    assert!(st.success(), "clean exit on SIGTERM: {st}");
    common::kill_client(client);
    assert!(d.events().iter().any(|e| e["event"] == "daemon_stopped"));
    d.start_again();
    let kept = d
        .ls("032018")
        .into_iter()
        .find(|e| e["state"] == "partial")
        .expect("the upload was kept");
    assert!(kept["size"].as_u64().unwrap() > 0);
    d.sftp_ok("032018-juki", "reput t.dat /inbox/t.dat\n");
    assert_eq!(
        sha256_hex(&d.get("032018", "inbox", "t.dat")),
        sha256_hex(&data)
    );
}

/// `renkei serve` with no configuration: the README's first command.
/// Uses the fixed demo port 2222.
#[test]
fn the_embedded_default_serves_a_demo_tenant_and_reuses_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let cmd = eventually("the demo banner", Duration::from_secs(30), || {
            rx.try_recv()
                .ok()
                .filter(|l| l.trim_start().starts_with("sftp -i"))
        });
        (child, cmd.trim().to_string())
    };
    let (mut child, cmd) = start();
    assert!(cmd.ends_with("-P 2222 demo@127.0.0.1"), "{cmd}");
    fs::write(dir.path().join("hello.csv"), "こんにちは").unwrap();
    fs::write(
        dir.path().join("b"),
        "put hello.csv /inbox/hello.csv\nls /inbox\n",
    )
    .unwrap();
    // Run the printed command as printed (host key checking on), in batch mode.
    let run_printed = |cmd: &str| {
        let mut words: Vec<&str> = cmd.split_whitespace().collect();
        let dest = words.pop().unwrap();
        Command::new(words[0])
            .args(&words[1..])
            .args(["-o", "BatchMode=yes", "-b", "b", dest])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run_printed(&cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello.csv"));
    let keys = [
        "renkei-data/host_ed25519",
        "renkei-data/demo_ed25519",
        "renkei-data/vault.key",
    ]
    .map(|k| fs::read(dir.path().join(k)).unwrap());
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());

    let (mut child, cmd2) = start();
    assert_eq!(cmd, cmd2);
    let again = [
        "renkei-data/host_ed25519",
        "renkei-data/demo_ed25519",
        "renkei-data/vault.key",
    ]
    .map(|k| fs::read(dir.path().join(k)).unwrap());
    assert_eq!(keys, again, "a second start reuses every key");
    let out = run_printed(&cmd);
    assert!(
        out.status.success(),
        "the known host key still matches: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls = Command::new(BIN)
        .args(["ctl", "ls", "--tenant", "990001", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ls.stdout).contains("hello.csv"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_shipped_example_configuration_is_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(BIN)
        .args(["check", "--config", &format!("{root}/config/renkei.toml")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("032018 盛岡市")
            && text.contains("own networks: 10.103.51.7/32")
            && text.contains("scan      clamd at /run/clamav/clamd.ctl")
            && text.contains("check     juki-fixed"),
        "{text}"
    );
}

/// Finding: one key listed for two municipalities' accounts was accepted
/// silently, so whoever held it could act as either. Both `check` and
/// `serve` now refuse it and name the line of the second account.
#[test]
fn one_key_for_two_municipalities_is_refused_by_check_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let second = "\n[[tenant]]\ncode = \"032051\"\nname = \"八幡平市\"\nnetworks = [\"10.21.0.0/16\"]\n\n[[tenant.account]]\nuser = \"032051-juki\"\nkeys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd juki-batch\"]\n";
    fs::write(dir.path().join("shared.toml"), format!("{VALID}{second}")).unwrap();
    for cmd in ["check", "serve"] {
        let out = renkei(dir.path(), &["--config", "shared.toml", cmd]);
        assert!(!out.status.success(), "{cmd} must refuse a shared key");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("shared.toml:21:"), "{cmd}: {err}");
        assert!(
            err.contains("032051-juki") && err.contains("032018-juki"),
            "{cmd}: {err}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "a refused serve creates nothing"
    );
}

/// Finding: `policy explain` without `--config` was refused although the
/// help says the embedded default applies.
#[test]
fn policy_explain_without_config_uses_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = renkei(
        dir.path(),
        &[
            "policy",
            "explain",
            "--tenant",
            "990001",
            "--user",
            "demo",
            "--from",
            "127.0.0.1",
            "--op",
            "upload",
            "--path",
            "/inbox/a.csv",
        ],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("note: no --config") || text.contains("embedded default"),
        "{text}"
    );
    assert!(text.contains("allow  upload /inbox/a.csv"), "{text}");
    assert!(
        !dir.path().join("renkei-data").exists(),
        "a question writes nothing"
    );
}

/// Runs `renkei ARGS` in `dir` with stderr and stdout together.
fn renkei_text(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = renkei(dir, args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Finding: `check` passed what `serve` then refused, and `serve` refused
/// only after creating the data directory and the audit key. Both now find
/// a key with a bad mode, a garbage or passphrase-protected key and a port
/// in use, and `serve` writes nothing when it refuses.
#[test]
fn check_finds_what_serve_would_refuse_and_serve_writes_nothing_first() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let config = |extra: &str, listen: &str| {
        format!(
            "{}{extra}",
            VALID
                .replace(
                    "data_dir = \"data\"",
                    &format!("data_dir = \"data\"\nhost_key = \"keys/host\"\n{listen}")
                )
                .replace("listen = \"127.0.0.1:0\"\n", "")
        )
    };
    let both = |name: &str, text: String, want: &str| {
        fs::write(dir.path().join(name), text).unwrap();
        for cmd in ["check", "serve"] {
            let (ok, out) = renkei_text(dir.path(), &["--config", name, cmd]);
            assert!(!ok, "{cmd} {name} must refuse: {out}");
            assert!(out.contains(want), "{cmd} {name}: {out}");
        }
        assert!(
            !dir.path().join("data").exists(),
            "{name}: a refused serve wrote the data directory"
        );
    };
    let free = "listen = \"127.0.0.1:0\"";
    // A host key others can read.
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(keys.join("host"))
        .status()
        .unwrap();
    assert!(st.success());
    fs::set_permissions(keys.join("host"), fs::Permissions::from_mode(0o644)).unwrap();
    both("mode.toml", config("", free), "chmod 600");
    // A passphrase-protected host key.
    fs::remove_file(keys.join("host")).unwrap();
    fs::remove_file(keys.join("host.pub")).unwrap();
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "secret", "-f"])
        .arg(keys.join("host"))
        .status()
        .unwrap();
    assert!(st.success());
    both("pass.toml", config("", free), "encrypted with a passphrase");
    fs::remove_file(keys.join("host")).unwrap();
    // A vault key that is garbage.
    fs::write(keys.join("vault.key"), "not a key\n").unwrap();
    fs::set_permissions(keys.join("vault.key"), fs::Permissions::from_mode(0o600)).unwrap();
    both(
        "garbage.toml",
        config("\n[vault]\nidentity = \"keys/vault.key\"\n", free),
        "keys/vault.key",
    );
    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    both(
        "port.toml",
        config("", &format!("listen = \"127.0.0.1:{port}\"")),
        &format!("cannot listen on 127.0.0.1:{port}"),
    );
    drop(busy);
    let (ok, out) = renkei_text(dir.path(), &["--config", "port.toml", "check"]);
    assert!(ok && out.contains("usable"), "{out}");
}

/// A read-only data directory (a read-only mount, which stops root too) is
/// found by `check` and refused by `serve` before it writes anything.
#[test]
fn a_read_only_data_directory_is_found_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("renkei.toml"), VALID).unwrap();
    fs::create_dir_all(dir.path().join("data")).unwrap();
    let script = format!(
        "mount -t tmpfs -o ro,size=1m tmpfs {data} && {bin} --config renkei.toml check; echo \"check=$?\"; {bin} --config renkei.toml serve; echo \"serve=$?\"",
        data = dir.path().join("data").display(),
        bin = BIN
    );
    let out = Command::new("unshare")
        .args(["-r", "-m", "sh", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("check=1") && text.contains("serve=1"),
        "{text}"
    );
    assert!(
        text.contains("the daemon cannot write in it") && text.contains("Read-only file system"),
        "{text}"
    );
}

/// A scanner that does not answer is reported by `check`, not a reason
/// to refuse: files wait for it in `checking` (fail closed).
#[test]
fn check_says_whether_the_scanner_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("no-clamd.ctl");
    let text = format!(
        "{VALID}\n[scan]\nclamd = {:?}\n",
        sock.display().to_string()
    );
    fs::write(dir.path().join("scan.toml"), text).unwrap();
    let out = renkei(dir.path(), &["--config", "scan.toml", "check"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("does not answer now") && text.contains("wait in checking"),
        "{text}"
    );
}

/// `check` summarises segments and lanes.
#[test]
fn segments_and_lanes_are_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let segments = "\n[[segment]]\nname = \"standard\"\nlabel = \"標準システム系\"\nlisten = [\"127.0.0.2:0\"]\nnetworks = [\"127.0.0.2/32\"]\n\n[[segment.account]]\nuser = \"std-ope\"\n\n[[segment]]\nname = \"chukan\"\nlabel = \"統合専用端末系\"\nlisten = [\"127.0.0.3:0\"]\nnetworks = [\"127.0.0.3/32\"]\n\n[[segment.account]]\nuser = \"chukan-ope\"\n";
    let lane = "\n[[lane]]\nname = \"kanyusha-down\"\nfrom = \"standard\"\nto = \"chukan\"\nsenders = [\"std-ope\"]\nreceivers = [\"chukan-ope\"]\n";
    fs::write(
        dir.path().join("lane.toml"),
        format!("{VALID}{segments}{lane}"),
    )
    .unwrap();
    let (ok, text) = renkei_text(dir.path(), &["check", "--config", "lane.toml"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("segment   standard 標準システム系  listen: 127.0.0.2:0"),
        "{text}"
    );
    assert!(
        text.contains("lane      kanyusha-down") && text.contains("standard -> chukan only"),
        "{text}"
    );
}
