//! Writes that arrive out of order (pipelining clients send several at
//! once) are held until the data before them arrives, within the upload's
//! `reorder_window` and the session's share of out-of-order memory.

use bytes::Bytes;

use super::Upload;
use crate::memory::SessionMemory;
use crate::namespace::NsError;

impl Upload {
    /// Drops the data held out of order and gives back what it held.
    pub(super) fn clear_pending(&mut self) {
        self.pending.clear();
        self.reorder.give(std::mem::take(&mut self.pending_bytes));
    }

    /// Charges what the upload holds to `mem`, a session's meters (and
    /// so to its account and the daemon): out-of-order data, and the
    /// store's buffer of the open segment. Without it, only the upload's
    /// own window bounds them.
    pub fn charge_to(&mut self, mem: &SessionMemory) {
        self.reorder = mem.reorder.clone();
        self.buffers = mem.requests.clone();
    }

    pub(super) fn hold(&mut self, offset: u64, data: Bytes) -> Result<(), NsError> {
        let len = data.len() as u64;
        let window = self.ns.limits.reorder_window;
        let end = offset.saturating_add(len);
        if end - self.size > window {
            return Err(NsError::Invalid(format!(
                "{}: a write at offset {offset} is {} bytes past the end of the data received so far ({} bytes); at most {} can be held out of order",
                self.shown,
                offset - self.size,
                self.size,
                renkei_config::units::format_size(window)
            )));
        }
        let before = self.pending.range(..=offset).next_back();
        let after = self.pending.range(offset..).next();
        let overlaps = before.is_some_and(|(o, d)| o + d.len() as u64 > offset)
            || after.is_some_and(|(o, _)| *o < end);
        if overlaps {
            return Err(NsError::Invalid(format!(
                "{}: a write of {len} bytes at offset {offset} overlaps another write",
                self.shown
            )));
        }
        if let Err(full) = self.reorder.try_take(len) {
            return Err(NsError::Invalid(format!(
                "{}: a write at offset {offset} cannot be held until the data before it arrives: {}; write in order, or fewer files at once",
                self.shown, full.reason
            )));
        }
        self.pending_bytes += len;
        self.pending.insert(offset, data);
        Ok(())
    }
}
