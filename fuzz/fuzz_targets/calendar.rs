//! A holidays file (the Cabinet Office's CSV, Shift_JIS or UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_config::calendar::parse_holidays;

fuzz_target!(|data: &[u8]| {
    let _ = parse_holidays("fuzz.csv", data);
});
