//! What every page shares: the session of a request (checked against the
//! listener), the CSRF check, error pages, the navigation for each role,
//! and the records of ended sessions.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use renkei_core::events::Event;

use super::html::{self, Nav, esc};
use super::session::{self, COOKIE, EndReason, Lookup, Session, Who};
use super::{ConnInfo, Web};

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

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
        Lookup::Live(s) if s.door == conn.door.key() => {
            let snap = web.live.get();
            match super::login::standing(
                &snap,
                &conn.door,
                &s.who,
                &s.proof,
                conn.peer.ip(),
                conn.id,
            ) {
                Ok(()) => Ok(*s),
                Err(why) => {
                    tracing::info!(session = %s.tag, user = s.who.user(), reason = %why, "web session ended: the configuration in force no longer allows it");
                    web.sessions.close(&id);
                    record_end(web, &s, "revoked");
                    Err(to_login())
                }
            }
        }
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
