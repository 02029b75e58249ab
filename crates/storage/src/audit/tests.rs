use std::time::Duration;

use super::*;

fn config(every: u64, segment_size: u64) -> AuditConfig {
    AuditConfig {
        checkpoint_every: every,
        checkpoint_interval: Duration::from_secs(3600),
        segment_size,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct T {
    dir: tempfile::TempDir,
}

impl T {
    fn new() -> T {
        T {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn audit(&self) -> std::path::PathBuf {
        self.dir.path().join("audit")
    }
    fn open(&self, every: u64, seg: u64) -> (AuditLog, OpenReport) {
        AuditLog::open(
            &self.audit(),
            &self.dir.path().join("audit.key"),
            config(every, seg),
        )
        .unwrap()
    }
    fn key(&self) -> ed25519_dalek::VerifyingKey {
        keys::read_public(&std::fs::read_to_string(self.dir.path().join("audit.pub")).unwrap())
            .unwrap()
    }
    fn verify(&self, live: bool) -> Result<verify::Report, verify::Problem> {
        verify::verify_dir(&self.audit(), &[self.key()], live)
    }
    /// Writes `n` records, each durable on its own (one batch each, so
    /// checkpoints and segment switches fall where the settings say).
    fn write_records(&self, n: usize, every: u64, seg: u64) {
        let (log, _) = self.open(every, seg);
        let rt = rt();
        for i in 0..n {
            rt.block_on(log.append_durable(format!(
                r#"{{"event":"test","i":{i},"path":"住民基本台帳情報_{i}.csv"}}"#
            )))
            .unwrap();
        }
        rt.block_on(log.close());
    }
    fn segment(&self, n: u64) -> std::path::PathBuf {
        segments::path(&self.audit(), n)
    }
    fn lines(&self, n: u64) -> Vec<String> {
        std::fs::read_to_string(self.segment(n))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
    fn set_lines(&self, n: u64, lines: &[String]) {
        std::fs::write(
            self.segment(n),
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }
}

#[test]
fn a_clean_log_verifies_and_reopens_where_it_stopped() {
    let t = T::new();
    t.write_records(250, 100, 1 << 30);
    let r = t.verify(false).unwrap();
    assert_eq!((r.records, r.checkpoints, r.last_seq), (253, 3, 253));
    assert!(r.sealed);
    let (log, report) = t.open(100, 1 << 30);
    assert!(!report.crashed);
    assert_eq!(report.next_seq, 254);
    let rt = rt();
    rt.block_on(log.append_durable(r#"{"event":"after"}"#.into()))
        .unwrap();
    rt.block_on(log.close());
    assert_eq!(t.verify(false).unwrap().last_seq, 255);
}

#[test]
fn segments_rotate_at_checkpoints() {
    let t = T::new();
    t.write_records(300, 50, 4096);
    let present = segments::list(&t.audit()).unwrap();
    assert!(present.len() > 3, "{present:?}");
    let r = t.verify(false).unwrap();
    assert_eq!(r.segments, present.len());
}

#[test]
fn a_torn_tail_is_cut_and_the_repair_recorded() {
    let t = T::new();
    t.write_records(20, 1000, 1 << 30);
    // A crash mid-append: half a record at the end, no final checkpoint.
    let mut lines = t.lines(1);
    lines.pop();
    let half = lines.last().unwrap()[..40].to_string();
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&half);
    std::fs::write(t.segment(1), text).unwrap();
    assert!(t.verify(false).unwrap_err().message.contains("incomplete"));
    let (log, report) = t.open(1000, 1 << 30);
    assert!(report.crashed);
    assert_eq!(report.torn_bytes, 40);
    rt().block_on(log.close());
    let r = t.verify(false).unwrap();
    assert!(r.sealed);
    let recovered = t
        .lines(1)
        .iter()
        .map(|l| record::parse(l).unwrap())
        .find(|p| p.event == "audit_recovered")
        .unwrap();
    assert_eq!(recovered.fields["torn_bytes_removed"], 40);
}

#[test]
fn every_kind_of_tampering_is_found_and_located() {
    type Tamper = Box<dyn Fn(&T)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "edited byte",
            Box::new(|t: &T| {
                let mut l = t.lines(1);
                assert!(l[5].contains("情報_"));
                l[5] = l[5].replacen("情報_", "情報-", 1);
                t.set_lines(1, &l);
            }),
            "line 6",
        ),
        (
            "deleted record",
            Box::new(|t: &T| {
                let mut l = t.lines(1);
                l.remove(7);
                t.set_lines(1, &l);
            }),
            "records 8 to 8 are missing",
        ),
        (
            "inserted record",
            Box::new(|t: &T| {
                let mut l = t.lines(1);
                let copy = l[3].clone();
                l.insert(9, copy);
                t.set_lines(1, &l);
            }),
            "inserted, repeated or moved",
        ),
        (
            "swapped records",
            Box::new(|t: &T| {
                let mut l = t.lines(1);
                l.swap(10, 11);
                t.set_lines(1, &l);
            }),
            "line 11",
        ),
        (
            "truncated tail",
            Box::new(|t: &T| {
                let mut l = t.lines(1);
                l.truncate(l.len() - 3);
                t.set_lines(1, &l);
            }),
            "does not end with the final checkpoint",
        ),
        (
            "re-hashed forgery",
            Box::new(|t: &T| {
                // Rewrite a record and recompute every hash after it: only
                // the signature at the next checkpoint can tell.
                let l = t.lines(1);
                let mut out = Vec::new();
                let mut prev = record::GENESIS.to_string();
                for (i, line) in l.iter().enumerate() {
                    let p = record::parse(line).unwrap();
                    let mut fields = p.fields.clone();
                    if i == 4 {
                        fields["path"] = "forged.csv".into();
                    }
                    let obj = fields.as_object().unwrap();
                    let rest: serde_json::Map<String, serde_json::Value> = obj
                        .iter()
                        .filter(|(k, _)| !["seq", "ts", "prev"].contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    let (line, hash) = record::build(
                        p.seq,
                        &p.ts,
                        &prev,
                        &serde_json::Value::Object(rest).to_string(),
                    );
                    out.push(line);
                    prev = hash;
                }
                t.set_lines(1, &out);
            }),
            "signature is not valid",
        ),
    ];
    for (what, tamper, want) in cases {
        let t = T::new();
        t.write_records(30, 1000, 1 << 30);
        t.verify(false).unwrap();
        tamper(&t);
        let p = t.verify(false).expect_err(what);
        assert!(p.to_string().contains(want), "{what}: {p}");
    }
}

#[test]
fn a_replaced_or_missing_segment_is_found() {
    let t = T::new();
    t.write_records(200, 40, 2048);
    let n = segments::list(&t.audit()).unwrap().len() as u64;
    assert!(n >= 4);
    // Replace segment 2 with segment 2 of another, self-consistent log.
    let other = T::new();
    std::fs::copy(
        t.dir.path().join("audit.key"),
        other.dir.path().join("audit.key"),
    )
    .unwrap();
    other.write_records(200, 40, 2048);
    std::fs::copy(other.segment(2), t.segment(2)).unwrap();
    let p = t.verify(false).unwrap_err();
    assert!(p.at.starts_with("segment-000002.jsonl"), "{p}");
    // A missing segment.
    let t = T::new();
    t.write_records(200, 40, 2048);
    std::fs::remove_file(t.segment(2)).unwrap();
    assert!(
        t.verify(false)
            .unwrap_err()
            .message
            .contains("segment 2 was expected")
    );
}

#[test]
fn pruning_leaves_a_chain_that_still_verifies_from_its_anchor() {
    let t = T::new();
    t.write_records(200, 40, 2048);
    let before = segments::list(&t.audit()).unwrap();
    let (log, _) = t.open(40, 2048);
    let rt = rt();
    let report = rt
        .block_on(
            log.prune(
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_secs(1))
                    .unwrap(),
            ),
        )
        .unwrap();
    rt.block_on(log.close());
    assert_eq!(
        report.segments.len(),
        before.len() - 1,
        "all but the segment being written"
    );
    let r = t.verify(false).unwrap();
    assert!(r.anchored);
    // The anchor cannot be swapped for a forged one.
    let mut a = segments::read_anchor(&t.audit()).unwrap().unwrap();
    a.line = a.line.replace("\"checkpoint\"", "\"checkpoinT\"");
    std::fs::write(
        t.audit().join(segments::ANCHOR),
        serde_json::to_string(&a).unwrap(),
    )
    .unwrap();
    assert!(t.verify(false).unwrap_err().at.contains("anchor"));
}

#[test]
fn an_exported_period_verifies_on_its_own() {
    let t = T::new();
    t.write_records(120, 25, 1 << 30);
    let all: Vec<record::Parsed> = t
        .lines(1)
        .iter()
        .map(|l| record::parse(l).unwrap())
        .collect();
    let since: jiff::Timestamp = all[40].ts.parse().unwrap();
    let until: jiff::Timestamp = all[60].ts.parse().unwrap();
    let out = t.dir.path().join("bundle.jsonl");
    let key_id = keys::key_id(&t.key());
    let e = export::export(&t.audit(), since, until, &key_id, &out).unwrap();
    assert!(e.records > 0);
    let text = std::fs::read_to_string(&out).unwrap();
    verify::verify_bundle(&text, &[t.key()]).unwrap();
    let forged = text.replacen("住民基本台帳情報_", "住民基本台帳情報X", 1);
    assert!(verify::verify_bundle(&forged, &[t.key()]).is_err());
    let cut: String = text
        .lines()
        .take(text.lines().count() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        verify::verify_bundle(&cut, &[t.key()])
            .unwrap_err()
            .message
            .contains("does not end with a checkpoint")
    );
}

/// Copies in memory, for `copies::copy_signed`.
#[derive(Default)]
struct Copies(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

impl copies::TrailCopies for Copies {
    fn sizes(&self) -> std::io::Result<std::collections::HashMap<String, u64>> {
        let m = self.0.lock().unwrap();
        Ok(m.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect())
    }
    fn put(&self, name: &str, from: &mut dyn std::io::Read) -> std::io::Result<()> {
        let mut v = Vec::new();
        from.read_to_end(&mut v)?;
        self.0.lock().unwrap().insert(name.to_string(), v);
        Ok(())
    }
    fn shown(&self) -> String {
        "memory".into()
    }
}

#[test]
fn copies_end_at_the_last_checkpoint_verify_and_are_made_once() {
    let t = T::new();
    t.write_records(40, 3, 2048);
    // An unsigned record at the end of the newest segment stays out.
    let newest = *segments::list(&t.audit()).unwrap().last().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(segments::path(&t.audit(), newest))
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"event\":\"unsigned\"}\n").unwrap();
    let copies = Copies::default();
    let first = copies::copy_signed(&t.audit(), &copies).unwrap();
    assert!(first.copied.len() >= 3, "{first:?}");
    let out = t.dir.path().join("copy");
    std::fs::create_dir_all(&out).unwrap();
    for (name, bytes) in copies.0.lock().unwrap().iter() {
        assert!(!bytes.ends_with(b"{\"event\":\"unsigned\"}\n"), "{name}");
        std::fs::write(out.join(name), bytes).unwrap();
    }
    verify::verify_dir(&out, &[t.key()], false).unwrap();
    let again = copies::copy_signed(&t.audit(), &copies).unwrap();
    assert!(again.copied.is_empty(), "{again:?}");
}
