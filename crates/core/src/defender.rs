//! The defender: score-based bans of source addresses.
//!
//! Offences (a connection that ended without logging in after failed
//! attempts, a protocol violation, a connection limit breach, a login that
//! never came) add to the source address's score; offences older than the
//! observation window no longer count. Reaching the threshold bans the
//! address: it is refused at TCP accept, before any SSH work, for a time
//! that doubles (by default) with every repeat ban. Bans are kept in the
//! journal, so a restart does not lift them; `renkei ctl unban` does.
//!
//! Scoring a whole failed *connection* rather than each rejected key is
//! deliberate: an OpenSSH client offers every key it has, so counting each
//! offered key would ban legitimate systems with several keys.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

use crate::events::{Event, Events};
use renkei_config::{DefenderConfig, canonical_ip};
use renkei_storage::journal::{ApplyError, BanRecord, Journal, JournalError, Op, OpError};

/// Source addresses whose scores are tracked at once; past it, the ones
/// with the oldest offences are forgotten (an attacker rotating addresses
/// must not grow memory without bound).
pub const MAX_TRACKED: usize = 65_536;

/// What an address did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    FailedLogin,
    UnknownUser,
    ProtocolViolation,
    LimitExceeded,
    LoginTimeout,
}

impl Offence {
    pub fn name(self) -> &'static str {
        match self {
            Offence::FailedLogin => "failed login",
            Offence::UnknownUser => "unknown user",
            Offence::ProtocolViolation => "protocol violation",
            Offence::LimitExceeded => "connection limit exceeded",
            Offence::LoginTimeout => "no login within the grace time",
        }
    }
}

/// What a banned address is told, and the record says: the same words
/// at every door and for every operation.
pub fn ban_reason(ip: IpAddr, ban: &BanRecord) -> String {
    let until = renkei_model::time::tokyo(ban.until).strftime("%Y-%m-%d %H:%M:%S %Z");
    format!("{ip} is banned until {until}: {}", ban.reason)
}

/// Why an operator's lift of a ban did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    #[error("{0:?} is not an IP address")]
    NotAnAddress(String),
    #[error("{0} is not banned")]
    NotBanned(IpAddr),
    #[error("unban failed: {0}")]
    Journal(#[from] JournalError),
}

pub struct Defender {
    config: DefenderConfig,
    journal: Journal,
    events: Arc<Events>,
    scores: Mutex<HashMap<IpAddr, VecDeque<(Instant, u32)>>>,
    bans: Mutex<HashMap<IpAddr, BanRecord>>,
}

impl std::fmt::Debug for Defender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defender").finish_non_exhaustive()
    }
}

fn chrono(d: std::time::Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl Defender {
    /// Loads the bans kept in the journal.
    pub fn open(
        config: DefenderConfig,
        journal: Journal,
        events: Arc<Events>,
    ) -> Result<Arc<Defender>, JournalError> {
        let bans = journal
            .bans()?
            .into_iter()
            .filter_map(|b| b.ip.parse::<IpAddr>().ok().map(|ip| (ip, b)))
            .collect();
        Ok(Arc::new(Defender {
            config,
            journal,
            events,
            scores: Mutex::new(HashMap::new()),
            bans: Mutex::new(bans),
        }))
    }

    /// What a source is scored and banned as: the address itself for IPv4,
    /// its `ipv6_prefix` network for IPv6 (the network's first address).
    pub fn source_of(&self, ip: IpAddr) -> IpAddr {
        source_key(canonical_ip(ip), self.config.ipv6_prefix)
    }

    /// The active ban of `ip`, if any.
    pub fn banned(&self, ip: IpAddr) -> Option<BanRecord> {
        let ip = self.source_of(ip);
        let bans = self.bans.lock().ok()?;
        bans.get(&ip)
            .filter(|b| b.until > Timestamp::now())
            .cloned()
    }

    /// Active bans, soonest to expire first.
    pub fn list(&self) -> Vec<BanRecord> {
        let now = Timestamp::now();
        let mut v: Vec<BanRecord> = self
            .bans
            .lock()
            .map(|b| b.values().filter(|b| b.until > now).cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|b| b.until);
        v
    }

    fn score_of(&self, offence: Offence) -> u32 {
        let c = &self.config;
        match offence {
            Offence::FailedLogin => c.score_failed_login,
            Offence::UnknownUser => c.score_unknown_user,
            Offence::ProtocolViolation => c.score_protocol_violation,
            Offence::LimitExceeded => c.score_limit_exceeded,
            Offence::LoginTimeout => c.score_login_timeout,
        }
    }

    /// Records an offence by `ip`; bans it when its score reaches the
    /// threshold.
    pub async fn offence(&self, ip: IpAddr, offence: Offence) {
        let exact = canonical_ip(ip);
        let c = &self.config;
        if !c.enabled || c.exempt.iter().any(|n| n.contains(&exact)) || self.banned(ip).is_some() {
            return;
        }
        let ip = self.source_of(exact);
        let points = self.score_of(offence);
        if points == 0 {
            return;
        }
        let now = Instant::now();
        let total = {
            let Ok(mut scores) = self.scores.lock() else {
                return;
            };
            if scores.len() >= MAX_TRACKED && !scores.contains_key(&ip) {
                forget_oldest(&mut scores);
            }
            let list = scores.entry(ip).or_default();
            while list
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > c.observation_window)
            {
                list.pop_front();
            }
            list.push_back((now, points));
            let total: u32 = list.iter().map(|(_, p)| *p).sum();
            if total >= c.threshold {
                scores.remove(&ip);
            }
            total
        };
        if total >= c.threshold {
            self.ban(ip, total, offence).await;
        }
    }

    async fn ban(&self, ip: IpAddr, score: u32, last: Offence) {
        let c = &self.config;
        let now = Timestamp::now();
        let memory = chrono(c.max_ban_time);
        let previous = self
            .bans
            .lock()
            .ok()
            .and_then(|b| b.get(&ip).cloned())
            .filter(|b| b.until.checked_add(memory).is_ok_and(|forget| forget > now))
            .map_or(0, |b| b.count);
        let count = previous + 1;
        let factor = u64::from(c.ban_time_growth).saturating_pow(previous);
        let secs = c
            .ban_time
            .as_secs()
            .saturating_mul(factor)
            .min(c.max_ban_time.as_secs());
        let until = now
            .checked_add(SignedDuration::from_secs(secs as i64))
            .unwrap_or(Timestamp::MAX);
        let record = BanRecord {
            ip: ip.to_string(),
            banned_at: now,
            until,
            count,
            reason: format!(
                "score {score} reached the threshold {} (last: {}){}",
                c.threshold,
                last.name(),
                if ip.is_ipv6() && c.ipv6_prefix < 128 {
                    format!("; every address of {ip}/{} is banned", c.ipv6_prefix)
                } else {
                    String::new()
                }
            ),
        };
        if let Err(e) = self
            .journal
            .apply_one(Op::PutBan {
                record: record.clone(),
            })
            .await
        {
            // Still banned in memory for this run.
            tracing::error!(error = %e, %ip, "could not persist a ban");
        }
        if let Ok(mut bans) = self.bans.lock() {
            bans.insert(ip, record.clone());
        }
        self.events.record(Event::Banned {
            ip: record.ip,
            until: record.until.to_string(),
            bans: count,
            reason: record.reason,
        });
    }

    /// An operator lifts the ban on `ip` (as typed): the one path every
    /// door that offers it (the control socket, the browser's operator
    /// pages) goes through, so each lift is recorded the same way.
    pub async fn lift(&self, ip: &str, by: &str) -> Result<IpAddr, LiftError> {
        let addr: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| LiftError::NotAnAddress(ip.to_string()))?;
        if !self.unban(addr).await? {
            return Err(LiftError::NotBanned(addr));
        }
        self.events.record(Event::Unbanned {
            ip: addr.to_string(),
            by: by.to_string(),
        });
        Ok(addr)
    }

    /// Lifts a ban and forgets the address's history. `false` if it was
    /// not banned.
    pub async fn unban(&self, ip: IpAddr) -> Result<bool, JournalError> {
        let ip = self.source_of(ip);
        let active = self.banned(ip).is_some();
        match self
            .journal
            .apply_one(Op::DropBan { ip: ip.to_string() })
            .await
        {
            Ok(_) | Err(ApplyError::Op(OpError::NotFound)) => {}
            Err(ApplyError::Op(e)) => tracing::warn!(error = %e, "unban"),
            Err(ApplyError::Journal(e)) => return Err(e),
        }
        if let Ok(mut bans) = self.bans.lock() {
            bans.remove(&ip);
        }
        if let Ok(mut scores) = self.scores.lock() {
            scores.remove(&ip);
        }
        Ok(active)
    }

    /// Drops scores that have aged out (called periodically).
    pub fn prune(&self) {
        let window = self.config.observation_window;
        let now = Instant::now();
        if let Ok(mut scores) = self.scores.lock() {
            scores.retain(|_, list| {
                list.back()
                    .is_some_and(|(t, _)| now.duration_since(*t) <= window)
            });
        }
    }
}

/// `ip` with the bits beyond `prefix` cleared when it is IPv6.
fn source_key(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(std::net::Ipv6Addr::from(bits & mask))
        }
    }
}

fn forget_oldest(scores: &mut HashMap<IpAddr, VecDeque<(Instant, u32)>>) {
    let mut by_age: Vec<(Instant, IpAddr)> = scores
        .iter()
        .filter_map(|(ip, l)| l.back().map(|(t, _)| (*t, *ip)))
        .collect();
    by_age.sort();
    for (_, ip) in by_age.into_iter().take(scores.len() / 8 + 1) {
        scores.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::source_key;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_sources_are_scored_by_their_prefix() {
        let a = source_key(ip("2001:db8:1:2:aaaa::1"), 64);
        let b = source_key(ip("2001:db8:1:2:ffff:1:2:3"), 64);
        let other = source_key(ip("2001:db8:1:3::1"), 64);
        assert_eq!(a, b, "one /64 is one source");
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, other);
        assert_eq!(source_key(ip("2001:db8::1"), 128), ip("2001:db8::1"));
        assert_eq!(source_key(ip("10.1.2.3"), 64), ip("10.1.2.3"));
    }
}
