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

use super::units::{Quantity, parse_duration};
use super::{Tenant, TenantCode};
use crate::journal::BoxKind;
use crate::policy::pattern::NamePattern;
use crate::schedule::{Cron, Trigger};

/// The placeholder for the tenant code in directory paths.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// A remote SFTP server a route talks to (the standard system's, or a
/// municipality's own linkage server).
#[derive(Debug, Clone)]
pub struct RemoteEnd {
    /// `host:port`.
    pub addr: String,
    pub user: String,
    /// renkei's private key for this server (OpenSSH format).
    pub key: PathBuf,
    /// The server's host key, pinned: anything else is refused.
    pub host_key: super::AuthorizedKey,
    /// Directory on the server, `{tenant}` = the code.
    pub path: String,
    /// Connecting, logging in and each request must finish within this.
    pub timeout: Duration,
}

/// Where a route takes files from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Files committed to a tenant's box.
    Box { bx: BoxKind },
    /// Files another program writes into a directory.
    Dir {
        path: String,
        /// Take a file only once `NAME<suffix>` exists next to it.
        ready_suffix: Option<String>,
        /// Without a ready suffix: how long size and time must stay
        /// unchanged before a file counts as complete.
        settle: Duration,
    },
    /// Files on a remote SFTP server, pulled (and removed there once
    /// stored).
    Sftp {
        remote: Box<RemoteEnd>,
        ready_suffix: Option<String>,
        settle: Duration,
    },
}

/// Where a route puts files.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A spool directory (an ingest's input folder).
    Dir {
        path: String,
        /// After the data file, create an empty `NAME<suffix>`.
        trigger_suffix: Option<String>,
    },
    /// A tenant's box.
    Box { bx: BoxKind },
    /// A remote SFTP server, pushed to.
    Sftp {
        remote: Box<RemoteEnd>,
        trigger_suffix: Option<String>,
    },
}

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
#[derive(Debug, Clone)]
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
}

/// "A file matching `pattern` is expected by each deadline of `by`": at
/// every deadline, each tenant that committed no matching file to the
/// route's box since the previous deadline raises an alert.
#[derive(Debug, Clone)]
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

impl RemoteEnd {
    pub fn label(&self, tenant: &str) -> String {
        format!(
            "sftp://{}@{}{}",
            self.user,
            self.addr,
            self.path.replace(TENANT_PLACEHOLDER, tenant)
        )
    }

    /// The remote directory for a tenant.
    pub fn dir_for(&self, tenant: &str) -> String {
        self.path.replace(TENANT_PLACEHOLDER, tenant)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    name: Spanned<String>,
    source: Spanned<RawEnd>,
    destination: Spanned<RawEnd>,
    tenants: Option<Vec<Spanned<String>>>,
    schedule: Option<Spanned<String>>,
    every: Option<Spanned<Quantity>>,
    rescan: Option<Spanned<Quantity>>,
    retry: Option<Spanned<RawRetry>>,
    expect: Option<Spanned<RawExpect>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    pattern: Spanned<String>,
    by: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnd {
    #[serde(rename = "box")]
    bx: Option<Spanned<String>>,
    dir: Option<Spanned<String>>,
    pattern: Option<Spanned<String>>,
    ready_suffix: Option<Spanned<String>>,
    settle: Option<Spanned<Quantity>>,
    trigger_suffix: Option<Spanned<String>>,
    sftp: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    host_key: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    timeout: Option<Spanned<Quantity>>,
}

impl RawEnd {
    /// The remote server of an `sftp = ...` end.
    fn remote(
        &self,
        at: std::ops::Range<usize>,
        name: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
    ) -> Result<RemoteEnd, Problem> {
        let need = |v: &Option<Spanned<String>>, what: &str| {
            v.clone().ok_or_else(|| {
                (
                    at.clone(),
                    format!("route {name}: an sftp end needs {what}"),
                )
            })
        };
        let addr = need(&self.sftp, "sftp = \"host:port\"")?;
        if !addr.get_ref().contains(':') {
            return Err((
                addr.span(),
                format!(
                    "route {name}: sftp {:?} needs a port, e.g. \"10.0.1.5:22\"",
                    addr.get_ref()
                ),
            ));
        }
        let user = need(&self.user, "user = \"...\"")?;
        let key = need(
            &self.key,
            "key = \"PATH\" (renkei's private key for that server)",
        )?;
        let key_path = resolve(key.get_ref());
        if let Err(e) = russh::keys::load_secret_key(&key_path, None) {
            return Err((
                key.span(),
                format!("route {name}: key {}: {e}", key_path.display()),
            ));
        }
        let host = need(
            &self.host_key,
            "host_key = \"ssh-ed25519 AAAA...\" (the server's host key, pinned)",
        )?;
        let host_key = match super::keys::parse_line(host.get_ref()) {
            Ok(Some(k)) => k,
            Ok(None) => return Err((host.span(), format!("route {name}: host_key is empty"))),
            Err(e) => return Err((host.span(), format!("route {name}: host_key: {e}"))),
        };
        let path = need(&self.path, "path = \"/remote/dir\"")?;
        if !path.get_ref().starts_with('/') {
            return Err((
                path.span(),
                format!(
                    "route {name}: path {:?} must be absolute on the server",
                    path.get_ref()
                ),
            ));
        }
        Ok(RemoteEnd {
            addr: addr.get_ref().clone(),
            user: user.get_ref().clone(),
            key: key_path,
            host_key,
            path: path.get_ref().clone(),
            timeout: duration_in(
                &self.timeout,
                Duration::from_secs(30),
                (Duration::from_millis(100), Duration::from_secs(3600)),
                "timeout",
            )?,
        })
    }

    /// The first key that belongs only to sftp ends, if set on another kind.
    fn stray_remote_key(&self) -> Option<std::ops::Range<usize>> {
        [&self.user, &self.key, &self.host_key, &self.path]
            .into_iter()
            .flatten()
            .map(Spanned::span)
            .next()
            .or_else(|| self.timeout.as_ref().map(Spanned::span))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    attempts: Option<Spanned<i64>>,
    first: Option<Spanned<Quantity>>,
    max: Option<Spanned<Quantity>>,
}

type Problem = (std::ops::Range<usize>, String);

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !s.starts_with(['-', '.'])
}

fn suffix(v: &Option<Spanned<String>>, what: &str) -> Result<Option<String>, Problem> {
    let Some(v) = v else { return Ok(None) };
    let s = v.get_ref();
    if s.is_empty() || s.contains(['/', '\0']) || s.chars().any(char::is_control) {
        return Err((
            v.span(),
            format!("{what} {s:?} must be a non-empty file-name suffix such as \".end\""),
        ));
    }
    Ok(Some(s.clone()))
}

fn boxed(v: &Spanned<String>) -> Result<BoxKind, Problem> {
    BoxKind::parse(v.get_ref()).ok_or_else(|| {
        (
            v.span(),
            format!(
                "box {:?} is not a box: write \"inbox\" or \"outbox\"",
                v.get_ref()
            ),
        )
    })
}

fn dir_path(v: &Spanned<String>, resolve: &dyn Fn(&str) -> PathBuf) -> Result<String, Problem> {
    let s = v.get_ref();
    if s.trim().is_empty() {
        return Err((v.span(), "dir is empty".into()));
    }
    let rest = s.replace(TENANT_PLACEHOLDER, "");
    if rest.contains(['{', '}']) {
        return Err((
            v.span(),
            format!("dir {s:?}: the only placeholder is {TENANT_PLACEHOLDER}"),
        ));
    }
    Ok(resolve(s).display().to_string())
}

fn duration_in(
    v: &Option<Spanned<Quantity>>,
    default: Duration,
    range: (Duration, Duration),
    name: &str,
) -> Result<Duration, Problem> {
    let Some(v) = v else { return Ok(default) };
    let d = parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("{name}: {e}")))?;
    if d < range.0 || d > range.1 {
        return Err((
            v.span(),
            format!(
                "{name} must be between {} and {}",
                super::units::format_duration(range.0),
                super::units::format_duration(range.1)
            ),
        ));
    }
    Ok(d)
}

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);

impl RawRoute {
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
        if src.sftp.is_none()
            && let Some(span) = src.stray_remote_key()
        {
            return Err((
                span,
                format!(
                    "route {name}: user, key, host_key, path and timeout belong to an sftp end"
                ),
            ));
        }
        let source = match (&src.bx, &src.dir) {
            _ if src.sftp.is_some() => {
                if src.bx.is_some() || src.dir.is_some() {
                    return Err((
                        self.source.span(),
                        format!("route {name}: source needs exactly one of box, dir or sftp"),
                    ));
                }
                if let Some(t) = &src.trigger_suffix {
                    return Err((
                        t.span(),
                        "trigger_suffix belongs to a destination; a source waits for ready_suffix"
                            .into(),
                    ));
                }
                Source::Sftp {
                    remote: Box::new(src.remote(self.source.span(), &name, resolve)?),
                    ready_suffix: suffix(&src.ready_suffix, "ready_suffix")?,
                    settle: duration_in(
                        &src.settle,
                        Duration::from_secs(2),
                        (Duration::from_millis(100), Duration::from_secs(3600)),
                        "source.settle",
                    )?,
                }
            }
            (Some(b), None) => {
                if let Some(x) = src.ready_suffix.as_ref().or(src.trigger_suffix.as_ref()) {
                    return Err((x.span(), "a box source takes no suffix".into()));
                }
                Source::Box { bx: boxed(b)? }
            }
            (None, Some(d)) => {
                if let Some(t) = &src.trigger_suffix {
                    return Err((
                        t.span(),
                        "trigger_suffix belongs to a destination; a source directory waits for ready_suffix".into(),
                    ));
                }
                Source::Dir {
                    path: dir_path(d, resolve)?,
                    ready_suffix: suffix(&src.ready_suffix, "ready_suffix")?,
                    settle: duration_in(
                        &src.settle,
                        Duration::from_secs(2),
                        (Duration::from_millis(100), Duration::from_secs(3600)),
                        "source.settle",
                    )?,
                }
            }
            _ => {
                return Err((
                    self.source.span(),
                    format!(
                        "route {name}: source needs exactly one of box = \"inbox\"|\"outbox\" or dir = \"PATH\""
                    ),
                ));
            }
        };
        let dst = self.destination.get_ref();
        if let Some(x) = dst.ready_suffix.as_ref() {
            return Err((
                x.span(),
                "ready_suffix belongs to a source directory".into(),
            ));
        }
        if let Some(x) = dst.pattern.as_ref() {
            return Err((
                x.span(),
                "pattern belongs to the source: it chooses which files the route takes".into(),
            ));
        }
        if let Some(x) = dst.settle.as_ref() {
            return Err((x.span(), "settle belongs to a source directory".into()));
        }
        if dst.sftp.is_none()
            && let Some(span) = dst.stray_remote_key()
        {
            return Err((
                span,
                format!(
                    "route {name}: user, key, host_key, path and timeout belong to an sftp end"
                ),
            ));
        }
        let destination = match (&dst.bx, &dst.dir) {
            _ if dst.sftp.is_some() => {
                if dst.bx.is_some() || dst.dir.is_some() {
                    return Err((
                        self.destination.span(),
                        format!("route {name}: destination needs exactly one of box, dir or sftp"),
                    ));
                }
                Destination::Sftp {
                    remote: Box::new(dst.remote(self.destination.span(), &name, resolve)?),
                    trigger_suffix: suffix(&dst.trigger_suffix, "trigger_suffix")?,
                }
            }
            (Some(b), None) => {
                if let Some(t) = &dst.trigger_suffix {
                    return Err((t.span(), "a box destination takes no trigger_suffix".into()));
                }
                Destination::Box { bx: boxed(b)? }
            }
            (None, Some(d)) => Destination::Dir {
                path: dir_path(d, resolve)?,
                trigger_suffix: suffix(&dst.trigger_suffix, "trigger_suffix")?,
            },
            _ => {
                return Err((
                    self.destination.span(),
                    format!(
                        "route {name}: destination needs exactly one of box = \"inbox\"|\"outbox\" or dir = \"PATH\""
                    ),
                ));
            }
        };
        if matches!(source, Source::Box { .. }) && matches!(destination, Destination::Box { .. }) {
            return Err((
                self.destination.span(),
                format!("route {name}: box to box is not a hand-off; use a directory at one end"),
            ));
        }
        if matches!(source, Source::Dir { .. }) && matches!(destination, Destination::Dir { .. }) {
            return Err((
                self.destination.span(),
                format!(
                    "route {name}: directory to directory would not pass through renkei (no encryption, journal or audit); one end must be a box"
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
        let codes = match &self.tenants {
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
        };
        // One directory for several tenants would mix municipalities'
        // files: each needs its own, named by {tenant}.
        let shared_dir = [
            match &source {
                Source::Dir { path, .. } => Some(path),
                Source::Sftp { remote, .. } => Some(&remote.path),
                Source::Box { .. } => None,
            },
            match &destination {
                Destination::Dir { path, .. } => Some(path),
                Destination::Sftp { remote, .. } => Some(&remote.path),
                Destination::Box { .. } => None,
            },
        ]
        .into_iter()
        .flatten()
        .find(|p| !p.contains(TENANT_PLACEHOLDER));
        if let Some(p) = shared_dir
            && codes.len() != 1
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
                    codes.len()
                ),
            ));
        }
        let trigger = match (&self.schedule, &self.every) {
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
        };
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
        let rescan = duration_in(
            &self.rescan,
            Duration::from_secs(30),
            (Duration::from_millis(100), DAY),
            "rescan",
        )?;
        let expect = match &self.expect {
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
        };
        Ok(Route {
            expect,
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

    pub(super) fn name_span(&self) -> std::ops::Range<usize> {
        self.name.span()
    }

    pub(super) fn name(&self) -> &str {
        self.name.get_ref()
    }
}
