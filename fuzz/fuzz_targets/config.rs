//! The configuration file: errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Config::parse("fuzz.toml", text, std::path::Path::new("/nonexistent"));
});
