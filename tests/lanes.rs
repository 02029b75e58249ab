//! Lanes end to end (decision 0011): a file sent on `/send/<lane>` is
//! invisible on the other side until approved by the documented rename,
//! then the receiver downloads it byte-exact and acknowledges it; the
//! sender's receipt follows it. A sender cannot approve its own file; a
//! rejection never crosses and its reason reaches the receipt; a lane is
//! one way; an unreceived file expires. Two segment listeners on 127.0.0.2
//! and 127.0.0.3; OpenSSH `sftp` with BindAddress.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Daemon, Key, default_tenants, eventually, keygen, pseudo_random};
use serde_json::Value;

struct World {
    d: Daemon,
    _keys: tempfile::TempDir,
    keys: std::collections::HashMap<&'static str, Key>,
    /// segment → (address, port)
    doors: std::collections::HashMap<&'static str, (&'static str, u16)>,
}

const USERS: [(&str, &str); 4] = [
    ("std-ope", "standard"),
    ("std-boss", "standard"),
    ("std-boss2", "standard"),
    ("chukan-ope", "chukan"),
];

fn world(lanes: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = std::collections::HashMap::new();
    for (u, _) in USERS {
        keys.insert(u, keygen(dir.path(), u, "ed25519"));
    }
    let account = |seg: &str| -> String {
        USERS
            .iter()
            .filter(|(_, s)| *s == seg)
            .map(|(u, _)| {
                format!(
                    "\n[[segment.account]]\nuser = \"{u}\"\nkeys = [\"{}\"]\n",
                    keys[u].public_line
                )
            })
            .collect()
    };
    let extra = format!(
        "\n[[segment]]\nname = \"standard\"\nlabel = \"標準システム系\"\nlisten = [\"127.0.0.2:0\"]\nnetworks = [\"127.0.0.2/32\"]\n{}\n[[segment]]\nname = \"chukan\"\nlabel = \"統合専用端末系\"\nlisten = [\"127.0.0.3:0\"]\nnetworks = [\"127.0.0.3/32\"]\n{}\n{lanes}",
        account("standard"),
        account("chukan")
    );
    let d = Daemon::start_with(default_tenants(), &extra);
    let st: Value = d.status_json();
    let mut doors = std::collections::HashMap::new();
    for (seg, addr) in [("standard", "127.0.0.2"), ("chukan", "127.0.0.3")] {
        let listen = st["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["segment"] == seg)
            .unwrap()["listen"]
            .as_str()
            .unwrap()
            .to_string();
        doors.insert(
            seg,
            (addr, listen.rsplit(':').next().unwrap().parse().unwrap()),
        );
    }
    World {
        d,
        _keys: dir,
        keys,
        doors,
    }
}

impl World {
    /// An `sftp -b` batch as `user`, on its segment's listener from its
    /// segment's address.
    fn sftp(&self, user: &str, batch: &str) -> Output {
        let seg = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
        let (addr, port) = self.doors[seg];
        let file = self.d.work.join(format!(
            "batch-{user}-{}",
            common::sha256_hex(batch.as_bytes())
        ));
        fs::write(&file, batch).unwrap();
        common::sftp_from(&self.keys[user].private, user, addr, port, addr, &file)
            .current_dir(&self.d.work)
            .output()
            .unwrap()
    }

    fn ok(&self, user: &str, batch: &str) -> String {
        let out = self.sftp(user, batch);
        assert!(
            out.status.success(),
            "{user}: {batch}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, user: &str, batch: &str) {
        let out = self.sftp(user, batch);
        assert!(!out.status.success(), "{user}: {batch} succeeded");
    }

    /// The text of `user`'s receipt of `name`.
    fn receipt(&self, user: &str, name: &str) -> String {
        let listing = self.ok(user, "ls -1 /receipts\n");
        let r = listing
            .lines()
            .map(|l| l.trim().trim_start_matches("/receipts/"))
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no receipt of {name} in {listing}"))
            .to_string();
        let local: PathBuf = self
            .d
            .work
            .join(format!("r-{}", common::sha256_hex(r.as_bytes())));
        self.ok(user, &format!("get /receipts/{r} {}\n", local.display()));
        fs::read_to_string(local).unwrap()
    }
}

const APPROVED_LANE: &str = r#"
[[lane]]
name = "kanyusha-down"
from = "standard"
to = "chukan"
senders = ["std-ope", "std-boss"]
receivers = ["chukan-ope"]
approvers = ["std-boss", "std-boss2"]
"#;

#[test]
fn a_file_crosses_only_once_approved_and_the_receipt_follows_it() {
    let w = world(APPROVED_LANE);
    let data = pseudo_random(700_000, 5);
    let name = "加入者情報一括登録_032018.csv";
    fs::write(w.d.work.join("send.csv"), &data).unwrap();
    w.ok(
        "std-ope",
        &format!("put send.csv /send/kanyusha-down/{name}\n"),
    );
    let ls = w.ok("std-ope", "ls -1 /send/kanyusha-down\n");
    assert!(ls.contains(name), "{ls}");
    assert!(w.receipt("std-ope", name).contains("承認待ち"));
    let lanes: Value = serde_json::from_str(&w.d.ctl_ok(&["lanes", "--json"])).unwrap();
    assert_eq!(lanes[0]["awaiting_approval"], 1, "{lanes}");

    // Not visible on the other side before approval.
    let ls = w.ok("chukan-ope", "ls -1 /receive/kanyusha-down\n");
    assert!(!ls.contains(name), "{ls}");
    w.fails(
        "chukan-ope",
        &format!("get /receive/kanyusha-down/{name} x\n"),
    );
    // The sender cannot approve its own file (it is not in its view), and
    // the sender's own approver account sees only others' files.
    w.fails(
        "std-ope",
        &format!("rename /approve/kanyusha-down/{name} /approve/kanyusha-down/approved/{name}\n"),
    );
    let ls = w.ok("std-boss", "ls -1 /approve/kanyusha-down\n");
    assert!(ls.contains(name), "{ls}");
    // The approver inspects it, then approves by the documented rename.
    w.ok(
        "std-boss",
        &format!("get /approve/kanyusha-down/{name} inspect.csv\nrename /approve/kanyusha-down/{name} /approve/kanyusha-down/approved/{name}\n"),
    );
    assert_eq!(fs::read(w.d.work.join("inspect.csv")).unwrap(), data);
    w.d.wait_event("lane_delivered", |e| {
        e["event"] == "lane_delivered" && e["name"] == name
    });
    let r = w.receipt("std-ope", name);
    assert!(r.contains("受渡済") && r.contains("std-boss"), "{r}");

    // The receiver gets it byte-exact and acknowledges it.
    w.ok(
        "chukan-ope",
        &format!("get /receive/kanyusha-down/{name} got.csv\nrm /receive/kanyusha-down/{name}\n"),
    );
    assert_eq!(fs::read(w.d.work.join("got.csv")).unwrap(), data);
    let r = w.receipt("std-ope", name);
    assert!(r.contains("受領済") && r.contains("chukan-ope"), "{r}");
    let ls = w.ok("chukan-ope", "ls -1 /receive/kanyusha-down\n");
    assert!(!ls.contains(name), "{ls}");
    for ev in [
        "lane_sent",
        "lane_delivered",
        "lane_received",
        "lane_acknowledged",
    ] {
        assert!(
            w.d.events()
                .iter()
                .any(|e| e["event"] == ev && e["lane"] == "kanyusha-down"),
            "no {ev}"
        );
    }

    let lanes: Value = serde_json::from_str(&w.d.ctl_ok(&["lanes", "--json"])).unwrap();
    assert_eq!(
        (
            lanes[0]["received"].as_u64(),
            lanes[0]["awaiting_approval"].as_u64()
        ),
        (Some(1), Some(0)),
        "{lanes}"
    );
    // The auditor's view of the lane, from the trail on disk.
    let (ok, out) =
        w.d.cli("audit", &["query", "--lane", "kanyusha-down", "--json"]);
    assert!(ok, "{out}");
    let records: Vec<Value> = serde_json::from_str(out.trim_start_matches(|c| c != '[')).unwrap();
    let events: Vec<&str> = records.iter().filter_map(|r| r["event"].as_str()).collect();
    for ev in [
        "lane_sent",
        "lane_received",
        "lane_delivered",
        "lane_acknowledged",
    ] {
        assert!(events.contains(&ev), "{ev} not in {events:?}");
    }
    assert!(
        records.iter().all(|r| r["lane"] == "kanyusha-down"),
        "{records:?}"
    );
    // `policy explain` answers from the lanes, as the daemon did.
    let explain = |user: &str, from: &str, op: &str, path: &str| {
        w.d.cli(
            "policy",
            &[
                "explain", "--tenant", "032018", "--user", user, "--from", from, "--op", op,
                "--path", path,
            ],
        )
    };
    let (ok, out) = explain(
        "std-ope",
        "127.0.0.2",
        "upload",
        "/send/kanyusha-down/x.csv",
    );
    assert!(ok && out.starts_with("allow"), "{out}");
    let (ok, out) = explain(
        "chukan-ope",
        "127.0.0.3",
        "upload",
        "/send/kanyusha-down/x.csv",
    );
    assert!(
        !ok && out.contains("does not send on lane kanyusha-down"),
        "{out}"
    );
    let (ok, out) = explain("chukan-ope", "127.0.0.2", "login", "/");
    assert!(
        !ok && out.contains("not in the networks of segment chukan"),
        "{out}"
    );
    // One way: the receiver cannot send back, and has no /send at all.
    fs::write(w.d.work.join("back.csv"), b"1\r\n").unwrap();
    w.fails("chukan-ope", "put back.csv /send/kanyusha-down/back.csv\n");
    let top = w.ok("chukan-ope", "ls -1 /\n");
    assert!(top.contains("receive") && !top.contains("send"), "{top}");
    // Nothing reached a municipality.
    assert!(w.d.ls("032018").is_empty() && w.d.ls("011002").is_empty());
}

#[test]
fn a_rejection_never_crosses_and_its_reason_reaches_the_sender() {
    let w = world(APPROVED_LANE);
    fs::write(w.d.work.join("a.csv"), b"032018,1\r\n").unwrap();
    w.ok("std-ope", "put a.csv /send/kanyusha-down/a.csv\n");
    // A rejection needs a reason: the new name is it.
    w.fails(
        "std-boss",
        "rename /approve/kanyusha-down/a.csv /approve/kanyusha-down/rejected\n",
    );
    w.ok(
        "std-boss2",
        "rename /approve/kanyusha-down/a.csv \"/approve/kanyusha-down/rejected/宛先が誤っています\"\n",
    );
    let e =
        w.d.wait_event("lane_rejected", |e| e["event"] == "lane_rejected");
    assert_eq!(e["reason"], "宛先が誤っています");
    assert_eq!(e["user"], "std-boss2");
    let r = w.receipt("std-ope", "a.csv");
    assert!(
        r.contains("却下") && r.contains("宛先が誤っています"),
        "{r}"
    );
    let ls = w.ok("chukan-ope", "ls -1 /receive/kanyusha-down\n");
    assert!(!ls.contains("a.csv"), "{ls}");
    // The sender withdraws another before anyone decides on it.
    fs::write(w.d.work.join("b.csv"), b"032018,2\r\n").unwrap();
    w.ok(
        "std-ope",
        "put b.csv /send/kanyusha-down/b.csv\nrm /send/kanyusha-down/b.csv\n",
    );
    assert!(w.receipt("std-ope", "b.csv").contains("取下げ"));
    let ls = w.ok("std-boss", "ls -1 /approve/kanyusha-down\n");
    assert!(!ls.contains("b.csv"), "{ls}");
}

#[test]
fn an_unreceived_file_expires_and_the_receipt_says_so() {
    let lane = r#"
[[lane]]
name = "kekka-up"
from = "chukan"
to = "standard"
senders = ["chukan-ope"]
receivers = ["std-ope"]
expire_after = "2s"
"#;
    let w = world(lane);
    fs::write(w.d.work.join("kekka.csv"), b"result\r\n").unwrap();
    w.ok("chukan-ope", "put kekka.csv /send/kekka-up/kekka.csv\n");
    // No approvers: delivered at once.
    let ls = w.ok("std-ope", "ls -1 /receive/kekka-up\n");
    assert!(ls.contains("kekka.csv"), "{ls}");
    w.d.wait_event("lane_expired", |e| {
        e["event"] == "lane_expired" && e["name"] == "kekka.csv"
    });
    let ls = w.ok("std-ope", "ls -1 /receive/kekka-up\n");
    assert!(!ls.contains("kekka.csv"), "{ls}");
    let r = w.receipt("chukan-ope", "kekka.csv");
    assert!(r.contains("期限切れ"), "{r}");
    eventually("its blob gone", Duration::from_secs(10), || {
        (w.d.vault_files().is_empty()).then_some(())
    });
}

#[test]
fn a_kill_during_sends_loses_nothing_acknowledged_and_leaves_no_plaintext() {
    let lane = r#"
[[lane]]
name = "kekka-up"
from = "chukan"
to = "standard"
senders = ["chukan-ope"]
receivers = ["std-ope"]
"#;
    let mut w = world(lane);
    let marker = b"RENKEI-LANE-PLAINTEXT-MARKER";
    let mut batch = String::new();
    let mut files = Vec::new();
    // Large enough that the batch is still running when the daemon dies.
    for i in 0..12u64 {
        let mut data = pseudo_random(3_000_000, 40 + i);
        data[1000..1000 + marker.len()].copy_from_slice(marker);
        let name = format!("kekka-{i}.dat");
        fs::write(w.d.work.join(&name), &data).unwrap();
        batch.push_str(&format!("put {name} /send/kekka-up/{name}\n"));
        files.push((name, data));
    }
    // Killed while the sender is still uploading: every file whose send
    // was recorded (before its OK) must come through, once, whole.
    let file = w.d.work.join("kill-batch");
    fs::write(&file, &batch).unwrap();
    let (addr, port) = w.doors["chukan"];
    let mut client = common::sftp_from(
        &w.keys["chukan-ope"].private,
        "chukan-ope",
        addr,
        port,
        addr,
        &file,
    )
    .current_dir(&w.d.work)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    eventually("some sends recorded", Duration::from_secs(30), || {
        w.d.events()
            .iter()
            .any(|e| e["event"] == "lane_sent")
            .then_some(())
    });
    w.d.kill9();
    let _ = client.kill();
    let _ = client.wait();
    w.d.start_again();
    let st: Value = w.d.status_json();
    for s in st["segments"].as_array().unwrap() {
        let seg = if s["segment"] == "standard" {
            "standard"
        } else {
            "chukan"
        };
        let port = s["listen"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        w.doors.get_mut(seg).unwrap().1 = port;
    }
    let sent: Vec<String> =
        w.d.audit_query("lane_sent")
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect();
    assert!(!sent.is_empty());
    let ls = w.ok("std-ope", "ls -1 /receive/kekka-up\n");
    for (name, data) in &files {
        let listed = ls.matches(name.as_str()).count();
        if sent.contains(name) {
            assert_eq!(listed, 1, "{name} was sent: delivered once: {ls}");
            w.ok(
                "std-ope",
                &format!("get /receive/kekka-up/{name} got-{name}\n"),
            );
            assert_eq!(
                &fs::read(w.d.work.join(format!("got-{name}"))).unwrap(),
                data
            );
        } else {
            assert_eq!(listed, 0, "{name} was cut off: nothing half-visible: {ls}");
        }
    }
    let (ok, out) = w.d.cli("audit", &["verify"]);
    assert!(ok, "{out}");
    // Nothing under the data directory holds the plaintext.
    let mut stack = vec![w.d.data.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = fs::read(&p) {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "plaintext in {}",
                    p.display()
                );
            }
        }
    }
}

#[test]
fn a_lane_with_a_format_rule_refuses_a_bad_file_and_tells_its_sender_where() {
    let lane = r#"
[[lane]]
name = "kekka-up"
from = "chukan"
to = "standard"
senders = ["chukan-ope"]
receivers = ["std-ope"]
max_file_size = "64KiB"
patterns = ["*.csv"]

[[check]]
name = "kekka-csv"
lane = "kekka-up"
patterns = ["*.csv"]
format = { encoding = "utf-8", line_ending = "crlf", records = "csv", columns = 3 }
"#;
    let w = world(lane);
    fs::write(w.d.work.join("good.csv"), "a,b,c\r\n1,2,3\r\n").unwrap();
    fs::write(w.d.work.join("bad.csv"), "a,b,c\r\n1,2\r\n").unwrap();
    w.ok(
        "chukan-ope",
        "put good.csv /send/kekka-up/good.csv\nput bad.csv /send/kekka-up/bad.csv\n",
    );
    w.d.wait_event("the bad file rejected", |e| {
        e["event"] == "file_rejected" && e["path"] == "bad.csv"
    });
    w.d.wait_event("the good file delivered", |e| {
        e["event"] == "lane_delivered" && e["name"] == "good.csv"
    });
    let ls = w.ok("std-ope", "ls -1 /receive/kekka-up\n");
    assert!(ls.contains("good.csv") && !ls.contains("bad.csv"), "{ls}");
    let r = w.receipt("chukan-ope", "bad.csv");
    assert!(r.contains("却下") && r.contains("line 2"), "{r}");
    // The lane's own limits: a larger file or another name never lands.
    fs::write(w.d.work.join("big.csv"), vec![b'x'; 200 << 10]).unwrap();
    w.fails("chukan-ope", "put big.csv /send/kekka-up/big.csv\n");
    w.fails("chukan-ope", "put good.csv /send/kekka-up/good.txt\n");
    let ls = w.ok("std-ope", "ls -1 /receive/kekka-up\n");
    assert!(!ls.contains("big.csv") && !ls.contains("good.txt"), "{ls}");
    assert!(
        w.d.events()
            .iter()
            .any(|e| e["event"] == "operation_refused"
                && e["reason"].as_str().unwrap_or("").contains("max_file_size"))
    );
    // The rule names the lane: a municipality's inbox file of that name
    // is not held by it.
    w.d.put("032018", "inbox", "bad.csv", b"a,b\r\n");
    assert_eq!(
        w.d.ls("032018")[0]["state"],
        "stored",
        "a lane's rule checked a municipality's file"
    );
}

#[test]
fn a_file_approved_while_its_sender_rewrites_it_stays_delivered() {
    // Finding 8: the sender opens its waiting file's name for writing and
    // keeps it open while the approver approves the first version; the
    // close must not replace the delivered file.
    let w = world(APPROVED_LANE);
    let name = "t.csv";
    let v1 = pseudo_random(50_000, 1);
    let v2 = pseudo_random(60_000, 2);
    fs::write(w.d.work.join("v1.csv"), &v1).unwrap();
    fs::write(w.d.work.join("v2.csv"), &v2).unwrap();
    w.ok(
        "std-ope",
        &format!("put v1.csv /send/kanyusha-down/{name}\n"),
    );
    let (addr, port) = w.doors["standard"];
    let gate = w.d.work.join("gate");
    let mut child = std::process::Command::new(common::PYTHON)
        .arg(common::PARAMIKO)
        .args([addr, &port.to_string(), "std-ope"])
        .arg(&w.keys["std-ope"].private)
        .args([
            "hold_write",
            "v2.csv",
            &format!("/send/kanyusha-down/{name}"),
        ])
        .arg(&gate)
        .env("RENKEI_BIND", addr)
        .current_dir(&w.d.work)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["open"], true, "{first}");
    w.ok(
        "std-boss",
        &format!("rename /approve/kanyusha-down/{name} /approve/kanyusha-down/approved/{name}\n"),
    );
    w.d.wait_event("delivered", |e| {
        e["event"] == "lane_delivered" && e["name"] == name
    });
    fs::write(&gate, b"").unwrap();
    let closed: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let _ = child.wait();
    assert_eq!(
        closed["ok"], false,
        "the close replaced a delivered file: {closed}"
    );
    // The receiver still has the approved version, and acknowledges it.
    w.ok(
        "chukan-ope",
        &format!("get /receive/kanyusha-down/{name} got.csv\nrm /receive/kanyusha-down/{name}\n"),
    );
    assert_eq!(fs::read(w.d.work.join("got.csv")).unwrap(), v1);
    let refused = w.d.wait_event("the refused replacement", |e| {
        e["event"] == "operation_refused" && e["op"] == "upload" && e["user"] == "std-ope"
    });
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("approved or delivered"),
        "{refused}"
    );
}
