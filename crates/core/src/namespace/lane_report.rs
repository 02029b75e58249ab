//! `renkei ctl lanes`: where each lane's files are, from the journal.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Namespace;
use renkei_storage::journal::{JournalError, ObjectState};

/// One lane's files by state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LaneReport {
    pub name: String,
    pub from: String,
    pub to: String,
    pub checking: u64,
    pub awaiting_approval: u64,
    /// Seconds the oldest file has waited for approval.
    pub oldest_awaiting_secs: Option<u64>,
    /// Delivered and not yet received.
    pub delivered: u64,
    pub oldest_delivered_secs: Option<u64>,
    pub received: u64,
    pub rejected: u64,
    pub quarantined: u64,
    pub expired: u64,
    pub withdrawn: u64,
}

fn older(slot: &mut Option<u64>, secs: u64) {
    *slot = Some(slot.map_or(secs, |s| s.max(secs)));
}

impl Namespace {
    /// Every configured lane's files by state, in configuration order.
    pub fn lane_report(&self) -> Result<Vec<LaneReport>, JournalError> {
        let snap = self.live.get();
        let mut out: Vec<LaneReport> = snap
            .config
            .lanes
            .iter()
            .map(|l| LaneReport {
                name: l.name.clone(),
                from: l.from.clone(),
                to: l.to.clone(),
                ..LaneReport::default()
            })
            .collect();
        if out.is_empty() {
            return Ok(out);
        }
        let now = Timestamp::now();
        let age = |t: Timestamp| now.duration_since(t).as_secs().max(0) as u64;
        for o in self.journal.objects()? {
            let Some(r) = o.lane().and_then(|l| out.iter_mut().find(|r| r.name == l)) else {
                continue;
            };
            match &o.state {
                ObjectState::Checking { .. } => r.checking += 1,
                ObjectState::AwaitingApproval { since, .. } => {
                    r.awaiting_approval += 1;
                    older(&mut r.oldest_awaiting_secs, age(*since));
                }
                ObjectState::Stored => {
                    r.delivered += 1;
                    let at = o.delivered.as_ref().map_or(o.committed_at, |d| d.at);
                    older(&mut r.oldest_delivered_secs, age(at));
                }
                ObjectState::Acknowledged { .. } => r.received += 1,
                ObjectState::Rejected { .. } => r.rejected += 1,
                ObjectState::Quarantined { .. } => r.quarantined += 1,
                ObjectState::Expired { .. } => r.expired += 1,
                ObjectState::Deleted { .. } => r.withdrawn += 1,
                ObjectState::Superseded { .. } => {}
            }
        }
        Ok(out)
    }
}
