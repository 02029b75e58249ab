//! `[[notify]]`: where the operator is told of what needs them — a
//! webhook (an HTTPS POST of a JSON body, signed with HMAC-SHA256) or mail
//! over SMTP (STARTTLS or TLS only). Which events go to a channel is
//! listed per channel, with a default set of the ones an operator must act
//! on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use renkei_model::event_names::{EVENTS, is_event};
use renkei_model::units::Quantity;

use crate::route_ends::{Problem, duration_in};

/// Events a channel gets when it lists none: what needs the operator.
pub const DEFAULT_EVENTS: &[&str] = &[
    "handoff_failed",
    "expected_file_missing",
    "import_failed",
    "file_quarantined",
    "file_rejected",
    "scan_unavailable",
    "banned",
    "lane_sent",
    "audit_records_lost",
    "reload_failed",
    "disk_space_low",
];

/// Shortest webhook secret accepted.
pub const MIN_SECRET: usize = 16;

#[derive(Debug, Clone)]
pub struct Webhook {
    /// `https://host[:port]/path`, as written.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    /// The HMAC-SHA256 key (from `secret_file`).
    pub secret: Vec<u8>,
    /// PEM CA certificates to trust; default the system's
    /// (`/etc/ssl/certs/ca-certificates.crt`).
    pub ca_file: Option<PathBuf>,
}

/// How a mail channel protects its connection; sending in clear is not
/// offered (the body names files and municipalities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Connect in clear, then `STARTTLS` (required: a server that does not
    /// offer it gets nothing). Port 587 by default.
    StartTls,
    /// TLS from the first byte (SMTPS). Port 465 by default.
    Tls,
}

#[derive(Debug, Clone)]
pub struct Mail {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `AUTH` user and password (from `smtp_password_file`), sent only
    /// inside TLS.
    pub login: Option<(String, String)>,
    pub from: String,
    pub to: Vec<String>,
    pub ca_file: Option<PathBuf>,
}

/// Where a channel's notifications go.
#[derive(Debug, Clone)]
pub enum Destination {
    Webhook(Webhook),
    Mail(Mail),
}

#[derive(Debug, Clone)]
pub struct NotifyChannel {
    pub name: String,
    pub to: Destination,
    pub events: Vec<String>,
    /// Per attempt: connecting, TLS, sending, the answer.
    pub timeout: Duration,
    /// Attempts in all (backing off 1 s, 2 s, 4 s… up to 60 s between).
    pub attempts: u32,
    /// `file:line`, for messages.
    pub at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    name: Spanned<String>,
    webhook: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
    smtp: Option<Spanned<String>>,
    smtp_tls: Option<Spanned<String>>,
    smtp_user: Option<Spanned<String>>,
    smtp_password_file: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Vec<Spanned<String>>>,
    ca_file: Option<Spanned<String>>,
    events: Option<Vec<Spanned<String>>>,
    timeout: Option<Spanned<Quantity>>,
    attempts: Option<Spanned<i64>>,
}

/// `host[:port]` (an IPv6 address in brackets).
fn split_host(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || (h.starts_with('[') && h.ends_with(']')) => {
            (h, p.parse().ok()?)
        }
        _ => (authority, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/'))
        .then(|| (host.to_string(), port))
}

fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = split_host(authority, 443)?;
    (!path.contains(char::is_whitespace)).then_some((host, port, path))
}

impl RawNotify {
    pub(crate) fn name_start(&self) -> usize {
        self.name.span().start
    }

    fn webhook(
        &self,
        name: &str,
        url_at: &Spanned<String>,
        resolve_path: &dyn Fn(&str) -> PathBuf,
        ca_file: Option<PathBuf>,
    ) -> Result<Webhook, Problem> {
        if let Some(k) = self.mail_keys().into_iter().next() {
            return Err((
                k,
                format!("notify {name}: a webhook channel takes no mail keys (smtp_*, from, to)"),
            ));
        }
        let url = url_at.get_ref().clone();
        let (host, port, path) = split_url(&url).ok_or_else(|| {
            (
                url_at.span(),
                format!("notify {name}: webhook {url:?} is not an https:// address (https://host[:port]/path); plain http is not sent"),
            )
        })?;
        let secret_at = self.secret_file.as_ref().ok_or_else(|| {
            (
                url_at.span(),
                format!("notify {name}: a webhook needs secret_file (the HMAC-SHA256 key)"),
            )
        })?;
        let secret_path = resolve_path(secret_at.get_ref());
        let secret = std::fs::read(&secret_path).map_err(|e| {
            (
                secret_at.span(),
                format!(
                    "notify {name}: cannot read secret_file {}: {e}",
                    secret_path.display()
                ),
            )
        })?;
        let secret: Vec<u8> = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.len() < MIN_SECRET {
            return Err((
                secret_at.span(),
                format!(
                    "notify {name}: the secret in {} is {} bytes; use at least {MIN_SECRET} (e.g. `head -c 32 /dev/urandom | base64`)",
                    secret_path.display(),
                    secret.len()
                ),
            ));
        }
        Ok(Webhook {
            url,
            host,
            port,
            path,
            secret,
            ca_file,
        })
    }

    /// Spans of the mail-only keys given.
    fn mail_keys(&self) -> Vec<std::ops::Range<usize>> {
        [
            &self.smtp_tls,
            &self.smtp_user,
            &self.smtp_password_file,
            &self.from,
        ]
        .into_iter()
        .flatten()
        .map(|k| k.span())
        .chain(self.to.iter().flatten().map(|k| k.span()))
        .collect()
    }

    fn mail(
        &self,
        name: &str,
        smtp: &Spanned<String>,
        resolve_path: &dyn Fn(&str) -> PathBuf,
        ca_file: Option<PathBuf>,
    ) -> Result<Mail, Problem> {
        if let Some(s) = &self.secret_file {
            return Err((
                s.span(),
                format!("notify {name}: secret_file is for webhooks; mail is protected by TLS"),
            ));
        }
        let tls = match self.smtp_tls.as_ref().map(|t| (t, t.get_ref().as_str())) {
            None | Some((_, "starttls")) => SmtpTls::StartTls,
            Some((_, "tls")) => SmtpTls::Tls,
            Some((t, other)) => {
                return Err((
                    t.span(),
                    format!(
                        "notify {name}: smtp_tls {other:?} is not \"starttls\" or \"tls\"; mail is never sent in clear"
                    ),
                ));
            }
        };
        let default_port = match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let (host, port) = split_host(smtp.get_ref(), default_port).ok_or_else(|| {
            (
                smtp.span(),
                format!(
                    "notify {name}: smtp {:?} is not host[:port]",
                    smtp.get_ref()
                ),
            )
        })?;
        let login = match (&self.smtp_user, &self.smtp_password_file) {
            (None, None) => None,
            (Some(u), Some(p)) => {
                let path = resolve_path(p.get_ref());
                let password = std::fs::read_to_string(&path).map_err(|e| {
                    (
                        p.span(),
                        format!(
                            "notify {name}: cannot read smtp_password_file {}: {e}",
                            path.display()
                        ),
                    )
                })?;
                Some((u.get_ref().clone(), password.trim().to_string()))
            }
            (Some(u), None) => {
                return Err((
                    u.span(),
                    format!("notify {name}: smtp_user needs smtp_password_file"),
                ));
            }
            (None, Some(p)) => {
                return Err((
                    p.span(),
                    format!("notify {name}: smtp_password_file needs smtp_user"),
                ));
            }
        };
        let address = |a: &Spanned<String>| {
            let v = a.get_ref();
            let ok = v.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty()
                    && !d.is_empty()
                    && !v.contains(|c: char| c.is_whitespace() || "<>,;\"".contains(c))
            });
            if ok {
                Ok(v.clone())
            } else {
                Err((
                    a.span(),
                    format!("notify {name}: {v:?} is not a mail address (user@host)"),
                ))
            }
        };
        let from = match &self.from {
            Some(f) => address(f)?,
            None => {
                return Err((
                    smtp.span(),
                    format!("notify {name}: mail needs from = \"renkei@…\""),
                ));
            }
        };
        let to = match &self.to {
            Some(list) if !list.is_empty() => {
                list.iter().map(address).collect::<Result<Vec<_>, _>>()?
            }
            _ => {
                return Err((
                    smtp.span(),
                    format!("notify {name}: mail needs to = [\"…\"] (at least one address)"),
                ));
            }
        };
        Ok(Mail {
            host,
            port,
            tls,
            login,
            from,
            to,
            ca_file,
        })
    }

    pub(crate) fn resolve(
        &self,
        resolve_path: &dyn Fn(&str) -> PathBuf,
        at: String,
    ) -> Result<NotifyChannel, Problem> {
        let name = self.name.get_ref().clone();
        let ca_file = self.ca_file.as_ref().map(|c| resolve_path(c.get_ref()));
        if let (Some(c), Some(p)) = (&self.ca_file, &ca_file)
            && !p.is_file()
        {
            return Err((
                c.span(),
                format!("notify {name}: ca_file {} does not exist", p.display()),
            ));
        }
        let to = match (&self.webhook, &self.smtp) {
            (Some(url), None) => {
                Destination::Webhook(self.webhook(&name, url, resolve_path, ca_file)?)
            }
            (None, Some(smtp)) => {
                Destination::Mail(self.mail(&name, smtp, resolve_path, ca_file)?)
            }
            (Some(url), Some(_)) => {
                return Err((
                    url.span(),
                    format!(
                        "notify {name}: give either webhook or smtp, not both (one channel each)"
                    ),
                ));
            }
            (None, None) => {
                return Err((
                    self.name.span(),
                    format!(
                        "notify {name}: give webhook = \"https://…\" or smtp = \"host[:port]\""
                    ),
                ));
            }
        };
        let events = match &self.events {
            None => DEFAULT_EVENTS.iter().map(ToString::to_string).collect(),
            Some(list) if list.is_empty() => {
                return Err((
                    self.name.span(),
                    format!("notify {name}: events is empty; leave it out for the default set"),
                ));
            }
            Some(list) => {
                let mut out = Vec::new();
                for e in list {
                    if !is_event(e.get_ref()) {
                        return Err((
                            e.span(),
                            format!(
                                "notify {name}: {:?} is not an event renkei records; the names are listed in docs/audit.md{}",
                                e.get_ref(),
                                closest_event(e.get_ref())
                                    .map(|c| format!(" (did you mean {c:?}?)"))
                                    .unwrap_or_default()
                            ),
                        ));
                    }
                    out.push(e.get_ref().clone());
                }
                out
            }
        };
        let timeout = duration_in(
            &self.timeout,
            Duration::from_secs(10),
            (Duration::from_secs(1), Duration::from_secs(120)),
            "notify.timeout",
        )?;
        let attempts = match &self.attempts {
            None => 5,
            Some(a) if (1..=100).contains(a.get_ref()) => *a.get_ref() as u32,
            Some(a) => {
                return Err((
                    a.span(),
                    format!("notify {name}: attempts must be between 1 and 100"),
                ));
            }
        };
        Ok(NotifyChannel {
            name,
            to,
            events,
            timeout,
            attempts,
            at,
        })
    }
}

/// The event name nearest a misspelt one (sharing the most leading and
/// trailing characters), if any is close.
fn closest_event(wrong: &str) -> Option<&'static str> {
    let shared = |a: &str, b: &str| {
        let front = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
        let back = a
            .bytes()
            .rev()
            .zip(b.bytes().rev())
            .take_while(|(x, y)| x == y)
            .count();
        front + back
    };
    EVENTS
        .iter()
        .map(|(n, _)| (shared(wrong, n), *n))
        .filter(|(score, n)| *score * 2 >= n.len())
        .max_by_key(|(score, _)| *score)
        .map(|(_, n)| n)
}

/// The system's CA bundle on Debian.
pub fn system_roots() -> &'static Path {
    Path::new("/etc/ssl/certs/ca-certificates.crt")
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn webhook_addresses() {
        assert_eq!(
            split_url("https://h.example/x"),
            Some(("h.example".into(), 443, "/x".into()))
        );
        assert_eq!(
            split_url("https://10.1.0.9:8443/hook?a=1"),
            Some(("10.1.0.9".into(), 8443, "/hook?a=1".into()))
        );
        assert_eq!(
            split_url("https://[::1]:9000/"),
            Some(("::1".into(), 9000, "/".into()))
        );
        assert_eq!(split_url("http://h/x"), None);
    }
}
