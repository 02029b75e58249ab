//! Name patterns and path globs (routes, rules): errors, never a panic;
//! an accepted pattern matches without panicking and covers itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_model::pattern::{NamePattern, PathGlob};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pat, name) = text.split_once('\n').unwrap_or((text, "JUKI_032018.csv"));
    // A name reaches a pattern only after the name rules, which refuse
    // one over 255 bytes (limits::MAX_NAME_BYTES).
    if name.len() > 255 {
        return;
    }
    if let Ok(p) = NamePattern::parse(pat) {
        let _ = p.matches(name, "032018");
        assert!(p.covered_by(&p), "{pat:?} does not cover itself");
    }
    if let Ok(g) = PathGlob::parse(pat) {
        let _ = g.matches(name);
        assert!(g.covered_by(&g), "{pat:?} does not cover itself");
    }
});
