//! `[ftps]`: the FTPS front door for municipal systems that speak FTP and
//! not SFTP (docs/ftps.md, decision 0014).
//!
//! Only FTP over TLS is served: explicit (`AUTH TLS` on `listen`) and,
//! when `implicit_listen` is set, implicit (TLS from the first byte, the
//! old port 990 convention). Data connections are passive only, on a port
//! range the firewall opens. Who may log in is written on the accounts
//! (`ftps_password`, `ftps_client_cert`): an account without either never
//! logs in over FTPS.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use renkei_model::units::Quantity;
use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;
use crate::locate::{Locator, resolve};
use crate::route_ends::{Problem, count_in, duration_in, size_above_zero};

/// The passive port range when none is written (IANA's dynamic range
/// starts at 49152; these 100 are easy to open on a firewall).
pub const DEFAULT_PASSIVE_PORTS: RangeInclusive<u16> = 50000..=50099;

/// Named limits of the FTPS front door.
#[derive(Debug, Clone)]
pub struct FtpsLimits {
    /// FTPS control connections open at once, for the daemon.
    pub max_connections: usize,
    /// FTPS control connections open at once from one address.
    pub max_connections_per_source: usize,
    /// Time a client has, after `PASV`/`EPSV`, to open the data connection
    /// and finish its TLS handshake.
    pub data_connect_timeout: Duration,
    /// Largest file one `STOR` may carry.
    pub max_upload_size: u64,
}

impl Default for FtpsLimits {
    fn default() -> Self {
        FtpsLimits {
            max_connections: 256,
            max_connections_per_source: 16,
            data_connect_timeout: Duration::from_secs(30),
            max_upload_size: 16 * 1024 * 1024 * 1024,
        }
    }
}

/// `[ftps]`: where FTPS is served and with which certificate.
#[derive(Debug, Clone)]
pub struct FtpsConfig {
    /// Explicit FTPS: plain TCP until `AUTH TLS`, nothing served before.
    pub listen: Vec<SocketAddr>,
    /// Implicit FTPS: TLS from the first byte.
    pub implicit_listen: Vec<SocketAddr>,
    /// PEM certificate chain and key, read at start and on reload.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Ports a passive data connection may be offered on.
    pub passive_ports: RangeInclusive<u16>,
    /// The address told to clients in `PASV` replies, when the control
    /// connection's own local address is not the one they reach (NAT).
    pub passive_address: Option<IpAddr>,
    pub limits: FtpsLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFtps {
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    #[serde(default)]
    pub implicit_listen: Vec<Spanned<String>>,
    pub tls_cert: Spanned<String>,
    pub tls_key: Spanned<String>,
    pub passive_ports: Option<Spanned<String>>,
    pub passive_address: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_connections_per_source: Option<Spanned<i64>>,
    pub data_connect_timeout: Option<Spanned<Quantity>>,
    pub max_upload_size: Option<Spanned<Quantity>>,
}

/// Parses `"50000-50099"`: both ends included, unprivileged, low to high.
pub fn port_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (a, b) = text.split_once('-').ok_or_else(|| {
        format!("ftps.passive_ports {text:?} is not a range such as \"50000-50099\"")
    })?;
    let parse = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("ftps.passive_ports: {p:?} is not a port number"))
    };
    let (low, high) = (parse(a)?, parse(b)?);
    if low < 1024 || high < low {
        return Err(format!(
            "ftps.passive_ports {text:?}: give two ports from 1024 up, the lower first"
        ));
    }
    Ok(low..=high)
}

impl RawFtps {
    pub(crate) fn passive(&self) -> Result<(RangeInclusive<u16>, Option<IpAddr>), Problem> {
        let ports = match &self.passive_ports {
            None => DEFAULT_PASSIVE_PORTS,
            Some(p) => port_range(p.get_ref()).map_err(|e| (p.span(), e))?,
        };
        let address = match &self.passive_address {
            None => None,
            Some(a) => Some(a.get_ref().parse::<IpAddr>().map_err(|_| {
                (
                    a.span(),
                    format!(
                        "ftps.passive_address {:?} is not an IP address",
                        a.get_ref()
                    ),
                )
            })?),
        };
        Ok((ports, address))
    }

    pub(crate) fn limits(&self) -> Result<FtpsLimits, Problem> {
        let d = FtpsLimits::default();
        let max_upload_size = size_above_zero(
            &self.max_upload_size,
            d.max_upload_size,
            "ftps.max_upload_size",
        )?;
        Ok(FtpsLimits {
            max_connections: count_in(
                &self.max_connections,
                d.max_connections,
                100_000,
                "ftps.max_connections",
            )?,
            max_connections_per_source: count_in(
                &self.max_connections_per_source,
                d.max_connections_per_source,
                10_000,
                "ftps.max_connections_per_source",
            )?,
            data_connect_timeout: duration_in(
                &self.data_connect_timeout,
                d.data_connect_timeout,
                (Duration::from_secs(1), Duration::from_secs(600)),
                "ftps.data_connect_timeout",
            )?,
            max_upload_size,
        })
    }
}

/// Validates `[ftps]`: its listeners, certificate paths, passive ports
/// and limits.
pub(crate) fn section(
    rf: &RawFtps,
    loc: &Locator<'_>,
    base: &Path,
    taken: &mut Vec<SocketAddr>,
) -> Result<FtpsConfig, ConfigError> {
    let listen = crate::segments::addresses(&rf.listen, "ftps.listen", "0.0.0.0:21", loc, taken)?;
    let implicit_listen = crate::segments::addresses(
        &rf.implicit_listen,
        "ftps.implicit_listen",
        "0.0.0.0:990",
        loc,
        taken,
    )?;
    if listen.is_empty() && implicit_listen.is_empty() {
        return Err(loc.at(
            rf.tls_cert.span(),
            "[ftps] has neither listen nor implicit_listen: say where FTPS is served",
        ));
    }
    let (passive_ports, passive_address) = rf.passive().map_err(|(span, msg)| loc.at(span, msg))?;
    let limits = rf.limits().map_err(|(span, msg)| loc.at(span, msg))?;
    Ok(FtpsConfig {
        listen,
        implicit_listen,
        tls_cert: resolve(base, rf.tls_cert.get_ref()),
        tls_key: resolve(base, rf.tls_key.get_ref()),
        passive_ports,
        passive_address,
        limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("50000-50099").unwrap(), 50000..=50099);
        assert_eq!(port_range(" 60000 - 60000 ").unwrap(), 60000..=60000);
        assert!(
            port_range("50099-50000")
                .unwrap_err()
                .contains("lower first")
        );
        assert!(port_range("21-30").unwrap_err().contains("from 1024"));
        assert!(port_range("50000").unwrap_err().contains("not a range"));
        assert!(port_range("a-b").unwrap_err().contains("not a port"));
    }
}
