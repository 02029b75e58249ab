//! A client of ClamAV's clamd (the scanner municipalities and MFT products
//! run), over its Unix socket or TCP. Files are streamed with `zINSTREAM`
//! in chunks read from the caller's reader, so plaintext goes from memory
//! to the scanner and nowhere else.
//!
//! Every step has a time limit, and every way clamd can fail to answer is
//! an error, never a verdict: the caller fails closed (the file waits, the
//! operator is told) instead of passing a file unscanned.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Plaintext bytes sent to clamd per `INSTREAM` chunk.
pub const CHUNK: usize = 64 << 10;

/// The longest reply clamd gives that is read (a signature name and the
/// word FOUND fit many times over).
const MAX_REPLY: usize = 4096;

pub use renkei_model::scanner::ClamdAddr;

/// What clamd said of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing found.
    Clean,
    /// A signature matched.
    Infected { signature: String },
    /// Larger than what may be scanned (the configured limit, or clamd's
    /// own `StreamMaxLength`): the file could not be scanned at all.
    Unscannable { reason: String },
}

/// Why there is no verdict. None of these says anything about the file.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("clamd at {addr} is not reachable: {message}")]
    Unavailable { addr: String, message: String },
    #[error("clamd at {addr} did not answer within {secs} s")]
    Timeout { addr: String, secs: u64 },
    #[error("clamd at {addr} answered something that is not a verdict: {reply:?}")]
    Garbage { addr: String, reply: String },
    #[error("clamd at {addr} reported an error: {reply}")]
    Failed { addr: String, reply: String },
    #[error("reading the file to scan failed: {0}")]
    Read(#[source] io::Error),
}

/// A clamd to ask.
#[derive(Debug, Clone)]
pub struct Clamd {
    addr: ClamdAddr,
    /// Each connect, write and read waits at most this long.
    timeout: Duration,
}

/// One connection to clamd, with its time limits set.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

impl Clamd {
    pub fn new(addr: ClamdAddr, timeout: Duration) -> Clamd {
        Clamd { addr, timeout }
    }

    pub fn addr(&self) -> &ClamdAddr {
        &self.addr
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> ScanError {
        ScanError::Unavailable {
            addr: self.addr.to_string(),
            message: e.to_string(),
        }
    }

    /// A failed read or write on the connection: a timeout is told apart.
    fn io(&self, e: io::Error) -> ScanError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ScanError::Timeout {
                addr: self.addr.to_string(),
                secs: self.timeout.as_secs().max(1),
            },
            _ => self.unavailable(e),
        }
    }

    fn connect(&self) -> Result<Conn, ScanError> {
        let t = Some(self.timeout);
        match &self.addr {
            ClamdAddr::Unix(path) => {
                let s = UnixStream::connect(path).map_err(|e| self.unavailable(e))?;
                s.set_read_timeout(t).map_err(|e| self.unavailable(e))?;
                s.set_write_timeout(t).map_err(|e| self.unavailable(e))?;
                Ok(Conn::Unix(s))
            }
            ClamdAddr::Tcp(hostport) => {
                let addr = hostport
                    .to_socket_addrs()
                    .map_err(|e| self.unavailable(e))?
                    .next()
                    .ok_or_else(|| self.unavailable("the name has no address"))?;
                let s = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| self.io(e))?;
                s.set_read_timeout(t).map_err(|e| self.unavailable(e))?;
                s.set_write_timeout(t).map_err(|e| self.unavailable(e))?;
                Ok(Conn::Tcp(s))
            }
        }
    }

    /// Reads one NUL-terminated reply (or up to the end of the stream).
    fn reply(&self, conn: &mut Conn) -> Result<String, ScanError> {
        let mut out = Vec::new();
        let mut byte = [0u8; 256];
        loop {
            let n = conn.read(&mut byte).map_err(|e| self.io(e))?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&byte[..n]);
            if out.contains(&0) || out.len() > MAX_REPLY {
                break;
            }
        }
        Ok(reply_text(&out))
    }

    fn command(&self, cmd: &str) -> Result<String, ScanError> {
        let mut conn = self.connect()?;
        conn.write_all(format!("z{cmd}\0").as_bytes())
            .map_err(|e| self.io(e))?;
        self.reply(&mut conn)
    }

    /// `PING`: whether clamd answers at all.
    pub fn ping(&self) -> Result<(), ScanError> {
        match self.command("PING")?.as_str() {
            "PONG" => Ok(()),
            other => Err(ScanError::Garbage {
                addr: self.addr.to_string(),
                reply: other.to_string(),
            }),
        }
    }

    /// `VERSION`: the engine and signature database versions, as clamd
    /// gives them (`ClamAV 1.4.6/27500/Mon Dec  1 09:00:00 2026`), kept
    /// with every verdict.
    pub fn version(&self) -> Result<String, ScanError> {
        let v = self.command("VERSION")?;
        if !v.starts_with("ClamAV ") {
            return Err(ScanError::Garbage {
                addr: self.addr.to_string(),
                reply: v,
            });
        }
        Ok(v)
    }

    /// Scans what `source` yields, `size` bytes in all. A file larger than
    /// `max_size` is not sent: it is [`Verdict::Unscannable`].
    pub fn scan(
        &self,
        source: &mut dyn Read,
        size: u64,
        max_size: u64,
    ) -> Result<Verdict, ScanError> {
        if size > max_size {
            return Ok(Verdict::Unscannable {
                reason: format!(
                    "{size} bytes is more than the {max_size} bytes that may be scanned (scan.max_file_size)"
                ),
            });
        }
        let mut conn = self.connect()?;
        let sent = self.stream(&mut conn, source);
        // clamd closes the stream when its StreamMaxLength is exceeded,
        // which fails the next write: its reply says why.
        let reply = match (sent, self.reply(&mut conn)) {
            (Err(e @ ScanError::Read(_)), _) => return Err(e),
            (_, Ok(r)) if !r.is_empty() => r,
            (Err(e), _) => return Err(e),
            (Ok(()), Ok(r)) => r,
            (Ok(()), Err(e)) => return Err(e),
        };
        self.verdict(reply)
    }

    /// Sends the file as `INSTREAM` chunks and the closing empty chunk.
    fn stream(&self, conn: &mut Conn, source: &mut dyn Read) -> Result<(), ScanError> {
        conn.write_all(b"zINSTREAM\0").map_err(|e| self.io(e))?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match source.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ScanError::Read(e)),
            };
            let len = u32::try_from(n).unwrap_or(u32::MAX);
            conn.write_all(&len.to_be_bytes()).map_err(|e| self.io(e))?;
            if n == 0 {
                return Ok(());
            }
            conn.write_all(&buf[..n]).map_err(|e| self.io(e))?;
        }
    }

    fn verdict(&self, reply: String) -> Result<Verdict, ScanError> {
        verdict(&self.addr.to_string(), reply)
    }
}

/// The text of a reply as read: up to its NUL, at most `MAX_REPLY` bytes,
/// trimmed; bytes that are not UTF-8 are replaced, never trusted.
pub fn reply_text(raw: &[u8]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end.min(MAX_REPLY)])
        .trim()
        .to_string()
}

/// What clamd's answer to a scanned stream says; `addr` names the
/// scanner in an error.
pub fn verdict(addr: &str, reply: String) -> Result<Verdict, ScanError> {
    if reply == "stream: OK" {
        return Ok(Verdict::Clean);
    }
    if let Some(sig) = reply
        .strip_prefix("stream: ")
        .and_then(|r| r.strip_suffix(" FOUND"))
    {
        return Ok(Verdict::Infected {
            signature: sig.to_string(),
        });
    }
    if reply.contains("size limit exceeded") {
        return Ok(Verdict::Unscannable {
            reason: format!("clamd refused the stream as too long (its StreamMaxLength): {reply}"),
        });
    }
    if reply.ends_with("ERROR") {
        return Err(ScanError::Failed {
            addr: addr.to_string(),
            reply,
        });
    }
    Err(ScanError::Garbage {
        addr: addr.to_string(),
        reply,
    })
}
