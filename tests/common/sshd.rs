//! A real OpenSSH sshd on loopback, standing in for the standard system's
//! SFTP server (or a municipality's): its own host key, one client key,
//! `internal-sftp`, files under a temporary directory.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use super::{Key, eventually, keygen};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The server's host key as an authorized_keys line (for `host_key`).
    pub host_key_line: String,
    /// The key renkei logs in with.
    pub client: Key,
    pub user: String,
    child: Option<Child>,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Prepared (keys, configuration) but not started.
    pub fn prepare(port: u16) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let host = keygen(dir.path(), "host_ed25519", "ed25519");
        let client = keygen(dir.path(), "client_ed25519", "ed25519");
        fs::write(
            dir.path().join("authorized_keys"),
            format!("{}\n", client.public_line),
        )
        .unwrap();
        fs::create_dir_all(dir.path().join("files")).unwrap();
        let _ = fs::create_dir_all("/run/sshd");
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
            host = host.private.display(),
            d = dir.path().display()
        );
        fs::write(dir.path().join("sshd_config"), config).unwrap();
        Sshd {
            host_key_line: host.public_line.clone(),
            dir,
            port,
            client,
            user,
            child: None,
        }
    }

    pub fn start() -> Sshd {
        let mut s = Sshd::prepare(free_port());
        s.run();
        s
    }

    /// Starts (or restarts) the server and waits until it accepts.
    pub fn run(&mut self) {
        let sshd = if Path::new("/usr/sbin/sshd").exists() {
            "/usr/sbin/sshd"
        } else {
            "sshd"
        };
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-f")
            .arg(self.dir.path().join("sshd_config"))
            .arg("-E")
            .arg(self.dir.path().join("sshd.log"))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        eventually("sshd to listen", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Absolute path of a directory under the server's files.
    /// Replaces the SFTP subsystem with `command` (a server under test's
    /// control, e.g. one that lies); call before [`Sshd::run`].
    pub fn set_subsystem(&self, command: &str) {
        let path = self.dir.path().join("sshd_config");
        let config = fs::read_to_string(&path).unwrap();
        fs::write(
            &path,
            config.replace(
                "Subsystem sftp internal-sftp",
                &format!("Subsystem sftp {command}"),
            ),
        )
        .unwrap();
    }

    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// TOML for an sftp end pointing at this server, with `path`.
    pub fn end(&self, path: &str, extra: &str) -> String {
        format!(
            "{{ sftp = \"127.0.0.1:{}\", user = \"{}\", key = \"{}\", host_key = \"{}\", path = \"{}\"{extra} }}",
            self.port,
            self.user,
            self.client.private.display(),
            self.host_key_line,
            path
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
