//! What a file is, decided from its first bytes (magic numbers, with the
//! maintained `infer` crate), never from its name: a file whose content
//! contradicts its name (an executable named `.csv`) is refused, and so is
//! an encrypted ZIP, which no scanner can look into.

/// How many leading bytes the rules look at.
pub const HEAD: usize = 8 << 10;

/// Names that promise text: 連携 files are CSV, fixed-length or XML text.
const TEXT_EXTENSIONS: &[&str] = &["csv", "tsv", "txt", "dat", "xml", "json", "fix", "tab"];

/// What the first bytes say a file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// No known signature and no NUL byte: text of some encoding.
    Text,
    /// A known binary format, by MIME type (`application/x-msdownload`…).
    Binary {
        mime: &'static str,
        executable: bool,
    },
    /// No known signature, but NUL bytes: binary of an unknown kind.
    UnknownBinary,
}

/// The kinds a file-type rule may allow (`types = [...]` of a
/// `[[check]]`), in the order the documentation lists them.
pub const CATEGORIES: &[&str] = &[
    "text",
    "pdf",
    "image",
    "office",
    "archive",
    "executable",
    "other",
];

impl Kind {
    /// Which of [`CATEGORIES`] this kind falls in.
    pub fn category(&self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::UnknownBinary => "other",
            Kind::Binary {
                executable: true, ..
            } => "executable",
            Kind::Binary { mime, .. } => {
                if *mime == "application/pdf" {
                    "pdf"
                } else if mime.starts_with("image/") {
                    "image"
                } else if mime.contains("officedocument")
                    || mime.contains("msword")
                    || mime.contains("ms-excel")
                    || mime.contains("ms-powerpoint")
                    || mime.contains("opendocument")
                {
                    "office"
                } else if matches!(
                    *mime,
                    "application/zip"
                        | "application/gzip"
                        | "application/x-7z-compressed"
                        | "application/x-tar"
                        | "application/vnd.rar"
                        | "application/x-bzip2"
                        | "application/x-xz"
                        | "application/zstd"
                        | "application/x-lzh-compressed"
                ) {
                    "archive"
                } else {
                    "other"
                }
            }
        }
    }

    /// How the kind is shown in a refusal.
    pub fn describe(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::UnknownBinary => "binary of an unknown kind".into(),
            Kind::Binary { mime, .. } => format!("{} ({mime})", self.category()),
        }
    }
}

/// Decides what `head` (the file's first bytes, up to [`HEAD`]) is.
pub fn sniff(head: &[u8]) -> Kind {
    if let Some(t) = infer::get(head) {
        if t.matcher_type() != infer::MatcherType::Text {
            return Kind::Binary {
                mime: t.mime_type(),
                executable: t.matcher_type() == infer::MatcherType::App,
            };
        }
        return Kind::Text;
    }
    if head.contains(&0) {
        Kind::UnknownBinary
    } else {
        Kind::Text
    }
}

/// Why the content of a file named `name` contradicts its name, if it does.
pub fn contradiction(name: &str, head: &[u8]) -> Option<String> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    if !TEXT_EXTENSIONS.contains(&ext.as_str()) {
        return None;
    }
    match sniff(head) {
        Kind::Text => None,
        Kind::Binary { mime, executable } => Some(format!(
            "the name says .{ext} (text) but the content is {}{mime}",
            if executable { "an executable, " } else { "" }
        )),
        Kind::UnknownBinary => Some(format!(
            "the name says .{ext} (text) but the content holds NUL bytes (binary)"
        )),
    }
}

/// Whether `name`'s suffix promises text (`.csv`, `.dat`, …).
pub fn promises_text(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| TEXT_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Where an ELF executable starts inside `head` after its first byte, if
/// one does: its magic with a valid class, byte order and version (seven
/// fixed bytes, which ordinary document data does not hold by chance).
/// A document (PDF, image) whose first bytes carry a program is a
/// polyglot made to pass as the document.
pub fn embedded_executable(head: &[u8]) -> Option<usize> {
    head.windows(7)
        .skip(1)
        .position(|w| {
            w[..4] == *b"\x7fELF" && matches!(w[4], 1 | 2) && matches!(w[5], 1 | 2) && w[6] == 1
        })
        .map(|i| i + 1)
}

/// The offset of the first NUL byte `r` yields, counting from `start`:
/// text never holds one, so a NUL past the first [`HEAD`] bytes of a
/// file named as text is binary content the head did not show.
pub fn first_nul(r: &mut impl std::io::Read, start: u64) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = start;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if let Some(i) = buf[..n].iter().position(|b| *b == 0) {
            return Ok(Some(at + i as u64));
        }
        at += n as u64;
    }
}

/// Whether `head` starts a ZIP archive whose first entry is encrypted
/// (general purpose flag bit 0 of the local file header).
pub fn encrypted_zip(head: &[u8]) -> bool {
    head.len() >= 8 && head.starts_with(b"PK\x03\x04") && head[6] & 1 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a Windows executable: `MZ`, and the PE header offset.
    fn exe() -> Vec<u8> {
        let mut b = vec![0u8; 256];
        b[0] = b'M';
        b[1] = b'Z';
        b[0x3C] = 0x80;
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b
    }

    /// A ZIP local file header; `flags` is the general purpose bit flag.
    fn zip(flags: u8) -> Vec<u8> {
        let mut b = b"PK\x03\x04\x14\x00".to_vec();
        b.extend_from_slice(&[flags, 0x00, 0x08, 0x00]);
        b.resize(64, 0);
        b
    }

    #[test]
    fn text_named_as_text_passes() {
        let sjis_csv = [b"032018,".as_slice(), &[0x90, 0xB7, 0x89, 0xAA], b",1\r\n"].concat();
        assert_eq!(sniff(&sjis_csv), Kind::Text);
        assert_eq!(contradiction("JUKI_032018.csv", &sjis_csv), None);
        assert_eq!(
            contradiction("report.xml", b"<?xml version=\"1.0\"?><a/>"),
            None
        );
    }

    #[test]
    fn an_executable_or_a_binary_named_as_text_is_refused() {
        let why = contradiction("JUKI_032018.csv", &exe()).expect("refused");
        assert!(why.contains("executable") && why.contains(".csv"), "{why}");
        let why = contradiction("a.TXT", b"%PDF-1.7\n").expect("refused");
        assert!(why.contains("application/pdf"), "{why}");
        let why = contradiction("a.dat", b"abc\0def").expect("refused");
        assert!(why.contains("NUL"), "{why}");
        // A name that does not promise text is not judged by this rule.
        assert_eq!(contradiction("setup.exe", &exe()), None);
        assert_eq!(contradiction("no-extension", &exe()), None);
    }

    #[test]
    fn a_program_inside_a_document_and_a_nul_past_the_head_are_found() {
        let elf = b"\x7fELF\x02\x01\x01\x00\x00";
        let polyglot = [b"%PDF-1.7\n".as_slice(), elf].concat();
        assert_eq!(sniff(&polyglot).category(), "pdf");
        assert_eq!(embedded_executable(&polyglot), Some(9));
        assert_eq!(
            embedded_executable(elf),
            None,
            "an ELF itself is not embedded"
        );
        assert_eq!(embedded_executable(b"%PDF-1.7\n\x7fELF text"), None);
        let mut text = vec![b'a'; HEAD + 10];
        text.extend_from_slice(elf);
        let mut r = &text[HEAD..];
        assert_eq!(
            first_nul(&mut r, HEAD as u64).unwrap(),
            Some(HEAD as u64 + 17)
        );
        assert!(promises_text("meibo.CSV") && !promises_text("a.pdf") && !promises_text("csv"));
    }

    #[test]
    fn an_encrypted_zip_is_told_apart_from_a_plain_one() {
        assert!(encrypted_zip(&zip(0x01)));
        assert!(encrypted_zip(&zip(0x09)));
        assert!(!encrypted_zip(&zip(0x08)));
        assert!(!encrypted_zip(b"PK"));
        assert!(matches!(
            sniff(&zip(0)),
            Kind::Binary {
                mime: "application/zip",
                ..
            }
        ));
    }

    #[test]
    fn categories_are_decided_from_content() {
        assert_eq!(sniff(&exe()).category(), "executable");
        assert_eq!(sniff(b"%PDF-1.7\n").category(), "pdf");
        assert_eq!(sniff(&zip(0)).category(), "archive");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").category(), "image");
        assert_eq!(sniff("氏名,住所\r\n".as_bytes()).category(), "text");
        assert_eq!(sniff(b"\0\x01\x02").category(), "other");
        for k in [sniff(&exe()), sniff(&zip(0)), sniff(b"a")] {
            assert!(CATEGORIES.contains(&k.category()));
        }
    }
}
