//! What the journal stores: namespace entries, file objects, partial
//! uploads, and how their keys are built.
//!
//! Values are JSON so that an operator with `redb` tooling (or a future
//! migration) can read them without this code. Keys are strings joined with
//! NUL, which no validated name can contain, so a prefix scan over
//! `tenant\0box\0dir\0` lists exactly one directory of one tenant.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use renkei_model::boxes::BoxKind;

/// One encrypted piece of a file: a complete age file holding `len`
/// plaintext bytes. A file is the concatenation of its segments; resumed
/// and checkpointed uploads have several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentRef {
    pub blob: String,
    pub len: u64,
}

/// A name in a tenant's namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EntryRecord {
    File {
        object: String,
    },
    Dir {
        created: Timestamp,
        created_by: String,
    },
}

/// Where a stored file is in its life.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ObjectState {
    /// Committed and visible under its name.
    Stored,
    /// Removed by its tenant before it was handed on.
    Deleted { at: Timestamp, by: String },
    /// Taken out of the outbox by the tenant: received.
    Acknowledged { at: Timestamp, by: String },
    /// Replaced by a newer upload under the same name.
    Superseded { at: Timestamp, by_object: String },
    /// Durable, waiting for the arrival checks: listed for its uploader
    /// only, never handed on.
    Checking { since: Timestamp },
    /// Refused by the virus scan (or unscannable): out of the namespace,
    /// kept encrypted for the operator (`ctl quarantine`).
    Quarantined { at: Timestamp },
    /// Refused by a file-type or 連携 format rule (or, on a lane, by an
    /// approver): out of the namespace, kept encrypted for the operator
    /// like a quarantined file.
    Rejected { at: Timestamp },
    /// On a lane: checked, waiting for its approvers (上長承認).
    AwaitingApproval {
        since: Timestamp,
        #[serde(default)]
        approvals: Vec<Approval>,
    },
    /// On a lane: delivered but not received in time; its bytes are gone.
    Expired { at: Timestamp },
}

/// One approver's approval of a file on a lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub at: Timestamp,
}

impl ObjectState {
    pub fn label(&self) -> &'static str {
        match self {
            ObjectState::Stored => "stored",
            ObjectState::Deleted { .. } => "deleted",
            ObjectState::Acknowledged { .. } => "acknowledged",
            ObjectState::Superseded { .. } => "superseded",
            ObjectState::Checking { .. } => "checking",
            ObjectState::Quarantined { .. } => "quarantined",
            ObjectState::Rejected { .. } => "rejected",
            ObjectState::AwaitingApproval { .. } => "awaiting_approval",
            ObjectState::Expired { .. } => "expired",
        }
    }

    /// Whether the object's blobs must be kept.
    pub fn keeps_blobs(&self) -> bool {
        matches!(
            self,
            ObjectState::Stored
                | ObjectState::Acknowledged { .. }
                | ObjectState::Checking { .. }
                | ObjectState::Quarantined { .. }
                | ObjectState::Rejected { .. }
                | ObjectState::AwaitingApproval { .. }
        )
    }

    /// Held back by the arrival checks: quarantined or rejected.
    pub fn is_held(&self) -> bool {
        matches!(
            self,
            ObjectState::Quarantined { .. } | ObjectState::Rejected { .. }
        )
    }
}

/// A committed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub id: String,
    pub tenant: String,
    #[serde(rename = "box")]
    pub bx: BoxKind,
    /// Path inside the box when committed (later renames update it).
    pub path: String,
    pub size: u64,
    /// SHA-256 of the plaintext, hex.
    pub sha256: String,
    pub segments: Vec<SegmentRef>,
    /// SSH user, or `ctl` for the operator.
    pub uploaded_by: String,
    pub source: Option<String>,
    pub started_at: Timestamp,
    pub committed_at: Timestamp,
    /// Modification time shown to clients (Unix seconds); clients may set it.
    pub mtime: i64,
    pub state: ObjectState,
    /// What the arrival checks found (absent for files stored before the
    /// checks stage, or with no check configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckRecord>,
    /// On a lane: when it was delivered (visible to the receivers), and who
    /// approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Delivered>,
}

/// A lane file's delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
}

/// The arrival checks' result for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub at: Timestamp,
    /// `accepted`, `quarantined` or `rejected`.
    pub outcome: String,
    /// Which checks ran (`virus`, `type`, `format:<rule>`).
    pub ran: Vec<String>,
    /// clamd's `VERSION` answer (engine, database version and date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<String>,
    /// The signature clamd named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Why the file was refused, in Japanese and English (line and byte
    /// for a format problem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The operator's release of a held file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// An operator's decision to let a held file in after all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub at: Timestamp,
    pub by: String,
    pub reason: String,
}

/// An upload that was cut off, kept for its uploader to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartialRecord {
    pub tenant: String,
    #[serde(rename = "box")]
    pub bx: BoxKind,
    pub path: String,
    pub account: String,
    pub size: u64,
    pub segments: Vec<SegmentRef>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub source: Option<String>,
    /// For a route's import: what the bytes are a copy of (a remote file
    /// with its size and time), so only the same file is continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Key of the entry `name` in directory `dir` (`""` = top of the box).
pub fn entry_key(tenant: &str, bx: BoxKind, dir: &str, name: &str) -> String {
    format!("{tenant}\0{bx}\0{dir}\0{name}")
}

/// Prefix of every entry directly inside directory `dir`.
pub fn dir_prefix(tenant: &str, bx: BoxKind, dir: &str) -> String {
    format!("{tenant}\0{bx}\0{dir}\0")
}

/// Prefix of every entry and partial of a tenant.
pub fn tenant_prefix(tenant: &str) -> String {
    format!("{tenant}\0")
}

/// Key of the partial upload of `path` by `account`.
pub fn partial_key(tenant: &str, bx: BoxKind, path: &str, account: &str) -> String {
    format!("{tenant}\0{bx}\0{path}\0{account}")
}

/// The last component of an entry key: the name in its directory.
pub fn name_of_key(key: &str) -> &str {
    key.rsplit('\0').next().unwrap_or(key)
}

/// Splits an entry key into (tenant, box, dir, name).
pub fn split_entry_key(key: &str) -> Option<(&str, BoxKind, &str, &str)> {
    let mut it = key.splitn(4, '\0');
    let tenant = it.next()?;
    let bx = BoxKind::parse(it.next()?)?;
    let dir = it.next()?;
    let name = it.next()?;
    Some((tenant, bx, dir, name))
}

/// A source address banned by the defender. Kept after the ban expires (as
/// the address's history) so that repeat bans grow longer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BanRecord {
    pub ip: String,
    pub banned_at: Timestamp,
    pub until: Timestamp,
    /// How many times this address has been banned.
    pub count: u32,
    pub reason: String,
}
