//! The host key: loaded from disk, or generated (ed25519, 0600) at first
//! start and reused after, so clients' known_hosts entries stay valid.

use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

use renkei_storage::fsutil;

#[derive(Debug, thiserror::Error)]
#[error("host key {path}: {message}")]
pub struct HostKeyError {
    pub path: String,
    pub message: String,
}

/// Loads the host key at `path`, creating it on first start.
pub fn load_or_create(path: &Path) -> Result<PrivateKey, HostKeyError> {
    if let Some(key) = load(path)? {
        return Ok(key);
    }
    let err = |message: String| HostKeyError {
        path: path.display().to_string(),
        message,
    };
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| err(format!("cannot generate: {e}")))?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| err(format!("cannot encode: {e}")))?;
    fsutil::write_secret(path, text.as_bytes()).map_err(|e| err(format!("cannot create: {e}")))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| err(format!("cannot encode the public key: {e}")))?;
    let pub_path = path.with_extension("pub");
    fsutil::write_public(&pub_path, format!("{public}\n").as_bytes())
        .map_err(|e| err(format!("cannot write {}: {e}", pub_path.display())))?;
    tracing::info!(path = %path.display(), fingerprint = %key.public_key().fingerprint(HashAlg::Sha256), "generated a new host key");
    Ok(key)
}

/// The host key at `path`, checked (owner-only mode, an unencrypted
/// OpenSSH key); `None` when there is none yet. Writes nothing, so
/// `renkei check` and `serve`'s preflight use it too.
pub fn load(path: &Path) -> Result<Option<PrivateKey>, HostKeyError> {
    let err = |message: String| HostKeyError {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            fsutil::check_private(path).map_err(|e| err(e.to_string()))?;
            let key = PrivateKey::from_openssh(&text)
                .map_err(|e| err(format!("is not an OpenSSH private key: {e}")))?;
            if key.is_encrypted() {
                return Err(err(
                    "is encrypted with a passphrase; the daemon needs it unencrypted".into(),
                ));
            }
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(format!("cannot read: {e}"))),
    }
}
