//! `[admin]`: the monitoring listener (Prometheus metrics, `/healthz`,
//! `/readyz`), plain HTTP for loopback or a management network only.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::route_ends::Problem;

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Sources that may ask; others are refused (403).
    pub allow: Vec<IpNet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    listen: Spanned<String>,
    allow: Option<Vec<Spanned<String>>>,
}

impl RawAdmin {
    pub(crate) fn resolve(
        &self,
        parse_network: impl Fn(&str) -> Result<IpNet, String>,
    ) -> Result<AdminConfig, Problem> {
        let listen = self.listen.get_ref().parse::<SocketAddr>().map_err(|_| {
            (
                self.listen.span(),
                format!(
                    "admin.listen {:?} is not an address and port such as \"127.0.0.1:9464\"",
                    self.listen.get_ref()
                ),
            )
        })?;
        let allow = match &self.allow {
            None => vec![
                "127.0.0.0/8"
                    .parse()
                    .map_err(|_| (0..0, "internal".to_string()))?,
                "::1/128"
                    .parse()
                    .map_err(|_| (0..0, "internal".to_string()))?,
            ],
            Some(list) => list
                .iter()
                .map(|n| parse_network(n.get_ref()).map_err(|e| (n.span(), e)))
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(AdminConfig { listen, allow })
    }
}
