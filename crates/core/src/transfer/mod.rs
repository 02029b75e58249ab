//! Moving bytes in and out of the vault on behalf of a principal: uploads
//! (encrypt, hash, commit) and downloads (decrypt in the stream).
//!
//! Both run on blocking threads: encryption, hashing and file I/O are CPU
//! and disk work that must not stall the async runtime that carries
//! everyone's SSH traffic.

mod download;
mod hasher;
mod receive;
mod upload;

pub use download::Download;
pub use hasher::Hasher;
pub use receive::{OnCut, Received, Receiving, Stop};
pub use upload::{Imported, OpenMode, Upload};
