//! Browser uploads: each `file` part of a multipart form streams into
//! `transfer::Upload` on a blocking thread, encrypted before its first
//! write, with at most a few chunks in flight. A browser cannot resume,
//! so a part cut short, too large or refused leaves nothing behind.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use tokio::sync::OwnedSemaphorePermit;

use renkei_config::web::WebLimits;
use renkei_core::memory::{Direction, Held};
use renkei_core::namespace::{NsError, NsPath, Principal};
use renkei_core::transfer::{OnCut, OpenMode, Received, Receiving, Stop, Upload};

use super::files::{blocking, hold_transfer, parse, principal, status_of};
use super::form::{Form, FormError};
use super::html::{self, url_path};
use super::pages::{csrf_ok, csrf_refused, page_error, session_of};
use super::{ConnInfo, Web};

/// The answer to an upload, for the page (no script) or the script
/// (`Accept: application/json`).
fn upload_answer(json: bool, status: StatusCode, message: &str, back: &str) -> Response {
    if json {
        let body = serde_json::json!({ "ok": status.is_success(), "message": message });
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    if status.is_success() {
        return Redirect::to(back).into_response();
    }
    page_error(status, "送信できませんでした / Upload refused", message)
}

/// One upload of a multipart form: each `file` part streams into the
/// vault through `transfer::Upload`, encrypted before its first write; a
/// part cut short or over a limit leaves nothing behind.
pub async fn upload(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Body,
) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(who) = principal(&s).cloned() else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let dir = match parse(&web, raw.trim_end_matches('/')) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let back = format!("/box{}/", url_path(&dir.to_string()));
    let header_token = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let mut token_ok = csrf_ok(&s, header_token);
    let limits = match web.live.get().config.web.as_ref() {
        Some(w) => w.limits.clone(),
        None => return page_error(StatusCode::NOT_FOUND, "", ""),
    };
    let (_permit, _held) = match admit(&web, &who, &dir, &headers, &limits) {
        Ok(held) => held,
        Err((status, msg)) => return upload_answer(json, status, &msg, &back),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut form = match Form::open(
        content_type,
        body,
        limits.max_form_size,
        limits.max_upload_size,
    ) {
        Ok(f) => f,
        Err(e) => return upload_answer(json, StatusCode::BAD_REQUEST, &e.to_string(), &back),
    };
    // A form refused for a limit is recorded as every refusal is; one
    // that is merely unreadable is the client's broken request.
    let form_refused = |e: FormError| {
        let status = status_of_form(&e);
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let shown = dir.to_string();
            web.ns
                .refuse(&who, "upload", &shown, NsError::Invalid(e.to_string()));
        }
        upload_answer(json, status, &e.to_string(), &back)
    };
    let mut sent = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return form_refused(e),
        };
        match field.name() {
            Some("csrf") => {
                let text = match form.text(field, MAX_TOKEN).await {
                    Ok(t) => t,
                    Err(FormError::FieldTooLong { .. }) => return csrf_refused(),
                    Err(e) => return form_refused(e),
                };
                token_ok = token_ok || csrf_ok(&s, Some(&text));
            }
            Some("file") => {
                if !token_ok {
                    return csrf_refused();
                }
                let Some(name) = field.file_name().map(base_name) else {
                    return upload_answer(
                        json,
                        StatusCode::BAD_REQUEST,
                        "the file part has no file name",
                        &back,
                    );
                };
                if name.is_empty() {
                    continue;
                }
                let target = match parse(
                    &web,
                    &format!("{}/{name}", dir.to_string().trim_start_matches('/')),
                ) {
                    Ok(p) => p,
                    Err(r) => return r,
                };
                match stream_one(&web, &who, &target, &form, field, &limits).await {
                    Ok(stored) => sent.push(stored),
                    Err((status, msg)) => return upload_answer(json, status, &msg, &back),
                }
            }
            _ => {
                if let Err(e) = form.skip(field).await {
                    return form_refused(e);
                }
            }
        }
    }
    if !token_ok {
        return csrf_refused();
    }
    if sent.is_empty() {
        return upload_answer(
            json,
            StatusCode::BAD_REQUEST,
            "ファイルが選ばれていません / No file was chosen",
            &back,
        );
    }
    upload_answer(
        json,
        StatusCode::OK,
        &format!("送信しました: {}", sent.join(", ")),
        &back,
    )
}

/// What an upload must have before its body is read: a declared size
/// within the limits, one of the `web.max_uploads` slots, and room in the
/// account's memory for its working set. A refusal is recorded as every
/// refusal is.
fn admit(
    web: &Web,
    who: &Principal,
    dir: &NsPath,
    headers: &HeaderMap,
    limits: &WebLimits,
) -> Result<(OwnedSemaphorePermit, Held), (StatusCode, String)> {
    let refused = |status: StatusCode, msg: String| {
        web.ns.refuse(
            who,
            "upload",
            &dir.to_string(),
            NsError::Invalid(msg.clone()),
        );
        (status, msg)
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limits.max_upload_size.saturating_add(limits.max_form_size)
    {
        let msg = format!(
            "ファイルが大きすぎます (web.max_upload_size {})",
            html::size(limits.max_upload_size)
        );
        return Err(refused(StatusCode::PAYLOAD_TOO_LARGE, msg));
    }
    let Ok(permit) = Arc::clone(&web.uploads).try_acquire_owned() else {
        let msg = "同時に送信できる数の上限に達しています。しばらくしてから送ってください。 (web.max_uploads)";
        return Err(refused(StatusCode::SERVICE_UNAVAILABLE, msg.into()));
    };
    let held = hold_transfer(web, who, Direction::Up)
        .map_err(|msg| refused(StatusCode::SERVICE_UNAVAILABLE, msg))?;
    Ok((permit, held))
}

/// The longest anti-forgery token a form may carry (the real one is 64
/// hex digits).
const MAX_TOKEN: usize = 128;

/// The status a form that could not be read is answered with.
fn status_of_form(e: &FormError) -> StatusCode {
    match e {
        FormError::TooMuchForm(_) | FormError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        FormError::FieldTooLong { .. } | FormError::NotMultipart(_) | FormError::Read(_) => {
            StatusCode::BAD_REQUEST
        }
    }
}

/// The last component of a name as a browser sends it (old browsers send
/// the whole local path).
fn base_name(n: &str) -> String {
    n.rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Streams one part into an upload through the kit's
/// `transfer::Receiving`; only the part's end commits, so a part cut short
/// is discarded (a browser cannot resume).
async fn stream_one(
    web: &Web,
    who: &Principal,
    target: &NsPath,
    form: &Form,
    mut field: multer::Field<'static>,
    limits: &WebLimits,
) -> Result<String, (StatusCode, String)> {
    let (ns, w, p) = (Arc::clone(&web.ns), who.clone(), target.clone());
    let mut up = blocking(web, move || Upload::begin(&ns, &w, &p, OpenMode::Truncate))
        .await
        .map_err(|e| (status_of(&e), e.to_string()))?;
    up.charge_to(&web.ns.memory().session(&who.user));
    let fs_timeout = web.ns.limits().fs_timeout;
    let mut rec = Receiving::start(up, limits.max_upload_size, OnCut::Discard, fs_timeout);
    let idle = web.ns.limits().idle_timeout;
    let too_large = format!(
        "ファイルが大きすぎます: web.max_upload_size は {} です。何も保存していません。",
        html::size(limits.max_upload_size)
    );
    let stopped = loop {
        let (status, why) = match tokio::time::timeout(idle, form.chunk(&mut field)).await {
            Err(_) => (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "nothing arrived for {}s (limits.idle_timeout); nothing was kept",
                    idle.as_secs()
                ),
            ),
            Ok(Err(e)) => (
                StatusCode::BAD_REQUEST,
                format!("the upload could not be read: {e}; nothing was kept"),
            ),
            Ok(Ok(None)) => break None,
            Ok(Ok(Some(b))) => match rec.data(b).await {
                Ok(()) => continue,
                Err(Stop::TooLarge) => (StatusCode::PAYLOAD_TOO_LARGE, too_large.clone()),
                Err(Stop::Storage) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the storage did not keep up (limits.fs_timeout); nothing was kept".into(),
                ),
            },
        };
        break Some((status, why));
    };
    let received = match &stopped {
        None => rec.end().await,
        Some((StatusCode::PAYLOAD_TOO_LARGE, why)) => rec.refuse(why).await,
        Some((_, why)) => rec.cut(why).await,
    };
    match (received, stopped) {
        (Received::Committed(o), _) => Ok(format!("{} ({})", o.path, html::size(o.size))),
        (_, Some((status, why))) => Err((status, why)),
        (Received::Refused(e), None) => Err((status_of(&e), e.to_string())),
        (Received::Kept { .. } | Received::Discarded, None) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the upload was not committed; nothing was kept".into(),
        )),
    }
}

/// What the fuzz target calls: the upload form read as the handler reads
/// it (the CSRF field as text within `MAX_TOKEN`, each file part's name
/// made a base name and resolved, its data chunk by chunk, other fields
/// skipped), without storing anything.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use axum::body::{Body, Bytes};
    use renkei_core::namespace::NsPath;

    use super::{Form, MAX_TOKEN, base_name};

    /// The file bytes the form carried, or why it was refused.
    pub fn read_upload_form(
        content_type: &str,
        chunks: Vec<Vec<u8>>,
        max_form: u64,
        max_upload: u64,
    ) -> Result<u64, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
        );
        let body = Body::from_stream(stream);
        runtime.block_on(async move {
            let mut form = Form::open(Some(content_type), body, max_form, max_upload)
                .map_err(|e| e.to_string())?;
            let mut data = 0u64;
            while let Some(mut field) = form.next_field().await.map_err(|e| e.to_string())? {
                match field.name() {
                    Some("csrf") => {
                        form.text(field, MAX_TOKEN)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Some("file") => {
                        let name = field.file_name().map(base_name).unwrap_or_default();
                        let _ = NsPath::parse(format!("inbox/{name}").as_bytes(), 16);
                        while let Some(b) =
                            form.chunk(&mut field).await.map_err(|e| e.to_string())?
                        {
                            data += b.len() as u64;
                        }
                    }
                    _ => form.skip(field).await.map_err(|e| e.to_string())?,
                }
            }
            Ok(data)
        })
    }
}
