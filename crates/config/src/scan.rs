//! `[scan]`: the virus scanner every arriving file passes before anyone
//! else may see it. Present means on: there is no switch that scans some
//! files and not others.

use std::time::Duration;

use renkei_model::scanner::ClamdAddr;
use renkei_model::units::{Quantity, parse_size};

use crate::route_ends::{Problem, count_in, duration_in};
use serde::Deserialize;
use toml::Spanned;

/// What a file that cannot be scanned (too large) becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscannable {
    /// Kept encrypted for the operator, never handed on (the default:
    /// fail closed).
    Quarantine,
    /// Accepted as if clean; the record says it was not scanned.
    Accept,
}

/// The scanner and its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanConfig {
    pub clamd: ClamdAddr,
    /// Each connect, write and read with clamd waits at most this long.
    pub timeout: Duration,
    /// Larger files are not sent to clamd: they are unscannable. Keep it at
    /// or below clamd's own `StreamMaxLength`.
    pub max_file_size: u64,
    /// Files scanned at the same time (each holds one 64 KiB chunk).
    pub concurrency: usize,
    pub unscannable: Unscannable,
    /// While clamd cannot be reached, a waiting file is tried again after
    /// `retry_first`, doubling up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
    /// Times one file may go unanswered (a scan that times out or breaks
    /// off) while the scanner answers for other files, before it is held
    /// (quarantined) for the operator with the last error as the reason.
    pub max_attempts: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScan {
    clamd: Spanned<String>,
    timeout: Option<Spanned<Quantity>>,
    max_file_size: Option<Spanned<Quantity>>,
    concurrency: Option<Spanned<i64>>,
    unscannable: Option<Spanned<String>>,
    retry_first: Option<Spanned<Quantity>>,
    retry_max: Option<Spanned<Quantity>>,
    max_attempts: Option<Spanned<i64>>,
}

impl RawScan {
    pub(super) fn resolve(&self) -> Result<ScanConfig, Problem> {
        let clamd = ClamdAddr::parse(self.clamd.get_ref())
            .map_err(|e| (self.clamd.span(), format!("scan.clamd: {e}")))?;
        let max_file_size = match &self.max_file_size {
            None => 25 << 20,
            Some(v) => {
                let n = parse_size(v.get_ref())
                    .map_err(|e| (v.span(), format!("scan.max_file_size: {e}")))?;
                if !(1 << 10..=4 << 30).contains(&n) {
                    return Err((
                        v.span(),
                        "scan.max_file_size must be between 1KiB and 4GiB (clamd streams at most 4GiB)"
                            .into(),
                    ));
                }
                n
            }
        };
        let concurrency = match &self.concurrency {
            None => 2,
            Some(v) if (1..=64).contains(v.get_ref()) => *v.get_ref() as usize,
            Some(v) => {
                return Err((
                    v.span(),
                    format!(
                        "scan.concurrency must be between 1 and 64 (got {})",
                        v.get_ref()
                    ),
                ));
            }
        };
        let unscannable = match self.unscannable.as_ref().map(|v| (v.get_ref().as_str(), v)) {
            None | Some(("quarantine", _)) => Unscannable::Quarantine,
            Some(("accept", _)) => Unscannable::Accept,
            Some((other, v)) => {
                return Err((
                    v.span(),
                    format!("scan.unscannable is \"quarantine\" or \"accept\" (got {other:?})"),
                ));
            }
        };
        let second = Duration::from_secs(1);
        let day = Duration::from_secs(86_400);
        let retry_first = duration_in(
            &self.retry_first,
            Duration::from_secs(5),
            (second, day),
            "scan.retry_first",
        )?;
        let retry_max = duration_in(
            &self.retry_max,
            Duration::from_secs(300),
            (retry_first, day),
            "scan.retry_max",
        )?;
        let max_attempts = count_in(&self.max_attempts, 3, 100, "scan.max_attempts")? as u32;
        Ok(ScanConfig {
            max_attempts,
            clamd,
            timeout: duration_in(
                &self.timeout,
                Duration::from_secs(60),
                (second, Duration::from_secs(3600)),
                "scan.timeout",
            )?,
            max_file_size,
            concurrency,
            unscannable,
            retry_first,
            retry_max,
        })
    }
}
