//! The embedded default configuration, for `renkei serve` without
//! `--config`: one demo tenant on loopback, and an account key pair that is
//! generated once under `./renkei-data` and reused after.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey, PublicKey};

use renkei_config::{Config, ConfigError};
use renkei_storage::fsutil;

/// Data directory of the embedded default (relative to the working
/// directory).
pub const DATA_DIR: &str = "renkei-data";
/// The demo account's private key, inside [`DATA_DIR`].
pub const KEY_FILE: &str = "demo_ed25519";
/// The demo account's web password, inside [`DATA_DIR`].
pub const WEB_PASSWORD_FILE: &str = "demo_web_password";
/// Where the demo's web password hash goes in the embedded configuration.
const WEB_PASSWORD_SLOT: &str = "@demo-web-password@";
/// Name shown for the embedded configuration in messages.
pub const SOURCE: &str = "<embedded default>";

const EMBEDDED: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{path}: {message}")]
    Key { path: String, message: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn key_path() -> PathBuf {
    Path::new(DATA_DIR).join(KEY_FILE)
}

/// Makes sure the demo key pair exists, then loads the embedded
/// configuration.
pub fn prepare() -> Result<Config, DemoError> {
    let path = key_path();
    let err = |message: String| DemoError::Key {
        path: path.display().to_string(),
        message,
    };
    if !path.exists() {
        fsutil::create_private_dir(Path::new(DATA_DIR)).map_err(|e| err(e.to_string()))?;
        let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
            .map_err(|e| err(e.to_string()))?;
        let mut key = key;
        key.set_comment("renkei-demo");
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| err(e.to_string()))?;
        fsutil::write_secret(&path, text.as_bytes()).map_err(|e| err(e.to_string()))?;
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| err(e.to_string()))?;
        fsutil::write_public(
            &path.with_extension("pub"),
            format!("{public}\n").as_bytes(),
        )
        .map_err(|e| err(e.to_string()))?;
    }
    let web_password = prepare_web(&err)?;
    let hash = renkei_core::door::proof::hash_password(&web_password);
    Ok(parse_embedded(&EMBEDDED.replace(WEB_PASSWORD_SLOT, &hash))?)
}

/// Makes the demo's self-signed certificate and web password on first
/// start; returns the password.
fn prepare_web(err: &dyn Fn(String) -> DemoError) -> Result<String, DemoError> {
    let dir = Path::new(DATA_DIR);
    let (crt, key) = (dir.join("web.crt"), dir.join("web.key"));
    if !crt.exists() || !key.exists() {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .map_err(|e| err(format!("cannot make the demo's web certificate: {e}")))?;
        fsutil::write_secret(&key, made.signing_key.serialize_pem().as_bytes())
            .map_err(|e| err(e.to_string()))?;
        fsutil::write_public(&crt, made.cert.pem().as_bytes()).map_err(|e| err(e.to_string()))?;
    }
    let file = dir.join(WEB_PASSWORD_FILE);
    if !file.exists() {
        let password: String = (0..16)
            .map(|_| {
                const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
                char::from(ALPHABET[usize::from(rand::random::<u8>()) % ALPHABET.len()])
            })
            .collect();
        fsutil::write_secret(&file, format!("{password}\n").as_bytes())
            .map_err(|e| err(e.to_string()))?;
    }
    let text = std::fs::read_to_string(&file).map_err(|e| err(e.to_string()))?;
    Ok(text.trim().to_string())
}

/// The embedded configuration, without writing anything (for questions
/// about it, such as `renkei policy explain` without `--config`). Before
/// the first `serve` the demo key does not exist yet; the rules do not
/// depend on it, so the account is then read without keys.
pub fn embedded() -> Result<Config, ConfigError> {
    let keys = key_path().with_extension("pub").exists();
    let text = EMBEDDED
        .lines()
        .filter(|l| keys || !l.starts_with("keys_file"))
        // The web login does not change any rule; without the hash that
        // first start makes, the account is read without it.
        .filter(|l| !l.contains(WEB_PASSWORD_SLOT))
        .collect::<Vec<_>>()
        .join("\n");
    parse_embedded(&text)
}

fn parse_embedded(text: &str) -> Result<Config, ConfigError> {
    let mut config = Config::parse(SOURCE, text, Path::new("."))?;
    // The demo runs on the built-in baseline, whatever ./policies holds.
    config.server.policy_dir = None;
    Ok(config)
}

/// Writes a known_hosts file for the demo and returns how to connect.
/// `web` is the browser's address and the certificate's fingerprint.
pub fn banner(
    listen: SocketAddr,
    host_keys: &[PublicKey],
    web: Option<(SocketAddr, String)>,
) -> String {
    let host = match listen {
        SocketAddr::V4(a) if a.port() == 22 => a.ip().to_string(),
        SocketAddr::V4(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let known_hosts = Path::new(DATA_DIR).join("known_hosts");
    let line: String = host_keys
        .iter()
        .filter_map(|k| k.to_openssh().ok())
        .map(|k| format!("{host} {k}\n"))
        .collect();
    if let Err(e) = fsutil::write_public(&known_hosts, line.as_bytes()) {
        tracing::warn!(error = %e, "could not write the demo known_hosts file");
    }
    format!(
        "renkei is running with the embedded demo configuration.\n\
         \x20 tenant 990001 (デモ市), account demo, boxes /inbox and /outbox\n\
         \x20 connect with:\n\n\
         \x20   sftp -i {key} -o UserKnownHostsFile={kh} -P {port} demo@{ip}\n\n\
         {browser}\
         \x20 operator:  renkei ctl status | renkei ctl ls --tenant 990001\n\
         \x20 stop with Ctrl-C\n",
        browser = match web {
            Some((addr, fp)) => format!(
                "\x20 browser:   https://{addr}/  (user demo, password in {pw})\n\
                 \x20   self-signed certificate, SHA-256 {fp}\n\n",
                pw = Path::new(DATA_DIR).join(WEB_PASSWORD_FILE).display(),
            ),
            None => String::new(),
        },
        key = key_path().display(),
        kh = known_hosts.display(),
        port = listen.port(),
        ip = listen.ip(),
    )
}
