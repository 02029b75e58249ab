//! A rule file (the firewall-like policy): errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::policy::rules::parse_file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_file("fuzz.rules", text);
});
