//! One account (`[[tenant.account]]` or `[[segment.account]]`): its user
//! name, keys and own networks, validated the same way wherever it is
//! written. User names are unique across every tenant and segment, so the
//! name alone says whose account it is; a key listed for accounts of two
//! different owners (two municipalities, a municipality and a segment)
//! is an error, since whoever holds it could act as both.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::keys;
use crate::locate::{Locator, resolve, valid_user};
use crate::networks::{mapped_warning, parse_network};
use crate::tenants::Account;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    user: Spanned<String>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    keys_file: Option<Spanned<String>>,
    networks: Option<Vec<Spanned<String>>>,
    web_password: Option<Spanned<String>>,
    web_totp: Option<Spanned<String>>,
    web_client_cert: Option<Spanned<String>>,
    ftps_password: Option<Spanned<String>>,
    ftps_client_cert: Option<Spanned<String>>,
}

/// What the accounts of one configuration are checked against together.
pub(super) struct AccountCtx<'a> {
    pub loc: &'a Locator<'a>,
    pub base: &'a Path,
    pub warnings: Vec<String>,
    /// Key fingerprint → (owner, user) of the first account listing it.
    pub key_owners: HashMap<String, (String, String)>,
    /// User name → its owner (`tenant 032018`, `segment standard`).
    pub users: HashMap<String, String>,
}

fn keys_of(
    ra: &RawAccount,
    user: &str,
    ctx: &AccountCtx<'_>,
) -> Result<Vec<keys::AuthorizedKey>, ConfigError> {
    let loc = ctx.loc;
    let mut found = Vec::new();
    for k in &ra.keys {
        match keys::parse_line(k.get_ref()) {
            Ok(Some(key)) => found.push(key),
            Ok(None) => {}
            Err(e) => return Err(loc.at(k.span(), format!("account {user}: {e}"))),
        }
    }
    if let Some(kf) = &ra.keys_file {
        let path = resolve(ctx.base, kf.get_ref());
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            loc.at(
                kf.span(),
                format!("account {user}: cannot read keys_file {shown}: {e}"),
            )
        })?;
        let kloc = Locator {
            file: &shown,
            text: &text,
        };
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            match keys::parse_line(line) {
                Ok(Some(key)) => found.push(key),
                Ok(None) => {}
                Err(e) => {
                    return Err(kloc.at(offset..offset, format!("account {user}: {e}")));
                }
            }
            offset += line.len();
        }
    }
    Ok(found)
}

/// Validates one account of `owner` (`tenant 032018`, `segment
/// standard`); `owner_has_networks` says whether the owner's networks
/// would let it connect when it has none of its own.
pub(super) fn account(
    ra: &RawAccount,
    owner: &str,
    owner_has_networks: bool,
    ctx: &mut AccountCtx<'_>,
) -> Result<Account, ConfigError> {
    let loc = ctx.loc;
    let user = ra.user.get_ref().clone();
    if !valid_user(&user) {
        return Err(loc.at(
            ra.user.span(),
            format!("user name {user:?} is not allowed: use 1–64 characters from A–Z a–z 0–9 . _ - (not starting with - or .)"),
        ));
    }
    if let Some(other) = ctx.users.insert(user.clone(), owner.to_string()) {
        return Err(loc.at(
            ra.user.span(),
            format!("user {user:?} is already an account of {other}; user names must be unique across all tenants and segments"),
        ));
    }
    let keys = keys_of(ra, &user, ctx)?;
    let web = crate::web::RawWebLogin {
        prefix: "web",
        web_password: ra.web_password.as_ref(),
        web_totp: ra.web_totp.as_ref(),
        web_client_cert: ra.web_client_cert.as_ref(),
    }
    .resolve(&format!("account {user}"))
    .map_err(|(span, msg)| loc.at(span, msg))?;
    let ftps = crate::web::RawWebLogin {
        prefix: "ftps",
        web_password: ra.ftps_password.as_ref(),
        web_totp: None,
        web_client_cert: ra.ftps_client_cert.as_ref(),
    }
    .resolve(&format!("account {user}"))
    .map_err(|(span, msg)| loc.at(span, msg))?;
    if let (Some(span), false) = (
        ra.ftps_password
            .as_ref()
            .or(ra.ftps_client_cert.as_ref())
            .map(Spanned::span),
        owner.starts_with("tenant "),
    ) {
        return Err(loc.at(
            span,
            format!("account {user} of {owner}: FTPS serves municipalities' accounts only; a segment's accounts use SFTP or the browser"),
        ));
    }
    if keys.is_empty() && web.is_none() && ftps.is_none() {
        ctx.warnings.push(format!(
            "account {user} of {owner} has no keys, no web login and no FTPS login: it cannot log in"
        ));
    }
    for key in &keys {
        let fp = key.fingerprint.clone();
        match ctx.key_owners.get(&fp) {
            Some((other_owner, other_user)) if other_owner != owner => {
                return Err(loc.at(
                    ra.user.span(),
                    format!("account {user} of {owner} has key {fp}, which is already a key of account {other_user} of {other_owner}; one key must never open the accounts of two municipalities or networks: give each its own key"),
                ));
            }
            Some((_, other_user)) if *other_user != user => {
                ctx.warnings.push(format!(
                    "accounts {other_user} and {user} of {owner} share key {fp}: whoever holds it can act as both; give each system its own key unless one batch server really runs both"
                ));
            }
            Some(_) => {}
            None => {
                ctx.key_owners.insert(fp, (owner.to_string(), user.clone()));
            }
        }
    }
    if let Some(list) = &ra.networks {
        ctx.warnings.extend(
            list.iter()
                .filter_map(|n| mapped_warning(n.get_ref(), &format!("account {user}"))),
        );
    }
    let own_networks = match &ra.networks {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|n| parse_network(n.get_ref()).map_err(|e| loc.at(n.span(), e)))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    if own_networks
        .as_ref()
        .map_or(!owner_has_networks, Vec::is_empty)
    {
        ctx.warnings.push(format!(
            "account {user} of {owner} has no networks to connect from: it cannot log in"
        ));
    }
    Ok(Account {
        user,
        keys,
        networks: own_networks,
        web,
        ftps,
    })
}
