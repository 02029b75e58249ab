//! `[server]`: the SSH listener of the municipalities, the data directory,
//! the host keys, the rule directory, and when the data volumes count as
//! nearly full.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use renkei_model::units::{Quantity, parse_size};

use crate::locate::resolve;
use crate::route_ends::{Problem, duration_in};

/// The port of `[server] listen` when none is written.
pub const DEFAULT_PORT: u16 = 2222;

/// When the data volume is nearly full (`disk_space_low`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskLow {
    /// Less than this share of the volume free, in percent (1–50).
    Percent(u8),
    /// Less than this many bytes free.
    Bytes(u64),
}

impl DiskLow {
    /// The threshold in bytes on a volume of `total` bytes.
    pub fn threshold(self, total: u64) -> u64 {
        match self {
            DiskLow::Percent(p) => total / 100 * u64::from(p),
            DiskLow::Bytes(b) => b,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Host keys, one per algorithm. The first is created (ed25519) at
    /// first start when missing; the others are made by the operator.
    pub host_keys: Vec<PathBuf>,
    /// Directory of rule files; `None` = the built-in baseline.
    pub policy_dir: Option<PathBuf>,
    /// Whether `policy_dir` was written in the file (then it must exist).
    pub policy_dir_explicit: bool,
    pub disk_low: DiskLow,
    /// How often free space is looked at.
    pub disk_check_every: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    listen: Option<Spanned<String>>,
    data_dir: Spanned<String>,
    host_key: Option<Spanned<String>>,
    host_keys: Option<Spanned<Vec<Spanned<String>>>>,
    policy_dir: Option<Spanned<String>>,
    disk_low: Option<Spanned<Quantity>>,
    disk_check_every: Option<Spanned<Quantity>>,
}

impl RawServer {
    pub(crate) fn resolve(&self, base: &Path) -> Result<ServerConfig, Problem> {
        let listen = match &self.listen {
            Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|_| {
                (
                    l.span(),
                    format!(
                        "server.listen {:?} is not an address and port such as \"127.0.0.1:2222\" or \"[::1]:2222\"",
                        l.get_ref()
                    ),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
        };
        if self.data_dir.get_ref().trim().is_empty() {
            return Err((self.data_dir.span(), "server.data_dir is empty".into()));
        }
        let data_dir = resolve(base, self.data_dir.get_ref());
        let host_keys = match (&self.host_key, &self.host_keys) {
            (Some(one), Some(_)) => {
                return Err((
                    one.span(),
                    "give server.host_key or server.host_keys, not both".into(),
                ));
            }
            (Some(one), None) => vec![resolve(base, one.get_ref())],
            (None, None) => vec![data_dir.join("host_ed25519")],
            (None, Some(list)) => {
                if list.get_ref().is_empty() {
                    return Err((
                        list.span(),
                        "server.host_keys is empty; leave it out for one ed25519 key".into(),
                    ));
                }
                let mut out: Vec<PathBuf> = Vec::new();
                for p in list.get_ref() {
                    let path = resolve(base, p.get_ref());
                    if out.contains(&path) {
                        return Err((p.span(), format!("{} is listed twice", path.display())));
                    }
                    out.push(path);
                }
                out
            }
        };
        let policy_dir_explicit = self.policy_dir.is_some();
        let policy_dir = Some(match &self.policy_dir {
            Some(p) => resolve(base, p.get_ref()),
            None => base.join("policies"),
        });
        let disk_low = match &self.disk_low {
            None => DiskLow::Percent(5),
            Some(q) => disk_low(q.get_ref()).map_err(|e| (q.span(), e))?,
        };
        let disk_check_every = duration_in(
            &self.disk_check_every,
            Duration::from_secs(60),
            (Duration::from_secs(1), Duration::from_secs(3600)),
            "server.disk_check_every",
        )?;
        Ok(ServerConfig {
            listen,
            data_dir,
            host_keys,
            policy_dir,
            policy_dir_explicit,
            disk_low,
            disk_check_every,
        })
    }
}

/// `"5%"` (of the volume) or a size such as `"20GiB"`.
fn disk_low(q: &Quantity) -> Result<DiskLow, String> {
    if let Quantity::Text(t) = q
        && let Some(p) = t.trim().strip_suffix('%')
    {
        return match p.trim().parse::<u8>() {
            Ok(p) if (1..=50).contains(&p) => Ok(DiskLow::Percent(p)),
            _ => Err(format!(
                "server.disk_low {t:?}: a share must be between \"1%\" and \"50%\""
            )),
        };
    }
    let bytes =
        parse_size(q).map_err(|e| format!("server.disk_low: {e} (or a share such as \"5%\")"))?;
    if bytes == 0 {
        return Err("server.disk_low must be more than 0".into());
    }
    Ok(DiskLow::Bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_low_is_a_share_or_a_size() {
        assert_eq!(
            disk_low(&Quantity::Text("5%".into())).unwrap(),
            DiskLow::Percent(5)
        );
        assert_eq!(
            disk_low(&Quantity::Text("2GiB".into())).unwrap(),
            DiskLow::Bytes(2 << 30)
        );
        assert!(disk_low(&Quantity::Text("80%".into())).is_err());
        assert!(disk_low(&Quantity::Text("0".into())).is_err());
        assert_eq!(DiskLow::Percent(5).threshold(10_000), 500);
        assert_eq!(DiskLow::Bytes(10).threshold(1 << 40), 10);
    }
}
