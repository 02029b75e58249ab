//! A sender's receipts of the files it sent on lanes: one per file, made
//! from its object record when read, following it through 検査中,
//! 承認待ち, 受渡済, 受領済, or 却下 (with the reason), 期限切れ, 取下げ.

use std::fmt::Write as _;

use super::receipts::Receipt;
use super::{Namespace, NsError, Principal};
use renkei_model::schedule::local_text;
use renkei_storage::journal::{ObjectRecord, ObjectState};

fn status(o: &ObjectRecord) -> (String, &'static str) {
    match &o.state {
        ObjectState::Checking { .. } => ("検査中 (checking)".into(), "checking"),
        ObjectState::AwaitingApproval { approvals, .. } => (
            format!("承認待ち (awaiting approval; {} so far)", approvals.len()),
            "awaiting_approval",
        ),
        ObjectState::Stored => ("受渡済 (delivered)".into(), "delivered"),
        ObjectState::Acknowledged { by, .. } => (format!("受領済 (received by {by})"), "received"),
        ObjectState::Rejected { .. } => ("却下 (rejected)".into(), "rejected"),
        ObjectState::Quarantined { .. } => ("検疫 (quarantined)".into(), "quarantined"),
        ObjectState::Expired { .. } => {
            ("期限切れ (expired: not received in time)".into(), "expired")
        }
        ObjectState::Deleted { .. } => ("取下げ (withdrawn)".into(), "withdrawn"),
        ObjectState::Superseded { .. } => {
            ("差替え (replaced by a newer upload)".into(), "replaced")
        }
    }
}

// Long: one line per fact of the receipt, in the order people read it.
fn render(o: &ObjectRecord) -> Receipt {
    let lane = o.lane().unwrap_or(&o.tenant);
    let (status, state) = status(o);
    let stamp = o
        .committed_at
        .to_zoned(renkei_model::time::zone())
        .strftime("%Y%m%d-%H%M%S")
        .to_string();
    let mut t = String::new();
    let _ = writeln!(t, "送付受付書 / lane receipt");
    let _ = writeln!(t, "経路 / lane:              {lane}");
    let _ = writeln!(t, "ファイル / file:          {}", o.path);
    let _ = writeln!(t, "サイズ / size:            {} bytes", o.size);
    let _ = writeln!(t, "SHA-256:                  {}", o.sha256);
    let _ = writeln!(t, "状態 / status:            {status}");
    let _ = writeln!(
        t,
        "受付日時 / sent:          {}",
        local_text(o.committed_at)
    );
    let mut mtime = o.committed_at;
    if let ObjectState::AwaitingApproval { approvals, .. } = &o.state {
        for a in approvals {
            let _ = writeln!(
                t,
                "承認 / approved by:       {} ({})",
                a.by,
                local_text(a.at)
            );
        }
    }
    if let Some(d) = &o.delivered {
        mtime = d.at;
        for a in &d.approvals {
            let _ = writeln!(
                t,
                "承認 / approved by:       {} ({})",
                a.by,
                local_text(a.at)
            );
        }
        let _ = writeln!(t, "受渡日時 / delivered:     {}", local_text(d.at));
    }
    if let Some(c) = &o.check {
        if c.ran.iter().any(|r| !r.starts_with("approval:")) {
            let _ = writeln!(t, "検査項目 / checks:        {}", c.ran.join(", "));
        }
        if let Some(r) = &c.reason {
            mtime = mtime.max(c.at);
            let _ = writeln!(t, "理由 / reason:            {r}");
        }
    }
    match &o.state {
        ObjectState::Acknowledged { at, .. }
        | ObjectState::Rejected { at }
        | ObjectState::Expired { at }
        | ObjectState::Deleted { at, .. }
        | ObjectState::Quarantined { at } => {
            mtime = *at;
            let _ = writeln!(t, "終了日時 / ended:         {}", local_text(*at));
        }
        _ => {}
    }
    Receipt {
        name: format!(
            "{stamp}_{}_{}_{lane}.txt",
            &o.id[..8.min(o.id.len())],
            o.path
        ),
        text: t,
        mtime: mtime.as_second(),
        state,
    }
}

impl Namespace {
    /// The receipts of the files `who` (a segment's account) sent on lanes,
    /// oldest first.
    pub(crate) fn lane_receipts(&self, who: &Principal) -> Result<Vec<Receipt>, NsError> {
        let mut sent: Vec<ObjectRecord> = self
            .journal
            .objects()?
            .into_iter()
            .filter(|o| o.lane().is_some() && o.uploaded_by == who.user)
            .collect();
        sent.sort_by_key(|o| o.committed_at);
        Ok(sent.iter().map(render).collect())
    }
}
