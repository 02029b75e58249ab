//! The operator's console: the state and the actions that every door an
//! operator uses serves from — the control socket (`renkei ctl`), the
//! browser's operator pages and the monitoring listener. Each of those
//! doors adapts [`Context`] to its protocol; none of them owns what it
//! shows, and none imports another.
//!
//! It sits above the hand-off (it reports and retries routes) and below
//! the doors; what it shows of the checks, the bans and the doors' own
//! status are the core's views.

use std::sync::Arc;

use jiff::Timestamp;

use renkei_config::ConfigError;
use renkei_core::defender::Defender;
use renkei_core::door::status::{FtpsStatus, WebStatus};
use renkei_core::live::{Live, ReloadReport};
use renkei_core::namespace::Namespace;
use renkei_handoff::route::Router;

/// What the operator's doors serve from.
pub struct Context {
    pub ns: Arc<Namespace>,
    pub live: Arc<Live>,
    pub defender: Arc<Defender>,
    pub router: Arc<Router>,
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
    pub web: std::sync::OnceLock<Box<dyn Fn() -> Option<WebStatus> + Send + Sync>>,
    /// The FTPS front door's state, once it is up (for `status`).
    pub ftps: std::sync::OnceLock<Box<dyn Fn() -> Option<FtpsStatus> + Send + Sync>>,
}
