//! ZIP inspection of arbitrary bytes under the default limits. Memory is
//! bounded by scripts/fuzz.sh's allocation limit: an inspection that
//! allocates beyond it fails the run.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use renkei_checks::archive::{Limits, inspect, is_zip};

fuzz_target!(|data: &[u8]| {
    let _ = is_zip(data);
    let limits = Limits {
        max_ratio: 100,
        max_depth: 2,
        max_entries: 1000,
    };
    let _ = inspect(Cursor::new(data), data.len() as u64, &limits);
});
