//! FTP command lines as the control connection hands them over (without
//! the line end), and their path argument as the session resolves it.
//! Properties: an accepted verb is 1–4 ASCII letters, upper-cased; an
//! accepted argument has no control character.
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_core::namespace::NsPath;
use renkei_doors_ftps::fuzzing::command;

fuzz_target!(|data: &[u8]| {
    if let Ok((verb, arg)) = command(data) {
        assert!((1..=4).contains(&verb.len()), "verb {verb:?}");
        assert!(
            verb.bytes().all(|b| b.is_ascii_uppercase()),
            "verb {verb:?}"
        );
        assert!(!arg.chars().any(char::is_control), "arg {arg:?}");
        let _ = NsPath::parse(arg.as_bytes(), 16);
    }
});
