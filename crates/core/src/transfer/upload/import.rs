//! Uploads made by routes that import files (`route::pull`): they keep
//! what arrived when cut off and continue it later, but only for the same
//! source file.

use std::sync::Arc;

use super::{OpenMode, Upload};
use crate::namespace::{Namespace, NsError, NsPath, Principal};

impl Upload {
    /// Starts a route's import of a copy of `origin` (a remote file named
    /// with its size and time) to `path`, which must not exist. The bytes
    /// kept from an earlier import of the same `origin` that was cut off
    /// are continued: the caller reads on from [`Upload::size`]. Blocking.
    pub fn begin_import(
        ns: &Arc<Namespace>,
        who: &Principal,
        path: &NsPath,
        origin: &str,
    ) -> Result<Upload, NsError> {
        let mut up = Upload::begin(ns, who, path, OpenMode::Exclusive)?;
        up.origin = Some(origin.to_string());
        if let Some(p) = ns.journal.partial(&up.partial_key)?
            && p.origin.as_deref() == Some(origin)
        {
            up.resume(p)?;
        }
        Ok(up)
    }

    /// Where this upload continued a kept partial, the bytes it had.
    pub fn resumed_from(&self) -> Option<u64> {
        self.resumed_from
    }

    /// Ends a route's import that was cut off, keeping what arrived in
    /// order for [`Upload::begin_import`] to continue (an operator's
    /// [`Upload::abandon`] would discard it). Returns the bytes kept.
    pub fn suspend(&mut self) -> u64 {
        if !self.open {
            return 0;
        }
        self.open = false;
        self.clear_pending();
        match self.checkpoint() {
            Ok(()) => self.size,
            Err(e) => {
                tracing::error!(error = %e, path = %self.shown, "could not keep an interrupted import");
                0
            }
        }
    }
}
