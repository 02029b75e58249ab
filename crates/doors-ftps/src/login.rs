//! FTPS logins: a municipality's account with an FTPS login, proved by
//! its argon2id password and/or its pinned client certificate, allowed
//! by the rules to connect and log in over `ftps` from here, now.
//!
//! The proofs are the kit's (`renkei_core::door::proof`), checked as the
//! browser's are: every one computed whatever else is wrong, an unknown
//! name verified against the decoy hash; the client is told only that the
//! login failed, the audit record says why.

use std::net::IpAddr;

use renkei_config::canonical_ip;
use renkei_core::door::proof::{Presented, Proofs};
use renkei_core::live::Snapshot;
use renkei_core::namespace::{Principal, Scope};
use renkei_core::policy::{Protocol, Role};

/// What the client sent.
pub(super) struct Attempt<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// SHA-256 (lowercase hex) of the client certificate on the control
    /// connection, when there was one.
    pub client_cert: Option<&'a str>,
    pub ip: IpAddr,
    pub conn: u64,
}

/// A refused login; the reason is for the audit trail only.
pub(super) struct Refused {
    pub reason: String,
    pub tenant: Option<String>,
    pub rule: Option<String>,
    /// Whether the name is a configured account (the defender scores
    /// unknown names higher).
    pub known_user: bool,
}

/// A login that succeeded: who, and how it was proved.
pub(super) struct LoggedIn {
    pub who: Principal,
    pub method: String,
}

/// Checks a login. Runs on a blocking thread: argon2id takes tens of
/// milliseconds and ~19 MiB by design.
pub(super) fn check(snap: &Snapshot, a: &Attempt<'_>) -> Result<LoggedIn, Refused> {
    let config = &snap.config;
    let ip = canonical_ip(a.ip);
    let found = config.account(a.user);
    let login = found.and_then(|(_, acc)| acc.ftps.as_ref());
    let presented = Presented {
        password: a.password,
        client_cert: a.client_cert,
        totp: None,
    };
    // Every proof is computed whatever else is wrong.
    let proofs = Proofs::compute(login, &presented);
    let refuse = |reason: String, rule: Option<String>| Refused {
        reason,
        tenant: found.map(|(t, _)| t.code.to_string()),
        rule,
        known_user: found.is_some() || config.segment_account(a.user).is_some(),
    };
    let Some((tenant, account)) = found else {
        return Err(refuse(
            match config.segment_account(a.user) {
                Some((seg, _)) => format!(
                    "account {} of segment {} is not served over FTPS",
                    a.user, seg.name
                ),
                None => format!("unknown user {:?}", a.user),
            },
            None,
        ));
    };
    let Some(login) = login else {
        return Err(refuse(
            format!(
                "account {} has no FTPS login (ftps_password or ftps_client_cert)",
                a.user
            ),
            None,
        ));
    };
    let at = renkei_model::time::tokyo(jiff::Timestamp::now());
    if let Err((op, d)) = snap
        .policy
        .logs_in(tenant, account, ip, Protocol::Ftps, &at)
    {
        let why = d
            .reason
            .clone()
            .unwrap_or_else(|| format!("{op} of {} from {ip} over ftps is not allowed", a.user));
        return Err(refuse(format!("{why} ({})", d.by()), Some(d.by())));
    }
    // FTPS logins have no TOTP: there is no step to spend.
    let no_totp = |_: &str, _: u64| Ok(false);
    let method = proofs
        .verdict(login, a.user, &presented, &no_totp)
        .map_err(|reason| refuse(reason, None))?;
    Ok(LoggedIn {
        who: Principal {
            scope: Scope::Tenant(tenant.code.clone()),
            user: a.user.to_string(),
            role: Role::Account,
            source: Some(ip),
            conn: Some(a.conn),
            protocol: Protocol::Ftps,
        },
        method,
    })
}
