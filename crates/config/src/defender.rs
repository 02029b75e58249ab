//! The `[defender]` table: score-based bans of source addresses.
//!
//! Modelled on SFTPGo's defender and OpenSSH's `PerSourcePenalties`: each
//! offence adds to a source address's score within an observation window;
//! reaching the threshold bans the address at TCP accept for a time that
//! grows with every repeat ban.

use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use renkei_model::units::{Quantity, parse_duration};

#[derive(Debug, Clone, PartialEq)]
pub struct DefenderConfig {
    pub enabled: bool,
    /// Score at which an address is banned.
    pub threshold: u32,
    /// Offences older than this no longer count.
    pub observation_window: Duration,
    /// A connection that ended without logging in, after failed attempts
    /// for a configured user (wrong key, wrong network, password).
    pub score_failed_login: u32,
    /// … after attempts only for users that do not exist.
    pub score_unknown_user: u32,
    /// An SFTP protocol violation or a per-session limit breach.
    pub score_protocol_violation: u32,
    /// A connection refused for exceeding a connection limit.
    pub score_limit_exceeded: u32,
    /// A connection that never tried to log in within the grace time.
    pub score_login_timeout: u32,
    /// First ban.
    pub ban_time: Duration,
    /// Each further ban of the same address lasts this many times longer.
    pub ban_time_growth: u32,
    pub max_ban_time: Duration,
    /// Addresses never banned (monitoring, the standard system).
    pub exempt: Vec<IpNet>,
    /// IPv6 sources are scored and banned by this prefix: a client with a
    /// /64 could otherwise rotate addresses forever (as OpenSSH's
    /// `PerSourceNetBlockSize`).
    pub ipv6_prefix: u8,
}

impl Default for DefenderConfig {
    fn default() -> Self {
        DefenderConfig {
            enabled: true,
            threshold: 10,
            observation_window: Duration::from_secs(30 * 60),
            score_failed_login: 1,
            score_unknown_user: 2,
            score_protocol_violation: 5,
            score_limit_exceeded: 2,
            score_login_timeout: 1,
            ban_time: Duration::from_secs(15 * 60),
            ban_time_growth: 2,
            max_ban_time: Duration::from_secs(24 * 3600),
            exempt: Vec::new(),
            ipv6_prefix: 64,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefender {
    enabled: Option<bool>,
    threshold: Option<Spanned<i64>>,
    observation_window: Option<Spanned<Quantity>>,
    score_failed_login: Option<Spanned<i64>>,
    score_unknown_user: Option<Spanned<i64>>,
    score_protocol_violation: Option<Spanned<i64>>,
    score_limit_exceeded: Option<Spanned<i64>>,
    score_login_timeout: Option<Spanned<i64>>,
    ban_time: Option<Spanned<Quantity>>,
    ban_time_growth: Option<Spanned<i64>>,
    max_ban_time: Option<Spanned<Quantity>>,
    #[serde(default)]
    exempt: Vec<Spanned<String>>,
    ipv6_prefix: Option<Spanned<i64>>,
}

type Problem = (std::ops::Range<usize>, String);

fn number(
    v: &Option<Spanned<i64>>,
    default: u32,
    min: i64,
    max: i64,
    name: &str,
) -> Result<u32, Problem> {
    let Some(v) = v else { return Ok(default) };
    let n = *v.get_ref();
    if n < min || n > max {
        return Err((
            v.span(),
            format!("defender.{name} must be between {min} and {max} (got {n})"),
        ));
    }
    Ok(n as u32)
}

fn duration(
    v: &Option<Spanned<Quantity>>,
    default: Duration,
    name: &str,
) -> Result<Duration, Problem> {
    let Some(v) = v else { return Ok(default) };
    let d = parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("defender.{name}: {e}")))?;
    if d.is_zero() {
        return Err((v.span(), format!("defender.{name} must be longer than 0")));
    }
    Ok(d)
}

impl RawDefender {
    // Long: every key of `[defender]` with its default and range.
    pub(super) fn resolve(
        &self,
        parse_network: impl Fn(&str) -> Result<IpNet, String>,
    ) -> Result<DefenderConfig, Problem> {
        let d = DefenderConfig::default();
        let config = DefenderConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            threshold: number(&self.threshold, d.threshold, 1, 1_000_000, "threshold")?,
            observation_window: duration(
                &self.observation_window,
                d.observation_window,
                "observation_window",
            )?,
            score_failed_login: number(
                &self.score_failed_login,
                d.score_failed_login,
                0,
                1_000_000,
                "score_failed_login",
            )?,
            score_unknown_user: number(
                &self.score_unknown_user,
                d.score_unknown_user,
                0,
                1_000_000,
                "score_unknown_user",
            )?,
            score_protocol_violation: number(
                &self.score_protocol_violation,
                d.score_protocol_violation,
                0,
                1_000_000,
                "score_protocol_violation",
            )?,
            score_limit_exceeded: number(
                &self.score_limit_exceeded,
                d.score_limit_exceeded,
                0,
                1_000_000,
                "score_limit_exceeded",
            )?,
            score_login_timeout: number(
                &self.score_login_timeout,
                d.score_login_timeout,
                0,
                1_000_000,
                "score_login_timeout",
            )?,
            ban_time: duration(&self.ban_time, d.ban_time, "ban_time")?,
            ban_time_growth: number(
                &self.ban_time_growth,
                d.ban_time_growth,
                1,
                100,
                "ban_time_growth",
            )?,
            max_ban_time: duration(&self.max_ban_time, d.max_ban_time, "max_ban_time")?,
            exempt: self
                .exempt
                .iter()
                .map(|n| {
                    parse_network(n.get_ref())
                        .map_err(|e| (n.span(), format!("defender.exempt: {e}")))
                })
                .collect::<Result<_, _>>()?,
            ipv6_prefix: number(
                &self.ipv6_prefix,
                u32::from(d.ipv6_prefix),
                16,
                128,
                "ipv6_prefix",
            )? as u8,
        };
        if config.max_ban_time < config.ban_time {
            let span = self.max_ban_time.as_ref().map(|v| v.span()).unwrap_or(0..0);
            return Err((
                span,
                "defender.max_ban_time must be at least defender.ban_time".into(),
            ));
        }
        Ok(config)
    }
}
