//! `[[segment]]` and `[[lane]]`: the 情報連携機器's separated networks and
//! the one-way paths between them (decision 0011).
//!
//! A segment is one network the appliance has an interface on: its own
//! listener(s), the networks its terminals are in, and its accounts. A
//! lane carries files from one segment to another, one way, from its
//! senders to its receivers, optionally approved by its approvers. Nothing
//! else joins two segments, or a segment and a municipality.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use renkei_model::pattern::NamePattern;
use renkei_model::units::{Quantity, parse_size};
use serde::Deserialize;
use toml::Spanned;

use crate::accounts::{self, AccountCtx, RawAccount};
use crate::error::ConfigError;
use crate::locate::Locator;
use crate::networks::parse_network;
use crate::route_ends::{Problem, duration_in};
use crate::tenants::Account;

/// One separated network.
#[derive(Debug, Clone)]
pub struct Segment {
    /// `standard`, `chukan`, `lgwan`… (letters, digits, `_ - .`).
    pub name: String,
    /// How people call it: 標準システム系.
    pub label: String,
    /// The addresses of the appliance's interface on this network.
    pub listen: Vec<SocketAddr>,
    /// The HTTPS front door's addresses on this network (needs `[web]`).
    pub web_listen: Vec<SocketAddr>,
    /// Where its terminals are: connections from elsewhere are dropped.
    pub networks: Vec<IpNet>,
    pub accounts: Vec<Account>,
}

impl Segment {
    pub fn account(&self, user: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.user == user)
    }
}

/// One one-way path between two segments.
#[derive(Debug, Clone)]
pub struct Lane {
    pub name: String,
    pub from: String,
    pub to: String,
    /// Accounts of `from` that may send.
    pub senders: Vec<String>,
    /// Accounts of `to` that may receive.
    pub receivers: Vec<String>,
    /// Accounts (of either segment) whose approval a file needs; empty:
    /// delivered once checked.
    pub approvers: Vec<String>,
    /// Distinct approvers a file needs (never its sender).
    pub approvals: usize,
    /// A delivered file not received within this is removed.
    pub expire_after: Duration,
    pub max_file_size: Option<u64>,
    /// Names a file may have; empty: any.
    pub patterns: Vec<NamePattern>,
    /// `file:line`, for messages.
    pub at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSegment {
    name: Spanned<String>,
    label: Spanned<String>,
    listen: Spanned<Vec<Spanned<String>>>,
    /// The HTTPS front door on this network (for its users' browsers).
    #[serde(default)]
    web_listen: Vec<Spanned<String>>,
    #[serde(default)]
    networks: Vec<Spanned<String>>,
    #[serde(default)]
    account: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLane {
    name: Spanned<String>,
    from: Spanned<String>,
    to: Spanned<String>,
    senders: Spanned<Vec<Spanned<String>>>,
    receivers: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    approvers: Vec<Spanned<String>>,
    approvals: Option<Spanned<i64>>,
    expire_after: Option<Spanned<Quantity>>,
    max_file_size: Option<Spanned<Quantity>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !s.starts_with(['-', '.'])
}

/// Validates the segments; `taken` holds the addresses already listened
/// on (`[server] listen`), and receives theirs.
pub(super) fn segments(
    raw: &[RawSegment],
    loc: &Locator<'_>,
    actx: &mut AccountCtx<'_>,
    taken: &mut Vec<SocketAddr>,
) -> Result<Vec<Segment>, ConfigError> {
    let mut out: Vec<Segment> = Vec::new();
    for rs in raw {
        let name = rs.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(loc.at(
                rs.name.span(),
                format!("segment name {name:?}: use 1–64 of A–Z a–z 0–9 _ - . (not starting with - or .)"),
            ));
        }
        if out.iter().any(|s| s.name == name) {
            return Err(loc.at(rs.name.span(), format!("segment {name} is defined twice")));
        }
        let label = rs.label.get_ref().trim().to_string();
        if label.is_empty() {
            return Err(loc.at(
                rs.label.span(),
                format!("segment {name} has an empty label"),
            ));
        }
        if rs.listen.get_ref().is_empty() {
            return Err(loc.at(
                rs.listen.span(),
                format!("segment {name}: listen lists at least one address (the appliance's interface on that network)"),
            ));
        }
        let listen = addresses(
            rs.listen.get_ref(),
            &format!("segment {name}: listen"),
            "10.20.0.5:22",
            loc,
            taken,
        )?;
        let web_listen = addresses(
            &rs.web_listen,
            &format!("segment {name}: web_listen"),
            "10.20.0.5:443",
            loc,
            taken,
        )?;
        let networks = rs
            .networks
            .iter()
            .map(|n| parse_network(n.get_ref()).map_err(|e| loc.at(n.span(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if networks.is_empty() {
            actx.warnings.push(format!(
                "segment {name} has no networks: nobody can connect to its listener"
            ));
        }
        let owner = format!("segment {name}");
        let mut accounts = Vec::new();
        for ra in &rs.account {
            accounts.push(accounts::account(ra, &owner, !networks.is_empty(), actx)?);
        }
        out.push(Segment {
            name,
            label,
            listen,
            web_listen,
            networks,
            accounts,
        });
    }
    Ok(out)
}

/// Parses listening addresses, each new to `taken` (every network has
/// its own interface; port 0, used by tests, picks a free port and cannot
/// clash).
pub(super) fn addresses(
    list: &[Spanned<String>],
    what: &str,
    example: &str,
    loc: &Locator<'_>,
    taken: &mut Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut out = Vec::new();
    for l in list {
        let addr: SocketAddr = l.get_ref().parse().map_err(|_| {
            loc.at(
                l.span(),
                format!(
                    "{what} {:?} is not an address and port such as \"{example}\"",
                    l.get_ref()
                ),
            )
        })?;
        if addr.port() != 0 && taken.contains(&addr) {
            return Err(loc.at(
                l.span(),
                format!("{what}: {addr} is already listened on by another listener of renkei; every network has its own interface"),
            ));
        }
        taken.push(addr);
        out.push(addr);
    }
    Ok(out)
}

fn members(
    list: &[Spanned<String>],
    allowed: &[&Segment],
    what: &str,
    lane: &str,
) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for u in list {
        let user = u.get_ref();
        if !allowed.iter().any(|s| s.account(user).is_some()) {
            let names: Vec<&str> = allowed.iter().map(|s| s.name.as_str()).collect();
            return Err((
                u.span(),
                format!(
                    "lane {lane}: {what} {user:?} is not an account of segment {}",
                    names.join(" or ")
                ),
            ));
        }
        if !out.contains(user) {
            out.push(user.clone());
        }
    }
    Ok(out)
}

impl RawLane {
    pub(super) fn name_start(&self) -> usize {
        self.name.span().start
    }

    // Long: each key of a `[[lane]]` in turn, with the cross-checks against
    // the segments (which accounts may stand where).
    pub(super) fn resolve(
        &self,
        segments: &[Segment],
        seen: &mut HashSet<String>,
        at: String,
    ) -> Result<Lane, Problem> {
        let name = self.name.get_ref().clone();
        if !valid_name(&name) {
            return Err((
                self.name.span(),
                format!(
                    "lane name {name:?}: use 1–64 of A–Z a–z 0–9 _ - . (not starting with - or .)"
                ),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err((self.name.span(), format!("lane {name} is defined twice")));
        }
        let segment = |v: &Spanned<String>, end: &str| {
            segments
                .iter()
                .find(|s| s.name == *v.get_ref())
                .ok_or_else(|| {
                    (
                        v.span(),
                        format!(
                            "lane {name}: {end} {:?} is not a configured segment",
                            v.get_ref()
                        ),
                    )
                })
        };
        let from = segment(&self.from, "from")?;
        let to = segment(&self.to, "to")?;
        if from.name == to.name {
            return Err((
                self.to.span(),
                format!(
                    "lane {name}: from and to are both {}; a lane joins two segments",
                    from.name
                ),
            ));
        }
        if self.senders.get_ref().is_empty() || self.receivers.get_ref().is_empty() {
            let span = if self.senders.get_ref().is_empty() {
                self.senders.span()
            } else {
                self.receivers.span()
            };
            return Err((
                span,
                format!("lane {name} needs at least one sender and one receiver"),
            ));
        }
        let senders = members(self.senders.get_ref(), &[from], "sender", &name)?;
        let receivers = members(self.receivers.get_ref(), &[to], "receiver", &name)?;
        let approvers = members(&self.approvers, &[from, to], "approver", &name)?;
        let approvals = match &self.approvals {
            None => usize::from(!approvers.is_empty()),
            Some(v) if approvers.is_empty() => {
                return Err((v.span(), format!("lane {name}: approvals needs approvers")));
            }
            Some(v) if (1..=approvers.len() as i64).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                return Err((
                    v.span(),
                    format!(
                        "lane {name}: approvals must be between 1 and the {} approver(s) listed",
                        approvers.len()
                    ),
                ));
            }
        };
        if approvers.len() == approvals
            && let Some(s) = senders.iter().find(|s| approvers.contains(s))
        {
            return Err((
                self.senders.span(),
                format!(
                    "lane {name}: sender {s} is also one of the {approvals} approver(s) every file needs, but nobody approves their own file: a file {s} sends could never be approved"
                ),
            ));
        }
        let expire_after = duration_in(
            &self.expire_after,
            Duration::from_secs(7 * 86_400),
            (Duration::from_secs(1), Duration::from_secs(366 * 86_400)),
            "lane.expire_after",
        )?;
        let max_file_size = self
            .max_file_size
            .as_ref()
            .map(|v| {
                parse_size(v.get_ref())
                    .map_err(|e| (v.span(), format!("lane {name}: max_file_size: {e}")))
            })
            .transpose()?;
        let mut patterns = Vec::new();
        for p in &self.patterns {
            patterns.push(
                NamePattern::parse(p.get_ref())
                    .map_err(|e| (p.span(), format!("lane {name}: patterns: {e}")))?,
            );
        }
        Ok(Lane {
            name,
            from: from.name.clone(),
            to: to.name.clone(),
            senders,
            receivers,
            approvers,
            approvals,
            expire_after,
            max_file_size,
            patterns,
            at,
        })
    }
}
