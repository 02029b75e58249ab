//! How events are classified and named for people: which are refusals
//! and failures (`audit query --result`), and the Japanese term beside
//! each event name (docs/audit.md lists the same).

use super::Event;

/// Event names that are refusals (for `audit query --result refused`).
pub const REFUSALS: &[&str] = &[
    "connection_refused",
    "login_failed",
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
/// (ERROR); refusals, and a failed command or attempt that will be
/// retried, are WARN.
pub fn level(name: &str, record: &serde_json::Value) -> Level {
    let retried =
        name == "handoff_failed" && record.get("gave_up") != Some(&serde_json::Value::Bool(true));
    if FAILURES.contains(&name) && !retried {
        Level::Failure
    } else if retried
        || REFUSALS.contains(&name)
        || record.get("ok") == Some(&serde_json::Value::Bool(false))
    {
        Level::Refusal
    } else {
        Level::Normal
    }
}

/// The Japanese term shown beside each event name.
pub fn japanese(name: &str) -> &'static str {
    match name {
        "daemon_started" => "起動",
        "daemon_stopped" => "停止",
        "config_loaded" => "設定読込",
        "reload_failed" => "設定読込失敗",
        "recovery_completed" => "起動時回復",
        "connection_accepted" => "接続受付",
        "connection_refused" => "接続拒否",
        "login_succeeded" => "ログイン成功",
        "login_failed" => "ログイン失敗",
        "web_login" => "Webログイン",
        "web_login_failed" => "Webログイン失敗",
        "web_session_ended" => "Webログアウト",
        "web_action" => "Web運用操作",
        "notification_sent" => "通知送信",
        "notification_failed" => "通知失敗",
        "channel_refused" => "要求拒否",
        "session_ended" => "セッション終了",
        "protocol_violation" => "プロトコル違反",
        "upload_committed" => "受信完了",
        "upload_interrupted" => "受信中断",
        "partial_expired" => "中断分破棄",
        "downloaded" => "送信",
        "deleted" => "削除",
        "renamed" => "名前変更",
        "dir_created" => "フォルダ作成",
        "dir_removed" => "フォルダ削除",
        "times_changed" => "日時変更",
        "operation_refused" => "操作拒否",
        "purged" => "保存期間満了消去",
        "retention_report" => "未連携ファイル報告",
        "banned" => "遮断",
        "unbanned" => "遮断解除",
        "ctl_command" => "運用操作",
        "handoff_delivered" => "連携完了",
        "handoff_failed" => "連携失敗",
        "handoff_cancelled" => "連携取消",
        "handoff_requeued" => "連携再実行",
        "file_imported" => "連携受信",
        "import_failed" => "連携受信失敗",
        "expected_file_missing" => "未着ファイル警告",
        "schedule_caught_up" => "定時実行の補完",
        "routes_changed" => "連携経路変更",
        "closed_day_skipped" => "閉庁日のため省略",
        "file_checked" => "検査合格",
        "file_quarantined" => "検疫",
        "file_rejected" => "受付拒否",
        "quarantine_released" => "検疫解除",
        "quarantine_deleted" => "検疫ファイル削除",
        "scan_unavailable" => "ウイルス検査不能",
        "scan_available" => "ウイルス検査再開",
        "lane_sent" => "送付受付",
        "lane_approved" => "承認",
        "lane_delivered" => "受渡",
        "lane_rejected" => "却下",
        "lane_withdrawn" => "取下げ",
        "lane_received" => "受取",
        "lane_acknowledged" => "受領",
        "lane_expired" => "期限切れ",
        "checkpoint" => "署名",
        "audit_recovered" => "監査ログ回復",
        "audit_pruned" => "監査ログ整理",
        "audit_records_lost" => "監査記録欠落",
        _ => "",
    }
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
            Event::WebLogin { .. } => "web_login",
            Event::WebLoginFailed { .. } => "web_login_failed",
            Event::WebSessionEnded { .. } => "web_session_ended",
            Event::WebAction { .. } => "web_action",
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
