//! One download: a committed file decrypted in the stream.
//!
//! Reads are served at any offset (clients pipeline and some read out of
//! order); only the chunk being served exists in plaintext, in memory.
//! When the download ends — closed, or cut off — one `downloaded` event
//! records how many bytes were served.

use std::sync::Arc;

use crate::events::Event;
use crate::journal::{EntryRecord, ObjectRecord};
use crate::namespace::{EntryInfo, Namespace, NsError, NsPath, Principal};
use crate::policy::Operation;
use crate::vault::{ObjectReader, VaultError};

/// A download in progress.
pub struct Download {
    ns: Arc<Namespace>,
    who: Principal,
    name: String,
    object: ObjectRecord,
    reader: ObjectReader,
    served: u64,
}

impl Download {
    /// Opens a committed file for reading. Partials cannot be downloaded.
    pub fn open(ns: &Arc<Namespace>, who: &Principal, path: &NsPath) -> Result<Download, NsError> {
        ns.allow(who, Operation::Read, path)?;
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
            let Some(object) = ns.journal.object(&object)? else {
                return Err(NsError::NotFound { path: shown });
            };
            match ObjectReader::open(Arc::clone(&ns.vault), &object.segments) {
                Ok(reader) => {
                    let NsPath::Entry { name, .. } = path else {
                        return Err(NsError::IsDir { path: shown });
                    };
                    return Ok(Download {
                        ns: Arc::clone(ns),
                        who: who.clone(),
                        name: name.clone(),
                        object,
                        reader,
                        served: 0,
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

    pub fn size(&self) -> u64 {
        self.object.size
    }

    pub fn info(&self) -> EntryInfo {
        EntryInfo::file(&self.name, &self.object)
    }

    /// Reads at `offset` into `buf`; 0 at the end of the file.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, NsError> {
        let n = self.reader.read_at(offset, buf)?;
        self.served += n as u64;
        Ok(n)
    }
}

impl Drop for Download {
    fn drop(&mut self) {
        self.ns.events.record(Event::Downloaded {
            actor: self.who.actor(),
            box_name: self.object.bx.to_string(),
            path: self.object.path.clone(),
            object: self.object.id.clone(),
            size: self.object.size,
            bytes_served: self.served,
        });
    }
}
