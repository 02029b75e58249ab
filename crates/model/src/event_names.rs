//! Every audit event's stable name and the Japanese term shown beside it
//! (docs/audit.md lists the same). The list lives here, below the
//! configuration, so that `[[notify]] events` can be checked against it
//! when the configuration is read, and a misspelt name refuses to start
//! instead of never notifying.

/// `(name, 日本語)` for every event the daemon records.
pub const EVENTS: &[(&str, &str)] = &[
    ("daemon_started", "起動"),
    ("daemon_stopped", "停止"),
    ("config_loaded", "設定読込"),
    ("reload_failed", "設定読込失敗"),
    ("recovery_completed", "起動時回復"),
    ("connection_accepted", "接続受付"),
    ("connection_refused", "接続拒否"),
    ("login_succeeded", "ログイン成功"),
    ("login_failed", "ログイン失敗"),
    ("web_login", "Webログイン"),
    ("web_login_failed", "Webログイン失敗"),
    ("web_session_ended", "Webログアウト"),
    ("web_action", "Web運用操作"),
    ("notification_sent", "通知送信"),
    ("notification_failed", "通知失敗"),
    ("channel_refused", "要求拒否"),
    ("session_ended", "セッション終了"),
    ("protocol_violation", "プロトコル違反"),
    ("upload_committed", "受信完了"),
    ("upload_interrupted", "受信中断"),
    ("partial_expired", "中断分破棄"),
    ("downloaded", "送信"),
    ("deleted", "削除"),
    ("renamed", "名前変更"),
    ("dir_created", "フォルダ作成"),
    ("dir_removed", "フォルダ削除"),
    ("times_changed", "日時変更"),
    ("operation_refused", "操作拒否"),
    ("purged", "保存期間満了消去"),
    ("retention_report", "未連携ファイル報告"),
    ("banned", "遮断"),
    ("unbanned", "遮断解除"),
    ("ctl_command", "運用操作"),
    ("handoff_delivered", "連携完了"),
    ("handoff_failed", "連携失敗"),
    ("handoff_cancelled", "連携取消"),
    ("handoff_requeued", "連携再実行"),
    ("file_imported", "連携受信"),
    ("import_failed", "連携受信失敗"),
    ("expected_file_missing", "未着ファイル警告"),
    ("schedule_caught_up", "定時実行の補完"),
    ("routes_changed", "連携経路変更"),
    ("closed_day_skipped", "閉庁日のため省略"),
    ("file_checked", "検査合格"),
    ("file_quarantined", "検疫"),
    ("file_rejected", "受付拒否"),
    ("quarantine_released", "検疫解除"),
    ("quarantine_deleted", "検疫ファイル削除"),
    ("scan_unavailable", "ウイルス検査不能"),
    ("scan_available", "ウイルス検査再開"),
    ("lane_sent", "送付受付"),
    ("lane_approved", "承認"),
    ("lane_delivered", "受渡"),
    ("lane_rejected", "却下"),
    ("lane_withdrawn", "取下げ"),
    ("lane_received", "受取"),
    ("lane_acknowledged", "受領"),
    ("lane_expired", "期限切れ"),
    ("checkpoint", "署名"),
    ("audit_recovered", "監査ログ回復"),
    ("audit_pruned", "監査ログ整理"),
    ("audit_records_lost", "監査記録欠落"),
    ("disk_space_low", "空き容量不足"),
    ("disk_space_recovered", "空き容量回復"),
];

/// Whether `name` is an event the daemon records.
pub fn is_event(name: &str) -> bool {
    EVENTS.iter().any(|(n, _)| *n == name)
}

/// The Japanese term for an event name ("" for an unknown name).
pub fn japanese(name: &str) -> &'static str {
    EVENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, j)| j)
}

#[cfg(test)]
mod tests {
    use super::EVENTS;

    /// docs/audit.md is the auditor's list: every event, with the same
    /// Japanese term, in its table.
    #[test]
    fn every_event_is_documented_with_its_term() {
        let doc = include_str!("../../../docs/audit.md");
        for (name, ja) in EVENTS {
            let row = format!("| `{name}` | {ja} |");
            assert!(doc.contains(&row), "docs/audit.md lacks {row}");
        }
    }
}
