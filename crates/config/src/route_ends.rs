//! The two ends of a `[[route]]`: where files come from (`source`) and go
//! (`destination`) — a tenant box, a local directory, or a remote SFTP
//! server — and how each is validated.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use renkei_model::boxes::BoxKind;
use renkei_model::units::{Quantity, parse_duration};

/// The placeholder for the tenant code in directory paths.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

pub(super) type Problem = (std::ops::Range<usize>, String);

/// A remote SFTP server a route talks to (the standard system's, or a
/// municipality's own linkage server).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteEnd {
    /// `host:port`.
    pub addr: String,
    pub user: String,
    /// renkei's private key for this server (OpenSSH format).
    pub key: PathBuf,
    /// The server's host key, pinned: anything else is refused.
    pub host_key: crate::keys::AuthorizedKey,
    /// Directory on the server, `{tenant}` = the code.
    pub path: String,
    /// Connecting, logging in and each request must finish within this.
    pub timeout: Duration,
}

/// Where a route takes files from.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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
pub(super) struct RawEnd {
    #[serde(rename = "box")]
    bx: Option<Spanned<String>>,
    dir: Option<Spanned<String>>,
    pub(super) pattern: Option<Spanned<String>>,
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
        let host_key = match crate::keys::parse_line(host.get_ref()) {
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

    /// Refuses keys that belong only to sftp ends on another kind of end.
    fn no_stray_remote_keys(&self, name: &str) -> Result<(), Problem> {
        match self.stray_remote_key() {
            Some(span) if self.sftp.is_none() => Err((
                span,
                format!(
                    "route {name}: user, key, host_key, path and timeout belong to an sftp end"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The first key that belongs only to sftp ends, if set.
    fn stray_remote_key(&self) -> Option<std::ops::Range<usize>> {
        [&self.user, &self.key, &self.host_key, &self.path]
            .into_iter()
            .flatten()
            .map(Spanned::span)
            .next()
            .or_else(|| self.timeout.as_ref().map(Spanned::span))
    }
}

impl RawEnd {
    /// This end as a route's source.
    pub(super) fn source(
        &self,
        span: std::ops::Range<usize>,
        name: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
    ) -> Result<Source, Problem> {
        self.no_stray_remote_keys(name)?;
        let source = match (&self.bx, &self.dir) {
            _ if self.sftp.is_some() => {
                if self.bx.is_some() || self.dir.is_some() {
                    return Err((
                        span.clone(),
                        format!("route {name}: source needs exactly one of box, dir or sftp"),
                    ));
                }
                if let Some(t) = &self.trigger_suffix {
                    return Err((
                        t.span(),
                        "trigger_suffix belongs to a destination; a source waits for ready_suffix"
                            .into(),
                    ));
                }
                Source::Sftp {
                    remote: Box::new(self.remote(span.clone(), name, resolve)?),
                    ready_suffix: suffix(&self.ready_suffix, "ready_suffix")?,
                    settle: duration_in(
                        &self.settle,
                        Duration::from_secs(2),
                        (Duration::from_millis(100), Duration::from_secs(3600)),
                        "source.settle",
                    )?,
                }
            }
            (Some(b), None) => {
                if let Some(x) = self.ready_suffix.as_ref().or(self.trigger_suffix.as_ref()) {
                    return Err((x.span(), "a box source takes no suffix".into()));
                }
                Source::Box { bx: boxed(b)? }
            }
            (None, Some(d)) => {
                if let Some(t) = &self.trigger_suffix {
                    return Err((
                        t.span(),
                        "trigger_suffix belongs to a destination; a source directory waits for ready_suffix".into(),
                    ));
                }
                Source::Dir {
                    path: dir_path(d, resolve)?,
                    ready_suffix: suffix(&self.ready_suffix, "ready_suffix")?,
                    settle: duration_in(
                        &self.settle,
                        Duration::from_secs(2),
                        (Duration::from_millis(100), Duration::from_secs(3600)),
                        "source.settle",
                    )?,
                }
            }
            _ => {
                return Err((
                    span.clone(),
                    format!(
                        "route {name}: source needs exactly one of box = \"inbox\"|\"outbox\" or dir = \"PATH\""
                    ),
                ));
            }
        };
        Ok(source)
    }

    /// This end as a route's destination.
    pub(super) fn destination(
        &self,
        span: std::ops::Range<usize>,
        name: &str,
        resolve: &dyn Fn(&str) -> PathBuf,
    ) -> Result<Destination, Problem> {
        if let Some(x) = self.ready_suffix.as_ref() {
            return Err((
                x.span(),
                "ready_suffix belongs to a source directory".into(),
            ));
        }
        if let Some(x) = self.pattern.as_ref() {
            return Err((
                x.span(),
                "pattern belongs to the source: it chooses which files the route takes".into(),
            ));
        }
        if let Some(x) = self.settle.as_ref() {
            return Err((x.span(), "settle belongs to a source directory".into()));
        }
        self.no_stray_remote_keys(name)?;
        let destination = match (&self.bx, &self.dir) {
            _ if self.sftp.is_some() => {
                if self.bx.is_some() || self.dir.is_some() {
                    return Err((
                        span.clone(),
                        format!("route {name}: destination needs exactly one of box, dir or sftp"),
                    ));
                }
                Destination::Sftp {
                    remote: Box::new(self.remote(span.clone(), name, resolve)?),
                    trigger_suffix: suffix(&self.trigger_suffix, "trigger_suffix")?,
                }
            }
            (Some(b), None) => {
                if let Some(t) = &self.trigger_suffix {
                    return Err((t.span(), "a box destination takes no trigger_suffix".into()));
                }
                Destination::Box { bx: boxed(b)? }
            }
            (None, Some(d)) => Destination::Dir {
                path: dir_path(d, resolve)?,
                trigger_suffix: suffix(&self.trigger_suffix, "trigger_suffix")?,
            },
            _ => {
                return Err((
                    span.clone(),
                    format!(
                        "route {name}: destination needs exactly one of box = \"inbox\"|\"outbox\" or dir = \"PATH\""
                    ),
                ));
            }
        };
        Ok(destination)
    }
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

/// A count of `1..=max`, or `default` when not written; `name` is the
/// key as the operator writes it (`web.max_sessions`).
pub(super) fn count_in(
    v: &Option<Spanned<i64>>,
    default: usize,
    max: i64,
    name: &str,
) -> Result<usize, Problem> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(n.get_ref()) => Ok(*n.get_ref() as usize),
        Some(n) => Err((n.span(), format!("{name} must be between 1 and {max}"))),
    }
}

/// A size above 0, or `default` when not written.
pub(super) fn size_above_zero(
    v: &Option<Spanned<Quantity>>,
    default: u64,
    name: &str,
) -> Result<u64, Problem> {
    let Some(v) = v else { return Ok(default) };
    let n = renkei_model::units::parse_size(v.get_ref())
        .map_err(|e| (v.span(), format!("{name}: {e}")))?;
    if n == 0 {
        return Err((v.span(), format!("{name} must be above 0")));
    }
    Ok(n)
}

pub(super) fn duration_in(
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
                renkei_model::units::format_duration(range.0),
                renkei_model::units::format_duration(range.1)
            ),
        ));
    }
    Ok(d)
}
