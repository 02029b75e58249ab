//! Log output: human-readable lines or JSON, to standard error (journald
//! picks it up under systemd). `RENKEI_LOG` overrides the configured level
//! filter, e.g. `RENKEI_LOG=renkei=debug`.

use tracing_subscriber::EnvFilter;

use renkei_config::{LogConfig, LogFormat};

pub fn init(log: &LogConfig) {
    let filter = std::env::var("RENKEI_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
