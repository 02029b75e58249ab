//! Passive data connections, and why nobody but the client can use one.
//!
//! `PASV`/`EPSV` binds one port of `ftps.passive_ports` on the address the
//! control connection came in on. The data connection it then accepts
//! must come from the control connection's address (others are dropped
//! and recorded), and its TLS handshake must *resume* a session of this
//! control connection: each control connection has its own TLS session
//! store, so only the client that holds that session's secret can
//! complete it. A stranger who races the client to the port gets
//! nothing, even from the same NAT address (RFC 4217 §10, "data
//! connection stealing").

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::StoresServerSessions;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// TLS sessions one control connection keeps for its data connections to
/// resume.
pub const SESSIONS_PER_CONNECTION: usize = 16;

/// The TLS configurations of one control connection and its data
/// connections: the door's, sharing a session store of their own.
pub(super) struct ConnectionTls {
    pub control: Arc<ServerConfig>,
    /// Issues no tickets: the store then holds the control connection's
    /// sessions only, which is what clients resume from.
    pub data: Arc<ServerConfig>,
}

pub(super) fn per_connection(base: &ServerConfig) -> ConnectionTls {
    let mut control = base.clone();
    control.session_storage = Arc::new(ConnectionSessions::default());
    // No 0-RTT: early data could be replayed, and FTP has no use for it.
    control.max_early_data_size = 0;
    let mut data = control.clone();
    data.send_tls13_tickets = 0;
    ConnectionTls {
        control: Arc::new(control),
        data: Arc::new(data),
    }
}

/// The TLS sessions of one control connection, newest last, at most
/// [`SESSIONS_PER_CONNECTION`] (a client that renegotiates nothing needs
/// one or two: TLS 1.3 sends two tickets, TLS 1.2 keeps one session id).
///
/// A TLS 1.3 ticket may be used more than once here, unlike rustls's own
/// store: FTP clients resume every data connection from the control
/// connection's session, not from the one before. That is safe because
/// early data is off (nothing can be replayed) and every resumption
/// still makes a fresh (EC)DHE exchange (rustls offers `psk_dhe_ke`
/// only), so each data connection has keys of its own.
#[derive(Debug, Default)]
struct ConnectionSessions {
    kept: Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>,
}

impl StoresServerSessions for ConnectionSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut kept) = self.kept.lock() else {
            return false;
        };
        if kept.len() >= SESSIONS_PER_CONNECTION {
            kept.pop_front();
        }
        kept.push_back((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let kept = self.kept.lock().ok()?;
        kept.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The passive port range, shared by every session.
pub(super) struct Ports {
    range: RangeInclusive<u16>,
    /// Where the next search starts, so ports are reused last.
    next: AtomicU32,
}

/// A bound passive port, waiting for its data connection.
pub(super) struct Passive {
    listener: TcpListener,
    pub port: u16,
}

/// Why a data connection could not be had.
#[derive(Debug, thiserror::Error)]
pub(super) enum DataError {
    #[error("no free port in ftps.passive_ports {0}-{1}")]
    NoPort(u16, u16),
    #[error("no data connection arrived within {0}s (ftps.data_connect_timeout)")]
    Timeout(u64),
    #[error("the data connection's TLS handshake failed: {0}")]
    Handshake(String),
    #[error(
        "the data connection did not resume the control connection's TLS session (TLS session reuse is required)"
    )]
    NotResumed,
    #[error("the data connection failed: {0}")]
    Io(#[from] std::io::Error),
}

impl Ports {
    pub(super) fn new(range: RangeInclusive<u16>) -> Ports {
        Ports {
            range,
            next: AtomicU32::new(0),
        }
    }

    pub(super) fn describe(&self) -> String {
        format!("{}-{}", self.range.start(), self.range.end())
    }

    /// Binds a free port of the range on `ip`.
    pub(super) async fn bind(&self, ip: IpAddr) -> Result<Passive, DataError> {
        let (low, high) = (*self.range.start(), *self.range.end());
        let count = u32::from(high - low) + 1;
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for i in 0..count {
            let port = low + ((start + i) % count) as u16;
            match TcpListener::bind(SocketAddr::new(ip, port)).await {
                Ok(listener) => {
                    self.next.store((start + i + 1) % count, Ordering::Relaxed);
                    return Ok(Passive { listener, port });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(DataError::Io(e)),
            }
        }
        Err(DataError::NoPort(low, high))
    }
}

impl Passive {
    /// Accepts the data connection from `client`, before `deadline`.
    /// A connection from any other address is dropped and reported to
    /// `stranger`, and the wait goes on.
    pub(super) async fn accept(
        &self,
        client: IpAddr,
        deadline: Instant,
        within: Duration,
        mut stranger: impl FnMut(SocketAddr),
    ) -> Result<TcpStream, DataError> {
        let client = renkei_config::canonical_ip(client);
        loop {
            let (stream, from) = tokio::time::timeout_at(deadline, self.listener.accept())
                .await
                .map_err(|_| DataError::Timeout(within.as_secs()))??;
            if renkei_config::canonical_ip(from.ip()) == client {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            stranger(from);
        }
    }
}

/// The TLS handshake of a data connection: it must resume one of the
/// sessions `config` (the control connection's) holds.
pub(super) async fn secure(
    tcp: TcpStream,
    config: &Arc<ServerConfig>,
    deadline: Instant,
    within: Duration,
) -> Result<TlsStream<TcpStream>, DataError> {
    let acceptor = TlsAcceptor::from(Arc::clone(config));
    let tls = tokio::time::timeout_at(deadline, acceptor.accept(tcp))
        .await
        .map_err(|_| DataError::Timeout(within.as_secs()))?
        .map_err(|e| DataError::Handshake(e.to_string()))?;
    if tls.get_ref().1.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
        return Err(DataError::NotResumed);
    }
    Ok(tls)
}
