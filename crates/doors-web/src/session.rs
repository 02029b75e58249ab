//! Browser sessions: who is logged in, since when, and the token every
//! state-changing request must carry.
//!
//! A session is a random 256-bit value in an HttpOnly, Secure,
//! SameSite=Strict cookie; the table keeps only its SHA-256, so the
//! table (or a log of it) cannot be replayed. The table is bounded
//! (`web.max_sessions`, `web.max_sessions_per_user`): a login past the
//! daemon's bound is refused with a clear page; past a person's bound,
//! their oldest session ends. Idle and absolute timeouts end sessions
//! when they are next looked at, and a sweep ends the ones nobody looks
//! at again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use renkei_core::namespace::Principal;

/// The cookie's name: `__Host-` makes browsers insist on Secure, Path=/
/// and no Domain.
pub const COOKIE: &str = "__Host-renkei";
/// The login form's anti-forgery cookie (double submit).
pub const LOGIN_COOKIE: &str = "__Host-renkei-login";

/// Who a session acts for.
#[derive(Debug, Clone)]
pub enum Who {
    /// A 窓口 account of a municipality, or a segment's account: acts
    /// through the namespace with this principal.
    Account(Principal),
    /// Reads the audit trail of these municipalities (`None`: all).
    Auditor {
        user: String,
        tenants: Option<Vec<String>>,
    },
    /// Sees the appliance's state and takes the operator's actions.
    Operator { user: String },
}

impl Who {
    /// Whether `other` is the same person with the same powers: the
    /// same kind, name, municipality or segment, and for an auditor the
    /// same municipalities.
    pub fn same_as(&self, other: &Who) -> bool {
        match (self, other) {
            (Who::Account(a), Who::Account(b)) => a.user == b.user && a.scope == b.scope,
            (
                Who::Auditor { user, tenants },
                Who::Auditor {
                    user: u2,
                    tenants: t2,
                },
            ) => user == u2 && tenants == t2,
            (Who::Operator { user }, Who::Operator { user: u2 }) => user == u2,
            _ => false,
        }
    }

    pub fn user(&self) -> &str {
        match self {
            Who::Account(p) => &p.user,
            Who::Auditor { user, .. } | Who::Operator { user } => user,
        }
    }

    pub fn role(&self) -> &'static str {
        match self {
            Who::Account(_) => "account",
            Who::Auditor { .. } => "auditor",
            Who::Operator { .. } => "operator",
        }
    }

    pub fn tenant(&self) -> Option<String> {
        match self {
            Who::Account(p) => p.tenant().map(ToString::to_string),
            _ => None,
        }
    }

    pub fn segment(&self) -> Option<String> {
        match self {
            Who::Account(p) => p.segment().map(ToString::to_string),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    /// Sent in forms and the `X-CSRF-Token` header; compared in constant
    /// time.
    pub csrf: String,
    /// The web listener it was opened on: a session never crosses to
    /// another listener (another network).
    pub door: String,
    /// Short tag for audit records (first 16 hex digits of the hash).
    pub tag: String,
    /// What the person's login was when the session began
    /// (`renkei_core::door::proof::digest`): a session ends when it changes.
    pub proof: String,
    created: Instant,
    used: Instant,
}

/// Why a session ended, for the audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    Expired,
    Replaced,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Expired => "expired",
            EndReason::Replaced => "replaced",
        }
    }
}

/// What a login got: its cookie value and session (or `None` when the
/// daemon holds `max_sessions` already), and the sessions it ended.
pub struct Opened {
    pub session: Option<(String, Session)>,
    pub ended: Vec<(Session, EndReason)>,
}

/// What a cookie value names.
pub enum Lookup {
    Live(Box<Session>),
    /// It had timed out: removed now, and returned for its record.
    Ended(Box<Session>, EndReason),
    Unknown,
}

/// The sessions table.
#[derive(Debug)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    max: usize,
    per_user: usize,
    idle: Duration,
    absolute: Duration,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Constant-time equality of two tokens.
pub use renkei_core::door::proof::same_secret as same;

impl Sessions {
    pub fn new(max: usize, per_user: usize, idle: Duration, absolute: Duration) -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
            max,
            per_user,
            idle,
            absolute,
        }
    }

    fn expired(&self, s: &Session, now: Instant) -> Option<EndReason> {
        if now.duration_since(s.created) >= self.absolute {
            Some(EndReason::Expired)
        } else if now.duration_since(s.used) >= self.idle {
            Some(EndReason::Idle)
        } else {
            None
        }
    }

    /// Opens a session; returns its cookie value, or `None` when the
    /// daemon holds `max_sessions` already. Sessions it ended (the
    /// person's oldest past `max_sessions_per_user`, expired ones swept
    /// to make room) are returned for their audit records.
    pub fn open(&self, who: Who, door: &str, proof: String) -> Opened {
        let now = Instant::now();
        let mut ended = Vec::new();
        let Ok(mut table) = self.table.lock() else {
            return Opened {
                session: None,
                ended,
            };
        };
        if table.len() >= self.max {
            ended.extend(self.sweep_locked(&mut table, now));
        }
        if table.len() >= self.max {
            return Opened {
                session: None,
                ended,
            };
        }
        let mut mine: Vec<([u8; 32], Instant)> = table
            .iter()
            .filter(|(_, s)| s.who.user() == who.user())
            .map(|(k, s)| (*k, s.created))
            .collect();
        mine.sort_by_key(|(_, c)| *c);
        while mine.len() >= self.per_user {
            let (k, _) = mine.remove(0);
            if let Some(s) = table.remove(&k) {
                ended.push((s, EndReason::Replaced));
            }
        }
        let id = random_token();
        let key = digest(&id);
        let session = Session {
            who,
            csrf: random_token(),
            door: door.to_string(),
            tag: hex::encode(&key[..8]),
            proof,
            created: now,
            used: now,
        };
        table.insert(key, session.clone());
        Opened {
            session: Some((id, session)),
            ended,
        }
    }

    /// The session behind a cookie value, touched; an expired one is
    /// removed and returned as ended.
    pub fn get(&self, id: &str) -> Lookup {
        let now = Instant::now();
        let key = digest(id);
        let Ok(mut table) = self.table.lock() else {
            return Lookup::Unknown;
        };
        let Some(s) = table.get_mut(&key) else {
            return Lookup::Unknown;
        };
        if let Some(reason) = self.expired(s, now) {
            return match table.remove(&key) {
                Some(s) => Lookup::Ended(Box::new(s), reason),
                None => Lookup::Unknown,
            };
        }
        s.used = now;
        Lookup::Live(Box::new(s.clone()))
    }

    /// Ends the session behind a cookie value (logout).
    pub fn close(&self, id: &str) -> Option<Session> {
        self.table.lock().ok()?.remove(&digest(id))
    }

    /// Ends every expired session; returns them for their records.
    pub fn sweep(&self) -> Vec<(Session, EndReason)> {
        let now = Instant::now();
        match self.table.lock() {
            Ok(mut t) => self.sweep_locked(&mut t, now),
            Err(_) => Vec::new(),
        }
    }

    fn sweep_locked(
        &self,
        table: &mut HashMap<[u8; 32], Session>,
        now: Instant,
    ) -> Vec<(Session, EndReason)> {
        let gone: Vec<([u8; 32], EndReason)> = table
            .iter()
            .filter_map(|(k, s)| self.expired(s, now).map(|r| (*k, r)))
            .collect();
        gone.into_iter()
            .filter_map(|(k, r)| table.remove(&k).map(|s| (s, r)))
            .collect()
    }

    /// Ends every session (shutdown).
    pub fn drain(&self) -> Vec<Session> {
        match self.table.lock() {
            Ok(mut t) => t.drain().map(|(_, s)| s).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(u: &str) -> Who {
        Who::Operator { user: u.into() }
    }

    #[test]
    fn bounded_per_user_and_overall() {
        let s = Sessions::new(3, 2, Duration::from_secs(60), Duration::from_secs(600));
        let a = s.open(who("a"), "web", String::new()).session;
        s.open(who("a"), "web", String::new());
        let ended = s.open(who("a"), "web", String::new()).ended;
        assert_eq!(ended.len(), 1, "a's oldest session ended");
        assert!(matches!(s.get(&a.expect("opened").0), Lookup::Unknown));
        s.open(who("b"), "web", String::new());
        let e = s.open(who("c"), "web", String::new()).session;
        assert!(e.is_none(), "the daemon's bound refuses a fourth session");
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn idle_sessions_end() {
        let s = Sessions::new(3, 2, Duration::ZERO, Duration::from_secs(600));
        let a = s.open(who("a"), "web", String::new()).session;
        let got = s.get(&a.expect("opened").0);
        assert!(matches!(got, Lookup::Ended(_, EndReason::Idle)));
        assert!(s.is_empty());
    }
}
