//! Expected files: at each deadline, a tenant that has not delivered a
//! file matching the route's `expect.pattern` since the previous deadline
//! raises `expected_file_missing` (an alert for the operator, in the
//! audit trail and the log).
//!
//! A deadline that passes while the daemon is down is not checked later.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use super::RouteState;
use super::worker::until;
use crate::config::routes::Expectation;
use crate::events::Event;
use crate::namespace::Namespace;

/// RFC 3339 in Asia/Tokyo, as the audit trail writes times.
fn rfc3339(t: Timestamp) -> String {
    t.to_zoned(crate::schedule::tokyo())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, mut stop: watch::Receiver<bool>) {
    let Some(expect) = st.route.expect.clone() else {
        return;
    };
    loop {
        let Some(deadline) = expect.by.next_after(Timestamp::now()) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(until(deadline)) => {}
            _ = stop.changed() => return,
        }
        let before = deadline
            .checked_sub(SignedDuration::from_secs(60))
            .unwrap_or(deadline);
        let since = expect
            .by
            .prev_at_or_before(before)
            .unwrap_or(Timestamp::MIN);
        let (cns, cst, cexp) = (Arc::clone(&ns), Arc::clone(&st), expect.clone());
        let _ =
            tokio::task::spawn_blocking(move || check(&cns, &cst, &cexp, since, deadline)).await;
    }
}

/// Raises an alert for each tenant without a matching file in the window.
fn check(
    ns: &Namespace,
    st: &RouteState,
    expect: &Expectation,
    since: Timestamp,
    deadline: Timestamp,
) {
    let route = &st.route;
    let Some(bx) = route.tenant_box() else {
        return;
    };
    let objects = match ns.journal.objects() {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(route = %route.name, error = %e, "cannot check expected files");
            return;
        }
    };
    for tenant in &route.tenants {
        let code = tenant.as_str();
        let arrived = objects.iter().any(|o| {
            o.tenant == code
                && o.bx == bx
                && o.committed_at > since
                && o.committed_at <= deadline
                && expect
                    .pattern
                    .matches(o.path.rsplit('/').next().unwrap_or(&o.path), code)
        });
        if arrived {
            continue;
        }
        let message = format!(
            "no file matching {} from {code} by {}",
            expect.pattern.as_str(),
            rfc3339(deadline)
        );
        st.update(|s| s.last_error = Some(message.clone()));
        ns.events.record(Event::ExpectedFileMissing {
            route: route.name.clone(),
            tenant: code.to_string(),
            box_name: bx.to_string(),
            pattern: expect.pattern.as_str().to_string(),
            since: rfc3339(since),
            deadline: rfc3339(deadline),
        });
    }
}
