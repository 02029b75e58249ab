//! What a file or directory name may be.
//!
//! A name in a box is read by people (an operator comparing a trail to a
//! ticket), by Windows and macOS clients that must store it, and by the
//! standard system's scripts. So a name that two of them would read
//! differently is refused rather than stored: invisible characters, look-alikes
//! of the path separators, characters or shapes Windows cannot store, and a
//! leading `-` that a downstream shell script would take for an option.
//! Names are kept in Unicode NFC: a macOS client sends decomposed kana (NFD),
//! a Windows client composed ones, and both must mean one file. The rule is
//! written down in docs/decisions/0007-names-people-and-windows-can-read.md.

use std::borrow::Cow;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use renkei_config::limits::MAX_NAME_BYTES;

/// Why one name was refused. The message is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name {name:?} contains the control character U+{code:04X}")]
    ControlChar { name: String, code: u32 },
    #[error(
        "name {name:?} contains the bidirectional formatting character U+{code:04X}, which can disguise a name"
    )]
    BidiChar { name: String, code: u32 },
    #[error("name {name:?} contains a backslash; use '/' to separate directories")]
    Backslash { name: String },
    #[error("a name is {bytes} bytes long; the limit is {MAX_NAME_BYTES} bytes")]
    TooLong { bytes: usize },
    #[error(
        "name {name:?} contains the invisible character U+{code:04X}, which can make two names look the same"
    )]
    Invisible { name: String, code: u32 },
    #[error("name {name:?} contains U+{code:04X}, which looks like a path separator")]
    LookAlike { name: String, code: u32 },
    #[error("name {name:?} {why}")]
    NotForWindows { name: String, why: String },
    #[error("name {name:?} {why}")]
    Edge { name: String, why: String },
}

/// The name in NFC, borrowed when it already is.
pub fn nfc(text: &str) -> Cow<'_, str> {
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => Cow::Owned(text.nfc().collect()),
    }
}

/// Checks one NFC path component.
pub fn check(c: &str) -> Result<(), NameError> {
    if c.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong { bytes: c.len() });
    }
    let shown = || c.escape_debug().to_string();
    for ch in c.chars() {
        let code = ch as u32;
        if ch.is_control() {
            return Err(NameError::ControlChar {
                name: shown(),
                code,
            });
        }
        if is_bidi(ch) {
            return Err(NameError::BidiChar {
                name: shown(),
                code,
            });
        }
        if ch == '\\' {
            return Err(NameError::Backslash {
                name: c.to_string(),
            });
        }
        if is_invisible(ch) {
            return Err(NameError::Invisible {
                name: shown(),
                code,
            });
        }
        if is_separator_look_alike(ch) {
            return Err(NameError::LookAlike {
                name: shown(),
                code,
            });
        }
        if matches!(ch, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
            return Err(NameError::NotForWindows {
                name: shown(),
                why: format!("contains {ch:?}, which Windows cannot store in a name"),
            });
        }
    }
    if c.ends_with('.') || c.ends_with(is_space) {
        return Err(NameError::NotForWindows {
            name: shown(),
            why: "ends with a dot or a space, which Windows drops".to_string(),
        });
    }
    if c.starts_with(is_space) {
        return Err(NameError::Edge {
            name: shown(),
            why: "starts with a space".to_string(),
        });
    }
    if c.starts_with('-') {
        return Err(NameError::Edge {
            name: shown(),
            why: "starts with '-', which a script would read as an option".to_string(),
        });
    }
    if is_windows_device(c) {
        return Err(NameError::NotForWindows {
            name: shown(),
            why: "is a Windows device name (CON, PRN, AUX, NUL, COM1–9, LPT1–9)".to_string(),
        });
    }
    Ok(())
}

fn is_space(ch: char) -> bool {
    ch.is_whitespace()
}

fn is_bidi(ch: char) -> bool {
    matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Characters that draw nothing, or draw as a plain space or line break, so
/// two different names would look the same. Variation selectors stay
/// allowed: Japanese personal and place names use them (異体字).
fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E007F}'
    ) || (ch.is_whitespace() && !matches!(ch, ' ' | '\u{3000}'))
}

/// Characters drawn like `/` or `\`: a listing would show a directory that
/// is not there.
fn is_separator_look_alike(ch: char) -> bool {
    matches!(
        ch,
        '\u{2044}'
            | '\u{2215}'
            | '\u{2216}'
            | '\u{27CB}'
            | '\u{27CD}'
            | '\u{29F5}'
            | '\u{29F8}'
            | '\u{29F9}'
            | '\u{FE68}'
            | '\u{FF0F}'
            | '\u{FF3C}'
    )
}

fn is_windows_device(c: &str) -> bool {
    let stem = c.split('.').next().unwrap_or(c).trim_end();
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let mut chars = upper.chars();
            let prefix: String = chars.by_ref().take(3).collect();
            let rest: String = chars.collect();
            (prefix == "COM" || prefix == "LPT")
                && matches!(
                    rest.as_str(),
                    "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
                )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_names_pass() {
        for n in [
            "住民基本台帳情報_032018_20261121.csv",
            "国保　異動.csv",
            "葛\u{E0100}飾区.txt",
            "a.b.c",
            "README",
        ] {
            assert_eq!(check(&nfc(n)), Ok(()), "{n}");
        }
    }

    #[test]
    fn nfd_becomes_nfc() {
        let nfd = "\u{30AB}\u{3099}.csv"; // カ + combining dakuten
        assert_eq!(nfc(nfd), "\u{30AC}.csv"); // ガ
        assert!(matches!(nfc("abc"), Cow::Borrowed(_)));
    }

    #[test]
    fn confusables_are_refused() {
        for (n, what) in [
            ("a\u{2215}b", "look"),
            ("a\u{FF0F}b", "look"),
            ("a\u{200B}b", "invisible"),
            ("\u{FEFF}a", "invisible"),
            ("a\u{2028}b", "control-or-invisible"),
            ("a.csv.", "windows"),
            ("a.csv ", "windows"),
            (" a.csv", "edge"),
            ("-rf", "edge"),
            ("a:b", "windows"),
            ("a?b", "windows"),
            ("CON", "windows"),
            ("nul.txt", "windows"),
            ("com3.csv", "windows"),
            ("LPT9", "windows"),
        ] {
            assert!(check(&nfc(n)).is_err(), "{n:?} ({what}) must be refused");
        }
        assert_eq!(check("COM10"), Ok(()));
        assert_eq!(check("CONSOLE.txt"), Ok(()));
    }
}
