//! The TLS front doors — the browser (`[web]`) and FTPS (`[ftps]`) —
//! started once the core is up, and their certificates, which a reload
//! reads again (an unusable new pair leaves the old one serving).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use renkei_config::Config;
use renkei_console::Context;
use renkei_core::defender::Defender;
use renkei_core::door::tls::{CertStore, TlsError};
use renkei_core::events::Events;
use renkei_core::live::Live;
use renkei_core::namespace::Namespace;
use renkei_doors_ftps as ftps;
use renkei_doors_web as web;

/// The certificates in force, one store per door (they may name the
/// same files).
#[derive(Clone, Default)]
pub struct Certs {
    pub web: Option<Arc<CertStore>>,
    pub ftps: Option<Arc<CertStore>>,
}

impl Certs {
    /// Reads each configured door's certificate and key.
    pub fn load(config: &Config) -> Result<Certs, FrontError> {
        let web = match &config.web {
            Some(w) => Some(CertStore::load(&w.tls_cert, &w.tls_key).map_err(FrontError::WebTls)?),
            None => None,
        };
        let ftps = match &config.ftps {
            Some(f) => Some(CertStore::load(&f.tls_cert, &f.tls_key).map_err(FrontError::FtpsTls)?),
            None => None,
        };
        Ok(Certs { web, ftps })
    }

    /// Reads the certificates again; a pair that cannot be used is a
    /// warning, and the old one still serves.
    pub fn reload(&self, config: &Config, warnings: &mut Vec<String>) {
        let pairs = [
            (
                "web",
                &self.web,
                config.web.as_ref().map(|w| (&w.tls_cert, &w.tls_key)),
            ),
            (
                "FTPS",
                &self.ftps,
                config.ftps.as_ref().map(|f| (&f.tls_cert, &f.tls_key)),
            ),
        ];
        for (door, store, files) in pairs {
            if let (Some(store), Some((cert, key))) = (store, files) {
                match store.reload(cert, key) {
                    Ok(fp) => tracing::info!(door, fingerprint = %fp, "certificate loaded"),
                    Err(e) => warnings.push(format!(
                        "the {door} certificate was not replaced, the old one still serves: {e}"
                    )),
                }
            }
        }
    }
}

/// Why a front door could not start.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    #[error("web certificate: {0}")]
    WebTls(TlsError),
    #[error("FTPS certificate: {0}")]
    FtpsTls(TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The core the doors serve.
pub struct Core<'a> {
    pub live: &'a Arc<Live>,
    pub ns: &'a Arc<Namespace>,
    pub events: &'a Arc<Events>,
    pub defender: &'a Arc<Defender>,
}

/// The running front doors.
pub struct Fronts {
    pub web_task: Option<tokio::task::JoinHandle<()>>,
    pub ftps_task: Option<tokio::task::JoinHandle<()>>,
    /// Where the web front door listens for staff (`[web] listen`).
    pub web_listen: Vec<SocketAddr>,
}

impl Fronts {
    /// Why the daemon is not healthy, when a door's task has ended.
    pub fn stopped(&self) -> Option<String> {
        if self.web_task.as_ref().is_some_and(|t| t.is_finished()) {
            return Some("the web listener has stopped".into());
        }
        if self.ftps_task.as_ref().is_some_and(|t| t.is_finished()) {
            return Some("the FTPS listener has stopped".into());
        }
        None
    }

    /// Waits for both doors to finish after `stopping` was cancelled.
    pub async fn stopped_all(self) {
        for t in [self.web_task, self.ftps_task].into_iter().flatten() {
            let _ = t.await;
        }
    }
}

/// Binds and starts the configured front doors.
pub async fn start(
    core: Core<'_>,
    ctl: &Arc<Context>,
    certs: &Certs,
    stopping: &CancellationToken,
) -> Result<Fronts, FrontError> {
    let listen_error = |(addr, source): (SocketAddr, std::io::Error)| FrontError::Listen {
        addr: addr.to_string(),
        source,
    };
    let mut web_listen = Vec::new();
    let web_task = match &certs.web {
        Some(certs) => {
            let front = web::Web::new(
                Arc::clone(core.live),
                Arc::clone(core.ns),
                Arc::clone(core.events),
                Arc::clone(core.defender),
                Some(Arc::clone(ctl)),
                Arc::clone(certs),
            );
            let weak = Arc::downgrade(&front);
            let _ = ctl
                .web
                .set(Box::new(move || weak.upgrade().map(|w| w.status())));
            let server = web::server::Server::bind(front)
                .await
                .map_err(listen_error)?;
            for (door, addr) in server.doors() {
                if door == web::WebDoor::Staff {
                    web_listen.push(addr);
                }
                tracing::info!(door = %door.describe(), listen = %addr, fingerprint = %certs.fingerprint(), "renkei is serving https");
            }
            Some(tokio::spawn(server.run(stopping.child_token())))
        }
        None => None,
    };
    let ftps_task = match certs.ftps.as_ref().and_then(|c| {
        ftps::Ftps::new(
            Arc::clone(core.live),
            Arc::clone(core.ns),
            Arc::clone(core.events),
            Arc::clone(core.defender),
            Arc::clone(c),
        )
    }) {
        Some(front) => {
            let weak = Arc::downgrade(&front);
            let _ = ctl
                .ftps
                .set(Box::new(move || weak.upgrade().map(|f| f.status())));
            let fingerprint = front.certs.fingerprint();
            let server = ftps::server::Server::bind(front)
                .await
                .map_err(listen_error)?;
            for (mode, addr) in server.listening() {
                tracing::info!(mode = mode.name(), listen = %addr, fingerprint = %fingerprint, "renkei is serving ftps");
            }
            Some(tokio::spawn(server.run(stopping.child_token())))
        }
        None => None,
    };
    Ok(Fronts {
        web_task,
        ftps_task,
        web_listen,
    })
}
