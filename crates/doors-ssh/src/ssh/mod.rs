//! The SSH front door: the accept loop, admission, and russh glue.
//!
//! renkei runs its own accept loop (rather than russh's) so that a source
//! address no tenant may connect from is dropped at TCP accept, before the
//! SSH handshake costs anything (default deny at the cheapest point). Each
//! admitted connection runs `russh::server::run_stream` with a [`conn::Conn`]
//! handler; authenticated SFTP channels go to [`crate::sftp`].

mod channel;
mod conn;
pub mod keys;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PrivateKey};
use russh::{MethodKind, MethodSet, Preferred, SshId, cipher, kex, mac};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use renkei_config::Config;
use renkei_core::defender::Defender;
use renkei_core::door::{self, Admitted, Caps, Gate, Scope};
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::Namespace;
use renkei_core::policy::Protocol;

/// Shared by every connection.
pub struct State {
    pub live: Arc<Live>,
    pub ns: Arc<Namespace>,
    pub events: Arc<Events>,
    pub defender: Arc<Defender>,
    /// A directory on the data volume, for `statvfs`.
    pub volume: PathBuf,
    /// Admission and the table of open connections (the core's door kit).
    gate: Gate<russh::server::Handle>,
    /// Every SFTP session task: the server waits for them at stop, so
    /// none outlives the listener even when its connection was cut.
    sessions: TaskTracker,
}

impl State {
    pub fn new(
        live: Arc<Live>,
        ns: Arc<Namespace>,
        events: Arc<Events>,
        defender: Arc<Defender>,
        volume: PathBuf,
    ) -> Arc<State> {
        let gate = Gate::new(
            Protocol::Sftp,
            Arc::clone(&live),
            Arc::clone(&events),
            Arc::clone(&defender),
        );
        Arc::new(State {
            live,
            ns,
            events,
            defender,
            volume,
            gate,
            sessions: TaskTracker::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.live.get().config)
    }

    /// Connections open right now.
    pub fn live_connections(&self) -> usize {
        self.gate.open()
    }
}

/// Ciphers offered. The AEAD ones first; AES-CTR with encrypt-then-MAC or
/// SHA-2 MACs only for clients without AEAD (libssh2 1.10 as in Debian 12's
/// curl, paramiko 2.x).
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_128_GCM,
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];
const MACS: &[mac::Name] = &[
    mac::HMAC_SHA256_ETM,
    mac::HMAC_SHA512_ETM,
    mac::HMAC_SHA256,
    mac::HMAC_SHA512,
];
/// Key exchanges offered: the post-quantum hybrid first, then X25519, then
/// finite-field DH for clients with neither. sntrup761x25519 is not among
/// them because russh does not implement it (docs/operations.md).
const KEXES: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::DH_G16_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];
/// The same with the NIST-curve ECDH exchanges, offered only when the
/// operator configures an ECDSA host key: the clients that need one
/// (JSch 0.1.5x and its kind) need these too, and an operator who chose
/// NIST curves for one has chosen them for the other.
const KEXES_WITH_NIST: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::ECDH_SHA2_NISTP256,
    kex::ECDH_SHA2_NISTP384,
    kex::ECDH_SHA2_NISTP521,
    kex::DH_G16_SHA512,
    kex::DH_G14_SHA256,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];
/// Host and user key algorithms. `ssh-rsa` (SHA-1) is absent on purpose.
const KEY_ALGORITHMS: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// Channel window: large enough that a 1 Gbit/s link with a few ms of
/// latency never waits for window adjustments.
const WINDOW_SIZE: u32 = 16 << 20;
/// Largest channel data packet we accept (the SSH maximum most peers use).
const MAX_CHANNEL_PACKET: u32 = 65_535;

fn russh_config(config: &Config, host_keys: Vec<PrivateKey>) -> russh::server::Config {
    let limits = &config.limits;
    let kex = if host_keys
        .iter()
        .any(|k| matches!(k.algorithm(), Algorithm::Ecdsa { .. }))
    {
        KEXES_WITH_NIST
    } else {
        KEXES
    };
    russh::server::Config {
        server_id: SshId::Standard(Cow::Borrowed("SSH-2.0-renkei")),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        auth_rejection_time: limits.auth_rejection_delay,
        // OpenSSH clients probe with "none" first; that is not a failure.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: host_keys,
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAX_CHANNEL_PACKET,
        channel_buffer_size: 256,
        event_buffer_size: 64,
        preferred: Preferred {
            kex: Cow::Borrowed(kex),
            key: Cow::Borrowed(KEY_ALGORITHMS),
            cipher: Cow::Borrowed(CIPHERS),
            mac: Cow::Borrowed(MACS),
            compression: Cow::Borrowed(&[russh::compression::NONE]),
            ..Preferred::DEFAULT
        },
        // russh counts the `none` probe clients send first; OpenSSH's
        // MaxAuthTries does not.
        max_auth_attempts: limits.max_auth_tries + 1,
        inactivity_timeout: Some(limits.idle_timeout),
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    }
}

/// The SSH door's connection limits.
fn caps(limits: &renkei_config::Limits) -> Caps {
    Caps {
        max: limits.max_connections,
        max_name: "limits.max_connections",
        per_source: limits.max_connections_per_source,
        per_source_name: "limits.max_connections_per_source",
        what: "connections",
    }
}

/// What a listener serves: the municipalities' drop boxes (`[server]
/// listen`), or one separated network (`[[segment]] listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Door {
    Tenants,
    Segment(String),
}

/// The listening SSH server: one listener for the municipalities and one
/// per address of every segment.
pub struct Server {
    state: Arc<State>,
    russh: Arc<russh::server::Config>,
    listeners: Vec<(TcpListener, Door)>,
}

/// Connections accepted but not yet admitted, across all listeners.
const ACCEPTED_BACKLOG: usize = 64;

impl Server {
    /// Binds every listener; the error names the address that failed.
    pub async fn bind(
        state: Arc<State>,
        host_keys: Vec<PrivateKey>,
    ) -> Result<Server, (SocketAddr, std::io::Error)> {
        let config = state.config();
        let mut wanted = vec![(config.server.listen, Door::Tenants)];
        for seg in &config.segments {
            for addr in &seg.listen {
                wanted.push((*addr, Door::Segment(seg.name.clone())));
            }
        }
        let mut listeners = Vec::new();
        for (addr, door) in wanted {
            let l = TcpListener::bind(addr).await.map_err(|e| (addr, e))?;
            listeners.push((l, door));
        }
        Ok(Server {
            russh: Arc::new(russh_config(&config, host_keys)),
            state,
            listeners,
        })
    }

    /// The tenants' listening address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners
            .iter()
            .find(|(_, d)| *d == Door::Tenants)
            .map(|(l, _)| l.local_addr())
            .unwrap_or_else(|| Err(std::io::Error::other("no tenant listener")))
    }

    /// Every listener's address and what it serves.
    pub fn doors(&self) -> Vec<(Door, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(l, d)| Some((d.clone(), l.local_addr().ok()?)))
            .collect()
    }

    /// Accepts connections until `shutdown` is cancelled, then lets
    /// sessions finish for `limits.shutdown_grace`, tells the rest to
    /// disconnect and drops whatever is still open after
    /// `limits.shutdown_disconnect_wait` (uploads are kept as partials).
    /// Returns only when every connection task has ended.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut conns = JoinSet::new();
        let (tx, mut accepted) = tokio::sync::mpsc::channel(ACCEPTED_BACKLOG);
        let mut acceptors = JoinSet::new();
        for (listener, door) in self.listeners {
            acceptors.spawn(accept_on(listener, door, tx.clone()));
        }
        drop(tx);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                next = accepted.recv() => {
                    let Some((stream, peer, door)) = next else { break };
                    let scope = match &door {
                        Door::Tenants => Scope::Tenants,
                        Door::Segment(name) => Scope::Segment(name.clone()),
                    };
                    let caps = caps(self.state.ns.limits());
                    let admitted = match self.state.gate.admit(peer, &scope, caps).await {
                        Ok(a) => a,
                        Err(refused) => {
                            if refused.tell {
                                let _ = stream.try_write(format!("renkei: {}\r\n", refused.reason).as_bytes());
                            }
                            drop(stream);
                            continue;
                        }
                    };
                    conns.spawn(connection(Arc::clone(&self.state), Arc::clone(&self.russh), stream, admitted, door));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        // The listeners close with their accept loops.
        acceptors.shutdown().await;
        drop(accepted);
        let limits = self.state.config().limits.clone();
        let grace = limits.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            for h in self.state.gate.handles() {
                let _ = h
                    .disconnect(
                        russh::Disconnect::ByApplication,
                        "renkei is shutting down".into(),
                        "en".into(),
                    )
                    .await;
            }
            let _ = tokio::time::timeout(limits.shutdown_disconnect_wait, async {
                while conns.join_next().await.is_some() {}
            })
            .await;
            // Dropping a connection task drops its `gone` sender, which
            // ends its SFTP sessions; wait for the aborted tasks to go.
            conns.shutdown().await;
        }
        self.state.sessions.close();
        let ended =
            tokio::time::timeout(limits.shutdown_disconnect_wait, self.state.sessions.wait());
        if ended.await.is_err() {
            tracing::warn!(
                "SFTP sessions still running after limits.shutdown_disconnect_wait (a file step that does not return); the runtime's stop ends them"
            );
        }
    }
}

/// Accepts on one listener, handing each connection (with what the
/// listener serves) to the server's loop, until that loop is gone.
async fn accept_on(
    listener: TcpListener,
    door: Door,
    tx: tokio::sync::mpsc::Sender<(TcpStream, SocketAddr, Door)>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if tx.send((stream, peer, door.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of descriptors and the like: back off, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

// Long: one connection's life in order (handshake within the login
// grace, the session, the end: sessions stopped, tasks awaited, the
// offence scored, the audit record); the steps share its state.
async fn connection(
    state: Arc<State>,
    russh: Arc<russh::server::Config>,
    stream: TcpStream,
    admitted: Admitted<russh::server::Handle>,
    door: Door,
) {
    let (conn, peer) = (admitted.conn, admitted.peer);
    // The kit's session writes the `session_ended` record however the
    // connection ends, even if this task is dropped at shutdown.
    let shared = Arc::new(Mutex::new(conn::ConnShared {
        session: door::Session::start(admitted),
        tasks: Vec::new(),
    }));
    let (gone_tx, gone_rx) = watch::channel(false);
    let kill = Arc::new(tokio::sync::Notify::new());
    let handler = conn::Conn::new(
        Arc::clone(&state),
        conn,
        peer,
        Arc::clone(&shared),
        gone_rx,
        Arc::clone(&kill),
        door,
    );
    // The grace period covers everything before login, the version
    // exchange included: a client that connects and sends nothing is cut
    // off as surely as one that never authenticates.
    let grace_time = state.config().limits.login_grace_time;
    let deadline = tokio::time::Instant::now() + grace_time;
    let late = format!(
        "did not log in within {} (limits.login_grace_time)",
        renkei_config::units::format_duration(grace_time)
    );
    let started_session =
        tokio::time::timeout_at(deadline, russh::server::run_stream(russh, stream, handler)).await;
    let result: Result<(), String> = match started_session {
        Err(_) => {
            if let Ok(mut s) = shared.lock() {
                s.session.timed_out(late.clone());
            }
            Err(late.clone())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(session)) => {
            let handle = session.handle();
            state.gate.set_handle(conn, handle.clone());
            let grace_shared = Arc::clone(&shared);
            let grace = tokio::spawn(async move {
                tokio::time::sleep_until(deadline).await;
                let logged_in = match grace_shared.lock() {
                    Ok(mut s) if s.session.principal().is_none() => {
                        s.session.timed_out(late);
                        false
                    }
                    _ => true,
                };
                if logged_in {
                    return;
                }
                let _ = handle
                    .disconnect(
                        russh::Disconnect::ByApplication,
                        "login grace time exceeded".into(),
                        "en".into(),
                    )
                    .await;
            });
            let r = tokio::select! {
                r = session => r.map_err(|e| e.to_string()),
                // Dropping the session closes the socket.
                _ = kill.notified() => Err("the connection was dropped".to_string()),
            };
            grace.abort();
            r
        }
    };
    // The connection is over: its sessions end now, whatever they were
    // waiting for (a window that will never open, room for replies).
    let _ = gone_tx.send(true);
    let tasks = shared
        .lock()
        .map(|mut s| std::mem::take(&mut s.tasks))
        .unwrap_or_default();
    for t in tasks {
        let _ = t.await;
    }
    let scoring = match shared.lock() {
        Ok(mut s) => s.session.close(result),
        Err(p) => p.into_inner().session.close(result),
    };
    scoring.apply().await;
}
