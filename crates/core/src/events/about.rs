//! Who and what an event is about: the actor (an account over a front
//! door, or the operator), a file the checks stage decided on, a file on
//! a lane. Their fields are flattened into the records that carry them.

use std::net::IpAddr;

use serde::Serialize;

/// Who did something: an account through a front door, or the operator via
/// the control socket.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    /// The municipality, for a tenant's account or the operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The separated network, for a segment's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The account's user name, or `ctl` for the operator's control socket.
    pub user: String,
    /// Source address of the connection, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    /// Connection number (see `connection_accepted`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
    /// `sftp`, `https` or `ftps`; absent for the operator's control socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<crate::policy::Protocol>,
}

/// The file an arrival-check event is about.
#[derive(Debug, Clone, Serialize)]
pub struct CheckedFile {
    pub tenant: String,
    #[serde(rename = "box")]
    pub box_name: String,
    pub path: String,
    pub object: String,
    pub size: u64,
    pub sha256: String,
    /// Who uploaded it (an account, `ctl`, or `route:NAME`).
    pub uploaded_by: String,
}

/// The file a lane event is about.
#[derive(Debug, Clone, Serialize)]
pub struct LaneFile {
    pub lane: String,
    /// Its name on the lane.
    pub name: String,
    pub object: String,
    pub size: u64,
    pub sha256: String,
    /// The account that sent it.
    pub sender: String,
}
