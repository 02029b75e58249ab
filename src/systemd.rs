//! systemd's notification protocol (sd_notify(3)), spoken directly: a
//! datagram of `KEY=VALUE` lines to the socket named by `NOTIFY_SOCKET`
//! (a path, or `@name` in the abstract namespace). No libsystemd: the
//! protocol is four lines of code and a stable interface.
//!
//! The daemon says `READY=1` only after recovery and after every listener
//! is bound, keeps `STATUS=` current, asks for more time with
//! `EXTEND_TIMEOUT_USEC=` while a long recovery runs, says `STOPPING=1`
//! when it stops, and, when the unit sets `WatchdogSec=`, sends
//! `WATCHDOG=1` only while its listeners run and its journal writer
//! answers — a stuck daemon stops feeding the watchdog and systemd
//! restarts it.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go, when the daemon runs under systemd (or a test
/// that listens like it).
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
}

enum Target {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (the
    /// watchdog is ours only when the pid is ours or not given).
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let bytes = s.into_encoded_bytes();
            match bytes.first() {
                Some(b'@') => Some(Target::Abstract(bytes[1..].to_vec())),
                Some(b'/') => Some(Target::Path(std::path::PathBuf::from(
                    String::from_utf8_lossy(&bytes).into_owned(),
                ))),
                _ => None,
            }
        });
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    /// Sends one notification; a failure is logged, never fatal (the
    /// daemon serves whether or not anyone listens).
    pub fn send(&self, message: &str) {
        let Some(target) = &self.target else { return };
        let sent = UnixDatagram::unbound().and_then(|sock| match target {
            Target::Path(p) => sock.send_to(message.as_bytes(), p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(message.as_bytes(), &addr)
            }
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }

    /// How often to feed the watchdog: half its timeout, as systemd
    /// advises.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Asks for more start-up time every 10 s (30 s each) while `what`
    /// runs; abort the task when it is done.
    pub fn extend_while(&self, what: &str) -> tokio::task::JoinHandle<()> {
        let target = self.target.as_ref().map(|t| match t {
            Target::Path(p) => Target::Path(p.clone()),
            Target::Abstract(n) => Target::Abstract(n.clone()),
        });
        let me = Notifier {
            target,
            watchdog: None,
        };
        let message = format!("EXTEND_TIMEOUT_USEC=30000000\nSTATUS={what}");
        // The first request goes before the work starts, not whenever the
        // task first runs: a quick recovery must not race past it.
        if me.target.is_some() {
            me.send(&message);
        }
        tokio::spawn(async move {
            if me.target.is_none() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                me.send(&message);
            }
        })
    }

    /// `STATUS=` with newlines (which would end the line) made spaces.
    pub fn status(&self, text: &str) {
        self.send(&format!("STATUS={}", text.replace('\n', " ")));
    }
}
