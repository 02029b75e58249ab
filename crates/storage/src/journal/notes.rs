//! Notes: what must be recorded elsewhere about a change, committed with it.
//!
//! A change to stored files and its audit record must never exist one
//! without the other, and the client must not hear OK before both are
//! durable. The audit trail is another file, so the two cannot share an
//! fsync; instead the record rides in the change's own transaction as a
//! *note* (table `notes`, keyed by a sequence number that never repeats).
//! Once the transaction is durable the writer thread hands the note's text
//! to its `deliver` callback — the audit trail appends it — before the
//! caller hears back. Notes stay in the journal until the trail has them on
//! disk; the trail's owner then drops them (`Op::DropNotes`). After a
//! crash, the notes still present are exactly the records the trail may
//! lack.

use super::OpResult;

/// Key in `meta` of the next note's sequence number.
pub(super) const NEXT_NOTE: &str = "next_note";

/// Builds a note's text from its sequence number and the results of the
/// operations it accompanies; `None` stores no note (nothing was changed
/// that needs one). Runs on the writer thread inside the transaction: it
/// must be quick and must not block. It may run more than once: a
/// transaction that PostgreSQL refused for a conflict with another node's
/// is run again, and the text is made again from what the operations
/// found the second time (decision 0017).
pub trait BuildNote: Send {
    fn build(&self, seq: u64, results: &[OpResult]) -> Option<String>;
}

/// Any closure that can be cloned builds a note: each attempt calls a
/// fresh clone of it.
impl<F> BuildNote for F
where
    F: FnOnce(u64, &[OpResult]) -> Option<String> + Clone + Send,
{
    fn build(&self, seq: u64, results: &[OpResult]) -> Option<String> {
        (self.clone())(seq, results)
    }
}

pub type NoteText = Box<dyn BuildNote>;

/// A note to commit with a group of operations.
pub struct Note {
    pub text: NoteText,
    /// Receives the text once the transaction is durable, on the writer
    /// thread and before the caller hears back (keep it short).
    pub deliver: Box<dyn FnOnce(String) + Send>,
}

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Note")
    }
}
