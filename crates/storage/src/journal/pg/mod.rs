//! The journal in PostgreSQL (decision 0016): the engine for a deployment
//! that keeps its state where operators already keep it redundantly.
//!
//! The operations and reads are the same as on redb (`tables`, `reads`);
//! this module only connects, migrates and runs them. Writes go through
//! one writer thread that folds waiting transactions into one commit, as
//! on redb: PostgreSQL's commit (WAL flushed, `synchronous_commit` as the
//! operator set it) is what makes a change durable, and a client hears OK
//! only after it. Reads run on a small pool of reader threads, each with
//! its own connection, in read-only repeatable-read transactions.
//!
//! The client is the synchronous one of the rust-postgres project, so it
//! runs only on these threads, never on the daemon's runtime. Every wait
//! is bounded: connecting by `connect_timeout`, every statement by the
//! server-side `statement_timeout`, a dead server by TCP keepalives and
//! `tcp_user_timeout`, and a caller waiting for a read by `timeout`. A
//! lost connection is made again before the next transaction, so work
//! resumes without anyone's help when the database returns.

pub mod cluster;
mod schema;
mod sql;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls, Transaction};

use super::reads::Snapshot;
use super::store::{Committed, Engine};
use super::tables::StoreError;
use super::writer::{self, Commit, Group, Job};
use super::{JournalError, Note, Op};

pub use schema::SCHEMA;
pub use tls::PgTls;

/// How to reach the journal's database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgresql://user@host:port/dbname` (no password in it).
    pub url: String,
    /// The password, read from the operator's file.
    pub password: Option<String>,
    /// Connecting, each statement, and a caller's wait for a read.
    pub timeout: Duration,
    /// Reader connections (the writer has one more).
    pub readers: usize,
    /// TLS, verified against a CA file; `None`: no TLS.
    pub tls: Option<PgTls>,
    /// Several nodes write this journal (decision 0017): no writer lock,
    /// every group `SERIALIZABLE` and run again after a conflict.
    pub shared: bool,
}

/// Reads waiting for a reader thread, at most; more are refused as busy.
const READ_QUEUE: usize = 1024;

pub(in crate::journal) fn pg_error(e: postgres::Error) -> StoreError {
    // The driver's Display says only "db error"; the server's message is
    // what an operator needs.
    let text = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    };
    let conflict = [
        postgres::error::SqlState::T_R_SERIALIZATION_FAILURE,
        postgres::error::SqlState::T_R_DEADLOCK_DETECTED,
    ];
    if e.code().is_some_and(|c| conflict.contains(c)) {
        StoreError::Conflict(text)
    } else {
        StoreError::Postgres(text)
    }
}

/// How often a group refused for a conflict with another node's is run
/// again before its callers are told it failed.
const CONFLICT_ATTEMPTS: u32 = 10;

/// The URL without its `sslmode`: whether TLS is used (and verified) is
/// decided by `tls`, and the driver knows only some of libpq's modes.
fn without_sslmode(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("sslmode="))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

impl PgConfig {
    /// Where the database is, as shown to people (never the password).
    pub fn shown(&self) -> String {
        self.url.clone()
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut config: postgres::Config = without_sslmode(&self.url)
            .parse()
            .map_err(|e| StoreError::Postgres(format!("{}: {e}", self.url)))?;
        if self.tls.is_none() {
            // Without a CA file nothing could be verified: no TLS rather
            // than TLS that trusts whoever answers.
            config.ssl_mode(postgres::config::SslMode::Disable);
        }
        if let Some(p) = &self.password {
            config.password(p.as_bytes());
        }
        let ms = self.timeout.as_millis();
        config
            .connect_timeout(self.timeout)
            .tcp_user_timeout(self.timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("renkei")
            .options(&format!(
                "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms}"
            ));
        let connected = match &self.tls {
            None => config.connect(NoTls),
            Some(t) => {
                config.ssl_mode(postgres::config::SslMode::Require);
                config.connect(tls::Rustls(tls::client_config(t)?))
            }
        };
        connected.map_err(|e| StoreError::Postgres(format!("{}: {}", self.url, pg_error(e))))
    }
}

/// Arbitrary, fixed: the session lock the writing node holds.
const WRITER_LOCK: i64 = 0x7265_6e6b_6569_0002;

/// One connection with its prepared statements; made again after a loss.
struct Conn {
    config: PgConfig,
    live: Option<(Client, sql::Statements)>,
    /// Commits whose outcome is unknown (the writer's connection only).
    in_doubt: Arc<AtomicU64>,
    /// The writer's connection holds [`WRITER_LOCK`] for its lifetime.
    writer: bool,
}

impl Conn {
    fn new(config: PgConfig, in_doubt: Arc<AtomicU64>, writer: bool) -> Conn {
        Conn {
            config,
            live: None,
            in_doubt,
            writer,
        }
    }

    fn get(&mut self) -> Result<&mut (Client, sql::Statements), StoreError> {
        if self.live.as_ref().is_some_and(|(c, _)| c.is_closed()) {
            self.live = None;
        }
        if self.live.is_none() {
            let mut client = self.config.connect()?;
            if self.writer && !self.config.shared {
                // One writing node per database until the leases of
                // several nodes exist: a second one is refused, not raced.
                let row = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
                    .map_err(pg_error)?;
                if !row.get::<_, bool>(0) {
                    return Err(StoreError::Postgres(format!(
                        "{}: another renkei is writing to this journal; one node per database (decision 0016)",
                        self.config.shown()
                    )));
                }
            }
            let statements = sql::Statements::prepare(&mut client)?;
            self.live = Some((client, statements));
        }
        self.live
            .as_mut()
            .ok_or_else(|| StoreError::Postgres("not connected".into()))
    }
}

impl Conn {
    /// Runs `body` in a transaction (read-only and repeatable-read for
    /// reads). A connection the server closed while it sat idle (a
    /// restart) is found out only at its next use, `BEGIN`: then nothing
    /// was sent that could have changed anything, so it is made again
    /// once and `BEGIN` is sent again.
    fn transaction<R>(
        &mut self,
        read_only: bool,
        body: impl FnOnce(Transaction<'_>, &sql::Statements) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut retried = false;
        let serializable = self.writer && self.config.shared;
        loop {
            let failed = {
                let (client, statements) = self.get()?;
                let started = if read_only {
                    client
                        .build_transaction()
                        .isolation_level(IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                } else if serializable {
                    client
                        .build_transaction()
                        .isolation_level(IsolationLevel::Serializable)
                        .start()
                } else {
                    client.transaction()
                };
                match started {
                    Ok(tx) => return body(tx, statements),
                    Err(e) => e,
                }
            };
            let closed = self.live.as_ref().is_none_or(|(c, _)| c.is_closed());
            if retried || !closed {
                return Err(pg_error(failed));
            }
            tracing::info!(error = %pg_error(failed), "the journal database closed its connection; connecting again");
            retried = true;
            self.live = None;
        }
    }
}

impl Commit for Conn {
    fn commit_group(&mut self, jobs: &[Job]) -> Result<Group, StoreError> {
        let mut attempt = 1;
        loop {
            match self.commit_once(jobs) {
                Err(StoreError::Conflict(why)) if attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(
                        attempt,
                        why,
                        "journal group conflicted with another node's; running it again"
                    );
                    // A short, growing, jittered pause, so that two nodes
                    // that collided do not collide again in step.
                    let ms = u64::from(attempt) * (1 + rand::random::<u64>() % 5);
                    thread::sleep(Duration::from_millis(ms));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Conn {
    fn commit_once(&mut self, jobs: &[Job]) -> Result<Group, StoreError> {
        let in_doubt = Arc::clone(&self.in_doubt);
        self.transaction(false, |mut tx, statements| {
            let group = {
                let mut t = sql::PgTxn {
                    tx: &mut tx,
                    statements,
                };
                writer::apply_group(&mut t, jobs)?
            };
            if let Err(e) = tx.commit() {
                // Nothing before COMMIT took effect, but COMMIT itself may
                // have: the database can have made the change while the
                // answer was lost. An answer from the server (a conflict)
                // says it did not.
                if e.as_db_error().is_none() {
                    in_doubt.fetch_add(1, Ordering::Relaxed);
                }
                return Err(pg_error(e));
            }
            Ok(group)
        })
    }
}

type ReadJob = Box<dyn FnOnce(&mut Conn) + Send>;

/// The journal in PostgreSQL.
pub struct PgJournal {
    config: PgConfig,
    in_doubt: Arc<AtomicU64>,
    writer: mpsc::Sender<Job>,
    reads: mpsc::SyncSender<ReadJob>,
}

/// Connects, brings the schema up to date, and returns the version it
/// was at. Runs on a thread of its own (the client must not run on the
/// daemon's runtime).
pub fn migrate_schema(config: &PgConfig) -> Result<i32, JournalError> {
    let config = config.clone();
    let shown = config.shown();
    let open_err = |source: StoreError| JournalError::Open {
        path: shown.clone(),
        source,
    };
    thread::Builder::new()
        .name("journal-migrate".into())
        .spawn(move || {
            let mut client = config.connect()?;
            schema::migrate(&mut client)
        })
        .map_err(|e| open_err(StoreError::Postgres(e.to_string())))?
        .join()
        .map_err(|_| open_err(StoreError::Postgres("the migration thread failed".into())))?
        .map_err(open_err)
}

/// A connection for copying a journal in, the schema brought up to date
/// first. The caller runs on a thread of its own.
pub(in crate::journal) fn connect_for_copy(config: &PgConfig) -> Result<Client, StoreError> {
    let mut client = config.connect()?;
    schema::migrate(&mut client)?;
    Ok(client)
}

impl PgJournal {
    /// Connects, migrates the schema, and starts the writer and readers.
    pub fn open(config: PgConfig) -> Result<PgJournal, JournalError> {
        migrate_schema(&config)?;
        let spawn_err = |e: std::io::Error| JournalError::Open {
            path: config.shown(),
            source: StoreError::Postgres(e.to_string()),
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let in_doubt = Arc::new(AtomicU64::new(0));
        let mut conn = Conn::new(config.clone(), Arc::clone(&in_doubt), true);
        let (ready, connected) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || {
                let first = conn.get().map(|_| ());
                let go = first.is_ok();
                let _ = ready.send(first);
                if go {
                    writer::run(&mut conn, &rx);
                }
            })
            .map_err(spawn_err)?;
        connected
            .recv()
            .map_err(|_| StoreError::Postgres("the journal writer failed to start".into()))
            .and_then(|r| r)
            .map_err(|source| JournalError::Open {
                path: config.shown(),
                source,
            })?;
        let (reads, queue) = mpsc::sync_channel::<ReadJob>(READ_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..config.readers.max(1) {
            let queue = Arc::clone(&queue);
            let mut conn = Conn::new(config.clone(), Arc::clone(&in_doubt), false);
            thread::Builder::new()
                .name(format!("journal-reader-{i}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut conn),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(spawn_err)?;
        }
        Ok(PgJournal {
            config,
            in_doubt,
            writer: tx,
            reads,
        })
    }
}

fn snapshot_read<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut dyn Snapshot) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.transaction(true, |mut tx, statements| {
        let out = f(&mut sql::PgSnapshot {
            tx: &mut tx,
            statements,
        })?;
        tx.commit().map_err(pg_error)?;
        Ok(out)
    })
}

impl Engine for PgJournal {
    fn submit(&self, ops: Vec<Op>, note: Option<Note>) -> Result<Committed, JournalError> {
        writer::submit(&self.writer, ops, note)
    }

    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Snapshot) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: ReadJob = Box::new(move |conn| {
            let _ = answer.send(snapshot_read(conn, f));
        });
        let unavailable = |why: &str| {
            JournalError::Storage(StoreError::Postgres(format!(
                "{}: {why}",
                self.config.shown()
            )))
        };
        self.reads.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => unavailable("too many reads waiting; try again"),
            mpsc::TrySendError::Disconnected(_) => unavailable("the journal's readers stopped"),
        })?;
        match answered.recv_timeout(self.config.timeout) {
            Ok(r) => Ok(r?),
            Err(_) => Err(unavailable(&format!(
                "no answer within {} s",
                self.config.timeout.as_secs()
            ))),
        }
    }

    fn commits_in_doubt(&self) -> u64 {
        self.in_doubt.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::without_sslmode;

    #[test]
    fn sslmode_is_left_to_the_tls_settings() {
        assert_eq!(
            without_sslmode("postgresql://u@h/db?sslmode=verify-full"),
            "postgresql://u@h/db"
        );
        assert_eq!(
            without_sslmode("postgresql://u@h/db?application_name=x&sslmode=require"),
            "postgresql://u@h/db?application_name=x"
        );
        assert_eq!(
            without_sslmode("postgresql://u@h/db"),
            "postgresql://u@h/db"
        );
    }
}
