//! Each role's flow in a real browser (headless Chromium over WebDriver):
//! the 窓口 uploads a Japanese-named file (with the page's progress
//! script) and it is the same file over SFTP; a file the operator placed
//! in the outbox is downloaded; an approver approves a lane file; an
//! auditor finds an upload's record and exports CSV; an operator retries
//! a failed hand-off. Screenshots of every page are kept as artifacts
//! (target/tmp/screenshots/) and checked to have rendered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::browser::{artifacts, login, run};
use common::web::{Browser, certificate, password_line, web_table};
use common::{Daemon, default_tenants, pseudo_random};
use serde_json::{Value, json};

const PW: &str = "browser-test-password";

fn start(more: &str) -> (Daemon, String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let extra = format!(
        "[[tenant.account]]\nuser = \"011002-madoguchi\"\n{}\n{}{more}",
        password_line("011002-madoguchi", PW),
        web_table(&cert, &key, "")
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    let base = format!("https://{}", d.web_addr("staff"));
    (d, base, cert, dir)
}

fn steps(parts: Vec<Vec<Value>>) -> Value {
    Value::Array(parts.into_iter().flatten().collect())
}

#[test]
fn madoguchi_uploads_a_japanese_named_file_that_sftp_sees_byte_exact() {
    let (d, base, _cert, _dir) = start("");
    let out = artifacts("madoguchi_upload");
    let name = "住民基本台帳情報_011002_20261202.csv";
    let local = out.join(name);
    let content = pseudo_random(2 * 1024 * 1024, 21);
    fs::write(&local, &content).unwrap();
    run(
        &out,
        steps(vec![
            vec![
                json!({"go": format!("{base}/login")}),
                json!({"shot": "01-login"}),
            ],
            login(&base, "011002-madoguchi", PW),
            vec![
                json!({"wait_text": "送信するファイル"}),
                json!({"shot": "02-inbox-empty"}),
                json!({"upload": ["input[type=file]", local.to_str().unwrap()]}),
                json!({"click": "form.upload button"}),
                json!({"wait_text": name}),
                json!({"shot": "03-inbox-uploaded"}),
            ],
        ]),
    );
    fs::remove_file(&local).unwrap();
    d.sftp_ok("011002-juki", &format!("get /inbox/{name}"));
    assert_eq!(fs::read(d.work.join(name)).unwrap(), content);
    let committed = d.wait_event("the upload's record", |e| {
        e["event"] == "upload_committed" && e["path"] == name
    });
    assert_eq!(committed["protocol"], "https");
}

#[test]
fn a_file_placed_in_the_outbox_is_downloaded_in_the_browser() {
    let (d, base, _cert, _dir) = start("");
    let out = artifacts("outbox_download");
    let name = "保険料情報_011002.csv";
    let content = pseudo_random(900_000, 22);
    d.put("011002", "outbox", name, &content);
    run(
        &out,
        steps(vec![
            login(&base, "011002-madoguchi", PW),
            vec![
                json!({"go": format!("{base}/box/outbox")}),
                json!({"wait_text": name}),
                json!({"shot": "01-outbox"}),
                json!({"click_text": ["a.button", "ダウンロード"]}),
                json!({"wait_file": name}),
            ],
        ]),
    );
    assert_eq!(fs::read(out.join("downloads").join(name)).unwrap(), content);
}

#[test]
fn an_approver_approves_a_lane_file_in_the_browser() {
    // The browser connects from 127.0.0.1: the segment's network here.
    let lanes = format!(
        r#"
[[segment]]
name = "standard"
label = "標準システム系"
listen = ["127.0.0.2:0"]
web_listen = ["127.0.0.2:0"]
networks = ["127.0.0.1/32"]

[[segment.account]]
user = "std-ope"
{}

[[segment.account]]
user = "std-kakarichou"
{}

[[segment]]
name = "chukan"
label = "統合専用端末系"
listen = ["127.0.0.3:0"]
networks = ["127.0.0.1/32"]

[[segment.account]]
user = "chukan-ope"
{}

[[lane]]
name = "kanyusha-down"
from = "standard"
to = "chukan"
senders = ["std-ope"]
receivers = ["chukan-ope"]
approvers = ["std-kakarichou"]
"#,
        password_line("std-ope", PW),
        password_line("std-kakarichou", PW),
        password_line("chukan-ope", PW)
    );
    let (d, _base, cert, _dir) = start(&lanes);
    let seg = d.web_addr("segment:standard");
    let sender = Browser::new(&seg, &cert);
    assert_eq!(sender.login("std-ope", PW, "").status, 303);
    let name = "加入者情報一括登録ファイル.csv";
    let local = d.work.join(name);
    fs::write(&local, b"H,20261202\nD,1\nT,1\n").unwrap();
    let token = sender.csrf("/box/send/kanyusha-down");
    assert_eq!(
        sender
            .upload("/send/kanyusha-down", &local, Some(&token))
            .status,
        200
    );

    let out = artifacts("approver_approves");
    let base = format!("https://{seg}");
    run(
        &out,
        steps(vec![
            login(&base, "std-kakarichou", PW),
            vec![
                json!({"go": format!("{base}/box/approve/kanyusha-down")}),
                json!({"wait_text": name}),
                json!({"shot": "01-approval-queue"}),
                json!({"click_text": ["button", "承認"]}),
                json!({"wait_text": "ファイルはありません"}),
                json!({"shot": "02-approved"}),
            ],
        ]),
    );
    let delivered = d.wait_event("delivered", |e| e["event"] == "lane_delivered");
    assert_eq!(delivered["user"], "std-kakarichou");
    assert_eq!(delivered["protocol"], "https");
}

#[test]
fn an_auditor_finds_an_upload_and_exports_csv_in_the_browser() {
    let users = format!(
        "\n[audit]\ncheckpoint_every = 5\ncheckpoint_interval = \"1s\"\n\n[[web.user]]\nuser = \"kansa\"\nrole = \"auditor\"\nnetworks = [\"127.0.0.1/32\"]\n{}\n",
        password_line("kansa", PW)
    );
    let (d, base, _cert, _dir) = start(&users);
    d.put("011002", "inbox", "期割情報_011002.csv", b"1\n");
    d.wait_event("the record", |e| e["event"] == "upload_committed");
    let out = artifacts("auditor_search");
    let v = run(
        &out,
        steps(vec![
            login(&base, "kansa", PW),
            vec![
                json!({"wait_text": "検索"}),
                json!({"shot": "01-search"}),
                json!({"type": ["input[name=event]", "upload_committed"]}),
                json!({"type": ["input[name=file]", "期割"]}),
                json!({"click": "form.search button"}),
                json!({"wait_text": "期割情報_011002.csv"}),
                json!({"shot": "02-results"}),
                json!({"click_text": ["a.button", "CSV"]}),
                json!({"wait_file": "renkei-audit-*"}),
                json!({"go": format!("{base}/audit/verify")}),
                json!({"wait_text": "検証済み"}),
                json!({"shot": "03-verified"}),
            ],
        ]),
    );
    assert!(
        v["shots"]["02-results"]["text"]
            .as_str()
            .unwrap()
            .contains("札幌市")
    );
    let csv = fs::read_dir(out.join("downloads"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("renkei-audit-"))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM");
    assert!(csv.contains("期割情報_011002.csv"), "{csv}");
}

#[test]
fn an_operator_retries_a_failed_hand_off_in_the_browser() {
    let more = format!(
        r#"
[[route]]
name = "juki-up"
source = {{ box = "inbox", pattern = "*.csv" }}
destination = {{ dir = "spool/{{tenant}}" }}
retry = {{ attempts = 2, first = "200ms", max = "500ms" }}

[[web.user]]
user = "unyou"
role = "operator"
networks = ["127.0.0.1/32"]
{}
"#,
        password_line("unyou", PW)
    );
    let (d, base, _cert, _dir) = start(&more);
    fs::create_dir_all(d.root.path().join("spool")).unwrap();
    let blocker = d.root.path().join("spool").join("032018");
    fs::write(&blocker, b"not a directory").unwrap();
    d.put("032018", "inbox", "JUKI_032018.csv", b"a,b\n");
    d.wait_event("gave up", |e| {
        e["event"] == "handoff_failed" && e["gave_up"] == true
    });
    fs::remove_file(&blocker).unwrap();
    let out = artifacts("operator_retry");
    run(
        &out,
        steps(vec![
            login(&base, "unyou", PW),
            vec![
                json!({"wait_text": "JUKI_032018.csv"}),
                json!({"shot": "01-status-failed"}),
                json!({"click_text": ["button", "再実行"]}),
                json!({"wait_text": "運用状況"}),
                json!({"shot": "02-after-retry"}),
            ],
        ]),
    );
    d.wait_event("delivered", |e| e["event"] == "handoff_delivered");
    assert!(blocker.join("JUKI_032018.csv").exists());
    let act = d.wait_event("the action", |e| e["event"] == "web_action");
    assert_eq!(act["user"], "unyou");
}
