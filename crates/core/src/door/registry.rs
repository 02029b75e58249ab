//! A door's table of open connections, and the connection limits it
//! enforces (the SSH door's and the FTPS door's each have one).
//!
//! Admission checks and inserts under one lock, so a burst of connections
//! from one address cannot race past its per-source limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use renkei_config::canonical_ip;

/// The connection limits of one door, with their names for messages.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max: usize,
    pub max_name: &'static str,
    pub per_source: usize,
    pub per_source_name: &'static str,
    /// `connections`, `FTPS connections`.
    pub what: &'static str,
}

struct Entry<H> {
    ip: IpAddr,
    account: Option<String>,
    handle: Option<H>,
}

/// Open connections; `H` is what the door keeps to reach one (the SSH
/// session handle, to disconnect it at shutdown).
pub(crate) struct Registry<H> {
    conns: Mutex<HashMap<u64, Entry<H>>>,
}

impl<H> Default for Registry<H> {
    fn default() -> Self {
        Registry {
            conns: Mutex::new(HashMap::new()),
        }
    }
}

impl<H: Clone> Registry<H> {
    /// Registers a new connection from `ip`, or says which limit it would
    /// exceed.
    pub(crate) fn admit(&self, conn: u64, ip: IpAddr, caps: Caps) -> Result<(), String> {
        let ip = canonical_ip(ip);
        let Ok(mut conns) = self.conns.lock() else {
            return Err("internal error".into());
        };
        if conns.len() >= caps.max {
            return Err(format!(
                "too many {} ({}, {})",
                caps.what, caps.max, caps.max_name
            ));
        }
        let from_here = conns.values().filter(|e| e.ip == ip).count();
        if from_here >= caps.per_source {
            return Err(format!(
                "too many {} from {ip} ({}, {})",
                caps.what, caps.per_source, caps.per_source_name
            ));
        }
        conns.insert(
            conn,
            Entry {
                ip,
                account: None,
                handle: None,
            },
        );
        Ok(())
    }

    pub(crate) fn set_handle(&self, conn: u64, handle: H) {
        let mut conns = match self.conns.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(e) = conns.get_mut(&conn) {
            e.handle = Some(handle);
        }
    }

    /// Marks `conn` as logged in as `account`, unless the account already
    /// has `max` connections.
    pub(crate) fn login(&self, conn: u64, account: &str, max: usize) -> Result<(), String> {
        let Ok(mut conns) = self.conns.lock() else {
            return Err("internal error".into());
        };
        let open = conns
            .values()
            .filter(|e| e.account.as_deref() == Some(account))
            .count();
        if open >= max {
            return Err(format!(
                "too many connections for account {account} ({max}, limits.max_connections_per_account)"
            ));
        }
        if let Some(e) = conns.get_mut(&conn) {
            e.account = Some(account.to_string());
        }
        Ok(())
    }

    pub(crate) fn remove(&self, conn: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&conn);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub(crate) fn handles(&self) -> Vec<H> {
        self.conns
            .lock()
            .map(|c| c.values().filter_map(|e| e.handle.clone()).collect())
            .unwrap_or_default()
    }
}
