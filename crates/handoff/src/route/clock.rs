//! A route's schedule, remembered across restarts.
//!
//! A scheduled route (cron or `every`) that was down when it should have
//! fired must not silently wait for the next firing — for a nightly push
//! that is a day lost. Each firing is remembered in the journal; at start,
//! a firing missed since the last one makes the route run once at once,
//! recorded as `schedule_caught_up`. Several missed firings make one run:
//! each run takes everything waiting. A route that has never fired (new,
//! or never started before) is not run retroactively.
//!
//! Expected-file deadlines (`expect`) are remembered the same way: those
//! that passed while the daemon was down are checked at start.

use jiff::Timestamp;

use super::state::RouteState;
use renkei_core::events::Event;
use renkei_core::namespace::Namespace;
use renkei_model::schedule::{Cron, Trigger, rfc3339};

/// Journal meta key of when `route`'s schedule last fired.
fn fired_key(route: &str) -> String {
    format!("route.fired.{route}")
}

/// Journal meta key of the last `expect` deadline of `route` checked.
fn checked_key(route: &str) -> String {
    format!("route.expect_checked.{route}")
}

fn read(ns: &Namespace, key: &str) -> Option<Timestamp> {
    match ns.route_memory(key) {
        Ok(v) => v.and_then(|t| t.parse().ok()),
        Err(e) => {
            tracing::warn!(key, error = %e, "cannot read a route's schedule memory");
            None
        }
    }
}

async fn remember(ns: &Namespace, key: String, at: Timestamp) {
    if let Err(e) = ns.remember(key, at.to_string()).await {
        tracing::warn!(error = %e, "cannot remember when a route's schedule fired");
    }
}

/// Whether `at` falls on a closed day of the `[calendar]` in force.
pub(super) fn closed_at(ns: &Namespace, at: Timestamp) -> bool {
    let day = at.to_zoned(renkei_model::time::zone()).date();
    ns.live().get().config.calendar.is_closed(day)
}

/// Records that `what` of `route` at `at` was skipped for a closed day.
pub(super) fn skipped(ns: &Namespace, route: &str, what: &'static str, at: Timestamp) {
    ns.events().record(Event::ClosedDaySkipped {
        route: route.to_string(),
        what,
        at: rfc3339(at),
    });
}

/// When a scheduled route fires next.
pub(super) struct Schedule {
    route: String,
    trigger: Trigger,
    key: String,
    next: Option<Timestamp>,
    /// Firings on closed days do nothing (`on_closed_days = "skip"`).
    skip_closed: bool,
}

impl Schedule {
    /// The schedule of `st`'s route, and whether the route must run now
    /// to make up for a firing missed while the daemon was down.
    pub async fn start(ns: &Namespace, st: &RouteState) -> (Schedule, bool) {
        let route = &st.route;
        let now = Timestamp::now();
        let mut s = Schedule {
            route: route.name.clone(),
            trigger: route.trigger.clone(),
            key: fired_key(&route.name),
            next: route.trigger.next_after(now),
            skip_closed: route.skip_closed_days,
        };
        if route.trigger == Trigger::Arrival {
            return (s, false);
        }
        let Some(last) = read(ns, &s.key) else {
            remember(ns, s.key.clone(), now).await;
            return (s, false);
        };
        st.update(|r| r.last_run = Some(last));
        let Some(missed) = route.trigger.missed(last, now) else {
            return (s, false);
        };
        if s.skip_closed && closed_at(ns, missed) {
            skipped(ns, &route.name, "schedule", missed);
            s.fired(ns, now).await;
            return (s, false);
        }
        ns.events().record(Event::ScheduleCaughtUp {
            route: route.name.clone(),
            missed: rfc3339(missed),
            last_fired: rfc3339(last),
        });
        s.fired(ns, now).await;
        (s, true)
    }

    /// When it fires next (`None`: on arrival only).
    pub fn next(&self) -> Option<Timestamp> {
        self.next
    }

    /// Whether its time has come; if so, moves on to the next firing and
    /// remembers this one.
    pub async fn due(&mut self, ns: &Namespace) -> bool {
        let now = Timestamp::now();
        let Some(firing) = self.next.filter(|t| *t <= now) else {
            return false;
        };
        self.fired(ns, now).await;
        if self.skip_closed && closed_at(ns, firing) {
            skipped(ns, &self.route, "schedule", firing);
            return false;
        }
        true
    }

    async fn fired(&mut self, ns: &Namespace, now: Timestamp) {
        self.next = self.trigger.next_after(now);
        remember(ns, self.key.clone(), now).await;
    }
}

/// The `expect` deadlines of `route` that passed, unchecked, while the
/// daemon was down (oldest first, at most `MAX_LATE`), and remembers that
/// checking starts now.
pub(super) async fn unchecked_deadlines(ns: &Namespace, route: &str, by: &Cron) -> Vec<Timestamp> {
    /// A daemon down for weeks alerts for the latest deadlines only.
    const MAX_LATE: usize = 31;
    let now = Timestamp::now();
    let key = checked_key(route);
    let mut late = std::collections::VecDeque::with_capacity(MAX_LATE + 1);
    if let Some(mut last) = read(ns, &key) {
        while let Some(d) = by.next_after(last).filter(|d| *d <= now) {
            late.push_back(d);
            if late.len() > MAX_LATE {
                late.pop_front();
            }
            last = d;
        }
    }
    if late.is_empty() {
        remember(ns, key, now).await;
    }
    late.into()
}

/// Remembers that `route`'s deadline `at` was checked.
pub(super) async fn deadline_checked(ns: &Namespace, route: &str, at: Timestamp) {
    remember(ns, checked_key(route), at).await;
}
