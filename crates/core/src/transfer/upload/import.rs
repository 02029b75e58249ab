//! Uploads made by routes that import files (`route::pull`): they keep
//! what arrived when cut off and continue it later, but only for the same
//! source file.

use std::sync::Arc;

use jiff::Timestamp;

use renkei_model::boxes::BoxKind;
use renkei_storage::journal::handoff::import_key;
use renkei_storage::journal::{HandoffOp, ImportMark, ObjectRecord, ObjectState, Op};

use super::{OpenMode, Upload};
use crate::events::Event;
use crate::namespace::{Namespace, NsError, NsPath, Principal};

/// What a route imports, for [`Upload::commit_import`].
pub struct Imported<'a> {
    pub route: &'a str,
    pub tenant: &'a str,
    pub bx: BoxKind,
    pub name: &'a str,
    /// Where it came from, as recorded.
    pub source: String,
}

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

    /// Commits an imported file together with its import mark (one
    /// transaction), recorded as `file_imported`: until the route removes
    /// the source and drops the mark (`Namespace::drop_import_mark`), a
    /// crash between the two is recognised as "already imported".
    pub fn commit_import(&mut self, what: &Imported<'_>) -> Result<ObjectRecord, NsError> {
        let (route, tenant, bx) = (what.route.to_string(), what.tenant.to_string(), what.bx);
        let key = import_key(what.route, what.tenant, what.name);
        let (name, source) = (what.name.to_string(), what.source.clone());
        let (event_route, event_tenant) = (route.clone(), tenant.clone());
        let resumed_from = self.resumed_from();
        self.commit_with(
            move |o| {
                vec![Op::Handoff(HandoffOp::PutImport {
                    key,
                    mark: ImportMark {
                        route,
                        tenant,
                        name,
                        size: o.size,
                        sha256: o.sha256.clone(),
                        object: o.id.clone(),
                        at: Timestamp::now(),
                    },
                })]
            },
            move |o| Event::FileImported {
                route: event_route,
                tenant: event_tenant,
                box_name: bx.to_string(),
                path: o.path.clone(),
                object: o.id.clone(),
                size: o.size,
                sha256: o.sha256.clone(),
                source,
                resumed_from,
                checking: matches!(o.state, ObjectState::Checking { .. }),
            },
        )
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
