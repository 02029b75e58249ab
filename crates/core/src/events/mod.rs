//! Security-relevant events: connections, logins, refusals, file operations,
//! operator actions.
//!
//! Every such event is built as an [`Event`] and handed to [`Events`] —
//! never written with an ad-hoc `info!` elsewhere. Each becomes a record of
//! the signed audit trail (`renkei_storage::audit`) and a structured `tracing` line
//! with target `renkei::event`. The record of a change to stored files is
//! committed with the change itself ([`Events::note`], a journal note) and
//! reaches the trail once the change is durable; if the trail cannot be
//! written, [`Events::writable`] turns false and the namespace refuses
//! operations rather than do them unrecorded.
//!
//! Event names are stable; `docs/audit.md` lists them with their fields
//! and Japanese terms ([`japanese`]).

mod about;
pub mod metrics;
mod names;
mod sink;

pub use about::{Actor, CheckedFile, LaneFile};
pub use names::{FAILURES, REFUSALS, japanese};

pub use sink::{Events, JOURNAL_SEQ, NOTIFY_BACKLOG, Tap, with_field};

use std::net::SocketAddr;

use serde::Serialize;

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
        /// Changes recorded late because a crash came between them and
        /// their audit record.
        audit_reconciled: u64,
    },
    ConnectionAccepted {
        conn: u64,
        peer: SocketAddr,
        protocol: crate::policy::Protocol,
    },
    ConnectionRefused {
        peer: SocketAddr,
        protocol: crate::policy::Protocol,
        stage: &'static str,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    LoginSucceeded {
        conn: u64,
        peer: SocketAddr,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        /// The separated network, for a segment's account.
        #[serde(skip_serializing_if = "Option::is_none")]
        segment: Option<String>,
        user: String,
        /// `sftp`, `ftps` or `https`: one vocabulary for every door.
        protocol: crate::policy::Protocol,
        /// The SSH key that logged in (SFTP).
        #[serde(skip_serializing_if = "Option::is_none")]
        key_fingerprint: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_algorithm: Option<String>,
        /// How an FTPS or browser login was proved: `password`,
        /// `password+totp`, `client certificate`, or with both.
        #[serde(skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// A browser login's role: `account`, `auditor` or `operator`.
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<&'static str>,
        /// A browser login's session: the first 16 hex digits of its
        /// SHA-256 (never the session itself), which ties the session's
        /// records together.
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<String>,
    },
    /// An operator's or auditor's action in the browser (what `ctl` would
    /// have recorded as `ctl_command`, with the person instead of a uid).
    WebAction {
        peer: SocketAddr,
        user: String,
        /// `operator` or `auditor`.
        role: &'static str,
        /// `retry`, `unban`, `quarantine_release`, `quarantine_delete`,
        /// `audit_csv`, `audit_bundle`.
        action: &'static str,
        detail: String,
        ok: bool,
    },
    /// The data volume has less free space than `server.disk_low`: uploads
    /// will soon be refused for want of space. Recorded once when it
    /// happens, again only after `disk_space_recovered`.
    DiskSpaceLow {
        path: String,
        free_bytes: u64,
        threshold_bytes: u64,
    },
    /// The data volume has room again (a tenth above the threshold, so a
    /// volume hovering at the line does not flap).
    DiskSpaceRecovered {
        path: String,
        free_bytes: u64,
        threshold_bytes: u64,
    },
    /// A notification reached its channel (`[[notify]]`).
    NotificationSent {
        channel: String,
        /// The event it told of, and that event's record number if any.
        about: String,
        attempts: u32,
    },
    /// A notification could not be delivered after every attempt.
    NotificationFailed {
        channel: String,
        about: String,
        attempts: u32,
        error: String,
    },
    WebSessionEnded {
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        segment: Option<String>,
        user: String,
        session: String,
        /// `logout`, `idle`, `expired`, `replaced` or `shutdown`.
        reason: &'static str,
    },
    LoginFailed {
        conn: u64,
        peer: SocketAddr,
        /// The tenant of the account, when the user is a configured
        /// account: a failed login against it belongs in its audit view.
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<String>,
        /// The segment of the account, when the user is a segment's.
        #[serde(skip_serializing_if = "Option::is_none")]
        segment: Option<String>,
        user: String,
        protocol: crate::policy::Protocol,
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
        segment: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        protocol: crate::policy::Protocol,
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
        /// Durable but held for the arrival checks (`file_checked`,
        /// `file_quarantined` or `file_rejected` follows).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        checking: bool,
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
    /// A file's stored bytes destroyed at the end of its retention.
    Purged {
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        size: u64,
        sha256: String,
        /// Why it could go: acknowledged (or delivered), and when.
        state: String,
        since: String,
    },
    /// Files kept past the retention period because they were never handed on.
    RetentionReport {
        tenant: String,
        files: u64,
        bytes: u64,
        oldest: String,
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
    /// A file reached a route's destination (or was found there already,
    /// byte-identical, after a restart).
    HandoffDelivered {
        route: String,
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        size: u64,
        sha256: String,
        destination: String,
        attempts: u32,
        /// True when the destination already held the same bytes.
        already_there: bool,
    },
    /// A hand-off attempt failed; `gave_up` when no retry follows.
    HandoffFailed {
        route: String,
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        destination: String,
        attempts: u32,
        error: String,
        gave_up: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_attempt: Option<String>,
    },
    /// A queued hand-off was dropped because its file left the box first.
    HandoffCancelled {
        route: String,
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        reason: String,
    },
    /// The operator put failed hand-offs back in the queue.
    HandoffRequeued {
        route: String,
        object: String,
        path: String,
        tenant: String,
    },
    /// A route took a file from a directory into a tenant's box.
    FileImported {
        route: String,
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        path: String,
        object: String,
        size: u64,
        sha256: String,
        source: String,
        /// Bytes an earlier, cut-off pull had kept (continued from there).
        #[serde(skip_serializing_if = "Option::is_none")]
        resumed_from: Option<u64>,
        /// Held for the arrival checks.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        checking: bool,
    },
    /// A route could not take a file from a directory.
    ImportFailed {
        route: String,
        tenant: String,
        source: String,
        name: String,
        error: String,
    },
    /// A file a route expects was not there by its deadline.
    ExpectedFileMissing {
        route: String,
        tenant: String,
        #[serde(rename = "box")]
        box_name: String,
        pattern: String,
        /// The window searched: after `since`, up to `deadline` (RFC 3339,
        /// Asia/Tokyo).
        since: String,
        deadline: String,
        /// The deadline passed while the daemon was down; checked at start.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        late: bool,
    },
    /// A scheduled run or an expected-file deadline of a route fell on a
    /// closed day of `[calendar]` and was skipped (`on_closed_days`).
    ClosedDaySkipped {
        route: String,
        /// `schedule` or `expect`.
        what: &'static str,
        /// The firing or deadline skipped (RFC 3339, Asia/Tokyo).
        at: String,
    },
    /// A reload changed the routes; their workers were replaced.
    RoutesChanged {
        started: Vec<String>,
        changed: Vec<String>,
        stopped: Vec<String>,
    },
    /// A scheduled run of a route was due while the daemon was down; it
    /// runs now, once.
    ScheduleCaughtUp {
        route: String,
        /// The firing that was missed (the latest, if several).
        missed: String,
        /// When the route last fired before.
        last_fired: String,
    },
    /// A file passed its arrival checks and became visible.
    FileChecked {
        #[serde(flatten)]
        file: CheckedFile,
        /// Which checks ran (`virus`, `type`, `rule:<name>`).
        checks: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        scanner: Option<String>,
    },
    /// A file was held by the virus scan (or could not be scanned).
    FileQuarantined {
        #[serde(flatten)]
        file: CheckedFile,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        scanner: Option<String>,
    },
    /// A file was refused by a file-type or 連携 format rule.
    FileRejected {
        #[serde(flatten)]
        file: CheckedFile,
        reason: String,
        checks: Vec<String>,
    },
    /// The operator let a held file in.
    QuarantineReleased {
        #[serde(flatten)]
        file: CheckedFile,
        by: String,
        reason: String,
        /// What the file was held as (`quarantined` or `rejected`).
        was: String,
    },
    /// The operator destroyed a held file's bytes.
    QuarantineDeleted {
        #[serde(flatten)]
        file: CheckedFile,
        by: String,
        reason: String,
        was: String,
    },
    /// The scanner stopped answering: files wait in `checking`.
    ScanUnavailable {
        scanner: String,
        error: String,
        waiting: usize,
    },
    /// The scanner answers again; waiting files proceed.
    ScanAvailable {
        scanner: String,
        version: String,
        /// How long it was unavailable, in seconds.
        outage_s: u64,
    },
    /// A file sent on a lane: durable; `state` says what it waits for
    /// (`checking`, `awaiting_approval`) or `stored` (delivered at once).
    LaneSent {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
        state: String,
        resumed: bool,
    },
    /// An approver approved a file; more approvals are still needed.
    LaneApproved {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
        approvals: usize,
        needed: usize,
    },
    /// A file became visible to the lane's receivers.
    LaneDelivered {
        /// The approver whose approval delivered it (who, from where,
        /// over which door); absent when no approval was needed.
        #[serde(flatten)]
        by: Option<Actor>,
        #[serde(flatten)]
        file: LaneFile,
        /// The approvers, in order (empty: the lane needs no approval).
        approved_by: Vec<String>,
    },
    /// An approver refused a file, with the reason.
    LaneRejected {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
        reason: String,
    },
    /// Its sender took a file back before it was delivered.
    LaneWithdrawn {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
    },
    /// A receiver (or an approver inspecting it) read a file.
    LaneReceived {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
        bytes_served: u64,
    },
    /// A receiver took a delivered file off the lane: received (受領).
    LaneAcknowledged {
        #[serde(flatten)]
        actor: Actor,
        #[serde(flatten)]
        file: LaneFile,
    },
    /// A delivered file nobody received within the lane's `expire_after`.
    LaneExpired {
        #[serde(flatten)]
        file: LaneFile,
        delivered_at: String,
    },
    CtlCommand {
        uid: u32,
        command: String,
        detail: String,
        ok: bool,
    },
}
