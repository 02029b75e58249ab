//! A route's schedule: errors, never a panic; the next time after a fixed
//! instant, when there is one, is after it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_model::schedule::Cron;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cron) = Cron::parse(text) {
        let now =
            jiff::Timestamp::from_second(1_796_000_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        if let Some(next) = cron.next_after(now) {
            assert!(next > now, "{text:?}: {next} is not after {now}");
        }
    }
});
