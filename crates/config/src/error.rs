//! The one error a configuration can have: where it is and what is wrong.
//! Every module of this crate reports through it, so it sits below them.

/// A configuration error, located in the file that caused it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
}
