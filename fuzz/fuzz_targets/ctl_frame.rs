//! The control socket's protocol: length-prefixed frames, then the JSON
//! request inside, read as the server reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_doors_admin::proto::{Request, read_frame};

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    while let Ok(Some(frame)) = read_frame(&mut r) {
        let _ = serde_json::from_slice::<Request>(&frame);
    }
});
