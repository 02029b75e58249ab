//! The worker of one open file: runs on a blocking thread and handles that
//! file's requests in the order they arrived.
//!
//! Order matters: writes must reach the encryptor in sequence and the close
//! must come after the last write. Different files have different workers,
//! so they move in parallel.

use bytes::Bytes;
use tokio::sync::mpsc;

use super::attrs;
use super::codec::{self, Attrs, Status};
use super::session::{self, Out};
use renkei_core::namespace::NsError;
use renkei_core::transfer::{Download, Upload};

/// A request for an open file. `cost` is the request's queued bytes.
pub(super) enum FileReq {
    Read {
        id: u32,
        offset: u64,
        len: u32,
        cost: u64,
    },
    Write {
        id: u32,
        offset: u64,
        data: Bytes,
        cost: u64,
    },
    Fstat {
        id: u32,
        cost: u64,
    },
    /// Attributes of an upload: only the modification time can change;
    /// a size equal to the bytes written (scp sends one) is accepted.
    Fsetstat {
        id: u32,
        attrs: Attrs,
        cost: u64,
    },
    Fsync {
        id: u32,
        cost: u64,
    },
    Close {
        id: u32,
        cost: u64,
    },
}

pub(super) enum State {
    Up(Box<Upload>),
    Down(Box<Download>),
}

fn fail(out: &Out, id: u32, cost: u64, e: &NsError) {
    let (code, msg) = attrs::status_of(e);
    out.reply_blocking(codec::status(id, code, &msg), cost);
}

fn ok(out: &Out, id: u32, cost: u64) {
    out.reply_blocking(codec::status(id, Status::Ok, "ok"), cost);
}

/// Serves one file until it is closed or the session ends. An upload the
/// client did not close is kept as a partial when `state` drops.
// Long: one arm per request a file worker takes (write, read, fstat,
// close, …); the match is the worker's request table.
pub(super) fn run(mut state: State, mut rx: mpsc::UnboundedReceiver<FileReq>, out: Out) {
    let mut closed = None;
    if let State::Up(u) = &mut state {
        u.charge_to(&out.mem);
        u.prepare();
    }
    while let Some(req) = rx.blocking_recv() {
        match (req, &mut state) {
            (
                FileReq::Read {
                    id,
                    offset,
                    len,
                    cost,
                },
                State::Down(d),
            ) => {
                let want = u64::from(len).min(d.size().saturating_sub(offset));
                if want == 0 {
                    out.reply_blocking(codec::status(id, Status::Eof, "end of file"), cost);
                    continue;
                }
                let held = session::held_by(want as usize);
                if !out.reserve_blocking(held) {
                    out.mem.requests.give(cost);
                    return;
                }
                match codec::data_with(id, want as usize, |buf| d.read_at(offset, buf)) {
                    Ok(Some(pkt)) => out.reply_reserved(pkt, cost, held),
                    Ok(None) => out.reply_reserved(
                        codec::status(id, Status::Eof, "end of file"),
                        cost,
                        held,
                    ),
                    Err(e) => {
                        out.mem.replies.give(held);
                        fail(&out, id, cost, &e);
                    }
                }
            }
            (
                FileReq::Write {
                    id,
                    offset,
                    data,
                    cost,
                },
                State::Up(u),
            ) => match u.write(offset, data) {
                Ok(()) => ok(&out, id, cost),
                Err(e) => fail(&out, id, cost, &e),
            },
            (FileReq::Read { id, cost, .. }, State::Up(_)) => out.reply_blocking(
                codec::status(
                    id,
                    Status::PermissionDenied,
                    "this file was opened for writing",
                ),
                cost,
            ),
            (FileReq::Write { id, cost, .. }, State::Down(_)) => out.reply_blocking(
                codec::status(
                    id,
                    Status::PermissionDenied,
                    "this file was opened for reading",
                ),
                cost,
            ),
            (FileReq::Fstat { id, cost }, State::Up(u)) => {
                let a = Attrs {
                    size: Some(u.size()),
                    permissions: Some(0o100_640),
                    ..Attrs::default()
                };
                out.reply_blocking(codec::attrs(id, &a), cost);
            }
            (FileReq::Fstat { id, cost }, State::Down(d)) => {
                out.reply_blocking(codec::attrs(id, &attrs::of(&d.info())), cost);
            }
            (FileReq::Fsetstat { id, attrs, cost }, State::Up(u)) => {
                if let Some((op, code, reason)) = attrs::setstat_refusal(&attrs, Some(u.size())) {
                    u.record_refusal(op, reason);
                    out.reply_blocking(codec::status(id, code, reason), cost);
                } else {
                    if let Some((_, m)) = attrs.times {
                        u.set_mtime(i64::from(m));
                    }
                    ok(&out, id, cost);
                }
            }
            (FileReq::Fsetstat { id, cost, .. }, State::Down(_)) => ok(&out, id, cost),
            (FileReq::Fsync { id, cost }, State::Up(u)) => match u.checkpoint() {
                Ok(()) => ok(&out, id, cost),
                Err(e) => fail(&out, id, cost, &e),
            },
            (FileReq::Fsync { id, cost }, State::Down(_)) => ok(&out, id, cost),
            (FileReq::Close { id, cost }, State::Up(u)) => {
                let done = u.commit();
                // The upload, and with it its claim on the name, ends
                // before the client hears the answer: a client that opens
                // the same name again at once finds it free.
                drop(state);
                match done {
                    Ok(_) => ok(&out, id, cost),
                    Err(e) => fail(&out, id, cost, &e),
                }
                return;
            }
            (FileReq::Close { id, cost }, State::Down(_)) => {
                closed = Some((id, cost));
                break;
            }
        }
    }
    // The download's end is recorded (on drop) before the client hears OK.
    drop(state);
    if let Some((id, cost)) = closed {
        ok(&out, id, cost);
    }
}
