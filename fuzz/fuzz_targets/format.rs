//! The 連携 format check on arbitrary bytes under rule sets picked by the
//! first bytes. Properties: never panics; a reported problem is inside the
//! file (its byte offset at most the file's length, its line at least 1
//! and at most one past the number of lines).
#![no_main]

use libfuzzer_sys::fuzz_target;
use renkei_checks::format::{Encoding, Field, Format, FormatError, LineEnding, Records, validate};

fn format_of(pick: &[u8]) -> Format {
    let encoding = [Encoding::Utf8, Encoding::ShiftJis, Encoding::Cp932][pick[0] as usize % 3];
    let line_ending = [None, Some(LineEnding::Crlf), Some(LineEnding::Lf)][pick[1] as usize % 3];
    let len = 4 + pick[3] as usize % 60;
    let records = match pick[2] % 4 {
        0 => Records::Lines,
        1 => Records::Csv {
            columns: 1 + pick[3] as usize % 8,
        },
        2 => Records::Fixed {
            length: len,
            kind: Field { start: 0, len: 1 },
            header: None,
            data: "D".into(),
            trailer: None,
        },
        _ => Records::Fixed {
            length: len,
            kind: Field { start: 0, len: 1 },
            header: Some("H".into()),
            data: "D".into(),
            trailer: Some((
                "T".into(),
                Field {
                    start: 1,
                    len: (pick[3] as usize % 3) + 1,
                },
            )),
        },
    };
    Format {
        encoding,
        line_ending,
        records,
        max_line: 8 + pick[3] as usize * 4,
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (pick, file) = data.split_at(4);
    let format = format_of(pick);
    let mut source = file;
    if let Err(FormatError::Invalid(p)) = validate(&mut source, &format) {
        let lines = file.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert!(
            p.byte <= file.len() as u64,
            "byte {} of {}",
            p.byte,
            file.len()
        );
        assert!(
            p.line >= 1 && p.line <= lines + 1,
            "line {} of {lines}",
            p.line
        );
    }
});
