//! Keeps the audit trail's copies in the bucket up to date when the files
//! are in S3 (docs/storage.md): after each checkpoint interval, and once
//! more after the final checkpoint of a clean stop. Copying runs on a
//! blocking thread of its own, so a bucket that is away delays only the
//! copies, never a record; a failure is logged once, and its end too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use renkei_storage::audit::copies::{self, CopyReport, TrailCopies};

/// The trail's directory and where its copies go.
#[derive(Clone)]
pub(crate) struct TrailCopier {
    pub dir: PathBuf,
    pub to: Arc<dyn TrailCopies>,
}

impl TrailCopier {
    /// One pass, on a blocking thread.
    pub async fn pass(&self) -> Result<CopyReport, String> {
        let (dir, to) = (self.dir.clone(), Arc::clone(&self.to));
        match tokio::task::spawn_blocking(move || copies::copy_signed(&dir, to.as_ref())).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the copying thread failed: {e}")),
        }
    }
}

/// Copies every `every` until `stop`.
pub(crate) async fn keep(copier: TrailCopier, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match copier.pass().await {
            Ok(r) => {
                if failing {
                    tracing::info!(at = %copier.to.shown(), "the audit trail's copies are being made again");
                    failing = false;
                }
                if !r.copied.is_empty() {
                    tracing::debug!(files = ?r.copied, bytes = r.bytes, "audit trail copied");
                }
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "could not copy the audit trail off the node; retrying every checkpoint interval");
                failing = true;
            }
            Err(_) => {}
        }
    }
}
