//! Admission: whether a new connection may cost anything more than its
//! TCP accept, and the door's table of the connections it let in.
//!
//! The order is the same at every door: the address is made canonical;
//! a banned address is refused (told why, or — at the browser's door —
//! let in only to be shown the lockout page); an address outside every
//! network the listener serves is dropped unanswered (telling a stranger
//! what this is would help them); then the connection limits, under one
//! lock so a burst cannot race past its per-source limit. Each refusal is
//! recorded here, with the door's protocol, so every door's refusals
//! carry the same fields.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use renkei_storage::journal::BanRecord;

use super::registry::Registry;
use super::source::canonical_peer;
use crate::defender::{Defender, Offence, ban_reason};
use crate::events::{Event, Events};
use crate::live::{Live, Snapshot};
use crate::policy::Protocol;

pub use super::registry::Caps;

/// Which people a listener serves (decision 0011).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The municipalities' accounts, as the rules allow them over the
    /// door's protocol.
    Tenants,
    /// The municipalities' accounts over the door's protocol, and the web
    /// users (auditors, operators) from their networks: `[web] listen`.
    Staff,
    /// One segment's accounts, from that segment's networks only.
    Segment(String),
}

/// A connection that was let in. Its place in the door's table is held
/// until this is dropped.
pub struct Admitted<H: Clone + Send + 'static = ()> {
    /// Numbers the connection in every record about it.
    pub conn: u64,
    /// The canonical peer: what every later decision and record uses.
    pub peer: SocketAddr,
    /// The address's ban, when the door shows bans rather than refusing
    /// them (the browser's lockout page).
    pub banned: Option<BanRecord>,
    registry: Arc<Registry<H>>,
    pub(super) protocol: Protocol,
    pub(super) events: Arc<Events>,
    pub(super) defender: Arc<Defender>,
}

impl<H: Clone + Send + 'static> Admitted<H> {
    /// Marks the connection as logged in as `account`, unless the account
    /// already has `max` connections through this door.
    pub(super) fn login(&self, account: &str, max: usize) -> Result<(), String> {
        self.registry.login(self.conn, account, max)
    }
}

impl<H: Clone + Send + 'static> Drop for Admitted<H> {
    fn drop(&mut self) {
        self.registry.remove(self.conn);
    }
}

/// A connection that was not let in (already recorded).
#[derive(Debug)]
pub struct Refused {
    pub reason: String,
    /// Whether the client may be told why: not when its address is simply
    /// outside what the listener serves.
    pub tell: bool,
}

/// One door's admission and its table of open connections. `H` is what
/// the door keeps to reach a connection (the SSH session handle, to
/// disconnect it at shutdown).
pub struct Gate<H: Clone + Send + 'static = ()> {
    protocol: Protocol,
    /// Banned addresses are let in to be told on every page (the web
    /// door), instead of refused at accept.
    shows_bans: bool,
    live: Arc<Live>,
    events: Arc<Events>,
    defender: Arc<Defender>,
    registry: Arc<Registry<H>>,
}

impl<H: Clone + Send + 'static> Gate<H> {
    pub fn new(
        protocol: Protocol,
        live: Arc<Live>,
        events: Arc<Events>,
        defender: Arc<Defender>,
    ) -> Gate<H> {
        Gate {
            protocol,
            shows_bans: false,
            live,
            events,
            defender,
            registry: Arc::new(Registry::default()),
        }
    }

    /// A gate that lets banned addresses in to be shown their ban (the
    /// browser must be able to tell its user why, and until when).
    pub fn showing_bans(mut self) -> Gate<H> {
        self.shows_bans = true;
        self
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Admits a connection from `peer` to a listener serving `scope`, or
    /// records and returns why not.
    pub async fn admit(
        &self,
        peer: SocketAddr,
        scope: &Scope,
        caps: Caps,
    ) -> Result<Admitted<H>, Refused> {
        let peer = canonical_peer(peer);
        let ip = peer.ip();
        let banned = self.defender.banned(ip);
        let refused = |reason: String, rule: Option<String>, tell: bool| {
            self.events.record(Event::ConnectionRefused {
                peer,
                protocol: self.protocol,
                stage: "accept",
                reason: reason.clone(),
                rule,
            });
            Refused { reason, tell }
        };
        if let Some(ban) = &banned
            && !self.shows_bans
        {
            return Err(refused(ban_reason(ip, ban), None, true));
        }
        if banned.is_none()
            && let Some((reason, rule)) = outside(&self.live.get(), ip, scope, self.protocol)
        {
            return Err(refused(reason, rule, false));
        }
        let conn = self.events.next_conn();
        if let Err(reason) = self.registry.admit(conn, ip, caps) {
            self.defender.offence(ip, Offence::LimitExceeded).await;
            return Err(refused(reason, None, true));
        }
        self.events.record(Event::ConnectionAccepted {
            conn,
            peer,
            protocol: self.protocol,
        });
        Ok(Admitted {
            conn,
            peer,
            banned,
            registry: Arc::clone(&self.registry),
            protocol: self.protocol,
            events: Arc::clone(&self.events),
            defender: Arc::clone(&self.defender),
        })
    }

    /// The ban in force for `ip` now, if any: asked again at every login
    /// attempt and every request, so a ban reaches open connections.
    pub fn ban_of(&self, ip: IpAddr) -> Option<BanRecord> {
        self.defender.banned(ip)
    }

    /// Keeps what the door needs to reach `conn` later.
    pub fn set_handle(&self, conn: u64, handle: H) {
        self.registry.set_handle(conn, handle);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.registry.len()
    }

    /// What the door keeps of each open connection.
    pub fn handles(&self) -> Vec<H> {
        self.registry.handles()
    }
}

/// Why `ip` is outside what a listener of `scope` serves, if it is:
/// the reason and the rule that decided.
fn outside(
    snap: &Snapshot,
    ip: IpAddr,
    scope: &Scope,
    protocol: Protocol,
) -> Option<(String, Option<String>)> {
    let config = &snap.config;
    match scope {
        Scope::Segment(name) => {
            let inside = config
                .segment(name)
                .is_some_and(|s| s.networks.iter().any(|n| n.contains(&ip)));
            (!inside).then(|| {
                (
                    format!(
                        "{ip} is not in the networks of segment {name}, whose listener this is"
                    ),
                    None,
                )
            })
        }
        Scope::Tenants | Scope::Staff => {
            let web_user = *scope == Scope::Staff
                && config.web.as_ref().is_some_and(|w| {
                    w.users
                        .iter()
                        .any(|u| u.networks.iter().any(|n| n.contains(&ip)))
                });
            if web_user {
                return None;
            }
            let at = renkei_model::time::tokyo(jiff::Timestamp::now());
            snap.policy
                .admits(config, ip, protocol, &at)
                .err()
                .map(|d| {
                    let reason = d.reason.clone().unwrap_or_else(|| {
                        format!(
                            "no account may connect from this address over {}",
                            protocol.name()
                        )
                    });
                    (reason, Some(d.by()))
                })
        }
    }
}
