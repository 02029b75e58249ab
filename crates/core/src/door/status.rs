//! What a TLS door reports of itself for `ctl status`, `/status` and
//! `/metrics`: its listeners, its load and the certificate it serves.
//! Plain views, so that the door that fills one and the doors that show
//! it need not know each other.

use serde::{Deserialize, Serialize};

/// The HTTPS front door's listeners and load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebStatus {
    /// (`staff` or `segment:<name>`, address)
    pub listeners: Vec<(String, String)>,
    pub sessions: usize,
    pub connections: usize,
    /// SHA-256 of the certificate served, `AA:BB:…`.
    pub certificate_sha256: String,
}

/// The FTPS front door's listeners and load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FtpsStatus {
    /// (`explicit` or `implicit`, address)
    pub listeners: Vec<(String, String)>,
    pub connections: usize,
    /// The passive port range, `low-high`.
    pub passive_ports: String,
    /// SHA-256 of the certificate served, `AA:BB:…`.
    pub certificate_sha256: String,
}
