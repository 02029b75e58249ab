//! SFTP packet bodies as the session's reader hands them to the decoder.
//! Property: what decodes, encoded again, decodes to the same request
//! (decoding keeps everything it does not deliberately drop).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use renkei_doors_ssh::sftp::fuzzing::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = decode(Bytes::copy_from_slice(data)) {
        let again = decode(req.encode());
        assert_eq!(
            again.as_ref(),
            Ok(&req),
            "re-encoded request decodes differently"
        );
    }
});
