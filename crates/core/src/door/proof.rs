//! The proofs a password login is made of (argon2id password, pinned
//! client certificate, TOTP code), checked the same way for every door
//! that has such logins (HTTPS, FTPS).
//!
//! Every proof is computed before anything is decided, and an unknown
//! name or a login without a password is verified against a decoy hash,
//! so the time a refusal takes does not tell which part was wrong. The
//! client is told only that the login failed; the reason is for the
//! audit record. A TOTP code is spent in the journal (the caller's
//! `spend_step`), so one works once, across restarts too.

use argon2::{Argon2, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use renkei_config::WebLogin;

/// TOTP step (RFC 6238's default) and the steps either side accepted for
/// clock drift.
const TOTP_STEP: u64 = 30;
const TOTP_DRIFT: u64 = 1;

/// A hash of a random password nobody knows, verified for unknown names
/// so that they cost what a known one costs.
static DECOY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&hex::encode(rand::random::<[u8; 32]>())));

/// An argon2id PHC string for `password` (OWASP's parameters, the
/// crate's defaults), with a random 128-bit salt.
pub fn hash_password(password: &str) -> String {
    use argon2::PasswordHasher;
    let salt = rand::random::<[u8; 16]>();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches the argon2id `hash`. With no hash (an
/// unknown name, a login without a password) it is verified against a
/// decoy and is never right, so the answer takes the same time.
fn password_matches(hash: Option<&str>, password: &str) -> bool {
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), hash.unwrap_or(DECOY.as_str()))
        .is_ok();
    ok && hash.is_some()
}

/// Compares two secrets in time that depends on their length only.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the client presented.
pub struct Presented<'a> {
    pub password: &'a str,
    /// SHA-256 (lowercase hex) of the client certificate of the TLS
    /// connection, when there was one.
    pub client_cert: Option<&'a str>,
    /// The TOTP code typed, for doors that ask for one.
    pub totp: Option<&'a str>,
}

/// Every proof computed against a login, before anything is decided.
pub struct Proofs {
    password_ok: bool,
    /// The TOTP step the code is for: `None` when the login has no TOTP,
    /// `Some(None)` when the code matches no step.
    totp_step: Option<Option<u64>>,
}

impl Proofs {
    /// Runs every check `login` calls for (the password against the decoy
    /// when there is no login). Runs on a blocking thread: argon2id takes
    /// tens of milliseconds and ~19 MiB by design.
    pub fn compute(login: Option<&WebLogin>, p: &Presented<'_>) -> Proofs {
        let password_ok = password_matches(login.and_then(|l| l.password.as_deref()), p.password);
        let now = jiff::Timestamp::now().as_second().max(0) as u64 / TOTP_STEP;
        let totp_step = login
            .and_then(|l| l.totp.as_deref())
            .map(|secret| totp_match(secret, p.totp.unwrap_or_default().trim(), now));
        Proofs {
            password_ok,
            totp_step,
        }
    }

    /// The verdict on `login` for `user`: how it was proved
    /// (`client certificate+password+totp`), or why not.
    pub fn verdict(
        &self,
        login: &WebLogin,
        user: &str,
        p: &Presented<'_>,
        spend_step: &dyn Fn(&str, u64) -> Result<bool, String>,
    ) -> Result<String, String> {
        let mut method = Vec::new();
        if let Some(pinned) = login.client_cert.as_deref() {
            match p.client_cert {
                Some(fp) if same_secret(fp, pinned) => method.push("client certificate"),
                Some(fp) => {
                    return Err(format!(
                        "client certificate {fp} is not the one pinned for {user}"
                    ));
                }
                None => {
                    return Err("no client certificate was presented; this login requires its pinned certificate".into());
                }
            }
        }
        if login.password.is_some() {
            if !self.password_ok {
                return Err("wrong password".into());
            }
            method.push("password");
        }
        if let Some(step) = self.totp_step {
            let Some(step) = step else {
                return Err("wrong or expired TOTP code".into());
            };
            match spend_step(user, step) {
                Ok(true) => {}
                Ok(false) => return Err("TOTP code already used (replayed)".into()),
                Err(e) => return Err(format!("TOTP state unavailable: {e}")),
            }
            method.push("totp");
        }
        Ok(method.join("+"))
    }
}

/// What a login is made of (password hash, TOTP secret, pinned
/// certificate), as a digest: a session remembers the one it began
/// with, and ends when the configuration no longer has it.
pub fn digest(login: &WebLogin) -> String {
    let mut h = Sha256::new();
    for part in [
        login.password.as_deref().map(str::as_bytes),
        login.totp.as_deref(),
        login.client_cert.as_deref().map(str::as_bytes),
    ] {
        let part = part.unwrap_or_default();
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// The step whose code `code` is, within the drift allowed, if any.
fn totp_match(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    for step in now.saturating_sub(TOTP_DRIFT)..=now + TOTP_DRIFT {
        // Every step is computed, so the time taken does not depend on
        // which one matched.
        if same_secret(&totp_at(secret, step), code) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 6238 (HMAC-SHA-1, 6 digits) at one step.
pub fn totp_at(secret: &[u8], step: u64) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!("{:06}", bin % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp_at(secret, 59 / 30), "287082");
        assert_eq!(totp_at(secret, 1_111_111_109 / 30), "081804");
        assert_eq!(totp_at(secret, 2_000_000_000 / 30), "279037");
    }

    #[test]
    fn drift_of_one_step() {
        let secret = b"12345678901234567890";
        let code = totp_at(secret, 100);
        assert_eq!(totp_match(secret, &code, 101), Some(100));
        assert_eq!(totp_match(secret, &code, 102), None);
        assert_eq!(totp_match(secret, "12345", 100), None);
    }

    #[test]
    fn secrets_compare() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }

    #[test]
    fn a_password_is_right_only_against_its_own_hash() {
        let hash = hash_password("correct horse");
        assert!(password_matches(Some(&hash), "correct horse"));
        assert!(!password_matches(Some(&hash), "wrong"));
        assert!(!password_matches(None, "correct horse"));
    }
}
