//! The FTPS front door: FTP over TLS, and only over TLS, for municipal
//! systems whose vendors' batch tools speak FTP and not SFTP (FTP連携).
//!
//! The FTP command layer is renkei's own (decision 0014): the protocol is
//! a few dozen line commands, and what matters for a gateway — that a data
//! connection is only ever the client's own (same address, resumed TLS
//! session of this control connection), that nothing is served before
//! TLS, that an upload cut off is never committed, that every buffer has
//! a limit — is what a general FTP server library did not let renkei
//! enforce. Cryptography stays in rustls.
//!
//! Everything behind the commands is the core's, as for SFTP and the
//! browser: a `Principal` whose protocol is `ftps`, `Namespace` calls for
//! names, `transfer::Upload`/`Download` for bytes, so rules, encryption,
//! the checks stage, receipts and audit records are the same.

mod auth;
mod command;
mod control;
mod data;
mod listing;
mod login;
mod names;
pub mod server;
mod session;
mod transfer;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use renkei_core::defender::Defender;
use renkei_core::door::Gate;
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::Namespace;

use renkei_core::door::tls::CertStore;

pub use control::MAX_COMMAND_LINE;

/// What the fuzz targets call: the daemon's own command-line parser.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Parses one command line (without its line end) as the session
    /// does: the verb and its argument, or why the line is refused.
    pub fn command(line: &[u8]) -> Result<(String, String), String> {
        super::command::parse(line)
            .map(|c| (c.verb, c.arg))
            .map_err(|e| e.to_string())
    }
}
pub use data::SESSIONS_PER_CONNECTION;

/// Password verifications at once, for the FTPS door (argon2id holds
/// ~19 MiB each).
pub const LOGIN_VERIFY_CONCURRENCY: usize = 2;

/// How a listener starts TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `AUTH TLS` first (`[ftps] listen`).
    Explicit,
    /// TLS from the first byte (`[ftps] implicit_listen`).
    Implicit,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Explicit => "explicit",
            Mode::Implicit => "implicit",
        }
    }
}

/// Shared by every FTPS connection.
pub struct Ftps {
    pub live: Arc<Live>,
    pub ns: Arc<Namespace>,
    pub events: Arc<Events>,
    pub defender: Arc<Defender>,
    pub certs: Arc<CertStore>,
    /// Admission and the table of open connections (the core's door kit).
    gate: Gate,
    ports: data::Ports,
    verifying: Semaphore,
    listening: OnceLock<Vec<(Mode, SocketAddr)>>,
}

impl Ftps {
    /// `None` when `[ftps]` is not configured.
    pub fn new(
        live: Arc<Live>,
        ns: Arc<Namespace>,
        events: Arc<Events>,
        defender: Arc<Defender>,
        certs: Arc<CertStore>,
    ) -> Option<Arc<Ftps>> {
        let range = live.get().config.ftps.as_ref()?.passive_ports.clone();
        let gate = Gate::new(
            renkei_core::policy::Protocol::Ftps,
            Arc::clone(&live),
            Arc::clone(&events),
            Arc::clone(&defender),
        );
        Some(Arc::new(Ftps {
            gate,
            live,
            ns,
            events,
            defender,
            certs,
            ports: data::Ports::new(range),
            verifying: Semaphore::new(LOGIN_VERIFY_CONCURRENCY),
            listening: OnceLock::new(),
        }))
    }

    /// Each listener's mode and bound address.
    pub fn listening(&self) -> &[(Mode, SocketAddr)] {
        self.listening.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// What `ctl status` shows of the FTPS door.
    pub fn status(&self) -> renkei_core::door::status::FtpsStatus {
        renkei_core::door::status::FtpsStatus {
            listeners: self
                .listening()
                .iter()
                .map(|(mode, addr)| (mode.name().to_string(), addr.to_string()))
                .collect(),
            connections: self.connections(),
            passive_ports: self.ports.describe(),
            certificate_sha256: self.certs.fingerprint(),
        }
    }

    /// FTPS control connections open now.
    pub fn connections(&self) -> usize {
        self.gate.open()
    }

    fn limits(&self) -> renkei_config::ftps::FtpsLimits {
        self.live
            .get()
            .config
            .ftps
            .as_ref()
            .map(|f| f.limits.clone())
            .unwrap_or_default()
    }

    /// The address a `PASV` reply names: `ftps.passive_address`, or the
    /// address the client reached.
    fn passive_address(&self, local: IpAddr) -> IpAddr {
        self.live
            .get()
            .config
            .ftps
            .as_ref()
            .and_then(|f| f.passive_address)
            .unwrap_or(local)
    }
}
