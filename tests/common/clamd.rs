//! A real clamd for tests (Debian's clamav-daemon, which the README's test
//! command installs), with its own configuration, socket and a signature
//! database the test writes: one signature for a marker string, so nothing
//! is downloaded. Shared by the root tests and renkei-checks' tests (which
//! include this file by path).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLAMD: &str = "/usr/sbin/clamd";
/// Bytes the test signature matches.
pub const MARKER: &[u8] = b"RENKEI-TEST-VIRUS-MARKER";
/// The name clamd gives a file holding [`MARKER`].
pub const SIGNATURE: &str = "Renkei.Test.Marker.UNOFFICIAL";

/// A clamd of the test's own; killed when dropped.
pub struct TestClamd {
    dir: tempfile::TempDir,
    pub socket: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

impl Drop for TestClamd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether clamd at `socket` answers `PING` now.
pub fn answers(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"zPING\0").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply.starts_with(b"PONG")
}

impl TestClamd {
    /// Starts clamd with `StreamMaxLength` = `max_stream` and waits (with
    /// a deadline) until it answers.
    pub fn start(max_stream: &str) -> TestClamd {
        assert!(
            Path::new(CLAMD).exists(),
            "{CLAMD} is missing: scripts/test.sh installs clamav-daemon"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        std::fs::create_dir(&db).expect("db dir");
        std::fs::write(
            db.join("renkei-test.ndb"),
            format!("Renkei.Test.Marker:0:*:{}\n", hex(MARKER)),
        )
        .expect("signature");
        let socket = dir.path().join("clamd.sock");
        let conf = dir.path().join("clamd.conf");
        std::fs::write(
            &conf,
            format!(
                "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {}\nTemporaryDirectory {}\nStreamMaxLength {max_stream}\nMaxThreads 4\n",
                socket.display(),
                db.display(),
                dir.path().join("clamd.log").display(),
                dir.path().display()
            ),
        )
        .expect("config");
        let mut c = TestClamd {
            dir,
            socket,
            conf,
            child: None,
        };
        c.run();
        c
    }

    /// Starts (again) and waits until it answers.
    pub fn run(&mut self) {
        let child = Command::new(CLAMD)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !answers(&self.socket) {
            assert!(
                Instant::now() < deadline,
                "clamd did not answer PING within 90 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it; its socket stops answering.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `[scan]` table pointing at this clamd.
    pub fn scan_table(&self, extra: &str) -> String {
        format!(
            "[scan]\nclamd = {:?}\ntimeout = \"10s\"\nretry_first = \"1s\"\nretry_max = \"2s\"\n{extra}\n",
            self.socket.display().to_string()
        )
    }
}
