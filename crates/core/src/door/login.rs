//! Who a name is at a door, and whether they may log in there, from
//! here, now: the one account lookup every door makes at a login
//! attempt (SSH, FTPS, HTTPS) and the browser again at every request.
//!
//! A name is a municipality's account or a segment's. A listener serves
//! one scope (decision 0011): the municipalities' listeners serve their
//! accounts, as the rules allow them over the door's protocol; a
//! segment's listener serves that segment's accounts from its networks.
//! An account of another scope is refused however right its proof, so
//! no network reaches another's accounts.
//!
//! The answer carries the account even when it is refused, so that a door
//! checks the proofs either way and a refusal takes as long as an
//! acceptance. Only an accepted lookup gives the [`Principal`] a session
//! acts as.

use std::net::IpAddr;

use renkei_config::{Account, Segment, Tenant, canonical_ip};

use super::Scope;
use crate::live::Snapshot;
use crate::namespace::{Principal, Scope as NsScope};
use crate::policy::{Protocol, Role};

/// A login attempt, as far as the lookup is concerned.
pub struct Attempt<'a> {
    pub user: &'a str,
    pub ip: IpAddr,
    pub conn: u64,
    pub protocol: Protocol,
    /// Whom the listener the attempt came through serves.
    pub scope: &'a Scope,
}

/// Why a name may not log in here. The reason is for the audit record
/// only; the client is told that the login failed.
#[derive(Debug, Clone)]
pub struct Barred {
    pub reason: String,
    /// The rule that decided, when one did (`file:line`).
    pub rule: Option<String>,
}

/// What the lookup found.
pub struct Found<'a> {
    /// The account of that name, whatever the verdict.
    pub account: Option<&'a Account>,
    pub tenant: Option<&'a Tenant>,
    pub segment: Option<&'a Segment>,
    /// Whether the name is configured anywhere (the defender scores
    /// unknown names higher).
    pub known: bool,
    /// The principal a session of this login acts as, or why not.
    pub verdict: Result<Principal, Barred>,
}

fn barred(reason: String, rule: Option<String>) -> Result<Principal, Barred> {
    Err(Barred { reason, rule })
}

/// Looks the name up for the door the attempt came through.
pub fn find<'a>(snap: &'a Snapshot, a: &Attempt<'_>) -> Found<'a> {
    let config = &snap.config;
    let ip = canonical_ip(a.ip);
    let principal = |scope: NsScope| Principal {
        scope,
        user: a.user.to_string(),
        role: Role::Account,
        source: Some(ip),
        conn: Some(a.conn),
        protocol: a.protocol,
    };
    let tenant_account = config.account(a.user);
    let segment_account = config.segment_account(a.user);
    let mut found = Found {
        account: tenant_account
            .map(|(_, acc)| acc)
            .or(segment_account.map(|(_, acc)| acc)),
        tenant: tenant_account.map(|(t, _)| t),
        segment: segment_account.map(|(s, _)| s),
        known: tenant_account.is_some()
            || segment_account.is_some()
            || config.web_user(a.user).is_some(),
        verdict: barred(format!("unknown user {:?}", a.user), None),
    };
    found.verdict = match (a.scope, tenant_account, segment_account) {
        (Scope::Tenants | Scope::Staff, Some((tenant, account)), _) => {
            tenant_verdict(snap, tenant, account, a, ip)
                .map(|()| principal(NsScope::Tenant(tenant.code.clone())))
        }
        (Scope::Segment(name), _, Some((seg, account))) if seg.name == *name => {
            let networks = account.networks.as_deref().unwrap_or(&seg.networks);
            if networks.iter().any(|n| n.contains(&ip)) {
                Ok(principal(NsScope::Segment(name.clone())))
            } else {
                barred(
                    format!(
                        "source address {ip} is not in the networks of account {} of segment {name}",
                        a.user
                    ),
                    None,
                )
            }
        }
        (_, None, None) => barred(format!("unknown user {:?}", a.user), None),
        (scope, _, _) => {
            let whose = match (tenant_account, segment_account) {
                (Some((t, _)), _) => format!("tenant {}", t.code),
                (_, Some((seg, _))) => format!("segment {}", seg.name),
                _ => "nobody".to_string(),
            };
            barred(
                format!(
                    "account {} of {whose} is not served on {}",
                    a.user,
                    served(scope, a.protocol)
                ),
                None,
            )
        }
    };
    found
}

/// The listener of `scope` over `protocol`, for a refusal's reason.
fn served(scope: &Scope, protocol: Protocol) -> String {
    match (scope, protocol) {
        (Scope::Staff, _) => "the [web] listener".to_string(),
        (Scope::Tenants, p) => format!("the municipalities' listener ({p})"),
        (Scope::Segment(name), Protocol::Https) => format!("the web listener of segment {name}"),
        (Scope::Segment(name), p) => format!("the listener of segment {name} ({p})"),
    }
}

/// The rules' verdict on `connect` and `login` of a municipality's
/// account from `ip`, now.
fn tenant_verdict(
    snap: &Snapshot,
    tenant: &Tenant,
    account: &Account,
    a: &Attempt<'_>,
    ip: IpAddr,
) -> Result<(), Barred> {
    let at = renkei_model::time::tokyo(jiff::Timestamp::now());
    let Err((op, d)) = snap.policy.logs_in(tenant, account, ip, a.protocol, &at) else {
        return Ok(());
    };
    let outside = !account
        .effective_networks(tenant)
        .iter()
        .any(|n| n.contains(&ip));
    let why = match &d.reason {
        Some(r) => r.clone(),
        None if outside => format!(
            "source address {ip} is not in the networks of account {}",
            a.user
        ),
        None => format!(
            "{op} of {} from {ip} over {} is not allowed",
            a.user,
            a.protocol.name()
        ),
    };
    Err(Barred {
        reason: format!("{why} ({})", d.by()),
        rule: Some(d.by()),
    })
}
