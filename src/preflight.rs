//! Preflight: what `serve` needs from the machine, checked before it writes
//! anything, and by `renkei check`.
//!
//! Without it a key with a bad mode, a garbage or passphrase-protected key,
//! a read-only data directory or a port in use passed `check`, and `serve`
//! failed only after it had created the data directory and generated the
//! audit key. Every check here only reads (and binds and drops a socket).

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use rustix::fs::{Access, access};

use renkei_config::Config;
use renkei_doors_ssh::ssh::keys::HostKeyError;
use renkei_storage::audit::KeyError;
use renkei_storage::audit::keys::AuditKey;
use renkei_storage::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    HostKey(#[from] HostKeyError),
    #[error(transparent)]
    VaultKey(#[from] VaultError),
    #[error(transparent)]
    AuditKey(#[from] KeyError),
    #[error("{path}: {why}")]
    NotWritable { path: String, why: String },
    #[error(
        "cannot listen on {addr}: {source} (is another program using the port? `ss -ltnp` shows which)"
    )]
    Port { addr: String, source: io::Error },
    #[error(
        "data directory {path} is already in use by another renkei process (its control socket {socket} answers): stop it first, or use `renkei ctl reload`"
    )]
    AlreadyRunning { path: String, socket: String },
}

/// Whether a daemon serves `data_dir` now: its control socket answers.
pub fn daemon_running(data_dir: &Path) -> bool {
    UnixStream::connect(data_dir.join(renkei_doors_admin::SOCKET_NAME)).is_ok()
}

/// What `check` found to say besides errors.
#[derive(Debug, Default)]
pub struct Findings {
    /// The daemon of this data directory runs (so its port is its own).
    pub running: bool,
    /// What the configured scanner said when asked its version (`Err`: it
    /// does not answer now; files will wait in `checking` until it does).
    pub scanner: Option<(String, Result<String, String>)>,
    /// Host keys to be careful with, and why.
    pub host_key_cautions: Vec<(PathBuf, &'static str)>,
}

/// Checks keys, directories and the port. `serve` calls it with
/// `for_serve = true`: a running daemon on the same data directory is then
/// an error; for `check` it only means the port is that daemon's.
pub fn check(config: &Config, for_serve: bool) -> Result<Findings, PreflightError> {
    let data_dir = &config.server.data_dir;
    let running = daemon_running(data_dir);
    if running && for_serve {
        return Err(PreflightError::AlreadyRunning {
            path: data_dir.display().to_string(),
            socket: data_dir
                .join(renkei_doors_admin::SOCKET_NAME)
                .display()
                .to_string(),
        });
    }
    writable_dir(data_dir)?;
    for sub in ["audit", "vault"] {
        let d = data_dir.join(sub);
        if d.exists() {
            writable_dir(&d)?;
        }
    }
    let mut host_keys = Vec::new();
    let mut host_key_cautions = Vec::new();
    for (i, host) in config.server.host_keys.iter().enumerate() {
        match renkei_doors_ssh::ssh::keys::load(host)? {
            Some(key) => {
                renkei_doors_ssh::ssh::keys::second_of_its_kind(&host_keys, &key, host)?;
                if let Some(why) = renkei_doors_ssh::ssh::keys::caution(&key) {
                    host_key_cautions.push((host.clone(), why));
                }
                host_keys.push(key);
            }
            None if i > 0 => return Err(renkei_doors_ssh::ssh::keys::missing(host).into()),
            None => writable_dir(&parent(host))?,
        }
    }
    let vault = &config.vault.identity;
    if renkei_storage::vault::load_identity(vault)?.is_none() {
        writable_dir(&parent(vault))?;
    }
    let audit = &config.audit.key;
    if AuditKey::load_signing(audit)?.is_none() {
        writable_dir(&parent(audit))?;
    }
    let addr = config.server.listen;
    if !running && addr.port() != 0 {
        TcpListener::bind(addr).map_err(|source| PreflightError::Port {
            addr: addr.to_string(),
            source,
        })?;
    }
    // A scanner that does not answer is not a reason to refuse: files wait
    // for it (fail closed), and the operator is told here and in the trail.
    let scanner = config.scan.as_ref().map(|s| {
        let clamd = renkei_checks::clamd::Clamd::new(
            s.clamd.clone(),
            s.timeout.min(std::time::Duration::from_secs(5)),
        );
        (
            s.clamd.to_string(),
            clamd.version().map_err(|e| e.to_string()),
        )
    });
    Ok(Findings {
        running,
        scanner,
        host_key_cautions,
    })
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `dir` is a directory the daemon can write in, or can be created: its
/// nearest existing ancestor is one.
fn writable_dir(dir: &Path) -> Result<(), PreflightError> {
    let mut at = dir.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(PreflightError::NotWritable {
                    path: at.display().to_string(),
                    why: "is not a directory".into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match at.parent() {
                Some(p) if !p.as_os_str().is_empty() => at = p.to_path_buf(),
                _ => {
                    at = PathBuf::from(".");
                    break;
                }
            },
            Err(e) => {
                return Err(PreflightError::NotWritable {
                    path: at.display().to_string(),
                    why: e.to_string(),
                });
            }
        }
    }
    // access(2) reports a read-only file system (EROFS) even to root.
    access(&at, Access::WRITE_OK | Access::EXEC_OK).map_err(|e| {
        let shown = if at == dir {
            "the daemon cannot write in it".to_string()
        } else {
            format!(
                "{} must be created here, but the daemon cannot write in it",
                dir.display()
            )
        };
        PreflightError::NotWritable {
            path: at.display().to_string(),
            why: format!("{shown} ({})", io::Error::from(e)),
        }
    })
}
