//! The checks stage task: takes `checking` files from the queue (and, at
//! start or after the queue overflowed, from the journal), runs at most
//! `scan.concurrency` inspections at once on blocking threads, and
//! commits each outcome with its audit record.
//!
//! Fail closed: when the scanner does not answer, the file goes to the
//! back of its owner's line (`line`: municipalities take turns),
//! `scan_unavailable` is recorded once for the outage, and only one file
//! at a time probes the scanner, after `scan.retry_first` doubling up to
//! `scan.retry_max`. The first answer ends the outage (`scan_available`)
//! and every waiting file proceeds. A file left unanswered
//! `scan.max_attempts` times while the scanner answers others is held
//! for the operator, so it cannot keep the scanner to itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::inspect::{Finding, Scanner, Unavailable, inspect, unanswered};
use super::line::Line;
use crate::events::{CheckedFile, Event};
use crate::namespace::Namespace;
use renkei_checks::clamd::Clamd;
use renkei_storage::journal::{ApplyError, ChecksOp, ObjectRecord, ObjectState, Op, OpError};

/// How long a scanner's `VERSION` answer is reused before it is asked
/// again (its database is updated a few times a day).
const VERSION_TTL: Duration = Duration::from_secs(300);

/// Inspections at once when no `[scan]` sets `concurrency`.
const DEFAULT_CONCURRENCY: usize = 2;

/// The scanner being unreachable, and when to try again.
struct Outage {
    since: Instant,
    delay: Duration,
    next: Instant,
}

/// The file an event is about.
pub(crate) fn checked_file(o: &ObjectRecord) -> CheckedFile {
    CheckedFile {
        tenant: o.tenant.clone(),
        box_name: o.bx.to_string(),
        path: o.path.clone(),
        object: o.id.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        uploaded_by: o.uploaded_by.clone(),
    }
}

fn event_of(o: &ObjectRecord, f: &Finding) -> Event {
    let r = &f.record;
    let file = checked_file(o);
    let reason = r.reason.clone().unwrap_or_default();
    match f.state {
        ObjectState::Quarantined { .. } => Event::FileQuarantined {
            file,
            reason,
            signature: r.signature.clone(),
            scanner: r.scanner.clone(),
        },
        ObjectState::Rejected { .. } => Event::FileRejected {
            file,
            reason,
            checks: r.ran.clone(),
        },
        _ => Event::FileChecked {
            file,
            checks: r.ran.clone(),
            scanner: r.scanner.clone(),
        },
    }
}

/// The scanner's version, reused for [`VERSION_TTL`].
type VersionCache = Arc<Mutex<Option<(Instant, String)>>>;

fn version_of(clamd: &Clamd, cache: &VersionCache) -> Result<String, Unavailable> {
    if let Ok(c) = cache.lock()
        && let Some((at, v)) = c.as_ref()
        && at.elapsed() < VERSION_TTL
    {
        return Ok(v.clone());
    }
    let v = clamd.version().map_err(|e| Unavailable(e.to_string()))?;
    if let Ok(mut c) = cache.lock() {
        *c = Some((Instant::now(), v.clone()));
    }
    Ok(v)
}

/// Inspects one object, if it is still waiting: `None` when it left
/// `checking` meanwhile (superseded, deleted).
fn check_one(
    ns: &Arc<Namespace>,
    id: &str,
    versions: &VersionCache,
) -> Result<Option<(ObjectRecord, Finding)>, Unavailable> {
    let o = match ns.journal.object(id) {
        Ok(Some(o)) if matches!(o.state, ObjectState::Checking { .. }) => o,
        Ok(_) => return Ok(None),
        Err(e) => return Err(Unavailable(format!("the journal cannot be read: {e}"))),
    };
    let snap = ns.live.get();
    let clamd = snap
        .config
        .scan
        .as_ref()
        .map(|s| Clamd::new(s.clamd.clone(), s.timeout));
    let version = match &clamd {
        Some(c) => Some(version_of(c, versions)?),
        None => None,
    };
    let scanner = clamd
        .as_ref()
        .zip(version.as_deref())
        .map(|(clamd, version)| Scanner { clamd, version });
    let open = || ns.open_object(&o).map_err(|e| e.to_string());
    let f = inspect(&open, &o, &snap, scanner.as_ref())?;
    Ok(Some((o, f)))
}

/// Commits an outcome; an accepted file is announced to the routes.
async fn settle(ns: &Arc<Namespace>, o: ObjectRecord, f: Finding) {
    let event = event_of(&o, &f);
    // Accepted on a lane with approvers: it waits for them next.
    let state = match f.state {
        ObjectState::Stored => crate::namespace::checking::accepted_state(
            &ns.live.get(),
            &o.tenant,
            jiff::Timestamp::now(),
        ),
        ref other => other.clone(),
    };
    let op = Op::Checks(ChecksOp::Settle {
        id: o.id.clone(),
        path: o.path.clone(),
        state,
        check: f.record.clone(),
    });
    match ns.apply_recorded(op, move |_| Some(event)).await {
        Ok(out) => match out.object {
            Some(o) if o.state == ObjectState::Stored && o.lane().is_some() => {
                ns.events.record(Event::LaneDelivered {
                    by: None,
                    file: crate::namespace::lanes::lane_file(&o),
                    approved_by: Vec::new(),
                });
            }
            Some(o) if o.state == ObjectState::Stored => ns.arrived(&o),
            _ => {}
        },
        Err(ApplyError::Op(OpError::Stale | OpError::NotFound)) => {
            // Renamed while it was inspected: the verdict was for a name
            // it no longer has, so it is inspected again under its new
            // one. Otherwise it left `checking` (deleted, superseded).
            let renamed = matches!(
                ns.journal.object(&o.id),
                Ok(Some(now)) if matches!(now.state, ObjectState::Checking { .. }) && now.path != o.path
            );
            if renamed {
                tracing::debug!(object = %o.id, "renamed while it was checked; checked again");
                ns.checking.push(o.id.clone(), o.tenant.clone());
            } else {
                tracing::debug!(object = %o.id, "left checking while it was checked; outcome dropped");
            }
        }
        Err(e) => {
            tracing::error!(object = %o.id, error = %e, "the checks' outcome could not be recorded; the file is checked again at the next start");
        }
    }
}

/// Every `checking` object in the journal, oldest first, with its owner.
fn waiting_in_journal(ns: &Namespace) -> Vec<(String, String)> {
    match ns.journal.objects() {
        Ok(mut all) => {
            all.retain(|o| matches!(o.state, ObjectState::Checking { .. }));
            all.sort_by_key(|o| o.committed_at);
            all.into_iter().map(|o| (o.id, o.tenant)).collect()
        }
        Err(e) => {
            tracing::error!(error = %e, "the journal cannot be read for files waiting for checks");
            Vec::new()
        }
    }
}

type Done = (String, Result<Option<(ObjectRecord, Finding)>, Unavailable>);

// Long: the stage's one loop (queue, outage, running inspections,
// shutdown) reads best as one select over its four sources.
/// Runs the stage until `token` is cancelled. Inspections under way then
/// finish on their threads, but their outcome is not recorded: the files
/// stay `checking` and are checked again at the next start.
pub async fn run(ns: Arc<Namespace>, token: CancellationToken) {
    let mut line = Line::default();
    for (id, owner) in waiting_in_journal(&ns) {
        line.add(id, owner);
    }
    let versions: VersionCache = Arc::new(Mutex::new(None));
    let mut running: JoinSet<Done> = JoinSet::new();
    let mut outage: Option<Outage> = None;
    loop {
        let (ids, lagged) = ns.checking.take();
        for (id, owner) in ids {
            line.add(id, owner);
        }
        if lagged || line.wants_journal(running.is_empty()) {
            for (id, owner) in waiting_in_journal(&ns) {
                line.add(id, owner);
            }
        }
        let snap = ns.live.get();
        let (limit, retry, max_attempts) = snap.config.scan.as_ref().map_or(
            (
                DEFAULT_CONCURRENCY,
                (Duration::from_secs(5), Duration::from_secs(300)),
                3,
            ),
            |s| (s.concurrency, (s.retry_first, s.retry_max), s.max_attempts),
        );
        let probing = outage.as_ref().is_some_and(|o| Instant::now() >= o.next);
        let room = if outage.is_none() {
            limit
        } else if probing {
            1
        } else {
            0
        };
        while running.len() < room {
            let Some(id) = line.next() else {
                break;
            };
            let (ns2, v2) = (Arc::clone(&ns), Arc::clone(&versions));
            running.spawn_blocking(move || {
                let r = check_one(&ns2, &id, &v2);
                (id, r)
            });
        }
        let next_probe = outage.as_ref().map(|o| o.next);
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ns.checking.woken() => {}
            _ = async {
                match next_probe {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending::<()>().await,
                }
            }, if running.is_empty() => {}
            done = running.join_next(), if !running.is_empty() => {
                let Some(Ok((id, result))) = done else { continue };
                match result {
                    Ok(found) => {
                        line.done(&id);
                        if let Some(o) = outage.take() {
                            scanner_back(&ns, &versions, &o);
                        }
                        if let Some((o, f)) = found {
                            settle(&ns, o, f).await;
                        }
                    }
                    Err(Unavailable(error)) => {
                        // A strike only while the scanner answers others:
                        // in an outage, every file fails alike.
                        let strikes = line.unanswered(id.clone(), outage.is_none());
                        if strikes >= max_attempts {
                            line.done(&id);
                            give_up(&ns, &id, &error, strikes).await;
                            continue;
                        }
                        let now = Instant::now();
                        match outage.as_mut() {
                            Some(o) => {
                                o.delay = (o.delay * 2).min(retry.1);
                                o.next = now + o.delay;
                            }
                            None => {
                                ns.events.record(Event::ScanUnavailable {
                                    scanner: scanner_name(&ns),
                                    error,
                                    waiting: line.len() + running.len(),
                                });
                                outage = Some(Outage { since: now, delay: retry.0, next: now + retry.0 });
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The scanner answered again after an outage.
fn scanner_back(ns: &Namespace, versions: &VersionCache, o: &Outage) {
    let version = versions
        .lock()
        .ok()
        .and_then(|v| v.as_ref().map(|(_, v)| v.clone()))
        .unwrap_or_default();
    ns.events.record(Event::ScanAvailable {
        scanner: scanner_name(ns),
        version,
        outage_s: o.since.elapsed().as_secs(),
    });
}

/// A file the scanner left unanswered `strikes` times while answering
/// others (`scan.max_attempts`): held for the operator, with the last
/// error as the reason, so it stops taking the scanner's time.
async fn give_up(ns: &Arc<Namespace>, id: &str, error: &str, strikes: u32) {
    let o = match ns.journal.object(id) {
        Ok(Some(o)) if matches!(o.state, ObjectState::Checking { .. }) => o,
        _ => return,
    };
    let reason = format!(
        "検査が{strikes}回完了しませんでした / the scanner gave no verdict {strikes} times while it answered for other files (scan.max_attempts); last error: {error}"
    );
    settle(ns, o, unanswered(reason)).await;
}

fn scanner_name(ns: &Namespace) -> String {
    ns.live
        .get()
        .config
        .scan
        .as_ref()
        .map_or_else(|| "none".to_string(), |s| s.clamd.to_string())
}
