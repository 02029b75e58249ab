//! A rule's time window (`mon-fri 08:30-17:15`): errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::policy::window::Window;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Window::parse(text);
    }
});
