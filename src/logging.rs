//! Log output: human-readable lines or JSON, to standard error (journald
//! picks it up under systemd). `RENKEI_LOG` overrides the configured level
//! filter, e.g. `RENKEI_LOG=renkei=debug`.

use tracing_subscriber::EnvFilter;

use renkei_config::{LogConfig, LogFormat};

/// rustls's parser of the client hello, quieted to errors.
const QUIET_SNI: &str = "rustls::msgs::handshake=error";

pub fn init(log: &LogConfig) {
    let filter = std::env::var("RENKEI_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // A client that reaches a TLS door by its IP address may send that
    // address as SNI; rustls ignores it, as it should, but warns on every
    // such connection. That is what clients normally do: not worth a
    // warning each time. Other rustls warnings stay.
    let filter = match QUIET_SNI.parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_target(false).try_init(),
    };
}
