//! The front doors: SSH with its SFTP subsystem, and the control socket
//! the operator's `renkei ctl` talks to. Each door turns its protocol into
//! calls on `renkei-core`; none of them decides policy, encrypts, or writes
//! the journal itself (docs/decisions/0008-crate-graph.md).

pub mod admin;
pub mod ftps;
mod listeners;
pub mod monitor;
pub mod sftp;
pub mod ssh;
pub mod tls;
pub mod web;
