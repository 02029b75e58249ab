//! The exactly-once ledger of a box-sourced route: which files are queued,
//! and each state change committed with its audit record.
//!
//! Only a route's own worker moves its records on, except `ctl retry`,
//! which moves `failed` back to `queued` (guarded by the state it expects,
//! so it cannot collide with the worker).

use std::collections::HashSet;

use jiff::Timestamp;

use renkei_config::Route;
use renkei_config::Source;
use renkei_core::events::Event;
use renkei_core::namespace::{Arrival, Namespace};
use renkei_core::records::{
    DeliveryRecord, DeliveryState, JournalError, ObjectRecord, ObjectState,
};
use renkei_model::placement::Working;

/// Files of the route's tenants and box that match its pattern and have
/// no delivery record yet (not in `known`) are queued; returns them. This
/// looks at every name of the route's tenants: it runs at start, on the
/// rescan timer, on a schedule and when the arrivals were missed.
pub(super) async fn enqueue_new(
    ns: &Namespace,
    route: &Route,
    known: &mut HashSet<String>,
) -> Result<Vec<DeliveryRecord>, JournalError> {
    let Source::Box { bx } = route.source else {
        return Ok(Vec::new());
    };
    let mut fresh = Vec::new();
    for tenant in &route.tenants {
        let code = tenant.as_str();
        for file in ns.box_files(code)? {
            if known.contains(&file.object) || file.bx != bx || !matches(route, &file.name, code) {
                continue;
            }
            if let Some(o) = stored(ns, &file.object)? {
                fresh.push(record_for(route, &o));
            }
        }
    }
    queue(ns, fresh, known).await
}

/// [`enqueue_new`] for the files the route was told of: only these are
/// looked at, not the whole box.
pub(super) async fn enqueue_arrived(
    ns: &Namespace,
    route: &Route,
    arrived: Vec<Arrival>,
    known: &mut HashSet<String>,
) -> Result<Vec<DeliveryRecord>, JournalError> {
    let Source::Box { bx } = route.source else {
        return Ok(Vec::new());
    };
    let mut fresh = Vec::new();
    for a in arrived {
        let name = a.path.rsplit('/').next().unwrap_or(&a.path);
        if a.bx != bx
            || known.contains(&a.object)
            || !route.tenants.iter().any(|t| t.as_str() == a.tenant)
            || !matches(route, name, &a.tenant)
        {
            continue;
        }
        // Read back: it may have been replaced or removed since.
        if let Some(o) = stored(ns, &a.object)? {
            fresh.push(record_for(route, &o));
        }
    }
    queue(ns, fresh, known).await
}

fn matches(route: &Route, name: &str, tenant: &str) -> bool {
    route
        .pattern
        .as_ref()
        .is_none_or(|p| p.matches(name, tenant))
}

/// The object if it is still the stored version of its name.
fn stored(ns: &Namespace, object: &str) -> Result<Option<ObjectRecord>, JournalError> {
    Ok(ns
        .object(object)?
        .filter(|o| o.state == ObjectState::Stored))
}

/// A new `queued` delivery record of `o` on `route`.
fn record_for(route: &Route, o: &ObjectRecord) -> DeliveryRecord {
    let now = Timestamp::now();
    DeliveryRecord {
        route: route.name.clone(),
        object: o.id.clone(),
        tenant: o.tenant.clone(),
        bx: o.bx,
        path: o.path.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        state: DeliveryState::Queued,
        attempts: 0,
        queued_at: now,
        next_attempt: now,
        last_error: None,
        finished_at: None,
        destination: route.destination_label(&o.tenant),
    }
}

/// Commits the records that are new (a record already there is kept) and
/// returns those; every object looked at joins `known`.
async fn queue(
    ns: &Namespace,
    fresh: Vec<DeliveryRecord>,
    known: &mut HashSet<String>,
) -> Result<Vec<DeliveryRecord>, JournalError> {
    if fresh.is_empty() {
        return Ok(fresh);
    }
    let results = ns.queue_deliveries(fresh.clone()).await?;
    let mut queued = Vec::new();
    for (r, new) in fresh.into_iter().zip(results) {
        known.insert(r.object.clone());
        if new {
            queued.push(r);
        }
    }
    Ok(queued)
}

/// Why a delivery record's new state was not committed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the delivery of {object} on route {route} was no longer queued (moved on meanwhile)")]
    Moved { route: String, object: String },
    #[error("{0}")]
    Journal(#[from] JournalError),
}

/// Commits a record's new state (expected to be `queued` before) with the
/// audit record `event`.
pub(super) async fn transition(
    ns: &Namespace,
    record: DeliveryRecord,
    event: Event,
) -> Result<(), LedgerError> {
    let (route, object) = (record.route.clone(), record.object.clone());
    if ns
        .advance_delivery(record, DeliveryState::Queued, event)
        .await?
    {
        Ok(())
    } else {
        Err(LedgerError::Moved { route, object })
    }
}

/// `delivered`, with the audit record.
pub(super) async fn delivered(
    ns: &Namespace,
    mut r: DeliveryRecord,
    already_there: bool,
) -> Result<DeliveryRecord, LedgerError> {
    r.attempts += 1;
    r.state = DeliveryState::Delivered;
    r.finished_at = Some(Timestamp::now());
    r.last_error = None;
    let event = Event::HandoffDelivered {
        route: r.route.clone(),
        tenant: r.tenant.clone(),
        box_name: r.bx.to_string(),
        path: r.path.clone(),
        object: r.object.clone(),
        size: r.size,
        sha256: r.sha256.clone(),
        destination: r.destination.clone(),
        attempts: r.attempts,
        already_there,
    };
    transition(ns, r.clone(), event).await?;
    Ok(r)
}

/// A failed attempt: queued again after the backoff, or `failed` when the
/// route's attempts are used up or retrying cannot help.
pub(super) async fn failed(
    ns: &Namespace,
    route: &Route,
    mut r: DeliveryRecord,
    error: String,
    permanent: bool,
) -> Result<DeliveryRecord, LedgerError> {
    r.attempts += 1;
    r.last_error = Some(error.clone());
    let gave_up = permanent || r.attempts >= route.retry.attempts;
    let now = Timestamp::now();
    let next_attempt = if gave_up {
        r.state = DeliveryState::Failed;
        r.finished_at = Some(now);
        None
    } else {
        let wait = jiff::SignedDuration::try_from(route.retry.backoff(r.attempts))
            .unwrap_or(jiff::SignedDuration::from_secs(60));
        r.next_attempt = now.checked_add(wait).unwrap_or(now);
        Some(renkei_model::schedule::local_text(r.next_attempt))
    };
    let event = Event::HandoffFailed {
        route: r.route.clone(),
        tenant: r.tenant.clone(),
        box_name: r.bx.to_string(),
        path: r.path.clone(),
        object: r.object.clone(),
        destination: r.destination.clone(),
        attempts: r.attempts,
        error,
        gave_up,
        next_attempt,
    };
    transition(ns, r.clone(), event).await?;
    Ok(r)
}

/// The file left its box before it was handed on.
pub(super) async fn cancelled(
    ns: &Namespace,
    mut r: DeliveryRecord,
    reason: &str,
) -> Result<DeliveryRecord, LedgerError> {
    r.state = DeliveryState::Cancelled;
    r.finished_at = Some(Timestamp::now());
    let event = Event::HandoffCancelled {
        route: r.route.clone(),
        tenant: r.tenant.clone(),
        box_name: r.bx.to_string(),
        path: r.path.clone(),
        object: r.object.clone(),
        reason: reason.to_string(),
    };
    transition(ns, r.clone(), event).await?;
    Ok(r)
}

/// `ctl retry`: failed items of `route` (all, or the one whose object id
/// or path is `item`) go back to the queue, attempts counted afresh.
pub async fn requeue(
    ns: &Namespace,
    route: &str,
    item: Option<&str>,
) -> Result<usize, JournalError> {
    let now = Timestamp::now();
    let mut count = 0;
    for mut r in ns.deliveries(route)? {
        if r.state != DeliveryState::Failed || item.is_some_and(|i| i != r.object && i != r.path) {
            continue;
        }
        r.state = DeliveryState::Queued;
        r.attempts = 0;
        r.next_attempt = now;
        r.finished_at = None;
        let event = Event::HandoffRequeued {
            route: r.route.clone(),
            object: r.object.clone(),
            path: r.path.clone(),
            tenant: r.tenant.clone(),
        };
        if ns.advance_delivery(r, DeliveryState::Failed, event).await? {
            count += 1;
        }
    }
    Ok(count)
}

/// Which working file left at a destination by `route` may go: a receipt
/// (`.renkei-ROUTE-OBJECT.sent`) once its item is no longer queued (a
/// crash came between committing `delivered` and removing it), a `.part`
/// once its item is delivered or cancelled.
pub(super) fn stale_working_file(ns: &Namespace, route: &str, name: &str) -> bool {
    let (object, is_receipt) = match renkei_model::placement::parse_working(route, name) {
        Some(Working::Receipt(o)) => (o, true),
        Some(Working::Part(o)) => (o, false),
        None => return false,
    };
    match ns.delivery(route, object) {
        Ok(Some(r)) if is_receipt => r.state != DeliveryState::Queued,
        Ok(Some(r)) => matches!(r.state, DeliveryState::Delivered | DeliveryState::Cancelled),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
