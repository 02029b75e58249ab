//! PROXY protocol version 2 (HAProxy's `proxy-protocol.txt`): a load
//! balancer in front of a listener states, in a binary header before the
//! first byte of the protocol, whose connection it forwards. Behind a
//! load balancer every rule, ban, limit and audit record must see the
//! municipality's address, not the balancer's (decision 0017).
//!
//! Only connections from the balancers a listener lists may send a
//! header (anyone else could claim any address), and from them a header
//! is required: a listener that expects one never guesses. The header is
//! read exactly — never a byte past it — so the stream that follows is
//! the client's own (SSH, TLS). Its length is bounded ([`MAX_HEADER`])
//! and reading it is bounded in time by the caller's login deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The twelve bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest header accepted (the fixed part, IPv6 addresses and room
/// for the balancer's TLVs, which renkei reads past).
pub const MAX_HEADER: usize = 16 + 36 + 476;

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The balancer's own connection (a health check): its address is
    /// the connection's.
    Local,
    /// A client's connection, forwarded.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection did not start with a PROXY protocol v2 header")]
    NoSignature,
    #[error("PROXY protocol version {0} (only version 2 is accepted)")]
    Version(u8),
    #[error("PROXY protocol command {0} is not LOCAL or PROXY")]
    Command(u8),
    #[error(
        "the PROXY header forwards a connection that is not TCP over IPv4 or IPv6 (family and transport {0:#04x}): its client's address cannot be checked"
    )]
    Unsupported(u8),
    #[error("the PROXY header is {0} bytes long; at most {MAX_HEADER} are accepted")]
    TooLong(usize),
    #[error("the PROXY header's addresses take {need} bytes but it has {have}")]
    Short { need: usize, have: usize },
    #[error("reading the PROXY header: {0}")]
    Read(String),
}

/// Parses a header at the start of `buf`: the header and its length, or
/// `None` while more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let have = buf.len().min(SIGNATURE.len());
    if buf[..have] != SIGNATURE[..have] {
        return Err(ProxyError::NoSignature);
    }
    let Some(fixed) = buf.get(..16) else {
        return Ok(None);
    };
    let version = fixed[12] >> 4;
    if version != 2 {
        return Err(ProxyError::Version(version));
    }
    let command = fixed[12] & 0x0f;
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let total = 16 + len;
    if total > MAX_HEADER {
        return Err(ProxyError::TooLong(total));
    }
    let Some(body) = buf.get(16..total) else {
        return Ok(None);
    };
    let header = match command {
        0 => Header::Local,
        1 => proxied(fixed[13], body)?,
        c => return Err(ProxyError::Command(c)),
    };
    Ok(Some((header, total)))
}

/// The addresses of a PROXY command: TCP over IPv4 (`0x11`) or IPv6
/// (`0x21`) only.
fn proxied(family: u8, body: &[u8]) -> Result<Header, ProxyError> {
    let need = match family {
        0x11 => 12,
        0x21 => 36,
        other => return Err(ProxyError::Unsupported(other)),
    };
    let a = body.get(..need).ok_or(ProxyError::Short {
        need,
        have: body.len(),
    })?;
    let port = |at: usize| u16::from_be_bytes([a[at], a[at + 1]]);
    let (source, destination) = if family == 0x11 {
        let ip = |at: usize| IpAddr::V4(Ipv4Addr::new(a[at], a[at + 1], a[at + 2], a[at + 3]));
        (
            SocketAddr::new(ip(0), port(8)),
            SocketAddr::new(ip(4), port(10)),
        )
    } else {
        let ip = |at: usize| {
            let mut o = [0u8; 16];
            o.copy_from_slice(&a[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        (
            SocketAddr::new(ip(0), port(32)),
            SocketAddr::new(ip(16), port(34)),
        )
    };
    Ok(Header::Proxied {
        source,
        destination,
    })
}

/// The header that says `header` (what a load balancer sends; for tests
/// and the fuzz target's round trip).
pub fn encode(header: &Header) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    match header {
        Header::Local => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
        Header::Proxied {
            source,
            destination,
        } => {
            let mut body = Vec::new();
            let family = match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    body.extend_from_slice(&s.octets());
                    body.extend_from_slice(&d.octets());
                    0x11
                }
                (s, d) => {
                    body.extend_from_slice(&v6(s).octets());
                    body.extend_from_slice(&v6(d).octets());
                    0x21
                }
            };
            body.extend_from_slice(&source.port().to_be_bytes());
            body.extend_from_slice(&destination.port().to_be_bytes());
            out.extend_from_slice(&[0x21, family]);
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
            out.extend_from_slice(&body);
        }
    }
    out
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Reads one header from `stream`, exactly: the fixed part, then the
/// length it states, never a byte more.
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Header, ProxyError> {
    let read = |e: std::io::Error| ProxyError::Read(e.to_string());
    let mut buf = vec![0u8; 16];
    stream.read_exact(&mut buf).await.map_err(read)?;
    if let Some((h, _)) = parse(&buf)? {
        return Ok(h);
    }
    let total = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    buf.resize(total, 0);
    stream.read_exact(&mut buf[16..]).await.map_err(read)?;
    match parse(&buf)? {
        Some((h, _)) => Ok(h),
        None => Err(ProxyError::Read("the header ended early".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn what_a_balancer_sends_reads_back() {
        for (s, d) in [
            ("203.0.113.7:50123", "127.0.0.11:2222"),
            ("[2001:db8::7]:50123", "[2001:db8::1]:22"),
        ] {
            let h = Header::Proxied {
                source: addr(s),
                destination: addr(d),
            };
            let mut bytes = encode(&h);
            let n = bytes.len();
            bytes.extend_from_slice(b"SSH-2.0-OpenSSH_9.2\r\n");
            assert_eq!(parse(&bytes), Ok(Some((h, n))));
        }
        assert_eq!(
            parse(&encode(&Header::Local)),
            Ok(Some((Header::Local, 16)))
        );
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        assert_eq!(parse(b"SSH-2.0-x\r\n"), Err(ProxyError::NoSignature));
        assert_eq!(parse(b"PROXY TCP4 1.2.3.4"), Err(ProxyError::NoSignature));
        let mut h = encode(&Header::Local);
        h[12] = 0x11;
        assert_eq!(parse(&h), Err(ProxyError::Version(1)));
        let mut unix = SIGNATURE.to_vec();
        unix.extend_from_slice(&[0x21, 0x31, 0, 0]);
        assert_eq!(parse(&unix), Err(ProxyError::Unsupported(0x31)));
        let mut long = SIGNATURE.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&long), Err(ProxyError::TooLong(16 + 65535)));
        let mut short = SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(parse(&short), Err(ProxyError::Short { need: 12, have: 4 }));
        // A prefix of a good header is not an error: more is needed.
        let good = encode(&Header::Proxied {
            source: addr("192.0.2.1:1"),
            destination: addr("192.0.2.2:2"),
        });
        for cut in 0..good.len() {
            assert_eq!(parse(&good[..cut]), Ok(None), "{cut}");
        }
    }

    #[tokio::test]
    async fn reading_stops_at_the_end_of_the_header() {
        let h = Header::Proxied {
            source: addr("198.51.100.9:4000"),
            destination: addr("127.0.0.1:2222"),
        };
        let mut bytes = encode(&h);
        bytes.extend_from_slice(b"SSH-2.0-rest");
        let mut stream: &[u8] = &bytes;
        assert_eq!(read_header(&mut stream).await, Ok(h));
        assert_eq!(stream, b"SSH-2.0-rest");
    }
}
