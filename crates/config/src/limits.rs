//! Every resource limit renkei enforces, with its name and default.
//!
//! The `[limits]` table of the configuration sets them; this file is the one
//! place that lists them, and `docs/configuration.md` mirrors it. A limit
//! that is not here does not exist.

use std::time::Duration;

use serde::Deserialize;

use renkei_model::units::{Quantity, format_duration, format_size, parse_duration, parse_size};

/// Longest single path component, in bytes (SFTP and most file systems).
pub const MAX_NAME_BYTES: usize = 255;

/// The resolved limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest SFTP packet a client may send. A larger one closes the session
    /// (its body cannot be skipped safely).
    pub max_packet: u64,
    /// Bytes of SFTP requests received and not yet answered, per session.
    /// Well-behaved clients stay far below; exceeding it closes the session.
    pub max_queued_requests: u64,
    /// Bytes of replies produced and not yet sent, per session. Reaching it
    /// pauses the session's file workers (backpressure), it is not an error.
    pub max_response_buffer: u64,
    /// Open files and directories per SFTP session.
    pub max_open_handles: usize,
    /// SFTP sessions (channels) per SSH connection.
    pub max_channels_per_connection: usize,
    /// Open connections in total, logged in or not.
    pub max_connections: usize,
    /// Open connections from one source address.
    pub max_connections_per_source: usize,
    /// Logged-in connections of one account.
    pub max_connections_per_account: usize,
    /// Out-of-order write data held per session (all its uploads together)
    /// while waiting for the gap; also how far ahead of the data received
    /// one write may land.
    pub reorder_window: u64,
    /// Requests, unsent replies and out-of-order data of all sessions of
    /// one account together (see `renkei_core::memory`).
    pub max_account_memory: u64,
    /// The same for all clients of the daemon together.
    pub max_client_memory: u64,
    /// A session whose client takes none of the replies waiting for it for
    /// this long (its window stays shut, or the peer is gone) is ended.
    pub send_timeout: Duration,
    /// Public keys a client may try in one connection (OpenSSH's
    /// `MaxAuthTries`).
    pub max_auth_tries: usize,
    /// One step on a directory or file of a route end (open, stat, rename,
    /// fsync) that takes longer than this fails the item.
    pub fs_timeout: Duration,
    /// A long upload is made durable and resumable every this many bytes.
    pub upload_checkpoint: u64,
    /// ... and at least this often.
    pub upload_checkpoint_interval: Duration,
    /// How long an interrupted upload is kept for its uploader to resume.
    pub partial_expiry: Duration,
    /// Directory levels allowed inside a box.
    pub max_path_depth: usize,
    /// A checked ZIP archive may declare at most this many bytes per byte
    /// of its own size (zip bombs).
    pub archive_max_ratio: usize,
    /// Archives inside a checked archive: 1 = none, 2 = one level.
    pub archive_max_depth: usize,
    /// Entries a checked archive may hold.
    pub archive_max_entries: usize,
    /// Time from TCP accept to a successful login.
    pub login_grace_time: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Every failed authentication answer takes this long (no timing oracle
    /// on which user names exist).
    pub auth_rejection_delay: Duration,
    /// On stop, sessions get this long to finish before they are cut.
    pub shutdown_grace: Duration,
    /// After `shutdown_grace`, connections still open are told to
    /// disconnect and get this long to close before they are dropped.
    pub shutdown_disconnect_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet: 256 << 10,
            max_queued_requests: 64 << 20,
            max_response_buffer: 16 << 20,
            max_open_handles: 64,
            max_channels_per_connection: 4,
            max_connections: 1024,
            max_connections_per_source: 32,
            max_connections_per_account: 16,
            reorder_window: 16 << 20,
            max_account_memory: 256 << 20,
            max_client_memory: 2 << 30,
            send_timeout: Duration::from_secs(60),
            max_auth_tries: 6,
            fs_timeout: Duration::from_secs(30),
            upload_checkpoint: 64 << 20,
            upload_checkpoint_interval: Duration::from_secs(30),
            partial_expiry: Duration::from_secs(24 * 3600),
            max_path_depth: 8,
            archive_max_ratio: 100,
            archive_max_depth: 2,
            archive_max_entries: 10_000,
            login_grace_time: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            auth_rejection_delay: Duration::from_millis(300),
            shutdown_grace: Duration::from_secs(10),
            shutdown_disconnect_wait: Duration::from_secs(10),
        }
    }
}

/// The `[limits]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    max_packet: Option<toml::Spanned<Quantity>>,
    max_queued_requests: Option<toml::Spanned<Quantity>>,
    max_response_buffer: Option<toml::Spanned<Quantity>>,
    max_open_handles: Option<toml::Spanned<i64>>,
    max_channels_per_connection: Option<toml::Spanned<i64>>,
    max_connections: Option<toml::Spanned<i64>>,
    max_connections_per_source: Option<toml::Spanned<i64>>,
    max_connections_per_account: Option<toml::Spanned<i64>>,
    reorder_window: Option<toml::Spanned<Quantity>>,
    max_account_memory: Option<toml::Spanned<Quantity>>,
    max_client_memory: Option<toml::Spanned<Quantity>>,
    send_timeout: Option<toml::Spanned<Quantity>>,
    max_auth_tries: Option<toml::Spanned<i64>>,
    fs_timeout: Option<toml::Spanned<Quantity>>,
    upload_checkpoint: Option<toml::Spanned<Quantity>>,
    upload_checkpoint_interval: Option<toml::Spanned<Quantity>>,
    partial_expiry: Option<toml::Spanned<Quantity>>,
    max_path_depth: Option<toml::Spanned<i64>>,
    archive_max_ratio: Option<toml::Spanned<i64>>,
    archive_max_depth: Option<toml::Spanned<i64>>,
    archive_max_entries: Option<toml::Spanned<i64>>,
    login_grace_time: Option<toml::Spanned<Quantity>>,
    idle_timeout: Option<toml::Spanned<Quantity>>,
    auth_rejection_delay: Option<toml::Spanned<Quantity>>,
    shutdown_grace: Option<toml::Spanned<Quantity>>,
    shutdown_disconnect_wait: Option<toml::Spanned<Quantity>>,
}

/// A problem with one limit: the byte span of the value and the message.
pub(super) type LimitError = (std::ops::Range<usize>, String);

fn size(
    v: &Option<toml::Spanned<Quantity>>,
    default: u64,
    min: u64,
    max: u64,
    name: &str,
) -> Result<u64, LimitError> {
    let Some(v) = v else { return Ok(default) };
    let n = parse_size(v.get_ref()).map_err(|e| (v.span(), format!("limits.{name}: {e}")))?;
    if n < min || n > max {
        return Err((
            v.span(),
            format!(
                "limits.{name} must be between {} and {} (got {})",
                format_size(min),
                format_size(max),
                format_size(n)
            ),
        ));
    }
    Ok(n)
}

fn duration(
    v: &Option<toml::Spanned<Quantity>>,
    default: Duration,
    min: Duration,
    name: &str,
) -> Result<Duration, LimitError> {
    let Some(v) = v else { return Ok(default) };
    let d = parse_duration(v.get_ref()).map_err(|e| (v.span(), format!("limits.{name}: {e}")))?;
    if d < min {
        return Err((
            v.span(),
            format!(
                "limits.{name} must be at least {} (got {})",
                format_duration(min),
                format_duration(d)
            ),
        ));
    }
    Ok(d)
}

fn count(
    v: &Option<toml::Spanned<i64>>,
    default: usize,
    min: i64,
    max: i64,
    name: &str,
) -> Result<usize, LimitError> {
    let Some(v) = v else { return Ok(default) };
    let n = *v.get_ref();
    if n < min || n > max {
        return Err((
            v.span(),
            format!("limits.{name} must be between {min} and {max} (got {n})"),
        ));
    }
    Ok(n as usize)
}

impl RawLimits {
    /// One entry per limit with its default and range, grouped by what
    /// they bound; the groups are the limits table itself
    /// (docs/configuration.md mirrors it).
    pub(super) fn resolve(&self) -> Result<Limits, LimitError> {
        let mut limits = Limits::default();
        self.sftp(&mut limits)?;
        self.connections(&mut limits)?;
        self.files(&mut limits)?;
        self.times(&mut limits)?;
        if limits.max_queued_requests < limits.max_packet {
            let span = self
                .max_queued_requests
                .as_ref()
                .map(|v| v.span())
                .unwrap_or(0..0);
            return Err((
                span,
                "limits.max_queued_requests must be at least limits.max_packet".to_string(),
            ));
        }
        Ok(limits)
    }

    /// With the blobs in S3, each open upload holds one part
    /// ([`crate::storage::S3_PART_SIZE`]) charged within half of
    /// `max_queued_requests`: a smaller budget could never upload at all.
    pub(super) fn check_for_object_store(&self, l: &Limits) -> Result<(), LimitError> {
        let least = 2 * crate::storage::S3_PART_SIZE;
        if l.max_queued_requests >= least {
            return Ok(());
        }
        let span = self
            .max_queued_requests
            .as_ref()
            .map(|v| v.span())
            .unwrap_or(0..0);
        Err((
            span,
            format!(
                "limits.max_queued_requests must be at least {} with the files in S3 (storage.blobs): each open upload holds a part of {} in memory, charged within half of it",
                crate::units::format_size(least),
                crate::units::format_size(crate::storage::S3_PART_SIZE)
            ),
        ))
    }

    /// A session's SFTP budget: packets, what it may queue and hold, its handles and channels.
    fn sftp(&self, l: &mut Limits) -> Result<(), LimitError> {
        // SFTP clients send 32 KiB writes by default; below 34 KiB they break.
        l.max_packet = size(
            &self.max_packet,
            l.max_packet,
            34 << 10,
            16 << 20,
            "max_packet",
        )?;
        l.max_queued_requests = size(
            &self.max_queued_requests,
            l.max_queued_requests,
            1 << 20,
            1 << 30,
            "max_queued_requests",
        )?;
        l.max_response_buffer = size(
            &self.max_response_buffer,
            l.max_response_buffer,
            1 << 20,
            1 << 30,
            "max_response_buffer",
        )?;
        l.max_open_handles = count(
            &self.max_open_handles,
            l.max_open_handles,
            1,
            4096,
            "max_open_handles",
        )?;
        l.max_channels_per_connection = count(
            &self.max_channels_per_connection,
            l.max_channels_per_connection,
            1,
            64,
            "max_channels_per_connection",
        )?;
        l.reorder_window = size(
            &self.reorder_window,
            l.reorder_window,
            0,
            1 << 30,
            "reorder_window",
        )?;
        Ok(())
    }

    /// How many connections, from where and of whom, and what they may hold.
    fn connections(&self, l: &mut Limits) -> Result<(), LimitError> {
        l.max_connections = count(
            &self.max_connections,
            l.max_connections,
            1,
            1_000_000,
            "max_connections",
        )?;
        l.max_connections_per_source = count(
            &self.max_connections_per_source,
            l.max_connections_per_source,
            1,
            1_000_000,
            "max_connections_per_source",
        )?;
        l.max_connections_per_account = count(
            &self.max_connections_per_account,
            l.max_connections_per_account,
            1,
            1_000_000,
            "max_connections_per_account",
        )?;
        l.max_account_memory = size(
            &self.max_account_memory,
            l.max_account_memory,
            4 << 20,
            1 << 40,
            "max_account_memory",
        )?;
        l.max_client_memory = size(
            &self.max_client_memory,
            l.max_client_memory,
            4 << 20,
            1 << 44,
            "max_client_memory",
        )?;
        l.max_auth_tries = count(
            &self.max_auth_tries,
            l.max_auth_tries,
            1,
            100,
            "max_auth_tries",
        )?;
        Ok(())
    }

    /// Uploads, archives and paths: checkpoints, expiry, depth and the ZIP limits.
    fn files(&self, l: &mut Limits) -> Result<(), LimitError> {
        let ms = Duration::from_millis;
        l.upload_checkpoint = size(
            &self.upload_checkpoint,
            l.upload_checkpoint,
            1 << 20,
            1 << 40,
            "upload_checkpoint",
        )?;
        l.upload_checkpoint_interval = duration(
            &self.upload_checkpoint_interval,
            l.upload_checkpoint_interval,
            ms(100),
            "upload_checkpoint_interval",
        )?;
        l.partial_expiry = duration(
            &self.partial_expiry,
            l.partial_expiry,
            ms(1000),
            "partial_expiry",
        )?;
        l.max_path_depth = count(
            &self.max_path_depth,
            l.max_path_depth,
            1,
            64,
            "max_path_depth",
        )?;
        l.archive_max_ratio = count(
            &self.archive_max_ratio,
            l.archive_max_ratio,
            2,
            100_000,
            "archive_max_ratio",
        )?;
        l.archive_max_depth = count(
            &self.archive_max_depth,
            l.archive_max_depth,
            1,
            10,
            "archive_max_depth",
        )?;
        l.archive_max_entries = count(
            &self.archive_max_entries,
            l.archive_max_entries,
            1,
            1_000_000,
            "archive_max_entries",
        )?;
        Ok(())
    }

    /// Every wait that has a deadline.
    fn times(&self, l: &mut Limits) -> Result<(), LimitError> {
        let ms = Duration::from_millis;
        l.send_timeout = duration(&self.send_timeout, l.send_timeout, ms(1000), "send_timeout")?;
        l.fs_timeout = duration(&self.fs_timeout, l.fs_timeout, ms(100), "fs_timeout")?;
        l.login_grace_time = duration(
            &self.login_grace_time,
            l.login_grace_time,
            ms(1000),
            "login_grace_time",
        )?;
        l.idle_timeout = duration(&self.idle_timeout, l.idle_timeout, ms(1000), "idle_timeout")?;
        l.auth_rejection_delay = duration(
            &self.auth_rejection_delay,
            l.auth_rejection_delay,
            ms(0),
            "auth_rejection_delay",
        )?;
        l.shutdown_grace = duration(
            &self.shutdown_grace,
            l.shutdown_grace,
            ms(0),
            "shutdown_grace",
        )?;
        l.shutdown_disconnect_wait = duration(
            &self.shutdown_disconnect_wait,
            l.shutdown_disconnect_wait,
            ms(0),
            "shutdown_disconnect_wait",
        )?;
        Ok(())
    }
}
