//! Helpers for the arrival-checks tests: test files with and without the
//! test signature's marker, and what the daemon says about a checked file.
#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;

use serde_json::Value;

use super::Daemon;
use super::clamd::MARKER;

pub fn spool(d: &Daemon, tenant: &str) -> PathBuf {
    d.root.path().join("spool").join(tenant)
}

/// A clean CSV-like text of about `len` bytes, different per seed.
pub fn clean(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = seed;
    while out.len() < len {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("032018,{:020},{}\r\n", n, n % 97).as_bytes());
    }
    out
}

/// The same, with the test signature's marker in the middle.
pub fn marked(len: usize, seed: u64) -> Vec<u8> {
    let mut data = clean(len, seed);
    let at = data.len() / 2;
    data[at..at + MARKER.len()].copy_from_slice(MARKER);
    data
}

pub fn outcome_for(d: &Daemon, path: &str) -> Vec<Value> {
    d.events()
        .into_iter()
        .filter(|e| {
            matches!(
                e["event"].as_str(),
                Some("file_checked" | "file_quarantined" | "file_rejected")
            ) && e["path"] == path
        })
        .collect()
}

/// `ctl ls` state of a file, if the operator sees it.
pub fn state_of(d: &Daemon, tenant: &str, path: &str) -> Option<String> {
    d.ls(tenant)
        .into_iter()
        .find(|e| e["path"] == path)
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
}

/// The text of the receipt of `name` whose name ends with `_checks.txt`.
pub fn check_receipt(d: &Daemon, user: &str, name: &str) -> Option<String> {
    let listing = d.sftp_ok(user, "ls -1 /receipts\n");
    let receipt = listing
        .lines()
        .map(|l| l.trim().trim_start_matches("/receipts/"))
        .find(|l| l.contains(name) && l.ends_with("_checks.txt"))?
        .to_string();
    let local = d
        .work
        .join(format!("receipt-{}", super::sha256_hex(receipt.as_bytes())));
    d.sftp_ok(
        user,
        &format!("get /receipts/{receipt} {}\n", local.display()),
    );
    fs::read_to_string(local).ok()
}
