//! The table of open connections, and the connection limits it enforces.
//!
//! Admission checks and inserts under one lock, so a burst of connections
//! from one address cannot race past `max_connections_per_source`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use renkei_config::{Limits, canonical_ip};

struct Entry {
    ip: IpAddr,
    account: Option<String>,
    handle: Option<russh::server::Handle>,
}

#[derive(Default)]
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Entry>>,
}

impl Registry {
    /// Registers a new connection from `ip`, or says which limit it would
    /// exceed.
    pub(super) fn admit(&self, conn: u64, ip: IpAddr, limits: &Limits) -> Result<(), String> {
        let ip = canonical_ip(ip);
        let Ok(mut conns) = self.conns.lock() else {
            return Err("internal error".into());
        };
        if conns.len() >= limits.max_connections {
            return Err(format!(
                "too many connections ({}, limits.max_connections)",
                limits.max_connections
            ));
        }
        let from_here = conns.values().filter(|e| e.ip == ip).count();
        if from_here >= limits.max_connections_per_source {
            return Err(format!(
                "too many connections from {ip} ({}, limits.max_connections_per_source)",
                limits.max_connections_per_source
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

    pub(super) fn set_handle(&self, conn: u64, handle: russh::server::Handle) {
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
    pub(super) fn login(&self, conn: u64, account: &str, max: usize) -> Result<(), String> {
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

    pub(super) fn remove(&self, conn: u64) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.remove(&conn);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub(super) fn handles(&self) -> Vec<russh::server::Handle> {
        self.conns
            .lock()
            .map(|c| c.values().filter_map(|e| e.handle.clone()).collect())
            .unwrap_or_default()
    }
}
