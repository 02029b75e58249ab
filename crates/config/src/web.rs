//! `[web]` and web logins: the HTTPS front door's listeners, certificate,
//! limits and the people who log in through it.
//!
//! Three kinds of people use the browser. 窓口 staff and segment users are
//! accounts like any other (`[[tenant.account]]`, `[[segment.account]]`)
//! that carry a web login. Auditors and operators are not SSH users at
//! all: they are `[[web.user]]` entries, each with a role. A web login is
//! a password stored as an argon2id hash (never the password), optionally
//! with a TOTP secret, and/or a TLS client certificate pinned by its
//! SHA-256 fingerprint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use renkei_model::lgcode::TenantCode;
use renkei_model::units::{Quantity, parse_size};
use serde::Deserialize;
use toml::Spanned;

use crate::route_ends::{Problem, count_in, duration_in, size_above_zero};

/// Shortest TOTP secret accepted (RFC 4226 recommends 160 bits).
pub const TOTP_MIN_BYTES: usize = 16;

/// How one person proves who they are in the browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebLogin {
    /// PHC string of an argon2id hash (`renkei passwd` makes one).
    pub password: Option<String>,
    /// RFC 6238 shared secret (decoded from base32); asked after the
    /// password when present.
    pub totp: Option<Vec<u8>>,
    /// SHA-256 of the DER certificate the browser must present, lowercase
    /// hex; with no password, the certificate alone logs in.
    pub client_cert: Option<String>,
}

impl WebLogin {
    pub fn is_empty(&self) -> bool {
        self.password.is_none() && self.client_cert.is_none()
    }
}

/// The written form of a web login, shared by accounts and web users
/// (whose tables hold these three keys next to their own).
pub(crate) struct RawWebLogin<'a> {
    /// The keys' prefix, for messages: `web` or `ftps`.
    pub prefix: &'static str,
    pub web_password: Option<&'a Spanned<String>>,
    pub web_totp: Option<&'a Spanned<String>>,
    pub web_client_cert: Option<&'a Spanned<String>>,
}

impl RawWebLogin<'_> {
    pub(crate) fn resolve(&self, who: &str) -> Result<Option<WebLogin>, Problem> {
        let password = match &self.web_password {
            None => None,
            Some(p) => {
                let text = p.get_ref();
                if !is_argon2id_phc(text) {
                    return Err((
                        p.span(),
                        format!(
                            "{who}: {}_password must be an argon2id hash (\"$argon2id$v=19$m=…\"), made by `renkei passwd {}`; a plain password is never written in the configuration",
                            self.prefix,
                            who.rsplit(' ').next().unwrap_or("USER")
                        ),
                    ));
                }
                Some(text.clone())
            }
        };
        let totp = match &self.web_totp {
            None => None,
            Some(t) => {
                let cleaned: String = t
                    .get_ref()
                    .chars()
                    .filter(|c| !c.is_whitespace() && *c != '=')
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                let secret = data_encoding::BASE32_NOPAD
                    .decode(cleaned.as_bytes())
                    .map_err(|_| {
                        (
                            t.span(),
                            format!("{who}: web_totp is not base32 (A–Z, 2–7)"),
                        )
                    })?;
                if secret.len() < TOTP_MIN_BYTES {
                    return Err((
                        t.span(),
                        format!(
                            "{who}: web_totp is {} bits; use at least {} (`renkei passwd --totp` makes one)",
                            secret.len() * 8,
                            TOTP_MIN_BYTES * 8
                        ),
                    ));
                }
                Some(secret)
            }
        };
        if totp.is_some() && password.is_none() {
            let span = self.web_totp.map(Spanned::span).unwrap_or(0..0);
            return Err((
                span,
                format!("{who}: web_totp is a second factor and needs web_password"),
            ));
        }
        let client_cert = match &self.web_client_cert {
            None => None,
            Some(c) => Some(fingerprint(c.get_ref()).ok_or_else(|| {
                (
                    c.span(),
                    format!("{who}: {}_client_cert must be the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed (`openssl x509 -noout -fingerprint -sha256 -in CERT`)", self.prefix),
                )
            })?),
        };
        let login = WebLogin {
            password,
            totp,
            client_cert,
        };
        Ok((!login.is_empty()).then_some(login))
    }
}

/// Lowercase hex of a SHA-256 fingerprint written with or without colons
/// and an optional `SHA256:` / `sha256 Fingerprint=` prefix.
pub fn fingerprint(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t.rsplit('=').next().unwrap_or(t);
    let t = t.strip_prefix("SHA256:").unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

fn is_argon2id_phc(s: &str) -> bool {
    let parts: Vec<&str> = s.split('$').collect();
    // "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
    parts.len() == 6
        && parts[0].is_empty()
        && parts[1] == "argon2id"
        && parts[2].starts_with("v=")
        && parts[3].contains("m=")
        && parts[4].len() >= 11
        && parts[5].len() >= 22
}

/// What a `[[web.user]]` may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRole {
    /// Reads the audit trail (of `tenants`, or all): never changes anything.
    Auditor,
    /// Sees the daemon's state and takes the actions `renkei ctl` has.
    Operator,
}

impl WebRole {
    pub fn name(self) -> &'static str {
        match self {
            WebRole::Auditor => "auditor",
            WebRole::Operator => "operator",
        }
    }
}

/// A person who uses only the browser: an auditor or an operator.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user: String,
    pub role: WebRole,
    /// The municipalities an auditor sees; `None`: all (and the segments).
    pub tenants: Option<Vec<TenantCode>>,
    /// Where they may log in from.
    pub networks: Vec<IpNet>,
    pub login: WebLogin,
}

/// Named limits of the HTTPS front door.
#[derive(Debug, Clone)]
pub struct WebLimits {
    /// Browser sessions held at once, for the daemon.
    pub max_sessions: usize,
    /// Sessions one person may hold at once.
    pub max_sessions_per_user: usize,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_absolute: Duration,
    /// Uploads through the browser at once, for the daemon.
    pub max_uploads: usize,
    /// Largest file one browser upload may carry.
    pub max_upload_size: u64,
    /// Largest request body other than an upload (forms).
    pub max_form_size: u64,
    /// Time a client has to send a request's headers (and to finish TLS).
    pub header_timeout: Duration,
    /// HTTPS connections open at once, for the daemon.
    pub max_connections: usize,
    /// HTTPS connections open at once from one address.
    pub max_connections_per_source: usize,
}

impl Default for WebLimits {
    fn default() -> Self {
        WebLimits {
            max_sessions: 1024,
            max_sessions_per_user: 8,
            session_idle: Duration::from_secs(15 * 60),
            session_absolute: Duration::from_secs(8 * 3600),
            max_uploads: 16,
            max_upload_size: 16 * 1024 * 1024 * 1024,
            max_form_size: 64 * 1024,
            header_timeout: Duration::from_secs(20),
            max_connections: 512,
            max_connections_per_source: 32,
        }
    }
}

/// `[web]`: where the browser is served and with which certificate.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Listeners for municipal staff, auditors and operators (segment
    /// users are served on their segment's `web_listen`).
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain and key, read at start and on reload.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub users: Vec<WebUser>,
    pub limits: WebLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    pub tls_cert: Spanned<String>,
    pub tls_key: Spanned<String>,
    #[serde(default)]
    pub user: Vec<RawWebUser>,
    pub max_sessions: Option<Spanned<i64>>,
    pub max_sessions_per_user: Option<Spanned<i64>>,
    pub session_idle: Option<Spanned<Quantity>>,
    pub session_absolute: Option<Spanned<Quantity>>,
    pub max_uploads: Option<Spanned<i64>>,
    pub max_form_size: Option<Spanned<Quantity>>,
    pub max_upload_size: Option<Spanned<Quantity>>,
    pub header_timeout: Option<Spanned<Quantity>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_connections_per_source: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebUser {
    pub user: Spanned<String>,
    pub role: Spanned<String>,
    pub tenants: Option<Vec<Spanned<String>>>,
    pub networks: Vec<Spanned<String>>,
    pub web_password: Option<Spanned<String>>,
    pub web_totp: Option<Spanned<String>>,
    pub web_client_cert: Option<Spanned<String>>,
}

impl RawWeb {
    pub(crate) fn limits(&self) -> Result<WebLimits, Problem> {
        let d = WebLimits::default();
        let max_form_size = match &self.max_form_size {
            None => d.max_form_size,
            Some(v) => {
                let n = parse_size(v.get_ref())
                    .map_err(|e| (v.span(), format!("web.max_form_size: {e}")))?;
                if !(1024..=16 * 1024 * 1024).contains(&n) {
                    return Err((
                        v.span(),
                        "web.max_form_size must be between 1KiB and 16MiB".into(),
                    ));
                }
                n
            }
        };
        let max_upload_size = size_above_zero(
            &self.max_upload_size,
            d.max_upload_size,
            "web.max_upload_size",
        )?;
        let session_idle = duration_in(
            &self.session_idle,
            d.session_idle,
            (Duration::from_secs(60), Duration::from_secs(24 * 3600)),
            "web.session_idle",
        )?;
        let session_absolute = duration_in(
            &self.session_absolute,
            d.session_absolute,
            (Duration::from_secs(60), Duration::from_secs(7 * 24 * 3600)),
            "web.session_absolute",
        )?;
        if session_absolute < session_idle {
            let span = self
                .session_absolute
                .as_ref()
                .or(self.session_idle.as_ref())
                .map(Spanned::span)
                .unwrap_or(0..0);
            return Err((
                span,
                "web.session_absolute must not be shorter than web.session_idle".into(),
            ));
        }
        Ok(WebLimits {
            max_sessions: count_in(
                &self.max_sessions,
                d.max_sessions,
                100_000,
                "web.max_sessions",
            )?,
            max_sessions_per_user: count_in(
                &self.max_sessions_per_user,
                d.max_sessions_per_user,
                1000,
                "web.max_sessions_per_user",
            )?,
            session_idle,
            session_absolute,
            max_uploads: count_in(&self.max_uploads, d.max_uploads, 10_000, "web.max_uploads")?,
            max_form_size,
            max_upload_size,
            header_timeout: duration_in(
                &self.header_timeout,
                d.header_timeout,
                (Duration::from_secs(1), Duration::from_secs(600)),
                "web.header_timeout",
            )?,
            max_connections: count_in(
                &self.max_connections,
                d.max_connections,
                100_000,
                "web.max_connections",
            )?,
            max_connections_per_source: count_in(
                &self.max_connections_per_source,
                d.max_connections_per_source,
                10_000,
                "web.max_connections_per_source",
            )?,
        })
    }
}

impl RawWebUser {
    pub(crate) fn login(&self) -> RawWebLogin<'_> {
        RawWebLogin {
            prefix: "web",
            web_password: self.web_password.as_ref(),
            web_totp: self.web_totp.as_ref(),
            web_client_cert: self.web_client_cert.as_ref(),
        }
    }

    pub(crate) fn role(&self) -> Result<WebRole, Problem> {
        match self.role.get_ref().as_str() {
            "auditor" => Ok(WebRole::Auditor),
            "operator" => Ok(WebRole::Operator),
            other => Err((
                self.role.span(),
                format!(
                    "web user {}: role {other:?}: use \"auditor\" or \"operator\"",
                    self.user.get_ref()
                ),
            )),
        }
    }
}
