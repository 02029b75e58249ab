//! Client paths as every door resolves them (`NsPath::parse`).
//! Properties: a path that resolves never leaves the namespace (no `.`,
//! `..` or empty component survives, nothing above `/`), a file or
//! directory in a box stays within the depth limit (receipts are read-only
//! and not limited), and its printed form resolves to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::namespace::NsPath;

const MAX_DEPTH: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = NsPath::parse(data, MAX_DEPTH) else {
        return;
    };
    let shown = p.to_string();
    assert!(shown.starts_with('/'), "{shown:?}");
    if shown != "/" {
        for c in shown.split('/').skip(1) {
            assert!(!c.is_empty() && c != "." && c != "..", "{shown:?}");
        }
    }
    if let NsPath::Entry { parent, .. } = &p {
        let dirs = parent.split('/').filter(|c| !c.is_empty()).count();
        assert!(dirs < MAX_DEPTH, "{shown:?} is {dirs} directories deep");
    }
    let again = NsPath::parse(shown.as_bytes(), MAX_DEPTH);
    assert_eq!(
        again.as_ref().ok(),
        Some(&p),
        "{shown:?} resolves differently"
    );
});
