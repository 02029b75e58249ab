//! Expected files: at each deadline, a tenant that has not delivered a
//! file matching the route's `expect.pattern` since the previous deadline
//! raises `expected_file_missing` (an alert for the operator, in the
//! audit trail and the log).
//!
//! Deadlines that passed while the daemon was down are checked at start
//! (`late: true`; see `clock`).

use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use jiff::{SignedDuration, Timestamp};

use super::clock;
use super::state::RouteState;
use super::wake::until;
use renkei_config::routes::Expectation;
use renkei_core::events::Event;
use renkei_core::namespace::Namespace;
use renkei_model::schedule::rfc3339;

pub(super) async fn run(ns: Arc<Namespace>, st: Arc<RouteState>, stop: CancellationToken) {
    let Some(expect) = st.route.expect.clone() else {
        return;
    };
    for deadline in clock::unchecked_deadlines(&ns, &st.route.name, &expect.by).await {
        check_at(&ns, &st, &expect, deadline, true).await;
    }
    loop {
        let Some(deadline) = expect.by.next_after(Timestamp::now()) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep(until(deadline)) => {}
            _ = stop.cancelled() => return,
        }
        check_at(&ns, &st, &expect, deadline, false).await;
    }
}

/// How many closed deadlines in a row a window reaches back over.
const MAX_SKIPPED: usize = 400;

/// Checks the window that ends at `deadline` (unless it falls on a
/// closed day the route skips), and remembers it was.
async fn check_at(
    ns: &Arc<Namespace>,
    st: &Arc<RouteState>,
    expect: &Expectation,
    deadline: Timestamp,
    late: bool,
) {
    let skip = st.route.skip_closed_days;
    if skip && clock::closed_at(ns, deadline) {
        clock::skipped(ns, &st.route.name, "expect", deadline);
        clock::deadline_checked(ns, &st.route.name, deadline).await;
        return;
    }
    // The window reaches back to the previous deadline that counted.
    let mut since = deadline;
    for _ in 0..MAX_SKIPPED {
        let before = since
            .checked_sub(SignedDuration::from_secs(60))
            .unwrap_or(since);
        since = expect
            .by
            .prev_at_or_before(before)
            .unwrap_or(Timestamp::MIN);
        if !(skip && since > Timestamp::MIN && clock::closed_at(ns, since)) {
            break;
        }
    }
    let (cns, cst, cexp) = (Arc::clone(ns), Arc::clone(st), expect.clone());
    let window = Window {
        since,
        deadline,
        late,
    };
    let _ = tokio::task::spawn_blocking(move || check(&cns, &cst, &cexp, &window)).await;
    clock::deadline_checked(ns, &st.route.name, deadline).await;
}

/// The window a check looks at.
struct Window {
    since: Timestamp,
    deadline: Timestamp,
    /// It ended while the daemon was down.
    late: bool,
}

/// Raises an alert for each tenant without a matching file in the window.
fn check(ns: &Namespace, st: &RouteState, expect: &Expectation, w: &Window) {
    let (since, deadline) = (w.since, w.deadline);
    let route = &st.route;
    let Some(bx) = route.tenant_box() else {
        return;
    };
    let objects = match ns.objects() {
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
            st.update(|s| s.missing.retain(|(t, _)| t != code));
            continue;
        }
        let message = format!(
            "no file matching {} from {code} by {}",
            expect.pattern.as_str(),
            rfc3339(deadline)
        );
        st.update(|s| {
            s.last_error = Some(message.clone());
            s.missing.retain(|(t, _)| t != code);
            s.missing.push((code.to_string(), message.clone()));
        });
        ns.events().record(Event::ExpectedFileMissing {
            route: route.name.clone(),
            tenant: code.to_string(),
            box_name: bx.to_string(),
            pattern: expect.pattern.as_str().to_string(),
            since: rfc3339(since),
            deadline: rfc3339(deadline),
            late: w.late,
        });
    }
}
