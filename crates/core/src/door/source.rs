//! The one form of a client's address. A dual-stack listener
//! (`[::]:2222`) sees an IPv4 client as `::ffff:a.b.c.d`; the rules, the
//! bans, the limits and the audit trail all speak of `a.b.c.d`. The
//! address is made canonical once, where the core first sees it, and
//! every later decision gets the canonical form.

use std::net::SocketAddr;

use renkei_config::canonical_ip;

/// `peer` with an IPv4-mapped IPv6 address turned into the IPv4 address
/// it is; any other address unchanged.
pub fn canonical_peer(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(peer.ip()), peer.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_address_becomes_ipv4_and_others_stay() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical_peer(mapped).to_string(), "127.0.0.1:4000");
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical_peer(v6), v6);
    }
}
