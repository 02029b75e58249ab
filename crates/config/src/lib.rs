//! The daemon's configuration: what is read from `renkei.toml`, validated
//! once, and then shared read-only by everything else.
//!
//! Validation happens here and only here, and every error names the file,
//! the line and what is wrong, because the person reading it is an operator
//! with an editor open, not a developer with a debugger. A configuration that
//! loads is internally consistent: tenant codes carry valid check digits,
//! user names are unique across tenants, keys are of accepted types, and
//! every limit is within its documented range.

mod accounts;
pub mod admin;
pub mod calendar;
pub mod checks;
pub mod defender;
pub mod keys;
mod locate;
pub use renkei_model::lgcode;
mod error;
pub mod limits;
mod networks;
pub mod notify;
pub mod retention;
pub mod route_ends;
pub mod routes;
pub mod scan;
pub mod segments;
pub mod server;
mod summary;
mod tenants;
pub use renkei_model::units;
pub mod ftps;
pub mod web;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

pub use checks::CheckRule;
pub use defender::DefenderConfig;
pub use error::ConfigError;
pub use keys::AuthorizedKey;
pub use lgcode::TenantCode;
pub use limits::Limits;
pub use locate::line_col;
use locate::{Locator, base_of, read, resolve};
pub use networks::canonical_ip;
use networks::{mapped_warning, parse_network, warn_shared_networks};
pub use retention::{AuditSettings, RetentionConfig};
pub use routes::{Destination, RetryPolicy, Route, Source};
pub use scan::{ScanConfig, Unscannable};
pub use segments::{Lane, Segment};
pub use server::{DEFAULT_PORT, DiskLow, ServerConfig};
pub use tenants::{Account, Tenant};
pub use web::{WebConfig, WebLogin, WebRole, WebUser};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (the default on a terminal).
    Text,
    /// One JSON object per line, for journald / log shippers.
    Json,
}

#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// age X25519 identity that encrypts every stored byte.
    pub identity: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `renkei=debug`.
    pub level: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from: a path, or `<embedded default>`.
    pub source: String,
    /// The text it was read from (its digest is recorded on load).
    pub text: String,
    pub server: ServerConfig,
    pub vault: VaultConfig,
    pub limits: Limits,
    pub defender: DefenderConfig,
    pub audit: AuditSettings,
    pub retention: RetentionConfig,
    /// `[scan]`: when present, every arriving file is scanned.
    pub scan: Option<ScanConfig>,
    /// Content rules for arriving files (`[[check]]`), in file order.
    pub checks: Vec<CheckRule>,
    pub log: LogConfig,
    /// Closed days (`[calendar]`).
    pub calendar: Arc<calendar::Calendar>,
    pub tenants: Vec<Tenant>,
    /// Hand-off routes (`[[route]]`), in file order.
    pub routes: Vec<Route>,
    /// Separated networks (`[[segment]]`), each with its own listeners.
    pub segments: Vec<Segment>,
    /// One-way paths between segments (`[[lane]]`).
    pub lanes: Vec<Lane>,
    /// `[web]`: the HTTPS front door, when configured.
    pub web: Option<WebConfig>,
    /// `[ftps]`: the FTPS front door, when configured.
    pub ftps: Option<ftps::FtpsConfig>,
    /// `[admin]`: the monitoring listener, when configured.
    pub admin: Option<admin::AdminConfig>,
    /// `[[notify]]`: where the operator is told of what needs them.
    pub notify: Vec<notify::NotifyChannel>,
    /// Things that are allowed but probably not intended.
    pub warnings: Vec<String>,
    users: HashMap<String, UserAt>,
}

/// Where a user name is configured.
#[derive(Debug, Clone, Copy)]
enum UserAt {
    Tenant(usize, usize),
    Segment(usize, usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: server::RawServer,
    #[serde(default)]
    vault: RawVault,
    #[serde(default)]
    limits: limits::RawLimits,
    #[serde(default)]
    defender: defender::RawDefender,
    #[serde(default)]
    audit: retention::RawAudit,
    #[serde(default)]
    retention: retention::RawRetention,
    scan: Option<scan::RawScan>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    calendar: calendar::RawCalendar,
    #[serde(default)]
    tenant: Vec<RawTenant>,
    #[serde(default)]
    route: Vec<routes::RawRoute>,
    #[serde(default)]
    check: Vec<checks::RawCheck>,
    #[serde(default)]
    segment: Vec<segments::RawSegment>,
    #[serde(default)]
    lane: Vec<segments::RawLane>,
    web: Option<web::RawWeb>,
    ftps: Option<ftps::RawFtps>,
    admin: Option<admin::RawAdmin>,
    #[serde(default)]
    notify: Vec<notify::RawNotify>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVault {
    identity: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    code: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    networks: Vec<Spanned<String>>,
    #[serde(default)]
    account: Vec<accounts::RawAccount>,
}

impl Config {
    /// Reads and validates a configuration file. Relative paths inside it are
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (file, text) = read(path)?;
        Config::parse(&file, &text, &base_of(path))
    }

    /// Only where the daemon keeps its data (what `renkei ctl` needs to
    /// reach it), read from a file that may be broken elsewhere: an
    /// operator who is mid-edit can still ask the running daemon, and
    /// `ctl reload` tells what is wrong.
    pub fn data_dir_only(path: &Path) -> Result<PathBuf, ConfigError> {
        let (file, text) = read(path)?;
        let loc = Locator {
            file: &file,
            text: &text,
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            loc.at(span, e.message().trim().to_string())
        })?;
        match table
            .get("server")
            .and_then(|s| s.get("data_dir"))
            .and_then(|d| d.as_str())
        {
            Some(d) if !d.trim().is_empty() => Ok(resolve(&base_of(path), d)),
            _ => Err(loc.at(0..0, "server.data_dir is missing")),
        }
    }

    /// Validates configuration text. `file` names it in errors; relative
    /// paths are resolved against `base`.
    // Long: the configuration's sections validated in file order, each
    // step a few lines naming its line on error; split by section it would
    // pass the same half-built state through a dozen functions.
    pub fn parse(file: &str, text: &str, base: &Path) -> Result<Config, ConfigError> {
        let loc = Locator { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            loc.at(span, e.message().trim().to_string())
        })?;
        let mut warnings = Vec::new();

        let server = raw
            .server
            .resolve(base)
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let data_dir = server.data_dir.clone();
        let identity = raw
            .vault
            .identity
            .as_ref()
            .map(|p| resolve(base, p.get_ref()))
            .unwrap_or_else(|| data_dir.join("vault.key"));
        let limits = raw
            .limits
            .resolve()
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let defender = raw
            .defender
            .resolve(parse_network)
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let audit = raw
            .audit
            .resolve(data_dir.join("audit.key"), |p| resolve(base, p))
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let retention = raw
            .retention
            .resolve()
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let scan = raw
            .scan
            .as_ref()
            .map(scan::RawScan::resolve)
            .transpose()
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let calendar = raw
            .calendar
            .resolve(&|p| resolve(base, p))?
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let mut tenants = Vec::new();
        let mut users: HashMap<String, UserAt> = HashMap::new();
        let mut codes: HashMap<String, ()> = HashMap::new();
        let mut actx = accounts::AccountCtx {
            loc: &loc,
            base,
            warnings: Vec::new(),
            key_owners: HashMap::new(),
            users: HashMap::new(),
        };
        for (ti, rt) in raw.tenant.iter().enumerate() {
            let code = TenantCode::parse(rt.code.get_ref())
                .map_err(|e| loc.at(rt.code.span(), format!("tenant.code: {e}")))?;
            if codes.insert(code.to_string(), ()).is_some() {
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
                let account = accounts::account(ra, &scope, !networks.is_empty(), &mut actx)?;
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
        let mut taken = vec![server.listen];
        let segment_list = segments::segments(&raw.segment, &loc, &mut actx, &mut taken)?;
        for (si, seg) in segment_list.iter().enumerate() {
            for (ai, a) in seg.accounts.iter().enumerate() {
                users.insert(a.user.clone(), UserAt::Segment(si, ai));
            }
        }
        let web = match &raw.web {
            Some(rw) => Some(web_section(
                rw, &loc, base, &tenants, &mut actx, &mut taken,
            )?),
            None => {
                if let Some(s) = segment_list.iter().find(|s| !s.web_listen.is_empty()) {
                    return Err(loc.at(
                        0..0,
                        format!("segment {} has web_listen but there is no [web] section with tls_cert and tls_key", s.name),
                    ));
                }
                None
            }
        };
        let ftps = raw
            .ftps
            .as_ref()
            .map(|rf| ftps::section(rf, &loc, base, &mut taken))
            .transpose()?;
        let admin = raw
            .admin
            .as_ref()
            .map(|a| a.resolve(parse_network))
            .transpose()
            .map_err(|(span, msg)| loc.at(span, msg))?;
        let mut notify = Vec::new();
        for rn in &raw.notify {
            let (line, _) = line_col(text, rn.name_start());
            let ch = rn
                .resolve(&|p| resolve(base, p), format!("{file}:{line}"))
                .map_err(|(span, msg)| loc.at(span, msg))?;
            if notify
                .iter()
                .any(|c: &notify::NotifyChannel| c.name == ch.name)
            {
                return Err(loc.at(
                    rn.name_start()..rn.name_start(),
                    format!("notify {} is defined twice", ch.name),
                ));
            }
            notify.push(ch);
        }
        let mut lane_names = std::collections::HashSet::new();
        let mut lanes = Vec::new();
        for rl in &raw.lane {
            let (line, _) = line_col(text, rl.name_start());
            lanes.push(
                rl.resolve(&segment_list, &mut lane_names, format!("{file}:{line}"))
                    .map_err(|(span, msg)| loc.at(span, msg))?,
            );
        }
        warnings.append(&mut actx.warnings);
        if tenants.is_empty() && segment_list.is_empty() {
            warnings.push("no [[tenant]] is configured: nobody can connect".to_string());
        }
        warn_shared_networks(&tenants, &mut warnings);

        let mut route_list: Vec<Route> = Vec::new();
        for rr in &raw.route {
            let (line, _) = line_col(text, rr.name_span().start);
            if route_list.iter().any(|r| r.name == rr.name()) {
                return Err(loc.at(
                    rr.name_span(),
                    format!("route {:?} is defined twice", rr.name()),
                ));
            }
            let route = rr
                .resolve(&tenants, &|p| resolve(base, p), line, file)
                .map_err(|(span, msg)| loc.at(span, msg))?;
            route_list.push(route);
        }
        let mut check_names = std::collections::HashSet::new();
        let mut checks = Vec::new();
        for rc in &raw.check {
            let (line, _) = line_col(text, rc.span_start());
            let rule = rc
                .resolve(
                    &tenants,
                    &route_list,
                    &lanes,
                    format!("{file}:{line}"),
                    &mut check_names,
                )
                .map_err(|(span, msg)| loc.at(span, msg))?;
            checks.push(rule);
        }

        Ok(Config {
            source: file.to_string(),
            text: text.to_string(),
            server,
            vault: VaultConfig { identity },
            limits,
            defender,
            audit,
            retention,
            scan,
            checks,
            log: LogConfig {
                format: raw.log.format.unwrap_or(LogFormat::Text),
                level: raw.log.level.unwrap_or_else(|| "info".to_string()),
            },
            calendar: Arc::new(calendar),
            tenants,
            routes: route_list,
            segments: segment_list,
            lanes,
            web,
            ftps,
            admin,
            notify,
            warnings,
            users,
        })
    }

    /// The tenant and account behind an SSH user name.
    pub fn account(&self, user: &str) -> Option<(&Tenant, &Account)> {
        let UserAt::Tenant(ti, ai) = *self.users.get(user)? else {
            return None;
        };
        let tenant = self.tenants.get(ti)?;
        Some((tenant, tenant.accounts.get(ai)?))
    }

    /// The segment and account behind an SSH user name.
    pub fn segment_account(&self, user: &str) -> Option<(&Segment, &Account)> {
        let UserAt::Segment(si, ai) = *self.users.get(user)? else {
            return None;
        };
        let segment = self.segments.get(si)?;
        Some((segment, segment.accounts.get(ai)?))
    }

    /// The `[[web.user]]` (auditor or operator) of this name.
    pub fn web_user(&self, user: &str) -> Option<&WebUser> {
        self.web.as_ref()?.users.iter().find(|u| u.user == user)
    }

    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    pub fn lane(&self, name: &str) -> Option<&Lane> {
        self.lanes.iter().find(|l| l.name == name)
    }

    pub fn tenant(&self, code: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.code.as_str() == code)
    }

    /// Whether any account may connect from `ip` at all. This is the check
    /// made at TCP accept, before the SSH handshake costs anything.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.tenants.iter().any(|t| {
            t.accounts
                .iter()
                .any(|a| a.effective_networks(t).iter().any(|n| n.contains(&ip)))
        })
    }
}

/// Validates `[web]`: its listeners, certificate paths, limits and users.
fn web_section(
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

#[cfg(test)]
mod ftps_tests;
#[cfg(test)]
mod notify_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod web_tests;
