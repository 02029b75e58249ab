//! The signals the daemon answers: SIGTERM and SIGINT stop it, SIGHUP
//! reloads. The handlers are installed once, so a signal that arrives
//! while the daemon is busy elsewhere (feeding the watchdog, reloading) is
//! not lost.

use tokio::signal::unix::{Signal as Handler, SignalKind, signal};

pub enum Signal {
    Reload,
    Stop(&'static str),
}

pub struct Signals {
    handlers: Option<(Handler, Handler, Handler)>,
}

impl Signals {
    pub fn install() -> Signals {
        let handlers = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(t), Ok(i), Ok(h)) => Some((t, i, h)),
            _ => {
                tracing::error!(
                    "cannot install signal handlers; only being killed stops the daemon"
                );
                None
            }
        };
        Signals { handlers }
    }

    /// The next signal (never, without handlers).
    pub async fn next(&mut self) -> Signal {
        let Some((term, int, hup)) = &mut self.handlers else {
            std::future::pending::<()>().await;
            return Signal::Stop("unreachable");
        };
        tokio::select! {
            _ = term.recv() => Signal::Stop("SIGTERM"),
            _ = int.recv() => Signal::Stop("SIGINT"),
            _ = hup.recv() => Signal::Reload,
        }
    }
}
