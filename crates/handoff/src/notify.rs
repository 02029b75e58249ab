//! Notifications (`[[notify]]`): records an operator must act on, sent to
//! a webhook as an HTTPS POST of a JSON body signed with HMAC-SHA256.
//!
//! The data path never waits for a notification: `Events` hands the
//! records a channel wants over a bounded queue (`NOTIFY_BACKLOG`) without
//! blocking, and this task sends them, each attempt bounded by the
//! channel's `timeout`, retried with backoff, at most `SENDING_AT_ONCE`
//! at a time. Each notification sent or given up is itself recorded
//! (`notification_sent`, `notification_failed`), and those are never
//! notified.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use renkei_config::Config;
use renkei_config::notify::{NotifyChannel, Webhook, system_roots};
use renkei_core::events::{Event, Events, NOTIFY_BACKLOG, Tap, japanese};

/// Notifications being sent at once, for the daemon.
pub const SENDING_AT_ONCE: usize = 4;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts the notifier for the configured channels (none: nothing runs).
pub fn start(
    config: &Config,
    events: Arc<Events>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if config.notify.is_empty() {
        return None;
    }
    let (tx, rx) = mpsc::channel(NOTIFY_BACKLOG);
    let wanted = config
        .notify
        .iter()
        .flat_map(|c| c.events.iter().cloned())
        .collect();
    events.set_tap(Tap { wanted, tx });
    let channels: Vec<Arc<NotifyChannel>> = config.notify.iter().cloned().map(Arc::new).collect();
    let names = Arc::new(
        config
            .tenants
            .iter()
            .map(|t| (t.code.to_string(), t.name.clone()))
            .collect::<Vec<_>>(),
    );
    Some(tokio::spawn(run(rx, channels, names, events, stop)))
}

async fn run(
    mut rx: mpsc::Receiver<Value>,
    channels: Vec<Arc<NotifyChannel>>,
    names: Arc<Vec<(String, String)>>,
    events: Arc<Events>,
    stop: CancellationToken,
) {
    let sending = Arc::new(Semaphore::new(SENDING_AT_ONCE));
    let tasks = tokio_util::task::TaskTracker::new();
    loop {
        let record = tokio::select! {
            _ = stop.cancelled() => break,
            r = rx.recv() => match r { Some(r) => r, None => break },
        };
        let name = record["event"].as_str().unwrap_or("").to_string();
        // A hand-off attempt that will be retried is not news yet.
        if name == "handoff_failed" && record["gave_up"] != Value::Bool(true) {
            continue;
        }
        // A lane file needs its approvers only when it waits for them.
        if name == "lane_sent" && record["state"] != "awaiting_approval" {
            continue;
        }
        for ch in channels.iter().filter(|c| c.events.contains(&name)) {
            // A slot first: while every slot is busy this loop takes no
            // more records, so what waits is bounded by the queue
            // (`NOTIFY_BACKLOG`), not by how fast events come.
            let slot = tokio::select! {
                _ = stop.cancelled() => break,
                s = Arc::clone(&sending).acquire_owned() => match s { Ok(s) => s, Err(_) => break },
            };
            let body = body(&record, &name, &names);
            let (ch, events, stop) = (Arc::clone(ch), Arc::clone(&events), stop.clone());
            let about = name.clone();
            tasks.spawn(async move {
                deliver(&ch, &about, body, &events, &stop).await;
                drop(slot);
            });
        }
    }
    tasks.close();
    // Notifications in flight get one attempt's time at stop.
    let longest = channels.iter().map(|c| c.timeout).max().unwrap_or_default();
    let _ = tokio::time::timeout(longest, tasks.wait()).await;
}

/// The JSON body: what happened, in Japanese and English, with the
/// municipality's name, and the record itself.
fn body(record: &Value, name: &str, names: &[(String, String)]) -> Bytes {
    let tenant = record["tenant"].as_str().unwrap_or("");
    let municipality = names
        .iter()
        .find(|(c, _)| c == tenant)
        .map(|(c, n)| format!("{n}({c})"))
        .unwrap_or_else(|| tenant.to_string());
    let what = [
        record["route"].as_str(),
        record["lane"].as_str(),
        record["path"].as_str().or(record["name"].as_str()),
        record["reason"].as_str().or(record["error"].as_str()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let subject = format!(
        "[renkei] {}{} {what}",
        japanese(name),
        if municipality.is_empty() {
            String::new()
        } else {
            format!(": {municipality}")
        }
    );
    let v = json!({
        "renkei_notification": 1,
        "event": name,
        "subject": subject.trim(),
        "municipality": municipality,
        "at": jiff::Timestamp::now().to_string(),
        "record": record,
    });
    Bytes::from(v.to_string())
}

async fn deliver(
    ch: &NotifyChannel,
    about: &str,
    body: Bytes,
    events: &Events,
    stop: &CancellationToken,
) {
    let mut backoff = Duration::from_secs(1);
    let mut last = String::new();
    for attempt in 1..=ch.attempts {
        match tokio::time::timeout(ch.timeout, post(&ch.webhook, body.clone(), about)).await {
            Ok(Ok(())) => {
                events.record(Event::NotificationSent {
                    channel: ch.name.clone(),
                    about: about.to_string(),
                    attempts: attempt,
                });
                return;
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = format!(
                    "no answer within {}s (notify.timeout)",
                    ch.timeout.as_secs()
                )
            }
        }
        if attempt == ch.attempts {
            break;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    events.record(Event::NotificationFailed {
        channel: ch.name.clone(),
        about: about.to_string(),
        attempts: ch.attempts,
        error: last,
    });
}

fn tls_config(w: &Webhook) -> Result<Arc<rustls::ClientConfig>, String> {
    let path = w.ca_file.as_deref().unwrap_or(system_roots());
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{} holds no CA certificate", path.display()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// One POST; the signature is over the exact body sent.
async fn post(w: &Webhook, body: Bytes, about: &str) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect((w.host.as_str(), w.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", w.host, w.port))?;
    let name = ServerName::try_from(w.host.clone()).map_err(|e| format!("{}: {e}", w.host))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config(w)?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", w.host))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(conn);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&w.secret).map_err(|e| e.to_string())?;
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let authority = if w.port == 443 {
        w.host.clone()
    } else {
        format!("{}:{}", w.host, w.port)
    };
    let req = hyper::Request::post(&w.path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header(
            hyper::header::USER_AGENT,
            concat!("renkei/", env!("CARGO_PKG_VERSION")),
        )
        .header("X-Renkei-Event", about)
        .header("X-Renkei-Signature", format!("sha256={signature}"))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string());
    driver.abort();
    let resp = resp?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", resp.status()))
    }
}
