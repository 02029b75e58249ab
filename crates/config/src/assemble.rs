//! How the list sections of a configuration file become the validated
//! configuration's parts: each one resolved in file order, a duplicate
//! name refused at its own line, and the cross-references (routes to
//! tenants, checks to routes and lanes, web users to tenants) checked
//! against what was resolved before it. `Config::parse` calls these in
//! the order the references need.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;

use crate::checks::{CheckRule, RawCheck};
use crate::locate::{self, Locator, line_col, resolve};
use crate::networks::{mapped_warning, parse_network};
use crate::notify::{NotifyChannel, RawNotify};
use crate::routes::{RawRoute, Route};
use crate::segments::{self, Lane, RawLane, Segment};
use crate::web::{self, WebConfig, WebRole, WebUser};
use crate::{ConfigError, RawTenant, Tenant, TenantCode, UserAt, accounts};

/// `[[tenant]]`: codes unique, names not empty, networks parsed, each
/// account resolved and its user name recorded in `users`.
pub(super) fn tenants(
    raw: &[RawTenant],
    actx: &mut accounts::AccountCtx<'_>,
    users: &mut HashMap<String, UserAt>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Tenant>, ConfigError> {
    let loc = actx.loc;
    let mut tenants = Vec::new();
    let mut codes = HashSet::new();
    for (ti, rt) in raw.iter().enumerate() {
        let code = TenantCode::parse(rt.code.get_ref())
            .map_err(|e| loc.at(rt.code.span(), format!("tenant.code: {e}")))?;
        if !codes.insert(code.to_string()) {
            return Err(loc.at(rt.code.span(), format!("tenant {code} is defined twice")));
        }
        let name = rt.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(loc.at(rt.name.span(), format!("tenant {code} has an empty name")));
        }
        let networks = rt
            .networks
            .iter()
            .map(|n| parse_network(n.get_ref()).map_err(|e| loc.at(n.span(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        warnings.extend(
            rt.networks
                .iter()
                .filter_map(|n| mapped_warning(n.get_ref(), &format!("tenant {code}"))),
        );
        let mut accounts = Vec::new();
        let scope = format!("tenant {code}");
        for (ai, ra) in rt.account.iter().enumerate() {
            let account = accounts::account(ra, &scope, !networks.is_empty(), actx)?;
            users.insert(account.user.clone(), UserAt::Tenant(ti, ai));
            accounts.push(account);
        }
        if accounts.is_empty() {
            warnings.push(format!("tenant {code} ({name}) has no accounts"));
        }
        tenants.push(Tenant {
            code,
            name,
            networks,
            accounts,
        });
    }
    Ok(tenants)
}

/// `[[notify]]`: each channel resolved, names unique.
pub(super) fn notify(
    raw: &[RawNotify],
    loc: &Locator<'_>,
    base: &Path,
) -> Result<Vec<NotifyChannel>, ConfigError> {
    let mut notify: Vec<NotifyChannel> = Vec::new();
    for rn in raw {
        let (line, _) = line_col(loc.text, rn.name_start());
        let ch = rn
            .resolve(&|p| resolve(base, p), format!("{}:{line}", loc.file))
            .map_err(|(span, msg)| loc.at(span, msg))?;
        if notify.iter().any(|c| c.name == ch.name) {
            return Err(loc.at(
                rn.name_start()..rn.name_start(),
                format!("notify {} is defined twice", ch.name),
            ));
        }
        notify.push(ch);
    }
    Ok(notify)
}

/// `[[lane]]`: each between two configured segments, names unique.
pub(super) fn lanes(
    raw: &[RawLane],
    loc: &Locator<'_>,
    segments: &[Segment],
) -> Result<Vec<Lane>, ConfigError> {
    let mut names = HashSet::new();
    raw.iter()
        .map(|rl| {
            let (line, _) = line_col(loc.text, rl.name_start());
            rl.resolve(segments, &mut names, format!("{}:{line}", loc.file))
                .map_err(|(span, msg)| loc.at(span, msg))
        })
        .collect()
}

/// `[[route]]`: each for configured tenants, names unique.
pub(super) fn routes(
    raw: &[RawRoute],
    loc: &Locator<'_>,
    base: &Path,
    tenants: &[Tenant],
) -> Result<Vec<Route>, ConfigError> {
    let mut routes: Vec<Route> = Vec::new();
    for rr in raw {
        let (line, _) = line_col(loc.text, rr.name_span().start);
        if routes.iter().any(|r| r.name == rr.name()) {
            return Err(loc.at(
                rr.name_span(),
                format!("route {:?} is defined twice", rr.name()),
            ));
        }
        let route = rr
            .resolve(tenants, &|p| resolve(base, p), line, loc.file)
            .map_err(|(span, msg)| loc.at(span, msg))?;
        routes.push(route);
    }
    Ok(routes)
}

/// `[[check]]`: each naming configured tenants, routes or lanes, names
/// unique.
pub(super) fn checks(
    raw: &[RawCheck],
    loc: &Locator<'_>,
    tenants: &[Tenant],
    routes: &[Route],
    lanes: &[Lane],
) -> Result<Vec<CheckRule>, ConfigError> {
    let mut names = HashSet::new();
    raw.iter()
        .map(|rc| {
            let (line, _) = line_col(loc.text, rc.span_start());
            rc.resolve(
                tenants,
                routes,
                lanes,
                format!("{}:{line}", loc.file),
                &mut names,
            )
            .map_err(|(span, msg)| loc.at(span, msg))
        })
        .collect()
}

/// Validates `[web]`: its listeners, certificate paths, limits and users.
pub(super) fn web_section(
    rw: &web::RawWeb,
    loc: &Locator<'_>,
    base: &Path,
    tenants: &[Tenant],
    actx: &mut accounts::AccountCtx<'_>,
    taken: &mut Vec<SocketAddr>,
) -> Result<WebConfig, ConfigError> {
    let listen = segments::addresses(&rw.listen, "web.listen", "127.0.0.1:8443", loc, taken)?;
    let limits = rw.limits().map_err(|(span, msg)| loc.at(span, msg))?;
    let mut users = Vec::new();
    for ru in &rw.user {
        let user = ru.user.get_ref().clone();
        if !locate::valid_user(&user) {
            return Err(loc.at(
                ru.user.span(),
                format!("web user name {user:?} is not allowed: use 1–64 characters from A–Z a–z 0–9 . _ - (not starting with - or .)"),
            ));
        }
        if let Some(other) = actx.users.insert(user.clone(), "the web users".into()) {
            return Err(loc.at(
                ru.user.span(),
                format!("user {user:?} is already an account of {other}; user names must be unique across all tenants, segments and web users"),
            ));
        }
        let role = ru.role().map_err(|(span, msg)| loc.at(span, msg))?;
        let scope = match &ru.tenants {
            None => None,
            Some(list) => {
                let mut codes = Vec::new();
                for t in list {
                    let code = TenantCode::parse(t.get_ref())
                        .map_err(|e| loc.at(t.span(), format!("web user {user}: {e}")))?;
                    if !tenants.iter().any(|x| x.code == code) {
                        return Err(loc.at(
                            t.span(),
                            format!("web user {user}: tenant {code} is not configured"),
                        ));
                    }
                    codes.push(code);
                }
                if role == WebRole::Operator {
                    return Err(loc.at(
                        ru.role.span(),
                        format!("web user {user}: an operator acts for the whole appliance; tenants limits auditors only"),
                    ));
                }
                Some(codes)
            }
        };
        let networks = ru
            .networks
            .iter()
            .map(|n| parse_network(n.get_ref()).map_err(|e| loc.at(n.span(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        if networks.is_empty() {
            return Err(loc.at(
                ru.user.span(),
                format!("web user {user}: networks is empty; list where they log in from"),
            ));
        }
        let login = ru
            .login()
            .resolve(&format!("web user {user}"))
            .map_err(|(span, msg)| loc.at(span, msg))?
            .ok_or_else(|| {
                loc.at(
                    ru.user.span(),
                    format!("web user {user} has no web_password and no web_client_cert: they could never log in"),
                )
            })?;
        users.push(WebUser {
            user,
            role,
            tenants: scope,
            networks,
            login,
        });
    }
    Ok(WebConfig {
        listen,
        tls_cert: resolve(base, rw.tls_cert.get_ref()),
        tls_key: resolve(base, rw.tls_key.get_ref()),
        users,
        limits,
    })
}
