//! The FTPS front door with real clients: curl (`--ssl-reqd`), lftp
//! (`ftp:ssl-force`) and Python's ftplib.FTP_TLS, against the same boxes
//! SFTP serves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::ftps::{FtpsWorld, PW, USER, reply};
use common::{assert_no_plaintext, pseudo_random, sha256_hex};
use serde_json::{Value, json};

#[test]
fn three_clients_move_japanese_named_files_that_sftp_sees_byte_exact() {
    let w = FtpsWorld::start("", "", "");
    let marker = b"FTPS-PLAINTEXT-MARKER-7f3a";
    let mut content = pseudo_random(3 * 1024 * 1024 + 17, 41);
    content[1000..1000 + marker.len()].copy_from_slice(marker);

    // curl uploads; lftp and ftplib upload under other names.
    let names = [
        "住民基本台帳情報_011002_20261202.csv",
        "税務_課税台帳_011002.csv",
        "国保 資格 011002.csv",
    ];
    fs::write(w.d.work.join("up.bin"), &content).unwrap();
    let out = w.curl(&["-T", "up.bin", &w.url(&format!("/inbox/{}", names[0]))]);
    succeeded("curl", &out);
    let out = w.lftp(&format!("put up.bin -o '/inbox/{}'", names[1]));
    succeeded("lftp", &out);
    let steps = json!([["put", "up.bin", format!("/inbox/{}", names[2])]]);
    let r = w.python(&steps);
    assert!(reply(&r[0]).starts_with("226 stored"), "{r:?}");
    assert!(reply(&r[0]).contains(&sha256_hex(&content)), "{r:?}");

    // SFTP (another account of the same municipality) sees each one,
    // byte for byte, under the same name.
    for (i, name) in names.iter().enumerate() {
        let local = format!("sftp-{i}.bin");
        w.d.sftp_ok("011002-juki", &format!("get \"/inbox/{name}\" {local}\n"));
        assert_eq!(fs::read(w.d.work.join(&local)).unwrap(), content, "{name}");
    }

    // Downloads through each client, whole and from an offset (REST).
    let out = w.curl(&[
        "-o",
        "curl-got.bin",
        &w.url(&format!("/inbox/{}", names[0])),
    ]);
    assert!(out.status.success());
    assert_eq!(fs::read(w.d.work.join("curl-got.bin")).unwrap(), content);
    let out = w.lftp(&format!("get '/inbox/{}' -o lftp-got.bin", names[1]));
    succeeded("lftp", &out);
    assert_eq!(fs::read(w.d.work.join("lftp-got.bin")).unwrap(), content);
    let tail_from = 3 * 1024 * 1024;
    let r = w.python(&json!([
        ["get", format!("/inbox/{}", names[2]), "py-got.bin"],
        [
            "get_from",
            format!("/inbox/{}", names[2]),
            "py-tail.bin",
            tail_from
        ],
    ]));
    assert!(reply(&r[0]).starts_with("226"), "{r:?}");
    assert_eq!(fs::read(w.d.work.join("py-got.bin")).unwrap(), content);
    assert_eq!(
        fs::read(w.d.work.join("py-tail.bin")).unwrap(),
        &content[tail_from..]
    );

    // Names and facts: LIST, NLST, MLSD, SIZE, MDTM, MKD, RNFR/RNTO,
    // DELE, RMD, PWD/CWD.
    let r = w.python(&json!([
        ["mlsd", "/inbox"],
        ["nlst", "/inbox"],
        ["list", "/inbox"],
        ["size", format!("/inbox/{}", names[0])],
        ["mdtm", format!("/inbox/{}", names[0])],
        ["mkd", "/inbox/月次"],
        ["cwd", "/inbox/月次"],
        ["pwd"],
        ["rename", format!("/inbox/{}", names[2]), "済み.csv"],
        ["nlst", "."],
        ["delete", "済み.csv"],
        ["cwd", ".."],
        ["rmd", "月次"],
        ["raw", "OPTS UTF8 ON"],
        ["raw", "FEAT"],
    ]));
    let mlsd = r[0]["value"].as_array().unwrap();
    let fact = mlsd.iter().find(|e| e[0] == names[0]).expect("in MLSD");
    assert_eq!(fact[1]["type"], "file");
    assert_eq!(fact[1]["size"], content.len().to_string());
    assert_eq!(fact[1]["modify"].as_str().unwrap().len(), 14);
    let nlst: Vec<&str> = r[1]["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in names {
        assert!(nlst.contains(&name), "{nlst:?}");
    }
    let list = r[2]["value"].to_string();
    assert!(
        list.contains(names[1]) && list.contains(&content.len().to_string()),
        "{list}"
    );
    assert_eq!(r[3]["value"], content.len());
    assert!(reply(&r[4]).starts_with("213 20"), "{r:?}");
    assert_eq!(r[5]["value"], "/inbox/月次");
    assert_eq!(r[7]["value"], "/inbox/月次");
    assert!(r[8]["ok"].as_bool().unwrap(), "{r:?}");
    assert_eq!(r[9]["value"], json!(["済み.csv"]));
    for (i, step) in r.iter().enumerate() {
        assert!(step["ok"].as_bool().unwrap(), "step {i}: {step}");
    }
    assert!(reply(&r[14]).contains("UTF8") && reply(&r[14]).contains("REST STREAM"));

    // Every operation is audited with protocol ftps.
    let committed = w.d.audit_query("upload_committed");
    assert_eq!(
        committed
            .iter()
            .filter(|r| r["protocol"] == "ftps" && r["user"] == USER)
            .count(),
        3,
        "{committed:?}"
    );
    for kind in [
        "downloaded",
        "renamed",
        "deleted",
        "dir_created",
        "dir_removed",
    ] {
        let recs = w.d.audit_query(kind);
        assert!(
            recs.iter().any(|r| r["protocol"] == "ftps"),
            "{kind}: {recs:?}"
        );
    }
    let logins = w.d.audit_query("login_succeeded");
    assert!(
        logins
            .iter()
            .any(|r| r["protocol"] == "ftps" && r["method"] == "password")
    );

    // Nothing the clients sent is on disk in clear.
    assert_no_plaintext(&w.d.data, marker);
}

/// Reads one FTP reply (all its lines) from a plain socket.
fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return all;
        }
        all.push_str(&line);
        if line.len() >= 4 && line.as_bytes()[3] == b' ' {
            return all;
        }
    }
}

#[test]
fn plain_ftp_is_refused_before_anything_is_sent_in_clear() {
    let w = FtpsWorld::start("", "", "");
    // A plain client: the greeting says FTPS; USER ends the connection
    // before a password can follow.
    let s = TcpStream::connect(w.addr("explicit")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let hello = read_reply(&mut r);
    assert!(
        hello.starts_with("220") && hello.contains("AUTH TLS"),
        "{hello}"
    );
    (&s).write_all(b"LIST\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("530"));
    (&s).write_all(format!("USER {USER}\r\n").as_bytes())
        .unwrap();
    let refused = read_reply(&mut r);
    assert!(
        refused.starts_with("530") && refused.contains("plain FTP"),
        "{refused}"
    );
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the connection is closed after USER");
    w.d.wait_event("plain FTP refused", |e| {
        e["event"] == "connection_refused" && e["protocol"] == "ftps" && e["stage"] == "tls"
    });

    // Implicit FTPS (TLS from the first byte) serves the same boxes;
    // plain text to the implicit port gets nothing at all.
    fs::write(w.d.work.join("implicit.txt"), "暗黙のTLS").unwrap();
    let implicit = format!("ftps://{}/inbox/implicit.txt", w.addr("implicit"));
    let out = w.curl(&["-T", "implicit.txt", &implicit]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        w.d.get("011002", "inbox", "implicit.txt"),
        "暗黙のTLS".as_bytes()
    );
    let s = TcpStream::connect(w.addr("implicit")).unwrap();
    (&s).write_all(format!("USER {USER}\r\n").as_bytes())
        .unwrap();
    let got = read_all(&s);
    assert!(!got.contains("331") && !got.contains("220"), "{got}");

    // curl without --ssl-reqd is refused too; with it, it works.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--user", &format!("{USER}:{PW}")])
        .arg(w.url("/inbox/"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("530"));

    // Commands injected after AUTH TLS, before the handshake, end the
    // connection (they would be read as if they came inside TLS).
    let s = TcpStream::connect(w.addr("explicit")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    read_reply(&mut r);
    (&s).write_all(b"AUTH TLS\r\nUSER x\r\n").unwrap();
    let a = read_reply(&mut r);
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(a.starts_with("234") && rest.is_empty(), "{a} / {rest:?}");
    s.shutdown(Shutdown::Both).ok();

    // Inside TLS: clear data connections (PROT C) and active mode are
    // refused and recorded; a Shift_JIS name is refused as not UTF-8.
    fs::write(w.d.work.join("a.txt"), "x").unwrap();
    let r = w.python(&json!([
        ["put_plain_data", "a.txt", "/inbox/a.txt"],
        ["raw", "PORT 127,0,0,1,4,1"],
        ["raw", "EPRT |1|127.0.0.1|1025|"],
        ["raw", "OPTS UTF8 OFF"],
        ["raw", "CCC"],
        // STOR 住民.csv in Shift_JIS.
        [
            "raw_bytes",
            format!("{}{}", hex::encode("STOR /inbox/"), "8f5a96af2e637376")
        ],
        ["raw", "STAT"],
    ]));
    assert!(reply(&r[0]).starts_with("534"), "{r:?}");
    assert!(
        reply(&r[1]).starts_with("502") && reply(&r[1]).contains("passive"),
        "{r:?}"
    );
    assert!(reply(&r[2]).starts_with("502"), "{r:?}");
    assert!(
        reply(&r[3]).starts_with("504") && reply(&r[3]).contains("UTF-8"),
        "{r:?}"
    );
    assert!(reply(&r[4]).starts_with("534"), "{r:?}");
    assert!(
        reply(&r[5]).starts_with("501") && reply(&r[5]).contains("Shift_JIS"),
        "{r:?}"
    );
    assert!(
        reply(&r[6]).starts_with("211"),
        "the session goes on: {r:?}"
    );
    let refused = w.d.audit_query("operation_refused");
    assert!(
        refused
            .iter()
            .any(|e| e["protocol"] == "ftps" && e["op"] == "active"),
        "{refused:?}"
    );
}

#[test]
fn a_data_port_cannot_be_stolen_from_another_address_or_without_the_tls_session() {
    let w = FtpsWorld::start("", "data_connect_timeout = \"3s\"\n", "");
    let content = pseudo_random(200_000, 5);
    w.d.put("011002", "inbox", "kekka.csv", &content);
    let r = w.python(&json!([
        ["steal", "/inbox/kekka.csv", "127.0.0.2"],
        ["no_reuse", "/inbox/kekka.csv"],
        ["get", "/inbox/kekka.csv", "after.bin"],
    ]));
    // The stranger from 127.0.0.2 got nothing; the client then got it all.
    assert!(reply(&r[0]).starts_with("226"), "{r:?}");
    assert_eq!(r[0]["value"]["stranger_got"], 0, "{r:?}");
    assert_eq!(r[0]["value"]["client_got"], content.len(), "{r:?}");
    w.d.wait_event("stranger refused", |e| {
        e["event"] == "connection_refused"
            && e["stage"] == "data"
            && e["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.2:"))
    });
    // A data connection with a TLS session of its own (not resumed from
    // this control connection) gets nothing and a 425.
    assert_eq!(r[1]["value"]["got"], 0, "{r:?}");
    assert!(
        reply(&r[1]).contains("425") && reply(&r[1]).contains("resume"),
        "{r:?}"
    );
    // It is a stranger's connection (another program behind the client's
    // address could have made it), not the session's violation: refused
    // at the data stage, nothing recorded against the account.
    w.d.wait_event("not resumed", |e| {
        e["event"] == "connection_refused"
            && e["protocol"] == "ftps"
            && e["stage"] == "data"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("TLS session"))
    });
    assert!(
        w.d.audit_query("protocol_violation").is_empty(),
        "{:?}",
        w.d.audit_query("protocol_violation")
    );
    // The session goes on.
    assert!(reply(&r[2]).starts_with("226"), "{r:?}");
    assert_eq!(fs::read(w.d.work.join("after.bin")).unwrap(), content);
}

#[test]
fn an_upload_cut_off_resumes_onto_its_partial_and_is_never_half_visible() {
    let w = FtpsWorld::start("", "", "");
    let content = pseudo_random(6 * 1024 * 1024 + 3, 9);
    fs::write(w.d.work.join("big.bin"), &content).unwrap();
    let name = "/inbox/住民票_011002_20261202.csv";
    let r = w.python(&json!([
        ["cut", "big.bin", name, 4 * 1024 * 1024],
        ["size", name],
    ]));
    assert!(
        reply(&r[0]).starts_with("426") && reply(&r[0]).contains("REST"),
        "{r:?}"
    );
    let kept = r[1]["value"].as_u64().unwrap();
    assert!(kept > 0 && kept <= 4 * 1024 * 1024, "kept {kept}");
    w.d.wait_event("interrupted", |e| {
        e["event"] == "upload_interrupted" && e["protocol"] == "ftps"
    });
    // Not a file for anyone else: another account of the municipality
    // does not see it; the operator sees a partial.
    let ls = w.d.sftp_ok("011002-juki", "ls -1 /inbox\n");
    assert!(!ls.contains("住民票"), "{ls}");
    let states: Vec<Value> = w.d.ls("011002");
    assert!(states.iter().all(|e| e["state"] != "stored"), "{states:?}");
    // A wrong REST is refused and keeps the partial as it was.
    let r = w.python(&json!([
        ["put_at", "big.bin", name, kept + 1],
        ["size", name]
    ]));
    assert!(reply(&r[0]).starts_with("554"), "{r:?}");
    assert_eq!(r[1]["value"].as_u64(), Some(kept), "{r:?}");
    // ftplib resumes with SIZE, REST and STOR: the file is whole.
    let r = w.python(&json!([["resume", "big.bin", name]]));
    assert!(reply(&r[0]).starts_with("226"), "{r:?}");
    assert_eq!(r[0]["value"].as_u64(), Some(kept));
    assert!(reply(&r[0]).contains(&sha256_hex(&content)), "{r:?}");
    let c = w.d.wait_event("committed", |e| {
        e["event"] == "upload_committed" && e["protocol"] == "ftps"
    });
    assert_eq!(c["resumed"], true);
    w.d.sftp_ok("011002-juki", &format!("get \"{name}\" whole.bin\n"));
    assert_eq!(fs::read(w.d.work.join("whole.bin")).unwrap(), content);

    // lftp resumes the same way (`put -c` after a cut).
    let r = w.python(&json!([[
        "cut",
        "big.bin",
        "/inbox/lftp.bin",
        3 * 1024 * 1024
    ]]));
    assert!(reply(&r[0]).starts_with("426"), "{r:?}");
    let out = w.lftp("put -c big.bin -o /inbox/lftp.bin");
    succeeded("lftp", &out);
    w.d.sftp_ok("011002-juki", "get /inbox/lftp.bin lftp.bin\n");
    assert_eq!(fs::read(w.d.work.join("lftp.bin")).unwrap(), content);
}

#[test]
fn ftps_paths_never_reach_another_municipality() {
    let w = FtpsWorld::start("", "", "");
    let secret = b"SECRET-OF-MORIOKA-032018-0001".repeat(100);
    w.d.put("032018", "inbox", "secret.csv", &secret);
    w.d.put("032018", "outbox", "secret.csv", &secret);
    let hostile = [
        "../032018/inbox/secret.csv",
        "/../032018/inbox/secret.csv",
        "/inbox/../../032018/inbox/secret.csv",
        "//032018/inbox/secret.csv",
        "\\..\\032018\\inbox\\secret.csv",
        "/inbox/%2e%2e/%2e%2e/032018/inbox/secret.csv",
        "/032018/inbox/secret.csv",
        "~032018-juki/inbox/secret.csv",
        "/inbox/secret.csv",
        "/outbox/secret.csv",
        "/receipts/../../032018/inbox/secret.csv",
        "/inbox/./../outbox/../../032018/outbox/secret.csv",
        "/tenants/032018/inbox/secret.csv",
        "/data/vault/../032018/inbox/secret.csv",
    ];
    let mut steps = Vec::new();
    for (i, p) in hostile.iter().enumerate() {
        let dir = p
            .rsplit_once('/')
            .map_or(".", |(d, _)| if d.is_empty() { "/" } else { d });
        steps.push(json!(["get", p, format!("stolen-{i}.bin")]));
        steps.push(json!(["size", p]));
        steps.push(json!(["mdtm", p]));
        steps.push(json!(["raw", format!("MLST {p}")]));
        steps.push(json!(["list", dir]));
        steps.push(json!(["cwd", dir]));
        steps.push(json!(["list", "."]));
        steps.push(json!(["cwd", "/"]));
        steps.push(json!(["delete", p]));
        steps.push(json!(["rename", p, "/inbox/stolen.csv"]));
        steps.push(json!(["put", "probe.txt", p]));
    }
    fs::write(w.d.work.join("probe.txt"), "probe").unwrap();
    let r = w.python(&Value::Array(steps.clone()));
    assert_eq!(r.len(), steps.len(), "{r:?}");
    let mut escapes = Vec::new();
    for (step, res) in steps.iter().zip(&r) {
        let text = res.to_string();
        if text.contains("SECRET-OF-MORIOKA") || text.contains("secret.csv\"") && step[0] == "list"
        {
            escapes.push((step.clone(), res.clone()));
        }
    }
    for (i, p) in hostile.iter().enumerate() {
        if let Ok(got) = fs::read(w.d.work.join(format!("stolen-{i}.bin")))
            && got.windows(10).any(|w| w == b"SECRET-OF-")
        {
            escapes.push((json!(p), json!("downloaded")));
        }
    }
    assert!(escapes.is_empty(), "{} escapes: {escapes:?}", escapes.len());
    // 盛岡市's files are untouched, and nothing landed in its boxes.
    assert_eq!(w.d.get("032018", "inbox", "secret.csv"), secret);
    assert_eq!(w.d.get("032018", "outbox", "secret.csv"), secret);
    let theirs: Vec<Value> = w.d.ls("032018");
    assert_eq!(theirs.len(), 2, "{theirs:?}");
}

#[test]
fn ftps_logins_are_proved_allowed_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["jukisys.example".to_string()]).unwrap();
    let (ccert, ckey) = (dir.path().join("client.crt"), dir.path().join("client.key"));
    fs::write(&ccert, made.cert.pem()).unwrap();
    fs::write(&ckey, made.signing_key.serialize_pem()).unwrap();
    let pin = sha256_hex(made.cert.der());
    let more = format!(
        "\n[[tenant.account]]\nuser = \"011002-certonly\"\nftps_client_cert = \"{pin}\"\n\n[[tenant.account]]\nuser = \"011002-legacy\"\n{}\n",
        common::ftps::ftps_password_line("011002-legacy", PW)
    );
    let deny = "[[rule]]\naction = \"deny\"\naccount = \"011002-legacy\"\nprotocol = \"ftps\"\nreason = \"011002-legacy moved to SFTP\"\n";
    let w = FtpsWorld::start_with_policies(
        &more,
        "",
        "",
        &[
            // Before the baseline, whose broad allow would decide first.
            ("00-ftps.toml", deny),
            ("10-baseline.toml", &common::Daemon::baseline_rules()),
        ],
    );
    let pwd = json!([["pwd"]]);
    // A wrong password, an unknown name, an account without an FTPS
    // login, and one the rules keep off FTPS: each refused, each recorded
    // with why, the client told only that the login failed.
    for (user, pw, why) in [
        (USER, "wrong-password-123", "wrong password"),
        ("nobody-here", PW, "unknown user"),
        ("011002-juki", PW, "no FTPS login"),
        ("011002-legacy", PW, "moved to SFTP"),
    ] {
        let r = w.python_as(user, pw, &pwd);
        assert_eq!(r[0]["step"], "login", "{user}: {r:?}");
        assert!(reply(&r[0]).contains("530"), "{user}: {r:?}");
        w.d.wait_event(why, |e| {
            e["event"] == "login_failed"
                && e["protocol"] == "ftps"
                && e["user"] == user
                && e["reason"].as_str().is_some_and(|r| r.contains(why))
        });
    }
    // The pinned certificate logs in without a password; without the
    // certificate the same name is refused.
    let out = w
        .python_command("011002-certonly", "-", &pwd, &[&ccert, &ckey])
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        first.contains("\"value\": \"/\""),
        "{first} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    w.d.wait_event("certificate login", |e| {
        e["event"] == "login_succeeded"
            && e["user"] == "011002-certonly"
            && e["method"] == "client certificate"
    });
    let r = w.python_as("011002-certonly", "-", &pwd);
    assert!(reply(&r[0]).contains("530"), "{r:?}");
    w.d.wait_event("no certificate", |e| {
        e["event"] == "login_failed"
            && e["user"] == "011002-certonly"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no client certificate"))
    });
    // The session's end is recorded with the protocol.
    w.d.wait_event("session ended", |e| {
        e["event"] == "session_ended" && e["protocol"] == "ftps" && e["user"] == "011002-certonly"
    });
}

#[test]
fn a_kill_during_ftps_uploads_loses_nothing_acknowledged_and_shows_nothing_half_done() {
    let mut w = FtpsWorld::start("", "", "\n[limits]\nupload_checkpoint = \"1MiB\"\n");
    let marker = b"FTPS-KILL9-MARKER-51c2";
    let mut whole = pseudo_random(2 * 1024 * 1024, 77);
    whole[5000..5000 + marker.len()].copy_from_slice(marker);
    fs::write(w.d.work.join("whole.bin"), &whole).unwrap();
    let r = w.python(&json!([["put", "whole.bin", "/inbox/acknowledged.csv"]]));
    assert!(reply(&r[0]).starts_with("226"), "{r:?}");

    // Three uploads in flight, slowed so that the kill finds them midway.
    let mut children = Vec::new();
    for i in 0..3 {
        let name = format!("inflight-{i}.bin");
        fs::write(w.d.work.join(&name), &whole).unwrap();
        let child = std::process::Command::new("curl")
            .args(["-sS", "--ssl-reqd", "--limit-rate", "400k", "--cacert"])
            .arg(&w.cert)
            .args(["--user", &format!("{USER}:{PW}"), "-T", &name])
            .arg(w.url(&format!("/inbox/{name}")))
            .current_dir(&w.d.work)
            .spawn()
            .unwrap();
        children.push(child);
    }
    // Each has checkpointed at least a segment (upload_checkpoint 1 MiB):
    // the journal lists all three as partials with bytes kept.
    common::eventually(
        "a checkpoint of each upload",
        Duration::from_secs(60),
        || {
            let kept =
                w.d.ls("011002")
                    .iter()
                    .filter(|e| e["state"] == "partial" && e["size"].as_u64() > Some(0))
                    .count();
            (kept == 3).then_some(())
        },
    );
    w.d.kill9();
    for c in children {
        common::kill_client(c);
    }
    w.d.start_again();

    // The acknowledged file is there, whole; the cut ones are nobody's
    // file (another account sees none of them).
    w.d.sftp_ok("011002-juki", "get /inbox/acknowledged.csv ack.bin\n");
    assert_eq!(fs::read(w.d.work.join("ack.bin")).unwrap(), whole);
    let ls = w.d.sftp_ok("011002-juki", "ls -1 /inbox\n");
    assert!(!ls.contains("inflight"), "{ls}");
    // Each resumes from what was kept, to the same bytes.
    for i in 0..3 {
        let name = format!("inflight-{i}.bin");
        let r = w.python(&json!([["resume", name, format!("/inbox/{name}")]]));
        assert!(reply(&r[0]).starts_with("226"), "{r:?}");
        assert!(
            r[0]["value"].as_u64().unwrap() > 0,
            "resumed from a checkpoint: {r:?}"
        );
        w.d.sftp_ok("011002-juki", &format!("get /inbox/{name} got-{i}.bin\n"));
        assert_eq!(
            fs::read(w.d.work.join(format!("got-{i}.bin"))).unwrap(),
            whole
        );
    }
    let (ok, out) = w.d.cli("audit", &["verify"]);
    assert!(ok, "{out}");
    assert_no_plaintext(&w.d.data, marker);
}

/// Reads what a plain socket gets until it is closed (or 20 s pass).
fn read_all(s: &TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut all = Vec::new();
    let _ = (&*s).read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn hostile_ftps_clients_are_cut_off_within_their_limits_while_others_work() {
    let w = FtpsWorld::start(
        "",
        "max_connections_per_source = 6\ndata_connect_timeout = \"2s\"\n",
        // The defender would ban 127.0.0.1 for these (tests/defender.rs
        // covers that): here the same address must go on working.
        "\n[limits]\nlogin_grace_time = \"3s\"\nsend_timeout = \"3s\"\n\n[defender]\nexempt = [\"127.0.0.1/32\"]\n",
    );
    let big = pseudo_random(24 * 1024 * 1024, 3);
    w.d.put("011002", "outbox", "big.bin", &big);
    let before = common::rss(w.d.pid());

    // Silent connections fill the per-source limit; the next is told so.
    let silent: Vec<TcpStream> = (0..6)
        .map(|_| TcpStream::connect(w.addr("explicit")).unwrap())
        .collect();
    common::eventually("six connections", Duration::from_secs(20), || {
        (w.d.status_json()["ftps"]["connections"] == 6).then_some(())
    });
    let seventh = TcpStream::connect(w.addr("explicit")).unwrap();
    let told = read_all(&seventh);
    assert!(
        told.starts_with("421") && told.contains("max_connections_per_source"),
        "{told}"
    );
    // The login grace time ends them, and frees their places.
    for s in &silent {
        let got = read_all(s);
        assert!(
            got.contains("421") && got.contains("login_grace_time"),
            "{got}"
        );
    }
    common::eventually("silent ones gone", Duration::from_secs(20), || {
        (w.d.status_json()["ftps"]["connections"] == 0).then_some(())
    });

    // A line that never ends is cut at MAX_COMMAND_LINE bytes.
    let endless = TcpStream::connect(w.addr("explicit")).unwrap();
    let _ = (&endless).write_all(&vec![b'A'; 1024 * 1024]);
    let got = read_all(&endless);
    assert!(
        got.contains("500") && got.contains("longer than 4096"),
        "{got}"
    );

    // A data connection never opened, and a download never read: each
    // ends within its limit, and the session is told.
    let r = w.python(&json!([
        ["no_connect", "/outbox/big.bin"],
        ["stall_get", "/outbox/big.bin"],
        ["pwd"],
    ]));
    assert_eq!(
        r[0]["value"]["first"].as_str().map(|s| &s[..3]),
        Some("150"),
        "{r:?}"
    );
    assert!(
        reply(&r[0]).contains("425") && reply(&r[0]).contains("data_connect_timeout"),
        "{r:?}"
    );
    assert!(
        reply(&r[1]).contains("426") && reply(&r[1]).contains("send_timeout"),
        "{r:?}"
    );
    assert!(r[2]["ok"].as_bool().unwrap(), "the session goes on: {r:?}");

    // Meanwhile another municipality works over SFTP, and the daemon grew
    // by little: nothing the hostile clients did is still held.
    let theirs = pseudo_random(1024 * 1024, 8);
    w.d.put("032018", "inbox", "during.csv", &theirs);
    assert_eq!(w.d.get("032018", "inbox", "during.csv"), theirs);
    let after = common::rss(w.d.pid());
    assert!(
        after < before + 48 * 1024 * 1024,
        "RSS grew from {} to {} MiB",
        before >> 20,
        after >> 20
    );
    let ended = w.d.audit_query("session_ended");
    assert!(
        ended
            .iter()
            .filter(|e| e["protocol"] == "ftps" && e["reason"] == "login grace time exceeded")
            .count()
            >= 6,
        "{ended:?}"
    );
    let held = w.d.status_json()["client_memory"]["held"].as_u64().unwrap();
    assert_eq!(held, 0, "transfer memory given back");
}

#[test]
fn failed_ftps_logins_count_towards_a_ban_that_closes_every_door() {
    let w = FtpsWorld::start(
        "",
        "",
        "\n[defender]\nthreshold = 2\nscore_failed_login = 1\n",
    );
    for _ in 0..2 {
        let r = w.python_as(USER, "wrong-password-123", &json!([["pwd"]]));
        assert!(reply(&r[0]).contains("530"), "{r:?}");
    }
    w.d.wait_event("banned", |e| e["event"] == "banned");
    // Even the right password is now turned away at accept, told why.
    let r = w.python(&json!([["pwd"]]));
    assert!(
        reply(&r[0]).contains("421") && reply(&r[0]).contains("banned"),
        "{r:?}"
    );
    w.d.wait_event("refused at accept", |e| {
        e["event"] == "connection_refused" && e["protocol"] == "ftps" && e["stage"] == "accept"
    });
    // SFTP from the same address too: one defender for every door.
    let out = w.d.sftp("011002-juki", b"pwd\n", &[]);
    assert!(!out.status.success());
}

#[test]
fn an_ftps_upload_goes_through_the_checks_stage_before_anyone_sees_it() {
    let w = FtpsWorld::start(
        "",
        "",
        "\n[[check]]\nname = \"text-only\"\nbox = \"inbox\"\npatterns = [\"*.csv\"]\ntypes = [\"text\"]\n",
    );
    // An executable named .csv is refused by the stage: 226 said it was
    // stored (durable), never that it was accepted; nobody else sees it.
    let mut exe = b"\x7fELF\x02\x01\x01\x00".to_vec();
    exe.extend(pseudo_random(4096, 2));
    fs::write(w.d.work.join("fake.csv"), &exe).unwrap();
    fs::write(w.d.work.join("good.csv"), "番号,氏名\n1,盛岡 太郎\n").unwrap();
    let r = w.python(&json!([
        ["put", "fake.csv", "/inbox/fake.csv"],
        ["put", "good.csv", "/inbox/good.csv"],
    ]));
    assert!(
        reply(&r[0]).starts_with("226") && reply(&r[1]).starts_with("226"),
        "{r:?}"
    );
    w.d.wait_event("rejected", |e| {
        e["event"] == "file_rejected" && e["path"] == "fake.csv"
    });
    w.d.wait_event("checked", |e| {
        e["event"] == "file_checked" && e["path"] == "good.csv"
    });
    let ls = w.d.sftp_ok("011002-juki", "ls -1 /inbox\n");
    assert!(ls.contains("good.csv") && !ls.contains("fake.csv"), "{ls}");
}

#[test]
fn the_ftps_certificate_is_replaced_on_reload_and_a_bad_one_keeps_the_old() {
    let w = FtpsWorld::start("", "", "");
    let before = w.d.status_json()["ftps"]["certificate_sha256"].clone();
    let renewed = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    fs::write(&w.cert, renewed.cert.pem()).unwrap();
    fs::write(&w.key, renewed.signing_key.serialize_pem()).unwrap();
    w.d.ctl_ok(&["reload"]);
    let after = w.d.status_json()["ftps"]["certificate_sha256"].clone();
    assert_ne!(before, after);
    // New connections are served with it (curl checks it against the file).
    let out = w.curl(&[&w.url("/inbox/")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A key that does not match: the reload says so, the old pair serves.
    fs::write(&w.key, rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let (_, said) = w.d.ctl_code(&["reload"]);
    assert!(said.contains("FTPS certificate was not replaced"), "{said}");
    assert_eq!(w.d.status_json()["ftps"]["certificate_sha256"], after);
}

/// Fails the test with the client's own error unless it succeeded.
fn succeeded(client: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{client}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
