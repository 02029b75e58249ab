//! Account public keys: `authorized_keys` lines written inline in the
//! configuration or kept in a file.
//!
//! Only key types that renkei will accept signatures from are admitted here,
//! so a key that could never log in is a configuration error, not a silent
//! mystery at 2 a.m. Per-key options (`from=`, `restrict`, ...) are refused
//! rather than ignored: renkei has its own `networks` for that, and ignoring
//! a `from=` would widen access behind the operator's back.

use russh::keys::{Algorithm, HashAlg, PublicKey};

/// A key an account may log in with.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizedKey {
    pub key: PublicKey,
    pub comment: String,
    /// `SHA256:...`, as OpenSSH prints it.
    pub fingerprint: String,
}

/// RSA keys shorter than this are refused (NIST and OpenSSH's own minimum).
const MIN_RSA_BITS: usize = 2048;

/// Parses one `authorized_keys` line. `Ok(None)` for blank and comment lines.
pub fn parse_line(line: &str) -> Result<Option<AuthorizedKey>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut fields = line.split_whitespace();
    let first = fields.next().unwrap_or_default();
    if !is_key_type(first) {
        return Err(format!(
            "{first:?} is not a supported key type; options before the key type (from=, restrict, ...) are not supported: use `networks` instead; supported types: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more, signed with SHA-2)"
        ));
    }
    let key = PublicKey::from_openssh(line).map_err(|e| format!("cannot parse the key: {e}"))?;
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => {}
        Algorithm::Rsa { .. } => {
            let bits = key
                .key_data()
                .rsa()
                .map(|k| k.key_size() as usize)
                .unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "RSA key of {bits} bits is too short; at least {MIN_RSA_BITS} bits are required"
                ));
            }
        }
        other => return Err(format!("key type {other} is not accepted")),
    }
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    Ok(Some(AuthorizedKey {
        comment: key.comment().to_string(),
        key,
        fingerprint,
    }))
}

fn is_key_type(s: &str) -> bool {
    matches!(
        s,
        "ssh-ed25519"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
            | "ssh-rsa"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd juki-batch";

    #[test]
    fn ed25519_line() {
        let k = parse_line(ED).unwrap().unwrap();
        assert_eq!(k.comment, "juki-batch");
        assert!(k.fingerprint.starts_with("SHA256:"));
    }

    #[test]
    fn comments_and_options() {
        assert!(parse_line("  # a comment").unwrap().is_none());
        assert!(parse_line("").unwrap().is_none());
        let err = parse_line(&format!("from=\"10.0.0.1\" {ED}")).unwrap_err();
        assert!(err.contains("networks"), "{err}");
        assert!(parse_line("ssh-ed25519 AAAAnotbase64!!").is_err());
    }
}
