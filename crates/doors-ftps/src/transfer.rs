//! Data connections at work: `PASV`/`EPSV`, then `STOR`/`APPE` (with
//! `REST`), `RETR` (with `REST`) and the listings.
//!
//! An upload streams into `transfer::Upload` on a blocking thread,
//! encrypted before its first write, with [`CHUNKS_IN_FLIGHT`] chunks of
//! at most [`CHUNK`] bytes between the connection and the writer. It is
//! committed — and `226` sent — only when the data connection ended with
//! TLS close_notify: in stream mode the end of the connection is the end
//! of the file, and only close_notify tells a finished file from a cut
//! one. Anything else keeps what arrived as a partial for `REST`.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use renkei_core::events::Event;
use renkei_core::memory::{Direction, Held};
use renkei_core::namespace::{EntryKind, NsError};
use renkei_core::policy::Protocol;
use renkei_core::transfer::{Download, OnCut, OpenMode, Received, Receiving, Stop, Upload};

use super::control::ControlError;
use super::data::{DataError, secure};
use super::listing;
use super::session::{Flow, Session};

/// Largest piece of a file handed between the connection and the vault,
/// and pieces in flight per transfer, each way: the kit's, as for every
/// door, so that [`TRANSFER_MEMORY`] is what a transfer holds.
pub use renkei_core::memory::{
    TRANSFER_CHUNK as CHUNK, TRANSFER_CHUNKS_IN_FLIGHT as CHUNKS_IN_FLIGHT, TRANSFER_MEMORY,
};

/// Why an upload stops before the client ended it.
enum Ending {
    /// Over `ftps.max_upload_size`: keep nothing.
    TooLarge,
    /// Cut off, silent, shutting down, or the storage did not keep up:
    /// what arrived is kept for `REST`.
    Cut(String),
}

impl From<Stop> for Ending {
    fn from(stop: Stop) -> Ending {
        match stop {
            Stop::TooLarge => Ending::TooLarge,
            Stop::Storage => Ending::Cut("the storage did not keep up (limits.fs_timeout)".into()),
        }
    }
}

/// How an upload ended, for the reply.
enum Stored {
    Committed { size: u64, sha256: String },
    Kept { kept: u64, reason: String },
    Refused(NsError),
}

impl Session {
    pub(super) async fn passive(&mut self, extended: bool) -> Result<Flow, ControlError> {
        if !extended && self.epsv_all {
            return self.say(503, "EPSV ALL was sent: use EPSV").await;
        }
        self.passive = None;
        let local = self.local.ip();
        let shown = self.ftps.passive_address(local);
        let v4 = match renkei_config::canonical_ip(shown) {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        };
        if !extended && v4.is_none() {
            return self.say(522, "PASV needs IPv4: use EPSV").await;
        }
        let p = match self.ftps.ports.bind(local).await {
            Ok(p) => p,
            Err(e) => return self.say(425, &e.to_string()).await,
        };
        let port = p.port;
        self.passive = Some(p);
        match (extended, v4) {
            (true, _) => {
                self.say(229, &format!("Entering Extended Passive Mode (|||{port}|)"))
                    .await
            }
            (false, Some(a)) => {
                let o = a.octets();
                let text = format!(
                    "Entering Passive Mode ({},{},{},{},{},{})",
                    o[0],
                    o[1],
                    o[2],
                    o[3],
                    port >> 8,
                    port & 0xff
                );
                self.say(227, &text).await
            }
            (false, None) => self.say(522, "PASV needs IPv4: use EPSV").await,
        }
    }

    /// Charges `n` bytes to the session's meter for uploads (`upload`) or
    /// downloads; the refusal names the limit that is full.
    pub(super) fn hold(&self, direction: Direction, n: u64) -> Result<Held, String> {
        let Some(mem) = &self.mem else {
            return Err("not logged in".into());
        };
        mem.hold_transfer(direction, n).map_err(|e| e.to_string())
    }

    /// Opens an upload or a download on a blocking thread (resuming
    /// re-reads a partial; the journal is read), within
    /// `limits.fs_timeout`.
    async fn opening<T: Send + 'static>(
        &self,
        open: impl FnOnce() -> Result<T, NsError> + Send + 'static,
    ) -> Result<T, NsError> {
        let within = self.ftps.ns.limits().fs_timeout;
        match tokio::time::timeout(within, tokio::task::spawn_blocking(open)).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(NsError::Storage("internal error opening the file".into())),
            Err(_) => Err(NsError::Storage(format!(
                "the vault did not answer within limits.fs_timeout ({}s)",
                within.as_secs()
            ))),
        }
    }

    /// Refuses a transfer that cannot have a data connection; `None` when
    /// it can.
    async fn data_refusal(&mut self) -> Result<Option<Flow>, ControlError> {
        if !self.protected {
            return self
                .say(
                    521,
                    "data connections must be protected: send PBSZ 0 and PROT P first",
                )
                .await
                .map(Some);
        }
        if self.passive.is_none() {
            return self.say(425, "send PASV or EPSV first").await.map(Some);
        }
        Ok(None)
    }

    /// Opens the data connection after `150`: from the client's address,
    /// resuming this connection's TLS session. Any other connection to
    /// the port — from another address, or from the client's address
    /// without this session (another program behind the same NAT) — is
    /// a stranger's: refused and recorded as such, never counted against
    /// this session's account, and the wait goes on until
    /// `ftps.data_connect_timeout`.
    async fn data(&mut self) -> Result<TlsStream<TcpStream>, DataError> {
        let Some(passive) = self.passive.take() else {
            return Err(DataError::Timeout(0));
        };
        let within = self.ftps.limits().data_connect_timeout;
        let deadline = Instant::now() + within;
        let (events, conn, client) = (&self.ftps.events, self.conn, self.peer.ip());
        let stranger = |from: std::net::SocketAddr, reason: String| {
            events.record(Event::ConnectionRefused {
                peer: renkei_core::door::canonical_peer(from),
                protocol: Protocol::Ftps,
                stage: "data",
                reason,
                rule: None,
            });
        };
        let mut unresumed = false;
        loop {
            let tcp = passive
                .accept(client, deadline, within, |from| {
                    stranger(
                        from,
                        format!(
                            "a data connection of connection {conn} came from {}, not from the client's {client}",
                            from.ip()
                        ),
                    )
                })
                .await;
            let tcp = match tcp {
                Ok(t) => t,
                // The client's own attempt did not resume: say so, not
                // only that time ran out.
                Err(DataError::Timeout(_)) if unresumed => return Err(DataError::NotResumed),
                Err(e) => return Err(e),
            };
            let from = tcp.peer_addr();
            match secure(tcp, &self.tls.data, deadline, within).await {
                Err(e @ DataError::NotResumed) => {
                    unresumed = true;
                    if let Ok(from) = from {
                        stranger(
                            from,
                            format!("a data connection for connection {conn}: {e}"),
                        );
                    }
                }
                r => return r,
            }
        }
    }

    pub(super) async fn store(
        &mut self,
        arg: &str,
        append: bool,
        shutdown: &CancellationToken,
    ) -> Result<Flow, ControlError> {
        let rest = self.rest.take().unwrap_or(0);
        if let Some(f) = self.data_refusal().await? {
            return Ok(f);
        }
        let (p, norm) = match self.resolve("upload", arg) {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let who = match self.principal() {
            Ok(w) => w,
            Err(e) => return self.fail(&e).await,
        };
        let _held = match self.hold(Direction::Up, TRANSFER_MEMORY) {
            Ok(h) => h,
            Err(why) => return self.say(452, &why).await,
        };
        let mode = if append || rest > 0 {
            OpenMode::Append
        } else {
            OpenMode::Truncate
        };
        let ns = std::sync::Arc::clone(&self.ftps.ns);
        let mut up = match self
            .opening(move || Upload::begin(&ns, &who, &p, mode))
            .await
        {
            Ok(up) => up,
            Err(e) => return self.fail(&e).await,
        };
        if let Some(mem) = &self.mem {
            up.charge_to(mem);
        }
        if rest > 0 && up.size() != rest {
            let text = format!(
                "REST {rest} does not match: {} bytes of {norm} are kept; send REST {} (or STOR without REST to start over)",
                up.size(),
                up.size()
            );
            drop(up);
            return self.say(554, &text).await;
        }
        let from = up.size();
        self.control
            .reply(150, &format!("ready to receive {norm} from byte {from}"))
            .await?;
        let tls = match self.data().await {
            Ok(t) => t,
            Err(e) => {
                drop(up);
                return self.say(425, &e.to_string()).await;
            }
        };
        let stored = self.receive(tls, up, shutdown).await;
        match stored {
            Stored::Committed { size, sha256 } => {
                self.say(
                    226,
                    &format!("stored {norm}: {size} bytes, sha256 {sha256}"),
                )
                .await
            }
            Stored::Kept { kept, reason } => {
                let text = format!(
                    "{reason}; {kept} bytes of {norm} are kept: send REST {kept} then STOR to resume"
                );
                self.control.reply(426, &text).await?;
                if shutdown.is_cancelled() {
                    self.control.reply(421, "renkei is shutting down").await?;
                    return Ok(Flow::End("shutdown".into()));
                }
                Ok(Flow::Go)
            }
            Stored::Refused(e) => {
                let code = if matches!(e, NsError::Storage(_)) {
                    451
                } else {
                    552
                };
                self.say(code, &e.to_string()).await
            }
        }
    }

    /// Feeds the data connection into the upload (the kit's
    /// `transfer::Receiving`) until the client ends the file
    /// (close_notify), cuts it off, or a limit is reached. What arrived
    /// before a cut is kept for `REST`.
    async fn receive(
        &mut self,
        mut tls: TlsStream<TcpStream>,
        up: Upload,
        shutdown: &CancellationToken,
    ) -> Stored {
        let limits = self.ftps.ns.limits().clone();
        let max = self.ftps.limits().max_upload_size;
        let mut rec = Receiving::start(up, max, OnCut::Keep, limits.fs_timeout);
        let mut buf = BytesMut::with_capacity(CHUNK);
        let end: Result<(), Ending> = loop {
            let read = tokio::select! {
                _ = shutdown.cancelled() => break Err(Ending::Cut("renkei is shutting down".into())),
                r = tokio::time::timeout(limits.idle_timeout, tls.read_buf(&mut buf)) => r,
            };
            let n = match read {
                Err(_) => {
                    break Err(Ending::Cut(format!(
                        "nothing arrived for {}s (limits.idle_timeout)",
                        limits.idle_timeout.as_secs()
                    )));
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    break Err(Ending::Cut(
                        "the data connection ended without TLS close_notify (cut off)".into(),
                    ));
                }
                Ok(Err(e)) => break Err(Ending::Cut(format!("the data connection failed: {e}"))),
                Ok(Ok(n)) => n,
            };
            self.tally.received(n as u64);
            if n == 0 || buf.len() >= CHUNK {
                let piece = buf.split().freeze();
                if !piece.is_empty()
                    && let Err(stop) = rec.data(piece).await
                {
                    break Err(Ending::from(stop));
                }
                if buf.capacity() < CHUNK {
                    buf.reserve(CHUNK);
                }
            }
            if n == 0 {
                break Ok(());
            }
        };
        if matches!(end, Err(Ending::Cut(_))) && !buf.is_empty() {
            // What arrived before the cut is the client's (TLS vouches for
            // every byte): it is kept for the resume.
            let _ = rec.data(buf.split().freeze()).await;
        }
        let _ = tokio::time::timeout(limits.send_timeout, tls.shutdown()).await;
        let (received, reason) = match end {
            Ok(()) => (rec.end().await, String::new()),
            Err(Ending::TooLarge) => (
                rec.refuse(&format!(
                    "the file is larger than ftps.max_upload_size ({max} bytes); nothing was kept"
                ))
                .await,
                String::new(),
            ),
            Err(Ending::Cut(reason)) => (rec.cut(&reason).await, reason),
        };
        match received {
            Received::Committed(o) => Stored::Committed {
                size: o.size,
                sha256: o.sha256.clone(),
            },
            Received::Kept { kept } => Stored::Kept { kept, reason },
            Received::Discarded => Stored::Refused(NsError::Invalid(reason)),
            Received::Refused(e) => Stored::Refused(e),
        }
    }

    pub(super) async fn retrieve(
        &mut self,
        arg: &str,
        shutdown: &CancellationToken,
    ) -> Result<Flow, ControlError> {
        let rest = self.rest.take().unwrap_or(0);
        if let Some(f) = self.data_refusal().await? {
            return Ok(f);
        }
        let (p, norm) = match self.resolve("download", arg) {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let who = match self.principal() {
            Ok(w) => w,
            Err(e) => return self.fail(&e).await,
        };
        let _held = match self.hold(Direction::Down, TRANSFER_MEMORY) {
            Ok(h) => h,
            Err(why) => return self.say(452, &why).await,
        };
        let ns = std::sync::Arc::clone(&self.ftps.ns);
        let mut d = match self.opening(move || Download::open(&ns, &who, &p)).await {
            Ok(d) => d,
            Err(e) => return self.fail(&e).await,
        };
        if let Some(Err(e)) = self.mem.as_ref().map(|m| d.charge_to(m)) {
            return self.fail(&e).await;
        }
        let size = d.size();
        if rest > size {
            return self
                .say(
                    554,
                    &format!("REST {rest} is past the end of {norm} ({size} bytes)"),
                )
                .await;
        }
        self.control
            .reply(
                150,
                &format!("sending {norm} ({size} bytes) from byte {rest}"),
            )
            .await?;
        let tls = match self.data().await {
            Ok(t) => t,
            Err(e) => return self.say(425, &e.to_string()).await,
        };
        let (tx, rx) = mpsc::channel::<Result<Bytes, NsError>>(CHUNKS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let mut d = d;
            let mut offset = rest;
            loop {
                let mut chunk = vec![0u8; CHUNK];
                match d.read_at(offset, &mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        offset += n as u64;
                        if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        match self.send(tls, rx, shutdown).await {
            Ok(n) => self.say(226, &format!("sent {norm}: {n} bytes")).await,
            Err(reason) => self.say(426, &reason).await,
        }
    }

    /// Writes what `rx` brings to the data connection and ends it with
    /// close_notify; the bytes sent, or why it stopped.
    async fn send(
        &mut self,
        mut tls: TlsStream<TcpStream>,
        mut rx: mpsc::Receiver<Result<Bytes, NsError>>,
        shutdown: &CancellationToken,
    ) -> Result<u64, String> {
        let limits = self.ftps.ns.limits().clone();
        let mut sent = 0u64;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Err("renkei is shutting down".into()),
                r = tokio::time::timeout(limits.fs_timeout, rx.recv()) => r,
            };
            let chunk = match next {
                Err(_) => return Err("the vault did not answer within limits.fs_timeout".into()),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(c))) => c,
            };
            match tokio::time::timeout(limits.send_timeout, tls.write_all(&chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("the data connection failed: {e}")),
                Err(_) => {
                    return Err(format!(
                        "the client did not read for {}s (limits.send_timeout)",
                        limits.send_timeout.as_secs()
                    ));
                }
            }
            sent += chunk.len() as u64;
            self.tally.sent(chunk.len() as u64);
        }
        match tokio::time::timeout(limits.send_timeout, tls.shutdown()).await {
            Ok(Ok(())) => Ok(sent),
            _ => Err("the data connection could not be closed properly".into()),
        }
    }

    pub(super) async fn listing(
        &mut self,
        verb: &str,
        arg: &str,
        shutdown: &CancellationToken,
    ) -> Result<Flow, ControlError> {
        if let Some(f) = self.data_refusal().await? {
            return Ok(f);
        }
        // `LIST -la` and the like: options are ls's, not names.
        let target = arg
            .split(' ')
            .skip_while(|w| w.starts_with('-'))
            .collect::<Vec<_>>()
            .join(" ");
        let target = if target.is_empty() {
            "."
        } else {
            target.as_str()
        };
        let r = self.resolve("list", target).and_then(|(p, norm)| {
            let who = self.principal()?;
            let info = self.ftps.ns.stat(&who, &p)?;
            let entries = match info.kind {
                EntryKind::Dir => self.ftps.ns.list(&who, &p)?,
                EntryKind::File if verb == "MLSD" => {
                    return Err(NsError::NotDir { path: norm });
                }
                EntryKind::File => vec![info],
            };
            Ok((entries, who.owner()))
        });
        let (entries, owner) = match r {
            Ok(x) => x,
            Err(e) => return self.fail(&e).await,
        };
        let mut text = String::new();
        for e in &entries {
            let line = match verb {
                "NLST" => e.name.clone(),
                "MLSD" => listing::facts(e, &e.name),
                _ => listing::list_line(e, &owner),
            };
            text.push_str(&line);
            text.push_str("\r\n");
        }
        let _held = match self.hold(Direction::Down, text.len() as u64) {
            Ok(h) => h,
            Err(why) => return self.say(452, &why).await,
        };
        self.control
            .reply(150, &format!("listing {} entries", entries.len()))
            .await?;
        let tls = match self.data().await {
            Ok(t) => t,
            Err(e) => return self.say(425, &e.to_string()).await,
        };
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(Ok(Bytes::from(text))).await;
        drop(tx);
        match self.send(tls, rx, shutdown).await {
            Ok(_) => self.say(226, "listing sent").await,
            Err(reason) => self.say(426, &reason).await,
        }
    }
}
