//! Browser logins: who the name is, whether this listener serves them,
//! whether they may come from here, and whether their proofs hold
//! (pinned client certificate, argon2id password, TOTP code).
//!
//! Every check runs whatever the earlier ones found, and an unknown name
//! is checked against a fixed hash, so the time a refusal takes does not
//! say which part was wrong; the browser is told only that the login
//! failed, the audit record says why.

use std::net::IpAddr;

use renkei_config::{Config, WebLogin, WebRole, WebUser, canonical_ip};
use renkei_core::door::proof::{self, Presented, Proofs};
use renkei_core::door::{Scope as GateScope, login};
use renkei_core::live::Snapshot;
use renkei_core::policy::Protocol;

use super::WebDoor;
use super::session::Who;

/// What the browser sent.
pub struct Attempt {
    pub user: String,
    pub password: String,
    pub totp: String,
    pub client_cert: Option<String>,
    pub ip: IpAddr,
}

/// A refused login: the reason is for the audit trail only.
pub struct Refused {
    pub reason: String,
    pub tenant: Option<String>,
    pub segment: Option<String>,
    pub rule: Option<String>,
}

/// Who the name belongs to, as far as this listener is concerned.
struct Found<'a> {
    login: Option<&'a WebLogin>,
    who: Option<Who>,
    tenant: Option<String>,
    segment: Option<String>,
    /// Why the person may not log in here, before any proof is looked at.
    barred: Option<(String, Option<String>)>,
}

fn find<'a>(snap: &'a Snapshot, door: &WebDoor, a: &Attempt, conn: u64) -> Found<'a> {
    let config: &Config = &snap.config;
    let ip = canonical_ip(a.ip);
    let mut f = Found {
        login: None,
        who: None,
        tenant: None,
        segment: None,
        barred: None,
    };
    if let Some(u) = config.web_user(&a.user) {
        web_user(&mut f, u, door, &a.user, ip);
        return f;
    }
    let scope = match door {
        WebDoor::Staff => GateScope::Staff,
        WebDoor::Segment(name) => GateScope::Segment(name.clone()),
    };
    let k = login::find(
        snap,
        &login::Attempt {
            user: &a.user,
            ip,
            conn,
            protocol: Protocol::Https,
            scope: &scope,
        },
    );
    f.login = k.account.and_then(|acc| acc.web.as_ref());
    f.tenant = k.tenant.map(|t| t.code.to_string());
    f.segment = k.segment.map(|s| s.name.clone());
    match k.verdict {
        Ok(p) => f.who = Some(Who::Account(p)),
        Err(b) => f.barred = Some((b.reason, b.rule)),
    }
    f
}

/// An auditor or an operator (`[[web.user]]`): served on the `[web]`
/// listeners only, from their own networks.
fn web_user<'a>(f: &mut Found<'a>, u: &'a WebUser, door: &WebDoor, user: &str, ip: IpAddr) {
    f.login = Some(&u.login);
    f.who = Some(match u.role {
        WebRole::Auditor => Who::Auditor {
            user: u.user.clone(),
            tenants: u
                .tenants
                .as_ref()
                .map(|ts| ts.iter().map(ToString::to_string).collect()),
        },
        WebRole::Operator => Who::Operator {
            user: u.user.clone(),
        },
    });
    if let WebDoor::Segment(name) = door {
        f.barred = Some((
            format!(
                "web user {user} is served on the [web] listeners, not on the web listener of segment {name}"
            ),
            None,
        ));
    } else if !u.networks.iter().any(|n| n.contains(&ip)) {
        f.barred = Some((
            format!("source address {ip} is not in the networks of web user {user}"),
            None,
        ));
    }
}

/// Whether the person a session acts for may still be logged in here,
/// under the configuration in force: still configured, served on this
/// listener, allowed from `ip` by the rules or their networks, with the
/// same powers and the same login. Asked at every request, so a removed
/// account, auditor, operator or password ends its sessions at once.
pub fn standing(
    snap: &Snapshot,
    door: &WebDoor,
    who: &Who,
    proof_then: &str,
    ip: IpAddr,
    conn: u64,
) -> Result<(), String> {
    let a = Attempt {
        user: who.user().to_string(),
        password: String::new(),
        totp: String::new(),
        client_cert: None,
        ip,
    };
    let f = find(snap, door, &a, conn);
    if let Some((reason, _)) = f.barred {
        return Err(reason);
    }
    let (Some(login), Some(now)) = (f.login, f.who) else {
        return Err(format!("{} no longer has a web login", a.user));
    };
    if !now.same_as(who) {
        return Err(format!("what {} may do has changed", a.user));
    }
    if proof::digest(login) != proof_then {
        return Err(format!("the login of {} has changed", a.user));
    }
    Ok(())
}

/// Checks a login. Runs on a blocking thread (argon2id takes tens of
/// milliseconds and ~19 MiB by design).
pub fn check(
    snap: &Snapshot,
    door: &WebDoor,
    a: &Attempt,
    conn: u64,
    spend_step: &dyn Fn(&str, u64) -> Result<bool, String>,
) -> Result<(Who, String, String), Refused> {
    let f = find(snap, door, a, conn);
    let refuse = |reason: String, rule: Option<String>| Refused {
        reason,
        tenant: f.tenant.clone(),
        segment: f.segment.clone(),
        rule,
    };
    let presented = Presented {
        password: &a.password,
        client_cert: a.client_cert.as_deref(),
        totp: Some(&a.totp),
    };
    // Every proof is computed whatever else is wrong.
    let proofs = Proofs::compute(f.login, &presented);
    if let Some((reason, rule)) = f.barred.clone() {
        return Err(refuse(reason, rule));
    }
    let (Some(login), Some(who)) = (f.login, f.who.clone()) else {
        return Err(refuse(format!("{} has no web login", a.user), None));
    };
    let method = proofs
        .verdict(login, &a.user, &presented, spend_step)
        .map_err(|reason| refuse(reason, None))?;
    Ok((who, method, proof::digest(login)))
}
