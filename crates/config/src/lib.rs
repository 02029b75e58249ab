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
mod assemble;
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
pub mod storage;
mod summary;
mod tenants;
pub use renkei_model::units;
pub mod ftps;
pub mod web;

use std::collections::HashMap;
use std::net::IpAddr;
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
use networks::{parse_network, warn_shared_networks};
pub use retention::{AuditSettings, RetentionConfig};
pub use routes::{Destination, RetryPolicy, Route, Source};
pub use scan::{ScanConfig, Unscannable};
pub use segments::{Lane, Segment};
pub use server::{DEFAULT_PORT, DiskLow, ServerConfig};
pub use storage::{BlobsAt, JournalAt, JournalTls, PostgresJournal, S3Blobs, StorageConfig};
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
    /// `[storage]`: which engines hold the journal and the files.
    pub storage: StorageConfig,
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
    storage: storage::RawStorage,
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
        let storage = raw
            .storage
            .resolve(|p| resolve(base, p))
            .map_err(|(span, msg)| loc.at(span, msg))?;
        warnings.extend(storage.warnings());
        let limits = raw
            .limits
            .resolve()
            .map_err(|(span, msg)| loc.at(span, msg))?;
        if matches!(storage.blobs, BlobsAt::S3(_)) {
            raw.limits
                .check_for_object_store(&limits)
                .map_err(|(span, msg)| loc.at(span, msg))?;
        }
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
        let mut users: HashMap<String, UserAt> = HashMap::new();
        let mut actx = accounts::AccountCtx {
            loc: &loc,
            base,
            warnings: Vec::new(),
            key_owners: HashMap::new(),
            users: HashMap::new(),
        };
        let tenants = assemble::tenants(&raw.tenant, &mut actx, &mut users, &mut warnings)?;
        let mut taken = vec![server.listen];
        let segment_list = segments::segments(&raw.segment, &loc, &mut actx, &mut taken)?;
        for (si, seg) in segment_list.iter().enumerate() {
            for (ai, a) in seg.accounts.iter().enumerate() {
                users.insert(a.user.clone(), UserAt::Segment(si, ai));
            }
        }
        let web = match &raw.web {
            Some(rw) => Some(assemble::web_section(
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
        let notify = assemble::notify(&raw.notify, &loc, base)?;
        let lanes = assemble::lanes(&raw.lane, &loc, &segment_list)?;
        warnings.append(&mut actx.warnings);
        if tenants.is_empty() && segment_list.is_empty() {
            warnings.push("no [[tenant]] is configured: nobody can connect".to_string());
        }
        warn_shared_networks(&tenants, &mut warnings);

        let route_list = assemble::routes(&raw.route, &loc, base, &tenants)?;
        let checks = assemble::checks(&raw.check, &loc, &tenants, &route_list, &lanes)?;

        Ok(Config {
            source: file.to_string(),
            text: text.to_string(),
            server,
            vault: VaultConfig { identity },
            storage,
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

#[cfg(test)]
mod ftps_tests;
#[cfg(test)]
mod notify_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod web_tests;
