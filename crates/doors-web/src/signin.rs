//! Logging in and out: the login form (with its own anti-forgery cookie),
//! the session cookie, and where each role lands.

use std::sync::Arc;

use axum::extract::{Extension, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use renkei_core::events::Event;
use renkei_core::policy::Protocol;

use super::html::{self, esc};
use super::pages::{
    cookie, csrf_ok, csrf_refused, page_error, record_end, record_ended, session_of,
};
use super::session::{self, COOKIE, LOGIN_COOKIE, Who};
use super::{ConnInfo, Web, login};

/// Longest user name, password and code accepted in the login form.
const MAX_LOGIN_FIELD: usize = 1024;

pub(super) async fn home(
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

pub(super) async fn login_page() -> Response {
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

pub(super) async fn login_submit(
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
        let spend =
            |user: &str, step: u64| w.ns.spend_totp_step(user, step).map_err(|e| e.to_string());
        let r = login::check(&snap, &door, &attempt, id, &spend);
        (attempt, r)
    })
    .await;
    let Ok((attempt, verdict)) = checked else {
        return login_response(Some(LOGIN_REFUSED), StatusCode::INTERNAL_SERVER_ERROR);
    };
    match verdict {
        Err(refused) => {
            web.events.record(Event::LoginFailed {
                conn: conn.id,
                peer: conn.peer,
                tenant: refused.tenant,
                segment: refused.segment,
                user: attempt.user,
                protocol: Protocol::Https,
                reason: refused.reason,
                rule: refused.rule,
                key_fingerprint: None,
            });
            web.defender
                .offence(conn.peer.ip(), renkei_core::defender::Offence::FailedLogin)
                .await;
            login_response(Some(LOGIN_REFUSED), StatusCode::UNAUTHORIZED)
        }
        Ok((who, method, proof)) => {
            let opened = web.sessions.open(who.clone(), &conn.door.key(), proof);
            record_ended(&web, opened.ended);
            let Some((id, s)) = opened.session else {
                return page_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "混雑しています / Busy",
                    "同時に利用できる人数の上限に達しています。しばらくしてから、もう一度ログインしてください。 (web.max_sessions reached.)",
                );
            };
            web.events.record(Event::LoginSucceeded {
                conn: conn.id,
                peer: conn.peer,
                tenant: who.tenant(),
                segment: who.segment(),
                user: who.user().to_string(),
                protocol: Protocol::Https,
                key_fingerprint: None,
                key_algorithm: None,
                method: Some(method),
                role: Some(who.role()),
                session: Some(s.tag.clone()),
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

pub(super) async fn logout(
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
