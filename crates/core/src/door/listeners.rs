//! What the TLS doors (HTTPS, FTPS) do alike with their listeners: bind
//! each address with what it serves, accept without spinning when the
//! process is out of descriptors, and give connections the shutdown
//! grace before closing them.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Binds each address; the error names the one that failed.
pub async fn bind_all<T>(
    wanted: Vec<(SocketAddr, T)>,
) -> Result<Vec<(TcpListener, T)>, (SocketAddr, std::io::Error)> {
    let mut listeners = Vec::new();
    for (addr, what) in wanted {
        let l = TcpListener::bind(addr).await.map_err(|e| (addr, e))?;
        listeners.push((l, what));
    }
    Ok(listeners)
}

/// What each bound listener serves, and where it is bound.
pub fn bound<T: Clone>(listeners: &[(TcpListener, T)]) -> Vec<(T, SocketAddr)> {
    listeners
        .iter()
        .filter_map(|(l, what)| l.local_addr().ok().map(|a| (what.clone(), a)))
        .collect()
}

/// The next connection, or `None` once `shutdown` is cancelled. A failed
/// accept (out of descriptors and the like) waits a moment rather than
/// spin.
pub async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    door: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = listener.accept() => match r {
                Ok(x) => return Some(x),
                Err(e) => {
                    tracing::warn!(door, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// How long the connections cut at the end of the shutdown grace may
/// take to go (each only has to drop what it holds and write its record).
const CUT_WAIT: Duration = Duration::from_secs(5);

/// The open connections of one door, each a task that can be cut.
#[derive(Clone, Default)]
pub struct Connections {
    tracker: TaskTracker,
    cut: CancellationToken,
}

impl Connections {
    pub fn new() -> Connections {
        Connections::default()
    }

    /// Runs one connection. Cut at the end of the shutdown grace, its
    /// future is dropped, so what it owns (its kit session, with its
    /// `session_ended` record) goes while the audit trail still takes
    /// records.
    pub fn spawn<F>(&self, connection: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cut = self.cut.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                () = connection => {}
                () = cut.cancelled() => {}
            }
        });
    }

    /// Lets the connections of a stopped door finish within `grace`, then
    /// cuts the rest.
    pub async fn drain(self, grace: Duration, door: &str) {
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!(
            door,
            "connections still open after the shutdown grace; cutting them"
        );
        self.cut.cancel();
        if tokio::time::timeout(CUT_WAIT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                door,
                "cut connections still going; the runtime's stop ends them"
            );
        }
    }
}
