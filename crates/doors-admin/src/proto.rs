//! The control socket's wire format, shared by daemon and `renkei ctl`.
//!
//! Frames are a 4-byte big-endian length and a payload. A command is one
//! JSON frame; `put` is followed by data frames and an empty frame; `get`
//! answers with a JSON frame, data frames, an empty frame and a final JSON
//! frame. Kept deliberately simple: it is a local, operator-only socket.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Put {
        tenant: String,
        #[serde(rename = "box")]
        bx: String,
        name: String,
    },
    Ls {
        tenant: String,
        #[serde(rename = "box")]
        bx: Option<String>,
    },
    Get {
        tenant: String,
        #[serde(rename = "box")]
        bx: String,
        name: String,
    },
    /// Re-read the configuration and rule files.
    Reload,
    /// Active bans.
    Bans,
    Unban {
        ip: String,
    },
    /// Each route's queue, runs and failures.
    Routes,
    /// Requeue a route's failed items (all, or one by object id or path).
    Retry {
        route: String,
        item: Option<String>,
    },
    /// Files the arrival checks hold (quarantined or rejected).
    Held,
    /// One held file in full, by its id (or a unique prefix).
    HeldShow {
        id: String,
    },
    /// Let a held file in, with the operator's reason.
    Release {
        id: String,
        reason: String,
    },
    /// Destroy a held file's bytes, with the operator's reason.
    DeleteHeld {
        id: String,
        reason: String,
    },
    /// Each lane's files by state.
    Lanes,
}

pub use renkei_core::checks::held::{ChecksSummary, HeldFile};

/// The generic reply: `ok`, and an error when not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Reply {
        Reply {
            ok: true,
            error: None,
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
        }
    }

    pub fn err(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
            body: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    pub config: String,
    pub listen: String,
    pub data_dir: String,
    pub started_at: String,
    pub uptime_secs: u64,
    pub connections: usize,
    pub tenants: Vec<TenantSummary>,
    pub vault_recipient: String,
    /// Rule files in force (or the built-in baseline) and their digest.
    pub policy_files: Vec<String>,
    pub policy_sha256: String,
    pub rules: usize,
    pub active_bans: usize,
    /// What clients make the daemon hold now (see `renkei_core::memory`).
    #[serde(default)]
    pub client_memory: ClientMemory,
    /// The arrival checks: the scanner, files waiting, files held.
    #[serde(default)]
    pub checks: ChecksSummary,
    /// Each segment's listeners.
    #[serde(default)]
    pub segments: Vec<SegmentListener>,
    /// The HTTPS front door, when `[web]` is configured.
    #[serde(default)]
    pub web: Option<WebStatus>,
    /// The FTPS front door, when `[ftps]` is configured.
    #[serde(default)]
    pub ftps: Option<FtpsStatus>,
    /// Hand-offs that gave up (all routes) and expected files missing.
    #[serde(default)]
    pub handoffs_failed: u64,
    #[serde(default)]
    pub expected_missing: usize,
    /// The monitoring listener (`/metrics`, `/healthz`, `/readyz`).
    #[serde(default)]
    pub monitor_listen: Option<String>,
}

pub use renkei_core::door::status::{FtpsStatus, WebStatus};

/// One listening address of a segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentListener {
    pub segment: String,
    pub label: String,
    pub listen: String,
}

/// Client memory held now, against its cap.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClientMemory {
    pub held: u64,
    pub limit: u64,
    pub account_limit: u64,
    /// The most held at once since the daemon started, of each kind (a
    /// high-water mark for sizing the limits).
    #[serde(default)]
    pub peak: MemoryPeaks,
}

/// High-water marks of client memory, by kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MemoryPeaks {
    pub requests: u64,
    pub replies: u64,
    pub out_of_order: u64,
}

/// Result of a reload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadResult {
    pub policy_files: Vec<String>,
    pub rules: usize,
    pub policy_sha256: String,
    pub warnings: Vec<String>,
    pub restart_needed: Vec<String>,
    #[serde(default)]
    pub routes: renkei_handoff::route::RouteChanges,
}

/// One active ban.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ban {
    pub ip: String,
    /// Asia/Tokyo, RFC 3339.
    pub until: String,
    pub bans: u32,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantSummary {
    pub code: String,
    pub name: String,
    pub accounts: usize,
}

/// One line of `ctl ls`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LsEntry {
    #[serde(rename = "box")]
    pub bx: String,
    pub path: String,
    pub kind: String,
    pub size: u64,
    pub sha256: Option<String>,
    pub state: String,
    /// Commit (or last update) time, RFC 3339 with the Asia/Tokyo offset.
    pub time: Option<String>,
    pub by: Option<String>,
}

/// Header of a `get` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetHeader {
    pub size: u64,
    pub sha256: String,
}

/// Result of a `put`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PutResult {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// `stored`, or `checking` while the arrival checks hold it.
    #[serde(default)]
    pub state: String,
}

pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(payload)
}

pub fn write_json(w: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_frame(w, &bytes)
}

/// Reads one frame; `None` at a clean end of stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("control frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

pub fn read_json<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<T> {
    let frame = read_frame(r)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the other side closed the control connection",
        )
    })?;
    serde_json::from_slice(&frame).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad control message: {e}"),
        )
    })
}
