//! The clients a test drives the daemon with, as the daemon's own
//! methods: OpenSSH's `sftp` (batches, in the background, rate-limited),
//! paramiko scripts.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use super::{Daemon, PARAMIKO, PYTHON, sha256_hex};

impl Daemon {
    /// OpenSSH options for `user`'s key, with `port_flag` (-P for sftp/scp,
    /// -p for ssh).
    pub fn ssh_opts(&self, user: &str, port_flag: &str) -> Vec<String> {
        openssh_opts(&self.keys[user].private, port_flag, self.port)
    }

    /// Runs an OpenSSH `sftp -b` batch as `user` in the work directory.
    pub fn sftp(&self, user: &str, batch: &[u8], extra: &[&str]) -> Output {
        let file = self.work.join(format!("batch-{}", sha256_hex(batch)));
        fs::write(&file, batch).unwrap();
        Command::new("sftp")
            .args(self.ssh_opts(user, "-P"))
            .args(extra)
            .arg("-b")
            .arg(&file)
            .arg(format!("{user}@127.0.0.1"))
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs an sftp batch and asserts it succeeded; returns stdout.
    pub fn sftp_ok(&self, user: &str, batch: &str) -> String {
        let out = self.sftp(user, batch.as_bytes(), &[]);
        assert!(
            out.status.success(),
            "sftp batch failed:\n{batch}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts an `sftp -b` batch in the background as `user`, limited to
    /// `kbit_per_s` so that it is still running when the test acts on it.
    pub fn sftp_background(&self, user: &str, batch: &str, kbit_per_s: u32) -> Child {
        let file = self
            .work
            .join(format!("batch-{}", sha256_hex(batch.as_bytes())));
        fs::write(&file, batch).unwrap();
        Command::new("sftp")
            .args(self.ssh_opts(user, "-P"))
            .args(["-l", &kbit_per_s.to_string(), "-b"])
            .arg(&file)
            .arg(format!("{user}@127.0.0.1"))
            .current_dir(&self.work)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs the paramiko driver as `user`.
    pub fn paramiko(&self, user: &str, args: &[&str]) -> Output {
        self.paramiko_keyed(user, user, args)
    }

    /// Runs the paramiko driver as `user` holding `key_of`'s key (any user
    /// name, configured or not).
    pub fn paramiko_keyed(&self, user: &str, key_of: &str, args: &[&str]) -> Output {
        Command::new(PYTHON)
            .arg(PARAMIKO)
            .args(["127.0.0.1", &self.port.to_string(), user])
            .arg(&self.keys[key_of].private)
            .args(args)
            .current_dir(&self.work)
            .output()
            .unwrap()
    }

    /// Starts the paramiko driver as `user` with stdin and stdout piped,
    /// for commands that wait for the test between steps.
    pub fn paramiko_child(&self, user: &str, args: &[&str]) -> Child {
        Command::new(PYTHON)
            .arg(PARAMIKO)
            .args(["127.0.0.1", &self.port.to_string(), user])
            .arg(&self.keys[user].private)
            .args(args)
            .current_dir(&self.work)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Runs the paramiko driver and parses its last JSON line.
    pub fn paramiko_json(&self, user: &str, args: &[&str]) -> Value {
        let out = self.paramiko(user, args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|_| {
            panic!(
                "paramiko {args:?} gave no JSON: status {}\nstdout:\n{stdout}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// Kills a background client and the `ssh` it spawned, as a dropped
/// connection would end it.
pub fn kill_client(mut child: Child) {
    let _ = Command::new("pkill")
        .args(["-9", "-P", &child.id().to_string()])
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// OpenSSH options for a test: only `key`, no host key checks, no
/// prompts; `port_flag` is -P for sftp/scp, -p for ssh.
pub fn openssh_opts(key: &Path, port_flag: &str, port: u16) -> Vec<String> {
    let mut o = vec![
        "-i".to_string(),
        key.display().to_string(),
        port_flag.into(),
        port.to_string(),
    ];
    for opt in [
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "LogLevel=ERROR",
    ] {
        o.push("-o".into());
        o.push(opt.into());
    }
    o
}

/// OpenSSH `sftp -b FILE` as `user` with `key` to `host:port`, from
/// source address `from` (segment listeners admit only their networks).
pub fn sftp_from(
    key: &Path,
    user: &str,
    host: &str,
    port: u16,
    from: &str,
    batch: &Path,
) -> Command {
    let mut c = Command::new("sftp");
    c.args(openssh_opts(key, "-P", port))
        .args(["-o", &format!("BindAddress={from}")])
        .arg("-b")
        .arg(batch)
        .arg(format!("{user}@{host}"))
        .stdin(Stdio::null());
    c
}
