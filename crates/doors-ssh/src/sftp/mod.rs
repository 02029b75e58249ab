//! The SFTP subsystem: renkei's own request loop (see
//! `docs/decisions/0002-own-sftp-loop.md`).
//!
//! Three parts per session, so that no part can stall another:
//!
//! - the **reader** task frames packets from the SSH channel as fast as they
//!   arrive, never waiting for the rest of the session (waiting there is
//!   what freezes naive servers: the SSH layer stops reading window
//!   adjustments). What it has read and not yet answered is capped by
//!   `max_queued_requests`; a packet over `max_packet` or a client over the
//!   cap ends the session as a protocol violation.
//! - the **handler** task decodes and answers requests. Metadata operations
//!   are answered here; each open file gets a **worker** on a blocking
//!   thread that encrypts/decrypts in order, so several files move in
//!   parallel and the async runtime never waits on the disk.
//! - the **writer** task sends replies, coalescing small ones. Replies
//!   waiting to be sent are capped by `max_response_buffer`: workers pause
//!   when it is full (backpressure), which bounds memory under `sftp -R 256`.
//!   Every reply counts, whatever its kind (see [`renkei_core::memory`]); a
//!   client that takes none for `send_timeout`, or whose connection is
//!   gone, ends the session.
//!
//! The loop knows nothing of SSH: it reads and writes byte chunks through
//! [`Input`] and [`Output`], which `crate::ssh` implements for a channel.

pub(crate) mod attrs;
mod codec;
#[cfg(any(test, feature = "fuzzing"))]
mod encode;
mod extended;
mod handler;
mod session;
mod worker;

#[cfg(test)]
mod tests;

/// What the fuzz targets call: the daemon's own packet decoder.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use super::codec::{DecodeError, Request, decode};
}

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use renkei_core::door::Tally;
use renkei_core::namespace::{Namespace, Principal};

/// Extensions announced in VERSION.
pub(super) const EXTENSIONS: &[(&str, &str)] = &[
    ("posix-rename@openssh.com", "1"),
    ("statvfs@openssh.com", "2"),
    ("fstatvfs@openssh.com", "2"),
    ("fsync@openssh.com", "1"),
    ("lsetstat@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
];

/// Runs one SFTP session to its end.
pub async fn serve<I: Input, O: Output>(input: I, output: O, ctx: Context) -> End {
    let pipes = session::start(input, output, &ctx);
    let end = handler::Handler::new(ctx, pipes.out)
        .run(pipes.requests, pipes.writer)
        .await;
    pipes.reader.abort();
    let _ = pipes.reader.await;
    pipes.mem.settle();
    end
}

/// Incoming bytes of a session.
pub trait Input: Send + 'static {
    /// The next chunk, or `None` when the client has closed its side.
    fn recv(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
}

/// Outgoing bytes of a session.
pub trait Output: Send + Sync + 'static {
    fn send(&self, data: Bytes) -> impl Future<Output = io::Result<()>> + Send;
    /// Signals end of output and closes the channel.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// What a session needs from the rest of the daemon.
#[derive(Clone)]
pub struct Context {
    pub ns: Arc<Namespace>,
    pub who: Principal,
    /// The connection's byte counts and breaches (the kit's session
    /// records and scores them).
    pub tally: Arc<Tally>,
    /// A directory on the data volume, for `statvfs`.
    pub volume: PathBuf,
    /// Turns true when the connection the session runs on has ended: the
    /// session then ends too, whatever it was waiting for.
    pub gone: tokio::sync::watch::Receiver<bool>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The client closed the channel.
    Closed,
    /// The client broke the protocol or a limit; the connection should go.
    Violation(String),
    /// The channel stopped accepting output.
    OutputGone,
    /// The session could not go on through no fault the client can be
    /// blamed for: the connection went away, the client took no replies
    /// for `limits.send_timeout`, or the daemon's client memory is full.
    Lost(String),
}
