//! The clamd client against a real clamd (Debian's clamav-daemon, which
//! the README's test command installs), started with its own socket and a
//! signature database these tests write: one signature for a marker
//! string, so nothing is downloaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::io::{Cursor, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use renkei_checks::clamd::{CHUNK, Clamd, ClamdAddr, ScanError, Verdict};

#[path = "../../../tests/common/clamd.rs"]
mod fixture;

use fixture::{MARKER, SIGNATURE, TestClamd};

fn scanner(max_stream: &str) -> TestClamd {
    TestClamd::start(max_stream)
}

fn client(socket: &Path) -> Clamd {
    Clamd::new(
        ClamdAddr::Unix(socket.to_path_buf()),
        Duration::from_secs(10),
    )
}

fn scan(clamd: &Clamd, data: &[u8], max: u64) -> Result<Verdict, ScanError> {
    clamd.scan(&mut Cursor::new(data), data.len() as u64, max)
}

#[test]
fn a_clean_file_is_clean_and_the_scanner_names_its_version() {
    let s = scanner("8M");
    let clamd = client(&s.socket);
    let data = vec![b'x'; 3 * CHUNK + 17];
    assert_eq!(
        scan(&clamd, &data, 16 << 20).expect("verdict"),
        Verdict::Clean
    );
    let version = clamd.version().expect("version");
    assert!(version.starts_with("ClamAV 1."), "{version}");
}

#[test]
fn a_marker_across_a_chunk_boundary_is_found_with_its_signature() {
    let s = scanner("8M");
    let clamd = client(&s.socket);
    let mut data = vec![b'.'; 3 << 20];
    let at = CHUNK - MARKER.len() / 2;
    data[at..at + MARKER.len()].copy_from_slice(MARKER);
    assert_eq!(
        scan(&clamd, &data, 16 << 20).expect("verdict"),
        Verdict::Infected {
            signature: SIGNATURE.to_string()
        }
    );
}

#[test]
fn a_file_longer_than_clamd_accepts_is_unscannable_not_clean() {
    let s = scanner("1M");
    let clamd = client(&s.socket);
    let data = vec![b'y'; 2 << 20];
    match scan(&clamd, &data, 16 << 20).expect("verdict") {
        Verdict::Unscannable { reason } => assert!(reason.contains("StreamMaxLength"), "{reason}"),
        other => panic!("expected unscannable, got {other:?}"),
    }
}

#[test]
fn a_file_over_the_configured_limit_is_not_sent() {
    // No clamd at all: the verdict comes without asking one.
    let dir = tempfile::tempdir().expect("tempdir");
    let clamd = client(&dir.path().join("absent.sock"));
    match scan(&clamd, b"0123456789", 4).expect("verdict") {
        Verdict::Unscannable { reason } => {
            assert!(reason.contains("scan.max_file_size"), "{reason}")
        }
        other => panic!("expected unscannable, got {other:?}"),
    }
}

#[test]
fn no_scanner_is_an_error_never_a_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clamd = client(&dir.path().join("absent.sock"));
    let e = scan(&clamd, b"data", 1 << 20).expect_err("no verdict");
    assert!(matches!(e, ScanError::Unavailable { .. }), "{e}");
    assert!(clamd.ping().is_err());
}

#[test]
fn a_scanner_that_answers_nonsense_or_nothing_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let server = std::thread::spawn(move || {
        // First connection: nonsense. Second: reads and never answers.
        let (mut a, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = a.read(&mut buf);
        let _ = a.write_all(b"hello there\0");
        let (mut b, _) = listener.accept().expect("accept");
        let _ = b.read(&mut buf);
        std::thread::sleep(Duration::from_secs(1));
    });
    let clamd = Clamd::new(ClamdAddr::Unix(path), Duration::from_millis(300));
    let e = scan(&clamd, b"data", 1 << 20).expect_err("no verdict");
    assert!(matches!(e, ScanError::Garbage { .. }), "{e}");
    let e = scan(&clamd, b"data", 1 << 20).expect_err("no verdict");
    assert!(matches!(e, ScanError::Timeout { .. }), "{e}");
    server.join().expect("server");
}
