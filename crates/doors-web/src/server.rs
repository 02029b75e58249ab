//! Listeners, admission and connections of the HTTPS front door.
//!
//! Admission happens at TCP accept, before TLS costs anything: a source
//! outside every network this listener serves is dropped unanswered; a
//! banned address is admitted only to be shown the lockout page (the
//! browser must be able to tell its user why, without being told which
//! part of a login was wrong); connection limits count per address and
//! for the daemon. The TLS handshake and each request's headers must
//! arrive within `web.header_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use renkei_core::door::{Admitted, Caps, Scope};

use super::{ConnInfo, Web, WebDoor, pages, routes};
use renkei_core::door::{listeners, tls};

/// The bound web listeners.
pub struct Server {
    web: Arc<Web>,
    listeners: Vec<(TcpListener, WebDoor)>,
}

impl Server {
    /// Binds `[web] listen` and every segment's `web_listen`; the error
    /// names the address that failed.
    pub async fn bind(web: Arc<Web>) -> Result<Server, (SocketAddr, std::io::Error)> {
        let config = web.live.get().config.clone();
        let mut wanted = Vec::new();
        if let Some(w) = &config.web {
            wanted.extend(w.listen.iter().map(|a| (*a, WebDoor::Staff)));
        }
        for seg in &config.segments {
            wanted.extend(
                seg.web_listen
                    .iter()
                    .map(|a| (*a, WebDoor::Segment(seg.name.clone()))),
            );
        }
        let listeners = listeners::bind_all(wanted).await?;
        let _ = web.listening.set(listeners::bound(&listeners));
        Ok(Server { web, listeners })
    }

    /// Each listener's door and bound address.
    pub fn doors(&self) -> Vec<(WebDoor, SocketAddr)> {
        self.web.listening().to_vec()
    }

    /// Serves until `shutdown`; then lets requests in flight finish for
    /// `limits.shutdown_grace` and closes the rest.
    pub async fn run(self, shutdown: CancellationToken) {
        let config = self.web.live.get().config.clone();
        let ask_cert = config
            .tenants
            .iter()
            .flat_map(|t| &t.accounts)
            .chain(config.segments.iter().flat_map(|s| &s.accounts))
            .any(|a| a.web.as_ref().is_some_and(|w| w.client_cert.is_some()))
            || config
                .web
                .as_ref()
                .is_some_and(|w| w.users.iter().any(|u| u.login.client_cert.is_some()));
        let tls_config = match tls::server_config(
            Arc::clone(&self.web.certs),
            ask_cert,
            vec![b"http/1.1".to_vec()],
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "the web front door cannot start TLS");
                return;
            }
        };
        let acceptor = TlsAcceptor::from(tls_config);
        let router = routes::router(Arc::clone(&self.web));
        let conns = listeners::Connections::new();
        let mut loops = JoinSet::new();
        for (listener, door) in self.listeners {
            loops.spawn(accept_loop(
                Arc::clone(&self.web),
                listener,
                door,
                acceptor.clone(),
                router.clone(),
                conns.clone(),
                shutdown.clone(),
            ));
        }
        let sweeper = {
            let web = Arc::clone(&self.web);
            let stop = shutdown.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => pages::record_ended(&web, web.sessions.sweep()),
                    }
                }
            })
        };
        while loops.join_next().await.is_some() {}
        conns
            .drain(self.web.ns.limits().shutdown_grace, "web")
            .await;
        let _ = sweeper.await;
        for s in self.web.sessions.drain() {
            pages::record_end(&self.web, &s, "shutdown");
        }
    }
}

/// The web door's connection limits.
fn caps(web: &Web) -> Caps {
    let limits = web
        .live
        .get()
        .config
        .web
        .as_ref()
        .map(|w| w.limits.clone())
        .unwrap_or_default();
    Caps {
        max: limits.max_connections,
        max_name: "web.max_connections",
        per_source: limits.max_connections_per_source,
        per_source_name: "web.max_connections_per_source",
        what: "web connections",
    }
}

async fn accept_loop(
    web: Arc<Web>,
    listener: TcpListener,
    door: WebDoor,
    acceptor: TlsAcceptor,
    router: axum::Router,
    conns: listeners::Connections,
    shutdown: CancellationToken,
) {
    while let Some((stream, peer)) = listeners::accept(&listener, &shutdown, "web").await {
        let scope = match &door {
            WebDoor::Staff => Scope::Staff,
            WebDoor::Segment(name) => Scope::Segment(name.clone()),
        };
        // A banned address is let in to be shown its lockout page.
        let Ok(admitted) = web.gate.admit(peer, &scope, caps(&web)).await else {
            continue;
        };
        let info = ConnInfo {
            id: admitted.conn,
            peer: admitted.peer,
            door: door.clone(),
            client_cert: None,
        };
        conns.spawn(serve_one(
            Arc::clone(&web),
            stream,
            admitted,
            info,
            acceptor.clone(),
            router.clone(),
            shutdown.clone(),
        ));
    }
}

async fn serve_one(
    web: Arc<Web>,
    stream: TcpStream,
    admitted: Admitted,
    mut info: ConnInfo,
    acceptor: TlsAcceptor,
    router: axum::Router,
    shutdown: CancellationToken,
) {
    let header_timeout = web
        .live
        .get()
        .config
        .web
        .as_ref()
        .map(|w| w.limits.header_timeout)
        .unwrap_or(std::time::Duration::from_secs(20));
    let _ = stream.set_nodelay(true);
    let tls = tokio::select! {
        _ = shutdown.cancelled() => None,
        r = tokio::time::timeout(header_timeout, acceptor.accept(stream)) => match r {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                tracing::info!(conn = info.id, peer = %info.peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::info!(conn = info.id, peer = %info.peer, "TLS handshake timed out");
                None
            }
        },
    };
    if let Some(tls) = tls {
        info.client_cert = tls::client_fingerprint(tls.get_ref().1);
        let service = TowerToHyperService::new(router.layer(axum::Extension(info.clone())));
        let builder = {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(64 * 1024)
                .keep_alive(true);
            b
        };
        let send_timeout = web.ns.limits().send_timeout;
        let io = super::deadline::WriteDeadline::new(tls, send_timeout);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(conn = info.id, error = %e, "web connection ended");
                }
            }
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let grace = web.ns.limits().shutdown_grace;
                let _ = tokio::time::timeout(grace, conn.as_mut()).await;
            }
        }
    }
    drop(admitted);
}
