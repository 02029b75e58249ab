//! Talking to remote SFTP servers for routes: the standard system's ingest
//! server (push) and distribution servers (pull).
//!
//! An outbound adapter, like `ssh` is the inbound one: it knows SSH and
//! SFTP and nothing of tenants or the journal. The server's host key is
//! pinned in the configuration and anything else is refused before a byte
//! of data moves; renkei authenticates with its own key. Every step has the
//! route's `timeout`.

mod push;

use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh_sftp::client::SftpSession;

pub use push::{forget, push};

use renkei_config::routes::RemoteEnd;

/// Ciphers renkei offers as a client: AEAD only, AES-GCM first (hardware
/// accelerated where the servers are).
const CLIENT_CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
];

/// Why talking to a remote server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "host key mismatch for {addr}: the configuration pins {expected}, the server presented {found}; refusing to connect (if the server's key really changed, update host_key)"
    )]
    HostKeyMismatch {
        addr: String,
        expected: String,
        found: String,
    },
    #[error("{addr}: {what} timed out after {secs} s")]
    Timeout {
        addr: String,
        what: &'static str,
        secs: u64,
    },
    #[error("{addr}: cannot connect: {message}")]
    Connect { addr: String, message: String },
    #[error("{addr}: the server refused user {user} with renkei's key")]
    Auth { addr: String, user: String },
    #[error("key {path}: {message}")]
    Key { path: String, message: String },
    #[error("{addr}: {message}")]
    Sftp { addr: String, message: String },
    #[error(transparent)]
    Place(#[from] crate::place::PlaceError),
}

impl From<renkei_core::records::VaultError> for RemoteError {
    fn from(e: renkei_core::records::VaultError) -> Self {
        RemoteError::Place(crate::place::PlaceError::Read(e))
    }
}

impl RemoteError {
    /// Whether trying again cannot help without an operator.
    pub fn is_permanent(&self) -> bool {
        match self {
            RemoteError::HostKeyMismatch { .. } => true,
            RemoteError::Place(e) => e.is_permanent(),
            _ => false,
        }
    }
}

/// Checks the server's host key against the pinned one.
struct Pinned {
    expected: PublicKey,
    /// What the server presented, when it was not the pinned key.
    mismatch: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let presented = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // Certificates are not pinned keys: refuse.
            russh::keys::PublicKeyOrCertificate::Certificate(c) => {
                if let Ok(mut m) = self.mismatch.lock() {
                    *m = Some(format!("a certificate ({})", c.public_key().algorithm()));
                }
                return Ok(false);
            }
        };
        if presented.key_data() == self.expected.key_data() {
            return Ok(true);
        }
        if let Ok(mut m) = self.mismatch.lock() {
            *m = Some(presented.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(false)
    }
}

/// An open SFTP session with one server.
pub struct Conn {
    pub addr: String,
    pub sftp: SftpSession,
    pub timeout: Duration,
    _ssh: client::Handle<Pinned>,
}

impl Conn {
    pub(crate) fn err(&self, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::Sftp {
            addr: self.addr.clone(),
            message: e.to_string(),
        }
    }
}

async fn within<T>(
    addr: &str,
    what: &'static str,
    limit: Duration,
    f: impl std::future::Future<Output = Result<T, RemoteError>>,
) -> Result<T, RemoteError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| RemoteError::Timeout {
            addr: addr.to_string(),
            what,
            secs: limit.as_secs().max(1),
        })?
}

/// Connects, checks the host key, logs in and opens SFTP.
// Long: the client's steps in order, each with its own time limit and
// its own error (TCP, handshake and host-key pin, key, login, SFTP).
pub async fn connect(end: &RemoteEnd) -> Result<Conn, RemoteError> {
    let addr = end.addr.clone();
    let key = russh::keys::load_secret_key(&end.key, None).map_err(|e| RemoteError::Key {
        path: end.key.display().to_string(),
        message: e.to_string(),
    })?;
    let config = Arc::new(client::Config {
        inactivity_timeout: Some(end.timeout),
        window_size: 16 << 20,
        maximum_packet_size: 65535,
        nodelay: true,
        channel_buffer_size: 256,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(CLIENT_CIPHERS),
            ..russh::Preferred::DEFAULT
        },
        ..client::Config::default()
    });
    let mismatch = Arc::new(std::sync::Mutex::new(None));
    let handler = Pinned {
        expected: end.host_key.key.clone(),
        mismatch: Arc::clone(&mismatch),
    };
    let connect_err = |e: russh::Error| {
        if let Some(found) = mismatch.lock().ok().and_then(|m| m.clone()) {
            return RemoteError::HostKeyMismatch {
                addr: end.addr.clone(),
                expected: end.host_key.fingerprint.clone(),
                found,
            };
        }
        RemoteError::Connect {
            addr: end.addr.clone(),
            message: e.to_string(),
        }
    };
    let mut ssh = within(&addr, "connecting", end.timeout, async {
        client::connect(config, end.addr.as_str(), handler)
            .await
            .map_err(connect_err)
    })
    .await?;
    // RSA keys sign with SHA-2 (never the SHA-1 `ssh-rsa`).
    let hash = key.algorithm().is_rsa().then_some(HashAlg::Sha256);
    let auth = within(&addr, "logging in", end.timeout, async {
        ssh.authenticate_publickey(
            end.user.clone(),
            PrivateKeyWithHashAlg::new(Arc::new(key), hash),
        )
        .await
        .map_err(|e| RemoteError::Connect {
            addr: end.addr.clone(),
            message: e.to_string(),
        })
    })
    .await?;
    if !auth.success() {
        return Err(RemoteError::Auth {
            addr,
            user: end.user.clone(),
        });
    }
    let sftp = within(&addr, "opening SFTP", end.timeout, async {
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| RemoteError::Connect {
                addr: end.addr.clone(),
                message: e.to_string(),
            })?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| RemoteError::Connect {
                addr: end.addr.clone(),
                message: e.to_string(),
            })?;
        let cfg = russh_sftp::client::Config {
            max_concurrent_writes: 64,
            max_concurrent_reads: 64,
            max_write_packet_len: 255 * 1024,
            request_timeout_secs: end.timeout.as_secs().max(1),
            ..Default::default()
        };
        SftpSession::new_with_config(channel.into_stream(), cfg)
            .await
            .map_err(|e| RemoteError::Sftp {
                addr: end.addr.clone(),
                message: e.to_string(),
            })
    })
    .await?;
    Ok(Conn {
        addr,
        sftp,
        timeout: end.timeout,
        _ssh: ssh,
    })
}

/// Creates `dir` and its parents on the server (existing ones are fine).
pub async fn make_dirs(conn: &Conn, dir: &str) -> Result<(), RemoteError> {
    let mut path = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        if conn
            .sftp
            .try_exists(path.clone())
            .await
            .map_err(|e| conn.err(e))?
        {
            continue;
        }
        if let Err(e) = conn.sftp.create_dir(path.clone()).await
            && !conn.sftp.try_exists(path.clone()).await.unwrap_or(false)
        {
            return Err(conn.err(format!("cannot create {path}: {e}")));
        }
    }
    Ok(())
}
