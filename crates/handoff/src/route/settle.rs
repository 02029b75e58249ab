//! The stable-size rule, shared by directory and remote sources: a file
//! without a ready file counts as complete once its size and time have
//! held still for `settle` between two looks.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::import::Seen;

/// Files being watched until they hold still.
pub(super) struct Settling<K> {
    settle: Duration,
    seen: HashMap<K, (Seen, Instant)>,
    /// The soonest a watched file could be complete (per pass).
    recheck: Option<Duration>,
}

impl<K: Eq + Hash> Settling<K> {
    pub(super) fn new(settle: Duration) -> Self {
        Settling {
            settle,
            seen: HashMap::new(),
            recheck: None,
        }
    }

    fn wake_in(&mut self, d: Duration) {
        self.recheck = Some(self.recheck.map_or(d, |r| r.min(d)));
    }

    /// Whether `key`, seen now as `now`, has held still for `settle`;
    /// otherwise it is (re)watched and the next look scheduled.
    pub(super) fn is_complete(&mut self, key: K, now: &Seen) -> bool {
        if let Some((prev, since)) = self.seen.get(&key)
            && prev == now
        {
            let waited = since.elapsed();
            if waited >= self.settle {
                return true;
            }
            self.wake_in(self.settle - waited);
            return false;
        }
        self.seen.insert(key, (now.clone(), Instant::now()));
        self.wake_in(self.settle);
        false
    }

    pub(super) fn forget(&mut self, key: &K) {
        self.seen.remove(key);
    }

    /// Keeps only the watched files `keep` says still exist.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.seen.retain(|k, _| keep(k));
    }

    /// When to look again for files still settling (and start a new pass).
    pub(super) fn take_recheck(&mut self) -> Option<Duration> {
        self.recheck.take()
    }
}
