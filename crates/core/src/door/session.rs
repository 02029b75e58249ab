//! One connection's account of itself, from admission to its
//! `session_ended` record: every login attempt it made and how each was
//! recorded, who it logged in as (within the account's connection
//! limit), what it moved, why it ended, and the offence its address is
//! scored for. SSH and FTPS each drove this by hand and had drifted (a
//! protocol violation scored at one door and not the other; a connection
//! cut at shutdown recorded at one and not the other).
//!
//! A [`Session`] owns the connection's [`Admitted`] ticket, so the
//! connection keeps its place in the door's table until the session is
//! gone. Whatever ends it, the record is written exactly once: by
//! [`Session::close`] when the door ends it, or when it is dropped (a
//! connection still open when the daemon gave up waiting for it).
//!
//! The offence is the connection's, not each attempt's: a client that
//! offers five keys and gets in on the sixth has done nothing wrong. The
//! browser's door has no connection-long session (its logins are per
//! request) and scores each failed login as it happens.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::gate::Admitted;
use crate::defender::{Defender, Offence};
use crate::events::{Event, Events};
use crate::namespace::Principal;

/// What a session's record says when nothing ended it before its owner
/// dropped it: the daemon stopped waiting for it.
const CUT_AT_SHUTDOWN: &str =
    "cut off: still open when the daemon stopped waiting for it (limits.shutdown_grace)";

/// What every task of a connection reports as it goes: the bytes it
/// moved, and whether the client broke the protocol.
#[derive(Debug, Default)]
pub struct Tally {
    up: AtomicU64,
    down: AtomicU64,
    violated: AtomicBool,
}

impl Tally {
    pub fn received(&self, n: u64) {
        self.up.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sent(&self, n: u64) {
        self.down.fetch_add(n, Ordering::Relaxed);
    }

    /// (up, down) so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    /// The client broke the protocol or went over a per-session limit
    /// (the session is being ended for it). A logged-in client's breach
    /// is recorded as a `protocol_violation` of its account; before login
    /// there is no actor, and the session's end record carries the reason.
    pub fn violation(&self, events: &Events, who: Option<&Principal>, reason: &str) {
        self.violated.store(true, Ordering::Relaxed);
        if let Some(who) = who {
            events.record(Event::ProtocolViolation {
                actor: who.actor(),
                reason: reason.to_string(),
            });
        }
    }

    fn violated(&self) -> bool {
        self.violated.load(Ordering::Relaxed)
    }
}

/// A refused login attempt, as its record tells it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub user: String,
    /// For the audit trail only: the client is told the login failed.
    pub reason: String,
    /// The rule that decided, when one did (`file:line`).
    pub rule: Option<String>,
    pub tenant: Option<String>,
    pub segment: Option<String>,
    /// Whether the name is configured (unknown names score higher).
    pub known: bool,
    pub key_fingerprint: Option<String>,
}

/// How an accepted login was proved, for its record.
#[derive(Debug, Clone, Default)]
pub struct Proved {
    /// `password`, `client_cert`, `password+client_cert`.
    pub method: Option<String>,
    pub key_fingerprint: Option<String>,
    pub key_algorithm: Option<String>,
}

/// One connection's session (see the module's documentation).
pub struct Session<H: Clone + Send + 'static = ()> {
    admitted: Admitted<H>,
    started: Instant,
    principal: Option<Principal>,
    /// Failed login attempts: whether each named a configured account.
    failures: Vec<bool>,
    timed_out: bool,
    reason: Option<String>,
    tally: Arc<Tally>,
    closed: bool,
}

impl<H: Clone + Send + 'static> Session<H> {
    /// The session of a connection that was just let in.
    pub fn start(admitted: Admitted<H>) -> Session<H> {
        Session {
            admitted,
            started: Instant::now(),
            principal: None,
            failures: Vec::new(),
            timed_out: false,
            reason: None,
            tally: Arc::default(),
            closed: false,
        }
    }

    pub fn conn(&self) -> u64 {
        self.admitted.conn
    }

    /// The canonical peer.
    pub fn peer(&self) -> SocketAddr {
        self.admitted.peer
    }

    /// Who the connection logged in as, once it has.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// What every task of the connection reports to.
    pub fn tally(&self) -> Arc<Tally> {
        Arc::clone(&self.tally)
    }

    /// Refused login attempts so far (for `limits.max_auth_tries`).
    pub fn failed_logins(&self) -> usize {
        self.failures.len()
    }

    /// Records a login attempt whose proof or rules failed; it counts
    /// towards the connection's offence.
    pub fn login_failed(&mut self, refusal: Refusal) {
        self.failures.push(refusal.known);
        self.record_refusal(refusal);
    }

    /// Records a login turned away for a reason that is not the client's
    /// doing (its proof held, but the account is at its connection limit;
    /// or the address was banned meanwhile by another connection): not
    /// counted against the connection.
    pub fn login_turned_away(&mut self, refusal: Refusal) {
        self.record_refusal(refusal);
    }

    /// The proofs held: the account gets this connection unless it already
    /// has `max` through this door. Either way the attempt is recorded.
    pub fn log_in(&mut self, principal: Principal, how: Proved, max: usize) -> Result<(), String> {
        let user = principal.user.clone();
        let tenant = principal.tenant().map(ToString::to_string);
        let segment = principal.segment().map(ToString::to_string);
        if let Err(reason) = self.admitted.login(&user, max) {
            self.login_turned_away(Refusal {
                user,
                reason: reason.clone(),
                rule: None,
                tenant,
                segment,
                known: true,
                key_fingerprint: how.key_fingerprint,
            });
            self.end_because(format!("refused after login: {reason}"));
            return Err(reason);
        }
        self.admitted.events.record(Event::LoginSucceeded {
            conn: self.conn(),
            peer: self.peer(),
            tenant,
            segment,
            user,
            protocol: self.admitted.protocol,
            key_fingerprint: how.key_fingerprint,
            key_algorithm: how.key_algorithm,
            method: how.method,
            role: None,
            session: None,
        });
        self.principal = Some(principal);
        Ok(())
    }

    /// The login grace ran out; `reason` says so for the record.
    pub fn timed_out(&mut self, reason: String) {
        self.timed_out = true;
        self.end_because(reason);
    }

    /// The client broke the protocol (injected commands, garbage): see
    /// [`Tally::violation`].
    pub fn violation(&self, reason: &str) {
        self.tally
            .violation(&self.admitted.events, self.principal(), reason);
    }

    /// Why the session ended, if nothing said so before.
    pub fn end_because(&mut self, reason: String) {
        self.reason.get_or_insert(reason);
    }

    /// What the connection is scored for.
    pub fn offence(&self) -> Option<Offence> {
        offence_of(
            self.principal.is_some(),
            &self.failures,
            self.timed_out,
            self.tally.violated(),
        )
    }

    /// Writes the `session_ended` record (once); `outcome` is how the
    /// door's loop ended, used when nothing gave a reason before. Returns
    /// the offence to score, to be applied outside any lock.
    pub fn close(&mut self, outcome: Result<(), String>) -> Scoring {
        if !self.closed {
            self.closed = true;
            let reason = match (self.reason.take(), outcome) {
                (Some(r), _) => r,
                (None, Ok(())) => "closed".to_string(),
                (None, Err(e)) => e,
            };
            self.record_end(reason);
        }
        Scoring {
            defender: Arc::clone(&self.admitted.defender),
            peer: self.peer(),
            offence: self.offence(),
        }
    }

    fn record_refusal(&self, r: Refusal) {
        self.admitted.events.record(Event::LoginFailed {
            conn: self.conn(),
            peer: self.peer(),
            tenant: r.tenant,
            segment: r.segment,
            user: r.user,
            protocol: self.admitted.protocol,
            reason: r.reason,
            rule: r.rule,
            key_fingerprint: r.key_fingerprint,
        });
    }

    fn record_end(&self, reason: String) {
        let (bytes_up, bytes_down) = self.tally.totals();
        let who = self.principal.as_ref();
        self.admitted.events.record(Event::SessionEnded {
            conn: self.conn(),
            peer: self.peer(),
            tenant: who.and_then(|p| p.tenant().map(ToString::to_string)),
            segment: who.and_then(|p| p.segment().map(ToString::to_string)),
            user: who.map(|p| p.user.clone()),
            protocol: self.admitted.protocol,
            duration_ms: self.started.elapsed().as_millis() as u64,
            bytes_up,
            bytes_down,
            reason,
        });
    }
}

impl<H: Clone + Send + 'static> Drop for Session<H> {
    fn drop(&mut self) {
        if !self.closed {
            self.closed = true;
            let reason = self
                .reason
                .take()
                .unwrap_or_else(|| CUT_AT_SHUTDOWN.to_string());
            self.record_end(reason);
        }
    }
}

/// The offence a closed session leaves its address with.
#[must_use = "the offence is only scored when applied"]
pub struct Scoring {
    defender: Arc<Defender>,
    peer: SocketAddr,
    offence: Option<Offence>,
}

impl Scoring {
    pub fn offence(&self) -> Option<Offence> {
        self.offence
    }

    pub async fn apply(self) {
        if let Some(o) = self.offence {
            self.defender.offence(self.peer.ip(), o).await;
        }
    }
}

/// One connection, one offence at most: a session that logged in is
/// scored only for breaking the protocol; one that did not, for its
/// failed logins (an unknown name scores higher than a wrong proof for a
/// known one), else for running out the grace time, else for breaking the
/// protocol.
fn offence_of(
    logged_in: bool,
    failures: &[bool],
    timed_out: bool,
    violated: bool,
) -> Option<Offence> {
    if logged_in {
        return violated.then_some(Offence::ProtocolViolation);
    }
    if !failures.is_empty() {
        return Some(if failures.iter().any(|known| *known) {
            Offence::FailedLogin
        } else {
            Offence::UnknownUser
        });
    }
    if timed_out {
        Some(Offence::LoginTimeout)
    } else if violated {
        Some(Offence::ProtocolViolation)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_offence_per_connection_in_the_documented_order() {
        assert_eq!(offence_of(true, &[false, true], true, false), None);
        assert_eq!(
            offence_of(true, &[], false, true),
            Some(Offence::ProtocolViolation)
        );
        assert_eq!(
            offence_of(false, &[false, true], true, true),
            Some(Offence::FailedLogin)
        );
        assert_eq!(
            offence_of(false, &[false, false], false, false),
            Some(Offence::UnknownUser)
        );
        assert_eq!(
            offence_of(false, &[], true, true),
            Some(Offence::LoginTimeout)
        );
        assert_eq!(
            offence_of(false, &[], false, true),
            Some(Offence::ProtocolViolation)
        );
        assert_eq!(offence_of(false, &[], false, false), None);
    }
}
