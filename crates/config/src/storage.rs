//! The `[storage]` table: which engines hold the journal and the files
//! (decision 0016). Absent, everything stays in `data_dir` (redb and the
//! local vault), as a single machine needs. Secrets (the database
//! password, the bucket's key) are read from owner-only files, never
//! written in the configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use renkei_model::units::{Quantity, format_duration, parse_duration};

/// Where the journal lives.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalAt {
    /// `<data_dir>/journal.redb`.
    Local,
    /// A PostgreSQL database.
    Postgres(PostgresJournal),
}

/// The journal in PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresJournal {
    /// `postgresql://user@host:port/dbname`, without a password.
    pub url: String,
    /// A file holding the password (owner-only), when the server asks
    /// for one.
    pub password_file: Option<PathBuf>,
    /// Connecting, each statement, and a wait for a read.
    pub timeout: Duration,
    /// Reader connections (the writer has one more).
    pub connections: usize,
    /// TLS: the CA file the server's certificate must chain to, and a
    /// client certificate and key when the server asks for one.
    pub tls: Option<JournalTls>,
}

/// TLS to the journal's database.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalTls {
    pub ca_file: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Where the vault's blobs live.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobsAt {
    /// `<data_dir>/vault/`.
    Local,
    /// An S3-compatible bucket.
    S3(S3Blobs),
}

/// The part of a multipart upload that an upload to S3 fills in memory
/// before sending it (the vault's `PART_SIZE`; the daemon checks they
/// agree). `limits.max_queued_requests` must leave room for two.
pub const S3_PART_SIZE: u64 = 8 << 20;

/// The last component of the prefix the audit trail's copies go under,
/// beside the blobs' (`s3://bucket/vault` → `s3://bucket/audit`).
pub const AUDIT_COPIES: &str = "audit";

/// The blobs in an S3-compatible bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Blobs {
    pub bucket: String,
    /// Key prefix inside the bucket (not empty, no leading or trailing
    /// `/`).
    pub prefix: String,
    /// `https://host:port` (or `http://` on a private network).
    pub endpoint: String,
    pub region: String,
    /// AWS-style credentials file (`aws_access_key_id`,
    /// `aws_secret_access_key`), owner-only.
    pub credentials_file: PathBuf,
    /// Each request, connecting included.
    pub timeout: Duration,
}

/// The `[storage]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    pub journal: JournalAt,
    pub blobs: BlobsAt,
}

impl StorageConfig {
    /// What is allowed but deserves the operator's attention.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let BlobsAt::S3(b) = &self.blobs
            && let Some(rest) = b.endpoint.strip_prefix("http://")
        {
            let host = rest.split(['/', ':']).next().unwrap_or("");
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                out.push(format!(
                    "storage.s3_endpoint {} is plain HTTP: the objects are age ciphertext and every request is signed, but names, sizes and the signatures travel readable; use https:// off this host",
                    b.endpoint
                ));
            }
        }
        out
    }
}

impl S3Blobs {
    /// The prefix of the audit trail's copies: beside the blobs' prefix.
    pub fn audit_prefix(&self) -> String {
        match self.prefix.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/{AUDIT_COPIES}"),
            None => AUDIT_COPIES.to_string(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            journal: JournalAt::Local,
            blobs: BlobsAt::Local,
        }
    }
}

/// Default of `s3_timeout`.
pub const DEFAULT_S3_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of `journal_timeout`.
pub const DEFAULT_JOURNAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `journal_connections`.
pub const DEFAULT_JOURNAL_CONNECTIONS: usize = 4;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    journal: Option<Spanned<String>>,
    journal_password_file: Option<Spanned<String>>,
    journal_timeout: Option<Spanned<Quantity>>,
    journal_connections: Option<Spanned<i64>>,
    journal_ca_file: Option<Spanned<String>>,
    journal_client_cert: Option<Spanned<String>>,
    journal_client_key: Option<Spanned<String>>,
    blobs: Option<Spanned<String>>,
    s3_endpoint: Option<Spanned<String>>,
    s3_region: Option<Spanned<String>>,
    s3_credentials_file: Option<Spanned<String>>,
    s3_timeout: Option<Spanned<Quantity>>,
}

type Problem = (std::ops::Range<usize>, String);

/// A duration from 1 s to `max`, `default` when absent.
fn bounded(
    v: &Option<Spanned<Quantity>>,
    default: Duration,
    max: Duration,
    name: &str,
) -> Result<Duration, Problem> {
    let Some(v) = v else { return Ok(default) };
    let d = parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("{name}: {e}")))?;
    if !(Duration::from_secs(1)..=max).contains(&d) {
        return Err((
            v.span(),
            format!(
                "{name} is {}; it must be from 1s to {}",
                format_duration(d),
                format_duration(max)
            ),
        ));
    }
    Ok(d)
}

/// Whether `url` says where a PostgreSQL database is, and holds no
/// password (secrets live in files an operator can keep owner-only).
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("postgresql://")
        .or_else(|| url.strip_prefix("postgres://"))
        .ok_or_else(|| {
            "storage.journal must be \"local\" or a postgresql://user@host:port/database URL"
                .to_string()
        })?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((user, _)) = authority.rsplit_once('@')
        && user.contains(':')
    {
        return Err(
            "storage.journal holds a password: put it in journal_password_file instead".into(),
        );
    }
    if url.contains("password=") {
        return Err(
            "storage.journal holds a password: put it in journal_password_file instead".into(),
        );
    }
    if authority.rsplit('@').next().unwrap_or("").is_empty() {
        return Err("storage.journal names no host".into());
    }
    Ok(())
}

impl RawStorage {
    pub(super) fn resolve(
        &self,
        resolve: impl Fn(&str) -> PathBuf,
    ) -> Result<StorageConfig, Problem> {
        let journal = match &self.journal {
            None => JournalAt::Local,
            Some(j) if j.get_ref() == "local" => JournalAt::Local,
            Some(j) => {
                check_url(j.get_ref()).map_err(|e| (j.span(), e))?;
                let timeout = bounded(
                    &self.journal_timeout,
                    DEFAULT_JOURNAL_TIMEOUT,
                    Duration::from_secs(300),
                    "storage.journal_timeout",
                )?;
                let connections = match &self.journal_connections {
                    None => DEFAULT_JOURNAL_CONNECTIONS,
                    Some(v) => match usize::try_from(*v.get_ref()) {
                        Ok(n) if (1..=64).contains(&n) => n,
                        _ => {
                            return Err((
                                v.span(),
                                "storage.journal_connections must be from 1 to 64".into(),
                            ));
                        }
                    },
                };
                let tls = self.tls(j, &resolve)?;
                JournalAt::Postgres(PostgresJournal {
                    tls,
                    url: j.get_ref().clone(),
                    password_file: self
                        .journal_password_file
                        .as_ref()
                        .map(|p| resolve(p.get_ref())),
                    timeout,
                    connections,
                })
            }
        };
        if matches!(journal, JournalAt::Local) {
            let set = [
                self.journal_password_file.as_ref().map(Spanned::span),
                self.journal_timeout.as_ref().map(Spanned::span),
                self.journal_connections.as_ref().map(Spanned::span),
                self.journal_ca_file.as_ref().map(Spanned::span),
                self.journal_client_cert.as_ref().map(Spanned::span),
                self.journal_client_key.as_ref().map(Spanned::span),
            ];
            if let Some(span) = set.into_iter().flatten().next() {
                return Err((
                    span,
                    "this setting is for a PostgreSQL journal; storage.journal is local".into(),
                ));
            }
        }
        let blobs = self.blobs(&resolve)?;
        Ok(StorageConfig { journal, blobs })
    }

    /// TLS when the URL's `sslmode` asks for it or a CA file is given;
    /// always verified against `journal_ca_file`.
    fn tls(
        &self,
        url: &Spanned<String>,
        resolve: &impl Fn(&str) -> PathBuf,
    ) -> Result<Option<JournalTls>, Problem> {
        let asks = [
            "sslmode=require",
            "sslmode=verify-ca",
            "sslmode=verify-full",
        ]
        .iter()
        .any(|m| url.get_ref().contains(m));
        let client = match (&self.journal_client_cert, &self.journal_client_key) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((resolve(c.get_ref()), resolve(k.get_ref()))),
            (Some(one), None) | (None, Some(one)) => {
                return Err((
                    one.span(),
                    "journal_client_cert and journal_client_key go together".into(),
                ));
            }
        };
        match &self.journal_ca_file {
            Some(ca) => Ok(Some(JournalTls {
                ca_file: resolve(ca.get_ref()),
                client,
            })),
            None if asks || client.is_some() => Err((
                url.span(),
                "TLS to the journal's database needs journal_ca_file (the CA its certificate is checked against)"
                    .into(),
            )),
            None => Ok(None),
        }
    }

    fn blobs(&self, resolve: &impl Fn(&str) -> PathBuf) -> Result<BlobsAt, Problem> {
        let Some(b) = self.blobs.as_ref().filter(|b| b.get_ref() != "local") else {
            let set = [
                self.s3_endpoint.as_ref().map(Spanned::span),
                self.s3_region.as_ref().map(Spanned::span),
                self.s3_credentials_file.as_ref().map(Spanned::span),
                self.s3_timeout.as_ref().map(Spanned::span),
            ];
            if let Some(span) = set.into_iter().flatten().next() {
                return Err((
                    span,
                    "this setting is for blobs in S3; storage.blobs is local".into(),
                ));
            }
            return Ok(BlobsAt::Local);
        };
        let Some(rest) = b.get_ref().strip_prefix("s3://") else {
            return Err((
                b.span(),
                "storage.blobs must be \"local\" or s3://bucket/prefix".into(),
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err((b.span(), "storage.blobs names no bucket".into()));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() || prefix.rsplit('/').next() == Some(AUDIT_COPIES) {
            return Err((
                b.span(),
                format!(
                    "storage.blobs needs a prefix other than {AUDIT_COPIES}/ (s3://{bucket}/vault): the audit trail's copies go beside it (s3://{bucket}/{AUDIT_COPIES}/)"
                ),
            ));
        }
        let endpoint = self.s3_endpoint.as_ref().ok_or_else(|| {
            (
                b.span(),
                "blobs in S3 need s3_endpoint (https://host:port of the service)".to_string(),
            )
        })?;
        let e = endpoint.get_ref();
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            return Err((
                endpoint.span(),
                "storage.s3_endpoint must start with https:// or http://".into(),
            ));
        }
        let credentials = self.s3_credentials_file.as_ref().ok_or_else(|| {
            (
                b.span(),
                "blobs in S3 need s3_credentials_file (aws_access_key_id and aws_secret_access_key)"
                    .to_string(),
            )
        })?;
        let timeout = bounded(
            &self.s3_timeout,
            DEFAULT_S3_TIMEOUT,
            Duration::from_secs(600),
            "storage.s3_timeout",
        )?;
        Ok(BlobsAt::S3(S3Blobs {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: e.trim_end_matches('/').to_string(),
            region: self
                .s3_region
                .as_ref()
                .map(|r| r.get_ref().clone())
                .unwrap_or_else(|| "us-east-1".to_string()),
            credentials_file: resolve(credentials.get_ref()),
            timeout,
        }))
    }
}

/// The access key id and secret in an AWS-style credentials file
/// (`aws_access_key_id = …`, `aws_secret_access_key = …`; a `[section]`
/// line is allowed), owner-only.
pub fn read_s3_credentials(path: &Path) -> Result<(String, String), String> {
    check_owner_only(path)?;
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse_s3_credentials(&text)
        .ok_or_else(|| format!("{shown} needs aws_access_key_id and aws_secret_access_key lines"))
}

/// The key id and secret of an AWS-style credentials file (`key = value`
/// lines; sections and other keys ignored), if it has both, non-empty.
pub fn parse_s3_credentials(text: &str) -> Option<(String, String)> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim() {
            "aws_access_key_id" => id = Some(v.trim().to_string()),
            "aws_secret_access_key" => secret = Some(v.trim().to_string()),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => Some((i, s)),
        _ => None,
    }
}

fn check_owner_only(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{shown} can be read by others (mode {:o}); chmod 600 it",
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(())
}

/// The password in `path`: its first line, the file owner-only.
pub fn read_password(path: &Path) -> Result<String, String> {
    check_owner_only(path)?;
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse_password(&text).ok_or_else(|| format!("{shown} is empty"))
}

/// A password file's first line, without its line ending, if not empty.
pub fn parse_password(text: &str) -> Option<String> {
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    (!line.is_empty()).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn check_names_the_engines() {
        let text = "[server]\ndata_dir = \"/d\"\n\n[storage]\njournal = \"postgresql://renkei@db:5432/renkei?sslmode=verify-full\"\njournal_ca_file = \"/etc/renkei/ca.pem\"\nblobs = \"s3://renkei/vault\"\ns3_endpoint = \"https://s3.example:3900\"\ns3_credentials_file = \"/etc/renkei/s3\"\n";
        let c = crate::Config::parse("t.toml", text, std::path::Path::new("/")).unwrap();
        let summary = c.summary();
        assert!(
            summary.contains("journal   PostgreSQL postgresql://renkei@db:5432/renkei?sslmode=verify-full (TLS, verified)"),
            "{summary}"
        );
        assert!(
            summary.contains("files     s3://renkei/vault at https://s3.example:3900"),
            "{summary}"
        );
        let local = crate::Config::parse(
            "t.toml",
            "[server]\ndata_dir = \"/d\"\n",
            std::path::Path::new("/"),
        )
        .unwrap();
        assert!(local.summary().contains("journal   redb in data_dir"));
    }

    #[test]
    fn files_in_s3_need_room_for_two_parts_in_the_request_budget() {
        let s3 = "[server]\ndata_dir = \"/d\"\n\n[storage]\nblobs = \"s3://renkei/vault\"\ns3_endpoint = \"https://s3.example:3900\"\ns3_credentials_file = \"/etc/renkei/s3\"\n\n[limits]\n";
        let root = std::path::Path::new("/");
        let small = format!("{s3}max_queued_requests = \"8MiB\"\n");
        let e = crate::Config::parse("t.toml", &small, root)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("t.toml:10") && e.contains("at least 16MiB with the files in S3"),
            "{e}"
        );
        assert!(crate::Config::parse("t.toml", s3, root).is_ok());
        let local = "[server]\ndata_dir = \"/d\"\n[limits]\nmax_queued_requests = \"8MiB\"\n";
        assert!(crate::Config::parse("t.toml", local, root).is_ok());
    }

    #[test]
    fn plain_http_to_the_bucket_off_this_host_is_warned_about() {
        let at = |endpoint: &str| {
            let text = format!(
                "[server]\ndata_dir = \"/d\"\n\n[storage]\nblobs = \"s3://renkei/vault\"\ns3_endpoint = \"{endpoint}\"\ns3_credentials_file = \"/etc/renkei/s3\"\n"
            );
            crate::Config::parse("t.toml", &text, std::path::Path::new("/"))
                .unwrap()
                .warnings
        };
        let plain = |w: Vec<String>| w.iter().any(|w| w.contains("plain HTTP"));
        assert!(plain(at("http://10.0.0.5:3900")));
        assert!(!plain(at("http://127.0.0.1:3900")));
        assert!(!plain(at("https://s3.example:3900")));
    }

    #[test]
    fn a_url_names_a_host_and_holds_no_password() {
        assert!(check_url("postgresql://renkei@db.example:5432/renkei").is_ok());
        assert!(check_url("postgres://renkei@127.0.0.1/renkei?sslmode=disable").is_ok());
        assert!(check_url("postgres://renkei@127.0.0.1/renkei?sslmode=verify-full").is_ok());
        assert!(check_url("postgresql://renkei:secret@db/renkei").is_err());
        assert!(check_url("postgresql://db/renkei?password=x").is_err());
        assert!(check_url("mysql://db/renkei").is_err());
        assert!(check_url("postgresql:///renkei").is_err());
    }
}
