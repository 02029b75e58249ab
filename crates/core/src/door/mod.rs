//! The door kit: what every front door (SSH/SFTP, FTPS, HTTPS, and any
//! door added later) decides the same way, decided once here.
//!
//! A door is a protocol adapter. It accepts a TCP connection and hands
//! the peer to [`Gate::admit`], which canonicalises the source address
//! (an IPv4 client of a dual-stack listener is `127.0.0.1`, never
//! `::ffff:127.0.0.1`, for every rule, ban, limit and record), checks the
//! bans, the networks the listener serves and the connection limits, and
//! writes the `connection_refused` / `connection_accepted` record. The
//! [`Admitted`] ticket it returns holds the connection's place in the
//! door's table until it is dropped. Once a connection is in, every
//! later decision a door makes about its peer (a login attempt, a
//! browser's next request) asks the same gate whether the address is
//! banned now ([`Gate::ban_of`]), so a ban reaches a connection that is
//! already open.
//!
//! At a login attempt every door asks [`login::find`] who the name is
//! for the listener it came through and whether the rules let them log
//! in from there now; only an accepted lookup gives the session its
//! `Principal`. The rest of the kit is what two doors would otherwise
//! each write: the proofs of a password login ([`proof`]), TLS with a reloadable
//! certificate and pinned client certificates ([`tls`]), binding,
//! accepting and draining listeners ([`listeners`]), and the `ls -l`
//! line SFTP and FTPS both show ([`listing`]), and the PROXY protocol v2
//! header a load balancer puts in front of a connection ([`proxy`]).
//!
//! A connection that logs in (SSH, FTPS) lives as a [`Session`]: its
//! login attempts and their records, the account's connection limit, its
//! byte counts, its `session_ended` record and the offence its address is
//! scored for, the same at every door.
//!
//! What is deliberately absent: nothing here speaks a protocol, and no
//! door keeps a table of connections, a list of bans or a copy of the
//! rules of its own.

mod gate;
pub mod listeners;
pub mod listing;
pub mod login;
pub mod proof;
pub mod proxy;
mod registry;
pub mod session;
mod source;
pub mod status;
pub mod tls;

pub use crate::defender::ban_reason;
pub use gate::{Admitted, Caps, Gate, Refused, Scope};
pub use session::{Proved, Refusal, Session, Tally};
pub use source::canonical_peer;
