//! The routes of the HTTPS front door, and what every answer carries:
//! the security headers, and for a banned address the lockout page.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::body::Timed;
use super::html::{self, esc};
use super::pages::page_error;
use super::signin::{home, login_page, login_submit, logout};
use super::{ConnInfo, Web, audit, files, operate, upload};

/// Builds the router shared by every web listener.
pub fn router(web: Arc<Web>) -> Router {
    let form_limit = web
        .live
        .get()
        .config
        .web
        .as_ref()
        .map(|w| w.limits.max_form_size as usize)
        .unwrap_or(64 * 1024);
    let uploads = Router::new()
        .route("/upload/{*dir}", post(upload::upload))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/static/style.css", get(style))
        .route("/static/app.js", get(script))
        .route("/box", get(files::browse_root))
        .route("/box/", get(files::browse_root))
        .route("/box/{*path}", get(files::browse))
        .route("/delete/{*path}", post(files::delete))
        .route("/status", get(operate::status))
        .route("/operate/{action}", post(operate::act))
        .route("/audit", get(audit::search))
        .route("/audit/record/{seq}", get(audit::record))
        .route("/audit/export.csv", get(audit::csv))
        .route("/audit/verify", get(audit::verification))
        .route("/audit/bundle", get(audit::bundle))
        .route("/decide/{lane}/{name}", post(files::decide))
        .layer(DefaultBodyLimit::max(form_limit))
        .merge(uploads)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&web), guard))
        .with_state(web)
}

/// Headers on every answer, and the lockout page for a banned address:
/// the ban is looked up for every request, so one made while a
/// connection is open (by its own failed logins) reaches it at once.
async fn guard(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    req: Request,
    next: Next,
) -> Response {
    let banned = web.gate.ban_of(conn.peer.ip()).map(|b| {
        renkei_model::time::tokyo(b.until)
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    });
    let req = timed_body(&web, req);
    let mut resp = match &banned {
        Some(until) => locked_out(until),
        None => next.run(req).await,
    };
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

/// Puts a deadline on every read of the request's body: an upload's
/// every chunk within `limits.idle_timeout`, any other body (a form)
/// whole within `web.header_timeout`.
fn timed_body(web: &Web, req: Request) -> Request {
    let idle = web.ns.limits().idle_timeout;
    let whole = web
        .live
        .get()
        .config
        .web
        .as_ref()
        .map_or(Duration::from_secs(20), |w| w.limits.header_timeout);
    let upload = req.uri().path().starts_with("/upload/");
    req.map(|b| Body::new(Timed::new(b, idle, (!upload).then_some(whole))))
}

fn locked_out(until: &str) -> Response {
    let body = html::page(
        "一時的に利用できません / Temporarily locked",
        None,
        &[],
        "",
        &format!(
            "<p>このアドレスからの接続は、ログインの失敗が続いたため {} まで停止されています。時間をおいてから、もう一度お試しください。</p><p>Connections from this address are locked until {} after repeated failed logins.</p>",
            esc(until),
            esc(until)
        ),
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONNECTION, "close")],
        axum::response::Html(body),
    )
        .into_response()
}

async fn not_found() -> Response {
    page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "")
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/style.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("assets/app.js"),
    )
        .into_response()
}
