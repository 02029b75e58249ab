//! How events are classified and named for people: which are refusals
//! and failures (`audit query --result`), and the Japanese term beside
//! each event name (docs/audit.md lists the same).

use super::Event;

/// Event names that are refusals (for `audit query --result refused`).
pub const REFUSALS: &[&str] = &[
    "connection_refused",
    "login_failed",
    // Trails written before browser logins became `login_failed` with
    // `protocol: https`.
    "web_login_failed",
    "channel_refused",
    "protocol_violation",
    "operation_refused",
    "banned",
    "reload_failed",
    "file_quarantined",
    "file_rejected",
    "lane_rejected",
];

/// Event names that are failures rather than refusals: something was
/// attempted and did not complete (for `audit query --result failed`).
pub const FAILURES: &[&str] = &[
    "upload_interrupted",
    "audit_records_lost",
    "handoff_failed",
    "import_failed",
    "expected_file_missing",
    "scan_unavailable",
    "lane_expired",
    "notification_failed",
];

/// How loudly an event is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something attempted did not complete: ERROR.
    Failure,
    /// A request, a file or a client was refused: WARN.
    Refusal,
    Normal,
}

/// The level of a record, from its name and fields: a hand-off that gave
/// up, an expected file missing, a scanner out of service are failures
/// (ERROR); refusals, a failed command or attempt that will be retried,
/// and a nearly full disk are WARN.
pub fn level(name: &str, record: &serde_json::Value) -> Level {
    let retried =
        name == "handoff_failed" && record.get("gave_up") != Some(&serde_json::Value::Bool(true));
    if FAILURES.contains(&name) && !retried {
        Level::Failure
    } else if retried
        || name == "disk_space_low"
        || REFUSALS.contains(&name)
        || record.get("ok") == Some(&serde_json::Value::Bool(false))
    {
        Level::Refusal
    } else {
        Level::Normal
    }
}

pub use renkei_model::event_names::japanese;

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
            Event::WebSessionEnded { .. } => "web_session_ended",
            Event::WebAction { .. } => "web_action",
            Event::DiskSpaceLow { .. } => "disk_space_low",
            Event::DiskSpaceRecovered { .. } => "disk_space_recovered",
            Event::NotificationSent { .. } => "notification_sent",
            Event::NotificationFailed { .. } => "notification_failed",
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
            Event::Purged { .. } => "purged",
            Event::RetentionReport { .. } => "retention_report",
            Event::CtlCommand { .. } => "ctl_command",
            Event::HandoffDelivered { .. } => "handoff_delivered",
            Event::HandoffFailed { .. } => "handoff_failed",
            Event::HandoffCancelled { .. } => "handoff_cancelled",
            Event::HandoffRequeued { .. } => "handoff_requeued",
            Event::FileImported { .. } => "file_imported",
            Event::ImportFailed { .. } => "import_failed",
            Event::ExpectedFileMissing { .. } => "expected_file_missing",
            Event::ScheduleCaughtUp { .. } => "schedule_caught_up",
            Event::RoutesChanged { .. } => "routes_changed",
            Event::ClosedDaySkipped { .. } => "closed_day_skipped",
            Event::FileChecked { .. } => "file_checked",
            Event::FileQuarantined { .. } => "file_quarantined",
            Event::FileRejected { .. } => "file_rejected",
            Event::QuarantineReleased { .. } => "quarantine_released",
            Event::QuarantineDeleted { .. } => "quarantine_deleted",
            Event::ScanUnavailable { .. } => "scan_unavailable",
            Event::ScanAvailable { .. } => "scan_available",
            Event::LaneSent { .. } => "lane_sent",
            Event::LaneApproved { .. } => "lane_approved",
            Event::LaneDelivered { .. } => "lane_delivered",
            Event::LaneRejected { .. } => "lane_rejected",
            Event::LaneWithdrawn { .. } => "lane_withdrawn",
            Event::LaneReceived { .. } => "lane_received",
            Event::LaneAcknowledged { .. } => "lane_acknowledged",
            Event::LaneExpired { .. } => "lane_expired",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_follow_the_class_of_the_record() {
        assert_eq!(
            level("handoff_failed", &json!({"gave_up": true})),
            Level::Failure
        );
        assert_eq!(
            level("handoff_failed", &json!({"gave_up": false})),
            Level::Refusal
        );
        assert_eq!(level("expected_file_missing", &json!({})), Level::Failure);
        assert_eq!(level("web_login_failed", &json!({})), Level::Refusal);
        assert_eq!(level("ctl_command", &json!({"ok": false})), Level::Refusal);
        assert_eq!(level("upload_committed", &json!({})), Level::Normal);
    }
}
