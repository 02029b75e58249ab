//! The routes, the headers every answer carries, logging in and out, and
//! the checks every page makes (session, listener, CSRF token).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use renkei_core::events::Event;

use super::html::{self, Nav, esc};
use super::session::{self, COOKIE, EndReason, LOGIN_COOKIE, Lookup, Session, Who};
use super::{ConnInfo, Web, audit, files, login, operate, upload};

/// Longest user name, password and code accepted in the login form.
const MAX_LOGIN_FIELD: usize = 1024;

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
        .layer(middleware::from_fn(guard))
        .with_state(web)
}

/// Headers on every answer, and the lockout page for a banned address.
async fn guard(Extension(conn): Extension<ConnInfo>, req: Request, next: Next) -> Response {
    let mut resp = match &conn.banned {
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

/// An error page.
pub fn page_error(status: StatusCode, title: &str, text: &str) -> Response {
    let body = html::page(
        title,
        None,
        &[Nav {
            href: "/".into(),
            label: "トップ / Home".into(),
        }],
        "",
        &format!("<p>{}</p>", esc(text)),
    );
    (status, axum::response::Html(body)).into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The session of a request, checked against the listener it came in
/// on; otherwise the answer to give (the login page).
pub fn session_of(web: &Web, conn: &ConnInfo, headers: &HeaderMap) -> Result<Session, Response> {
    let to_login = || Redirect::to("/login").into_response();
    let Some(id) = cookie(headers, COOKIE) else {
        return Err(to_login());
    };
    match web.sessions.get(&id) {
        Lookup::Live(s) if s.door == conn.door.key() => Ok(s),
        Lookup::Live(_) | Lookup::Unknown => Err(to_login()),
        Lookup::Ended(s, reason) => {
            record_end(web, &s, reason.name());
            Err(to_login())
        }
    }
}

/// Checks the anti-forgery token of a state-changing request.
pub fn csrf_ok(s: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|t| session::same(t, &s.csrf))
}

/// The answer to a missing or wrong token.
pub fn csrf_refused() -> Response {
    page_error(
        StatusCode::FORBIDDEN,
        "操作を受け付けられません / Request refused",
        "ページの有効期限が切れたか、別のページから送られた操作です。ページを開き直してから、もう一度操作してください。 (The form's token is missing or wrong: reload the page and try again.)",
    )
}

pub fn record_end(web: &Web, s: &Session, reason: &'static str) {
    web.events.record(Event::WebSessionEnded {
        tenant: s.who.tenant(),
        segment: s.who.segment(),
        user: s.who.user().to_string(),
        session: s.tag.clone(),
        reason,
    });
}

pub fn record_ended(web: &Web, ended: Vec<(Session, EndReason)>) {
    for (s, r) in ended {
        record_end(web, &s, r.name());
    }
}

/// The navigation a person sees.
pub fn nav(who: &Who, web: &Web) -> Vec<Nav> {
    let n = |href: &str, label: &str| Nav {
        href: href.into(),
        label: label.into(),
    };
    match who {
        Who::Account(p) if p.tenant().is_some() => vec![
            n("/box/inbox", "送信 (inbox)"),
            n("/box/outbox", "受信 (outbox)"),
            n("/box/receipts", "受付票 (receipts)"),
        ],
        Who::Account(p) => {
            // A segment's account sees the views its lanes give it.
            let views = web
                .ns
                .list(p, &renkei_core::namespace::NsPath::Root)
                .unwrap_or_default();
            let mut out = Vec::new();
            for (view, label) in [
                ("send", "送付 (send)"),
                ("receive", "受取 (receive)"),
                ("approve", "承認 (approve)"),
                ("receipts", "受付票 (receipts)"),
            ] {
                if views.iter().any(|e| e.name == view) {
                    out.push(n(&format!("/box/{view}"), label));
                }
            }
            out
        }
        Who::Auditor { .. } => vec![
            n("/audit", "監査ログ (audit trail)"),
            n("/audit/verify", "検証 (verification)"),
        ],
        Who::Operator { .. } => vec![n("/status", "運用状況 (status)")],
    }
}

/// Renders a page for a logged-in person.
pub fn render(web: &Web, s: &Session, title: &str, body: &str) -> Response {
    let role = match &s.who {
        Who::Account(p) => match (p.tenant(), p.segment()) {
            (Some(t), _) => format!("{t}"),
            (_, Some(seg)) => format!("segment {seg}"),
            _ => String::new(),
        },
        Who::Auditor { .. } => "監査 auditor".into(),
        Who::Operator { .. } => "運用 operator".into(),
    };
    axum::response::Html(html::page(
        title,
        Some((s.who.user(), &role)),
        &nav(&s.who, web),
        &s.csrf,
        body,
    ))
    .into_response()
}

async fn home(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match &s.who {
        Who::Account(p) if p.tenant().is_some() => Redirect::to("/box/inbox").into_response(),
        Who::Account(_) => Redirect::to("/box/").into_response(),
        Who::Auditor { .. } => Redirect::to("/audit").into_response(),
        Who::Operator { .. } => Redirect::to("/status").into_response(),
    }
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

fn login_form(token: &str, message: Option<&str>) -> String {
    let msg = message
        .map(|m| html::notice("error", m))
        .unwrap_or_default();
    format!(
        r#"{msg}<form method="post" action="/login" class="login">
<input type="hidden" name="token" value="{token}">
<label>利用者名 / User <input name="user" autocomplete="username" required autofocus></label>
<label>パスワード / Password <input name="password" type="password" autocomplete="current-password"></label>
<label>確認コード (設定されている場合) / One-time code <input name="totp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{{6}}"></label>
<button type="submit">ログイン / Log in</button>
</form>"#,
        token = esc(token)
    )
}

fn login_response(message: Option<&str>, status: StatusCode) -> Response {
    let token = session::random_token();
    let body = html::page(
        "ログイン / Log in",
        None,
        &[],
        "",
        &login_form(&token, message),
    );
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    (
        status,
        [(header::SET_COOKIE, cookie)],
        axum::response::Html(body),
    )
        .into_response()
}

async fn login_page() -> Response {
    login_response(None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
}

/// What the browser is told of any refused login: never which part.
const LOGIN_REFUSED: &str = "ログインできませんでした。利用者名・パスワード・確認コードを確かめてください。続けて失敗すると、このアドレスからの接続が一時的に停止されます。 (Login failed. Repeated failures lock this address for a while.)";

async fn login_submit(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    if !expected.is_some_and(|c| session::same(&c, &form.token)) {
        return login_response(
            Some(
                "ログイン画面の有効期限が切れました。もう一度入力してください。 (The login form expired: try again.)",
            ),
            StatusCode::FORBIDDEN,
        );
    }
    if [&form.user, &form.password, &form.totp]
        .iter()
        .any(|f| f.len() > MAX_LOGIN_FIELD)
    {
        return login_response(Some(LOGIN_REFUSED), StatusCode::UNAUTHORIZED);
    }
    let Ok(_permit) = web.verifying.acquire().await else {
        return login_response(Some(LOGIN_REFUSED), StatusCode::SERVICE_UNAVAILABLE);
    };
    let attempt = login::Attempt {
        user: form.user.trim().to_string(),
        password: form.password,
        totp: form.totp,
        client_cert: conn.client_cert.clone(),
        ip: conn.peer.ip(),
    };
    let snap = web.live.get();
    let door = conn.door.clone();
    let w = Arc::clone(&web);
    let id = conn.id;
    let checked = tokio::task::spawn_blocking(move || {
        let r = login::check(&snap, &door, &attempt, id, &w.totp_seen);
        (attempt, r)
    })
    .await;
    let Ok((attempt, verdict)) = checked else {
        return login_response(Some(LOGIN_REFUSED), StatusCode::INTERNAL_SERVER_ERROR);
    };
    match verdict {
        Err(refused) => {
            web.events.record(Event::WebLoginFailed {
                conn: conn.id,
                peer: conn.peer,
                tenant: refused.tenant,
                segment: refused.segment,
                user: attempt.user,
                reason: refused.reason,
                rule: refused.rule,
            });
            web.defender
                .offence(conn.peer.ip(), renkei_core::defender::Offence::FailedLogin)
                .await;
            login_response(Some(LOGIN_REFUSED), StatusCode::UNAUTHORIZED)
        }
        Ok((who, method)) => {
            let opened = web.sessions.open(who.clone(), &conn.door.key());
            record_ended(&web, opened.ended);
            let Some((id, s)) = opened.session else {
                return page_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "混雑しています / Busy",
                    "同時に利用できる人数の上限に達しています。しばらくしてから、もう一度ログインしてください。 (web.max_sessions reached.)",
                );
            };
            web.events.record(Event::WebLogin {
                conn: conn.id,
                peer: conn.peer,
                tenant: who.tenant(),
                segment: who.segment(),
                user: who.user().to_string(),
                role: who.role(),
                method,
                session: s.tag.clone(),
            });
            let cookie = format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict");
            let clear =
                format!("{LOGIN_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
            let mut resp = Redirect::to("/").into_response();
            let h = resp.headers_mut();
            if let (Ok(a), Ok(b)) = (
                HeaderValue::from_str(&cookie),
                HeaderValue::from_str(&clear),
            ) {
                h.append(header::SET_COOKIE, a);
                h.append(header::SET_COOKIE, b);
            }
            resp
        }
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !csrf_ok(&s, Some(&form.csrf)) {
        return csrf_refused();
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        web.sessions.close(&id);
    }
    record_end(&web, &s, "logout");
    let clear = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
