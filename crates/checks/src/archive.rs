//! ZIP archives looked into before they are accepted: an encrypted entry
//! (nothing can scan it), more entries than allowed, a declared expansion
//! beyond the allowed ratio (a zip bomb), or archives nested deeper than
//! allowed are refused. Read with the maintained `zip` crate from the
//! central directory; only the first bytes of each entry are inflated, to
//! tell whether it is itself an archive, and an inner archive is read
//! into memory (at most [`INNER_MAX`] bytes) to look one level deeper.
//!
//! Declared sizes can lie; clamd inflates for real under its own limits
//! (`MaxScanSize`, `MaxFileSize`, `MaxRecursion`, with `AlertExceedsMax`),
//! which docs/checks.md asks the operator to set.

use std::io::{Cursor, Read, Seek};

/// The largest inner archive read into memory to look inside it; a larger
/// one is refused, since it cannot be looked into.
pub const INNER_MAX: u64 = 4 << 20;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// How far an archive may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Declared uncompressed bytes per archive byte.
    pub max_ratio: u64,
    /// Archives inside archives: 1 means an archive may hold files but no
    /// archive.
    pub max_depth: u32,
    pub max_entries: u64,
}

/// Whether `head` starts a ZIP archive (also .docx, .xlsx…).
pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(ZIP_MAGIC)
}

/// Looks into the ZIP archive `source` of `size` bytes; `Err` says why it
/// is refused.
pub fn inspect<R: Read + Seek>(source: R, size: u64, limits: &Limits) -> Result<(), String> {
    look(source, size, limits, 1)
}

fn look<R: Read + Seek>(source: R, size: u64, limits: &Limits, depth: u32) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(source)
        .map_err(|e| format!("the archive cannot be read ({e}), so it cannot be checked"))?;
    let entries = zip.len() as u64;
    if entries > limits.max_entries {
        return Err(format!(
            "the archive holds {entries} entries, more than the {} allowed (limits.archive_max_entries)",
            limits.max_entries
        ));
    }
    let mut declared: u64 = 0;
    let mut inner = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| format!("entry {i} of the archive cannot be read: {e}"))?;
        let name = entry
            .name()
            .map_or_else(|_| format!("#{i}"), |n| n.to_string());
        if entry.encrypted() {
            return Err(format!("entry {name:?} is encrypted: nothing can scan it"));
        }
        declared = declared.saturating_add(entry.size());
        if entry.is_file() {
            inner.push((i, name, entry.size()));
        }
    }
    if declared > size.max(1).saturating_mul(limits.max_ratio) {
        return Err(format!(
            "the archive expands to {declared} bytes from {size}: more than {} times its size (limits.archive_max_ratio)",
            limits.max_ratio
        ));
    }
    for (i, name, len) in inner {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| format!("entry {name:?} cannot be read: {e}"))?;
        let mut head = [0u8; 4];
        let got = read_up_to(&mut entry, &mut head)
            .map_err(|e| format!("entry {name:?} cannot be inflated: {e}"))?;
        if !is_zip(&head[..got]) {
            continue;
        }
        if depth >= limits.max_depth {
            return Err(format!(
                "entry {name:?} is an archive inside an archive: nested deeper than {} (limits.archive_max_depth)",
                limits.max_depth
            ));
        }
        if len > INNER_MAX {
            return Err(format!(
                "entry {name:?} is an archive of {len} bytes inside an archive: larger than the {INNER_MAX} bytes that are looked into"
            ));
        }
        let mut body = head[..got].to_vec();
        entry
            .by_ref()
            .take(INNER_MAX)
            .read_to_end(&mut body)
            .map_err(|e| format!("entry {name:?} cannot be inflated: {e}"))?;
        let n = body.len() as u64;
        look(Cursor::new(body), n, limits, depth + 1).map_err(|e| format!("in {name:?}: {e}"))?;
    }
    Ok(())
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const LIMITS: Limits = Limits {
        max_ratio: 100,
        max_depth: 2,
        max_entries: 10,
    };

    fn zip_of(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, body) in files {
            w.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .expect("entry");
            w.write_all(body).expect("body");
        }
        w.finish().expect("finish").into_inner()
    }

    fn check(bytes: &[u8]) -> Result<(), String> {
        inspect(Cursor::new(bytes), bytes.len() as u64, &LIMITS)
    }

    #[test]
    fn a_plain_archive_with_one_level_of_nesting_passes() {
        let inner = zip_of(&[("a.csv", b"1,2,3\r\n")], zip::CompressionMethod::Stored);
        let outer = zip_of(
            &[("inner.zip", &inner), ("b.txt", b"hello")],
            zip::CompressionMethod::Deflated,
        );
        assert!(is_zip(&outer));
        assert_eq!(check(&outer), Ok(()));
    }

    #[test]
    fn a_zip_bomb_is_refused_by_its_ratio() {
        let zeros = vec![0u8; 4 << 20];
        let bomb = zip_of(&[("zeros.bin", &zeros)], zip::CompressionMethod::Deflated);
        let why = check(&bomb).unwrap_err();
        assert!(why.contains("archive_max_ratio"), "{why}");
    }

    #[test]
    fn archives_nested_too_deep_are_refused() {
        let l3 = zip_of(&[("a.txt", b"x")], zip::CompressionMethod::Stored);
        let l2 = zip_of(&[("l3.zip", &l3)], zip::CompressionMethod::Stored);
        let l1 = zip_of(&[("l2.dat", &l2)], zip::CompressionMethod::Deflated);
        let why = check(&l1).unwrap_err();
        assert!(
            why.contains("archive_max_depth") && why.contains("l3.zip"),
            "{why}"
        );
    }

    #[test]
    fn too_many_entries_or_an_encrypted_entry_are_refused() {
        let names: Vec<String> = (0..11).map(|i| format!("f{i}.txt")).collect();
        let files: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), b"x".as_slice()))
            .collect();
        let many = zip_of(&files, zip::CompressionMethod::Stored);
        assert!(check(&many).unwrap_err().contains("archive_max_entries"));
        // Bit 0 of the general purpose flags, in the local and the
        // central header: the entry claims to be encrypted.
        let mut enc = zip_of(
            &[("secret.csv", b"1,2\r\n")],
            zip::CompressionMethod::Stored,
        );
        enc[6] |= 1;
        let central = enc
            .windows(4)
            .position(|w| w == b"PK\x01\x02")
            .expect("central directory");
        enc[central + 8] |= 1;
        let why = check(&enc).unwrap_err();
        assert!(why.contains("encrypted"), "{why}");
        assert!(check(b"PK\x03\x04 not really").is_err());
    }
}
