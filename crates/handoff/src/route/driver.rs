//! The one loop every route runs. A route's source (a box, a directory, a
//! remote server) implements one [`Pass`]; the driver owns everything
//! around it: the schedule and what a restart missed, the rescan timer,
//! the source's own signal (a committed file, a directory event), `ctl
//! retry`, and stopping. A new kind of source writes a pass, not a loop.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::clock::Schedule;
use super::state::RouteState;
use super::wake::{later, until};
use renkei_core::namespace::Namespace;
use renkei_model::schedule::Trigger;

/// A scheduled source with nothing to wait for sleeps at most this long
/// before looking at its clock again (the schedule wakes it earlier).
const IDLE_WAKE: Duration = Duration::from_secs(86_400);

/// What a source's own signal said.
pub(super) enum Signal {
    /// Something arrived that the next pass handles by itself (the source
    /// kept it); no full look is needed.
    Noted,
    /// Look at everything (a directory changed; arrivals were missed).
    Look,
    /// The signal is gone for good; rescans carry on.
    Gone,
}

/// One pass of a route's source.
pub(super) trait Pass {
    /// Does the work that is due. `look` says whether to look for new
    /// work (the schedule fired, a signal, a rescan, `ctl retry`) rather
    /// than only what the source already holds (retries, noted arrivals).
    /// Returns whether the next pass must look again even without a
    /// trigger (files still settling, a failure to retry), or `None` when
    /// `stop` was cancelled mid-pass.
    async fn pass(&mut self, look: bool, stop: &CancellationToken) -> Option<bool>;

    /// How soon the source wants another pass by itself (a retry, a file
    /// that may have settled).
    fn wake_in(&mut self) -> Option<Duration>;

    /// Waits for the source's own signal. A source without one never
    /// returns.
    async fn signal(&mut self) -> Signal;

    /// `ctl retry` asked for the route: returns whether to look at once.
    fn kicked(&mut self) -> bool;
}

/// Runs `source` for the route `st` until `stop` is cancelled.
pub(super) async fn drive(
    ns: Arc<Namespace>,
    st: Arc<RouteState>,
    stop: CancellationToken,
    mut source: impl Pass,
) {
    let route = &st.route;
    let arrival = route.trigger == Trigger::Arrival;
    let (mut schedule, missed) = Schedule::start(&ns, &st).await;
    let mut look = arrival || missed;
    let mut next_rescan = later(route.rescan);
    let mut signals = arrival;
    loop {
        if stop.is_cancelled() {
            return;
        }
        st.update(|s| s.next_run = schedule.next());
        if look {
            st.update(|s| s.last_run = Some(Timestamp::now()));
        }
        let Some(again) = source.pass(look, &stop).await else {
            return;
        };
        look = again;
        let mut wake = if arrival {
            next_rescan
        } else {
            later(IDLE_WAKE)
        };
        if let Some(d) = source.wake_in() {
            wake = wake.min(later(d));
        }
        if let Some(t) = schedule.next() {
            wake = wake.min(t);
        }
        tokio::select! {
            () = tokio::time::sleep(until(wake)) => {
                look |= schedule.due(&ns).await;
                if arrival && next_rescan <= Timestamp::now() {
                    // In case a signal was missed.
                    look = true;
                    next_rescan = later(route.rescan);
                }
            }
            signal = source.signal(), if signals => match signal {
                Signal::Noted => {}
                Signal::Look => look = true,
                Signal::Gone => signals = false,
            },
            () = st.kick.notified() => look |= source.kicked(),
            () = stop.cancelled() => return,
        }
    }
}
