//! Notifications (`[[notify]]`): records an operator must act on, sent to
//! a webhook as an HTTPS POST of a JSON body signed with HMAC-SHA256
//! (`webhook`), or as mail over SMTP with STARTTLS or TLS (`mail`).
//!
//! The data path never waits for a notification: `Events` hands the
//! records a channel wants over a bounded queue (`NOTIFY_BACKLOG`) without
//! blocking, and this task sends them, each attempt bounded by the
//! channel's `timeout`, retried with backoff, at most `SENDING_AT_ONCE`
//! at a time. Each notification sent or given up is itself recorded
//! (`notification_sent`, `notification_failed`), and those are never
//! notified.

mod mail;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use renkei_config::Config;
use renkei_config::notify::{Destination, NotifyChannel};
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
            let notice = Notice::new(&record, &name, &names);
            let (ch, events, stop) = (Arc::clone(ch), Arc::clone(&events), stop.clone());
            tasks.spawn(async move {
                deliver(&ch, &notice, &events, &stop).await;
                drop(slot);
            });
        }
    }
    tasks.close();
    // Notifications in flight get one attempt's time at stop.
    let longest = channels.iter().map(|c| c.timeout).max().unwrap_or_default();
    let _ = tokio::time::timeout(longest, tasks.wait()).await;
}

/// One notification, whatever the channel: the event, a subject line in
/// Japanese with the municipality, and the record itself.
pub(crate) struct Notice {
    pub event: String,
    pub subject: String,
    pub municipality: String,
    pub at: jiff::Timestamp,
    pub record: Value,
}

impl Notice {
    fn new(record: &Value, name: &str, names: &[(String, String)]) -> Notice {
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
        Notice {
            event: name.to_string(),
            // A subject is one line, whatever a file name held.
            subject: subject.trim().replace(['\r', '\n'], " "),
            municipality,
            at: jiff::Timestamp::now(),
            record: record.clone(),
        }
    }

    /// The webhook's JSON body.
    fn json(&self) -> String {
        json!({
            "renkei_notification": 1,
            "event": self.event,
            "subject": self.subject,
            "municipality": self.municipality,
            "at": self.at.to_string(),
            "record": self.record,
        })
        .to_string()
    }
}

/// One attempt on one channel.
async fn send(ch: &NotifyChannel, notice: &Notice) -> Result<(), String> {
    match &ch.to {
        Destination::Webhook(w) => webhook::post(w, notice).await,
        Destination::Mail(m) => mail::send(m, ch.timeout, notice).await,
    }
}

async fn deliver(ch: &NotifyChannel, notice: &Notice, events: &Events, stop: &CancellationToken) {
    let about = notice.event.as_str();
    let mut backoff = Duration::from_secs(1);
    let mut last = String::new();
    for attempt in 1..=ch.attempts {
        match tokio::time::timeout(ch.timeout, send(ch, notice)).await {
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

/// The CA certificates a channel trusts: its `ca_file`, or the system's.
fn trusted(
    ca_file: Option<&std::path::Path>,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let path = ca_file.unwrap_or(renkei_config::notify::system_roots());
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).flatten().collect();
    if certs.is_empty() {
        return Err(format!("{} holds no CA certificate", path.display()));
    }
    Ok(certs)
}
