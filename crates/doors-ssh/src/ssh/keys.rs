//! The host keys: the first loaded from disk or generated (ed25519, 0600)
//! at first start and reused after, so clients' known_hosts entries stay
//! valid; the others (RSA, ECDSA for older clients) made by the operator
//! and checked here: RSA of at least `MIN_RSA_BITS`, offered with SHA-2
//! signatures only, no DSA, one key per algorithm.

use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey};

use renkei_core::fsutil;

#[derive(Debug, thiserror::Error)]
#[error("host key {path}: {message}")]
pub struct HostKeyError {
    pub path: String,
    pub message: String,
}

/// The smallest RSA host key accepted (NIST SP 800-57: 128-bit security).
pub const MIN_RSA_BITS: u32 = 3072;

/// Loads every host key; the first is created (ed25519) when missing.
pub fn load_all(paths: &[std::path::PathBuf]) -> Result<Vec<PrivateKey>, HostKeyError> {
    let mut keys: Vec<PrivateKey> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let key = if i == 0 {
            load_or_create(path)?
        } else {
            load(path)?.ok_or_else(|| missing(path))?
        };
        second_of_its_kind(&keys, &key, path)?;
        keys.push(key);
    }
    Ok(keys)
}

/// Refuses `key` (at `path`) when `before` has one of its algorithm:
/// a client would be shown only one of them.
pub fn second_of_its_kind(
    before: &[PrivateKey],
    key: &PrivateKey,
    path: &Path,
) -> Result<(), HostKeyError> {
    if before.iter().any(|k| k.algorithm() == key.algorithm()) {
        return Err(HostKeyError {
            path: path.display().to_string(),
            message: format!(
                "is a second {} key; give one host key per algorithm",
                key.algorithm()
            ),
        });
    }
    Ok(())
}

/// A listed host key after the first that does not exist: renkei makes
/// only the ed25519 one, so say how to make it.
pub fn missing(path: &Path) -> HostKeyError {
    HostKeyError {
        path: path.display().to_string(),
        message: format!(
            "does not exist; make it with `ssh-keygen -t rsa -b {MIN_RSA_BITS} -N '' -f {p}` (or -t ecdsa -b 384) and chown it to the daemon's user",
            p = path.display()
        ),
    }
}

/// What an operator should know about presenting `key`, if anything.
/// RSA signatures are made by the `rsa` crate, whose private-key
/// operations are not constant-time (RUSTSEC-2023-0071, no fixed
/// release): every handshake signs with the host key, so a peer that can
/// time many handshakes precisely learns about it.
pub fn caution(key: &PrivateKey) -> Option<&'static str> {
    matches!(key.algorithm(), Algorithm::Rsa { .. }).then_some(
        "an RSA host key signs every handshake with the rsa crate, whose private-key operations are not constant-time (RUSTSEC-2023-0071): offer it only where clients need it, on networks you trust (docs/operations.md, \"Older clients\")",
    )
}

/// Refuses host keys renkei will not present: DSA, short RSA, and
/// anything but ed25519, ECDSA and RSA.
fn acceptable(key: &PrivateKey) -> Result<(), String> {
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(()),
        Algorithm::Rsa { .. } => {
            let bits = key.key_data().rsa().map_or(0, |k| k.public().key_size());
            if bits >= MIN_RSA_BITS {
                Ok(())
            } else {
                Err(format!(
                    "is a {bits}-bit RSA key; use at least {MIN_RSA_BITS} bits"
                ))
            }
        }
        other => Err(format!(
            "is a {other} key; host keys are ed25519, ECDSA or RSA"
        )),
    }
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
            acceptable(&key).map_err(err)?;
            Ok(Some(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(format!("cannot read: {e}"))),
    }
}
