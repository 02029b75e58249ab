//! File names (docs/decisions/0007). Properties: NFC is idempotent; a name
//! accepted in NFC is accepted again and is unchanged by NFC; no accepted
//! name holds a control character, a backslash, a slash or a bidi control.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::namespace::names::{check, nfc};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = nfc(text).into_owned();
    assert_eq!(nfc(&once), once.as_str(), "NFC is not idempotent");
    if check(&once).is_ok() {
        assert!(
            !once.chars().any(|c| c.is_control() || c == '\\'),
            "{once:?}"
        );
        assert!(
            !once
                .chars()
                .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')),
            "{once:?}"
        );
    }
});
