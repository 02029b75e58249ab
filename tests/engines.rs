//! The journal in PostgreSQL (decision 0016), through the real daemon and
//! a real PostgreSQL started by the test: the schema and its migration
//! command, the configuration's refusals, and what happens when the
//! database goes away and comes back; the files in a real S3 server
//! (Garage). The rest of the storage suite runs on PostgreSQL and S3 too
//! (scripts/test.sh, `RENKEI_TEST_JOURNAL=postgres RENKEI_TEST_BLOBS=s3`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::time::Duration;

use common::{Daemon, eventually, pg::Postgres};

/// `renkei --config CONFIG migrate-schema`: whether it worked, and what it
/// printed (both streams).
fn migrate_schema(config: &std::path::Path) -> (bool, String) {
    common::renkei_cli(config, "migrate-schema", &[])
}

fn until_an_upload_succeeds(d: &Daemon, what: &str, seconds: u64) {
    eventually(what, Duration::from_secs(seconds), || {
        d.sftp("032018-juki", b"put c.txt /inbox/c.txt\n", &[])
            .status
            .success()
            .then_some(())
    });
}

#[test]
fn migrate_schema_creates_the_tables_once_and_refuses_a_newer_schema() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("renkei.toml");
    fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\n{}",
            pg.storage_toml()
        ),
    )
    .unwrap();
    let run = || migrate_schema(&config);
    let (ok, text) = run();
    assert!(ok, "{text}");
    assert!(text.contains("migrated from version 0 to 2"), "{text}");
    let tables = pg.sql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'journal_%'",
    );
    assert_eq!(
        tables,
        "journal_bans,journal_deliveries,journal_deliveries_by_tenant,journal_entries,journal_imports,journal_meta,journal_notes,journal_objects,journal_partials"
    );
    assert_eq!(
        pg.sql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'cluster_%'"),
        "cluster_leases,cluster_nodes"
    );
    let (ok, text) = run();
    assert!(ok, "{text}");
    assert!(text.contains("already version 2"), "{text}");

    // A database migrated by a newer renkei is never written by this one.
    pg.sql("INSERT INTO renkei_schema (version) VALUES (99)");
    let (ok, text) = run();
    assert!(!ok);
    assert!(
        text.contains("schema version 99") && text.contains("upgrade renkei first"),
        "{text}"
    );
}

#[test]
fn a_password_in_the_url_or_a_readable_password_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("renkei.toml");
    let check = |storage: &str| {
        fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\n[storage]\n{storage}"
            ),
        )
        .unwrap();
        let (ok, said) = migrate_schema(&config);
        assert!(!ok);
        said
    };
    let err = check("journal = \"postgresql://renkei:secret@127.0.0.1/renkei\"\n");
    assert!(
        err.contains("renkei.toml:6:") && err.contains("put it in journal_password_file"),
        "{err}"
    );
    let pw = dir.path().join("pw");
    fs::write(&pw, "secret\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o644)).unwrap();
    let err = check(&format!(
        "journal = \"postgresql://renkei@127.0.0.1:1/renkei\"\njournal_password_file = \"{}\"\n",
        pw.display()
    ));
    assert!(err.contains("can be read by others"), "{err}");
    let err = check("journal_timeout = \"5s\"\n");
    assert!(
        err.contains("for a PostgreSQL journal; storage.journal is local"),
        "{err}"
    );
}

#[test]
fn postgresql_stopped_mid_work_refuses_new_work_and_resumes_when_it_returns() {
    let d = Daemon::start_on_postgres("");
    let pg = d.pg.as_ref().unwrap();
    fs::write(d.work.join("a.txt"), b"before\n").unwrap();
    fs::write(d.work.join("b.txt"), b"while the database is down\n").unwrap();
    fs::write(d.work.join("c.txt"), b"after\n").unwrap();
    d.sftp_ok("032018-juki", "put a.txt /inbox/a.txt\n");

    pg.stop();
    let out = d.sftp("032018-juki", b"put b.txt /inbox/b.txt\n", &[]);
    assert!(
        !out.status.success(),
        "an upload the journal could not commit was acknowledged"
    );
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("the client was told: {said}");
    let listing = d.sftp("032018-juki", b"ls /inbox\n", &[]);
    assert!(
        !listing.status.success(),
        "a listing answered without its database"
    );
    let log = d.log_text();
    assert!(
        log.contains("journal database"),
        "the log names the journal's database: {log}"
    );

    // Back without anyone touching renkei: reads answer at once (each
    // reader finds its connection closed and makes a new one), and new
    // work is taken again.
    pg.start_again();
    for _ in 0..8 {
        d.ls("032018");
    }
    until_an_upload_succeeds(&d, "an upload to succeed once the database is back", 30);
    let names: Vec<String> = d
        .ls("032018")
        .iter()
        .filter(|e| e["state"] == "stored")
        .filter_map(|e| e["path"].as_str().map(str::to_string))
        .collect();
    assert!(names.iter().any(|n| n.ends_with("a.txt")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("c.txt")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with("b.txt")),
        "b.txt was never acknowledged, so it is not there: {names:?}"
    );
    assert_eq!(d.get("032018", "inbox", "c.txt"), b"after\n");
}

const MARKER: &[u8] = b"RENKEI-S3-PLAINTEXT-MARKER";

#[test]
fn files_live_in_the_bucket_as_age_objects_and_come_back_byte_exact() {
    let mut d = Daemon::start_on_engines("[audit]\ncheckpoint_interval = \"1s\"\n");
    let mut content = Vec::new();
    for i in 0..200_000 {
        content.extend_from_slice(MARKER);
        content.extend_from_slice(format!(" {i}\n").as_bytes());
    }
    fs::write(d.work.join("big.csv"), &content).unwrap();
    fs::write(d.work.join("small.csv"), b"one line\n").unwrap();
    d.sftp_ok(
        "032018-juki",
        "put big.csv /inbox/big.csv\nput small.csv /inbox/small.csv\n",
    );

    // Nothing on the node's disk; every blob an object, an age file.
    assert!(
        d.local_blob_files().is_empty(),
        "{:?}",
        d.local_blob_files()
    );
    let s3 = d.s3.as_ref().unwrap();
    let objects: Vec<String> = s3
        .objects_sized("vault")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(objects.len() >= 2, "{objects:?}");
    for key in &objects {
        assert!(key.starts_with("vault/") && key.ends_with(".age"), "{key}");
        let bytes = s3.object(key);
        assert!(bytes.starts_with(b"age-encryption.org/v1"), "{key}");
        assert!(
            !bytes.windows(MARKER.len()).any(|w| w == MARKER),
            "plaintext in {key}"
        );
    }
    // The audit trail's copy follows it, signed, beside the files.
    let copied = eventually("the trail copied", Duration::from_secs(30), || {
        let copies = s3.objects_sized("audit");
        copies
            .iter()
            .any(|(k, _)| k == "audit/segment-000001.jsonl")
            .then_some(copies)
    });
    assert!(
        copied.iter().any(|(k, _)| k == "audit/audit.pub"),
        "{copied:?}"
    );
    let segment = String::from_utf8(s3.object("audit/segment-000001.jsonl")).unwrap();
    assert!(
        segment.lines().last().unwrap().contains("\"checkpoint\""),
        "a copy ends at a checkpoint"
    );
    assert!(!segment.contains("RENKEI-S3-PLAINTEXT"));
    // Nor in the database.
    let pg = d.pg.as_ref().unwrap();
    assert_eq!(
        pg.sql("SELECT count(*) FROM journal_objects WHERE value LIKE '%RENKEI-S3-PLAINTEXT%'"),
        "0"
    );
    assert_eq!(d.get("032018", "inbox", "big.csv"), content);
    d.restart();
    assert_eq!(
        common::sha256_hex(&d.get("032018", "inbox", "big.csv")),
        common::sha256_hex(&content)
    );
    assert_eq!(d.get("032018", "inbox", "small.csv"), b"one line\n");
}

#[test]
fn an_upload_cut_off_with_one_node_resumes_on_another() {
    let mut a = Daemon::start_on_engines("[limits]\nupload_checkpoint = \"2MiB\"\n");
    let data = common::pseudo_random(20 << 20, 26);
    fs::write(a.work.join("cut.dat"), &data).unwrap();
    let client = a.sftp_background("032018-juki", "put cut.dat /inbox/cut.dat\n", 40_000);
    eventually("a checkpoint", Duration::from_secs(60), || {
        a.ls("032018")
            .iter()
            .any(|e| e["state"] == "partial" && e["size"].as_u64() >= Some(2 << 20))
            .then_some(())
    });
    a.kill9();
    common::kill_client(client);

    // Node B: its own disk, the same database, bucket and vault key.
    let mut b = a.second_node();
    b.start_again();
    let kept = b
        .ls("032018")
        .into_iter()
        .find(|e| e["state"] == "partial")
        .and_then(|e| e["size"].as_u64())
        .expect("node B sees the partial node A checkpointed");
    assert!(kept >= 2 << 20 && kept < data.len() as u64, "{kept}");
    fs::write(b.work.join("cut.dat"), &data).unwrap();
    b.sftp_ok("032018-juki", "reput cut.dat /inbox/cut.dat\n");
    assert_eq!(
        common::sha256_hex(&b.get("032018", "inbox", "cut.dat")),
        common::sha256_hex(&data)
    );
    assert!(b.local_blob_files().is_empty());
}

#[test]
fn the_object_store_unreachable_fails_uploads_closed_and_recovers_by_itself() {
    let mut d = Daemon::start_on_engines("");
    fs::write(d.work.join("a.txt"), b"before\n").unwrap();
    fs::write(d.work.join("b.txt"), b"while the bucket is away\n").unwrap();
    fs::write(d.work.join("c.txt"), b"after\n").unwrap();
    d.sftp_ok("032018-juki", "put a.txt /inbox/a.txt\n");

    d.s3.as_mut().unwrap().stop();
    let out = d.sftp("032018-juki", b"put b.txt /inbox/b.txt\n", &[]);
    assert!(
        !out.status.success(),
        "an upload whose bytes the bucket did not take was acknowledged"
    );
    let listed = d.ls("032018");
    assert!(
        !listed
            .iter()
            .any(|e| e["path"].as_str().is_some_and(|p| p.ends_with("b.txt"))
                && e["state"] == "stored"),
        "nothing half-visible: {listed:?}"
    );

    d.s3.as_mut().unwrap().start_again();
    until_an_upload_succeeds(&d, "an upload to succeed once the bucket is back", 60);
    assert_eq!(d.get("032018", "inbox", "a.txt"), b"before\n");
    assert_eq!(d.get("032018", "inbox", "c.txt"), b"after\n");
}

#[test]
fn the_journal_reaches_postgresql_over_verified_tls() {
    let d = Daemon::start_on_postgres_tls("");
    fs::write(d.work.join("t.txt"), b"over TLS\n").unwrap();
    d.sftp_ok("032018-juki", "put t.txt /inbox/t.txt\n");
    assert_eq!(d.get("032018", "inbox", "t.txt"), b"over TLS\n");
    let pg = d.pg.as_ref().unwrap();
    // The server takes TCP over TLS only; every renkei connection is TLS.
    let plain = pg.sql(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'renkei' AND NOT s.ssl",
    );
    let tls = pg.sql(
        "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = 'renkei' AND s.ssl",
    );
    assert_eq!(plain, "0");
    assert!(tls.parse::<u32>().unwrap() >= 2, "{tls}");

    // A server whose certificate another CA signed is refused.
    let other = tempfile::tempdir().unwrap();
    common::pg::make_ca(other.path(), false);
    let text = fs::read_to_string(&d.config).unwrap().replace(
        &pg.ca_file.as_ref().unwrap().display().to_string(),
        &other.path().join("ca.crt").display().to_string(),
    );
    let config = other.path().join("renkei.toml");
    fs::write(
        &config,
        text.replace(
            "data_dir = \"data\"",
            &format!("data_dir = \"{}\"", d.data.display()),
        ),
    )
    .unwrap();
    let (ok, err) = migrate_schema(&config);
    assert!(!ok);
    assert!(err.contains("certificate"), "{err}");
}

/// An upload to the bucket holds one part (8 MiB) in memory until it is
/// sent, so each open upload's part is charged to its session, account
/// and the daemon: a client that opens many uploads and closes none is
/// refused the ones past half its budget, the daemon's memory stays
/// within it while another municipality works, and all of it comes back
/// when the client is gone.
#[test]
fn open_uploads_charge_their_object_store_parts_to_the_session_budget() {
    use std::io::{BufRead, BufReader};
    let d = Daemon::start_on_engines("");
    let rss_before = common::rss(d.pid());
    let gate = d.work.join("never");
    let size = (6 << 20).to_string();
    let mut hog = d.paramiko_child(
        "032018-juki",
        &["open_uploads", "12", &size, gate.to_str().unwrap()],
    );
    let mut lines = BufReader::new(hog.stdout.take().unwrap()).lines();
    let r: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    // Parts may use half of limits.max_queued_requests (64 MiB): four.
    assert_eq!(
        (r["written"].as_u64(), r["refused"].as_u64()),
        (Some(4), Some(8)),
        "{r}"
    );
    let why = r["message"].as_str().unwrap();
    assert!(
        why.contains("too much held")
            && why.contains("limits.max_queued_requests")
            && why.contains("object store"),
        "{why}"
    );
    let held = d.status_json()["client_memory"]["held"].as_u64().unwrap();
    assert!((32 << 20..=40 << 20).contains(&held), "held {held}");
    // 札幌市 meanwhile.
    let data = common::pseudo_random(3 << 20, 61);
    fs::write(d.work.join("sapporo.bin"), &data).unwrap();
    d.sftp_ok(
        "011002-juki",
        "put sapporo.bin /inbox/sapporo.bin\nget /inbox/sapporo.bin sapporo.back\n",
    );
    assert_eq!(fs::read(d.work.join("sapporo.back")).unwrap(), data);
    let grown = common::rss(d.pid()).saturating_sub(rss_before);
    assert!(grown < 96 << 20, "the daemon grew by {grown} bytes");
    common::kill_client(hog);
    eventually("the memory given back", Duration::from_secs(30), || {
        (d.status_json()["client_memory"]["held"].as_u64() == Some(0)).then_some(())
    });
}
