//! Listeners, admission and connections of the FTPS front door.
//!
//! Admission happens at TCP accept, before TLS costs anything, in the SSH
//! door's order: a banned address is told so and closed; a source from
//! which no account may connect over `ftps` is dropped unanswered; then
//! the connection limits (`ftps.max_connections`,
//! `ftps.max_connections_per_source`).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use renkei_core::door::{Caps, Scope};

use super::{Ftps, Mode, session};
use renkei_core::door::listeners;

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
        let base = match renkei_core::door::tls::server_config(
            Arc::clone(&self.ftps.certs),
            ask_cert,
            vec![],
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the FTPS front door cannot start TLS");
                return;
            }
        };
        let conns = listeners::Connections::new();
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
        conns
            .drain(self.ftps.ns.limits().shutdown_grace, "ftps")
            .await;
    }
}

/// The FTPS door's connection limits.
fn caps(ftps: &Ftps) -> Caps {
    let limits = ftps.limits();
    Caps {
        max: limits.max_connections,
        max_name: "ftps.max_connections",
        per_source: limits.max_connections_per_source,
        per_source_name: "ftps.max_connections_per_source",
        what: "FTPS connections",
    }
}

async fn accept_loop(
    ftps: Arc<Ftps>,
    listener: TcpListener,
    mode: Mode,
    base: Arc<rustls::ServerConfig>,
    conns: listeners::Connections,
    shutdown: CancellationToken,
) {
    while let Some((stream, peer)) = listeners::accept(&listener, &shutdown, "ftps").await {
        let admitted = match ftps.gate.admit(peer, &Scope::Tenants, caps(&ftps)).await {
            Ok(a) => a,
            Err(refused) => {
                if refused.tell && mode == Mode::Explicit {
                    tokio::spawn(tell_and_close(
                        stream,
                        refused.reason,
                        ftps.ns.limits().send_timeout,
                    ));
                }
                continue;
            }
        };
        let config = super::data::per_connection(&base);
        let ftps2 = Arc::clone(&ftps);
        let stop = shutdown.clone();
        conns.spawn(session::run(ftps2, stream, admitted, mode, config, stop));
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
