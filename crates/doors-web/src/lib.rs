//! The HTTPS front door: オンラインファイル連携 for 窓口 staff, lanes for
//! segment users and their approvers, the audit trail for auditors, and
//! the operator's view — in a browser, over the same core as SFTP.
//!
//! The stack is mainstream (hyper under axum, rustls); what is renkei's
//! own is identity. Admission is the core's door kit, as for every door
//! (`renkei_core::door::Gate`): bans, then source networks, then
//! connection limits, at TCP accept, and the ban again at every request. Each listener
//! serves one scope (decision 0011): `[web] listen` serves municipal staff,
//! auditors and operators; a segment's `web_listen` serves that segment's
//! accounts only. Every file operation is a `Namespace` or `transfer` call
//! with a principal whose protocol is `https`, so rules, the checks stage,
//! encryption, receipts and audit records are the ones SFTP gets. URLs
//! name files by their path in the caller's own namespace, never by a
//! storage path or an object id: there is nothing of another tenant's a
//! URL could name.

// A handler's refusal is the response it answers with; boxing every
// `Response` in an `Err` would only move the allocation.
#![allow(clippy::result_large_err)]

mod audit;
mod body;
mod deadline;
mod files;
mod form;
mod html;
pub mod login;
mod operate;
mod pages;
mod routes;
pub mod server;
pub mod session;
mod signin;
mod upload;

/// What the fuzz targets call: the upload form's reader.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use upload::fuzzing;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;

use renkei_core::defender::Defender;
use renkei_core::door::Gate;
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::Namespace;

use renkei_core::door::tls;

/// Which people a web listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebDoor {
    /// `[web] listen`: municipal staff, auditors, operators.
    Staff,
    /// A segment's `web_listen`: that segment's accounts only.
    Segment(String),
}

impl WebDoor {
    pub fn describe(&self) -> String {
        match self {
            WebDoor::Staff => "the [web] listener".into(),
            WebDoor::Segment(name) => format!("the web listener of segment {name}"),
        }
    }

    /// A session's listener, as stored with it and shown in `status`.
    pub fn key(&self) -> String {
        match self {
            WebDoor::Staff => "staff".into(),
            WebDoor::Segment(name) => format!("segment:{name}"),
        }
    }
}

/// What one connection brings to each of its requests.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub door: WebDoor,
    /// SHA-256 (hex) of the client certificate, when one was presented.
    pub client_cert: Option<String>,
}

/// Shared by every web connection.
pub struct Web {
    pub live: Arc<Live>,
    pub ns: Arc<Namespace>,
    pub events: Arc<Events>,
    pub defender: Arc<Defender>,
    pub admin: Option<Arc<renkei_console::Context>>,
    pub certs: Arc<tls::CertStore>,
    sessions: session::Sessions,
    uploads: Arc<Semaphore>,
    /// argon2id verifications at once (each holds ~19 MiB).
    verifying: Semaphore,
    /// Signed audit bundles made at once (each holds its period).
    exports: Semaphore,
    /// Admission and the table of open connections (the core's door kit).
    gate: Gate,
    /// The bound listeners (set once, when bound).
    listening: std::sync::OnceLock<Vec<(WebDoor, SocketAddr)>>,
}

/// Password verifications at once, for the daemon: argon2id is memory-hard
/// by design, so a burst of logins must queue instead of taking RAM.
pub const LOGIN_VERIFY_CONCURRENCY: usize = 2;

impl Web {
    pub fn new(
        live: Arc<Live>,
        ns: Arc<Namespace>,
        events: Arc<Events>,
        defender: Arc<Defender>,
        admin: Option<Arc<renkei_console::Context>>,
        certs: Arc<tls::CertStore>,
    ) -> Arc<Web> {
        let config = live.get().config.clone();
        let limits = config
            .web
            .as_ref()
            .map(|w| w.limits.clone())
            .unwrap_or_default();
        let l = &limits;
        Arc::new(Web {
            sessions: session::Sessions::new(
                l.max_sessions,
                l.max_sessions_per_user,
                l.session_idle,
                l.session_absolute,
            ),
            uploads: Arc::new(Semaphore::new(l.max_uploads)),
            verifying: Semaphore::new(LOGIN_VERIFY_CONCURRENCY),
            exports: Semaphore::new(1),
            gate: Gate::new(
                renkei_core::policy::Protocol::Https,
                Arc::clone(&live),
                Arc::clone(&events),
                Arc::clone(&defender),
            )
            .showing_bans(),
            listening: std::sync::OnceLock::new(),
            live,
            ns,
            events,
            defender,
            admin,
            certs,
        })
    }

    /// Each listener's door and bound address.
    pub fn listening(&self) -> &[(WebDoor, SocketAddr)] {
        self.listening.get().map(Vec::as_slice).unwrap_or(&[])
    }

    /// What `ctl status` shows of the web door.
    pub fn status(&self) -> renkei_core::door::status::WebStatus {
        renkei_core::door::status::WebStatus {
            listeners: self
                .listening()
                .iter()
                .map(|(door, addr)| (door.key(), addr.to_string()))
                .collect(),
            sessions: self.sessions(),
            connections: self.connections(),
            certificate_sha256: self.certs.fingerprint(),
        }
    }

    /// Browser sessions open now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Web connections open now.
    pub fn connections(&self) -> usize {
        self.gate.open()
    }
}
