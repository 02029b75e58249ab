//! One file's checks, run on a blocking thread: the virus scan first (an
//! infected file is quarantined whatever else is wrong with it), then the
//! content rules every checked file meets (its content does not
//! contradict its name; no encrypted archive, which nothing can look
//! into), then the `[[check]]` rules that select it (allowed types, the
//! name template, the 連携 format).
//!
//! The plaintext is read from the vault through [`Plaintext`], one chunk at
//! a time, and never written anywhere: it goes from memory to clamd or to
//! the format validator.

use std::io::{self, Read, Seek, SeekFrom};

use jiff::Timestamp;

use crate::live::Snapshot;
use renkei_checks::archive;
use renkei_checks::clamd::{Clamd, ScanError, Verdict};
use renkei_checks::filetype;
use renkei_checks::format::{self, FormatError};
use renkei_config::Unscannable;
use renkei_storage::journal::{CheckRecord, ObjectRecord, ObjectState};
use renkei_storage::vault::ObjectReader;

/// An object's plaintext as a sequential reader.
pub struct Plaintext {
    reader: ObjectReader,
    pos: u64,
}

impl Plaintext {
    pub fn new(reader: ObjectReader) -> Plaintext {
        Plaintext { reader, pos: 0 }
    }
}

impl Seek for Plaintext {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.reader.size();
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

impl Read for Plaintext {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .reader
            .read_at(self.pos, buf)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A reader that keeps a copy of the first [`filetype::HEAD`] bytes read
/// through it: the type rules then need no second decryption of a file
/// the scan has just read.
struct KeepHead<R> {
    inner: R,
    head: Vec<u8>,
}

impl<R: Read> Read for KeepHead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let room = filetype::HEAD.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}

/// What the checks decided.
#[derive(Debug, Clone)]
pub struct Finding {
    /// `Stored` (accepted), `Quarantined` or `Rejected`.
    pub state: ObjectState,
    pub record: CheckRecord,
}

/// Why no decision could be made: the file waits and is tried again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The scanner to ask, and the database version it reported.
pub struct Scanner<'a> {
    pub clamd: &'a Clamd,
    pub version: &'a str,
}

fn finding(outcome: &str, ran: Vec<String>, scanner: Option<&Scanner<'_>>) -> Finding {
    let now = Timestamp::now();
    let state = match outcome {
        "quarantined" => ObjectState::Quarantined { at: now },
        "rejected" => ObjectState::Rejected { at: now },
        _ => ObjectState::Stored,
    };
    Finding {
        state,
        record: CheckRecord {
            at: now,
            outcome: outcome.to_string(),
            ran,
            scanner: scanner.map(|s| s.version.to_string()),
            signature: None,
            reason: None,
            released: None,
        },
    }
}

/// The finding for a file the scanner kept leaving unanswered: held
/// (quarantined) with `reason`, for the operator to decide.
pub fn unanswered(reason: String) -> Finding {
    refused(finding("quarantined", vec!["virus".into()], None), reason)
}

fn refused(mut f: Finding, reason: String) -> Finding {
    f.record.reason = Some(reason);
    f
}

/// What the type check finds past what [`filetype::contradiction`] sees
/// in the first bytes: a program inside a document's first bytes (a PDF
/// or image polyglot), and a NUL byte anywhere in a file named as text
/// (an executable appended after its first 8 KiB). `Err` when the
/// stored bytes cannot be read.
fn beyond_the_head(
    open: &dyn Fn() -> Result<ObjectReader, String>,
    o: &ObjectRecord,
    name: &str,
    head: &[u8],
) -> Option<Result<String, String>> {
    let kind = filetype::sniff(head);
    if matches!(kind.category(), "pdf" | "image")
        && let Some(at) = filetype::embedded_executable(head)
    {
        return Some(Ok(format!(
            "the content is {} but holds an executable (ELF) at byte {at}",
            kind.describe()
        )));
    }
    if !filetype::promises_text(name) || o.size <= head.len() as u64 {
        return None;
    }
    let mut rest = match open() {
        Ok(r) => Plaintext::new(r),
        Err(e) => return Some(Err(e)),
    };
    if let Err(e) = rest.seek(SeekFrom::Start(head.len() as u64)) {
        return Some(Err(e.to_string()));
    }
    match filetype::first_nul(&mut rest, head.len() as u64) {
        Ok(None) => None,
        Ok(Some(at)) => Some(Ok(format!(
            "the name says text but byte {at} is NUL: binary content past the first {} KiB",
            filetype::HEAD >> 10
        ))),
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Runs every check that applies to `o` under `snap`, in the order that
/// is the policy: the virus scan first (an infected file is quarantined
/// whatever else is wrong with it), then the content rules every checked
/// file meets, then the `[[check]]` rules that select it.
pub fn inspect(
    open: &dyn Fn() -> Result<ObjectReader, String>,
    o: &ObjectRecord,
    snap: &Snapshot,
    scanner: Option<&Scanner<'_>>,
) -> Result<Finding, Unavailable> {
    let mut i = Inspection {
        open,
        o,
        snap,
        scanner,
        name: o.path.rsplit('/').next().unwrap_or(&o.path),
        ran: Vec::new(),
    };
    let head = match i.virus()? {
        Ok(head) => head,
        Err(held) => return Ok(held),
    };
    let head = match head {
        Some(h) => h,
        None => match i.read_head() {
            Ok(h) => h,
            Err(e) => return Ok(i.unreadable(e)),
        },
    };
    if let Some(refused) = i.content(&head).or_else(|| i.rules(&head)) {
        return Ok(refused);
    }
    Ok(finding("accepted", i.ran, scanner))
}

/// One file's inspection under way: what it needs, and the checks that
/// ran so far (the record lists them).
struct Inspection<'a> {
    open: &'a dyn Fn() -> Result<ObjectReader, String>,
    o: &'a ObjectRecord,
    snap: &'a Snapshot,
    scanner: Option<&'a Scanner<'a>>,
    name: &'a str,
    ran: Vec<String>,
}

impl Inspection<'_> {
    fn outcome(&mut self, outcome: &str, reason: String) -> Finding {
        refused(
            finding(outcome, std::mem::take(&mut self.ran), self.scanner),
            reason,
        )
    }

    fn reject(&mut self, reason: String) -> Finding {
        self.outcome("rejected", reason)
    }

    fn unreadable(&mut self, e: String) -> Finding {
        self.outcome(
            "quarantined",
            format!("保管データを読めません / the stored bytes cannot be read: {e}"),
        )
    }

    fn reader(&self) -> Result<Plaintext, String> {
        (self.open)().map(Plaintext::new)
    }

    /// The virus scan, when a scanner is configured: the file's first
    /// bytes as the scan read them (so the type rules need no second
    /// decryption), or the finding that holds the file.
    fn virus(&mut self) -> Result<Result<Option<Vec<u8>>, Finding>, Unavailable> {
        let (Some(s), Some(scan)) = (self.scanner, self.snap.config.scan.as_ref()) else {
            return Ok(Ok(None));
        };
        self.ran.push("virus".to_string());
        let mut source = match self.reader() {
            Ok(r) => KeepHead {
                inner: r,
                head: Vec::new(),
            },
            Err(e) => return Ok(Err(self.unreadable(e))),
        };
        let verdict = s.clamd.scan(&mut source, self.o.size, scan.max_file_size);
        let seen = source.head.len() as u64;
        let head = (seen == self.o.size.min(filetype::HEAD as u64)).then_some(source.head);
        match verdict {
            Ok(Verdict::Clean) => Ok(Ok(head)),
            Ok(Verdict::Infected { signature }) => {
                let mut f = self.outcome(
                    "quarantined",
                    format!("ウイルスを検出しました / a virus was found: {signature}"),
                );
                f.record.signature = Some(signature);
                Ok(Err(f))
            }
            Ok(Verdict::Unscannable { reason }) => match scan.unscannable {
                Unscannable::Quarantine => Ok(Err(self.outcome(
                    "quarantined",
                    format!("検査できないファイルです / the file could not be scanned: {reason}"),
                ))),
                Unscannable::Accept => {
                    self.ran.pop();
                    self.ran.push("virus:unscannable-accepted".to_string());
                    Ok(Ok(head))
                }
            },
            Err(ScanError::Read(e)) => Ok(Err(self.unreadable(e.to_string()))),
            Err(e) => Err(Unavailable(e.to_string())),
        }
    }

    /// The first [`filetype::HEAD`] bytes, read when the scan did not.
    fn read_head(&self) -> Result<Vec<u8>, String> {
        let mut h = vec![0u8; filetype::HEAD];
        let got =
            (self.open)().and_then(|mut r| r.read_at(0, &mut h).map_err(|e| e.to_string()))?;
        h.truncate(got);
        Ok(h)
    }

    /// The rules every checked file meets: its content does not
    /// contradict its name, no encrypted archive, archives within limits.
    fn content(&mut self, head: &[u8]) -> Option<Finding> {
        self.ran.push("type".to_string());
        if let Some(why) = filetype::contradiction(self.name, head) {
            return Some(self.reject(format!("ファイルの内容が名前と矛盾します / {why}")));
        }
        match beyond_the_head(self.open, self.o, self.name, head) {
            Some(Ok(why)) => {
                return Some(self.reject(format!("ファイルの内容が名前と矛盾します / {why}")));
            }
            Some(Err(e)) => return Some(self.unreadable(e)),
            None => {}
        }
        if filetype::encrypted_zip(head) {
            return Some(self.reject(
                "暗号化された圧縮ファイルは検査できないため受け付けません / an encrypted archive cannot be scanned and is refused".to_string(),
            ));
        }
        if !archive::is_zip(head) {
            return None;
        }
        self.ran.push("archive".to_string());
        let l = &self.snap.config.limits;
        let limits = archive::Limits {
            max_ratio: l.archive_max_ratio as u64,
            max_depth: l.archive_max_depth as u32,
            max_entries: l.archive_max_entries as u64,
        };
        let reader = match self.reader() {
            Ok(r) => r,
            Err(e) => return Some(self.unreadable(e)),
        };
        archive::inspect(reader, self.o.size, &limits)
            .err()
            .map(|why| self.reject(format!("圧縮ファイルを受け付けられません / {why}")))
    }

    /// Each `[[check]]` rule that selects the file: allowed types, the
    /// name template, the 連携 format.
    fn rules(&mut self, head: &[u8]) -> Option<Finding> {
        let kind = filetype::sniff(head);
        let (o, name) = (self.o, self.name);
        for rule in self
            .snap
            .config
            .checks
            .iter()
            .filter(|r| r.selects(&o.tenant, o.bx, name))
        {
            self.ran.push(format!("rule:{}", rule.name));
            if !rule.types.is_empty() && !rule.types.iter().any(|t| t == kind.category()) {
                return Some(self.reject(format!(
                    "許可されていない種類のファイルです / check {}: the content is {}, allowed: {}",
                    rule.name,
                    kind.describe(),
                    rule.types.join(", ")
                )));
            }
            if let Some(t) = &rule.name_template
                && !t.matches(name, &o.tenant)
            {
                return Some(self.reject(format!(
                    "ファイル名が規定の形式ではありません / check {}: the name {name:?} does not have the form {}",
                    rule.name,
                    t.as_str()
                )));
            }
            let Some(fmt) = &rule.format else { continue };
            let mut reader = match self.reader() {
                Ok(r) => r,
                Err(e) => return Some(self.unreadable(e)),
            };
            match format::validate(&mut reader, fmt) {
                Ok(()) => {}
                Err(FormatError::Invalid(p)) => {
                    return Some(self.reject(format!("check {}: {p}", rule.name)));
                }
                Err(FormatError::Read(e)) => return Some(self.unreadable(e.to_string())),
            }
        }
        None
    }
}
