//! What every control-socket command is served from, and how a command
//! fails: shared by the command table (`server`) and the commands kept in
//! their own modules (`held`).

use std::io;

pub use renkei_console::Context;

/// A command's failure: refused (answered to the operator) or the
/// connection broke.
pub(super) enum CtlError {
    Refused(String),
    Io(io::Error),
}

impl From<io::Error> for CtlError {
    fn from(e: io::Error) -> Self {
        CtlError::Io(e)
    }
}

impl From<String> for CtlError {
    fn from(e: String) -> Self {
        CtlError::Refused(e)
    }
}

impl From<renkei_core::namespace::NsError> for CtlError {
    fn from(e: renkei_core::namespace::NsError) -> Self {
        CtlError::Refused(e.to_string())
    }
}

pub(super) type CtlResult = Result<String, CtlError>;
