//! Memory that clients make the daemon hold, counted against named limits.
//!
//! A client can make the daemon hold three kinds of bytes: requests it has
//! sent and not had answered, replies produced for it and not yet sent, and
//! out-of-order upload data waiting for the gap before it. Each kind is
//! capped per session (`limits.max_queued_requests`,
//! `limits.max_response_buffer`, `limits.reorder_window`), and all three
//! together per account (`limits.max_account_memory`) and for the whole
//! daemon (`limits.max_client_memory`). Every byte is charged to all
//! three levels at once, so "one account can make the daemon hold at most
//! `max_account_memory`" holds by construction, whatever number of
//! connections and sessions it opens.
//!
//! The account's and the daemon's caps are shared out between the kinds —
//! requests half, replies a quarter, out-of-order data a quarter — so that
//! one kind can never starve another: replies waiting for a slow reader
//! never stop the small requests that keep the account's other sessions
//! going, and out-of-order data that is never completed never holds up a
//! reply. What happens at a full pool depends on the kind:
//! - a reply waits for room (backpressure); a client that takes none for
//!   `limits.send_timeout` is disconnected, which frees it;
//! - an out-of-order write is refused with the reason;
//! - a request (read from the client, which cannot be paused without
//!   stalling the SSH connection) ends its session: as a protocol
//!   violation when the session's own cap is exceeded, otherwise as a
//!   plain disconnection that bans nobody.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

use renkei_config::Limits;
use renkei_config::units::format_size;

/// Bytes counted for the bookkeeping of one queued request or reply (its
/// queue slot and descriptors), on top of its own length.
pub const ITEM_OVERHEAD: u64 = 128;

/// The kinds of bytes, and the share (in quarters) of an account's or the
/// daemon's cap that each may fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Requests,
    Replies,
    Reorder,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Requests, Kind::Replies, Kind::Reorder];

    fn quarters(self) -> u64 {
        match self {
            Kind::Requests => 2,
            Kind::Replies | Kind::Reorder => 1,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Requests => "unanswered requests",
            Kind::Replies => "unsent replies",
            Kind::Reorder => "out-of-order writes",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One pool per kind, each with its share of `max`.
fn pools(limit: &'static str, owner: &str, max: u64) -> [Arc<Pool>; 3] {
    Kind::ALL.map(|k| {
        Pool::new(
            limit,
            format!("{owner}'s {}", k.what()),
            max / 4 * k.quarters(),
        )
    })
}

/// One pool of bytes with a cap.
#[derive(Debug)]
pub struct Pool {
    /// The limit's name, for messages (`limits.max_account_memory`).
    limit: &'static str,
    /// Who the pool is for, for messages ("account 032018-juki").
    owner: String,
    max: u64,
    used: AtomicU64,
    /// The most held at once since the pool was made.
    peak: AtomicU64,
    freed: Notify,
}

impl Pool {
    fn new(limit: &'static str, owner: String, max: u64) -> Arc<Pool> {
        Arc::new(Pool {
            limit,
            owner,
            max,
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The most held at once since the pool was made.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    fn added(&self, before: Result<u64, u64>, n: u64) -> bool {
        match before {
            Ok(u) => {
                self.peak.fetch_max(u + n, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn try_add(&self, n: u64, cap: u64) -> bool {
        let before = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                // One item larger than the whole cap still goes when the
                // pool is empty, or it could never go at all.
                (u == 0 || u.saturating_add(n) <= cap).then_some(u + n)
            });
        self.added(before, n)
    }

    /// Adds `n` if the pool stays within half its cap, with no exception
    /// for an empty pool: see [`Meter::hold_buffer`].
    fn try_add_within_half(&self, n: u64) -> bool {
        let half = self.max / 2;
        let before = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u.saturating_add(n) <= half).then_some(u + n)
            });
        self.added(before, n)
    }

    /// Gives back up to `n` bytes; returns how many it held.
    fn sub(&self, n: u64) -> u64 {
        let before = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            })
            .unwrap_or(0);
        self.freed.notify_waiters();
        before.min(n)
    }

    fn describe(&self) -> String {
        format!(
            "{}: {} of {} in use ({})",
            self.owner,
            format_size(self.used()),
            format_size(self.max),
            self.limit
        )
    }
}

/// Why a charge did not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    /// What is full, with the limit's name.
    pub reason: String,
    /// Whether the pool that is full is the session's own (rather than
    /// its account's or the daemon's, which other sessions share).
    pub own: bool,
    /// Whether the pool that is full is the daemon's.
    pub daemon_wide: bool,
}

/// The pools of the daemon and of its accounts.
#[derive(Debug)]
pub struct Memory {
    daemon: [Arc<Pool>; 3],
    accounts: Mutex<HashMap<String, [Arc<Pool>; 3]>>,
    account_max: u64,
    session_limits: SessionLimits,
}

#[derive(Debug, Clone, Copy)]
struct SessionLimits {
    requests: u64,
    replies: u64,
    reorder: u64,
}

impl Memory {
    pub fn new(limits: &Limits) -> Arc<Memory> {
        Arc::new(Memory {
            daemon: pools(
                "limits.max_client_memory",
                "the daemon",
                limits.max_client_memory,
            ),
            accounts: Mutex::new(HashMap::new()),
            account_max: limits.max_account_memory,
            session_limits: SessionLimits {
                requests: limits.max_queued_requests,
                replies: limits.max_response_buffer,
                reorder: limits.reorder_window,
            },
        })
    }

    /// Bytes held for all sessions now.
    pub fn daemon_used(&self) -> u64 {
        self.daemon.iter().map(|p| p.used()).sum()
    }

    /// The most the daemon has held at once since it started, of each
    /// kind: unanswered requests, unsent replies, out-of-order writes.
    pub fn daemon_peaks(&self) -> [u64; 3] {
        self.daemon.each_ref().map(|p| p.peak())
    }

    /// Bytes held for `account`'s sessions now.
    pub fn account_used(&self, account: &str) -> u64 {
        self.accounts
            .lock()
            .ok()
            .and_then(|a| a.get(account).map(|p| p.iter().map(|p| p.used()).sum()))
            .unwrap_or(0)
    }

    fn account(&self, account: &str) -> [Arc<Pool>; 3] {
        // The table has one entry per account that has ever logged in: it is
        // bounded by the configuration, not by clients.
        let mut accounts = match self.accounts.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        accounts
            .entry(account.to_string())
            .or_insert_with(|| {
                pools(
                    "limits.max_account_memory",
                    &format!("account {account}"),
                    self.account_max,
                )
            })
            .clone()
    }

    /// The meters of a new session of `account`.
    pub fn session(&self, account: &str) -> SessionMemory {
        let account = self.account(account);
        let l = self.session_limits;
        let closed = Arc::new(AtomicBool::new(false));
        let meter = |kind: Kind, limit: &'static str, max: u64| Meter {
            own: Pool::new(limit, format!("the session's {}", kind.what()), max),
            account: Arc::clone(&account[kind.index()]),
            daemon: Arc::clone(&self.daemon[kind.index()]),
            // One flag closes all three: a session that ends wakes every waiter.
            closed: Arc::clone(&closed),
        };
        let requests = meter(Kind::Requests, "limits.max_queued_requests", l.requests);
        let replies = meter(Kind::Replies, "limits.max_response_buffer", l.replies);
        let reorder = meter(Kind::Reorder, "limits.reorder_window", l.reorder);
        SessionMemory {
            requests,
            replies,
            reorder,
        }
    }
}

/// The three meters of one session.
#[derive(Debug, Clone)]
pub struct SessionMemory {
    pub requests: Meter,
    pub replies: Meter,
    pub reorder: Meter,
}

impl SessionMemory {
    /// Ends the session's waits: every waiter gives up.
    pub fn close(&self) {
        self.requests.closed.store(true, Ordering::Release);
        for p in [&self.replies.own, &self.reorder.own, &self.requests.own] {
            p.freed.notify_waiters();
        }
        self.replies.account.freed.notify_waiters();
        self.replies.daemon.freed.notify_waiters();
        self.requests.account.freed.notify_waiters();
    }
}

/// Which way a transfer's bytes go, for the meter it is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Into renkei: charged as requests.
    Up,
    /// Out of renkei: charged as replies.
    Down,
}

/// A transfer refused for want of memory: what every door tells the
/// client, in the same words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("too much held for this account now ({}); try again when its other transfers end", .0.reason)]
pub struct TooMuchHeld(pub Full);

impl SessionMemory {
    /// Charges a transfer's `n` bytes of working set to the meter of its
    /// direction, for as long as the returned [`Held`] lives.
    pub fn hold_transfer(&self, direction: Direction, n: u64) -> Result<Held, TooMuchHeld> {
        let meter = match direction {
            Direction::Up => &self.requests,
            Direction::Down => &self.replies,
        };
        meter.hold(n).map_err(TooMuchHeld)
    }

    /// Gives back everything the session still holds, once its tasks have
    /// ended: bytes of requests and replies dropped unanswered at the end
    /// are not given back one by one.
    pub fn settle(&self) {
        self.close();
        for m in [&self.requests, &self.replies, &self.reorder] {
            m.settle();
        }
    }
}

/// The chunk every door moves a file's bytes in, and how many may be in
/// flight between the connection and the blocking writer or reader.
pub const TRANSFER_CHUNK: usize = 256 * 1024;
pub const TRANSFER_CHUNKS_IN_FLIGHT: usize = 4;

/// One transfer's working set at any door — the chunks in flight, the
/// one being filled and the one being written — charged to the session,
/// its account and the daemon (`limits.max_account_memory`,
/// `limits.max_client_memory`) while the transfer runs.
pub const TRANSFER_MEMORY: u64 = (TRANSFER_CHUNK * (TRANSFER_CHUNKS_IN_FLIGHT + 2)) as u64;

/// Bytes charged by [`Meter::hold`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    meter: Meter,
    n: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.meter.give(self.n);
    }
}

/// Charges one kind of bytes to a session, its account and the daemon.
#[derive(Debug, Clone)]
pub struct Meter {
    own: Arc<Pool>,
    account: Arc<Pool>,
    daemon: Arc<Pool>,
    closed: Arc<AtomicBool>,
}

impl Meter {
    /// A meter with only its own cap, for work no client drives (a route's
    /// import): it shares no pool.
    pub fn standalone(limit: &'static str, max: u64) -> Meter {
        Meter {
            own: Pool::new(limit, "this transfer".into(), max),
            account: Pool::new(limit, "this transfer".into(), u64::MAX),
            daemon: Pool::new(limit, "this transfer".into(), u64::MAX),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Charges `n` bytes if all three levels have room; otherwise charges
    /// nothing and says which level is full.
    pub fn try_take(&self, n: u64) -> Result<(), Full> {
        if !self.own.try_add(n, self.own.max) {
            return Err(Full {
                reason: self.own.describe(),
                own: true,
                daemon_wide: false,
            });
        }
        if !self.account.try_add(n, self.account.max) {
            self.own.sub(n);
            return Err(self.full(&self.account, false));
        }
        if !self.daemon.try_add(n, self.daemon.max) {
            self.own.sub(n);
            self.account.sub(n);
            return Err(self.full(&self.daemon, true));
        }
        Ok(())
    }

    fn full(&self, pool: &Pool, daemon_wide: bool) -> Full {
        Full {
            reason: pool.describe(),
            own: false,
            daemon_wide,
        }
    }

    /// Charges `n` bytes, as [`Meter::try_take`], for as long as the
    /// returned [`Held`] lives: a transfer's working set.
    pub fn hold(&self, n: u64) -> Result<Held, Full> {
        self.try_take(n)?;
        Ok(Held {
            meter: self.clone(),
            n,
        })
    }

    /// Charges a storage buffer of `n` bytes (an object store's part being
    /// filled, its read-ahead) for as long as the returned [`Held`] lives,
    /// only while every level stays within half its cap: buffers that a
    /// client makes the daemon keep by opening files can never take the
    /// room its requests need, which would end its sessions instead of
    /// refusing one more open file.
    pub fn hold_buffer(&self, n: u64) -> Result<Held, Full> {
        if !self.own.try_add_within_half(n) {
            return Err(Full {
                reason: self.own.describe(),
                own: true,
                daemon_wide: false,
            });
        }
        if !self.account.try_add_within_half(n) {
            self.own.sub(n);
            return Err(self.full(&self.account, false));
        }
        if !self.daemon.try_add_within_half(n) {
            self.own.sub(n);
            self.account.sub(n);
            return Err(self.full(&self.daemon, true));
        }
        Ok(Held {
            meter: self.clone(),
            n,
        })
    }

    /// Charges `n` bytes whatever the caps say. Only for a caller that
    /// then waits for room before it charges again ([`Meter::take`] of 0),
    /// so it overshoots by one item at most.
    pub fn force(&self, n: u64) {
        for p in [&self.own, &self.account, &self.daemon] {
            let before = p.used.fetch_add(n, Ordering::AcqRel);
            p.peak.fetch_max(before + n, Ordering::Relaxed);
        }
    }

    /// Gives back `n` bytes. Only what the session's own pool still holds
    /// is given back above it, so a late give after [`SessionMemory::settle`]
    /// cannot free another session's bytes.
    pub fn give(&self, n: u64) {
        let n = self.own.sub(n);
        self.account.sub(n);
        self.daemon.sub(n);
    }

    fn settle(&self) {
        let n = self.own.used.swap(0, Ordering::AcqRel);
        self.account.sub(n);
        self.daemon.sub(n);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waits until `n` bytes fit, then charges them. `false` once the
    /// session is closing (nothing is charged then).
    pub async fn take(&self, n: u64) -> bool {
        loop {
            // Register for wake-ups before looking, so a release between
            // the look and the wait is not missed.
            let pools = [&self.own, &self.account, &self.daemon];
            let mut waits: Vec<_> = pools.iter().map(|p| Box::pin(p.freed.notified())).collect();
            for w in &mut waits {
                w.as_mut().enable();
            }
            if self.is_closed() {
                return false;
            }
            if self.try_take(n).is_ok() {
                return true;
            }
            futures_select_any(waits).await;
        }
    }

    /// [`Meter::take`] for a blocking thread.
    pub fn take_blocking(&self, runtime: &tokio::runtime::Handle, n: u64) -> bool {
        runtime.block_on(self.take(n))
    }
}

/// Waits for the first of several notifications.
async fn futures_select_any<F: std::future::Future<Output = ()> + Unpin>(mut futs: Vec<F>) {
    std::future::poll_fn(|cx| {
        for f in futs.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(account: u64, daemon: u64) -> Limits {
        Limits {
            max_account_memory: account,
            max_client_memory: daemon,
            max_queued_requests: 1000,
            max_response_buffer: 1000,
            reorder_window: 1000,
            ..Limits::default()
        }
    }

    #[test]
    fn a_session_is_capped_by_its_own_limit_and_its_accounts_share() {
        // Account cap 1600: requests 800, replies 400, reorder 400.
        let m = Memory::new(&limits(1600, 1 << 20));
        let a = m.session("a");
        assert!(a.requests.try_take(700).is_ok());
        let e = a.requests.try_take(400).unwrap_err();
        assert!(
            e.own && e.reason.contains("limits.max_queued_requests"),
            "{e:?}"
        );
        let b = m.session("a");
        let e = b.requests.try_take(200).unwrap_err();
        assert!(
            !e.own && e.reason.contains("limits.max_account_memory"),
            "{e:?}"
        );
        // Replies have their own share: requests do not crowd them out.
        assert!(b.replies.try_take(400).is_ok());
        assert!(b.replies.try_take(1).is_err());
        assert!(b.reorder.try_take(400).is_ok());
        // Another account is not affected.
        let c = m.session("c");
        assert!(c.replies.try_take(400).is_ok());
        a.requests.give(700);
        assert_eq!(m.account_used("a"), 800);
        b.settle();
        assert_eq!(m.account_used("a"), 0);
        // A late give after settling frees nothing of anyone else's.
        assert!(a.requests.try_take(100).is_ok());
        b.requests.give(100);
        assert_eq!(m.account_used("a"), 100);
    }

    #[test]
    fn buffers_take_at_most_half_of_each_pool_and_leave_requests_the_rest() {
        // Session 1000 of requests; account 1600 (requests 800).
        let m = Memory::new(&limits(1600, 1 << 20));
        let a = m.session("a");
        let first = a.requests.hold_buffer(300).unwrap();
        let e = a.requests.hold_buffer(300).unwrap_err();
        assert!(e.own, "past half the session's cap: {e:?}");
        // No exception for an empty pool: a buffer larger than half never goes.
        assert!(m.session("b").requests.hold_buffer(600).is_err());
        // Requests still have the other half.
        assert!(a.requests.try_take(450).is_ok());
        let b = m.session("a");
        let e = b.requests.hold_buffer(100).unwrap_err();
        assert!(!e.own && e.reason.contains("max_account_memory"), "{e:?}");
        drop(first);
        a.requests.give(450);
        assert_eq!(m.account_used("a"), 0);
        // The daemon's high-water mark remembers what was held at once.
        assert_eq!(m.daemon_peaks()[0], 750);
    }

    #[test]
    fn the_daemon_pool_caps_every_account_together() {
        let m = Memory::new(&limits(1 << 20, 4000));
        let a = m.session("a");
        let b = m.session("b");
        assert!(a.requests.try_take(1000).is_ok());
        assert!(b.requests.try_take(1000).is_ok());
        let e = m.session("c").requests.try_take(10).unwrap_err();
        assert!(e.daemon_wide, "{e:?}");
        assert!(e.reason.contains("limits.max_client_memory"), "{e:?}");
    }

    #[tokio::test]
    async fn a_waiting_reply_goes_when_room_is_freed_and_gives_up_when_closed() {
        let m = Memory::new(&limits(1 << 20, 1 << 20));
        let s = m.session("a");
        assert!(s.replies.take(900).await);
        assert!(s.replies.try_take(200).is_err());
        let r = s.replies.clone();
        let waiter = tokio::spawn(async move { r.take(500).await });
        s.replies.give(900);
        assert!(waiter.await.unwrap());
        let r = s.replies.clone();
        let waiter = tokio::spawn(async move { r.take(900).await });
        s.close();
        assert!(!waiter.await.unwrap());
    }
}
