//! Times as an operator types them on the command line.

/// A time on the command line: RFC 3339, or a civil date-time (with or
/// without seconds, or a bare date) taken as Asia/Tokyo.
pub(crate) fn when(s: &str) -> anyhow::Result<jiff::Zoned> {
    renkei_model::time::parse_when(s).map_err(|e| anyhow::anyhow!(e))
}
