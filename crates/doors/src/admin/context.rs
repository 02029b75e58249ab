//! What every control-socket command is served from, and how a command
//! fails: shared by the command table (`server`) and the commands kept in
//! their own modules (`held`).

use std::io;
use std::sync::Arc;

use jiff::Timestamp;

use renkei_config::ConfigError;
use renkei_core::defender::Defender;
use renkei_core::live::{Live, ReloadReport};
use renkei_core::namespace::Namespace;

/// What the control socket serves from.
pub struct Context {
    pub ns: Arc<Namespace>,
    pub live: Arc<Live>,
    pub defender: Arc<Defender>,
    pub router: Arc<renkei_handoff::route::Router>,
    pub listen: std::net::SocketAddr,
    /// Each segment's listening addresses (`[[segment]] listen`).
    pub segment_listen: Vec<(String, std::net::SocketAddr)>,
    pub started: Timestamp,
    /// Open SSH connections right now.
    pub connections: Box<dyn Fn() -> usize + Send + Sync>,
    /// Reloads configuration and rules (recording the outcome).
    pub reload: Box<dyn Fn() -> Result<ReloadReport, ConfigError> + Send + Sync>,
    /// For the defender's async calls from the blocking ctl threads.
    pub runtime: tokio::runtime::Handle,
    /// Where the monitoring listener is bound (`[admin] listen`).
    pub monitor_listen: std::sync::OnceLock<std::net::SocketAddr>,
    /// The HTTPS front door's state, once it is up (for `status`).
    pub web: std::sync::OnceLock<Box<dyn Fn() -> Option<super::proto::WebStatus> + Send + Sync>>,
    /// The FTPS front door's state, once it is up (for `status`).
    pub ftps: std::sync::OnceLock<Box<dyn Fn() -> Option<super::proto::FtpsStatus> + Send + Sync>>,
}

/// A command's failure: refused (answered to the operator) or the
/// connection broke.
pub(super) enum CtlError {
    Refused(String),
    Io(io::Error),
}

impl From<io::Error> for CtlError {
    fn from(e: io::Error) -> Self {
        CtlError::Io(e)
    }
}

impl From<String> for CtlError {
    fn from(e: String) -> Self {
        CtlError::Refused(e)
    }
}

impl From<renkei_core::namespace::NsError> for CtlError {
    fn from(e: renkei_core::namespace::NsError) -> Self {
        CtlError::Refused(e.to_string())
    }
}

pub(super) type CtlResult = Result<String, CtlError>;
