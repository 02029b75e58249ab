//! Human-friendly sizes ("256KiB", "64MiB") and durations ("30s", "24h") for
//! the configuration file.
//!
//! Operators write limits, not byte counts: a limit that reads "64MiB" is
//! reviewed correctly, one that reads 67108864 is not. Both forms are
//! accepted; a bare number is bytes or seconds.

use std::time::Duration;

use serde::Deserialize;

/// A size or duration as written in TOML: an integer or a string with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Int(i64),
    Text(String),
}

pub fn parse_size(q: &Quantity) -> Result<u64, String> {
    let text = match q {
        Quantity::Int(n) if *n >= 0 => return Ok(*n as u64),
        Quantity::Int(n) => return Err(format!("a size cannot be negative ({n})")),
        Quantity::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a size: write a whole number and a unit, like \"64MiB\"")
    })?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        "TiB" | "T" => 1 << 40,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {text:?}: use B, KiB, MiB, GiB or TiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

pub fn parse_duration(q: &Quantity) -> Result<Duration, String> {
    let text = match q {
        Quantity::Int(n) if *n >= 0 => return Ok(Duration::from_secs(*n as u64)),
        Quantity::Int(n) => return Err(format!("a duration cannot be negative ({n})")),
        Quantity::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!(
            "{text:?} is not a duration: write a whole number and a unit, like \"30s\" or \"24h\""
        )
    })?;
    let millis: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} in {text:?}: use ms, s, m, h or d"
            ));
        }
    };
    number
        .checked_mul(millis)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Formats a byte count the way the configuration reference writes it.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, factor) in UNITS {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// Formats a duration the way the configuration reference writes it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    const UNITS: [(&str, u64); 4] = [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ];
    for (unit, factor) in UNITS {
        if ms >= factor && ms.is_multiple_of(factor) {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Quantity {
        Quantity::Text(s.to_string())
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(&t("256KiB")), Ok(262_144));
        assert_eq!(parse_size(&t("64 MiB")), Ok(64 << 20));
        assert_eq!(parse_size(&Quantity::Int(512)), Ok(512));
        assert!(
            parse_size(&t("12 parsecs"))
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_size(&Quantity::Int(-1)).is_err());
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1000), "1000B");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(&t("30s")), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(&t("24h")), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(&t("250ms")), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration(&Quantity::Int(5)),
            Ok(Duration::from_secs(5))
        );
        assert!(parse_duration(&t("soon")).is_err());
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
    }
}
