//! File-type detection on a file's head, under a name picked by the first
//! byte. Properties: never panics; an embedded program is reported inside
//! the head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_checks::filetype::{
    contradiction, embedded_executable, encrypted_zip, first_nul, promises_text, sniff,
};

const NAMES: [&str; 8] = [
    "a.csv", "b.txt", "c.pdf", "d.png", "e.zip", "f.DAT", "g.xlsx", "h",
];

fuzz_target!(|data: &[u8]| {
    let Some((pick, head)) = data.split_first() else {
        return;
    };
    let name = NAMES[*pick as usize % NAMES.len()];
    let kind = sniff(head);
    let _ = (kind.category(), kind.describe());
    let _ = contradiction(name, head);
    let _ = promises_text(name);
    let _ = encrypted_zip(head);
    if let Some(at) = embedded_executable(head) {
        assert!(at < head.len(), "program at {at} of {}", head.len());
    }
    let mut r = head;
    if let Ok(Some(at)) = first_nul(&mut r, 0) {
        assert!(at < head.len() as u64);
    }
});
