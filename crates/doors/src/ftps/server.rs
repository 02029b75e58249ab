//! Listeners, admission and connections of the FTPS front door.
//!
//! Admission happens at TCP accept, before TLS costs anything, in the SSH
//! door's order: a banned address is told so and closed; a source from
//! which no account may connect over `ftps` is dropped unanswered; then
//! the connection limits (`ftps.max_connections`,
//! `ftps.max_connections_per_source`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use renkei_core::defender::Offence;
use renkei_core::events::Event;
use renkei_core::policy::Protocol;

use super::{Ftps, Mode, session};
use crate::listeners;
use crate::registry::Caps;

/// The bound FTPS listeners.
pub struct Server {
    ftps: Arc<Ftps>,
    listeners: Vec<(TcpListener, Mode)>,
}

impl Server {
    /// Binds `[ftps] listen` and `implicit_listen`; the error names the
    /// address that failed.
    pub async fn bind(ftps: Arc<Ftps>) -> Result<Server, (SocketAddr, std::io::Error)> {
        let config = ftps.live.get().config.clone();
        let mut wanted = Vec::new();
        if let Some(f) = &config.ftps {
            wanted.extend(f.listen.iter().map(|a| (*a, Mode::Explicit)));
            wanted.extend(f.implicit_listen.iter().map(|a| (*a, Mode::Implicit)));
        }
        let listeners = listeners::bind_all(wanted).await?;
        let _ = ftps.listening.set(listeners::bound(&listeners));
        Ok(Server { ftps, listeners })
    }

    /// Each listener's mode and bound address.
    pub fn listening(&self) -> Vec<(Mode, SocketAddr)> {
        self.ftps.listening().to_vec()
    }

    /// Serves until `shutdown`; sessions are then told and closed, a
    /// transfer in progress kept as a partial, within
    /// `limits.shutdown_grace`.
    pub async fn run(self, shutdown: CancellationToken) {
        let ask_cert = self
            .ftps
            .live
            .get()
            .config
            .tenants
            .iter()
            .flat_map(|t| &t.accounts)
            .any(|a| a.ftps.as_ref().is_some_and(|f| f.client_cert.is_some()));
        // RFC 4217 has no ALPN name; clients send none.
        let base = match crate::tls::server_config(Arc::clone(&self.ftps.certs), ask_cert, vec![]) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the FTPS front door cannot start TLS");
                return;
            }
        };
        let conns = TaskTracker::new();
        let mut loops = JoinSet::new();
        for (listener, mode) in self.listeners {
            loops.spawn(accept_loop(
                Arc::clone(&self.ftps),
                listener,
                mode,
                Arc::clone(&base),
                conns.clone(),
                shutdown.clone(),
            ));
        }
        while loops.join_next().await.is_some() {}
        listeners::drain(conns, self.ftps.ns.limits().shutdown_grace, "ftps").await;
    }
}

/// Why an address is not admitted: `Some((reason, rule, tell))`, where
/// `tell` says whether the client is told (not when the address is simply
/// not allowed: that would tell a stranger what this is).
async fn refusal(ftps: &Ftps, conn: u64, ip: IpAddr) -> Option<(String, Option<String>, bool)> {
    if let Some(ban) = ftps.defender.banned(ip) {
        let until = renkei_model::time::tokyo(ban.until).strftime("%Y-%m-%d %H:%M:%S %Z");
        return Some((
            format!("{ip} is banned until {until}: {}", ban.reason),
            None,
            true,
        ));
    }
    let snap = ftps.live.get();
    let at = renkei_model::time::tokyo(jiff::Timestamp::now());
    if let Err(d) = snap.policy.admits(&snap.config, ip, Protocol::Ftps, &at) {
        let reason = d
            .reason
            .clone()
            .unwrap_or_else(|| "no account may connect from this address over ftps".into());
        return Some((reason, Some(d.by()), false));
    }
    let limits = ftps.limits();
    let caps = Caps {
        max: limits.max_connections,
        max_name: "ftps.max_connections",
        per_source: limits.max_connections_per_source,
        per_source_name: "ftps.max_connections_per_source",
        what: "FTPS connections",
    };
    if let Err(reason) = ftps.registry.admit(conn, ip, caps) {
        ftps.defender.offence(ip, Offence::LimitExceeded).await;
        return Some((reason, None, true));
    }
    None
}

async fn accept_loop(
    ftps: Arc<Ftps>,
    listener: TcpListener,
    mode: Mode,
    base: Arc<rustls::ServerConfig>,
    conns: TaskTracker,
    shutdown: CancellationToken,
) {
    while let Some((stream, peer)) = listeners::accept(&listener, &shutdown, "ftps").await {
        let conn = ftps.events.next_conn();
        if let Some((reason, rule, tell)) = refusal(&ftps, conn, peer.ip()).await {
            ftps.events.record(Event::ConnectionRefused {
                peer,
                protocol: Protocol::Ftps,
                stage: "accept",
                reason: reason.clone(),
                rule,
            });
            if tell && mode == Mode::Explicit {
                tokio::spawn(tell_and_close(
                    stream,
                    reason,
                    ftps.ns.limits().send_timeout,
                ));
            }
            continue;
        }
        ftps.events.record(Event::ConnectionAccepted {
            conn,
            peer,
            protocol: Protocol::Ftps,
        });
        let config = super::data::per_connection(&base);
        let ftps2 = Arc::clone(&ftps);
        let stop = shutdown.clone();
        conns.spawn(async move {
            session::run(Arc::clone(&ftps2), stream, conn, peer, mode, config, stop).await;
            ftps2.registry.remove(conn);
        });
    }
}

/// Says why a connection is refused (in clear: nothing has been
/// negotiated yet) and closes it.
async fn tell_and_close(mut stream: TcpStream, reason: String, within: std::time::Duration) {
    let line = format!("421 {reason}\r\n");
    let _ = tokio::time::timeout(within, async {
        let _ = stream.write_all(line.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
