//! The auditor's pages: search the trail with the filters of `renkei audit
//! query`, read one record whole, see whether the trail verifies and which
//! keys signed it, and take the results away as CSV (UTF-8 with BOM) or as
//! a signed bundle that verifies on its own.
//!
//! Auditors only read. An auditor limited to some municipalities sees only
//! their records (nothing of the daemon or of segments), and cannot take a
//! bundle, which must carry the whole chain. Searching, CSV and the bundle
//! run on blocking threads and stream: a trail of any length costs one
//! segment in memory, not the result.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use renkei_core::events::{Event, japanese};
use renkei_core::trail;

use super::html::{esc, url_path};
use super::pages::{page_error, render, session_of};
use super::session::{Session, Who};
use super::{ConnInfo, Web};

/// Rows shown on one result page (CSV has them all).
pub const PAGE_ROWS: usize = 500;

/// The search form, as the query string carries it.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    event: String,
    #[serde(default)]
    file: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    lane: String,
    #[serde(default)]
    segment: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A time field: a bare date as `until` means the end of that day.
fn time(s: &str, end_of_day: bool) -> Result<Option<jiff::Timestamp>, String> {
    let Some(t) = opt(s) else { return Ok(None) };
    let z = renkei_model::time::parse_when(&t)?;
    let bare_date = t.parse::<jiff::civil::Date>().is_ok();
    Ok(Some(if end_of_day && bare_date {
        z.timestamp() + jiff::SignedDuration::from_secs(86_399)
    } else {
        z.timestamp()
    }))
}

impl Filters {
    fn query(&self, scope: Option<Vec<String>>) -> Result<trail::Query, String> {
        let result = opt(&self.result);
        if let Some(r) = &result
            && !trail::RESULTS.contains(&r.as_str())
        {
            return Err("result は ok, refused, failed のいずれかです".into());
        }
        Ok(trail::Query {
            tenant: opt(&self.tenant),
            user: opt(&self.user),
            lane: opt(&self.lane),
            segment: opt(&self.segment),
            events: opt(&self.event).map(|e| e.split(',').map(|x| x.trim().to_string()).collect()),
            file: opt(&self.file),
            result,
            since: time(&self.since, false)?,
            until: time(&self.until, true)?,
            scope,
            seq: None,
        })
    }

    fn query_string(&self) -> String {
        let pairs = [
            ("tenant", &self.tenant),
            ("user", &self.user),
            ("event", &self.event),
            ("file", &self.file),
            ("result", &self.result),
            ("lane", &self.lane),
            ("segment", &self.segment),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", url_path(v.trim()).replace('/', "%2F")))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The auditor behind a session, and the municipalities they may see.
fn auditor(s: &Session) -> Option<(String, Option<Vec<String>>)> {
    match &s.who {
        Who::Auditor { user, tenants } => Some((user.clone(), tenants.clone())),
        _ => None,
    }
}

fn audit_dir(web: &Web) -> PathBuf {
    web.live.get().config.server.data_dir.join("audit")
}

fn forbidden() -> Response {
    page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "")
}

fn form(f: &Filters) -> String {
    let field = |name: &str, label: &str, value: &str, kind: &str| {
        format!(
            r#"<label>{label} <input name="{name}" type="{kind}" value="{}"></label>"#,
            esc(value)
        )
    };
    format!(
        r#"<form method="get" action="/audit" class="search">
{}{}{}{}
<label>結果 / Result <select name="result"><option value="">すべて / any</option>{}</select></label>
{}{}{}{}
<button type="submit">検索 / Search</button>
</form>"#,
        field("tenant", "市区町村コード / Municipality", &f.tenant, "text"),
        field("user", "利用者 / Account", &f.user, "text"),
        field(
            "event",
            "事象 / Event (例 upload_committed)",
            &f.event,
            "text"
        ),
        field("file", "ファイル名 / File", &f.file, "text"),
        ["ok", "refused", "failed"]
            .iter()
            .map(|r| format!(
                r#"<option value="{r}"{}>{r}</option>"#,
                if f.result == *r { " selected" } else { "" }
            ))
            .collect::<String>(),
        field("lane", "レーン / Lane", &f.lane, "text"),
        field("segment", "セグメント / Segment", &f.segment, "text"),
        field(
            "since",
            "開始 / From (YYYY-MM-DD [HH:MM])",
            &f.since,
            "text"
        ),
        field("until", "終了 / To (YYYY-MM-DD [HH:MM])", &f.until, "text"),
    )
}

/// `GET /audit`: the search form and the first results.
pub async fn search(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some((_, scope)) = auditor(&s) else {
        return forbidden();
    };
    let q = match f.query(scope) {
        Ok(q) => q,
        Err(e) => {
            return page_error(
                StatusCode::BAD_REQUEST,
                "検索条件が正しくありません / Bad search",
                &e,
            );
        }
    };
    let searched = !f.query_string().is_empty();
    let dir = audit_dir(&web);
    let config = web.live.get().config.clone();
    let rows = if searched {
        let found = tokio::task::spawn_blocking(move || {
            let mut rows = Vec::new();
            let r = trail::search(&dir, &q, Some(&config), |row, _| {
                rows.push(row);
                if rows.len() > PAGE_ROWS {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            r.map(|()| rows).map_err(|e| e.to_string())
        })
        .await;
        match found {
            Ok(Ok(rows)) => Some(rows),
            Ok(Err(e)) => {
                return page_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "監査ログを読めません / Cannot read the trail",
                    &e,
                );
            }
            Err(_) => return page_error(StatusCode::INTERNAL_SERVER_ERROR, "", "internal error"),
        }
    } else {
        None
    };
    let mut body = form(&f);
    body.push_str(r#"<p><a href="/audit/verify">検証状況 / Verification</a></p>"#);
    if let Some(rows) = rows {
        let more = rows.len() > PAGE_ROWS;
        let qs = f.query_string();
        body.push_str(&format!(
            r#"<p>{} 件{} <a class="button" href="/audit/export.csv?{}" download>CSV で保存 / Export CSV</a></p>"#,
            rows.len().min(PAGE_ROWS),
            if more { format!(" (最初の {PAGE_ROWS} 件。すべては CSV に / first {PAGE_ROWS}; CSV has all)") } else { String::new() },
            esc(&qs)
        ));
        body.push_str("<table class=\"files\"><thead><tr><th>日時 / Time</th><th>事象 / Event</th><th>市区町村 / Municipality</th><th>利用者 / User</th><th>接続元 / From</th><th>ファイル / File</th><th>結果 / Result</th></tr></thead><tbody>\n");
        for r in rows.iter().take(PAGE_ROWS) {
            let who = if r.tenant_name.is_empty() {
                r.tenant.clone()
            } else {
                format!("{}({})", r.tenant_name, r.tenant)
            };
            let result = if r.result == "ok" {
                r.result.to_string()
            } else {
                format!("{}: {}", r.result, r.reason)
            };
            body.push_str(&format!(
                "<tr><td><a href=\"/audit/record/{seq}\">{}</a></td><td>{} {}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&r.time),
                esc(&r.event),
                esc(japanese(&r.event)),
                esc(&who),
                esc(&r.user),
                esc(&r.source),
                esc(&r.protocol),
                esc(&r.path),
                esc(&result),
                seq = r.seq,
            ));
        }
        body.push_str("</tbody></table>");
    }
    render(&web, &s, "監査ログ / Audit trail", &body)
}

/// `GET /audit/record/{seq}`: one record, every field as written.
pub async fn record(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Path(seq): Path<u64>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some((_, scope)) = auditor(&s) else {
        return forbidden();
    };
    let q = trail::Query {
        scope,
        seq: Some(seq),
        events: None,
        ..Default::default()
    };
    let dir = audit_dir(&web);
    let config = web.live.get().config.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut hit = None;
        let r = trail::search(&dir, &q, Some(&config), |row, fields| {
            hit = Some((row, fields.clone()));
            ControlFlow::Break(())
        });
        r.map(|()| hit)
    })
    .await;
    let Ok(Ok(Some((row, fields)))) = found else {
        return page_error(StatusCode::NOT_FOUND, "見つかりません / Not found", "");
    };
    let pretty = serde_json::to_string_pretty(&fields).unwrap_or_default();
    let body = format!(
        "<p>seq {} — {} — {} {}</p><pre>{}</pre><p><a href=\"/audit\">戻る / Back</a></p>",
        row.seq,
        esc(&row.time),
        esc(&row.event),
        esc(japanese(&row.event)),
        esc(&pretty)
    );
    render(&web, &s, "監査記録 / Audit record", &body)
}

fn act(web: &Web, conn: &ConnInfo, user: &str, action: &'static str, detail: String, ok: bool) {
    web.events.record(Event::WebAction {
        peer: conn.peer,
        user: user.to_string(),
        role: "auditor",
        action,
        detail,
        ok,
    });
}

/// `GET /audit/export.csv`: every matching record, streamed.
pub async fn csv(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Query(f): Query<Filters>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some((user, scope)) = auditor(&s) else {
        return forbidden();
    };
    let q = match f.query(scope) {
        Ok(q) => q,
        Err(e) => {
            return page_error(
                StatusCode::BAD_REQUEST,
                "検索条件が正しくありません / Bad search",
                &e,
            );
        }
    };
    act(&web, &conn, &user, "audit_csv", f.query_string(), true);
    let dir = audit_dir(&web);
    let config = web.live.get().config.clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        if tx
            .blocking_send(Ok(Bytes::from_static(trail::CSV_HEADER.as_bytes())))
            .is_err()
        {
            return;
        }
        let r = trail::search(&dir, &q, Some(&config), |row, _| {
            match tx.blocking_send(Ok(Bytes::from(trail::csv_line(&row)))) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        if let Err(e) = r {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let stamp = renkei_model::time::tokyo(jiff::Timestamp::now()).strftime("%Y%m%d%H%M%S");
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"renkei-audit-{stamp}.csv\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `GET /audit/verify`: whether the trail verifies, and by which keys.
pub async fn verification(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if auditor(&s).is_none() {
        return forbidden();
    }
    let dir = audit_dir(&web);
    let checked = tokio::task::spawn_blocking(move || trail::verify_beside(&dir)).await;
    let body = match checked {
        Ok(Ok((r, ids))) => format!(
            r#"<p class="notice ok">検証済み / Verified: 改ざんは見つかりませんでした。</p>
<table class="files"><tbody>
<tr><th>記録数 / Records</th><td>{} (seq {}–{})</td></tr>
<tr><th>期間 / Period</th><td>{} – {} (Asia/Tokyo)</td></tr>
<tr><th>署名 / Checkpoints</th><td>{} 件、署名鍵 / signed by {}</td></tr>
<tr><th>信頼する鍵 / Trusted keys</th><td>{}</td></tr>
<tr><th>未署名 / Not yet signed</th><td>{} (次の署名で署名されます)</td></tr>
</tbody></table>
<p>独立した検証には、別に保管した公開鍵で <code>renkei audit verify --pubkey FILE</code> を実行してください。</p>"#,
            r.records,
            r.first_seq,
            r.last_seq,
            esc(&r.first_ts.as_deref().map(trail::local).unwrap_or_default()),
            esc(&r.last_ts.as_deref().map(trail::local).unwrap_or_default()),
            r.checkpoints,
            esc(&r.signers.join(" → ")),
            esc(&ids.join(", ")),
            r.unsigned(),
        ),
        Ok(Err(p)) => format!(
            r#"<p class="notice error">検証失敗 / FAILED: {}</p>"#,
            esc(&p)
        ),
        Err(_) => "<p class=\"notice error\">internal error</p>".to_string(),
    };
    let bundle = r#"<form method="get" action="/audit/bundle" class="search"><p>署名付きエクスポート / Signed export bundle</p><label>開始 / From <input name="since" required></label><label>終了 / To <input name="until" required></label><button type="submit">保存 / Download</button></form>"#;
    render(
        &web,
        &s,
        "監査ログの検証 / Trail verification",
        &format!("{body}{bundle}"),
    )
}

#[derive(Debug, Deserialize)]
pub struct Period {
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

/// `GET /audit/bundle`: the signed bundle of a period (auditors of every
/// municipality only: a bundle carries the whole chain).
pub async fn bundle(
    State(web): State<Arc<Web>>,
    Extension(conn): Extension<ConnInfo>,
    headers: HeaderMap,
    Query(p): Query<Period>,
) -> Response {
    let s = match session_of(&web, &conn, &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some((user, scope)) = auditor(&s) else {
        return forbidden();
    };
    if scope.is_some() {
        return page_error(
            StatusCode::FORBIDDEN,
            "保存できません / Not available",
            "署名付きエクスポートは証跡の連鎖全体を含むため、全市区町村の監査担当者だけが取得できます。CSV を使ってください。 (A bundle carries the whole chain: auditors of all municipalities only.)",
        );
    }
    let (since, until) = match (time(&p.since, false), time(&p.until, true)) {
        (Ok(Some(a)), Ok(Some(b))) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return page_error(
                StatusCode::BAD_REQUEST,
                "期間が正しくありません / Bad period",
                &e,
            );
        }
        _ => {
            return page_error(
                StatusCode::BAD_REQUEST,
                "期間が正しくありません / Bad period",
                "since and until are required",
            );
        }
    };
    let Ok(_one) = web.exports.acquire().await else {
        return page_error(StatusCode::SERVICE_UNAVAILABLE, "", "busy");
    };
    let dir = audit_dir(&web);
    let out_dir = web.live.get().config.server.data_dir.join("exports");
    let out = out_dir.join(format!(
        "bundle-{}.jsonl",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let (d, o) = (dir.clone(), out.clone());
    let made = tokio::task::spawn_blocking(move || {
        renkei_core::fsutil::create_private_dir(&out_dir).map_err(|e| e.to_string())?;
        trail::bundle(&d, since, until, &o)?;
        std::fs::read(&o).map_err(|e| e.to_string())
    })
    .await;
    let _ = std::fs::remove_file(&out);
    let detail = format!("since={since} until={until}");
    match made {
        Ok(Ok(bytes)) => {
            act(&web, &conn, &user, "audit_bundle", detail, true);
            (
                [
                    (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"renkei-audit-bundle.jsonl\"".to_string(),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(Err(e)) => {
            act(
                &web,
                &conn,
                &user,
                "audit_bundle",
                format!("{detail}: {e}"),
                false,
            );
            page_error(StatusCode::CONFLICT, "保存できません / Cannot export", &e)
        }
        Err(_) => page_error(StatusCode::INTERNAL_SERVER_ERROR, "", "internal error"),
    }
}
