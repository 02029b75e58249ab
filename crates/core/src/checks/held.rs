//! What an operator is shown of the checks, whichever door they use (the
//! control socket, the browser's operator pages, `/metrics`): the files
//! held and where the stage stands. Views, not storage records: a door
//! sees these, never the journal's objects.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use renkei_model::schedule::rfc3339;
use renkei_storage::journal::{ObjectRecord, ObjectState};

use crate::live::Snapshot;
use crate::namespace::{Namespace, NsError};

/// The longest reason an operator may give for a release or a deletion
/// (it is kept in the journal and the trail).
pub const MAX_REASON: usize = 1024;

/// One file the arrival checks hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldFile {
    pub id: String,
    /// `quarantined` or `rejected`.
    pub state: String,
    pub tenant: String,
    #[serde(rename = "box")]
    pub bx: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub uploaded_by: String,
    /// When it arrived, and when it was held (Asia/Tokyo, RFC 3339).
    pub received: String,
    pub held: Option<String>,
    pub reason: Option<String>,
    pub signature: Option<String>,
    pub scanner: Option<String>,
    pub checks: Vec<String>,
}

impl From<&ObjectRecord> for HeldFile {
    fn from(o: &ObjectRecord) -> HeldFile {
        let held = match &o.state {
            ObjectState::Quarantined { at } | ObjectState::Rejected { at } => Some(rfc3339(*at)),
            _ => o.check.as_ref().map(|c| rfc3339(c.at)),
        };
        let c = o.check.as_ref();
        HeldFile {
            id: o.id.clone(),
            state: o.state.label().to_string(),
            tenant: o.tenant.clone(),
            bx: o.bx.to_string(),
            path: o.path.clone(),
            size: o.size,
            sha256: o.sha256.clone(),
            uploaded_by: o.uploaded_by.clone(),
            received: rfc3339(o.committed_at),
            held,
            reason: c.and_then(|c| c.reason.clone()),
            signature: c.and_then(|c| c.signature.clone()),
            scanner: c.and_then(|c| c.scanner.clone()),
            checks: c.map(|c| c.ran.clone()).unwrap_or_default(),
        }
    }
}

/// Where the arrival checks stand.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChecksSummary {
    /// The scanner's address, when `[scan]` is configured.
    pub scanner: Option<String>,
    /// `[[check]]` rules in force.
    pub rules: usize,
    /// Files durable but not yet visible, and how long the oldest waits.
    pub waiting: usize,
    pub oldest_waiting_secs: Option<u64>,
    /// Files quarantined or rejected, kept for the operator.
    pub held: usize,
}

/// An operator's reason for a release or a deletion, trimmed; refused
/// when empty or longer than [`MAX_REASON`].
pub fn reason_of(reason: &str) -> Result<&str, NsError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(NsError::Invalid(
            "a reason is required (--reason TEXT): it is kept in the audit trail".into(),
        ));
    }
    if r.len() > MAX_REASON {
        return Err(NsError::Invalid(format!(
            "the reason is longer than {MAX_REASON} bytes"
        )));
    }
    Ok(r)
}

impl Namespace {
    /// Every quarantined or rejected file, oldest first.
    pub fn held(&self) -> Result<Vec<HeldFile>, NsError> {
        Ok(self.held_objects()?.iter().map(HeldFile::from).collect())
    }

    /// Where the checks stand under `snap`'s configuration.
    pub fn checks_summary(&self, snap: &Snapshot) -> ChecksSummary {
        let waiting = self.checking().unwrap_or_default();
        let now = Timestamp::now();
        ChecksSummary {
            scanner: snap.config.scan.as_ref().map(|s| s.clamd.to_string()),
            rules: snap.config.checks.len(),
            oldest_waiting_secs: waiting
                .first()
                .map(|o| now.duration_since(o.committed_at).as_secs().max(0) as u64),
            waiting: waiting.len(),
            held: self.held_objects().map(|h| h.len()).unwrap_or(0),
        }
    }
}
