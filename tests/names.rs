//! The names a file may have, whichever client and whichever operation gives
//! it that name: `.`/`..` resolved inside the namespace, NFC, and the
//! confusable, invisible and Windows-unstorable names refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;

use common::Daemon;

/// paramiko stats `<cwd>/..` before it changes directory up; `..` is
/// resolved lexically inside the account's namespace and stops at its top.
#[test]
fn paramiko_chdir_up_and_down_stays_inside() {
    let d = Daemon::start();
    d.put("032018", "inbox", "here.csv", b"x");
    d.put("011002", "inbox", "theirs.csv", b"SAPPORO");
    d.sftp_ok("032018-juki", "mkdir /inbox/sub\n");
    let r = d.paramiko_json("032018-juki", &["chdir", "/inbox", "sub", "..", "."]);
    assert_eq!(r["cwd"], "/inbox", "{r}");
    assert_eq!(r["names"], serde_json::json!(["here.csv", "sub"]));
    let r = d.paramiko_json("032018-juki", &["chdir", "/inbox", "..", "..", ".."]);
    assert_eq!(r["cwd"], "/", "{r}");
    assert_eq!(
        r["names"],
        serde_json::json!(["inbox", "outbox", "receipts"])
    );
    let r = d.paramiko_json(
        "032018-juki",
        &["stat", "/inbox/sub/../../../../inbox/here.csv"],
    );
    assert_eq!(r["size"], 1);
    let out = d.paramiko(
        "032018-juki",
        &["stat", "/inbox/../../011002/inbox/theirs.csv"],
    );
    assert!(!out.status.success(), "nothing above the namespace top");
}

/// A macOS client sends decomposed kana (NFD), a Windows client composed
/// ones (NFC): both name one file, stored and listed in NFC.
#[test]
fn nfd_and_nfc_twins_are_one_file() {
    let d = Daemon::start();
    let nfd = "\u{30AB}\u{3099}\u{30C3}\u{30B3}\u{3046}.csv"; // ガッこう, カ + combining dakuten
    let nfc = "\u{30AC}\u{30C3}\u{30B3}\u{3046}.csv";
    fs::write(d.work.join("a.csv"), "FIRST").unwrap();
    fs::write(d.work.join("b.csv"), "SECOND").unwrap();
    let r = d.paramiko_json("032018-juki", &["put", "a.csv", &format!("/inbox/{nfd}")]);
    assert_eq!(r["size"], 5);
    let names = d.paramiko_json("032018-juki", &["listdir", "/inbox"]);
    assert_eq!(names["names"], serde_json::json!([nfc]));
    // The NFC twin is the same name: OpenSSH's upload replaces that file.
    d.sftp_ok("032018-juki", &format!("put b.csv /inbox/{nfc}\n"));
    d.sftp_ok("032018-juki", &format!("get /inbox/{nfc} back.csv\n"));
    assert_eq!(fs::read(d.work.join("back.csv")).unwrap(), b"SECOND");
    let r = d.paramiko_json("032018-juki", &["stat", &format!("/inbox/{nfd}")]);
    assert_eq!(r["size"], 6);
    assert_eq!(d.ls("032018").len(), 1);
}

#[test]
fn confusable_invisible_and_windows_unstorable_names_are_refused() {
    let d = Daemon::start();
    fs::write(d.work.join("x.csv"), "x").unwrap();
    let refused = [
        ("a\u{2215}b.csv", "looks like a path separator"),
        ("a\u{FF0F}b.csv", "looks like a path separator"),
        ("a\u{200B}b.csv", "invisible character U+200B"),
        ("\u{FEFF}a.csv", "invisible character U+FEFF"),
        ("a\u{2028}b.csv", "invisible character U+2028"),
        ("a.csv.", "ends with a dot or a space"),
        ("a.csv ", "ends with a dot or a space"),
        ("-rf.csv", "starts with '-'"),
        ("a:b.csv", "Windows cannot store"),
        ("CON.csv", "Windows device name"),
    ];
    for (name, why) in refused {
        let r = d.paramiko_json(
            "032018-juki",
            &["try", "open_write", &format!("/inbox/{name}")],
        );
        assert_eq!(r["ok"], false, "{name:?} must be refused");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains(why), "{name:?}: {msg}");
    }
    // OpenSSH's sftp is refused the same way (a trailing space and a
    // look-alike slash, quoted for its batch parser).
    for name in ["\"a.csv \"", "a\u{2215}b.csv"] {
        let out = d.sftp(
            "032018-juki",
            format!("put x.csv /inbox/{name}\n").as_bytes(),
            &[],
        );
        assert!(!out.status.success(), "sftp put {name}");
    }
    assert!(
        d.ls("032018").is_empty(),
        "nothing stored: {:?}",
        d.ls("032018")
    );
    let refusals = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "operation_refused")
        .count();
    assert!(
        refusals >= refused.len() + 2,
        "every refusal is recorded: {refusals}"
    );
    // Japanese names with ideographic spaces and variation selectors pass.
    let ok = "国保\u{3000}異動_葛\u{E0100}飾.csv";
    let r = d.paramiko_json(
        "032018-juki",
        &["try", "open_write", &format!("/inbox/{ok}")],
    );
    assert_eq!(r["ok"], true, "{r}");
}

const FILE_NAME_RULES: &str = include_str!("../policies/00-10-file-names.toml.example");

/// Finding: the name rules held for uploads only; renaming an allowed file
/// to a refused name succeeded. A rename's target must be a name the file
/// could have been uploaded under, at its size.
#[test]
fn rename_and_posix_rename_obey_the_name_rules() {
    let d = Daemon::start_with_policies(
        common::default_tenants(),
        "",
        &[
            ("00-10-file-names.toml", FILE_NAME_RULES),
            ("00-baseline.toml", &Daemon::baseline_rules()),
        ],
    );
    let good = "JUKI_032018_20261201093000.csv";
    fs::write(d.work.join("j.csv"), "juki").unwrap();
    d.sftp_ok("032018-juki", &format!("put j.csv /inbox/{good}\n"));
    for bad in [
        "evil.exe",
        "JUKI_032051_20261201093000.csv",
        "山田太郎_個人番号123456789012.csv",
    ] {
        for op in ["rename", "posix_rename"] {
            let r = d.paramiko_json(
                "032018-juki",
                &[
                    "try",
                    op,
                    &format!("/inbox/{good}"),
                    &format!("/inbox/{bad}"),
                ],
            );
            assert_eq!(r["ok"], false, "{op} to {bad} must be refused");
            let msg = r["message"].as_str().unwrap();
            assert!(
                msg.contains("could be uploaded under")
                    && msg.contains("may only upload JUKI_032018"),
                "{op} {bad}: {msg}"
            );
        }
    }
    // OpenSSH's rename too.
    let out = d.sftp(
        "032018-juki",
        format!("rename /inbox/{good} /inbox/evil.exe\n").as_bytes(),
        &[],
    );
    assert!(!out.status.success());
    let names: Vec<String> = d
        .ls("032018")
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, [good], "the file kept its name");
    let refused: Vec<_> = d
        .events()
        .into_iter()
        .filter(|e| e["event"] == "operation_refused" && e["op"] == "rename")
        .collect();
    assert_eq!(refused.len(), 7, "{refused:?}");
    assert!(refused.iter().all(|e| {
        e["rule"]
            .as_str()
            .unwrap()
            .contains("00-10-file-names.toml")
    }));
    // A rename to another allowed name still works.
    let other = "JUKI_032018_20261201100000.csv";
    let r = d.paramiko_json(
        "032018-juki",
        &[
            "try",
            "rename",
            &format!("/inbox/{good}"),
            &format!("/inbox/{other}"),
        ],
    );
    assert_eq!(r["ok"], true, "{r}");
}

const TRIGGER_ROUTE: &str = r#"
[[route]]
name = "juki-up"
source = { box = "inbox", pattern = "*" }
destination = { dir = "spool/{tenant}", trigger_suffix = ".end" }
retry = { attempts = 50, first = "200ms", max = "500ms" }
"#;

/// Finding: with `trigger_suffix = ".end"` an upload named `X.csv.end`
/// landed in the spool as a completion signal for a file that does not
/// exist. Names ending in a route's trigger suffix are refused on that
/// route's box, by upload and by rename.
#[test]
fn a_tenant_cannot_forge_a_trigger_file() {
    let d = Daemon::start_with(common::default_tenants(), TRIGGER_ROUTE);
    fs::write(d.work.join("k.csv"), "kokuho").unwrap();
    let r = d.paramiko_json(
        "032018-juki",
        &["try", "open_write", "/inbox/KOKUHO_032018.csv.end"],
    );
    assert_eq!(r["ok"], false);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("completion signal route juki-up writes"),
        "{r}"
    );
    let out = d.sftp(
        "032018-juki",
        b"put k.csv /inbox/KOKUHO_032018.csv.end\n",
        &[],
    );
    assert!(!out.status.success(), "OpenSSH's put is refused too");
    // Nor by renaming a file that arrived under an ordinary name.
    d.sftp_ok("032018-juki", "put k.csv /inbox/k.csv\n");
    let r = d.paramiko_json(
        "032018-juki",
        &["try", "rename", "/inbox/k.csv", "/inbox/k.csv.end"],
    );
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("completion signal"),
        "{r}"
    );
    let spool = d.root.path().join("spool/032018");
    let forged: Vec<_> = fs::read_dir(&spool)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !forged
            .iter()
            .any(|n| n.to_string_lossy() == "KOKUHO_032018.csv.end"),
        "{forged:?}"
    );
    assert!(d.events().iter().any(|e| {
        e["event"] == "operation_refused"
            && e["rule"]
                .as_str()
                .is_some_and(|r| r.starts_with("route juki-up"))
    }));
}
