//! `[[notify]]`: where the operator is told of what needs them — a
//! webhook (an HTTPS POST of a JSON body, signed with HMAC-SHA256) for now.
//! Which events go to a channel is listed per channel, with a default set
//! of the ones an operator must act on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

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

#[derive(Debug, Clone)]
pub struct NotifyChannel {
    pub name: String,
    pub webhook: Webhook,
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
    webhook: Spanned<String>,
    secret_file: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    events: Option<Vec<Spanned<String>>>,
    timeout: Option<Spanned<Quantity>>,
    attempts: Option<Spanned<i64>>,
}

fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !path.contains(char::is_whitespace))
        .then(|| (host.to_string(), port, path))
}

impl RawNotify {
    pub(crate) fn name_start(&self) -> usize {
        self.name.span().start
    }

    pub(crate) fn resolve(
        &self,
        resolve_path: &dyn Fn(&str) -> PathBuf,
        at: String,
    ) -> Result<NotifyChannel, Problem> {
        let name = self.name.get_ref().clone();
        let url = self.webhook.get_ref().clone();
        let (host, port, path) = split_url(&url).ok_or_else(|| {
            (
                self.webhook.span(),
                format!("notify {name}: webhook {url:?} is not an https:// address (https://host[:port]/path); plain http is not sent"),
            )
        })?;
        let secret_path = resolve_path(self.secret_file.get_ref());
        let secret = std::fs::read(&secret_path).map_err(|e| {
            (
                self.secret_file.span(),
                format!(
                    "notify {name}: cannot read secret_file {}: {e}",
                    secret_path.display()
                ),
            )
        })?;
        let secret: Vec<u8> = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.len() < MIN_SECRET {
            return Err((
                self.secret_file.span(),
                format!(
                    "notify {name}: the secret in {} is {} bytes; use at least {MIN_SECRET} (e.g. `head -c 32 /dev/urandom | base64`)",
                    secret_path.display(),
                    secret.len()
                ),
            ));
        }
        let ca_file = self.ca_file.as_ref().map(|c| resolve_path(c.get_ref()));
        if let (Some(c), Some(p)) = (&self.ca_file, &ca_file)
            && !p.is_file()
        {
            return Err((
                c.span(),
                format!("notify {name}: ca_file {} does not exist", p.display()),
            ));
        }
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
                    let ok = !e.get_ref().is_empty()
                        && e.get_ref()
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_');
                    if !ok {
                        return Err((
                            e.span(),
                            format!(
                                "notify {name}: {:?} is not an event name (docs/audit.md)",
                                e.get_ref()
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
            webhook: Webhook {
                url,
                host,
                port,
                path,
                secret,
                ca_file,
            },
            events,
            timeout,
            attempts,
            at,
        })
    }
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
