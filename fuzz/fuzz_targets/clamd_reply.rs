//! clamd's replies as the scanner client reads them. Property: a reply is
//! only ever clean when it says exactly `stream: OK`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_checks::clamd::{Verdict, reply_text, verdict};

fuzz_target!(|data: &[u8]| {
    let text = reply_text(data);
    let clean = text == "stream: OK";
    if let Ok(Verdict::Clean) = verdict("fuzz", text) {
        assert!(clean);
    }
});
