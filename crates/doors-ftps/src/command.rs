//! One FTP command line: a verb of three or four letters and its
//! argument (RFC 959 §4.1, RFC 2389, RFC 3659, RFC 4217).
//!
//! Names are UTF-8 (RFC 2640 and `OPTS UTF8 ON`). An argument that is
//! not UTF-8 is refused as such, never guessed at: a Shift_JIS name read
//! as something else would be stored under a name its sender never
//! wrote (docs/ftps.md, "Names").

/// A parsed command.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Command {
    /// Upper-case verb, `PASS` and the like included.
    pub verb: String,
    /// Everything after the first space, as sent (names may start or end
    /// with spaces).
    pub arg: String,
}

/// Why a line is not a command.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum BadCommand {
    #[error("an empty command line")]
    Empty,
    #[error("{0:?} is not an FTP command")]
    Verb(String),
    #[error("the argument of {verb} is not UTF-8 (a Shift_JIS client? set it to UTF-8)")]
    NotUtf8 { verb: String },
    #[error("a control character in the argument of {verb}")]
    Control { verb: String },
}

/// Parses a line without its line end.
pub(super) fn parse(line: &[u8]) -> Result<Command, BadCommand> {
    let (verb, arg) = match line.iter().position(|b| *b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    if verb.is_empty() {
        return Err(BadCommand::Empty);
    }
    if verb.len() > 4 || !verb.iter().all(u8::is_ascii_alphabetic) {
        let shown: String = String::from_utf8_lossy(&verb[..verb.len().min(16)]).into_owned();
        return Err(BadCommand::Verb(shown));
    }
    let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
    let Ok(arg) = std::str::from_utf8(arg) else {
        return Err(BadCommand::NotUtf8 { verb });
    };
    // RFC 959's Telnet IAC sequences and NULs have no place in a name.
    if arg.chars().any(|c| c.is_control()) {
        return Err(BadCommand::Control { verb });
    }
    Ok(Command {
        verb,
        arg: arg.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_arguments() {
        let c = parse(b"stor /inbox/\xe4\xbd\x8f\xe6\xb0\x91 a.csv").unwrap();
        assert_eq!(c.verb, "STOR");
        assert_eq!(c.arg, "/inbox/住民 a.csv");
        assert_eq!(parse(b"PWD").unwrap().arg, "");
        assert_eq!(parse(b"CWD  lead").unwrap().arg, " lead");
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b""), Err(BadCommand::Empty));
        // A well-formed unknown verb parses; the session answers 502.
        assert_eq!(parse(b"GET / HTTP/1.1").unwrap().verb, "GET");
        assert!(matches!(parse(b"CONNECT x"), Err(BadCommand::Verb(_))));
        assert!(matches!(parse(b"\x16\x03\x01"), Err(BadCommand::Verb(_))));
        // 「住民」 in Shift_JIS.
        assert_eq!(
            parse(b"STOR \x8f\x5a\x96\xaf.csv"),
            Err(BadCommand::NotUtf8 {
                verb: "STOR".into()
            })
        );
        assert!(matches!(
            parse(b"DELE a\x00b"),
            Err(BadCommand::Control { .. })
        ));
    }
}
