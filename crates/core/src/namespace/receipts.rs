//! `/receipts`: what happened to each file a municipality sent, readable
//! by the municipality itself (the practice of checking each transfer's
//! processing result on screen).
//!
//! One read-only text file per (file, route), made from the route's
//! delivery record in the journal when it is read: status, times,
//! destination, size and SHA-256, with Japanese and English labels. A
//! tenant sees only receipts of its own files.
//!
//! A file that passes the arrival checks gets one more receipt, made
//! from its object record: 検査中 while it waits, then 検査合格, 検疫
//! (with the signature) or 却下 (with the line, byte and what was
//! expected), so a municipality can recreate and resend a refused file.

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use super::{EntryInfo, EntryKind, Namespace, NsError, Principal};
use renkei_model::schedule::local_text;
use renkei_storage::journal::{DeliveryRecord, DeliveryState, ObjectRecord, ObjectState};

/// One receipt, rendered.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub name: String,
    pub text: String,
    pub mtime: i64,
    pub state: &'static str,
}

impl Receipt {
    pub fn info(&self) -> EntryInfo {
        EntryInfo {
            name: self.name.clone(),
            kind: EntryKind::File,
            size: self.text.len() as u64,
            mtime: self.mtime,
            state: self.state,
            sha256: None,
            object: None,
            committed_at: None,
        }
    }
}

fn status_text(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Queued => "連携待ち (queued)",
        DeliveryState::Delivered => "連携完了 (delivered)",
        DeliveryState::Failed => "連携失敗 (failed; the operator has been told)",
        DeliveryState::Cancelled => "連携取消 (cancelled)",
    }
}

/// How much of the object id a receipt's name carries: enough to tell two
/// uploads of one name within one second apart (the full id is used in the
/// unlikely case that this much is shared).
const ID_IN_NAME: usize = 8;

fn render(r: &DeliveryRecord, id_len: usize) -> Receipt {
    let base = r.path.rsplit('/').next().unwrap_or(&r.path);
    let stamp = r
        .queued_at
        .to_zoned(renkei_model::time::zone())
        .strftime("%Y%m%d-%H%M%S")
        .to_string();
    let mut t = String::new();
    let _ = writeln!(t, "連携受領書 / hand-off receipt");
    let _ = writeln!(t, "ファイル / file:          /{}/{}", r.bx, r.path);
    let _ = writeln!(t, "サイズ / size:            {} bytes", r.size);
    let _ = writeln!(t, "SHA-256:                  {}", r.sha256);
    let _ = writeln!(t, "連携 / route:             {}", r.route);
    let _ = writeln!(t, "連携先 / destination:     {}", r.destination);
    let _ = writeln!(t, "状態 / status:            {}", status_text(r.state));
    let _ = writeln!(t, "受付日時 / queued:        {}", local_text(r.queued_at));
    if let Some(at) = r.finished_at {
        let label = match r.state {
            DeliveryState::Delivered => "連携日時 / delivered:    ",
            _ => "終了日時 / ended:        ",
        };
        let _ = writeln!(t, "{label}{}", local_text(at));
    } else if r.attempts > 0 {
        let _ = writeln!(
            t,
            "次回試行 / next attempt:  {}",
            local_text(r.next_attempt)
        );
    }
    let _ = writeln!(t, "試行回数 / attempts:      {}", r.attempts);
    if let Some(e) = &r.last_error
        && r.state != DeliveryState::Delivered
    {
        let _ = writeln!(t, "エラー / last error:      {e}");
    }
    Receipt {
        name: format!(
            "{stamp}_{}_{base}_{}.txt",
            &r.object[..id_len.min(r.object.len())],
            r.route
        ),
        text: t,
        mtime: r.finished_at.unwrap_or(r.queued_at).as_second(),
        state: r.state.label(),
    }
}

/// The check receipt of `o`, if it was (or is being) checked.
fn render_check(o: &ObjectRecord, id_len: usize) -> Option<Receipt> {
    let (status, state) = match (&o.state, &o.check) {
        (ObjectState::Checking { .. }, _) => ("検査中 (checking)", "checking"),
        (_, None) => return None,
        (ObjectState::Quarantined { .. }, _) => ("検疫 (quarantined)", "quarantined"),
        (ObjectState::Rejected { .. }, _) => ("却下 (rejected)", "rejected"),
        (_, Some(c)) if c.released.is_some() => ("検疫解除 (released by the operator)", "released"),
        (_, Some(_)) => ("検査合格 (accepted)", "accepted"),
    };
    let base = o.path.rsplit('/').next().unwrap_or(&o.path);
    let stamp = o
        .committed_at
        .to_zoned(renkei_model::time::zone())
        .strftime("%Y%m%d-%H%M%S")
        .to_string();
    let mut t = String::new();
    let _ = writeln!(t, "到着検査結果 / arrival check receipt");
    let _ = writeln!(t, "ファイル / file:          /{}/{}", o.bx, o.path);
    let _ = writeln!(t, "サイズ / size:            {} bytes", o.size);
    let _ = writeln!(t, "SHA-256:                  {}", o.sha256);
    let _ = writeln!(t, "状態 / status:            {status}");
    let _ = writeln!(
        t,
        "受付日時 / received:      {}",
        local_text(o.committed_at)
    );
    let mut mtime = o.committed_at;
    if let Some(c) = &o.check {
        mtime = c.at;
        let _ = writeln!(t, "検査日時 / checked:       {}", local_text(c.at));
        let _ = writeln!(t, "検査項目 / checks:        {}", c.ran.join(", "));
        if let Some(v) = &c.scanner {
            let _ = writeln!(t, "ウイルス検査 / scanner:   {v}");
        }
        if let Some(sig) = &c.signature {
            let _ = writeln!(t, "検出名 / signature:       {sig}");
        }
        if let Some(r) = &c.reason {
            let _ = writeln!(t, "理由 / reason:            {r}");
        }
        if let Some(r) = &c.released {
            mtime = r.at;
            let _ = writeln!(t, "解除日時 / released:      {}", local_text(r.at));
            let _ = writeln!(t, "解除理由 / why released:  {}", r.reason);
        }
    }
    Some(Receipt {
        name: format!(
            "{stamp}_{}_{base}_checks.txt",
            &o.id[..id_len.min(o.id.len())]
        ),
        text: t,
        mtime: mtime.as_second(),
        state,
    })
}

impl Namespace {
    /// The tenant's receipts, oldest first.
    pub fn receipts(&self, who: &Principal) -> Result<Vec<Receipt>, NsError> {
        if who.segment().is_some() {
            return self.lane_receipts(who);
        }
        let mut records: Vec<DeliveryRecord> = self.journal.deliveries_of(&who.owner())?;
        records.sort_by_key(|r| (r.queued_at, r.route.clone(), r.path.clone()));
        let mut out: Vec<Receipt> = records.iter().map(|r| render(r, ID_IN_NAME)).collect();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for r in &out {
            *seen.entry(r.name.clone()).or_default() += 1;
        }
        for (r, rec) in out.iter_mut().zip(&records) {
            if seen.get(&r.name).is_some_and(|n| *n > 1) {
                *r = render(rec, usize::MAX);
            }
        }
        let mut checked: Vec<ObjectRecord> = self
            .journal
            .objects()?
            .into_iter()
            .filter(|o| o.tenant == who.owner())
            .collect();
        checked.sort_by_key(|o| o.committed_at);
        for o in &checked {
            // The object id is unique, so the full id settles any clash.
            if let Some(r) = render_check(o, ID_IN_NAME) {
                let r = if seen.contains_key(&r.name) {
                    render_check(o, usize::MAX).unwrap_or(r)
                } else {
                    r
                };
                seen.insert(r.name.clone(), 1);
                out.push(r);
            }
        }
        Ok(out)
    }

    /// One receipt by name.
    pub fn receipt(&self, who: &Principal, name: &str) -> Result<Receipt, NsError> {
        self.receipts(who)?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| NsError::NotFound {
                path: format!("/{}/{name}", super::path::RECEIPTS),
            })
    }

    /// When `/receipts` last changed (for its listing's time).
    pub fn receipts_mtime(&self, who: &Principal) -> i64 {
        self.receipts(who)
            .ok()
            .and_then(|r| r.iter().map(|x| x.mtime).max())
            .unwrap_or(self.started)
            .max(Timestamp::UNIX_EPOCH.as_second())
    }
}
