//! A 住民基本台帳-style fixed-length file in Shift_JIS (header `1`, data
//! `2`, trailer `8` with the data count), CSV and UTF-8 files, and each
//! way they can be wrong.

use super::*;

/// 盛岡 in Shift_JIS.
const MORIOKA: &[u8] = &[0x90, 0xB7, 0x89, 0xAA];
/// 山田太郎 in Shift_JIS.
const YAMADA: &[u8] = &[0x8E, 0x52, 0x93, 0x63, 0x91, 0xBE, 0x98, 0x59];
/// ﾔﾏﾀﾞ (half-width katakana).
const KANA: &[u8] = &[0xD4, 0xCF, 0xC0, 0xDE];
/// ① (NEC special character, CP932 only).
const CIRCLED_ONE: &[u8] = &[0x87, 0x40];
/// 髙 (IBM extension, CP932 only).
const TAKA: &[u8] = &[0xFB, 0xFC];

const LEN: usize = 24;

/// A record: kind byte, then `body`, padded with spaces to `LEN` bytes.
fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend_from_slice(body);
    r.resize(LEN, b' ');
    r
}

fn juki_format(encoding: Encoding) -> Format {
    Format {
        encoding,
        line_ending: Some(LineEnding::Crlf),
        records: Records::Fixed {
            length: LEN,
            kind: Field { start: 0, len: 1 },
            header: Some("1".into()),
            data: "2".into(),
            trailer: Some(("8".into(), Field { start: 1, len: 6 })),
        },
        max_line: 1024,
    }
}

/// Header, the data records, and a trailer saying `count`.
fn juki_file(data: &[Vec<u8>], count: &str) -> Vec<u8> {
    let mut lines = vec![record(b'1', &[b"032018".as_slice(), MORIOKA].concat())];
    lines.extend(data.iter().cloned());
    lines.push(record(b'8', count.as_bytes()));
    lines
        .into_iter()
        .flat_map(|mut l| {
            l.extend_from_slice(b"\r\n");
            l
        })
        .collect()
}

fn check(file: &[u8], format: &Format) -> Result<(), Problem> {
    match validate(&mut std::io::Cursor::new(file), format) {
        Ok(()) => Ok(()),
        Err(FormatError::Invalid(p)) => Err(p),
        Err(e) => panic!("read error: {e}"),
    }
}

fn two_people() -> Vec<Vec<u8>> {
    vec![record(b'2', &[YAMADA, KANA].concat()), record(b'2', YAMADA)]
}

#[test]
fn a_valid_shift_jis_file_with_header_data_and_trailer_passes() {
    let file = juki_file(&two_people(), "000002");
    assert_eq!(check(&file, &juki_format(Encoding::ShiftJis)), Ok(()));
    assert_eq!(check(&file, &juki_format(Encoding::Cp932)), Ok(()));
}

#[test]
fn a_wrong_trailer_count_is_reported_at_the_count() {
    let file = juki_file(&two_people(), "000003");
    let p = check(&file, &juki_format(Encoding::ShiftJis)).unwrap_err();
    assert_eq!(p.line, 4);
    assert_eq!(
        p.byte,
        3 * (LEN as u64 + 2) + 1,
        "the count field of line 4"
    );
    assert!(
        p.en.contains("says 000003") && p.en.contains("2 data records"),
        "{p}"
    );
    assert!(p.ja.contains("トレーラの件数"), "{p}");
    let shown = p.to_string();
    assert!(
        shown.contains("4行目") && shown.contains("line 4"),
        "{shown}"
    );
}

#[test]
fn an_invalid_byte_is_reported_with_its_line_and_offset() {
    let mut bad = record(b'2', YAMADA);
    bad[3] = 0x80; // a lone 0x80 where a character starts
    let file = juki_file(&[two_people()[0].clone(), bad], "000002");
    let p = check(&file, &juki_format(Encoding::ShiftJis)).unwrap_err();
    assert_eq!((p.line, p.byte), (3, 2 * (LEN as u64 + 2) + 3), "{p}");
    assert!(p.en.contains("0x80") && p.en.contains("Shift_JIS"), "{p}");
    // A lead byte cut off by the end of the line.
    let mut cut = record(b'2', YAMADA);
    cut[LEN - 1] = 0x8E;
    let file = juki_file(&[cut], "000001");
    let p = check(&file, &juki_format(Encoding::ShiftJis)).unwrap_err();
    assert_eq!(
        (p.line, p.byte),
        (2, (LEN as u64 + 2) + LEN as u64 - 1),
        "{p}"
    );
}

#[test]
fn windows_extensions_pass_as_cp932_and_fail_as_shift_jis() {
    for ext in [CIRCLED_ONE, TAKA, &[0xF0, 0x40][..]] {
        let file = juki_file(&[record(b'2', ext)], "000001");
        assert_eq!(check(&file, &juki_format(Encoding::Cp932)), Ok(()));
        let p = check(&file, &juki_format(Encoding::ShiftJis)).unwrap_err();
        assert_eq!((p.line, p.byte), (2, (LEN as u64 + 2) + 1), "{p}");
    }
}

#[test]
fn a_record_of_the_wrong_length_or_kind_is_refused() {
    let mut long = record(b'2', YAMADA);
    long.push(b' ');
    let p = check(
        &juki_file(&[long], "000001"),
        &juki_format(Encoding::ShiftJis),
    )
    .unwrap_err();
    assert_eq!(p.line, 2);
    assert!(p.en.contains("25 bytes long, expected 24"), "{p}");
    let p = check(
        &juki_file(&[record(b'5', YAMADA)], "000001"),
        &juki_format(Encoding::ShiftJis),
    )
    .unwrap_err();
    assert!(p.en.contains("record kind \"5\""), "{p}");
}

#[test]
fn header_and_trailer_must_be_first_and_last() {
    let format = juki_format(Encoding::ShiftJis);
    // No header: the data record comes first.
    let file = juki_file(&two_people(), "000002");
    let headless = &file[LEN + 2..];
    let p = check(headless, &format).unwrap_err();
    assert_eq!(p.line, 1);
    assert!(p.en.contains("header"), "{p}");
    // No trailer.
    let tailless = &file[..file.len() - (LEN + 2)];
    let p = check(tailless, &format).unwrap_err();
    assert!(p.en.contains("no trailer"), "{p}");
    // A record after the trailer.
    let mut after = file.clone();
    after.extend_from_slice(&record(b'2', YAMADA));
    after.extend_from_slice(b"\r\n");
    let p = check(&after, &format).unwrap_err();
    assert_eq!(p.line, 5);
    assert!(p.en.contains("follows the trailer"), "{p}");
}

#[test]
fn line_endings_must_be_the_declared_ones_and_the_last_line_must_end() {
    let format = juki_format(Encoding::ShiftJis);
    let mut file = juki_file(&two_people(), "000002");
    // The second line ends with LF only.
    let at = 2 * (LEN + 2) - 2;
    file.remove(at);
    let p = check(&file, &format).unwrap_err();
    assert_eq!(p.line, 2);
    assert!(p.en.contains("ends with LF, expected CRLF"), "{p}");
    let mut file = juki_file(&two_people(), "000002");
    file.truncate(file.len() - 2);
    let p = check(&file, &format).unwrap_err();
    assert!(p.en.contains("no line ending"), "{p}");
}

#[test]
fn csv_lines_must_have_the_declared_columns() {
    let format = Format {
        encoding: Encoding::Utf8,
        line_ending: None,
        records: Records::Csv { columns: 3 },
        max_line: 1024,
    };
    let good = "032018,\"盛岡市, 岩手県\",1\n011002,札幌市,2\n";
    assert_eq!(check(good.as_bytes(), &format), Ok(()));
    let bad = "032018,盛岡市,1\n011002,札幌市\n";
    let p = check(bad.as_bytes(), &format).unwrap_err();
    assert_eq!((p.line, p.byte), (2, 19));
    assert!(p.en.contains("2 columns, expected 3"), "{p}");
}

#[test]
fn invalid_utf8_is_reported_at_its_byte() {
    let format = Format {
        encoding: Encoding::Utf8,
        line_ending: Some(LineEnding::Lf),
        records: Records::Lines,
        max_line: 1024,
    };
    let mut file = "盛岡市\nabc".as_bytes().to_vec();
    file.push(0xFF);
    file.push(b'\n');
    let p = check(&file, &format).unwrap_err();
    assert_eq!((p.line, p.byte), (2, 13));
    assert!(p.en.contains("0xFF") && p.en.contains("UTF-8"), "{p}");
}

#[test]
fn a_line_longer_than_the_limit_is_refused_without_holding_it() {
    let format = Format {
        encoding: Encoding::Utf8,
        line_ending: None,
        records: Records::Lines,
        max_line: 100,
    };
    let file = vec![b'a'; 10 << 20];
    let p = check(&file, &format).unwrap_err();
    assert_eq!((p.line, p.byte), (1, 100));
    assert!(p.en.contains("longer than 100 bytes"), "{p}");
}
