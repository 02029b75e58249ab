//! `audit verify --bundle` over a real exported trail (fixtures/, written
//! by a daemon's start and stop) with the input's mutations applied: each
//! three bytes are an offset (two) and a byte to write there.
//! Property: a bundle whose records differ from the original's is never
//! reported as verified. (The header line, which says what was exported
//! when, is not signed; the records it announces are.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_storage::audit::keys::read_public_all;
use renkei_storage::audit::verify::verify_bundle;

const BUNDLE: &[u8] = include_bytes!("../fixtures/trail.renkei-audit");
const KEY: &str = include_str!("../fixtures/audit.pub");

fn records(text: &str) -> Vec<&str> {
    text.lines().skip(1).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = read_public_all(KEY) else {
        return;
    };
    let mut bundle = BUNDLE.to_vec();
    for m in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([m[0], m[1]])) % bundle.len();
        bundle[at] = m[2];
    }
    let Ok(text) = std::str::from_utf8(&bundle) else {
        return;
    };
    let Ok(original) = std::str::from_utf8(BUNDLE) else {
        return;
    };
    if verify_bundle(text, &keys).is_ok() {
        assert_eq!(
            records(text),
            records(original),
            "changed records were verified"
        );
    }
});
