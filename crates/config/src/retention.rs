//! The `[audit]` and `[retention]` tables.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use renkei_model::units::{Quantity, format_duration, parse_duration, parse_size};

/// How the audit trail is written.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// ed25519 key that signs checkpoints (default `<data_dir>/audit.key`).
    pub key: PathBuf,
    /// A checkpoint after this many records …
    pub checkpoint_every: u64,
    /// … or this long after the first unsigned record.
    pub checkpoint_interval: Duration,
    /// A new segment file once the current one reaches this size.
    pub segment_size: u64,
}

/// How long things are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Files acknowledged (outbox) or delivered are purged this long after.
    pub acknowledged: Duration,
    /// Audit segments are kept at least this long.
    pub audit: Duration,
    /// How often retention runs.
    pub sweep_interval: Duration,
    /// Quarantined and rejected files are destroyed this long after they
    /// were held (the operator may release or delete them before).
    pub quarantine: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            acknowledged: Duration::from_secs(7 * 86_400),
            audit: Duration::from_secs(1827 * 86_400),
            sweep_interval: Duration::from_secs(3600),
            quarantine: Duration::from_secs(30 * 86_400),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    key: Option<Spanned<String>>,
    checkpoint_every: Option<Spanned<i64>>,
    checkpoint_interval: Option<Spanned<Quantity>>,
    segment_size: Option<Spanned<Quantity>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    acknowledged: Option<Spanned<Quantity>>,
    audit: Option<Spanned<Quantity>>,
    sweep_interval: Option<Spanned<Quantity>>,
    quarantine: Option<Spanned<Quantity>>,
}

type Problem = (std::ops::Range<usize>, String);

fn duration(
    v: &Option<Spanned<Quantity>>,
    default: Duration,
    min: Duration,
    name: &str,
) -> Result<Duration, Problem> {
    let Some(v) = v else { return Ok(default) };
    let d = parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("{name}: {e}")))?;
    if d < min {
        return Err((
            v.span(),
            format!(
                "{name} must be at least {} (got {})",
                format_duration(min),
                format_duration(d)
            ),
        ));
    }
    Ok(d)
}

impl RawAudit {
    pub(super) fn resolve(
        &self,
        default_key: PathBuf,
        resolve: impl Fn(&str) -> PathBuf,
    ) -> Result<AuditSettings, Problem> {
        let every = match &self.checkpoint_every {
            None => 1000,
            Some(v) if (1..=10_000_000).contains(v.get_ref()) => *v.get_ref() as u64,
            Some(v) => {
                return Err((
                    v.span(),
                    format!(
                        "audit.checkpoint_every must be between 1 and 10000000 (got {})",
                        v.get_ref()
                    ),
                ));
            }
        };
        let segment_size = match &self.segment_size {
            None => 64 << 20,
            Some(v) => {
                let n = parse_size(v.get_ref())
                    .map_err(|e| (v.span(), format!("audit.segment_size: {e}")))?;
                if !(4096..=1 << 34).contains(&n) {
                    return Err((
                        v.span(),
                        "audit.segment_size must be between 4KiB and 16GiB".into(),
                    ));
                }
                n
            }
        };
        Ok(AuditSettings {
            key: self
                .key
                .as_ref()
                .map(|k| resolve(k.get_ref()))
                .unwrap_or(default_key),
            checkpoint_every: every,
            checkpoint_interval: duration(
                &self.checkpoint_interval,
                Duration::from_secs(60),
                Duration::from_millis(100),
                "audit.checkpoint_interval",
            )?,
            segment_size,
        })
    }
}

impl RawRetention {
    pub(super) fn resolve(&self) -> Result<RetentionConfig, Problem> {
        let d = RetentionConfig::default();
        Ok(RetentionConfig {
            acknowledged: duration(
                &self.acknowledged,
                d.acknowledged,
                Duration::from_secs(1),
                "retention.acknowledged",
            )?,
            audit: duration(
                &self.audit,
                d.audit,
                Duration::from_secs(1),
                "retention.audit",
            )?,
            sweep_interval: duration(
                &self.sweep_interval,
                d.sweep_interval,
                Duration::from_secs(1),
                "retention.sweep_interval",
            )?,
            quarantine: duration(
                &self.quarantine,
                d.quarantine,
                Duration::from_secs(1),
                "retention.quarantine",
            )?,
        })
    }
}
