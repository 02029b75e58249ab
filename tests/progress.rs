//! Long CLI operations show progress on a terminal and nothing else
//! when their output goes to a file or a pipe: `ctl put` and `ctl get`
//! of a file, `audit verify` of the trail. The terminal is a real pty
//! (util-linux `script`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::{BIN, Daemon, pseudo_random};

/// Runs `renkei --config CONFIG ARGS…` on a pseudo-terminal; returns all
/// it wrote there (stdout and stderr together, as a terminal shows them).
fn on_a_terminal(d: &Daemon, args: &str) -> String {
    let out = Command::new("script")
        .args(["-qec"])
        .arg(format!("{BIN} --config '{}' {args}", d.config.display()))
        .arg("/dev/null")
        .current_dir(&d.work)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args}: {text}");
    text
}

#[test]
fn put_get_and_verify_show_progress_on_a_terminal_only() {
    let d = Daemon::start();
    let data = pseudo_random(8 << 20, 7);
    fs::write(d.work.join("big.bin"), &data).unwrap();

    let shown = on_a_terminal(&d, "ctl put --tenant 032018 --box outbox big.bin");
    assert!(
        shown.contains("big.bin  [") && shown.contains("MB/s"),
        "{shown:?}"
    );
    assert!(
        shown.contains("100%"),
        "the last step drawn is the whole file: {shown:?}"
    );
    assert!(shown.contains("8388608 bytes  sha256"), "{shown:?}");

    let shown = on_a_terminal(
        &d,
        "ctl get --tenant 032018 --box outbox big.bin -o copy.bin",
    );
    assert!(
        shown.contains("MB/s") && shown.contains("(verified)"),
        "{shown:?}"
    );
    assert_eq!(fs::read(d.work.join("copy.bin")).unwrap(), data);

    let shown = on_a_terminal(&d, "audit verify --live");
    assert!(
        shown.contains("verifying  [") && shown.contains("segment 1 of 1"),
        "{shown:?}"
    );

    // Not a terminal: the result line only, nothing drawn.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&d.config)
        .args([
            "ctl",
            "get",
            "--tenant",
            "032018",
            "--box",
            "outbox",
            "big.bin",
            "-o",
            "again.bin",
        ])
        .current_dir(&d.work)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains('\r') && !stdout.contains("MB/s"),
        "{stdout}"
    );
}
