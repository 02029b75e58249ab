//! The control connection: command lines in, replies out, and the switch
//! from plain TCP to TLS at `AUTH TLS`.
//!
//! A command line is at most [`MAX_COMMAND_LINE`] bytes; a client that
//! sends more without a line end is cut off, so the line buffer is the
//! only thing a client can grow here. Bytes that arrive after `AUTH TLS`
//! and before the handshake are refused rather than read after it: that
//! is how plain-text commands get injected into a TLS session
//! (CVE-2011-0411 in mail servers).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest command line accepted, line end included: room for a verb and
/// a path of `limits.max_path_depth` Japanese names.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Plain TCP before `AUTH TLS`, TLS after (or from the start, implicit).
pub(super) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the handshake holds the socket.
    Switching,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Switching => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Switching => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Switching => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Switching => Poll::Ready(Ok(())),
        }
    }
}

/// Why the control connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub(super) enum ControlError {
    #[error("the client closed the control connection")]
    Closed,
    #[error("nothing arrived for {0}s (limits.idle_timeout)")]
    Idle(u64),
    #[error("a command line longer than {MAX_COMMAND_LINE} bytes")]
    TooLong,
    #[error("a reply could not be sent within {0}s (limits.send_timeout)")]
    SendTimeout(u64),
    #[error("sent commands after AUTH TLS before the TLS handshake")]
    Injected,
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// One control connection.
pub(super) struct Control {
    stream: Stream,
    buf: Vec<u8>,
    send_timeout: Duration,
}

impl Control {
    pub(super) fn new(stream: Stream, send_timeout: Duration) -> Control {
        Control {
            stream,
            buf: Vec::with_capacity(512),
            send_timeout,
        }
    }

    pub(super) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The TLS connection, once there is one.
    pub(super) fn tls(&self) -> Option<&rustls::ServerConnection> {
        match &self.stream {
            Stream::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    /// The next command line without its line end, whole by `deadline`
    /// (a deadline for the line, not for each read: a client that sends
    /// a byte at a time cannot stretch it). `idle` names the wait in the
    /// error.
    pub(super) async fn line(
        &mut self,
        deadline: tokio::time::Instant,
        idle: Duration,
    ) -> Result<Vec<u8>, ControlError> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() >= MAX_COMMAND_LINE {
                return Err(ControlError::TooLong);
            }
            let mut chunk = [0u8; 1024];
            let room = (MAX_COMMAND_LINE - self.buf.len()).min(chunk.len());
            let read = self.stream.read(&mut chunk[..room]);
            let n = match tokio::time::timeout_at(deadline, read).await {
                Err(_) => return Err(ControlError::Idle(idle.as_secs())),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(ControlError::Closed);
                }
                Ok(r) => r?,
            };
            if n == 0 {
                return Err(ControlError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one reply; a text of several lines becomes a multi-line reply
    /// (`123-first`, …, `123 last`).
    pub(super) async fn reply(&mut self, code: u16, text: &str) -> Result<(), ControlError> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = String::new();
        match lines.split_last() {
            None => out.push_str(&format!("{code} \r\n")),
            Some((last, [])) => out.push_str(&format!("{code} {last}\r\n")),
            Some((last, first)) => {
                out.push_str(&format!("{code}-{}\r\n", first[0]));
                for l in &first[1..] {
                    // A continuation line must not look like an end line.
                    out.push_str(&format!(" {l}\r\n"));
                }
                out.push_str(&format!("{code} {last}\r\n"));
            }
        }
        let send = async {
            self.stream.write_all(out.as_bytes()).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.send_timeout, send).await {
            Err(_) => Err(ControlError::SendTimeout(self.send_timeout.as_secs())),
            Ok(r) => Ok(r?),
        }
    }

    /// Switches to TLS after `AUTH TLS` was answered.
    pub(super) async fn start_tls(
        &mut self,
        acceptor: &TlsAcceptor,
        within: Duration,
    ) -> Result<(), ControlError> {
        if !self.buf.is_empty() {
            return Err(ControlError::Injected);
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Switching) else {
            return Err(ControlError::Handshake("TLS is already in use".into()));
        };
        match tokio::time::timeout(within, acceptor.accept(tcp)).await {
            Err(_) => Err(ControlError::Handshake(format!(
                "not finished within {}s",
                within.as_secs()
            ))),
            Ok(Err(e)) => Err(ControlError::Handshake(e.to_string())),
            Ok(Ok(tls)) => {
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
        }
    }

    /// Ends the connection politely (TLS close_notify, then FIN), within
    /// the send timeout.
    pub(super) async fn close(mut self) {
        let _ = tokio::time::timeout(self.send_timeout, self.stream.shutdown()).await;
    }
}
