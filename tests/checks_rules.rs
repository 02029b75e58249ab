//! The arrival checks' content rules end to end: 連携 formats (Shift_JIS
//! fixed-length header / data / trailer), name templates, allowed types,
//! ZIP archives (bombs, encryption), and a file renamed into a checked
//! name. No scanner: the `[[check]]` rules alone hold the files they
//! select.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::time::Duration;

use common::checks::{check_receipt, outcome_for, spool, state_of};
use common::{Daemon, default_tenants, eventually};
use serde_json::Value;

const UP: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*.csv" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
retry = { attempts = 3, first = "200ms", max = "1s" }
"#;

const JUKI_RULES: &str = r#"
[[check]]
name = "juki-fixed"
box = "inbox"
patterns = ["JUKI_*"]
types = ["text"]
name_template = "JUKI_@市町村コード@_@日時@.DAT"
format = { encoding = "shift_jis", line_ending = "crlf", records = "fixed", record_length = 24, kind_field = [0, 1], header = "1", data = "2", trailer = "8", count_field = [1, 6] }

[[check]]
name = "pdf-only"
box = "inbox"
patterns = ["*.pdf"]
types = ["pdf"]
"#;

/// 盛岡 and 山田太郎 in Shift_JIS.
const MORIOKA: &[u8] = &[0x90, 0xB7, 0x89, 0xAA];
const YAMADA: &[u8] = &[0x8E, 0x52, 0x93, 0x63, 0x91, 0xBE, 0x98, 0x59];

fn record(kind: u8, body: &[u8], len: usize) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend_from_slice(body);
    r.resize(len, b' ');
    r.extend_from_slice(b"\r\n");
    r
}

/// Header, `people` data records and a trailer saying `count`.
fn juki(people: usize, count: &str) -> Vec<u8> {
    let mut f = record(b'1', &[b"032018".as_slice(), MORIOKA].concat(), 24);
    for _ in 0..people {
        f.extend(record(b'2', YAMADA, 24));
    }
    f.extend(record(b'8', count.as_bytes(), 24));
    f
}

#[test]
fn linkage_files_are_validated_and_a_refused_one_says_where_in_its_receipt() {
    // No scanner: the [[check]] rules alone hold the selected files.
    let d = Daemon::start_with(default_tenants(), &format!("{UP}\n{JUKI_RULES}"));
    let ok = "JUKI_032018_20261201093000.DAT";
    let count = "JUKI_032018_20261201093001.DAT";
    let byte = "JUKI_032018_20261201093002.DAT";
    let length = "JUKI_032018_20261201093003.DAT";
    let other_code = "JUKI_011002_20261201093004.DAT";
    let bad_time = "JUKI_032018_20261341093000.DAT";
    fs::write(d.work.join(ok), juki(2, "000002")).unwrap();
    fs::write(d.work.join(count), juki(2, "000003")).unwrap();
    let mut invalid = juki(2, "000002");
    invalid[24 + 2 + 3] = 0x80; // a lone byte no Shift_JIS character starts with
    fs::write(d.work.join(byte), invalid).unwrap();
    let mut short = juki(1, "000001");
    short.extend(record(b'2', YAMADA, 20));
    fs::write(d.work.join(length), short).unwrap();
    fs::write(d.work.join(other_code), juki(1, "000001")).unwrap();
    fs::write(d.work.join(bad_time), juki(1, "000001")).unwrap();
    let mut exe = vec![0u8; 512];
    exe[..2].copy_from_slice(b"MZ");
    exe[0x3C] = 0x80;
    exe[0x80..0x84].copy_from_slice(b"PE\0\0");
    fs::write(d.work.join("tsuchi.pdf"), &exe).unwrap();
    fs::write(
        d.work.join("real.pdf"),
        b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n",
    )
    .unwrap();
    let names = [
        ok,
        count,
        byte,
        length,
        other_code,
        bad_time,
        "tsuchi.pdf",
        "real.pdf",
    ];
    let batch: String = names
        .iter()
        .map(|n| format!("put {n} /inbox/{n}\n"))
        .collect();
    d.sftp_ok("032018-juki", &batch);
    for n in names {
        eventually(&format!("{n} checked"), Duration::from_secs(30), || {
            (!outcome_for(&d, n).is_empty()).then_some(())
        });
    }
    let outcome = |n: &str| outcome_for(&d, n)[0].clone();
    assert_eq!(outcome(ok)["event"], "file_checked");
    assert_eq!(outcome("real.pdf")["event"], "file_checked");
    for n in [count, byte, length, other_code, bad_time, "tsuchi.pdf"] {
        assert_eq!(outcome(n)["event"], "file_rejected", "{n}: {}", outcome(n));
    }
    let why = |n: &str| outcome(n)["reason"].as_str().unwrap().to_string();
    assert!(
        why(count).contains("4行目") && why(count).contains("line 4"),
        "{}",
        why(count)
    );
    assert!(
        why(count).contains('3') && why(count).contains('2'),
        "{}",
        why(count)
    );
    assert!(
        why(byte).contains("line 2") && why(byte).contains("byte 29"),
        "{}",
        why(byte)
    );
    assert!(
        why(length).contains("line 4") && why(length).contains("24"),
        "{}",
        why(length)
    );
    assert!(
        why(other_code).contains("JUKI_@市町村コード@_@日時@.DAT"),
        "{}",
        why(other_code)
    );
    assert!(why(bad_time).contains("name"), "{}", why(bad_time));
    assert!(
        why("tsuchi.pdf").contains("executable"),
        "{}",
        why("tsuchi.pdf")
    );

    // The sender reads the same in its receipt, and the file is nowhere.
    let r = check_receipt(&d, "032018-juki", count).expect("a receipt");
    assert!(r.contains("却下") && r.contains("line 4"), "{r}");
    let ls = d.sftp_ok("032018-juki", "ls -1 /inbox\n");
    assert!(
        ls.contains(ok) && !ls.contains(count) && !ls.contains("tsuchi.pdf"),
        "{ls}"
    );
    // Files no rule selects are not held at all (no [scan]).
    fs::write(d.work.join("memo.txt"), b"hello").unwrap();
    d.sftp_ok("032018-juki", "put memo.txt /inbox/memo.txt\n");
    assert_eq!(
        state_of(&d, "032018", "memo.txt").as_deref(),
        Some("stored")
    );
    let held: Vec<Value> =
        serde_json::from_str(&d.ctl_ok(&["quarantine", "list", "--json"])).unwrap();
    assert_eq!(held.len(), 6, "{held:?}");
    assert!(held.iter().all(|h| h["state"] == "rejected"));
}

/// Writes ZIP files with Python's zipfile: a plain one, a bomb (8 MiB of
/// zeros deflated) and one whose entry claims to be encrypted.
fn make_zips(dir: &std::path::Path) {
    let script = r#"
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + '/plain.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.csv', '032018,1\r\n' * 100)
with zipfile.ZipFile(d + '/bomb.zip', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('zeros.bin', b'\0' * (8 << 20))
with zipfile.ZipFile(d + '/locked.zip', 'w', zipfile.ZIP_STORED) as z:
    z.writestr('secret.csv', '1,2\r\n')
b = bytearray(open(d + '/locked.zip', 'rb').read())
b[6] |= 1
c = b.find(b'PK\x01\x02')
b[c + 8] |= 1
open(d + '/locked.zip', 'wb').write(b)
"#;
    let out = std::process::Command::new(common::PYTHON)
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn zip_bombs_and_encrypted_archives_are_rejected_plain_archives_pass() {
    let rule = "[[check]]\nname = \"archives\"\nbox = \"inbox\"\npatterns = [\"*.zip\"]\ntypes = [\"archive\"]\n";
    let d = Daemon::start_with(default_tenants(), rule);
    make_zips(&d.work);
    d.sftp_ok(
        "032018-juki",
        "put plain.zip /inbox/plain.zip\nput bomb.zip /inbox/bomb.zip\nput locked.zip /inbox/locked.zip\n",
    );
    for n in ["plain.zip", "bomb.zip", "locked.zip"] {
        eventually(&format!("{n} checked"), Duration::from_secs(30), || {
            (!outcome_for(&d, n).is_empty()).then_some(())
        });
    }
    assert_eq!(outcome_for(&d, "plain.zip")[0]["event"], "file_checked");
    let bomb = &outcome_for(&d, "bomb.zip")[0];
    assert_eq!(bomb["event"], "file_rejected");
    assert!(
        bomb["reason"]
            .as_str()
            .unwrap()
            .contains("archive_max_ratio"),
        "{bomb}"
    );
    let locked = &outcome_for(&d, "locked.zip")[0];
    assert_eq!(locked["event"], "file_rejected");
    assert!(
        locked["reason"].as_str().unwrap().contains("encrypted"),
        "{locked}"
    );
}

#[test]
fn a_file_renamed_into_a_checked_name_is_checked_under_that_name() {
    // The batch-client habit: upload under a temporary name, rename when
    // complete. The final name's rules apply to the final name.
    let route = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "JUKI_*" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
"#;
    let d = Daemon::start_with(default_tenants(), &format!("{route}\n{JUKI_RULES}"));
    let good = "JUKI_032018_20261201100000.DAT";
    let bad = "JUKI_032018_20261201100001.DAT";
    fs::write(d.work.join("good.tmp"), juki(2, "000002")).unwrap();
    fs::write(d.work.join("bad.tmp"), juki(2, "000005")).unwrap();
    d.sftp_ok(
        "032018-juki",
        &format!(
            "put good.tmp /inbox/good.tmp\nrename /inbox/good.tmp /inbox/{good}\nput bad.tmp /inbox/bad.tmp\nrename /inbox/bad.tmp /inbox/{bad}\n"
        ),
    );
    let dir = spool(&d, "032018");
    eventually("the good file delivered", Duration::from_secs(30), || {
        dir.join(format!("{good}.end")).exists().then_some(())
    });
    let rejected = d.wait_event("the bad file rejected under its final name", |e| {
        e["event"] == "file_rejected" && e["path"] == bad
    });
    assert!(
        rejected["reason"].as_str().unwrap().contains("line 4"),
        "{rejected}"
    );
    assert!(!dir.join(bad).exists());
    let ls = d.sftp_ok("032018-zei", "ls -1 /inbox\n");
    assert!(
        ls.contains(good) && !ls.contains(bad) && !ls.contains(".tmp"),
        "{ls}"
    );
}

#[test]
fn the_type_check_sees_a_program_past_the_head_of_a_text_file_and_inside_a_document() {
    // Finding 14: an ELF after the first 8 KiB of a .csv, and a PDF whose
    // header is followed by an ELF, are refused; a long text file passes.
    let rules = "[[check]]\nname = \"every-file\"\nbox = \"inbox\"\npatterns = [\"*\"]\ntypes = [\"text\", \"pdf\"]\n";
    let d = Daemon::start_with(default_tenants(), rules);
    let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00";
    let mut late = "住所,氏名\r\n".repeat(1000).into_bytes();
    assert!(late.len() > 8 << 10);
    let text_only = late.clone();
    late.extend_from_slice(elf);
    let polyglot = [b"%PDF-1.7\n".as_slice(), elf].concat();
    fs::write(d.work.join("late.csv"), &late).unwrap();
    fs::write(d.work.join("text.csv"), &text_only).unwrap();
    fs::write(d.work.join("poly.pdf"), &polyglot).unwrap();
    d.sftp_ok(
        "032018-juki",
        "put late.csv /inbox/late.csv\nput text.csv /inbox/text.csv\nput poly.pdf /inbox/poly.pdf\n",
    );
    let outcome = |name: &str| {
        eventually(name, Duration::from_secs(30), || {
            outcome_for(&d, name).into_iter().next()
        })
    };
    let late = outcome("late.csv");
    assert_eq!(late["event"], "file_rejected", "{late}");
    assert!(late["reason"].as_str().unwrap().contains("NUL"), "{late}");
    let poly = outcome("poly.pdf");
    assert_eq!(poly["event"], "file_rejected", "{poly}");
    assert!(poly["reason"].as_str().unwrap().contains("ELF"), "{poly}");
    assert_eq!(outcome("text.csv")["event"], "file_checked");
}
