//! What a login proof must remember across restarts: the TOTP steps each
//! person has used. A one-time code works once — also after the daemon
//! restarts — so the last step used is kept in the journal, and using a
//! step is one journal transaction that refuses any step not past it.

use super::{Namespace, NsError};
use renkei_storage::journal::{ApplyError, Op, OpError};

impl Namespace {
    /// Uses up TOTP step `step` for `user`: `Ok(false)` when it (or a
    /// later one) was used already, a replay. Keys are configured names
    /// only, so what this keeps is bounded by the configuration.
    pub fn spend_totp_step(&self, user: &str, step: u64) -> Result<bool, NsError> {
        let op = Op::SpendStep {
            key: format!("totp:{user}"),
            step,
        };
        match self.journal.apply_one_blocking(op) {
            Ok(_) => Ok(true),
            Err(ApplyError::Op(OpError::Stale)) => Ok(false),
            Err(e) => Err(NsError::from_apply(e, user)),
        }
    }
}
