//! The browser's upload form (multipart/form-data) read as the upload
//! handler reads it, the body cut into chunks where the input says. The
//! allocation limit (scripts/fuzz.sh) holds the form reader to its bound:
//! `web.max_form_size` (here 64 KiB) plus one chunk, whatever the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_doors_web::fuzzing::read_upload_form;

const MAX_FORM: u64 = 64 << 10;
const MAX_UPLOAD: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // First byte: the chunk size; the boundary is fixed, as a browser's
    // would be, so the body's own bytes decide the rest.
    let Some((size, body)) = data.split_first() else {
        return;
    };
    let size = usize::from(*size).max(1);
    let chunks: Vec<Vec<u8>> = body.chunks(size).map(<[u8]>::to_vec).collect();
    let _ = read_upload_form(
        "multipart/form-data; boundary=XyZ",
        chunks,
        MAX_FORM,
        MAX_UPLOAD,
    );
});
