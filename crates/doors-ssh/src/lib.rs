//! The SSH door and its SFTP subsystem: russh for the transport and the
//! keys, a hand-written SFTP v3 codec for the files (decision 0003).
//! Like every door it is a protocol adapter: admission, logins, bans,
//! policy, encryption and audit are the core's (`renkei_core::door`,
//! `renkei_core::namespace`), and it imports no other door.

pub mod sftp;
pub mod ssh;
