//! Audit trail lines as `audit verify` and `audit query` read them: each
//! input line as it is, and — so that the reader gets past the hash check —
//! the same bytes as the fields of a record sealed with its right hash.
//! Properties: never panics; a record that reads back is the one built
//! (its seq and hash), and with any one byte changed it is not read at
//! all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_storage::audit::record::{GENESIS, build, head, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        let _ = parse(line);
        let _ = head(line);
    }
    let (line, hash) = build(7, "2026-12-07T10:00:00.000000+09:00", GENESIS, text);
    let Ok(p) = parse(&line) else {
        return;
    };
    assert_eq!((p.seq, p.hash.as_str()), (7, hash.as_str()));
    // Flip one byte of the body (an ASCII one, so the line stays UTF-8).
    let mut bytes = line.into_bytes();
    let at = data.len() % bytes.len();
    if bytes[at].is_ascii_alphanumeric() {
        bytes[at] ^= 0x01;
        if let Ok(changed) = std::str::from_utf8(&bytes) {
            assert!(
                parse(changed).is_err(),
                "a changed line was read as a sound record"
            );
        }
    }
});
