//! Who may do what: firewall-like rules, first match wins, default deny.
//!
//! Rule files (`[server] policy_dir`, TOML, loaded in file-name order) hold
//! `[[rule]]` tables; `docs/policy.md` is the language reference. When no
//! rule file exists the built-in baseline applies, which the shipped
//! `policies/00-baseline.toml` states as rules: each account connects from
//! its configured networks and uses its own tenant's inbox (everything) and
//! outbox (list, download, delete).
//!
//! Decisions are made at two stages, as in a firewall: at TCP accept, where
//! only the source address is known ([`PolicySet::admits`]: is there any
//! account this address may connect as?), and then for every login and
//! every SFTP operation ([`PolicySet::decide`]). Every decision names the
//! rule that made it (`file:line`) or says "default deny".
//!
//! The operator's control socket is not subject to rules. Isolation between
//! tenants is not a rule either: it holds by construction (a principal's
//! requests only ever name its own tenant's data).

mod lint;
pub use renkei_model::pattern;
pub mod rules;
pub mod window;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use jiff::Zoned;
use sha2::{Digest, Sha256};

use renkei_config::calendar::Calendar;
use renkei_config::{Config, ConfigError, TenantCode};
use renkei_model::boxes::BoxKind;

pub use rules::{OpSet, Operation, Protocol, Rule, RuleRef, Source};

/// What a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An SSH account of a tenant: subject to the rules.
    Account,
    /// The operator, via `renkei ctl`: not subject to rules.
    Operator,
}

/// One question: may this account do this, now?
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub tenant: &'a TenantCode,
    pub account: &'a str,
    /// The account's networks from the configuration (for `@networks`).
    pub account_networks: &'a [IpNet],
    pub source: Option<IpAddr>,
    /// The front door asked through.
    pub protocol: Protocol,
    pub op: Operation,
    /// `None` for connect/login.
    pub bx: Option<BoxKind>,
    /// Path inside the box (`""` for the box itself).
    pub path: Option<&'a str>,
    /// Last component of the path.
    pub name: Option<&'a str>,
    /// For uploads: the size the file would have.
    pub size: Option<u64>,
    pub at: &'a Zoned,
}

/// The answer, and who gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    /// The rule that decided; `None` = no rule matched (default deny).
    pub rule: Option<RuleRef>,
    pub reason: Option<String>,
}

impl Decision {
    /// `file:line`, or `default deny`.
    pub fn by(&self) -> String {
        match &self.rule {
            Some(r) => r.to_string(),
            None => "default deny".to_string(),
        }
    }

    /// The text a refused client sees.
    pub fn refusal(&self, op: Operation) -> String {
        match (&self.reason, &self.rule) {
            (Some(r), _) => r.clone(),
            (None, Some(rule)) => format!("{op} is denied by policy ({rule})"),
            (None, None) => format!("no policy rule allows {op} here (default deny)"),
        }
    }
}

/// The rules in force.
#[derive(Debug, Clone)]
pub struct PolicySet {
    rules: Vec<Rule>,
    /// Files loaded, in order; empty for the built-in baseline.
    pub files: Vec<String>,
    /// SHA-256 over the files' names and contents (what an auditor can
    /// compare with a copy).
    pub digest: String,
    pub warnings: Vec<String>,
    /// Every `max_size` in the rules, ascending: an upload's decision can
    /// only change when its size crosses one of them.
    size_bounds: Vec<u64>,
    /// Closed days, for `business` time windows.
    calendar: Arc<Calendar>,
}

/// Rule file of the built-in baseline (identical to the shipped
/// `policies/00-baseline.toml`).
pub const BASELINE: &str = include_str!("../../../../policies/00-baseline.toml");
/// How the built-in baseline is named in decisions.
pub const BASELINE_NAME: &str = "built-in baseline";

impl PolicySet {
    fn new(
        rules: Vec<Rule>,
        files: Vec<String>,
        digest: String,
        warnings: Vec<String>,
    ) -> PolicySet {
        let mut size_bounds: Vec<u64> = rules.iter().filter_map(|r| r.max_size).collect();
        size_bounds.sort_unstable();
        size_bounds.dedup();
        PolicySet {
            rules,
            files,
            digest,
            warnings,
            size_bounds,
            calendar: Arc::default(),
        }
    }

    /// The same rules, judging `business` windows with `calendar`.
    pub fn with_calendar(mut self, calendar: Arc<Calendar>) -> PolicySet {
        self.calendar = calendar;
        self
    }

    /// The built-in baseline.
    pub fn baseline() -> PolicySet {
        // The baseline ships with the binary and is covered by tests.
        let rules = rules::parse_file(BASELINE_NAME, BASELINE).unwrap_or_default();
        let digest = hex::encode(Sha256::digest(BASELINE.as_bytes()));
        PolicySet::new(rules, Vec::new(), digest, Vec::new())
    }

    /// Loads the rule files of `config` (or the baseline when there are
    /// none), lints them against it, and returns them with warnings.
    pub fn load(config: &Config) -> Result<PolicySet, ConfigError> {
        Ok(PolicySet::load_rules(config)?.with_calendar(Arc::clone(&config.calendar)))
    }

    fn load_rules(config: &Config) -> Result<PolicySet, ConfigError> {
        let Some(dir) = &config.server.policy_dir else {
            return Ok(PolicySet::baseline());
        };
        let mut names: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
                .collect(),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !config.server.policy_dir_explicit =>
            {
                return Ok(PolicySet::baseline());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    file: dir.display().to_string(),
                    source,
                });
            }
        };
        names.sort();
        if names.is_empty() {
            return Ok(PolicySet::baseline());
        }
        let mut rules = Vec::new();
        let mut files = Vec::new();
        let mut hasher = Sha256::new();
        for path in &names {
            let shown = display(path);
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: shown.clone(),
                source,
            })?;
            hasher.update(shown.as_bytes());
            hasher.update([0]);
            hasher.update(text.as_bytes());
            hasher.update([0]);
            rules.extend(rules::parse_file(&shown, &text)?);
            files.push(shown);
        }
        let warnings = lint::lint(&rules, config);
        Ok(PolicySet::new(
            rules,
            files,
            hex::encode(hasher.finalize()),
            warnings,
        ))
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn size_bounds(&self) -> &[u64] {
        &self.size_bounds
    }

    /// First match wins; nothing matched means deny.
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        for rule in &self.rules {
            if matches(rule, req, &self.calendar) {
                return Decision {
                    allow: rule.allow,
                    rule: Some(rule.at.clone()),
                    reason: rule.reason.clone(),
                };
            }
        }
        Decision {
            allow: false,
            rule: None,
            reason: None,
        }
    }

    /// Whether `account` of `tenant` may connect and then log in from
    /// `ip` over `protocol` now — the decision every door makes at login.
    /// The refusal says which of the two was refused, and why.
    pub fn logs_in(
        &self,
        tenant: &renkei_config::Tenant,
        account: &renkei_config::Account,
        ip: IpAddr,
        protocol: Protocol,
        at: &Zoned,
    ) -> Result<(), (Operation, Decision)> {
        for op in [Operation::Connect, Operation::Login] {
            let d = self.decide(&Request {
                tenant: &tenant.code,
                account: &account.user,
                account_networks: account.effective_networks(tenant),
                source: Some(ip),
                protocol,
                op,
                bx: None,
                path: None,
                name: None,
                size: None,
                at,
            });
            if !d.allow {
                return Err((op, d));
            }
        }
        Ok(())
    }

    /// Admission at TCP accept, when only the source is known: allowed if
    /// any account could connect from `ip` now. Otherwise the refusal names
    /// the rule when a single one turned every account away.
    pub fn admits(
        &self,
        config: &Config,
        ip: IpAddr,
        protocol: Protocol,
        at: &Zoned,
    ) -> Result<(), Decision> {
        let mut refusal: Option<Decision> = None;
        let mut mixed = false;
        for t in &config.tenants {
            for a in &t.accounts {
                let d = self.decide(&Request {
                    tenant: &t.code,
                    account: &a.user,
                    account_networks: a.effective_networks(t),
                    source: Some(ip),
                    protocol,
                    op: Operation::Connect,
                    bx: None,
                    path: None,
                    name: None,
                    size: None,
                    at,
                });
                if d.allow {
                    return Ok(());
                }
                match &refusal {
                    None => refusal = Some(d),
                    Some(r) if r.rule != d.rule => mixed = true,
                    Some(_) => {}
                }
            }
        }
        Err(match refusal {
            Some(d) if !mixed => d,
            _ => Decision {
                allow: false,
                rule: None,
                reason: None,
            },
        })
    }

    /// Who may do `op` in `bx` of `tenant`: for each of its accounts, the
    /// rules that could decide, in order, down to the first unconditional
    /// one. Answers "who can write to 032018's inbox?".
    pub fn who(
        &self,
        config: &Config,
        tenant: &TenantCode,
        op: Operation,
        bx: Option<BoxKind>,
        path: Option<&str>,
    ) -> String {
        let mut out = String::new();
        let Some(t) = config.tenant(tenant.as_str()) else {
            return format!("tenant {tenant} is not in the configuration\n");
        };
        let place = bx
            .map(|b| format!(" /{b}{}", path.map(|p| format!("/{p}")).unwrap_or_default()))
            .unwrap_or_default();
        let _ = writeln!(out, "{op}{place} of {} {}:", t.code, t.name);
        for a in &t.accounts {
            let nets: Vec<String> = a
                .effective_networks(t)
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = writeln!(
                out,
                "  account {} (networks {})",
                a.user,
                if nets.is_empty() {
                    "none".into()
                } else {
                    nets.join(", ")
                }
            );
            let mut settled = false;
            for r in &self.rules {
                if !r.ops.contains(op)
                    || r.tenants.as_ref().is_some_and(|ts| !ts.contains(&t.code))
                    || r.accounts.as_ref().is_some_and(|us| !us.contains(&a.user))
                    || (!op.has_path() && r.has_file_conditions())
                    || r.bx.is_some_and(|b| Some(b) != bx)
                    || r.path
                        .as_ref()
                        .is_some_and(|g| path.is_some_and(|p| !g.matches(p)))
                {
                    continue;
                }
                let conditional = r.from.is_some()
                    || r.time.is_some()
                    || r.name.is_some()
                    || r.max_size.is_some()
                    || (r.path.is_some() && path.is_none());
                let _ = writeln!(out, "    {}  {}", r.at, r.summary());
                if !conditional {
                    settled = true;
                    break;
                }
            }
            if !settled {
                let _ = writeln!(out, "    default deny  (nothing else matches)");
            }
        }
        let _ = writeln!(
            out,
            "  the operator (renkei ctl): always; accounts of other tenants: never (isolation by construction)"
        );
        out
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Whether every condition of `rule` holds for `req`. A rule with
/// conditions on files never matches connect or login.
fn matches(rule: &Rule, req: &Request<'_>, calendar: &Calendar) -> bool {
    rule.ops.contains(req.op)
        && (req.op.has_path() || !rule.has_file_conditions())
        && rule
            .tenants
            .as_ref()
            .is_none_or(|ts| ts.contains(req.tenant))
        && rule
            .accounts
            .as_ref()
            .is_none_or(|us| us.iter().any(|u| u == req.account))
        && rule.source_matches(req.source, req.account_networks)
        && rule
            .protocols
            .as_ref()
            .is_none_or(|ps| ps.contains(&req.protocol))
        && rule.bx.is_none_or(|b| Some(b) == req.bx)
        && rule
            .path
            .as_ref()
            .is_none_or(|g| req.path.is_some_and(|p| g.matches(p)))
        && rule.name.as_ref().is_none_or(|n| {
            req.name
                .is_some_and(|name| n.matches(name, req.tenant.as_str()))
        })
        && rule
            .max_size
            .is_none_or(|max| req.size.is_some_and(|s| s <= max))
        && rule
            .time
            .as_ref()
            .is_none_or(|ws| ws.iter().any(|w| w.contains(req.at, calendar)))
}

#[cfg(test)]
mod tests;
