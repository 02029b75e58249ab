//! The one upload stream every door that reads a file from a socket uses
//! (FTPS, the browser): the door reads its protocol and hands the bytes
//! here; a blocking writer encrypts and stores them through [`Upload`],
//! with at most [`TRANSFER_CHUNKS_IN_FLIGHT`] chunks between the two (the
//! working set the door charged, `memory::TRANSFER_MEMORY`). Every hand-over
//! and the final commit wait at most `limits.fs_timeout`; the size limit
//! is counted here, from byte 0 of the file (a resumed upload's kept
//! bytes included); a file over it is discarded and recorded as refused.
//!
//! What a client's stopping short means is the door's to say ([`OnCut`]):
//! a protocol that can resume (`REST` in FTPS) keeps what arrived as the
//! partial SFTP also resumes, a browser that cannot has it discarded.
//! Only [`Receiving::end`] commits.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use renkei_storage::journal::ObjectRecord;

use super::Upload;
use crate::memory::TRANSFER_CHUNKS_IN_FLIGHT;
use crate::namespace::NsError;

/// What a client's stopping before the end of the file means for what
/// arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCut {
    /// Kept as the partial a resume continues.
    Keep,
    /// Discarded: the client cannot resume.
    Discard,
}

/// How an upload ended.
#[derive(Debug)]
pub enum Received {
    Committed(Box<ObjectRecord>),
    /// The client stopped short; the first `kept` bytes wait for a resume.
    Kept {
        kept: u64,
    },
    /// The client stopped short; nothing was kept.
    Discarded,
    /// Refused (a limit, the namespace, the vault); nothing was committed.
    Refused(NsError),
}

/// Why a door must stop feeding an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The file is over the door's size limit: end it with
    /// [`Receiving::refuse`].
    TooLarge,
    /// The writer did not take the bytes within `limits.fs_timeout`, or
    /// has ended: end it with [`Receiving::cut`].
    Storage,
}

enum Piece {
    Data(Bytes),
    End,
    Cut(String),
    Refuse(String),
}

/// An upload being received.
pub struct Receiving {
    tx: mpsc::Sender<Piece>,
    writer: JoinHandle<Received>,
    fs_timeout: Duration,
    max_size: u64,
    size: u64,
}

impl Receiving {
    /// Starts storing `up` on a blocking thread. `max_size` bounds the
    /// whole file; `fs_timeout` each hand-over and the end.
    pub fn start(up: Upload, max_size: u64, on_cut: OnCut, fs_timeout: Duration) -> Receiving {
        let size = up.size();
        let (tx, rx) = mpsc::channel::<Piece>(TRANSFER_CHUNKS_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || write(up, rx, on_cut));
        Receiving {
            tx,
            writer,
            fs_timeout,
            max_size,
            size,
        }
    }

    /// The file's size so far (a resumed upload's kept bytes included).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Hands the next bytes of the file to the writer.
    pub async fn data(&mut self, bytes: Bytes) -> Result<(), Stop> {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            return Err(Stop::TooLarge);
        }
        if self.hand(Piece::Data(bytes)).await {
            Ok(())
        } else {
            Err(Stop::Storage)
        }
    }

    /// The client ended the file: it is committed.
    pub async fn end(self) -> Received {
        self.finish(Piece::End).await
    }

    /// The client stopped short (cut off, silent, or the daemon stops):
    /// what arrived is kept or discarded as the door said.
    pub async fn cut(self, reason: &str) -> Received {
        self.finish(Piece::Cut(reason.to_string())).await
    }

    /// A limit refused the file: nothing is kept, and the refusal is
    /// recorded with `reason`.
    pub async fn refuse(self, reason: &str) -> Received {
        self.finish(Piece::Refuse(reason.to_string())).await
    }

    async fn hand(&self, piece: Piece) -> bool {
        matches!(
            tokio::time::timeout(self.fs_timeout, self.tx.send(piece)).await,
            Ok(Ok(()))
        )
    }

    async fn finish(self, last: Piece) -> Received {
        // A writer that is gone has its own answer below; a full channel
        // that does not drain within fs_timeout is the vault's silence.
        let _ = self.hand(last).await;
        let Receiving {
            tx,
            writer,
            fs_timeout,
            ..
        } = self;
        drop(tx);
        match tokio::time::timeout(fs_timeout, writer).await {
            Ok(Ok(done)) => done,
            Ok(Err(_)) => Received::Refused(NsError::Storage("the upload's writer failed".into())),
            Err(_) => Received::Refused(NsError::Storage(format!(
                "the vault did not answer within limits.fs_timeout ({}s)",
                fs_timeout.as_secs()
            ))),
        }
    }
}

/// The blocking side: writes each piece in order; ends the upload as the
/// last piece says (no last piece: the door went away, a cut).
fn write(mut up: Upload, mut rx: mpsc::Receiver<Piece>, on_cut: OnCut) -> Received {
    let mut offset = up.size();
    let cut = |up: &mut Upload, reason: &str| match on_cut {
        OnCut::Keep => {
            let kept = up.size();
            up.abandon(reason);
            Received::Kept { kept }
        }
        OnCut::Discard => {
            up.discard(reason);
            Received::Discarded
        }
    };
    loop {
        match rx.blocking_recv() {
            Some(Piece::Data(b)) => {
                let n = b.len() as u64;
                if let Err(e) = up.write(offset, b) {
                    let _ = cut(&mut up, "a write was refused");
                    return Received::Refused(e);
                }
                offset += n;
            }
            Some(Piece::End) => {
                return match up.commit() {
                    Ok(o) => Received::Committed(Box::new(o)),
                    Err(e) => Received::Refused(e),
                };
            }
            Some(Piece::Refuse(reason)) => {
                up.discard(&reason);
                up.record_refusal("upload", &reason);
                return Received::Refused(NsError::Invalid(reason));
            }
            Some(Piece::Cut(reason)) => return cut(&mut up, &reason),
            None => return cut(&mut up, "the client's upload ended before the file did"),
        }
    }
}
