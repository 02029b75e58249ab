//! The checks stage: every arriving file, whatever door it came through,
//! passes here between "durable" and "visible" (decision 0010).
//!
//! A commit that needs checks ([`applies`], decided in the namespace) stores its object as
//! `checking` and hands its id to the [`Queue`]; the [`stage`] task takes
//! it from there, reads the plaintext from the vault (in memory, a chunk
//! at a time), runs the virus scan and the `[[check]]` rules
//! ([`inspect`]), and commits the outcome with its audit record: accepted
//! files become visible and are announced to the routes, refused ones are
//! held ([`quarantine`]). Nothing here trusts a scanner that does not
//! answer: such a file stays `checking` and is tried again.

pub mod held;
pub mod inspect;
mod line;
pub mod quarantine;
pub mod stage;

pub use crate::namespace::checking::{
    CHECKS_BACKLOG, Queue, accepted_state, applies, initial_state, renamed_needs_check,
};

/// Whether the configured scanner answers `PING` now (`None` without
/// `[scan]`): for readiness checks. Blocks up to the scanner's timeout.
pub fn scanner_answers(config: &renkei_config::Config) -> Option<Result<(), String>> {
    let scan = config.scan.as_ref()?;
    let clamd = renkei_checks::clamd::Clamd::new(scan.clamd.clone(), scan.timeout);
    Some(clamd.ping().map_err(|e| e.to_string()))
}
