//! 連携 file validation: the text encoding, the line endings and the shape
//! of each record (CSV columns, or fixed-length header / data / trailer
//! records whose trailer carries the data count). A file that fails gets
//! one [`Problem`] naming the line, the byte offset in the file and what
//! was expected against what was found, in Japanese and English, so the
//! municipality can recreate and resend it.
//!
//! Validation streams: a file is read once, a line at a time, and no line
//! longer than [`Format::max_line`] is held.

use std::io::{self, Read};

/// A text encoding a 連携 file may be declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// JIS X 0208 Shift_JIS only: the NEC and IBM extensions and the
    /// user-defined area of Windows-31J are refused.
    ShiftJis,
    /// Windows-31J (CP932): Shift_JIS with the NEC and IBM extensions and
    /// the user-defined area (外字).
    Cp932,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS",
            Encoding::Cp932 => "CP932",
        }
    }
}

/// How lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Crlf,
    Lf,
}

/// Byte positions of a field inside a fixed-length record (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub start: usize,
    pub len: usize,
}

/// What each record must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Records {
    /// Any line is a record.
    Lines,
    /// Comma-separated values with this many columns on every line
    /// (double quotes group, `""` is a quote inside them).
    Csv { columns: usize },
    /// Records of exactly `length` bytes (the line ending not counted). The
    /// `kind` field says which record it is: `header` first (if given),
    /// `data` records, `trailer` last (if given), whose `count` field holds
    /// the number of data records in decimal.
    Fixed {
        length: usize,
        kind: Field,
        header: Option<String>,
        data: String,
        trailer: Option<(String, Field)>,
    },
}

/// The declared format of a 連携 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    pub encoding: Encoding,
    /// `None`: either, as long as it is the same on every line.
    pub line_ending: Option<LineEnding>,
    pub records: Records,
    /// The longest line read; a longer one is refused (and no more of it
    /// is held than this).
    pub max_line: usize,
}

/// Why a file does not have its declared format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: u64,
    /// 0-based byte offset in the file where the problem is.
    pub byte: u64,
    /// What is wrong, in Japanese and in English.
    pub ja: String,
    pub en: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}行目 ({}バイト目): {} / line {}, byte {}: {}",
            self.line, self.byte, self.ja, self.line, self.byte, self.en
        )
    }
}

/// The file could not be read, or does not have its format.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{0}")]
    Invalid(Problem),
    #[error("reading the file failed: {0}")]
    Read(#[from] io::Error),
}

/// Where the reader is in the file.
struct Cursor {
    line: u64,
    /// Offset of the current line's first byte.
    start: u64,
}

impl Cursor {
    fn problem(&self, at: usize, ja: String, en: String) -> FormatError {
        FormatError::Invalid(Problem {
            line: self.line,
            byte: self.start + at as u64,
            ja,
            en,
        })
    }
}

/// Checks that `source` has `format` from its first byte to its last.
pub fn validate(source: &mut dyn Read, format: &Format) -> Result<(), FormatError> {
    let mut state = Shape::default();
    let mut cur = Cursor { line: 1, start: 0 };
    let mut line: Vec<u8> = Vec::new();
    let mut ending: Option<LineEnding> = format.line_ending;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        for &b in &buf[..n] {
            if b != b'\n' {
                if line.len() >= format.max_line {
                    return Err(cur.problem(
                        line.len(),
                        format!("行が長すぎます ({} バイトまで)", format.max_line),
                        format!("the line is longer than {} bytes", format.max_line),
                    ));
                }
                line.push(b);
                continue;
            }
            let this = if line.last() == Some(&b'\r') {
                line.pop();
                LineEnding::Crlf
            } else {
                LineEnding::Lf
            };
            check_ending(&cur, line.len(), &mut ending, this)?;
            check_line(&cur, &line, format, &mut state)?;
            cur.start += line.len() as u64 + if this == LineEnding::Crlf { 2 } else { 1 };
            cur.line += 1;
            line.clear();
        }
    }
    if !line.is_empty() {
        // A last line without its ending: the format says every line ends.
        return Err(cur.problem(
            line.len(),
            "最終行に改行がありません".into(),
            "the last line has no line ending".into(),
        ));
    }
    state.finish(&cur, &format.records)
}

fn check_ending(
    cur: &Cursor,
    len: usize,
    expected: &mut Option<LineEnding>,
    found: LineEnding,
) -> Result<(), FormatError> {
    let name = |e: LineEnding| match e {
        LineEnding::Crlf => "CRLF",
        LineEnding::Lf => "LF",
    };
    match *expected {
        None => {
            *expected = Some(found);
            Ok(())
        }
        Some(e) if e == found => Ok(()),
        Some(e) => Err(cur.problem(
            len,
            format!("改行コードが {} ではなく {} です", name(e), name(found)),
            format!("the line ends with {}, expected {}", name(found), name(e)),
        )),
    }
}

fn check_line(
    cur: &Cursor,
    line: &[u8],
    format: &Format,
    state: &mut Shape,
) -> Result<(), FormatError> {
    if let Some(at) = invalid_at(line, format.encoding) {
        let name = format.encoding.name();
        return Err(cur.problem(
            at,
            format!(
                "{name} として正しくないバイト 0x{:02X} があります",
                line[at]
            ),
            format!("byte 0x{:02X} is not valid {name}", line[at]),
        ));
    }
    match &format.records {
        Records::Lines => Ok(()),
        Records::Csv { columns } => {
            let found = csv_columns(line);
            if found == *columns {
                Ok(())
            } else {
                Err(cur.problem(
                    0,
                    format!("項目数が {columns} ではなく {found} です"),
                    format!("{found} columns, expected {columns}"),
                ))
            }
        }
        Records::Fixed { .. } => state.record(cur, line, &format.records),
    }
}

/// Offset of the first byte that is not valid in `encoding`.
fn invalid_at(line: &[u8], encoding: Encoding) -> Option<usize> {
    match encoding {
        Encoding::Utf8 => std::str::from_utf8(line).err().map(|e| e.valid_up_to()),
        Encoding::ShiftJis | Encoding::Cp932 => sjis_invalid_at(line, encoding == Encoding::Cp932),
    }
}

fn sjis_invalid_at(line: &[u8], cp932: bool) -> Option<usize> {
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        match b {
            0x00..=0x7F | 0xA1..=0xDF => i += 1,
            0x81..=0x9F | 0xE0..=0xFC => {
                // JIS X 0208 leads are 0x81-0x84, 0x88-0x9F, 0xE0-0xEA;
                // the rest are the NEC/IBM extensions and 外字 of CP932.
                let strict = matches!(b, 0x81..=0x84 | 0x88..=0x9F | 0xE0..=0xEA);
                if !cp932 && !strict {
                    return Some(i);
                }
                match line.get(i + 1) {
                    Some(0x40..=0x7E | 0x80..=0xFC) => i += 2,
                    _ => return Some(i),
                }
            }
            _ => return Some(i),
        }
    }
    None
}

/// Columns of one CSV line: commas outside double quotes, plus one.
fn csv_columns(line: &[u8]) -> usize {
    let mut quoted = false;
    let mut columns = 1;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => columns += 1,
            _ => {}
        }
    }
    columns
}

/// Where a fixed-length file is: before its header, among its data, or
/// past its trailer.
#[derive(Default)]
struct Shape {
    header_seen: bool,
    data: u64,
    trailer_seen: bool,
}

impl Shape {
    fn record(&mut self, cur: &Cursor, line: &[u8], records: &Records) -> Result<(), FormatError> {
        let Records::Fixed {
            length,
            kind,
            header,
            data,
            trailer,
        } = records
        else {
            return Ok(());
        };
        if line.len() != *length {
            return Err(cur.problem(
                0,
                format!(
                    "レコード長が {length} バイトではなく {} バイトです",
                    line.len()
                ),
                format!("the record is {} bytes long, expected {length}", line.len()),
            ));
        }
        if self.trailer_seen {
            return Err(cur.problem(
                0,
                "トレーラレコードの後にレコードがあります".into(),
                "a record follows the trailer record".into(),
            ));
        }
        let code = field(line, *kind);
        let first = cur.line == 1;
        if let Some(h) = header {
            if first != (code == h.as_bytes()) {
                return Err(cur.problem(
                    kind.start,
                    format!("ヘッダレコード ({h}) は先頭の 1 行だけです"),
                    format!("the header record ({h}) must be the first line and only it"),
                ));
            }
            if first {
                self.header_seen = true;
                return Ok(());
            }
        }
        if code == data.as_bytes() {
            self.data += 1;
            return Ok(());
        }
        if let Some((t, count)) = trailer
            && code == t.as_bytes()
        {
            self.trailer_seen = true;
            let text = String::from_utf8_lossy(field(line, *count))
                .trim()
                .to_string();
            return match text.parse::<u64>() {
                Ok(n) if n == self.data => Ok(()),
                _ => Err(cur.problem(
                    count.start,
                    format!(
                        "トレーラの件数が {text} ですが、データレコードは {} 件です",
                        self.data
                    ),
                    format!(
                        "the trailer says {text} records, the file has {} data records",
                        self.data
                    ),
                )),
            };
        }
        Err(cur.problem(
            kind.start,
            format!(
                "レコード区分 {:?} は使えません",
                String::from_utf8_lossy(code)
            ),
            format!(
                "record kind {:?} is none of those declared",
                String::from_utf8_lossy(code)
            ),
        ))
    }

    fn finish(&self, cur: &Cursor, records: &Records) -> Result<(), FormatError> {
        if let Records::Fixed {
            header, trailer, ..
        } = records
        {
            if header.is_some() && !self.header_seen {
                return Err(cur.problem(
                    0,
                    "ヘッダレコードがありません".into(),
                    "the file has no header record".into(),
                ));
            }
            if trailer.is_some() && !self.trailer_seen {
                return Err(cur.problem(
                    0,
                    "トレーラレコードがありません".into(),
                    "the file has no trailer record".into(),
                ));
            }
        }
        Ok(())
    }
}

fn field(line: &[u8], f: Field) -> &[u8] {
    let end = (f.start + f.len).min(line.len());
    line.get(f.start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests;
