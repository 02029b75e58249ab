//! The PROXY protocol v2 header a load balancer sends before a client's
//! connection (`door::proxy::parse`, every door's). What is read names
//! its length within the input, and a forwarded connection's header,
//! written again, reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::door::proxy::{self, Header, MAX_HEADER};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, used))) = proxy::parse(data) {
        assert!(used <= data.len() && used <= MAX_HEADER);
        if let Header::Proxied { .. } = header {
            let again = proxy::encode(&header);
            assert_eq!(proxy::parse(&again), Ok(Some((header, again.len()))));
        }
    }
});
