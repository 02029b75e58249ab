//! Networks in the configuration: parsing, the IPv4-mapped form, and the
//! warnings about networks that cannot tell tenants apart.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::tenants::Tenant;

pub(super) fn parse_network(s: &str) -> Result<IpNet, String> {
    if let Ok(net) = s.parse::<IpNet>() {
        if net != net.trunc() {
            return Err(format!(
                "{s:?} has host bits set; did you mean {}?",
                net.trunc()
            ));
        }
        return Ok(unmapped(net).unwrap_or(net));
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not a network: write an address or CIDR such as \"10.1.2.0/24\" or \"2001:db8::/64\""))
}

/// An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network
/// it means. Sources are matched as the IPv4 address they carry (see
/// [`canonical_ip`]), so the mapped form could never match anything.
fn unmapped(net: IpNet) -> Option<IpNet> {
    let IpNet::V6(v6) = net else { return None };
    let v4 = v6.addr().to_ipv4_mapped()?;
    let prefix = v6.prefix_len().checked_sub(96)?;
    ipnet::Ipv4Net::new(v4, prefix).ok().map(IpNet::V4)
}

/// The warning for a network written in the IPv4-mapped form.
pub(super) fn mapped_warning(written: &str, whose: &str) -> Option<String> {
    let net = written.parse::<IpNet>().ok()?;
    let v4 = unmapped(net)?;
    Some(format!(
        "{whose}: network {written:?} is written as IPv4-mapped IPv6; clients are matched by their IPv4 address, so it is read as {v4}: write {v4:?}"
    ))
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are matched as the IPv4
/// address they carry, so a dual-stack listener cannot bypass IPv4 rules.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub(super) fn warn_shared_networks(tenants: &[Tenant], warnings: &mut Vec<String>) {
    for (i, a) in tenants.iter().enumerate() {
        for b in tenants.iter().skip(i + 1) {
            for na in &a.networks {
                for nb in &b.networks {
                    if na.contains(nb) || nb.contains(na) {
                        warnings.push(format!(
                            "tenants {} and {} both claim network {} / {}: source address alone does not tell them apart",
                            a.code, b.code, na, nb
                        ));
                    }
                }
            }
        }
    }
}
