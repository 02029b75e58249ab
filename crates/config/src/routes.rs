//! `[[route]]` tables: what moves files on, from where to where, when.
//!
//! A route reads from one source and writes to one destination, for each
//! of its tenants separately: `{tenant}` in a directory path stands for the
//! tenant's code, so one route serves a whole 広域連合 while each
//! municipality's files stay in their own directories.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use crate::route_ends::{Destination, RemoteEnd, Source};
use crate::route_ends::{Problem, duration_in};
use crate::tenants::Tenant;
use renkei_model::boxes::BoxKind;
use renkei_model::lgcode::TenantCode;
use renkei_model::pattern::NamePattern;
use renkei_model::schedule::{Cron, Trigger};
use renkei_model::units::Quantity;

pub use crate::route_ends::TENANT_PLACEHOLDER;

/// Retries with exponential backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before an item is `failed` (first try included).
    pub attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            first: Duration::from_secs(10),
            max: Duration::from_secs(900),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failures` failed attempts.
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(30);
        self.first.saturating_mul(1 << shift).min(self.max)
    }
}

/// One validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub name: String,
    /// `file:line` of the `[[route]]` table, for messages.
    pub at: String,
    pub source: Source,
    /// File names the route takes (`None` = all).
    pub pattern: Option<NamePattern>,
    pub destination: Destination,
    /// The tenants it serves (all configured ones when not listed).
    pub tenants: Vec<TenantCode>,
    pub trigger: Trigger,
    pub retry: RetryPolicy,
    /// How often sources are looked at again even without a signal.
    pub rescan: Duration,
    /// A file the route's tenants must deliver by a deadline.
    pub expect: Option<Expectation>,
    /// Scheduled runs and `expect` deadlines falling on a closed day of
    /// `[calendar]` are skipped (`on_closed_days = "skip"`).
    pub skip_closed_days: bool,
}

/// "A file matching `pattern` is expected by each deadline of `by`": at
/// every deadline, each tenant that committed no matching file to the
/// route's box since the previous deadline raises an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub pattern: NamePattern,
    pub by: Cron,
}

impl Route {
    /// A directory path with the tenant's code filled in.
    pub fn dir_for(path: &str, tenant: &str) -> PathBuf {
        PathBuf::from(path.replace(TENANT_PLACEHOLDER, tenant))
    }

    /// The destination as shown in receipts and `ctl routes`.
    pub fn destination_label(&self, tenant: &str) -> String {
        match &self.destination {
            Destination::Dir { path, .. } => {
                format!("dir:{}", Route::dir_for(path, tenant).display())
            }
            Destination::Box { bx } => format!("box:{tenant}/{bx}"),
            Destination::Sftp { remote, .. } => remote.label(tenant),
        }
    }

    pub fn source_label(&self, tenant: &str) -> String {
        match &self.source {
            Source::Dir { path, .. } => format!("dir:{}", Route::dir_for(path, tenant).display()),
            Source::Box { bx } => format!("box:{tenant}/{bx}"),
            Source::Sftp { remote, .. } => remote.label(tenant),
        }
    }
}

impl Route {
    /// The box whose files the route takes or fills.
    pub fn tenant_box(&self) -> Option<BoxKind> {
        match (&self.source, &self.destination) {
            (Source::Box { bx }, _) | (_, Destination::Box { bx }) => Some(*bx),
            _ => None,
        }
    }

    /// The source's file-name pattern, if any.
    pub fn source_pattern(&self) -> Option<&NamePattern> {
        self.pattern.as_ref()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    name: Spanned<String>,
    source: Spanned<crate::route_ends::RawEnd>,
    destination: Spanned<crate::route_ends::RawEnd>,
    tenants: Option<Vec<Spanned<String>>>,
    schedule: Option<Spanned<String>>,
    every: Option<Spanned<Quantity>>,
    rescan: Option<Spanned<Quantity>>,
    retry: Option<Spanned<RawRetry>>,
    expect: Option<Spanned<RawExpect>>,
    on_closed_days: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    pattern: Spanned<String>,
    by: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: Option<Spanned<i64>>,
    first: Option<Spanned<Quantity>>,
    max: Option<Spanned<Quantity>>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !s.starts_with(['-', '.'])
}

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

impl RawRoute {
    /// Every key of a `[[route]]` table checked in turn (source,
    /// destination, pattern, tenants, schedule, retries, expectations),
    /// each naming its line on error.
    pub(super) fn resolve(
        &self,
        tenants: &[Tenant],
        resolve: &dyn Fn(&str) -> PathBuf,
        line: usize,
        file: &str,
    ) -> Result<Route, Problem> {
        let name = self.name.get_ref().clone();
        if !valid_name(&name) {
            return Err((
                self.name.span(),
                format!(
                    "route name {name:?}: use 1–64 characters from A–Z a–z 0–9 . _ - (not starting with - or .)"
                ),
            ));
        }
        let src = self.source.get_ref();
        let source = src.source(self.source.span(), &name, resolve)?;
        let destination =
            self.destination
                .get_ref()
                .destination(self.destination.span(), &name, resolve)?;
        if matches!(source, Source::Box { .. }) && matches!(destination, Destination::Box { .. }) {
            return Err((
                self.destination.span(),
                format!("route {name}: box to box is not a hand-off; use a directory at one end"),
            ));
        }
        if !matches!(source, Source::Box { .. }) && !matches!(destination, Destination::Box { .. })
        {
            return Err((
                self.destination.span(),
                format!(
                    "route {name}: directory or server to directory or server would not pass through renkei (no encryption, journal or audit); one end must be a box"
                ),
            ));
        }
        let pattern = match &src.pattern {
            None => None,
            Some(p) => Some(
                NamePattern::parse(p.get_ref())
                    .map_err(|e| (p.span(), format!("route {name}: pattern: {e}")))?,
            ),
        };
        let codes = self.tenant_codes(&name, tenants)?;
        self.one_directory_per_tenant(&name, &source, &destination, codes.len())?;
        let trigger = self.trigger(&name)?;
        let retry = self.retry_policy()?;
        let rescan = duration_in(
            &self.rescan,
            Duration::from_secs(30),
            (Duration::from_millis(100), DAY),
            "rescan",
        )?;
        let expect = self.expectation(&name)?;
        let skip_closed_days = self.skip_closed_days(&name)?;
        Ok(Route {
            expect,
            skip_closed_days,
            at: format!("{file}:{line}"),
            name,
            source,
            pattern,
            destination,
            tenants: codes,
            trigger,
            retry,
            rescan,
        })
    }

    /// The tenants a route serves: those listed, each configured, or all.
    fn tenant_codes(&self, name: &str, tenants: &[Tenant]) -> Result<Vec<TenantCode>, Problem> {
        Ok(match &self.tenants {
            None => tenants.iter().map(|t| t.code.clone()).collect(),
            Some(list) => {
                let mut out = Vec::new();
                let mut seen = HashSet::new();
                for c in list {
                    let code = TenantCode::parse(c.get_ref())
                        .map_err(|e| (c.span(), format!("route {name}: tenants: {e}")))?;
                    if !tenants.iter().any(|t| t.code == code) {
                        return Err((
                            c.span(),
                            format!("route {name}: tenant {code} is not configured"),
                        ));
                    }
                    if seen.insert(code.to_string()) {
                        out.push(code);
                    }
                }
                out
            }
        })
    }

    /// One directory for several tenants would mix municipalities'
    /// files: each needs its own, named by {tenant}.
    fn one_directory_per_tenant(
        &self,
        name: &str,
        source: &Source,
        destination: &Destination,
        tenants: usize,
    ) -> Result<(), Problem> {
        let shared_dir = [
            match source {
                Source::Dir { path, .. } => Some(path),
                Source::Sftp { remote, .. } => Some(&remote.path),
                Source::Box { .. } => None,
            },
            match destination {
                Destination::Dir { path, .. } => Some(path),
                Destination::Sftp { remote, .. } => Some(&remote.path),
                Destination::Box { .. } => None,
            },
        ]
        .into_iter()
        .flatten()
        .find(|p| !p.contains(TENANT_PLACEHOLDER));
        if let Some(p) = shared_dir
            && tenants != 1
        {
            let span = self
                .tenants
                .as_ref()
                .and_then(|l| l.first().map(Spanned::span))
                .unwrap_or(self.name.span());
            return Err((
                span,
                format!(
                    "route {name}: directory {p} has no {TENANT_PLACEHOLDER} but the route serves {} tenants; put {TENANT_PLACEHOLDER} in the path or list exactly one tenant",
                    tenants
                ),
            ));
        }
        Ok(())
    }

    /// On arrival, on a cron schedule, or every so often.
    fn trigger(&self, name: &str) -> Result<Trigger, Problem> {
        Ok(match (&self.schedule, &self.every) {
            (Some(_), Some(e)) => {
                return Err((
                    e.span(),
                    format!("route {name}: give schedule or every, not both"),
                ));
            }
            (Some(s), None) => Trigger::Cron(
                Cron::parse(s.get_ref())
                    .map_err(|e| (s.span(), format!("route {name}: schedule: {e}")))?,
            ),
            (None, Some(_)) => {
                Trigger::Every(duration_in(&self.every, DAY, (SECOND, DAY * 31), "every")?)
            }
            (None, None) => Trigger::Arrival,
        })
    }

    /// `retry`: attempts and back-off, within their bounds.
    fn retry_policy(&self) -> Result<RetryPolicy, Problem> {
        let mut retry = RetryPolicy::default();
        if let Some(r) = &self.retry {
            let r = r.get_ref();
            if let Some(a) = &r.attempts {
                if !(1..=1000).contains(a.get_ref()) {
                    return Err((a.span(), "retry.attempts must be between 1 and 1000".into()));
                }
                retry.attempts = *a.get_ref() as u32;
            }
            retry.first = duration_in(
                &r.first,
                retry.first,
                (Duration::from_millis(100), DAY),
                "retry.first",
            )?;
            retry.max = duration_in(
                &r.max,
                retry.max,
                (Duration::from_millis(100), DAY * 7),
                "retry.max",
            )?;
            if retry.max < retry.first {
                retry.max = retry.first;
            }
        }
        Ok(retry)
    }

    /// `expect`: a file that should arrive by a time.
    fn expectation(&self, name: &str) -> Result<Option<Expectation>, Problem> {
        Ok(match &self.expect {
            None => None,
            Some(e) => {
                let e = e.get_ref();
                Some(Expectation {
                    pattern: NamePattern::parse(e.pattern.get_ref()).map_err(|m| {
                        (
                            e.pattern.span(),
                            format!("route {name}: expect.pattern: {m}"),
                        )
                    })?,
                    by: Cron::parse(e.by.get_ref())
                        .map_err(|m| (e.by.span(), format!("route {name}: expect.by: {m}")))?,
                })
            }
        })
    }

    /// `on_closed_days`: `run` (the default) or `skip`, which needs a
    /// schedule or an expectation to apply to.
    fn skip_closed_days(&self, name: &str) -> Result<bool, Problem> {
        let skip_closed_days = match self
            .on_closed_days
            .as_ref()
            .map(|s| (s, s.get_ref().as_str()))
        {
            None | Some((_, "run")) => false,
            Some((_, "skip")) => true,
            Some((s, other)) => {
                return Err((
                    s.span(),
                    format!("route {name}: on_closed_days = {other:?}: use \"run\" or \"skip\""),
                ));
            }
        };
        if let Some(s) = &self.on_closed_days
            && skip_closed_days
            && self.schedule.is_none()
            && self.expect.is_none()
        {
            return Err((
                s.span(),
                format!(
                    "route {name}: on_closed_days applies to a schedule or an expect, and the route has neither"
                ),
            ));
        }
        Ok(skip_closed_days)
    }

    pub(super) fn name_span(&self) -> std::ops::Range<usize> {
        self.name.span()
    }

    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }
}
