//! The audit signing key: ed25519, separate from the vault key.
//!
//! The private half (`audit.key`, 0600) signs checkpoints; the public half
//! (`audit.pub`, `ed25519:<hex>`) is all an auditor needs to verify the
//! trail offline. A copy of `audit.pub` kept away from the server is what
//! makes the verification independent of it.

use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::fsutil;

#[derive(Debug, thiserror::Error)]
#[error("audit key {path}: {message}")]
pub struct KeyError {
    pub path: String,
    pub message: String,
}

/// The signing key in use.
pub struct AuditKey {
    signing: SigningKey,
    /// Short identifier of the public key, written in every checkpoint.
    pub id: String,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// First 16 hex digits of the SHA-256 of the public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_string()
}

/// The text of a public key file.
pub fn public_text(key: &VerifyingKey) -> String {
    format!(
        "# renkei audit public key (id {}): verifies the audit trail offline\ned25519:{}\n",
        key_id(key),
        hex::encode(key.as_bytes())
    )
}

/// Reads a public key file (`ed25519:<64 hex>`, comments ignored): its
/// first key.
pub fn read_public(text: &str) -> Result<VerifyingKey, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("no key in the file")?;
    parse_public(line)
}

/// Every key in a public key file, one `ed25519:<64 hex>` per line (a
/// trail whose signing key was replaced lists each key it was signed with).
pub fn read_public_all(text: &str) -> Result<Vec<VerifyingKey>, String> {
    let keys = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(parse_public)
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err("no key in the file".into());
    }
    Ok(keys)
}

fn parse_public(line: &str) -> Result<VerifyingKey, String> {
    let hex_part = line
        .strip_prefix("ed25519:")
        .ok_or("expected a line ed25519:<64 hex digits>")?;
    let bytes: [u8; 32] = hex::decode(hex_part)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the key is not 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an ed25519 public key: {e}"))
}

/// Checks a checkpoint signature (hex) over `message`.
pub fn check(key: &VerifyingKey, message: &[u8], signature_hex: &str) -> bool {
    let Some(bytes) = hex::decode(signature_hex)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    key.verify(message, &Signature::from_bytes(&bytes)).is_ok()
}

impl AuditKey {
    /// Loads the key at `path`, creating it (and `<path>.pub`) at first
    /// start.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, KeyError> {
        let err = |message: String| KeyError {
            path: path.display().to_string(),
            message,
        };
        let signing = match AuditKey::load_signing(path)? {
            Some(signing) => signing,
            None => {
                let seed: [u8; 32] = rand::random();
                let signing = SigningKey::from_bytes(&seed);
                let text = format!(
                    "# renkei audit signing key: signs audit checkpoints. Keep it secret; give auditors audit.pub.\n{}\n",
                    hex::encode(seed)
                );
                fsutil::write_secret(path, text.as_bytes())
                    .map_err(|e| err(format!("cannot create: {e}")))?;
                tracing::info!(path = %path.display(), id = %key_id(&signing.verifying_key()), "generated a new audit signing key");
                signing
            }
        };
        let public = signing.verifying_key();
        let pub_path = path.with_extension("pub");
        if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(public_text(&public).as_str())
        {
            fsutil::write_public(&pub_path, public_text(&public).as_bytes())
                .map_err(|e| err(format!("cannot write {}: {e}", pub_path.display())))?;
        }
        Ok(AuditKey {
            id: key_id(&public),
            signing,
        })
    }

    /// The signing key at `path`, checked (owner-only mode, 64 hex
    /// digits); `None` when there is none yet. Writes nothing.
    pub fn load_signing(path: &Path) -> Result<Option<SigningKey>, KeyError> {
        let err = |message: String| KeyError {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                fsutil::check_private(path).map_err(|e| err(e.to_string()))?;
                let line = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .ok_or_else(|| err("no key in the file".into()))?;
                let seed: [u8; 32] = hex::decode(line)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| err("expected 64 hex digits".into()))?;
                Ok(Some(SigningKey::from_bytes(&seed)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(format!("cannot read: {e}"))),
        }
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs `message`; hex.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }
}
