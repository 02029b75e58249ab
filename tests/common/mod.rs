//! Test harness: a real `renkei serve` on an ephemeral loopback port, with
//! real keys (ssh-keygen) and real clients (OpenSSH, paramiko, lftp, curl).
//!
//! Nothing here sleeps to synchronise: every wait polls a real condition
//! (the control socket answering, an event in the log, a file on disk)
//! against a deadline.
#![allow(dead_code)]
// A harness that cannot do what a test needs fails that test: unwrap,
// expect and panic are how it says so (the workspace denies them in the
// product).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod blobs;
pub mod browser;
pub mod checks;
pub mod clamd;
mod clients;
pub mod ftps;
pub mod garage;
pub mod pg;
pub mod sshd;
pub mod web;

#[allow(unused_imports)]
pub use blobs::{Blob, blobs_in_s3};
#[allow(unused_imports)] // not every test binary kills a client
pub use clients::{kill_client, openssh_opts, sftp_from};

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_renkei");
pub const PARAMIKO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/clients/paramiko_client.py"
);
/// Debian's python3, which has python3-paramiko.
pub const PYTHON: &str = "/usr/bin/python3";

/// Runs the Python client `script` (under tests/clients) with `args`,
/// asserts it succeeded, and returns what it printed, trimmed.
pub fn python_client(script: &str, args: &[&str]) -> String {
    let path = format!("{}/tests/clients/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(PYTHON).arg(&path).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `renkei --config CONFIG SUB ARGS…` (offline commands, no daemon
/// needed); whether it succeeded, and stdout+stderr.
pub fn renkei_cli(config: &Path, sub: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg(sub)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Resident memory of a process, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Panics if any file under `dir` holds `marker`: what clients sent must
/// be encrypted at rest, wherever it is kept.
pub fn assert_no_plaintext(dir: &Path, marker: &[u8]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = fs::read(&p) {
                seen += 1;
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "plaintext in {}",
                    p.display()
                );
            }
        }
    }
    assert!(seen > 0, "no files under {}", dir.display());
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Polls `f` until it gives a value or `timeout` passes (then `None`).
pub fn try_eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn sha256_file(path: &Path) -> String {
    sha256_hex(&fs::read(path).unwrap())
}

/// Deterministic pseudo-random bytes (xorshift), so that large test files
/// do not compress and differ per seed.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[derive(Clone)]
pub struct Key {
    pub private: PathBuf,
    pub public_line: String,
}

/// Generates a key pair with ssh-keygen (`kind`: ed25519 or rsa).
pub fn keygen(dir: &Path, name: &str, kind: &str) -> Key {
    let private = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
        .arg(&private);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    let st = cmd.status().expect("ssh-keygen runs");
    assert!(st.success(), "ssh-keygen failed");
    let public_line = fs::read_to_string(private.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    Key {
        private,
        public_line,
    }
}

/// One tenant of a test configuration.
pub struct TenantSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub networks: Vec<&'static str>,
    /// (user, own networks)
    pub accounts: Vec<(&'static str, Option<Vec<&'static str>>)>,
}

/// The default test world: 盛岡市 with two accounts, 札幌市 with one.
pub fn default_tenants() -> Vec<TenantSpec> {
    vec![
        TenantSpec {
            code: "032018",
            name: "盛岡市",
            networks: vec!["127.0.0.0/8"],
            accounts: vec![("032018-juki", None), ("032018-zei", None)],
        },
        TenantSpec {
            code: "011002",
            name: "札幌市",
            networks: vec!["127.0.0.0/8"],
            accounts: vec![("011002-juki", None)],
        },
    ]
}

pub struct Daemon {
    pub root: tempfile::TempDir,
    pub config: PathBuf,
    pub data: PathBuf,
    /// A directory for the clients' local files.
    pub work: PathBuf,
    pub port: u16,
    pub keys: HashMap<String, Key>,
    log: PathBuf,
    child: Option<Child>,
    /// A data subdirectory on a tmpfs of this size, when the test wants a
    /// small disk.
    tmpfs: Option<(&'static str, u64)>,
    /// A directory (under the test's root) that is a FUSE file system on
    /// which every write hangs, as on a hung network mount.
    hung: Option<PathBuf>,
    /// Environment the daemon is started with (e.g. `NOTIFY_SOCKET`).
    env: Vec<(String, String)>,
    /// The PostgreSQL holding the journal, when this run tests that
    /// engine (`RENKEI_TEST_JOURNAL=postgres`).
    pub pg: Option<pg::Postgres>,
    /// The S3 server holding the blobs, when the test wants one or this
    /// run tests that engine (`RENKEI_TEST_BLOBS=s3`).
    pub s3: Option<garage::Garage>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(default_tenants(), "")
    }

    /// Starts a daemon for `tenants`; `extra` is appended to the
    /// configuration (e.g. a `[limits]` table).
    pub fn start_with(tenants: Vec<TenantSpec>, extra: &str) -> Daemon {
        Daemon::start_with_policies(tenants, extra, &[])
    }

    /// Like [`Daemon::start_with`], with rule files (name, text) in the
    /// policy directory (`<config dir>/policies`).
    pub fn start_with_policies(
        tenants: Vec<TenantSpec>,
        extra: &str,
        policies: &[(&str, &str)],
    ) -> Daemon {
        let mut d = Daemon::unstarted(tenants, "", extra, policies);
        d.spawn();
        d
    }

    /// A daemon configured but not started: `server_keys` go into
    /// `[server]`, `extra` after the tenants. Start it with
    /// [`Daemon::started`].
    pub fn unstarted(
        tenants: Vec<TenantSpec>,
        server_keys: &str,
        extra: &str,
        policies: &[(&str, &str)],
    ) -> Daemon {
        let pg = pg::journal_in_postgres().then(pg::Postgres::start);
        let s3 = blobs_in_s3().then(garage::Garage::start);
        Daemon::unstarted_on(tenants, server_keys, extra, policies, (pg, s3))
    }

    /// A daemon whose journal is in a PostgreSQL of its own, whatever
    /// engine this run tests, started.
    pub fn start_on_postgres(extra: &str) -> Daemon {
        let pg = Some(pg::Postgres::start());
        let mut d = Daemon::unstarted_on(default_tenants(), "", extra, &[], (pg, None));
        d.spawn();
        d
    }

    /// A daemon on redb and the local vault, whatever engine this run
    /// tests (what a migration starts from), started.
    pub fn start_local(extra: &str) -> Daemon {
        let mut d = Daemon::unstarted_on(default_tenants(), "", extra, &[], (None, None));
        d.spawn();
        d
    }

    /// A daemon whose journal is in a PostgreSQL of its own that speaks
    /// TLS only, started.
    pub fn start_on_postgres_tls(extra: &str) -> Daemon {
        let pg = Some(pg::Postgres::start_tls());
        let mut d = Daemon::unstarted_on(default_tenants(), "", extra, &[], (pg, None));
        d.spawn();
        d
    }

    /// A daemon with its journal in a PostgreSQL and its blobs in a
    /// Garage bucket of its own, started.
    pub fn start_on_engines(extra: &str) -> Daemon {
        let engines = (Some(pg::Postgres::start()), Some(garage::Garage::start()));
        let mut d = Daemon::unstarted_on(default_tenants(), "", extra, &[], engines);
        d.spawn();
        d
    }

    /// Another node of this daemon's deployment: its own data directory
    /// and host key, the same configuration, vault key, PostgreSQL and
    /// bucket. Not started.
    pub fn second_node(&self) -> Daemon {
        let root = tempfile::tempdir().unwrap();
        let text = fs::read_to_string(&self.config).unwrap();
        let config = root.path().join("renkei.toml");
        fs::write(
            &config,
            format!(
                "{text}\n[vault]\nidentity = \"{}\"\n",
                self.data.join("vault.key").display()
            ),
        )
        .unwrap();
        let work = root.path().join("work");
        fs::create_dir_all(&work).unwrap();
        Daemon {
            data: root.path().join("data"),
            log: root.path().join("renkei.log"),
            config,
            work,
            port: 0,
            keys: self.keys.clone(),
            child: None,
            tmpfs: None,
            hung: None,
            env: Vec::new(),
            pg: None,
            s3: None,
            root,
        }
    }

    fn unstarted_on(
        tenants: Vec<TenantSpec>,
        server_keys: &str,
        extra: &str,
        policies: &[(&str, &str)],
        (pg, s3): (Option<pg::Postgres>, Option<garage::Garage>),
    ) -> Daemon {
        let root = tempfile::tempdir().unwrap();
        if !policies.is_empty() {
            fs::create_dir_all(root.path().join("policies")).unwrap();
            for (name, text) in policies {
                fs::write(root.path().join("policies").join(name), text).unwrap();
            }
        }
        let keys_dir = root.path().join("keys");
        let work = root.path().join("work");
        fs::create_dir_all(&keys_dir).unwrap();
        fs::create_dir_all(&work).unwrap();
        let mut keys = HashMap::new();
        let mut toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{server_keys}\n\n[log]\nformat = \"json\"\nlevel = \"info\"\n\n",
        );
        if let Some(pg) = &pg {
            toml.push_str(&pg.storage_toml());
        }
        if let Some(s3) = &s3 {
            if pg.is_none() {
                toml.push_str("[storage]\n");
            }
            toml.push_str(&s3.storage_lines());
            toml.push('\n');
        }
        for t in &tenants {
            let nets: Vec<String> = t.networks.iter().map(|n| format!("\"{n}\"")).collect();
            toml.push_str(&format!(
                "[[tenant]]\ncode = \"{}\"\nname = \"{}\"\nnetworks = [{}]\n\n",
                t.code,
                t.name,
                nets.join(", ")
            ));
            for (user, own) in &t.accounts {
                let key = keygen(&keys_dir, user, "ed25519");
                toml.push_str(&format!(
                    "[[tenant.account]]\nuser = \"{user}\"\nkeys = [\"{}\"]\n",
                    key.public_line
                ));
                if let Some(own) = own {
                    let nets: Vec<String> = own.iter().map(|n| format!("\"{n}\"")).collect();
                    toml.push_str(&format!("networks = [{}]\n", nets.join(", ")));
                }
                toml.push('\n');
                keys.insert(user.to_string(), key);
            }
        }
        toml.push_str(extra);
        let config = root.path().join("renkei.toml");
        fs::write(&config, toml).unwrap();
        Daemon {
            data: root.path().join("data"),
            log: root.path().join("renkei.log"),
            config,
            work,
            port: 0,
            keys,
            child: None,
            tmpfs: None,
            hung: None,
            env: Vec::new(),
            pg,
            s3,
            root,
        }
    }

    /// Starts a daemon made by [`Daemon::unstarted`].
    pub fn started(mut self) -> Daemon {
        self.spawn();
        self
    }

    /// The data subdirectory `sub` will be a tmpfs of `bytes` (before
    /// [`Daemon::started`]).
    pub fn on_small(mut self, sub: &'static str, bytes: u64) -> Daemon {
        self.tmpfs = Some((sub, bytes));
        self
    }

    /// Like [`Daemon::start`], but the vault directory is a tmpfs of
    /// `bytes` (in a private user and mount namespace), so that a test can
    /// fill the disk for real.
    pub fn start_with_small_vault(bytes: u64) -> Daemon {
        Daemon::start_with_small("vault", bytes)
    }

    /// Like [`Daemon::start_with`], with `rel` (under the test's root) a
    /// file system on which creating or writing anything hangs for ever.
    pub fn start_with_hung_dir(tenants: Vec<TenantSpec>, extra: &str, rel: &str) -> Daemon {
        let mut d = Daemon::start_with(tenants, extra);
        d.kill9();
        let dir = d.root.path().join(rel);
        fs::create_dir_all(&dir).unwrap();
        d.hung = Some(dir);
        d.spawn();
        d
    }

    /// Starts again (after `kill9` or `stop`) with `env` added to the
    /// daemon's environment.
    pub fn start_again_with_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.spawn();
    }

    /// The data subdirectory `sub` on a tmpfs of `bytes`.
    /// The blobs stay in the local vault whatever the engine: a full disk
    /// is a local disk's failure.
    pub fn start_with_small(sub: &'static str, bytes: u64) -> Daemon {
        let pg = pg::journal_in_postgres().then(pg::Postgres::start);
        let mut d = Daemon::unstarted_on(default_tenants(), "", "", &[], (pg, None));
        d.tmpfs = Some((sub, bytes));
        d.spawn();
        d
    }

    /// Writes a rule file into the policy directory (takes effect at the
    /// next reload or start).
    pub fn write_policy(&self, name: &str, text: &str) {
        let dir = self.root.path().join("policies");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), text).unwrap();
    }

    /// The shipped baseline rule file.
    pub fn baseline_rules() -> String {
        fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/policies/00-baseline.toml"
        ))
        .unwrap()
    }

    /// Appends to the configuration file (takes effect at the next start).
    pub fn append_config(&self, text: &str) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&self.config)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = match (self.tmpfs, &self.hung) {
            (None, Some(dir)) => {
                let script = format!(
                    "{PYTHON} '{fs}' '{dir}' & echo $! > '{pid}'; i=0; while ! mountpoint -q '{dir}'; do i=$((i+1)); [ $i -gt 200 ] && exit 1; sleep 0.05; done; exec '{BIN}' --config '{config}' serve",
                    fs = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/hung_fs.py"),
                    dir = dir.display(),
                    pid = self.root.path().join("hung.pid").display(),
                    config = self.config.display()
                );
                let mut c = Command::new("unshare");
                c.args(["--user", "--map-root-user", "--mount", "sh", "-c", &script]);
                c
            }
            (None, None) => {
                let mut c = Command::new(BIN);
                c.arg("--config").arg(&self.config).arg("serve");
                c
            }
            (Some((sub, bytes)), _) => {
                let vault = self.data.join(sub);
                fs::create_dir_all(&vault).unwrap();
                let script = format!(
                    "mount -t tmpfs -o size={bytes},mode=0700 tmpfs '{}' && exec '{BIN}' --config '{}' serve",
                    vault.display(),
                    self.config.display()
                );
                let mut c = Command::new("unshare");
                c.args(["--user", "--map-root-user", "--mount", "sh", "-c", &script]);
                c
            }
        };
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("renkei starts");
        self.child = Some(child);
        let config = self.config.clone();
        let port = eventually(
            "the daemon to answer on its control socket",
            Duration::from_secs(30),
            || {
                let exited = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                if let Some(status) = exited {
                    panic!(
                        "renkei exited early ({status}); log:\n{}",
                        fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
                let out = Command::new(BIN)
                    .arg("--config")
                    .arg(&config)
                    .args(["ctl", "status", "--json"])
                    .output()
                    .ok()?;
                // Exit status 1 is an error; higher ones are monitoring
                // bits (failed hand-offs, held files) with a full answer.
                if !out.status.success() && out.status.code() == Some(1) {
                    return None;
                }
                let v: Value = serde_json::from_slice(&out.stdout).ok()?;
                let listen = v["listen"].as_str()?;
                listen.rsplit(':').next()?.parse::<u16>().ok()
            },
        );
        self.port = port;
        if let Some(pg) = &self.pg {
            // The parameterised run must really be on PostgreSQL.
            assert!(
                !self.data.join("journal.redb").exists(),
                "the journal is in PostgreSQL, not in the data directory"
            );
            assert_eq!(
                pg.sql("SELECT max(version) FROM renkei_schema"),
                renkei::journal::pg::SCHEMA.to_string()
            );
        }
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        // The hung file system's server goes first: the daemon's threads
        // waiting on it are then released.
        let pid_file = self.root.path().join("hung.pid");
        if let Ok(pid) = fs::read_to_string(&pid_file) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
            let _ = fs::remove_file(&pid_file);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("daemon running");
        let st = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        c.wait().unwrap()
    }

    /// Sends SIGHUP (reload).
    pub fn hup(&self) {
        let st = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    pub fn start_again(&mut self) {
        assert!(self.child.is_none());
        self.spawn();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("ctl")
            .args(args)
            .current_dir(&self.work)
            .output()
            .unwrap()
    }

    /// `ctl status --json`, whatever its monitoring bits.
    pub fn status_json(&self) -> Value {
        let (code, out) = self.ctl_code(&["status", "--json"]);
        assert!(code != 1, "ctl status failed: {out}");
        serde_json::from_str(&out).unwrap()
    }

    /// `ctl ARGS`: its exit status and stdout, whatever the status (the
    /// monitoring bits of `status` and `routes`, docs/operations.md).
    pub fn ctl_code(&self, args: &[&str]) -> (i32, String) {
        let out = self.ctl(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
        )
    }

    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `ctl ls --json` for a tenant.
    pub fn ls(&self, tenant: &str) -> Vec<Value> {
        let out = self.ctl_ok(&["ls", "--tenant", tenant, "--json"]);
        serde_json::from_str(&out).unwrap()
    }

    /// Places a file into a box through the control socket.
    pub fn put(&self, tenant: &str, bx: &str, name: &str, data: &[u8]) -> PathBuf {
        let local = self.work.join(name);
        fs::write(&local, data).unwrap();
        self.ctl_ok(&[
            "put",
            "--tenant",
            tenant,
            "--box",
            bx,
            local.to_str().unwrap(),
        ]);
        local
    }

    /// Fetches a file through the control socket.
    pub fn get(&self, tenant: &str, bx: &str, name: &str) -> Vec<u8> {
        let out = self
            .work
            .join(format!("ctl-get-{}", sha256_hex(name.as_bytes())));
        self.ctl_ok(&[
            "get",
            "--tenant",
            tenant,
            "--box",
            bx,
            name,
            "-o",
            out.to_str().unwrap(),
        ]);
        fs::read(out).unwrap()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every event recorded so far (the `record` of each event log line).
    pub fn events(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| {
                v.get("record")
                    .and_then(|r| r.as_str())
                    .and_then(|r| serde_json::from_str(r).ok())
            })
            .collect()
    }

    /// The audit trail's records of one event, as `renkei audit query
    /// --json` gives them (offline, from the trail on disk).
    pub fn audit_query(&self, event: &str) -> Vec<Value> {
        let (ok, out) = self.cli("audit", &["query", "--json", "--event", event]);
        assert!(ok, "{out}");
        serde_json::from_str(out.trim_start_matches(|c| c != '[')).unwrap()
    }

    /// Runs `renkei --config <this daemon's config> SUB ARGS…` (offline
    /// commands: audit, policy, check); success and stdout+stderr.
    pub fn cli(&self, sub: &str, args: &[&str]) -> (bool, String) {
        renkei_cli(&self.config, sub, args)
    }

    /// Waits for an event matching `pred`.
    pub fn wait_event(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(what, Duration::from_secs(30), || {
            self.events().into_iter().find(|e| pred(e))
        })
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("--- renkei log ---\n{}", self.log_text());
        }
    }
}

/// Names of the entries of `ls` (ctl, JSON) in `bx` with `state`.
/// Names starting with `.` in `dir` (working files a route leaves while
/// it places a file), none if it does not exist.
pub fn hidden_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

pub fn names(entries: &[Value], bx: &str, state: &str) -> Vec<String> {
    let mut v: Vec<String> = entries
        .iter()
        .filter(|e| e["box"] == bx && e["state"] == state)
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// A session's principal, as the door kit mints it for an accepted SFTP
/// login from 127.0.0.1 (nothing outside the core may construct one).
pub fn logged_in(live: &renkei_core::live::Live, user: &str) -> renkei::namespace::Principal {
    let snap = live.get();
    renkei_core::door::login::find(
        &snap,
        &renkei_core::door::login::Attempt {
            user,
            ip: "127.0.0.1".parse().unwrap(),
            conn: 1,
            protocol: renkei_core::policy::Protocol::Sftp,
            scope: &renkei_core::door::Scope::Tenants,
        },
    )
    .verdict
    .unwrap()
}
