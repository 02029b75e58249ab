//! How events are classified and named for people: which are refusals
//! and failures (`audit query --result`), and the Japanese term beside
//! each event name (docs/audit.md lists the same).

/// Event names that are refusals (for `audit query --result refused`).
pub const REFUSALS: &[&str] = &[
    "connection_refused",
    "login_failed",
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
];

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
