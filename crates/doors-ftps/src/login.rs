//! FTPS logins: a municipality's account with an FTPS login, proved by
//! its argon2id password and/or its pinned client certificate, allowed
//! by the rules to connect and log in over `ftps` from here, now. Who
//! the name is and what the rules say is the kit's (`door::login`).
//!
//! The proofs are the kit's (`renkei_core::door::proof`), checked as the
//! browser's are: every one computed whatever else is wrong, an unknown
//! name verified against the decoy hash; the client is told only that the
//! login failed, the audit record says why.

use std::net::IpAddr;

use renkei_core::door::proof::{Presented, Proofs};
use renkei_core::door::{Scope as GateScope, login};
use renkei_core::live::Snapshot;
use renkei_core::namespace::Principal;
use renkei_core::policy::Protocol;

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
    let found = login::find(
        snap,
        &login::Attempt {
            user: a.user,
            ip: a.ip,
            conn: a.conn,
            protocol: Protocol::Ftps,
            scope: &GateScope::Tenants,
        },
    );
    let login = found.account.and_then(|acc| acc.ftps.as_ref());
    let presented = Presented {
        password: a.password,
        client_cert: a.client_cert,
        totp: None,
    };
    // Every proof is computed whatever else is wrong.
    let proofs = Proofs::compute(login, &presented);
    let refuse = |reason: String, rule: Option<String>| Refused {
        reason,
        tenant: found.tenant.map(|t| t.code.to_string()),
        rule,
        known_user: found.known,
    };
    let who = found
        .verdict
        .clone()
        .map_err(|b| refuse(b.reason, b.rule))?;
    let Some(login) = login else {
        return Err(refuse(
            format!(
                "account {} has no FTPS login (ftps_password or ftps_client_cert)",
                a.user
            ),
            None,
        ));
    };
    // FTPS logins have no TOTP: there is no step to spend.
    let no_totp = |_: &str, _: u64| Ok(false);
    let method = proofs
        .verdict(login, a.user, &presented, &no_totp)
        .map_err(|reason| refuse(reason, None))?;
    Ok(LoggedIn { who, method })
}
