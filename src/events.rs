//! Security-relevant events: connections, logins, refusals, file operations,
//! operator actions.
//!
//! Every such event is built as an [`Event`] and handed to [`Events::record`]
//! — never written with an ad-hoc `info!` elsewhere — so that the signed
//! audit trail can take all of them over from this one place. Today each
//! event becomes one structured `tracing` record with target
//! `renkei::event`: the common fields (event, tenant, user, peer, box, path,
//! reason) as fields, and the whole event as JSON in `record`.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

/// Who did something: an account of a tenant over SSH, or the operator via
/// the control socket.
#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    pub tenant: String,
    /// SSH user name, or `ctl` for the operator's control socket.
    pub user: String,
    /// Source address of the connection, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    /// Connection number (see `connection_accepted`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn: Option<u64>,
}

/// One event. Names are stable: scripts and the audit trail key on them.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    DaemonStarted {
        version: &'static str,
        listen: SocketAddr,
        config: String,
        tenants: usize,
    },
    DaemonStopped {
        reason: String,
    },
    RecoveryCompleted {
        committed_files: u64,
        partials: u64,
        orphan_blobs_removed: u64,
        partials_expired: u64,
    },
    ConnectionAccepted {
        conn: u64,
        peer: SocketAddr,
    },
    ConnectionRefused {
        peer: SocketAddr,
        stage: &'static str,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    LoginSucceeded {
        conn: u64,
        peer: SocketAddr,
        tenant: String,
        user: String,
        key_fingerprint: String,
        key_algorithm: String,
    },
    LoginFailed {
        conn: u64,
        peer: SocketAddr,
        user: String,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_fingerprint: Option<String>,
    },
    ChannelRefused {
        conn: u64,
        peer: SocketAddr,
        user: String,
        request: String,
        reason: String,
    },
    SessionEnded {
        conn: u64,
        peer: SocketAddr,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        duration_ms: u64,
        bytes_up: u64,
        bytes_down: u64,
        reason: String,
    },
    ProtocolViolation {
        #[serde(flatten)]
        actor: Actor,
        reason: String,
    },
    UploadCommitted {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        size: u64,
        sha256: String,
        resumed: bool,
    },
    UploadInterrupted {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        kept_bytes: u64,
        reason: String,
    },
    PartialExpired {
        tenant: String,
        user: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        size: u64,
    },
    Downloaded {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        size: u64,
        bytes_served: u64,
    },
    Deleted {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        /// True in the outbox, where deleting means "received, thank you".
        acknowledged: bool,
    },
    Renamed {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        from: String,
        to: String,
        replaced: bool,
    },
    DirCreated {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
    },
    DirRemoved {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
    },
    TimesChanged {
        #[serde(flatten)]
        actor: Actor,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        mtime: i64,
    },
    OperationRefused {
        #[serde(flatten)]
        actor: Actor,
        op: String,
        path: String,
        reason: String,
        /// The policy rule that refused (`file:line`, or `default deny`);
        /// absent when the refusal was not a policy decision.
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    Banned {
        ip: String,
        until: String,
        /// How many times this address has been banned.
        bans: u32,
        reason: String,
    },
    Unbanned {
        ip: String,
        by: String,
    },
    ConfigLoaded {
        config: String,
        config_sha256: String,
        policy_files: Vec<String>,
        policy_sha256: String,
        rules: usize,
        /// `start` or `reload`.
        how: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        restart_needed: Vec<String>,
    },
    ReloadFailed {
        error: String,
    },
    CtlCommand {
        uid: u32,
        command: String,
        detail: String,
        ok: bool,
    },
}

impl Event {
    /// The stable event name, as in the `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Event::DaemonStarted { .. } => "daemon_started",
            Event::DaemonStopped { .. } => "daemon_stopped",
            Event::RecoveryCompleted { .. } => "recovery_completed",
            Event::ConnectionAccepted { .. } => "connection_accepted",
            Event::ConnectionRefused { .. } => "connection_refused",
            Event::LoginSucceeded { .. } => "login_succeeded",
            Event::LoginFailed { .. } => "login_failed",
            Event::ChannelRefused { .. } => "channel_refused",
            Event::SessionEnded { .. } => "session_ended",
            Event::ProtocolViolation { .. } => "protocol_violation",
            Event::UploadCommitted { .. } => "upload_committed",
            Event::UploadInterrupted { .. } => "upload_interrupted",
            Event::PartialExpired { .. } => "partial_expired",
            Event::Downloaded { .. } => "downloaded",
            Event::Deleted { .. } => "deleted",
            Event::Renamed { .. } => "renamed",
            Event::DirCreated { .. } => "dir_created",
            Event::DirRemoved { .. } => "dir_removed",
            Event::TimesChanged { .. } => "times_changed",
            Event::OperationRefused { .. } => "operation_refused",
            Event::Banned { .. } => "banned",
            Event::Unbanned { .. } => "unbanned",
            Event::ConfigLoaded { .. } => "config_loaded",
            Event::ReloadFailed { .. } => "reload_failed",
            Event::CtlCommand { .. } => "ctl_command",
        }
    }

    fn is_refusal(&self) -> bool {
        matches!(
            self,
            Event::ConnectionRefused { .. }
                | Event::LoginFailed { .. }
                | Event::ChannelRefused { .. }
                | Event::ProtocolViolation { .. }
                | Event::OperationRefused { .. }
                | Event::Banned { .. }
                | Event::ReloadFailed { .. }
        ) || matches!(self, Event::CtlCommand { ok: false, .. })
    }
}

/// The sink every event goes through.
#[derive(Debug, Default)]
pub struct Events {}

impl Events {
    pub fn new() -> Self {
        Events {}
    }

    pub fn record(&self, event: Event) {
        let record = serde_json::to_value(&event).unwrap_or(serde_json::Value::Null);
        // Absent fields are left out of the log line rather than shown empty.
        let field = |k: &str| {
            record.get(k).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let name = event.name();
        let tenant = field("tenant");
        let user = field("user");
        let peer = field("peer").or_else(|| field("source"));
        let box_name = field("box");
        let path = field("path");
        let reason = field("reason");
        if event.is_refusal() {
            tracing::warn!(target: "renkei::event", event = name, tenant, user, peer, r#box = box_name, path, reason, %record);
        } else {
            tracing::info!(target: "renkei::event", event = name, tenant, user, peer, r#box = box_name, path, reason, %record);
        }
    }
}
