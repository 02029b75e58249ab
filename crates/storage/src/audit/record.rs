//! The audit record format: one JSON line per record, hash-chained.
//!
//! ```text
//! {"seq":42,"ts":"2026-11-21T10:00:00.123456+09:00","prev":"<64 hex>","event":"upload_committed",…,"hash":"<64 hex>"}
//! ```
//!
//! `hash` is the SHA-256 of the exact bytes of the line *without* the hash
//! field (`…}` instead of `…,"hash":"…"}`), so checking a record needs no
//! JSON canonicalisation: the bytes are what is hashed. `prev` is the hash
//! of the record before (64 zeros for the first record ever), which chains
//! every record to all before it.
//!
//! A **checkpoint** is a record (`"event":"checkpoint"`) whose `signature`
//! is an ed25519 signature by the audit key over the chain head it follows
//! (see [`checkpoint_message`]). A valid signature on the head at seq N
//! vouches, through the chain, for every record up to N. The checkpoint
//! written at a clean shutdown carries `"final":true`.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the very first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex + `"}`.
const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// What a checkpoint signs: the format, the seq of the head record and its
/// hash. Domain-separated so the key cannot be tricked into signing
/// anything that reads as a checkpoint.
pub fn checkpoint_message(head_seq: u64, head_hash: &str) -> Vec<u8> {
    format!("renkei-audit-checkpoint-v1\n{head_seq}\n{head_hash}\n").into_bytes()
}

/// Builds a record line (without the trailing newline) and returns it with
/// its hash. `event_json` is a JSON object (`{"event":…}`).
pub fn build(seq: u64, ts: &str, prev: &str, event_json: &str) -> (String, String) {
    let fields = event_json.strip_prefix('{').unwrap_or(event_json);
    let body = if fields.starts_with('}') {
        format!("{{\"seq\":{seq},\"ts\":\"{ts}\",\"prev\":\"{prev}\"}}")
    } else {
        format!("{{\"seq\":{seq},\"ts\":\"{ts}\",\"prev\":\"{prev}\",{fields}")
    };
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let mut line = body;
    line.pop();
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

/// A record read back and checked against its own hash.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub seq: u64,
    pub ts: String,
    pub prev: String,
    pub hash: String,
    pub event: String,
    /// All fields, `seq`/`ts`/`prev` included, `hash` excluded.
    pub fields: Value,
}

/// Why a line is not a sound record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("the line is not a complete record (torn or cut short)")]
    Torn,
    #[error("the record's hash does not match its content (the record was altered)")]
    HashMismatch,
    #[error("the record is not valid JSON: {0}")]
    Json(String),
    #[error("the record lacks the field {0:?}")]
    Missing(&'static str),
}

/// Checks a line's hash; returns the body without its closing brace, and
/// the hash.
fn checked(line: &str) -> Result<(&str, &str), LineError> {
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.ends_with("\"}") {
        return Err(LineError::Torn);
    }
    // A tampered line may put a multi-byte character across the place
    // where the hash field must start: that is a torn line, not a panic.
    let Some((body_part, suffix)) = line.split_at_checked(line.len() - HASH_SUFFIX_LEN) else {
        return Err(LineError::Torn);
    };
    let Some(hash) = suffix
        .strip_prefix(",\"hash\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
    else {
        return Err(LineError::Torn);
    };
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(LineError::Torn);
    }
    // The hashed bytes are the body and its closing brace; no copy needed.
    let digest = Sha256::new()
        .chain_update(body_part.as_bytes())
        .chain_update(b"}")
        .finalize();
    if hex::encode(digest) != hash {
        return Err(LineError::HashMismatch);
    }
    Ok((body_part, hash))
}

/// What verification needs of a record, borrowed from its line.
#[derive(Debug, serde::Deserialize)]
pub struct Head<'a> {
    pub seq: u64,
    pub ts: &'a str,
    pub prev: &'a str,
    pub event: &'a str,
    #[serde(default)]
    pub key: Option<&'a str>,
    #[serde(default)]
    pub signed_seq: Option<u64>,
    #[serde(default)]
    pub signature: Option<&'a str>,
    #[serde(default, rename = "final")]
    pub last: bool,
    /// The record's own hash (the line's `hash` field, checked).
    pub hash: &'a str,
}

/// Checks a line's hash and reads only what verification needs: much
/// cheaper than [`parse`], which builds the whole record.
pub fn head(line: &str) -> Result<Head<'_>, LineError> {
    checked(line)?;
    // The line with its hash field is a JSON object too.
    serde_json::from_str(line).map_err(|e| LineError::Json(e.to_string()))
}

/// Parses one line (without its newline) and checks its hash.
pub fn parse(line: &str) -> Result<Parsed, LineError> {
    let (body_part, hash) = checked(line)?;
    let mut body = String::with_capacity(body_part.len() + 1);
    body.push_str(body_part);
    body.push('}');
    let fields: Value = serde_json::from_str(&body).map_err(|e| LineError::Json(e.to_string()))?;
    let seq = fields
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(LineError::Missing("seq"))?;
    let ts = fields
        .get("ts")
        .and_then(Value::as_str)
        .ok_or(LineError::Missing("ts"))?
        .to_string();
    let prev = fields
        .get("prev")
        .and_then(Value::as_str)
        .ok_or(LineError::Missing("prev"))?
        .to_string();
    let event = fields
        .get("event")
        .and_then(Value::as_str)
        .ok_or(LineError::Missing("event"))?
        .to_string();
    Ok(Parsed {
        seq,
        ts,
        prev,
        hash: hash.to_string(),
        event,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let (line, hash) = build(
            7,
            "2026-11-21T10:00:00.000000+09:00",
            GENESIS,
            r#"{"event":"x","path":"住基.csv"}"#,
        );
        let p = parse(&line).unwrap();
        assert_eq!(
            (p.seq, p.hash.as_str(), p.event.as_str()),
            (7, hash.as_str(), "x")
        );
        assert_eq!(p.fields["path"], "住基.csv");
        let (bare, _) = build(1, "t", GENESIS, "{}");
        assert_eq!(parse(&bare).unwrap_err(), LineError::Missing("event"));
    }

    /// Found by fuzzing (fuzz/fuzz_targets/audit_record.rs): a line whose
    /// last 77 bytes start inside a multi-byte character panicked.
    #[test]
    fn a_line_cut_inside_a_character_is_torn() {
        // 82 bytes: the hash field would start at byte 7, inside 本.
        let l = format!("{{\"a\":\"本{}\"}}", "y".repeat(71));
        assert_eq!(parse(&l).unwrap_err(), LineError::Torn);
        assert_eq!(head(&l).unwrap_err(), LineError::Torn);
    }

    #[test]
    fn any_change_is_caught() {
        let (line, _) = build(
            7,
            "2026-11-21T10:00:00.000000+09:00",
            GENESIS,
            r#"{"event":"x","size":100}"#,
        );
        let edited = line.replace("100", "900");
        assert_eq!(parse(&edited).unwrap_err(), LineError::HashMismatch);
        assert_eq!(parse(&line[..line.len() - 5]).unwrap_err(), LineError::Torn);
        assert_eq!(parse("").unwrap_err(), LineError::Torn);
    }
}
