//! `renkei audit verify | query | export`: the auditor's tools. They read
//! the trail's files directly; no daemon, no secret.

use clap::Subcommand;
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::when::when;
use renkei_config::Config;
use renkei_core::events::japanese;
use renkei_core::trail::{self, local};
use renkei_storage::audit::{export, keys, verify};

use super::progress::{Progress, Unit};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record, the chain and every checkpoint signature. Exit
    /// status 1 and the first problem when anything was tampered with.
    Verify {
        /// Public key file (ed25519:<hex> per line); may be given again for
        /// a trail whose signing key was replaced. Default: audit.pub beside
        /// the trail.
        #[arg(long, value_name = "FILE")]
        pubkey: Vec<std::path::PathBuf>,
        /// The daemon is running: accept an end not yet sealed. Detected by
        /// itself when the daemon's control socket is beside the trail.
        #[arg(long)]
        live: bool,
        /// Verify an exported bundle instead of the directory.
        #[arg(long, value_name = "FILE")]
        bundle: Option<std::path::PathBuf>,
    },
    /// Search the trail: a readable table, or --json / --csv.
    Query {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: Option<String>,
        /// Account (SSH user), or ctl for the operator.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// A lane between segments (its files, approvals and checks).
        #[arg(long, value_name = "LANE")]
        lane: Option<String>,
        /// A separated network: its accounts' logins and sessions.
        #[arg(long, value_name = "SEGMENT")]
        segment: Option<String>,
        /// Event name(s), comma-separated (see docs/audit.md).
        #[arg(long, value_name = "EVENT")]
        event: Option<String>,
        /// Part of a file path.
        #[arg(long, value_name = "TEXT")]
        file: Option<String>,
        /// ok, refused or failed.
        #[arg(long, value_name = "RESULT")]
        result: Option<String>,
        /// From (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Up to and including (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// The matching records as a JSON array, fields as written.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV with a header row (UTF-8 with BOM, for spreadsheets).
        #[arg(long)]
        csv: bool,
    },
    /// Write the records of a period, with the checkpoints that sign them,
    /// as a bundle that verifies on its own.
    Export {
        /// From (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo).
        #[arg(long, value_name = "TIME")]
        since: String,
        /// Up to and including (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: String,
        /// The bundle file to write.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

/// The keys trusted to have signed the trail: those in the files given,
/// or in `audit.pub` beside the trail.
fn public_keys(dir: &Path, given: &[PathBuf]) -> anyhow::Result<Vec<ed25519_dalek::VerifyingKey>> {
    let paths = if given.is_empty() {
        let p = dir.join("audit.pub");
        eprintln!(
            "note: using the public key stored beside the trail ({}); for an independent check give --pubkey with a copy kept elsewhere",
            p.display()
        );
        vec![p]
    } else {
        given.to_vec()
    };
    let mut all = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        all.extend(
            keys::read_public_all(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        );
    }
    Ok(all)
}

/// Whether a daemon is serving the data directory this trail is in: its
/// control socket, beside `audit/`, accepts a connection.
fn daemon_running(audit_dir: &Path) -> bool {
    let Some(data_dir) = audit_dir.parent() else {
        return false;
    };
    let socket = data_dir.join(renkei_doors_admin::SOCKET_NAME);
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Columns of East Asian wide characters take two cells in a terminal.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// `s` padded with spaces to `cells` terminal cells.
fn pad(s: &str, cells: usize) -> String {
    format!("{s}{}", " ".repeat(cells.saturating_sub(width(s))))
}

// One arm per `renkei audit` subcommand, each a few lines of argument
// handling around a library call: the match is the command table.
pub(super) fn run(
    dir: PathBuf,
    config: Option<&Config>,
    command: AuditCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            pubkey,
            live,
            bundle,
        } => {
            let trusted = public_keys(&dir, &pubkey)?;
            // A running daemon is still writing the trail's end: verify up
            // to its last checkpoint instead of calling the open end a cut.
            let running = bundle.is_none() && !live && daemon_running(&dir);
            let live = live || running;
            if running {
                eprintln!(
                    "note: the daemon is running (its control socket answers): verifying up to the last checkpoint; newer records are not yet signed"
                );
            }
            let result = match &bundle {
                Some(b) => {
                    let text = std::fs::read_to_string(b)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", b.display()))?;
                    verify::verify_bundle(&text, &trusted)
                }
                None => {
                    let mut bar = Progress::new("verifying", Unit::Segments);
                    let r =
                        verify::verify_dir_with(&dir, &trusted, live, &mut |d, t| bar.update(d, t));
                    bar.finish();
                    r
                }
            };
            let what = bundle
                .as_ref()
                .map_or_else(|| dir.display().to_string(), |b| b.display().to_string());
            match result {
                Ok(r) => {
                    print_verified(&what, &r, bundle.is_none());
                    Ok(ExitCode::SUCCESS)
                }
                Err(p) => {
                    println!("audit trail {what}: FAILED verification");
                    println!("  first problem: {p}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Query {
            tenant,
            user,
            lane,
            segment,
            event,
            file,
            result,
            since,
            until,
            json,
            csv: as_csv,
        } => {
            let since = since
                .as_deref()
                .map(when)
                .transpose()?
                .map(|z| z.timestamp());
            let until = until
                .as_deref()
                .map(when)
                .transpose()?
                .map(|z| z.timestamp());
            if result
                .as_deref()
                .is_some_and(|r| !trail::RESULTS.contains(&r))
            {
                anyhow::bail!("--result is ok, refused or failed");
            }
            let q = trail::Query {
                tenant,
                user,
                lane,
                segment,
                events: event.map(|e| e.split(',').map(|x| x.trim().to_string()).collect()),
                file,
                result,
                since,
                until,
                scope: None,
                seq: None,
            };
            let mut rows = Vec::new();
            let mut raw = Vec::new();
            trail::search(&dir, &q, config, |r, fields| {
                raw.push(fields.clone());
                rows.push(r);
                ControlFlow::Continue(())
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&raw)?);
            } else if as_csv {
                print!("{}", trail::CSV_HEADER);
                for r in &rows {
                    print!("{}", trail::csv_line(r));
                }
            } else {
                print_rows(&rows);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            since,
            until,
            output,
        } => {
            let since = when(&since)?.timestamp();
            let until = when(&until)?.timestamp();
            // The bundle names the newest key; verifying it takes them all.
            let trusted = public_keys(&dir, &[])?;
            let newest = trusted.last().map(keys::key_id).unwrap_or_default();
            let mut bar = Progress::new("exporting", Unit::Segments);
            let e = export::export_with(&dir, since, until, &newest, &output, &mut |d, t| {
                bar.update(d, t)
            })?;
            bar.finish();
            println!(
                "{}: {} records (seq {} to {}), from a signed checkpoint to a signed checkpoint; check it with renkei audit verify --bundle {} --pubkey audit.pub",
                output.display(),
                e.records,
                e.first_seq,
                e.last_seq,
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A verified trail or bundle, for a person.
fn print_verified(what: &str, r: &verify::Report, whole_dir: bool) {
    println!("audit trail {what}: verified");
    println!(
        "  {} records, seq {} to {}{}, {} to {} (Asia/Tokyo)",
        r.records,
        r.first_seq,
        r.last_seq,
        if whole_dir {
            format!(", in {} segments", r.segments)
        } else {
            String::new()
        },
        r.first_ts.as_deref().map(local).unwrap_or_default(),
        r.last_ts.as_deref().map(local).unwrap_or_default()
    );
    println!(
        "  {} checkpoints signed by key {}",
        r.checkpoints,
        r.signers.join(" then ")
    );
    if r.anchored {
        println!(
            "  the chain starts at a signed checkpoint (earlier records were pruned or are outside the bundle)"
        );
    }
    if r.sealed && whole_dir {
        println!("  sealed by the final checkpoint of a clean stop");
    } else if r.unsigned() > 0 {
        println!(
            "  the last {} records are not signed yet (the next checkpoint will sign them)",
            r.unsigned()
        );
    }
}

/// Records as a table for a person.
fn print_rows(rows: &[trail::Row]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<19}  {:<20} {} {} {:<14} {:<22} DETAIL",
        "TIME (Asia/Tokyo)",
        "EVENT",
        pad("", 16),
        pad("MUNICIPALITY", 24),
        "USER",
        "FROM"
    );
    for r in rows {
        let who = if r.tenant.is_empty() {
            String::new()
        } else if r.tenant_name.is_empty() {
            r.tenant.clone()
        } else {
            format!("{}({})", r.tenant_name, r.tenant)
        };
        let mut detail = Vec::new();
        if !r.path.is_empty() {
            detail.push(if r.bx.is_empty() {
                r.path.clone()
            } else {
                format!("/{}/{}", r.bx, r.path.trim_start_matches('/'))
            });
        }
        if !r.size.is_empty() {
            detail.push(r.size.clone());
        }
        if !r.sha256.is_empty() {
            detail.push(format!("sha256 {}…", &r.sha256[..r.sha256.len().min(12)]));
        }
        if r.result == "refused" {
            detail.push(format!("REFUSED: {}", r.reason));
        } else if r.result == "failed" {
            detail.push(format!("FAILED: {}", r.reason));
        } else if !r.reason.is_empty() {
            detail.push(r.reason.clone());
        }
        if !r.rule.is_empty() {
            detail.push(format!("[{}]", r.rule));
        }
        let _ = writeln!(
            out,
            "{:<19}  {:<20} {} {} {:<14} {:<22} {}",
            r.time,
            r.event,
            pad(japanese(&r.event), 16),
            pad(&who, 24),
            r.user,
            r.source,
            detail.join("  ")
        );
    }
    let _ = writeln!(out, "{} records", rows.len());
    print!("{out}");
}
