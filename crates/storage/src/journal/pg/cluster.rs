//! What several nodes share besides the journal (decision 0017): their
//! heartbeats and their leases, rows in PostgreSQL timed by the database's
//! clock, so that no node's own clock decides anything.
//!
//! A lease is taken when it has expired (its epoch goes up by one) or
//! renewed by its holder (the epoch stays while it is unexpired), in one
//! statement; the epoch is what the holder's commits are fenced by
//! (`journal::fence`). Every call is a short transaction on this handle's
//! own connection, bounded like the journal's (`journal_timeout`).

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::super::fence::Fence;
use super::super::tables::StoreError;
use super::{Conn, PgConfig, pg_error};

/// A lease as the database has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    /// Milliseconds until it expires (negative: expired that long ago).
    pub remaining_ms: i64,
}

/// A node as the database last heard from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    pub node: String,
    pub address: String,
    pub version: String,
    pub started_at: String,
    /// Milliseconds since its last heartbeat.
    pub silent_ms: i64,
}

/// This node's handle on the shared tables.
pub struct Cluster {
    node: String,
    conn: Mutex<Conn>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Cluster {
    /// A handle for `node`, on a connection of its own (made at first use).
    pub fn new(config: &PgConfig, node: &str) -> Cluster {
        let conn = Conn::new(config.clone(), Default::default(), false);
        Cluster {
            node: node.to_string(),
            conn: Mutex::new(conn),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn run<R>(
        &self,
        body: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<R, postgres::Error>,
    ) -> Result<R, StoreError> {
        let mut conn = match self.conn.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        conn.transaction(false, |mut tx, _| {
            let out = body(&mut tx).map_err(pg_error)?;
            tx.commit().map_err(pg_error)?;
            Ok(out)
        })
    }

    /// Says this node is alive; `starting` also resets its start time.
    pub fn heartbeat(
        &self,
        address: &str,
        version: &str,
        starting: bool,
    ) -> Result<(), StoreError> {
        let node = self.node.clone();
        let (address, version) = (address.to_string(), version.to_string());
        self.run(move |tx| {
            tx.execute(
                "INSERT INTO cluster_nodes (node, address, version, started_at, heartbeat_at) \
                 VALUES ($1, $2, $3, now(), now()) \
                 ON CONFLICT (node) DO UPDATE SET address = EXCLUDED.address, version = EXCLUDED.version, \
                 heartbeat_at = now(), \
                 started_at = CASE WHEN $4 THEN now() ELSE cluster_nodes.started_at END",
                &[&node, &address, &version, &starting],
            )
            .map(|_| ())
        })
    }

    /// Takes `name` for `ttl` if it is free or expired (a new epoch), or
    /// renews it if this node holds it (the same epoch while unexpired).
    /// `None`: another node holds it.
    pub fn take(&self, name: &str, ttl: Duration) -> Result<Option<Fence>, StoreError> {
        let (node, lease, ttl) = (self.node.clone(), name.to_string(), ms(ttl));
        let epoch = self.run(move |tx| {
            tx.query_opt(
                "INSERT INTO cluster_leases AS l (name, holder, epoch, expires_at) \
                 VALUES ($1, $2, 1, clock_timestamp() + $3::bigint * interval '1 millisecond') \
                 ON CONFLICT (name) DO UPDATE SET \
                 epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() \
                              THEN l.epoch ELSE l.epoch + 1 END, \
                 holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp() \
                 RETURNING epoch",
                &[&lease, &node, &ttl],
            )
            .map(|row| row.map(|r| r.get::<_, i64>(0)))
        })?;
        Ok(epoch.map(|epoch| Fence {
            name: name.to_string(),
            holder: self.node.clone(),
            epoch,
        }))
    }

    /// Gives a lease back at once (a clean stop), so another node need not
    /// wait for it to expire.
    pub fn release(&self, fence: &Fence) -> Result<(), StoreError> {
        let f = fence.clone();
        self.run(move |tx| {
            tx.execute(
                "UPDATE cluster_leases SET expires_at = clock_timestamp() \
                 WHERE name = $1 AND holder = $2 AND epoch = $3",
                &[&f.name, &f.holder, &f.epoch],
            )
            .map(|_| ())
        })
    }

    /// Every lease, by name.
    pub fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.run(|tx| {
            let rows = tx.query(
                "SELECT name, holder, epoch, \
                 (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint \
                 FROM cluster_leases ORDER BY name",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| LeaseRow {
                    name: r.get(0),
                    holder: r.get(1),
                    epoch: r.get(2),
                    remaining_ms: r.get(3),
                })
                .collect())
        })
    }

    /// Every node that has ever joined, by name.
    pub fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        self.run(|tx| {
            let rows = tx.query(
                "SELECT node, address, version, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                 (extract(epoch FROM (clock_timestamp() - heartbeat_at)) * 1000)::bigint \
                 FROM cluster_nodes ORDER BY node",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| NodeRow {
                    node: r.get(0),
                    address: r.get(1),
                    version: r.get(2),
                    started_at: r.get(3),
                    silent_ms: r.get(4),
                })
                .collect())
        })
    }
}
