use std::path::Path;

use super::*;

/// A second key: each municipality has its own.
const KEY2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACca1VobMERR0037eMtz5FPmiVY2GqK2kvffxw/cJPt y";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd x";

fn config() -> Config {
    let text = format!(
        r#"
[server]
data_dir = "/tmp/x"
[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["10.3.20.0/24"]
[[tenant.account]]
user = "032018-juki"
keys = ["{KEY}"]
[[tenant.account]]
user = "032018-dr"
keys = ["{KEY}"]
networks = ["10.103.0.7/32"]
[[tenant]]
code = "011002"
name = "札幌市"
networks = ["10.1.0.0/24"]
[[tenant.account]]
user = "011002-juki"
keys = ["{KEY2}"]
"#
    );
    Config::parse("renkei.toml", &text, Path::new("/nonexistent")).unwrap()
}

fn rules(text: &str) -> PolicySet {
    let rules = rules::parse_file("p.toml", text).unwrap();
    let warnings = lint::lint(&rules, &config());
    PolicySet::new(rules, vec!["p.toml".into()], String::new(), warnings)
}

fn at(s: &str) -> Zoned {
    renkei_model::time::tokyo(s.parse().unwrap())
}

struct Q<'a> {
    user: &'a str,
    ip: &'a str,
    op: Operation,
    path: Option<&'a str>,
    size: Option<u64>,
    when: &'a str,
}

fn q(user: &str, ip: &str, op: Operation, path: Option<&str>) -> Decision {
    ask(
        &baseline(),
        Q {
            user,
            ip,
            op,
            path,
            size: None,
            when: "2026-11-20T10:00:00+09:00",
        },
    )
}

fn baseline() -> PolicySet {
    PolicySet::baseline()
}

fn ask(p: &PolicySet, q: Q<'_>) -> Decision {
    let c = config();
    let (t, a) = c.account(q.user).unwrap();
    let parsed = q
        .path
        .map(|s| crate::namespace::NsPath::parse(s.as_bytes(), 8).unwrap());
    let rel = parsed.as_ref().map(|p| p.rel());
    let name = match &parsed {
        Some(crate::namespace::NsPath::Entry { name, .. }) => Some(name.clone()),
        _ => None,
    };
    let when = at(q.when);
    p.decide(&Request {
        tenant: &t.code,
        account: &a.user,
        account_networks: a.effective_networks(t),
        source: Some(q.ip.parse().unwrap()),
        protocol: crate::policy::Protocol::Sftp,
        op: q.op,
        bx: parsed.as_ref().and_then(|p| p.box_kind()),
        path: rel.as_deref(),
        name: name.as_deref(),
        size: q.size,
        at: &when,
    })
}

#[test]
fn the_baseline_file_is_the_built_in_baseline() {
    let b = baseline();
    assert_eq!(b.rules().len(), 4);
    assert_eq!(b.rules()[0].at.to_string(), "built-in baseline:11");
    assert!(
        lint::lint(b.rules(), &config()).is_empty(),
        "{:?}",
        lint::lint(b.rules(), &config())
    );
}

#[test]
fn baseline_decisions() {
    use Operation::*;
    assert!(q("032018-juki", "10.3.20.5", Connect, None).allow);
    assert!(
        !q("032018-juki", "10.1.0.5", Connect, None).allow,
        "another tenant's network"
    );
    assert!(
        q("032018-dr", "10.103.0.7", Login, None).allow,
        "own networks"
    );
    assert!(
        !q("032018-dr", "10.3.20.5", Login, None).allow,
        "own networks replace the tenant's"
    );
    assert!(q("032018-juki", "10.3.20.5", Upload, Some("/inbox/a.csv")).allow);
    let d = q("032018-juki", "10.3.20.5", Upload, Some("/outbox/a.csv"));
    assert!(!d.allow);
    assert_eq!(d.by(), "built-in baseline:25");
    assert!(
        d.refusal(Upload)
            .contains("/outbox is filled by the standard system")
    );
    assert!(q("032018-juki", "10.3.20.5", Delete, Some("/outbox/a.csv")).allow);
}

#[test]
fn admission_asks_whether_any_account_could_connect() {
    let c = config();
    let b = baseline();
    let now = at("2026-11-20T10:00:00+09:00");
    assert!(
        b.admits(
            &c,
            "10.1.0.9".parse().unwrap(),
            crate::policy::Protocol::Sftp,
            &now
        )
        .is_ok()
    );
    assert!(
        b.admits(
            &c,
            "10.103.0.7".parse().unwrap(),
            crate::policy::Protocol::Sftp,
            &now
        )
        .is_ok()
    );
    let refused = b
        .admits(
            &c,
            "192.0.2.1".parse().unwrap(),
            crate::policy::Protocol::Sftp,
            &now,
        )
        .unwrap_err();
    assert_eq!(refused.by(), "default deny");
    let p = rules(
        "[[rule]]\naction = \"deny\"\nop = \"connect\"\nfrom = \"10.0.0.0/8\"\nreason = \"maintenance\"\n",
    );
    let d = p
        .admits(
            &c,
            "10.1.0.9".parse().unwrap(),
            crate::policy::Protocol::Sftp,
            &now,
        )
        .unwrap_err();
    assert_eq!(
        (d.by(), d.reason.as_deref()),
        ("p.toml:1".to_string(), Some("maintenance"))
    );
}

#[test]
fn every_match_type() {
    use Operation::*;
    let p = rules(
        r#"
[[rule]]
action = "allow"
tenant = "032018"
account = "032018-juki"
op = "upload"
box = "inbox"
path = "juki/**"
name = "JUKI_@市町村コード@_@日時@.csv"
max_size = "1MiB"
time = "Mon-Fri 06:00-22:00"
from = "10.3.20.0/24"
"#,
    );
    let ok = Q {
        user: "032018-juki",
        ip: "10.3.20.5",
        op: Upload,
        path: Some("/inbox/juki/JUKI_032018_20261121093000.csv"),
        size: Some(1000),
        when: "2026-11-20T10:00:00+09:00",
    };
    assert!(ask(&p, Q { ..ok }).allow);
    let variants: Vec<(&str, Q<'_>)> = vec![
        (
            "account",
            Q {
                user: "032018-dr",
                ..ok
            },
        ),
        (
            "tenant",
            Q {
                user: "011002-juki",
                path: Some("/inbox/juki/JUKI_011002_20261121093000.csv"),
                ..ok
            },
        ),
        (
            "source",
            Q {
                ip: "10.3.21.5",
                ..ok
            },
        ),
        ("operation", Q { op: Read, ..ok }),
        (
            "box",
            Q {
                path: Some("/outbox/juki/JUKI_032018_20261121093000.csv"),
                ..ok
            },
        ),
        (
            "path",
            Q {
                path: Some("/inbox/other/JUKI_032018_20261121093000.csv"),
                ..ok
            },
        ),
        (
            "name",
            Q {
                path: Some("/inbox/juki/JUKI_011002_20261121093000.csv"),
                ..ok
            },
        ),
        (
            "size",
            Q {
                size: Some(2 << 20),
                ..ok
            },
        ),
        (
            "time",
            Q {
                when: "2026-11-21T10:00:00+09:00",
                ..ok
            },
        ),
    ];
    for (what, v) in variants {
        let d = ask(&p, v);
        assert!(!d.allow, "{what} must not match");
        assert_eq!(d.by(), "default deny", "{what}");
    }
}

#[test]
fn first_match_wins() {
    let p = rules(
        "[[rule]]\naction = \"deny\"\naccount = \"032018-juki\"\nop = \"delete\"\nreason = \"no\"\n\n[[rule]]\naction = \"allow\"\n",
    );
    let d = ask(
        &p,
        Q {
            user: "032018-juki",
            ip: "10.3.20.5",
            op: Operation::Delete,
            path: Some("/inbox/a"),
            size: None,
            when: "2026-11-20T10:00:00+09:00",
        },
    );
    assert_eq!((d.allow, d.by()), (false, "p.toml:1".to_string()));
    let d = ask(
        &p,
        Q {
            user: "032018-juki",
            ip: "10.3.20.5",
            op: Operation::Read,
            path: Some("/inbox/a"),
            size: None,
            when: "2026-11-20T10:00:00+09:00",
        },
    );
    assert_eq!((d.allow, d.by()), (true, "p.toml:7".to_string()));
}

#[test]
fn lint_finds_shadowed_and_impossible_rules() {
    let p = rules(
        r#"
[[rule]]
action = "allow"
box = "inbox"

[[rule]]
action = "deny"
box = "inbox"
op = "delete"

[[rule]]
action = "allow"
tenant = "131016"

[[rule]]
action = "allow"
tenant = "011002"
account = "032018-juki"

[[rule]]
action = "deny"
op = "login"
name = "*.csv"
"#,
    );
    let w = p.warnings.join("\n");
    assert!(
        w.contains("p.toml:6: this rule is shadowed by p.toml:2"),
        "{w}"
    );
    assert!(
        w.contains(
            "p.toml:11: this rule can never match: tenant 131016 is not in the configuration"
        ),
        "{w}"
    );
    assert!(
        w.contains("p.toml:15: this rule can never match: no account 032018-juki belongs"),
        "{w}"
    );
    assert!(
        w.contains(
            "p.toml:20: this rule can never match: box, path, name and max_size never apply"
        ),
        "{w}"
    );
}

#[test]
fn rule_errors_name_the_line() {
    let bad = [
        (
            "[[rule]]\naction = \"permit\"\n",
            2,
            "use \"allow\" or \"deny\"",
        ),
        (
            "[[rule]]\naction = \"allow\"\nop = \"write\"\n",
            3,
            "unknown operation",
        ),
        (
            "[[rule]]\naction = \"allow\"\nfrom = \"10.0.0.1/8\"\n",
            3,
            "did you mean 10.0.0.0/8",
        ),
        (
            "[[rule]]\naction = \"allow\"\ntime = \"Mon-Fry 06:00-22:00\"\n",
            3,
            "not a day",
        ),
        (
            "[[rule]]\naction = \"allow\"\nname = \"X_@コード@\"\n",
            3,
            "unknown template",
        ),
        (
            "[[rule]]\naction = \"allow\"\ntenant = \"032019\"\n",
            3,
            "check digit",
        ),
        ("[[rule]]\naction = \"allow\"\nverb = \"x\"\n", 3, "verb"),
        (
            "\n\n[[rule]]\naction = \"allow\"\nop = []\n",
            5,
            "empty list",
        ),
    ];
    for (text, line, want) in bad {
        match rules::parse_file("p.toml", text) {
            Err(ConfigError::Invalid {
                line: l, message, ..
            }) => {
                assert_eq!(l, line, "{text}: {message}");
                assert!(message.contains(want), "{text}: {message}");
            }
            other => panic!("{text}: expected an error, got {other:?}"),
        }
    }
}
