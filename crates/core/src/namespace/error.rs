//! Errors of namespace operations, worded for the person at the client.
//!
//! The message of every variant is what an SFTP client shows, so it names
//! the path and says what is wrong and, where it helps, what to do instead.
//! [`Category`] is the coarse class the protocol adapters map to status
//! codes.

use renkei_storage::journal::{ApplyError, JournalError, OpError};
use renkei_storage::vault::VaultError;

use super::path::PathError;

/// Coarse class of an error, for protocol status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    NoSuchFile,
    PermissionDenied,
    Failure,
    Unsupported,
}

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("{0}")]
    BadPath(#[from] PathError),
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: already exists")]
    Exists { path: String },
    #[error("{path}: is a directory")]
    IsDir { path: String },
    #[error("{path}: is not a directory")]
    NotDir { path: String },
    #[error("{path}: directory is not empty")]
    NotEmpty { path: String },
    #[error("{path}: permission denied: {reason}")]
    Denied { path: String, reason: String },
    #[error("{path}: {reason}")]
    Conflict { path: String, reason: String },
    #[error("{0}")]
    Unsupported(String),
    /// The client asked for something that cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed; the operation was not applied.
    #[error("internal storage error, the operation was not applied ({0})")]
    Storage(String),
}

impl NsError {
    pub fn category(&self) -> Category {
        match self {
            NsError::BadPath(PathError::NoSuchBox { .. }) | NsError::NotFound { .. } => {
                Category::NoSuchFile
            }
            NsError::Denied { .. } => Category::PermissionDenied,
            NsError::Unsupported(_) => Category::Unsupported,
            _ => Category::Failure,
        }
    }

    /// Maps a journal precondition failure on `path`.
    pub fn from_op(e: OpError, path: &str) -> NsError {
        let path = path.to_string();
        match e {
            OpError::NotFound => NsError::NotFound { path },
            OpError::Exists => NsError::Exists { path },
            OpError::IsDir => NsError::IsDir { path },
            OpError::NotDir => NsError::NotDir { path },
            OpError::NotEmpty => NsError::NotEmpty { path },
            OpError::ParentMissing => NsError::NotFound {
                path: format!("{path} (its directory)"),
            },
            OpError::Stale => NsError::Conflict {
                path,
                reason: "changed by another session meanwhile; try again".into(),
            },
            OpError::HandedOn => NsError::Denied {
                path,
                reason: "already handed on; it is kept until the retention period \
                         removes it (its receipt is under /receipts)"
                    .into(),
            },
            OpError::Fenced => NsError::Conflict {
                path,
                reason: "this node's lease on the work was taken over by another node; nothing was changed".into(),
            },
        }
    }

    pub fn from_apply(e: ApplyError, path: &str) -> NsError {
        match e {
            ApplyError::Op(op) => NsError::from_op(op, path),
            ApplyError::Journal(j) => NsError::from(j),
        }
    }
}

impl From<JournalError> for NsError {
    fn from(e: JournalError) -> Self {
        tracing::error!(error = %e, "journal failure");
        NsError::Storage(e.to_string())
    }
}

impl From<VaultError> for NsError {
    fn from(e: VaultError) -> Self {
        tracing::error!(error = %e, "vault failure");
        NsError::Storage(e.to_string())
    }
}
