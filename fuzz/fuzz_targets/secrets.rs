//! The secret files `[storage]` reads: the S3 credentials (AWS format) and
//! the database password. What they yield is one line's worth, trimmed,
//! never empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_config::storage::{parse_password, parse_s3_credentials};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((id, secret)) = parse_s3_credentials(text) {
        for v in [&id, &secret] {
            assert!(!v.is_empty() && !v.contains('\n') && v.trim() == v.as_str());
        }
    }
    if let Some(p) = parse_password(text) {
        assert!(!p.is_empty() && !p.contains('\n') && !p.ends_with('\r'));
    }
});
