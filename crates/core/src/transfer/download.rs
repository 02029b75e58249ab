//! One download: a committed file decrypted in the stream.
//!
//! Reads are served at any offset (clients pipeline and some read out of
//! order); only the chunk being served exists in plaintext, in memory.
//! When the download ends — closed, or cut off — one `downloaded` event
//! records how many bytes were served.

use std::sync::Arc;

use crate::events::Event;
use crate::memory::{Held, SessionMemory, TooMuchHeld};
use crate::namespace::{EntryInfo, Namespace, NsError, NsPath, Principal};
use crate::policy::Operation;
use renkei_storage::journal::{EntryRecord, ObjectRecord};
use renkei_storage::vault::{ObjectReader, VaultError};

/// A download in progress.
pub struct Download {
    ns: Arc<Namespace>,
    who: Principal,
    name: String,
    body: Body,
    served: u64,
    /// The store's read-ahead, charged to the session (see
    /// [`Download::charge_to`]).
    held: Option<Held>,
}

/// What is being read.
enum Body {
    /// A stored file, decrypted in the stream.
    Object {
        object: Box<ObjectRecord>,
        reader: ObjectReader,
    },
    /// A receipt, rendered when opened.
    Receipt(crate::namespace::receipts::Receipt),
}

impl Download {
    /// Opens a committed file for reading. Partials cannot be downloaded.
    pub fn open(ns: &Arc<Namespace>, who: &Principal, path: &NsPath) -> Result<Download, NsError> {
        ns.allow(who, Operation::Read, path)?;
        if let NsPath::Receipt(name) = path {
            let receipt = ns.receipt(who, name)?;
            return Ok(Download {
                ns: Arc::clone(ns),
                who: who.clone(),
                name: name.clone(),
                body: Body::Receipt(receipt),
                served: 0,
                held: None,
            });
        }
        let shown = path.to_string();
        let Some(k) = crate::namespace::keys_of(who, path) else {
            return Err(NsError::IsDir { path: shown });
        };
        // A concurrent replacement may delete the blobs between the lookup
        // and the open; looking up again then finds the new file. The same
        // object with a missing blob is data loss, said as such.
        let mut tried: Option<String> = None;
        loop {
            let object = match ns.journal.entry(&k.entry)? {
                Some(EntryRecord::File { object }) => object,
                Some(EntryRecord::Dir { .. }) => return Err(NsError::IsDir { path: shown }),
                None => return Err(NsError::NotFound { path: shown }),
            };
            let seen = |o: &ObjectRecord| match path {
                NsPath::LaneFile { view, .. } => crate::namespace::lanes::sees_in(*view, who, o),
                _ => crate::namespace::sees(who, o),
            };
            let Some(object) = ns.journal.object(&object)?.filter(seen) else {
                return Err(NsError::NotFound { path: shown });
            };
            match ObjectReader::open(Arc::clone(&ns.vault), &object.segments) {
                Ok(reader) => {
                    let (NsPath::Entry { name, .. } | NsPath::LaneFile { name, .. }) = path else {
                        return Err(NsError::IsDir { path: shown });
                    };
                    return Ok(Download {
                        ns: Arc::clone(ns),
                        who: who.clone(),
                        name: name.clone(),
                        body: Body::Object {
                            object: Box::new(object),
                            reader,
                        },
                        served: 0,
                        held: None,
                    });
                }
                Err(VaultError::Io { source, blob })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    if tried.as_deref() == Some(object.id.as_str()) {
                        tracing::error!(path = %shown, object = %object.id, blob, "stored data is missing from the vault");
                        return Err(NsError::Storage(format!(
                            "the stored data of {shown} is missing from the vault (object {}, blob {blob})",
                            object.id
                        )));
                    }
                    tried = Some(object.id);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Charges what the store may read ahead for this download (an
    /// object store's window) to `mem`, a session's meters and so its
    /// account's and the daemon's; refused when they are full.
    pub fn charge_to(&mut self, mem: &SessionMemory) -> Result<(), NsError> {
        let need = match &self.body {
            Body::Object { .. } => self.ns.vault.reader_memory(),
            Body::Receipt(_) => 0,
        };
        if need > 0 && self.held.is_none() {
            let held = mem
                .replies
                .hold_buffer(need)
                .map_err(|full| NsError::Conflict {
                    path: self.name.clone(),
                    reason: TooMuchHeld(full).to_string(),
                })?;
            self.held = Some(held);
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Object { object, .. } => object.size,
            Body::Receipt(r) => r.text.len() as u64,
        }
    }

    pub fn info(&self) -> EntryInfo {
        match &self.body {
            Body::Object { object, .. } => EntryInfo::file(&self.name, object),
            Body::Receipt(r) => r.info(),
        }
    }

    /// Reads at `offset` into `buf`; 0 at the end of the file.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, NsError> {
        let n = match &mut self.body {
            Body::Object { reader, .. } => reader.read_at(offset, buf)?,
            Body::Receipt(r) => {
                let bytes = r.text.as_bytes();
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                n
            }
        };
        self.served += n as u64;
        Ok(n)
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        // Reading a receipt moves no data of the municipality's: not audited.
        let Body::Object { object, .. } = &self.body else {
            return;
        };
        if object.lane().is_some() {
            self.ns.events.record(Event::LaneReceived {
                actor: self.who.actor(),
                file: crate::namespace::lanes::lane_file(object),
                bytes_served: self.served,
            });
            return;
        }
        self.ns.events.record(Event::Downloaded {
            actor: self.who.actor(),
            box_name: object.bx.to_string(),
            path: object.path.clone(),
            object: object.id.clone(),
            size: object.size,
            bytes_served: self.served,
        });
    }
}
