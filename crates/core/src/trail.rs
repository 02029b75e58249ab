//! The audit trail as an auditor searches it: one record as a row (who,
//! where, which file, what result), the filters of `renkei audit query`,
//! and the CSV spreadsheets open. The command line and the browser's
//! auditor pages both search through here, so they find the same records
//! and write the same columns.

use std::ops::ControlFlow;
use std::path::Path;

use jiff::Timestamp;
use serde_json::Value;

use crate::events::{FAILURES, REFUSALS, japanese};
use renkei_config::Config;
use renkei_storage::audit::read::{self, ReadError};
use renkei_storage::audit::{export, keys, verify};

/// One record as a row for people and spreadsheets.
#[derive(Debug, Clone)]
pub struct Row {
    pub seq: u64,
    /// Asia/Tokyo, `YYYY-MM-DD HH:MM:SS`.
    pub time: String,
    pub event: String,
    pub tenant: String,
    pub tenant_name: String,
    pub lane: String,
    pub segment: String,
    pub user: String,
    pub source: String,
    pub bx: String,
    pub path: String,
    pub size: String,
    pub sha256: String,
    /// `ok`, `refused` or `failed`.
    pub result: &'static str,
    pub reason: String,
    pub rule: String,
    /// `sftp`, `https`, or empty (the operator's socket, the daemon).
    pub protocol: String,
}

/// What to look for; every filter left `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub tenant: Option<String>,
    pub user: Option<String>,
    pub lane: Option<String>,
    pub segment: Option<String>,
    /// Event names; `None`: every event but checkpoints.
    pub events: Option<Vec<String>>,
    /// Part of a file path.
    pub file: Option<String>,
    /// `ok`, `refused` or `failed`.
    pub result: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// The municipalities the searcher may see (a tenant auditor); records
    /// of no municipality are then left out too. `None`: everything.
    pub scope: Option<Vec<String>>,
    /// One record by its sequence number.
    pub seq: Option<u64>,
}

/// Results a filter can take.
pub const RESULTS: [&str; 3] = ["ok", "refused", "failed"];

/// Asia/Tokyo local time of a record's `ts`.
pub fn local(ts: &str) -> String {
    ts.parse::<Timestamp>()
        .map(|t| {
            renkei_model::time::tokyo(t)
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

fn text(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// One record as a row.
pub fn row(seq: u64, ts: &str, event: &str, f: &Value, config: Option<&Config>) -> Row {
    let tenant = text(f, "tenant");
    let refused = REFUSALS.contains(&event) || f.get("ok") == Some(&Value::Bool(false));
    let path = match event {
        "renamed" => format!("{} → {}", text(f, "from"), text(f, "to")),
        // What the operator ran, e.g. "put tenant=032018 box=outbox a.csv".
        "ctl_command" => format!("{} {}", text(f, "command"), text(f, "detail"))
            .trim()
            .to_string(),
        _ => match text(f, "path") {
            p if p.is_empty() => text(f, "name"),
            p => p,
        },
    };
    // A lane's events name it; the checks' events of a lane file carry it
    // as their owner (`lane:<name>`).
    let lane = match text(f, "lane") {
        l if l.is_empty() => renkei_storage::journal::lane_of_owner(&tenant)
            .unwrap_or("")
            .to_string(),
        l => l,
    };
    let size = match (f.get("bytes_served"), f.get("size")) {
        (Some(b), _) => format!("{b} B served"),
        (None, Some(s)) => format!("{s} B"),
        _ => String::new(),
    };
    let source = match text(f, "source") {
        s if s.is_empty() && event == "ctl_command" => format!("uid {}", text(f, "uid")),
        s if s.is_empty() => text(f, "peer"),
        s => s,
    };
    // The control socket's user is the operator, named as `--user ctl`.
    let user = match text(f, "user") {
        u if u.is_empty() && event == "ctl_command" => "ctl".to_string(),
        u => u,
    };
    Row {
        seq,
        time: local(ts),
        event: event.to_string(),
        tenant_name: config
            .and_then(|c| c.tenant(&tenant))
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        tenant,
        segment: text(f, "segment"),
        user,
        source,
        bx: if lane.is_empty() {
            text(f, "box")
        } else {
            format!("lane:{lane}")
        },
        lane,
        path,
        size,
        sha256: text(f, "sha256"),
        result: if refused {
            "refused"
        } else if FAILURES.contains(&event) {
            "failed"
        } else {
            "ok"
        },
        reason: match text(f, "reason") {
            r if r.is_empty() && event != "ctl_command" => text(f, "detail"),
            r => r,
        },
        rule: text(f, "rule"),
        protocol: text(f, "protocol"),
    }
}

impl Query {
    fn keeps(&self, r: &Row) -> bool {
        let wanted_event = match &self.events {
            Some(list) => list.contains(&r.event),
            None => r.event != "checkpoint",
        };
        wanted_event
            && self.seq.is_none_or(|s| s == r.seq)
            && self.tenant.as_ref().is_none_or(|t| &r.tenant == t)
            && self.user.as_ref().is_none_or(|u| &r.user == u)
            && self.lane.as_ref().is_none_or(|l| &r.lane == l)
            && self.segment.as_ref().is_none_or(|g| &r.segment == g)
            && self
                .file
                .as_ref()
                .is_none_or(|s| r.path.contains(s.as_str()))
            && self.result.as_ref().is_none_or(|x| x == r.result)
            && self
                .scope
                .as_ref()
                .is_none_or(|codes| codes.contains(&r.tenant))
    }
}

/// Calls `f` with every matching record (row and fields as written), in
/// trail order, until it returns `Break`. Reads one segment at a time.
pub fn search(
    dir: &Path,
    q: &Query,
    config: Option<&Config>,
    mut f: impl FnMut(Row, &Value) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let from = match q.since {
        Some(s) => read::first_segment_since(dir, s)?,
        None => 0,
    };
    read::each(dir, from, |found| {
        let p = &found.record;
        let ts = p.ts.parse::<Timestamp>().ok();
        if q.since.is_some_and(|s| ts.is_some_and(|t| t < s))
            || q.until.is_some_and(|u| ts.is_some_and(|t| t > u))
        {
            return ControlFlow::Continue(());
        }
        let r = row(p.seq, &p.ts, &p.event, &p.fields, config);
        if q.keeps(&r) {
            f(r, &p.fields)
        } else {
            ControlFlow::Continue(())
        }
    })
}

/// What verifying the trail found: the report, and the ids of the keys
/// trusted (those in `audit.pub` beside the trail).
pub type Verified = (renkei_storage::audit::verify::Report, Vec<String>);

/// Verifies the trail of a running daemon (up to its last checkpoint)
/// against the public keys kept beside it.
pub fn verify_beside(dir: &Path) -> Result<Verified, String> {
    let keys = trusted(dir)?;
    let ids = keys.iter().map(keys::key_id).collect();
    verify::verify_dir(dir, &keys, true)
        .map(|r| (r, ids))
        .map_err(|p| p.to_string())
}

fn trusted(dir: &Path) -> Result<Vec<ed25519_dalek::VerifyingKey>, String> {
    let text =
        std::fs::read_to_string(dir.join("audit.pub")).map_err(|e| format!("audit.pub: {e}"))?;
    keys::read_public_all(&text)
}

/// Writes the signed bundle of a period to `out` (what `renkei audit
/// export` writes), naming the newest key beside the trail.
pub fn bundle(
    dir: &Path,
    since: Timestamp,
    until: Timestamp,
    out: &Path,
) -> Result<export::Exported, String> {
    let newest = trusted(dir)?.last().map(keys::key_id).unwrap_or_default();
    export::export(dir, since, until, &newest, out).map_err(|e| e.to_string())
}

/// The CSV header (after the byte-order mark spreadsheet programs need to
/// read Japanese as UTF-8).
pub const CSV_HEADER: &str = "\u{feff}seq,time_asia_tokyo,event,event_ja,tenant,tenant_name,user,source,protocol,box,path,size,sha256,result,reason,rule\r\n";

fn csv_field(s: &str) -> String {
    // A leading = + - @ would be read as a formula by spreadsheet programs.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One row as a CSV line (with its CRLF).
pub fn csv_line(r: &Row) -> String {
    let cols = [
        r.seq.to_string(),
        r.time.clone(),
        r.event.clone(),
        japanese(&r.event).to_string(),
        r.tenant.clone(),
        r.tenant_name.clone(),
        r.user.clone(),
        r.source.clone(),
        r.protocol.clone(),
        r.bx.clone(),
        r.path.clone(),
        r.size.clone(),
        r.sha256.clone(),
        r.result.to_string(),
        r.reason.clone(),
        r.rule.clone(),
    ];
    let mut line = cols
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("住民.csv"), "住民.csv");
    }
}
