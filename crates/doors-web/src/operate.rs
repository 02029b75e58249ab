//! The operator's page: what `renkei ctl status`, `routes`, `quarantine
//! list` and `bans` show, and the actions `ctl` has (retry a route's
//! failed hand-offs, lift a ban, release or delete a held file). Each
//! action is the same core or route call the control socket makes, and
//! is recorded as `web_action` with the person who took it.

use std::sync::Arc;

use axum::extract::{Extension, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use renkei_core::events::Event;

use super::html::{self, esc};
use super::pages::{csrf_ok, csrf_refused, page_error, render, session_of};
use super::session::{Session, Who};
use super::{ConnInfo, Web};
use renkei_console::Context;

fn operator(s: &Session) -> Option<&str> {
    match &s.who {
        Who::Operator { user } => Some(user),
        _ => None,
    }
}

fn button(action: &str, csrf: &str, hidden: &[(&str, &str)], label: &str, reason: bool) -> String {
    let fields: String = hidden
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                esc(k),
                esc(v)
            )
        })
        .collect();
    let reason = if reason {
        r#"<label>理由 / Reason <input name="reason" required maxlength="1024"></label>"#
    } else {
        ""
    };
    format!(
        r#"<form method="post" action="{}"><input type="hidden" name="csrf" value="{}">{fields}{reason}<button type="submit">{}</button></form>"#,
        esc(action),
        esc(csrf),
        esc(label)
    )
}

fn status_body(web: &Web, ctx: &Context, s: &Session) -> String {
    let checks = ctx.ns.checks_summary(&ctx.live.get());
    let mut out = format!(
        r#"<table class="files"><tbody>
<tr><th>SFTP 接続 / SSH connections</th><td>{}</td></tr>
<tr><th>Web セッション / Browser sessions</th><td>{} ({} connections)</td></tr>
<tr><th>検査待ち / Waiting for checks</th><td>{}{}</td></tr>
<tr><th>検疫中 / Held</th><td>{}</td></tr>
<tr><th>遮断中 / Banned addresses</th><td>{}</td></tr>
</tbody></table>"#,
        (ctx.connections)(),
        web.sessions(),
        web.connections(),
        checks.waiting,
        checks
            .oldest_waiting_secs
            .map(|s| format!(" (最古 {s} 秒 / oldest {s}s)"))
            .unwrap_or_default(),
        checks.held,
        ctx.defender.list().len(),
    );
    out.push_str("<h2>連携経路 / Routes</h2>");
    match ctx.router.report() {
        Ok(routes) if routes.is_empty() => out.push_str("<p>経路はありません / No routes</p>"),
        Ok(routes) => {
            out.push_str("<table class=\"files\"><thead><tr><th>経路 / Route</th><th>待ち / Queued</th><th>完了 / Delivered</th><th>失敗 / Failed</th><th>最後の誤り / Last error</th><th></th></tr></thead><tbody>");
            for r in &routes {
                let retry = if r.failed > 0 {
                    button(
                        "/operate/retry",
                        &s.csrf,
                        &[("route", &r.name)],
                        "再実行 / Retry",
                        false,
                    )
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "<tr><td>{}<br><small>{} → {}</small></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"actions\">{retry}</td></tr>",
                    esc(&r.name),
                    esc(&r.source),
                    esc(&r.destination),
                    r.queued,
                    r.delivered,
                    r.failed,
                    esc(r.last_error.as_deref().unwrap_or("")),
                ));
                for f in &r.failures {
                    out.push_str(&format!(
                        "<tr><td></td><td colspan=\"4\"><small>{} /{} — {} 回 / attempts: {}</small></td><td></td></tr>",
                        esc(&f.tenant),
                        esc(&f.path),
                        f.attempts,
                        esc(&f.error)
                    ));
                }
            }
            out.push_str("</tbody></table>");
        }
        Err(e) => out.push_str(&html::notice("error", &e.to_string())),
    }
    out.push_str("<h2>検疫 / Held files</h2>");
    match ctx.ns.held() {
        Ok(list) if list.is_empty() => out.push_str("<p>ありません / None</p>"),
        Ok(list) => {
            out.push_str("<table class=\"files\"><thead><tr><th>ファイル / File</th><th>状態 / State</th><th>理由 / Reason</th><th></th></tr></thead><tbody>");
            for h in &list {
                let actions = format!(
                    "{}{}",
                    button(
                        "/operate/release",
                        &s.csrf,
                        &[("id", &h.id)],
                        "解除 / Release",
                        true
                    ),
                    button(
                        "/operate/delete",
                        &s.csrf,
                        &[("id", &h.id)],
                        "削除 / Delete",
                        true
                    )
                );
                out.push_str(&format!(
                    "<tr><td>{} /{}/{}<br><small>{}</small></td><td>{}</td><td>{}</td><td class=\"actions\">{actions}</td></tr>",
                    esc(&h.tenant),
                    esc(&h.bx),
                    esc(&h.path),
                    esc(&h.id),
                    esc(&h.state),
                    esc(h.signature.as_deref().or(h.reason.as_deref()).unwrap_or("")),
                ));
            }
            out.push_str("</tbody></table>");
        }
        Err(e) => out.push_str(&html::notice("error", &e.to_string())),
    }
    out.push_str("<h2>遮断 / Bans</h2>");
    let bans = ctx.defender.list();
    if bans.is_empty() {
        out.push_str("<p>ありません / None</p>");
    } else {
        out.push_str("<table class=\"files\"><tbody>");
        for b in &bans {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"actions\">{}</td></tr>",
                esc(&b.ip),
                esc(&html::time(b.until.as_second())),
                esc(&b.reason),
                button(
                    "/operate/unban",
                    &s.csrf,
                    &[("ip", &b.ip)],
                    "解除 / Unban",
                    false
                )
            ));
        }
        out.push_str("</tbody></table>");
    }
    out
}

/// `GET /status`: the operator's view.
pub async fn status(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(_), Some(ctx)) = (operator(&s), web.admin.as_ref()) else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let body = status_body(&web, ctx, &s);
    render(&web, &s, "運用状況 / Status", &body)
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    reason: String,
}

/// `POST /operate/{action}`: one of the operator's actions.
pub async fn act(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    axum::extract::Path(action): axum::extract::Path<String>,
    Form(f): Form<ActionForm>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(user), Some(ctx)) = (operator(&s), web.admin.as_ref()) else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    if !csrf_ok(&s, Some(&f.csrf)) {
        return csrf_refused();
    }
    let by = format!("web {user}");
    let (name, detail, outcome): (&'static str, String, Result<String, String>) =
        match action.as_str() {
            "retry" => (
                "retry",
                format!("route={}", f.route),
                ctx.router
                    .retry(&f.route, None)
                    .await
                    .map(|n| format!("{n} item(s) of route {} queued again", f.route))
                    .map_err(|e| e.to_string()),
            ),
            "unban" => (
                "unban",
                format!("ip={}", f.ip),
                ctx.defender
                    .lift(&f.ip, &by)
                    .await
                    .map(|ip| format!("{ip} is no longer banned"))
                    .map_err(|e| e.to_string()),
            ),
            "release" | "delete" => {
                let release = action == "release";
                let name = if release {
                    "quarantine_release"
                } else {
                    "quarantine_delete"
                };
                let detail = format!("object={} reason={}", f.id, f.reason.trim());
                let done = if release {
                    ctx.ns
                        .release_held(&f.id, &by, &f.reason)
                        .await
                        .map(|o| format!("/{}/{} は解除されました / released", o.bx, o.path))
                        .map_err(|e| e.to_string())
                } else {
                    ctx.ns
                        .delete_held(&f.id, &by, &f.reason)
                        .await
                        .map(|o| format!("/{}/{} は削除されました / deleted", o.bx, o.path))
                        .map_err(|e| e.to_string())
                };
                (name, detail, done)
            }
            _ => return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", ""),
        };
    web.events.record(Event::WebAction {
        peer: conn.peer,
        user: user.to_string(),
        role: "operator",
        action: name,
        detail: match &outcome {
            Ok(_) => detail,
            Err(e) => format!("{detail}: {e}"),
        },
        ok: outcome.is_ok(),
    });
    match outcome {
        Ok(_) => Redirect::to("/status").into_response(),
        Err(e) => page_error(StatusCode::CONFLICT, "実行できませんでした / Not done", &e),
    }
}
