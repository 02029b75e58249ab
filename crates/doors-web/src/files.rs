//! Files in the browser: listing, downloading, deleting (acknowledging)
//! and deciding on lane files (uploads are `upload`) — each one call of the
//! namespace or of `transfer` with the session's principal, exactly as
//! the SFTP door makes it.
//!
//! The URL's path is parsed by the namespace's own parser, relative to the
//! caller's namespace: `..`, encoded slashes and the like are refused
//! there, and nothing a URL holds can name another tenant's file.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use renkei_core::memory::{Direction, Held, TRANSFER_MEMORY};
use renkei_core::namespace::lanes::LaneFacts;
use renkei_core::namespace::{EntryInfo, EntryKind, NsError, NsPath, PathError, Principal};
use renkei_core::transfer::Download;

use super::html::{self, esc, url_path};
use super::pages::{csrf_ok, csrf_refused, page_error, render, session_of};
use super::session::{Session, Who};
use super::{ConnInfo, Web};

/// Bytes read from the vault per download chunk.
/// Chunks in flight between the vault reader and the connection, and
/// between the connection and the upload writer, per transfer: the
/// kit's, as for every door, so that `TRANSFER_MEMORY` is what a
/// transfer holds.
pub(super) use renkei_core::memory::{
    TRANSFER_CHUNK as DOWNLOAD_CHUNK, TRANSFER_CHUNKS_IN_FLIGHT as CHUNKS_IN_FLIGHT,
};

/// Charges one transfer's working set to the account's and the daemon's
/// memory (`limits.max_account_memory`, `limits.max_client_memory`), as
/// an SFTP or FTPS transfer is charged; the refusal names the limit.
pub(super) fn hold_transfer(
    web: &Web,
    who: &Principal,
    direction: Direction,
) -> Result<Held, String> {
    let mem = web.ns.memory().session(&who.user);
    mem.hold_transfer(direction, TRANSFER_MEMORY).map_err(|e| {
        format!("この利用者の転送が多すぎます。他の転送が終わってから送ってください。 / {e}")
    })
}

pub(super) fn principal(s: &Session) -> Option<&Principal> {
    match &s.who {
        Who::Account(p) => Some(p),
        _ => None,
    }
}

/// The HTTP status of a refusal or failure from the namespace.
pub(super) fn status_of(e: &NsError) -> StatusCode {
    match e {
        NsError::NotFound { .. } | NsError::BadPath(PathError::NoSuchBox { .. }) => {
            StatusCode::NOT_FOUND
        }
        NsError::Denied { .. } => StatusCode::FORBIDDEN,
        NsError::Exists { .. } | NsError::Conflict { .. } | NsError::NotEmpty { .. } => {
            StatusCode::CONFLICT
        }
        NsError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The page for a refusal or failure from the namespace.
fn ns_error(e: &NsError) -> Response {
    let status = status_of(e);
    let title = match status {
        StatusCode::NOT_FOUND => "見つかりません / Not found",
        StatusCode::FORBIDDEN => "許可されていません / Not allowed",
        StatusCode::CONFLICT => "実行できません / Conflict",
        StatusCode::BAD_REQUEST => "受け付けられません / Refused",
        _ => "処理できませんでした / Failed",
    };
    page_error(status, title, &e.to_string())
}

/// Runs a blocking namespace step within `limits.fs_timeout`.
pub(super) async fn blocking<T: Send + 'static>(
    web: &Web,
    f: impl FnOnce() -> Result<T, NsError> + Send + 'static,
) -> Result<T, NsError> {
    let limit = web.ns.limits().fs_timeout;
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(NsError::Invalid("internal error".into())),
        Err(_) => Err(NsError::Invalid(format!(
            "the storage did not answer within limits.fs_timeout ({}s)",
            limit.as_secs()
        ))),
    }
}

pub(super) fn parse(web: &Web, raw: &str) -> Result<NsPath, Response> {
    web.ns.parse(format!("/{raw}").as_bytes()).map_err(|e| {
        page_error(
            StatusCode::BAD_REQUEST,
            "受け付けられません / Refused",
            &e.to_string(),
        )
    })
}

pub async fn browse_root(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    browse(State(web), Extension(conn), headers, Path(String::new())).await
}

pub async fn browse(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(who) = principal(&s).cloned() else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let path = match parse(&web, raw.trim_end_matches('/')) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (ns, w, p) = (Arc::clone(&web.ns), who.clone(), path.clone());
    let info = match blocking(&web, move || ns.stat(&w, &p)).await {
        Ok(i) => i,
        Err(e) => return ns_error(&e),
    };
    if info.kind == EntryKind::File {
        return download(&web, who, path).await;
    }
    let (ns, w, p) = (Arc::clone(&web.ns), who.clone(), path.clone());
    let listed = blocking(&web, move || {
        let entries = ns.list(&w, &p)?;
        // An approver sees who sent each file and what it passed.
        let mut facts = HashMap::new();
        if let NsPath::Lanes {
            view,
            lane: Some(lane),
        } = &p
            && view.name() == "approve"
        {
            for e in entries.iter().filter(|e| e.kind == EntryKind::File) {
                let at = NsPath::LaneFile {
                    view: *view,
                    lane: lane.clone(),
                    name: e.name.clone(),
                };
                if let Ok(f) = ns.lane_facts(&w, &at) {
                    facts.insert(e.name.clone(), f);
                }
            }
        }
        Ok((entries, facts))
    })
    .await;
    match listed {
        Ok((entries, facts)) => listing(&web, &s, &path, entries, &facts),
        Err(e) => ns_error(&e),
    }
}

/// The facts an approver decides on, under a file's name.
fn facts_line(f: &LaneFacts) -> String {
    let checks = if f.checks.is_empty() {
        "検査なし / no checks configured".to_string()
    } else {
        format!("検査合格 / passed: {}", f.checks.join(", "))
    };
    let scanner = f
        .scanner
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let approvals = if f.approvals.is_empty() {
        String::new()
    } else {
        format!(" — 承認済 / approved by {}", f.approvals.join(", "))
    };
    format!(
        "<br><small>送付者 / sender {} — {} — {checks}{scanner}{approvals}</small>",
        esc(&f.sender),
        esc(&html::time(f.sent_at.as_second())),
        checks = esc(&checks),
        scanner = esc(&scanner),
        approvals = esc(&approvals),
    )
}

/// What can be done with files in a directory, by where it is.
struct Actions {
    upload: bool,
    delete: Option<&'static str>,
    decide: Option<String>,
}

fn actions(path: &NsPath) -> Actions {
    let none = Actions {
        upload: false,
        delete: None,
        decide: None,
    };
    match path {
        NsPath::Box(b) | NsPath::Entry { bx: b, .. } => match b.to_string().as_str() {
            "inbox" => Actions {
                upload: true,
                delete: Some("削除 / Delete"),
                ..none
            },
            _ => Actions {
                delete: Some("受領 / Acknowledge"),
                ..none
            },
        },
        NsPath::Lanes {
            view,
            lane: Some(lane),
        } => match view.name() {
            "send" => Actions {
                upload: true,
                delete: Some("取下げ / Withdraw"),
                ..none
            },
            "receive" => Actions {
                delete: Some("受領 / Acknowledge"),
                ..none
            },
            _ => Actions {
                decide: Some(lane.clone()),
                ..none
            },
        },
        _ => none,
    }
}

fn state_label(state: &str) -> &str {
    match state {
        "dir" => "フォルダ",
        "stored" => "受付済",
        "checking" => "検査中",
        "acknowledged" => "受領済",
        "partial" => "中断",
        "uploading" => "受信中",
        other => other,
    }
}

fn listing(
    web: &Web,
    s: &Session,
    path: &NsPath,
    mut entries: Vec<EntryInfo>,
    facts: &HashMap<String, LaneFacts>,
) -> Response {
    let here = path.to_string();
    let here = here.trim_end_matches('/');
    let acts = actions(path);
    if acts.decide.is_some() {
        // `approved/` and `rejected/` are where an SFTP client renames a
        // file to decide; the page has buttons instead.
        entries.retain(|e| e.kind == EntryKind::File);
    }
    let mut rows = String::new();
    for e in &entries {
        let target = format!("{here}/{}", e.name);
        let link = format!("/box{}", url_path(&target));
        let mut buttons = String::new();
        if e.kind == EntryKind::File {
            buttons.push_str(&format!(
                r#"<a class="button" href="{}" download>ダウンロード / Download</a>"#,
                esc(&link)
            ));
            if let Some(label) = acts.delete {
                buttons.push_str(&format!(
                    r#"<form method="post" action="/delete{}"><input type="hidden" name="csrf" value="{}"><button type="submit">{}</button></form>"#,
                    esc(&url_path(&target)),
                    esc(&s.csrf),
                    esc(label)
                ));
            }
            if let Some(lane) = &acts.decide {
                buttons.push_str(&format!(
                    r#"<form method="post" action="/decide/{lane}/{name}"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="decision" value="approve"><button type="submit">承認 / Approve</button></form><form method="post" action="/decide/{lane}/{name}" class="reject"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="decision" value="reject"><label>却下理由 / Reason <input name="reason" required maxlength="200"></label><button type="submit">却下 / Reject</button></form>"#,
                    lane = esc(&url_path(lane)),
                    name = esc(&url_path(&e.name)),
                    csrf = esc(&s.csrf),
                ));
            }
        }
        let name = if e.kind == EntryKind::Dir {
            format!(r#"<a href="{}/">{}/</a>"#, esc(&link), esc(&e.name))
        } else {
            format!(
                "{}{}",
                esc(&e.name),
                facts.get(&e.name).map(facts_line).unwrap_or_default()
            )
        };
        rows.push_str(&format!(
            "<tr><td>{name}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"sha\">{}</td><td class=\"actions\">{buttons}</td></tr>\n",
            if e.kind == EntryKind::File { html::size(e.size) } else { String::new() },
            html::time(e.mtime),
            esc(state_label(e.state)),
            esc(e.sha256.as_deref().map(|h| &h[..h.len().min(16)]).unwrap_or("")),
        ));
    }
    if entries.is_empty() {
        rows.push_str(r#"<tr><td colspan="6">ファイルはありません / No files</td></tr>"#);
    }
    let max = web
        .live
        .get()
        .config
        .web
        .as_ref()
        .map(|w| w.limits.max_upload_size)
        .unwrap_or(u64::MAX);
    let upload = if acts.upload {
        format!(
            r#"<form method="post" action="/upload{dir}" enctype="multipart/form-data" class="upload" data-max="{max}">
<input type="hidden" name="csrf" value="{csrf}">
<label>送信するファイル / File to send <input type="file" name="file" required multiple></label>
<button type="submit">送信 / Upload</button>
<progress max="100" value="0" hidden></progress><span class="progress-text" role="status"></span>
</form>"#,
            dir = esc(&url_path(here)),
            csrf = esc(&s.csrf),
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"{upload}<table class="files"><thead><tr><th>名前 / Name</th><th>サイズ / Size</th><th>日時 / Time</th><th>状態 / State</th><th>SHA-256</th><th></th></tr></thead><tbody>
{rows}</tbody></table>"#
    );
    render(web, s, &format!("{} {here}", title_of(path)), &body)
}

fn title_of(path: &NsPath) -> &'static str {
    match path {
        NsPath::Box(b) | NsPath::Entry { bx: b, .. } if b.to_string() == "inbox" => "送信",
        NsPath::Box(_) | NsPath::Entry { .. } => "受信",
        NsPath::Receipts | NsPath::Receipt(_) => "受付票",
        NsPath::Lanes { view, .. } => match view.name() {
            "send" => "送付",
            "receive" => "受取",
            _ => "承認",
        },
        _ => "ファイル",
    }
}

/// Streams a file out of the vault, decrypting as it goes.
async fn download(web: &Web, who: Principal, path: NsPath) -> Response {
    let held = match hold_transfer(web, &who, Direction::Down) {
        Ok(h) => h,
        Err(msg) => {
            web.ns.refuse(
                &who,
                "read",
                &path.to_string(),
                NsError::Invalid(msg.clone()),
            );
            return page_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "混雑しています / Busy",
                &msg,
            );
        }
    };
    let mem = web.ns.memory().session(&who.user);
    let (ns, w, p) = (Arc::clone(&web.ns), who, path.clone());
    let mut d = match blocking(web, move || Download::open(&ns, &w, &p)).await {
        Ok(d) => d,
        Err(e) => return ns_error(&e),
    };
    if let Err(e) = d.charge_to(&mem) {
        return ns_error(&e);
    }
    let size = d.size();
    let name = match &path {
        NsPath::Entry { name, .. } | NsPath::LaneFile { name, .. } | NsPath::Receipt(name) => {
            name.clone()
        }
        _ => "download".into(),
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        // Charged until the last chunk is handed on or the client leaves.
        let _held = held;
        let mut d = d;
        let mut offset = 0u64;
        let mut buf = vec![0u8; DOWNLOAD_CHUNK];
        loop {
            match d.read_at(offset, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    offset += n as u64;
                    if tx
                        .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    break;
                }
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        url_path(&name).replace('/', "%2F")
    );
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// Deletes a file: in an outbox or a lane's receive view this is the
/// acknowledgement of receipt; in a lane's send view, withdrawal.
pub async fn delete(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&s, Some(&form.csrf)) {
        return csrf_refused();
    }
    let Some(who) = principal(&s) else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let path = match parse(&web, &raw) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match web.ns.remove(who, &path).await {
        Ok(()) => {
            Redirect::to(&format!("/box{}/", url_path(&path.parent().to_string()))).into_response()
        }
        Err(e) => ns_error(&e),
    }
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Approves or rejects a file waiting on a lane: the same rename an
/// approver makes over SFTP.
pub async fn decide(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Path((lane, name)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&s, Some(&form.csrf)) {
        return csrf_refused();
    }
    let Some(who) = principal(&s) else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let target = match form.decision.as_str() {
        "approve" => format!("approve/{lane}/approved/{name}"),
        "reject" => {
            // A reason is one path component: a slash in it would make a
            // directory (and look-alike slashes are refused as names).
            // Without one, the core refuses (and records) the rejection.
            let reason = form.reason.trim().replace(['/', '\\'], "・");
            if reason.is_empty() {
                format!("approve/{lane}/rejected")
            } else {
                format!("approve/{lane}/rejected/{reason}")
            }
        }
        _ => {
            return page_error(
                StatusCode::BAD_REQUEST,
                "受け付けられません / Refused",
                "decision must be approve or reject",
            );
        }
    };
    let (from, to) = match (
        parse(&web, &format!("approve/{lane}/{name}")),
        parse(&web, &target),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match web.ns.rename(who, &from, &to, false).await {
        Ok(()) => Redirect::to(&format!("/box/approve/{}/", url_path(&lane))).into_response(),
        Err(e) => ns_error(&e),
    }
}
