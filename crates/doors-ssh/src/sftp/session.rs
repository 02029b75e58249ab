//! The reader and writer tasks of a session, and the reply path shared by
//! the handler and the file workers.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Context, End, Input, Output};
use renkei_core::door::Tally;
use renkei_core::memory::{ITEM_OVERHEAD, Meter, SessionMemory};

/// Replies smaller than this are merged into one channel write.
const COALESCE_ITEM: usize = 16 << 10;
/// Largest merged write.
const COALESCE_MAX: usize = 256 << 10;

/// What the reader hands the handler.
pub(super) enum Inbound {
    /// A packet body (type onwards) and its cost in queued bytes.
    Packet(Bytes, u64),
    Eof,
    Violation(String),
    /// The account's or the daemon's client memory is full: the session
    /// ends, but this session alone did nothing wrong.
    Overloaded(String),
}

/// A reply on its way to the writer: the packet, the reply bytes it holds
/// (charged to the replies meter), and the request bytes it gives back
/// once sent.
struct Reply {
    packet: Bytes,
    held: u64,
    cost: u64,
}

/// The reply path to the writer. Every reply, whatever its kind, is charged
/// to the session's replies meter until it is on the channel, and its
/// request stays charged to the requests meter until then: a client that
/// sends requests and never reads replies is thereby caught by the caps.
#[derive(Clone)]
pub(super) struct Out {
    tx: mpsc::UnboundedSender<Reply>,
    pub(super) mem: SessionMemory,
    runtime: tokio::runtime::Handle,
}

/// What a reply holds in the replies meter.
pub(super) fn held_by(len: usize) -> u64 {
    len as u64 + ITEM_OVERHEAD
}

impl Out {
    /// Sends a reply from the handler. It is charged at once, even past
    /// the cap: the handler waits for room ([`Out::room`]) before it takes
    /// the next request, so a session overshoots by one reply at most.
    pub(super) fn reply(&self, packet: Bytes, cost: u64) {
        let held = held_by(packet.len());
        self.mem.replies.force(held);
        self.send(packet, cost, held);
    }

    /// Waits until the replies meter is below its caps. `false` once the
    /// session is closing.
    pub(super) async fn room(&self) -> bool {
        self.mem.replies.take(0).await
    }

    /// Sends a reply from a file worker (a blocking thread), waiting for
    /// room first. Dropped once the session is closing.
    pub(super) fn reply_blocking(&self, packet: Bytes, cost: u64) {
        let held = held_by(packet.len());
        if !self.reserve_blocking(held) {
            self.mem.requests.give(cost);
            return;
        }
        self.send(packet, cost, held);
    }

    /// Waits for room for `held` reply bytes and charges them, for a reply
    /// about to be built. `false` once the session is closing.
    pub(super) fn reserve_blocking(&self, held: u64) -> bool {
        self.mem.replies.take_blocking(&self.runtime, held)
    }

    /// Sends a reply whose `held` bytes were reserved.
    pub(super) fn reply_reserved(&self, packet: Bytes, cost: u64, held: u64) {
        self.send(packet, cost, held);
    }

    fn send(&self, packet: Bytes, cost: u64, held: u64) {
        if self.tx.send(Reply { packet, held, cost }).is_err() {
            self.mem.replies.give(held);
            self.mem.requests.give(cost);
        }
    }
}

/// A session's running reader and writer, and the ends the handler uses.
pub(super) struct Pipes {
    pub(super) requests: mpsc::UnboundedReceiver<Inbound>,
    pub(super) reader: JoinHandle<()>,
    pub(super) writer: JoinHandle<End>,
    pub(super) out: Out,
    pub(super) mem: SessionMemory,
}

/// Starts the reader and the writer of one session.
pub(super) fn start<I: Input, O: Output>(input: I, output: O, ctx: &Context) -> Pipes {
    let limits = &ctx.ns.limits();
    let mem = ctx.ns.memory().session(&ctx.who.user);
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_loop(
        input,
        limits.max_packet,
        mem.requests.clone(),
        in_tx,
        Arc::clone(&ctx.tally),
    ));
    let writer = tokio::spawn(write_loop(
        output,
        out_rx,
        mem.clone(),
        limits.send_timeout,
        ctx.gone.clone(),
        Arc::clone(&ctx.tally),
    ));
    let out = Out {
        tx: out_tx,
        mem: mem.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    Pipes {
        requests: in_rx,
        reader,
        writer,
        out,
        mem,
    }
}

/// How the writer ended, once it has.
pub(super) async fn writer_end(writer: &mut JoinHandle<End>) -> End {
    writer.await.unwrap_or(End::OutputGone)
}

async fn read_loop<I: Input>(
    mut input: I,
    max_packet: u64,
    requests: Meter,
    tx: mpsc::UnboundedSender<Inbound>,
    tally: Arc<Tally>,
) {
    let mut buf = BytesMut::new();
    loop {
        let Some(chunk) = input.recv().await else {
            let _ = tx.send(Inbound::Eof);
            return;
        };
        tally.received(chunk.len() as u64);
        buf.extend_from_slice(&chunk);
        while buf.len() >= 4 {
            let len = u64::from(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
            if len == 0 || len > max_packet {
                let _ = tx.send(Inbound::Violation(format!(
                    "sent an SFTP packet of {len} bytes; the limit is {max_packet} (limits.max_packet)"
                )));
                return;
            }
            if (buf.len() as u64) < 4 + len {
                break;
            }
            // Charged before it is kept: what a request costs is what it
            // makes the daemon hold.
            let cost = len + 4 + ITEM_OVERHEAD;
            if let Err(full) = requests.try_take(cost) {
                let _ = tx.send(if !full.own {
                    Inbound::Overloaded(full.reason)
                } else {
                    Inbound::Violation(format!(
                        "sent more requests than may wait for answers: {}",
                        full.reason
                    ))
                });
                return;
            }
            // A copy, not a slice: a slice would keep the whole receive
            // buffer alive for as long as this one request waits.
            let packet = Bytes::copy_from_slice(&buf[4..4 + len as usize]);
            buf.advance(4 + len as usize);
            if tx.send(Inbound::Packet(packet, cost)).is_err() {
                requests.give(cost);
                return;
            }
        }
    }
}

async fn write_loop<O: Output>(
    output: O,
    mut rx: mpsc::UnboundedReceiver<Reply>,
    mem: SessionMemory,
    send_timeout: Duration,
    mut gone: watch::Receiver<bool>,
    tally: Arc<Tally>,
) -> End {
    let mut batch: Vec<Reply> = Vec::new();
    let end = loop {
        let first = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => r,
                None => break None,
            },
            _ = gone.wait_for(|g| *g) => break Some(End::Lost("the connection closed".into())),
        };
        batch.push(first);
        let mut size = batch[0].packet.len();
        while size < COALESCE_MAX && batch.last().is_some_and(|r| r.packet.len() < COALESCE_ITEM) {
            match rx.try_recv() {
                Ok(item) => {
                    size += item.packet.len();
                    batch.push(item);
                }
                Err(_) => break,
            }
        }
        // Merge the run of small replies; large ones go as they are.
        let mut pending = BytesMut::new();
        let (mut held, mut answered) = (0, 0);
        let mut failed = None;
        for r in batch.drain(..) {
            held += r.held;
            answered += r.cost;
            if failed.is_some() {
                continue;
            }
            if r.packet.len() < COALESCE_ITEM {
                pending.extend_from_slice(&r.packet);
                continue;
            }
            if !pending.is_empty() {
                let data = std::mem::take(&mut pending).freeze();
                failed = send(&output, data, &tally, send_timeout, &mut gone)
                    .await
                    .err();
            }
            if failed.is_none() {
                failed = send(&output, r.packet, &tally, send_timeout, &mut gone)
                    .await
                    .err();
            }
        }
        if failed.is_none() && !pending.is_empty() {
            failed = send(&output, pending.freeze(), &tally, send_timeout, &mut gone)
                .await
                .err();
        }
        mem.replies.give(held);
        mem.requests.give(answered);
        if let Some(end) = failed {
            break Some(end);
        }
    };
    match end {
        Some(end) => {
            // Wake every worker waiting for room: nothing more will be sent.
            mem.close();
            end
        }
        None => {
            output.close().await;
            End::Closed
        }
    }
}

/// Sends one chunk: fails when the channel is gone, when the connection
/// closes, or when the client has taken nothing for `send_timeout` (its
/// window stays shut: it reads nothing, or its peer is dead).
async fn send<O: Output>(
    output: &O,
    data: Bytes,
    tally: &Tally,
    send_timeout: Duration,
    gone: &mut watch::Receiver<bool>,
) -> Result<(), End> {
    let n = data.len() as u64;
    tokio::select! {
        sent = tokio::time::timeout(send_timeout, output.send(data)) => match sent {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(End::OutputGone),
            Err(_) => {
                return Err(End::Lost(format!(
                    "the client took none of its replies for {} (limits.send_timeout)",
                    renkei_config::units::format_duration(send_timeout)
                )));
            }
        },
        _ = gone.wait_for(|g| *g) => return Err(End::Lost("the connection closed".into())),
    }
    tally.sent(n);
    Ok(())
}
