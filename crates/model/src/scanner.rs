//! Where the virus scanner (clamd) listens, as the configuration writes
//! it: the configuration parses it and the checks connect to it, so the
//! one way of writing it lives here.

use std::path::PathBuf;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    /// A Unix socket (Debian's default is `/run/clamav/clamd.ctl`).
    Unix(PathBuf),
    /// `host:port` (written `tcp:host:port` in the configuration).
    Tcp(String),
}

impl ClamdAddr {
    /// `tcp:HOST:PORT`, or otherwise an absolute socket path.
    pub fn parse(text: &str) -> Result<ClamdAddr, String> {
        if let Some(hostport) = text.strip_prefix("tcp:") {
            if hostport
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                return Err(format!(
                    "{text:?}: a TCP address is written tcp:HOST:PORT, e.g. tcp:127.0.0.1:3310"
                ));
            }
            return Ok(ClamdAddr::Tcp(hostport.to_string()));
        }
        if !text.starts_with('/') {
            return Err(format!(
                "{text:?}: give clamd's Unix socket as an absolute path (e.g. /run/clamav/clamd.ctl) or tcp:HOST:PORT"
            ));
        }
        Ok(ClamdAddr::Unix(PathBuf::from(text)))
    }
}

impl std::fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddr::Unix(p) => write!(f, "{}", p.display()),
            ClamdAddr::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a_socket_path_or_tcp_host_port() {
        assert_eq!(
            ClamdAddr::parse("/run/clamav/clamd.ctl"),
            Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(
            ClamdAddr::parse("tcp:127.0.0.1:3310"),
            Ok(ClamdAddr::Tcp("127.0.0.1:3310".into()))
        );
        for bad in ["clamd.ctl", "tcp:127.0.0.1", "tcp::3310", "tcp:host:99999"] {
            assert!(ClamdAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
