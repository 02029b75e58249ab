//! What every destination shares: where one hand-off goes (a
//! [`Placement`], with the working-file names of `renkei_model::placement`)
//! and why placing can fail in ways that do not depend on the destination
//! ([`PlaceError`]). The local spool (`route::spool`) and the remote
//! server (`remote::push`) run the same protocol over these: write the
//! `.part`, check its SHA-256 against the one recorded at upload, leave a
//! receipt, rename to the final name without replacing anything, then the
//! trigger file.

use renkei_core::records::VaultError;
use renkei_model::placement;

pub use renkei_model::placement::Placed;

/// Where one hand-off goes. Paths are in the destination's own syntax
/// (a local directory or a directory on a remote server), joined with `/`.
#[derive(Debug, Clone)]
pub struct Placement {
    pub dir: String,
    /// File name at the destination.
    pub name: String,
    pub trigger_suffix: Option<String>,
    /// Unique per (route, object): names the hidden working files.
    pub tag: String,
}

impl Placement {
    /// The working file the bytes are written to.
    pub fn part(&self) -> String {
        self.join(&placement::part_name(&self.tag))
    }

    /// The receipt that proves an earlier attempt placed these bytes.
    pub fn receipt(&self) -> String {
        self.join(&placement::receipt_name(&self.tag))
    }

    /// The final name.
    pub fn file(&self) -> String {
        self.join(&self.name)
    }

    /// The trigger file, if the destination wants one.
    pub fn trigger(&self) -> Option<String> {
        self.trigger_suffix
            .as_ref()
            .map(|s| self.join(&placement::trigger_name(&self.name, s)))
    }

    fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.dir.trim_end_matches('/'))
    }
}

/// Why a file could not be placed, whatever the destination.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("reading the stored file: {0}")]
    Read(#[from] VaultError),
    #[error(
        "the stored bytes do not match the SHA-256 recorded at upload (recorded {expected}, read {found}); nothing was delivered"
    )]
    Corrupt { expected: String, found: String },
    #[error("{place} already exists with other contents; waiting for it to be taken")]
    Conflict {
        /// The final name, and where it is.
        place: String,
    },
}

impl PlaceError {
    /// Whether trying again cannot help (the stored bytes are bad).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            PlaceError::Corrupt { .. } | PlaceError::Read(VaultError::Decrypt { .. })
        )
    }
}
