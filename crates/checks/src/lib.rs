//! The checks an arriving file passes before anyone else may see it: what
//! looks inside the bytes: the client of ClamAV's clamd ([`clamd`]) and
//! 連携 format validation ([`format`]: encoding, line endings, CSV columns,
//! fixed-length header / data / trailer records) and file types decided
//! from content ([`filetype`]).
//!
//! Every check reads plaintext from a reader the core hands it (decrypted
//! in memory from the vault, never written to disk) and returns a verdict;
//! what a verdict means for the file (accepted, quarantined, rejected) is
//! the core's business. This crate knows nothing of tenants, boxes or the
//! journal (docs/decisions/0008-crate-graph.md).

pub mod archive;
pub mod clamd;
pub mod filetype;
pub mod format;
