//! File steps with a time limit (`limits.fs_timeout`).
//!
//! A route's file steps (placing a file in a spool directory, taking one
//! from a source folder) run on blocking threads. A hung mount can block
//! such a step for ever and a blocking thread cannot be cancelled, so a
//! step that makes no progress for the limit is given up on: the route
//! records a failed attempt and goes on with its other items and
//! municipalities. Progress is a [`tick`] from the step's loops (every
//! chunk read or written), so a large file on a working disk is never cut
//! off; what the limit bounds is one file-system call that does not return.
//! The step keeps running in the background, and until it returns no other
//! step touches the same directory, so a retry never writes the working
//! file a stuck attempt may still be writing.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

thread_local! {
    /// The progress clock of the step running on this blocking thread.
    static PROGRESS: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
}

fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Says "still making progress" for the step running on this thread (a
/// no-op outside one). Called from loops that read or write a chunk.
pub fn tick() {
    PROGRESS.with(|p| {
        if let Some(clock) = &*p.borrow() {
            clock.store(now_ms(), Ordering::Relaxed);
        }
    });
}

/// Clears this thread's progress clock when the step ends, however it ends
/// (blocking threads are reused).
struct ClockGuard;

impl Drop for ClockGuard {
    fn drop(&mut self) {
        PROGRESS.with(|p| p.borrow_mut().take());
    }
}

/// Why a step did not give its result.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(
        "a file step in {dir} made no progress for limits.fs_timeout ({limit}); it goes on in the background (a hung mount?), and no other step touches {dir} until it returns"
    )]
    TimedOut { dir: String, limit: String },
    #[error(
        "an earlier file step in {dir} has not returned yet (it made no progress for limits.fs_timeout); this one waits for it"
    )]
    Busy { dir: String },
    #[error("the file step failed: {0}")]
    Panicked(String),
}

/// The directories with a step still running past its limit.
#[derive(Debug, Default)]
pub struct Stuck {
    dirs: Mutex<HashSet<PathBuf>>,
}

impl Stuck {
    /// Whether a step in `dir` is still running past its limit.
    pub fn is_stuck(&self, dir: &Path) -> bool {
        self.dirs.lock().map_or(true, |d| d.contains(dir))
    }

    /// Runs `step` (which works in `dir`) on a blocking thread, for at most
    /// `limit`.
    pub async fn run<T, F>(
        self: &Arc<Self>,
        dir: &Path,
        limit: Duration,
        step: F,
    ) -> Result<T, StepError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let shown = || dir.display().to_string();
        if self.is_stuck(dir) {
            return Err(StepError::Busy { dir: shown() });
        }
        let finished = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(AtomicU64::new(now_ms()));
        let (me, owned, flag) = (Arc::clone(self), dir.to_path_buf(), Arc::clone(&finished));
        let step_clock = Arc::clone(&clock);
        let mut handle = tokio::task::spawn_blocking(move || {
            PROGRESS.with(|p| *p.borrow_mut() = Some(step_clock));
            let guard = ClockGuard;
            let out = step();
            drop(guard);
            // Under the lock, so that a timeout cannot mark the directory
            // after this step has already returned.
            if let Ok(mut dirs) = me.dirs.lock() {
                flag.store(true, Ordering::SeqCst);
                dirs.remove(&owned);
            }
            out
        });
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let poll = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let stalled = loop {
            tokio::select! {
                joined = &mut handle => break Ok(joined),
                () = tokio::time::sleep(poll) => {
                    if now_ms().saturating_sub(clock.load(Ordering::Relaxed)) > limit_ms {
                        break Err(());
                    }
                }
            }
        };
        match stalled {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(StepError::Panicked(e.to_string())),
            Err(_) => {
                if let Ok(mut dirs) = self.dirs.lock()
                    && !finished.load(Ordering::SeqCst)
                {
                    dirs.insert(dir.to_path_buf());
                }
                tracing::error!(dir = %dir.display(), limit = ?limit, "a file step outlived limits.fs_timeout");
                Err(StepError::TimedOut {
                    dir: shown(),
                    limit: renkei_config::units::format_duration(limit),
                })
            }
        }
    }
}
