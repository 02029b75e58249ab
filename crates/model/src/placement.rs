//! The names one hand-off uses at its destination, the same for a local
//! spool directory (`route::spool`) and a remote SFTP server
//! (`remote::push`): both follow one placement protocol (write `.part`,
//! link the `.sent` receipt, rename to the final name, trigger file), and
//! after a crash both are swept by the same reading of these names.
//!
//! Names starting with [`WORKING_PREFIX`] in a destination belong to
//! renkei; ingests must ignore dot-files.

/// What starts every working file's name.
pub const WORKING_PREFIX: &str = ".renkei-";

/// What happened at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// Written now.
    Written,
    /// It was already there (an earlier attempt placed it before a crash,
    /// or the same bytes were delivered under that name before).
    AlreadyThere,
}

/// The tag of a hand-off: unique per (route, object), it names the hidden
/// working files.
pub fn tag(route: &str, object: &str) -> String {
    format!("{route}-{object}")
}

/// The file being written: `.renkei-TAG.part`.
pub fn part_name(tag: &str) -> String {
    format!("{WORKING_PREFIX}{tag}.part")
}

/// The receipt, a hard link of the finished `.part`: `.renkei-TAG.sent`.
pub fn receipt_name(tag: &str) -> String {
    format!("{WORKING_PREFIX}{tag}.sent")
}

/// The empty file that tells the ingest `name` is complete.
pub fn trigger_name(name: &str, suffix: &str) -> String {
    format!("{name}{suffix}")
}

/// A working file of one route, read back from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Working<'a> {
    /// `.part` of this object.
    Part(&'a str),
    /// `.sent` receipt of this object.
    Receipt(&'a str),
}

/// Reads `name` as a working file of `route`; `None` for anything else
/// (another route's, even one whose name extends this one's, or a file
/// that is not renkei's).
pub fn parse_working<'a>(route: &str, name: &'a str) -> Option<Working<'a>> {
    let rest = name
        .strip_prefix(WORKING_PREFIX)?
        .strip_prefix(route)?
        .strip_prefix('-')?;
    let working = match (rest.strip_suffix(".sent"), rest.strip_suffix(".part")) {
        (Some(o), _) => Working::Receipt(o),
        (_, Some(o)) => Working::Part(o),
        _ => return None,
    };
    let (Working::Part(object) | Working::Receipt(object)) = working;
    // Object ids are hex: a dash means another route's name went on.
    (!object.contains('-')).then_some(working)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        let t = tag("juki-up", "0a1b");
        assert_eq!(part_name(&t), ".renkei-juki-up-0a1b.part");
        assert_eq!(receipt_name(&t), ".renkei-juki-up-0a1b.sent");
        assert_eq!(
            parse_working("juki-up", &part_name(&t)),
            Some(Working::Part("0a1b"))
        );
        assert_eq!(
            parse_working("juki-up", &receipt_name(&t)),
            Some(Working::Receipt("0a1b"))
        );
        // A route whose name extends this one's is not this one's.
        assert_eq!(parse_working("juki", &part_name(&t)), None);
        assert_eq!(parse_working("juki-up", "JUKI_032018.csv"), None);
        assert_eq!(trigger_name("a.csv", ".end"), "a.csv.end");
    }
}
