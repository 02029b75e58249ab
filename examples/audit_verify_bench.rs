//! Generates an audit trail of N realistic records with the real writer,
//! then times `verify` over it. Used by `scripts/bench.sh audit`.
//!
//!     cargo run --release --example audit_verify_bench -- 1000000

use std::time::{Duration, Instant};

use renkei::audit::{AuditConfig, AuditLog, keys, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile_dir()?;
    let audit_dir = dir.join("audit");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (log, _) = AuditLog::open(
        &audit_dir,
        &dir.join("audit.key"),
        AuditConfig {
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            segment_size: 64 << 20,
        },
    )?;
    for i in 0..n {
        log.append(format!(
            r#"{{"event":"upload_committed","tenant":"032018","user":"032018-juki","source":"10.3.20.5","conn":{},"box":"inbox","path":"住民基本台帳情報_032018_{i:08}.csv","object":"{:032x}","size":{},"sha256":"{:064x}","resumed":false}}"#,
            i / 7,
            i,
            4096 + i % 977,
            i
        ));
    }
    rt.block_on(log.close());
    let written = started.elapsed();
    let key = keys::read_public(&std::fs::read_to_string(dir.join("audit.pub"))?)?;
    let bytes: u64 = std::fs::read_dir(&audit_dir)?
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let report = verify::verify_dir(&audit_dir, std::slice::from_ref(&key), false)
        .map_err(|p| p.to_string())?;
    let took = t.elapsed();
    println!(
        "audit verify: {} records ({} checkpoints, {:.0} MiB) in {:.2} s = {:.0} records/s  (writing them took {:.2} s = {:.0} records/s)",
        report.records,
        report.checkpoints,
        bytes as f64 / 1048576.0,
        took.as_secs_f64(),
        report.records as f64 / took.as_secs_f64(),
        written.as_secs_f64(),
        n as f64 / written.as_secs_f64()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("renkei-audit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
