//! The reader and writer tasks of a session, and the reply path shared by
//! the handler and the file workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::handler::Handler;
use super::{Context, End, Input, Output, Stats};

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
}

/// Bytes of replies produced but not yet sent. Workers block in
/// [`Budget::acquire`] when it is full; closing it releases them.
pub(super) struct Budget {
    state: Mutex<(u64, bool)>,
    cv: Condvar,
    max: u64,
}

impl Budget {
    fn new(max: u64) -> Budget {
        Budget {
            state: Mutex::new((0, false)),
            cv: Condvar::new(),
            max,
        }
    }

    /// Waits for room for `n` bytes. `false` if the session is closing.
    pub(super) fn acquire(&self, n: u64) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        // One reply larger than the whole budget still goes when alone.
        while !s.1 && s.0 > 0 && s.0 + n > self.max {
            s = match self.cv.wait(s) {
                Ok(s) => s,
                Err(_) => return false,
            };
        }
        if s.1 {
            return false;
        }
        s.0 += n;
        true
    }

    pub(super) fn release(&self, n: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.0 = s.0.saturating_sub(n);
        }
        self.cv.notify_all();
    }

    pub(super) fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.1 = true;
        }
        self.cv.notify_all();
    }
}

/// A reply on its way to the writer: the packet, the response budget it
/// holds, and the queued-request bytes it gives back once sent.
struct Reply {
    packet: Bytes,
    budget: u64,
    cost: u64,
}

/// The reply path to the writer. A request counts against
/// `max_queued_requests` until its reply is on the channel, not merely
/// produced: a client that sends requests and never reads replies is
/// thereby caught by the same cap.
#[derive(Clone)]
pub(super) struct Out {
    tx: mpsc::UnboundedSender<Reply>,
    pub(super) budget: Arc<Budget>,
    queued: Arc<AtomicU64>,
}

impl Out {
    /// Sends a reply for a request that cost `cost` queued bytes.
    pub(super) fn reply(&self, packet: Bytes, cost: u64) {
        self.reply_budgeted(packet, cost, 0);
    }

    /// Sends a reply that holds `budget` bytes of the response budget
    /// (already acquired), released once written.
    pub(super) fn reply_budgeted(&self, packet: Bytes, cost: u64, budget: u64) {
        if self
            .tx
            .send(Reply {
                packet,
                budget,
                cost,
            })
            .is_err()
        {
            self.budget.release(budget);
            self.queued.fetch_sub(cost, Ordering::Relaxed);
        }
    }
}

/// Runs one SFTP session to its end.
pub async fn serve<I: Input, O: Output>(input: I, output: O, ctx: Context) -> End {
    let limits = ctx.ns.limits.clone();
    let queued = Arc::new(AtomicU64::new(0));
    let budget = Arc::new(Budget::new(limits.max_response_buffer));
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();

    let reader = tokio::spawn(read_loop(
        input,
        limits.max_packet,
        limits.max_queued_requests,
        Arc::clone(&queued),
        in_tx,
        Arc::clone(&ctx.stats),
    ));
    let writer = tokio::spawn(write_loop(
        output,
        out_rx,
        Arc::clone(&budget),
        Arc::clone(&queued),
        Arc::clone(&ctx.stats),
    ));
    let out = Out {
        tx: out_tx,
        budget: Arc::clone(&budget),
        queued,
    };
    let end = Handler::new(ctx, out).run(in_rx).await;
    reader.abort();
    if end != End::Closed {
        budget.close();
    }
    let written = writer.await.unwrap_or(End::OutputGone);
    if end == End::Closed { written } else { end }
}

async fn read_loop<I: Input>(
    mut input: I,
    max_packet: u64,
    max_queued: u64,
    queued: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Inbound>,
    stats: Arc<Stats>,
) {
    let mut buf = BytesMut::new();
    loop {
        let Some(chunk) = input.recv().await else {
            let _ = tx.send(Inbound::Eof);
            return;
        };
        stats
            .bytes_up
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
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
            buf.advance(4);
            let packet = buf.split_to(len as usize).freeze();
            let cost = len + 4;
            let now = queued.fetch_add(cost, Ordering::Relaxed) + cost;
            if now > max_queued {
                let _ = tx.send(Inbound::Violation(format!(
                    "has {now} bytes of requests waiting for answers; the limit is {max_queued} (limits.max_queued_requests)"
                )));
                return;
            }
            if tx.send(Inbound::Packet(packet, cost)).is_err() {
                return;
            }
        }
    }
}

async fn write_loop<O: Output>(
    output: O,
    mut rx: mpsc::UnboundedReceiver<Reply>,
    budget: Arc<Budget>,
    queued: Arc<AtomicU64>,
    stats: Arc<Stats>,
) -> End {
    let mut batch: Vec<Reply> = Vec::new();
    while let Some(first) = rx.recv().await {
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
        let (mut to_release, mut answered) = (0, 0);
        let mut ok = true;
        for r in batch.drain(..) {
            to_release += r.budget;
            answered += r.cost;
            if !ok {
                continue;
            }
            if r.packet.len() < COALESCE_ITEM {
                pending.extend_from_slice(&r.packet);
                continue;
            }
            if !pending.is_empty() {
                ok = send(&output, std::mem::take(&mut pending).freeze(), &stats).await;
            }
            ok = ok && send(&output, r.packet, &stats).await;
        }
        if ok && !pending.is_empty() {
            ok = send(&output, pending.freeze(), &stats).await;
        }
        budget.release(to_release);
        queued.fetch_sub(answered, Ordering::Relaxed);
        if !ok {
            budget.close();
            return End::OutputGone;
        }
    }
    output.close().await;
    End::Closed
}

async fn send<O: Output>(output: &O, data: Bytes, stats: &Stats) -> bool {
    let n = data.len() as u64;
    if output.send(data).await.is_err() {
        return false;
    }
    stats.bytes_down.fetch_add(n, Ordering::Relaxed);
    true
}
