//! Browser logins: who the name is, whether this listener serves them,
//! whether they may come from here, and whether their proofs hold
//! (pinned client certificate, argon2id password, TOTP code).
//!
//! Every check runs whatever the earlier ones found, and an unknown name
//! is checked against a fixed hash, so the time a refusal takes does not
//! say which part was wrong; the browser is told only that the login
//! failed, the audit record says why.

use std::net::IpAddr;

use argon2::{Argon2, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use renkei_config::{Config, WebLogin, WebRole, canonical_ip};
use renkei_core::live::Snapshot;
use renkei_core::namespace::{Principal, Scope};
use renkei_core::policy::{Protocol, Role};

use super::WebDoor;
use super::session::Who;

/// TOTP step (RFC 6238's default) and the steps either side accepted for
/// clock drift.
const TOTP_STEP: u64 = 30;
const TOTP_DRIFT: u64 = 1;

/// A hash of a random password nobody knows, verified for unknown names
/// so that they cost what a known one costs.
static DECOY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&hex::encode(rand::random::<[u8; 32]>())));

/// An argon2id PHC string for `password` (OWASP's parameters, the
/// crate's defaults), with a random 128-bit salt.
pub fn hash_password(password: &str) -> String {
    use argon2::PasswordHasher;
    let salt = rand::random::<[u8; 16]>();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches the argon2id `hash`. With no hash (an
/// unknown name, a login without a password) it is verified against a
/// decoy and is never right, so the answer takes the same time.
pub(crate) fn password_matches(hash: Option<&str>, password: &str) -> bool {
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), hash.unwrap_or(DECOY.as_str()))
        .is_ok();
    ok && hash.is_some()
}

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
    let principal = |scope: Scope| Principal {
        scope,
        user: a.user.clone(),
        role: Role::Account,
        source: Some(ip),
        conn: Some(conn),
        protocol: Protocol::Https,
    };
    let mut f = Found {
        login: None,
        who: None,
        tenant: None,
        segment: None,
        barred: None,
    };
    if let Some((tenant, account)) = config.account(&a.user) {
        f.login = account.web.as_ref();
        f.tenant = Some(tenant.code.to_string());
        f.who = Some(Who::Account(principal(Scope::Tenant(tenant.code.clone()))));
        if let WebDoor::Segment(name) = door {
            f.barred = Some((
                format!(
                    "account {} of tenant {} is not served on the web listener of segment {name}",
                    a.user, tenant.code
                ),
                None,
            ));
            return f;
        }
        let at = renkei_model::time::tokyo(jiff::Timestamp::now());
        if let Err((op, d)) = snap
            .policy
            .logs_in(tenant, account, ip, Protocol::Https, &at)
        {
            let why = d.reason.clone().unwrap_or_else(|| {
                format!("{op} of {} from {ip} over https is not allowed", a.user)
            });
            f.barred = Some((format!("{why} ({})", d.by()), Some(d.by())));
            return f;
        }
    } else if let Some((seg, account)) = config.segment_account(&a.user) {
        f.login = account.web.as_ref();
        f.segment = Some(seg.name.clone());
        f.who = Some(Who::Account(principal(Scope::Segment(seg.name.clone()))));
        let served = matches!(door, WebDoor::Segment(n) if *n == seg.name);
        if !served {
            f.barred = Some((
                format!(
                    "account {} of segment {} is not served on {}",
                    a.user,
                    seg.name,
                    door.describe()
                ),
                None,
            ));
            return f;
        }
        let networks = account.networks.as_deref().unwrap_or(&seg.networks);
        if !networks.iter().any(|n| n.contains(&ip)) {
            f.barred = Some((
                format!(
                    "source address {ip} is not in the networks of account {} of segment {}",
                    a.user, seg.name
                ),
                None,
            ));
        }
    } else if let Some(u) = config.web_user(&a.user) {
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
                    "web user {} is served on the [web] listeners, not on the web listener of segment {name}",
                    a.user
                ),
                None,
            ));
        } else if !u.networks.iter().any(|n| n.contains(&ip)) {
            f.barred = Some((
                format!(
                    "source address {ip} is not in the networks of web user {}",
                    a.user
                ),
                None,
            ));
        }
    } else {
        f.barred = Some((format!("unknown user {:?}", a.user), None));
    }
    f
}

/// What a login is made of (password hash, TOTP secret, pinned
/// certificate), as a digest: a session remembers the one it began
/// with, and ends when the configuration no longer has it.
pub fn proof(login: &WebLogin) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        login.password.as_deref().map(str::as_bytes),
        login.totp.as_deref(),
        login.client_cert.as_deref().map(str::as_bytes),
    ] {
        let part = part.unwrap_or_default();
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
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
    if proof(login) != proof_then {
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
    let login = f.login;
    // The password is verified whatever else is wrong.
    let password_ok = password_matches(login.and_then(|l| l.password.as_deref()), &a.password);
    let cert_ok = match login.and_then(|l| l.client_cert.as_deref()) {
        None => true,
        Some(pinned) => a.client_cert.as_deref() == Some(pinned),
    };
    let step_now = jiff::Timestamp::now().as_second().max(0) as u64 / TOTP_STEP;
    let totp_step = login
        .and_then(|l| l.totp.as_deref())
        .map(|secret| totp_match(secret, a.totp.trim(), step_now));
    if let Some((reason, rule)) = f.barred.clone() {
        return Err(refuse(reason, rule));
    }
    let (Some(login), Some(who)) = (login, f.who.clone()) else {
        return Err(refuse(format!("{} has no web login", a.user), None));
    };
    if !cert_ok {
        return Err(refuse(
            match &a.client_cert {
                None => "no client certificate was presented; this login requires its pinned certificate".into(),
                Some(fp) => format!("client certificate {fp} is not the one pinned for {}", a.user),
            },
            None,
        ));
    }
    let mut method = Vec::new();
    if login.client_cert.is_some() {
        method.push("client certificate");
    }
    if login.password.is_some() {
        if !password_ok {
            return Err(refuse("wrong password".into(), None));
        }
        method.push("password");
    }
    if let Some(step) = totp_step {
        let Some(step) = step else {
            return Err(refuse("wrong or expired TOTP code".into(), None));
        };
        // Used codes are kept in the journal: one works once, across
        // restarts too.
        match spend_step(&a.user, step) {
            Ok(true) => {}
            Ok(false) => return Err(refuse("TOTP code already used (replayed)".into(), None)),
            Err(e) => return Err(refuse(format!("TOTP state unavailable: {e}"), None)),
        }
        method.push("totp");
    }
    Ok((who, method.join("+"), proof(login)))
}

/// The step whose code `code` is, within the drift allowed, if any.
fn totp_match(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in now.saturating_sub(TOTP_DRIFT)..=now + TOTP_DRIFT {
        // Every step is computed, so the time taken does not depend on
        // which one matched.
        if super::session::same(&totp_at(secret, step), code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 6238 (HMAC-SHA-1, 6 digits) at one step.
pub fn totp_at(secret: &[u8], step: u64) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!("{:06}", bin % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp_at(secret, 59 / 30), "287082");
        assert_eq!(totp_at(secret, 1_111_111_109 / 30), "081804");
        assert_eq!(totp_at(secret, 2_000_000_000 / 30), "279037");
    }

    #[test]
    fn drift_of_one_step() {
        let secret = b"12345678901234567890";
        let code = totp_at(secret, 100);
        assert_eq!(totp_match(secret, &code, 101), Some(100));
        assert_eq!(totp_match(secret, &code, 102), None);
        assert_eq!(totp_match(secret, "12345", 100), None);
    }
}
