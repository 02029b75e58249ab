use super::*;

/// A second key: each municipality has its own.
const KEY2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIACca1VobMERR0037eMtz5FPmiVY2GqK2kvffxw/cJPt y";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINzndskGOuZi7782dAmBqjIZOBwF4C7k6T44481V07Qd juki-batch";

fn sample(extra_tenant: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:2222"
data_dir = "/var/lib/renkei"

[vault]

[[tenant]]
code = "032018"
name = "盛岡市"
networks = ["127.0.0.0/8"]

[[tenant.account]]
user = "032018-juki"
keys = ["{KEY}"]
{extra_tenant}
"#
    )
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse("renkei.toml", text, Path::new("/etc/renkei"))
}

pub(super) fn err_of(text: &str) -> (usize, String) {
    match parse(text) {
        Err(ConfigError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn issue_example_loads() {
    let c = parse(&sample("")).unwrap();
    assert_eq!(c.tenants.len(), 1);
    let (t, a) = c.account("032018-juki").unwrap();
    assert_eq!(t.name, "盛岡市");
    assert_eq!(a.keys.len(), 1);
    assert_eq!(
        c.server.host_keys,
        vec![PathBuf::from("/var/lib/renkei/host_ed25519")]
    );
    assert_eq!(c.vault.identity, PathBuf::from("/var/lib/renkei/vault.key"));
    assert!(c.admits("127.0.0.1".parse().unwrap()));
    assert!(c.admits("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!c.admits("10.0.0.1".parse().unwrap()));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn wrong_check_digit_names_line_and_digit() {
    let text = sample("").replace("032018\"", "032019\"");
    let (line, msg) = err_of(&text);
    assert_eq!(line, 9);
    assert!(msg.contains("check digit is 8"), "{msg}");
}

#[test]
fn unknown_key_is_refused_with_line() {
    let text = sample("").replace("[vault]", "[vault]\nidentiy = \"x\"");
    let (line, msg) = err_of(&text);
    assert_eq!(line, 7);
    assert!(msg.contains("identiy"), "{msg}");
}

#[test]
fn duplicate_user_across_tenants() {
    let extra = format!(
        "[[tenant]]\ncode = \"011002\"\nname = \"札幌市\"\nnetworks = [\"10.0.0.0/8\"]\n[[tenant.account]]\nuser = \"032018-juki\"\nkeys = [\"{KEY}\"]\n"
    );
    let (line, msg) = err_of(&sample(&extra));
    assert_eq!(line, 21);
    assert!(msg.contains("already an account of tenant 032018"), "{msg}");
}

#[test]
fn bad_network_and_limits() {
    let text = sample("").replace("127.0.0.0/8", "127.0.0.1/8");
    let (_, msg) = err_of(&text);
    assert!(msg.contains("did you mean 127.0.0.0/8"), "{msg}");

    let text = sample("").replace("[vault]", "[limits]\nmax_packet = \"1KiB\"\n[vault]");
    let (line, msg) = err_of(&text);
    assert_eq!(line, 7);
    assert!(msg.contains("limits.max_packet"), "{msg}");
}

#[test]
fn syntax_error_has_line() {
    let (line, _) = err_of("[server]\nlisten = \n");
    assert_eq!(line, 2);
}

#[test]
fn shared_network_warns() {
    let extra = format!(
        "[[tenant]]\ncode = \"011002\"\nname = \"札幌市\"\nnetworks = [\"127.0.0.0/16\"]\n[[tenant.account]]\nuser = \"011002-juki\"\nkeys = [\"{KEY2}\"]\n"
    );
    let c = parse(&sample(&extra)).unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("both claim")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("a\nあい x", 9), (2, 4));
    assert_eq!(line_col("abc", 0), (1, 1));
}

#[test]
fn one_key_for_two_municipalities_is_refused() {
    let extra = format!(
        "[[tenant]]\ncode = \"011002\"\nname = \"札幌市\"\nnetworks = [\"10.1.0.0/16\"]\n[[tenant.account]]\nuser = \"011002-juki\"\nkeys = [\"{KEY}\"]\n"
    );
    let e = parse(&sample(&extra)).unwrap_err().to_string();
    assert!(
        e.contains("011002-juki") && e.contains("032018-juki"),
        "{e}"
    );
    assert!(e.contains("two municipalities"), "{e}");
}

#[test]
fn one_key_for_two_accounts_of_one_municipality_warns() {
    let extra = format!("[[tenant.account]]\nuser = \"032018-zei\"\nkeys = [\"{KEY}\"]\n");
    let c = parse(&sample(&extra)).unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("share key")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn the_scan_section_takes_a_socket_or_tcp_and_defaults_the_rest() {
    let c = parse(&sample("")).unwrap();
    assert!(c.scan.is_none(), "no [scan], no scanning");
    let text = sample("").replace(
        "[vault]",
        "[scan]\nclamd = \"/run/clamav/clamd.ctl\"\n\n[vault]",
    );
    let s = parse(&text).unwrap().scan.expect("scan");
    assert_eq!(
        s.clamd,
        renkei_model::scanner::ClamdAddr::Unix("/run/clamav/clamd.ctl".into())
    );
    assert_eq!(s.unscannable, Unscannable::Quarantine);
    assert_eq!(s.max_file_size, 25 << 20);
    assert_eq!(s.max_attempts, 3);
    let text = sample("").replace(
        "[vault]",
        "[scan]\nclamd = \"tcp:127.0.0.1:3310\"\nunscannable = \"accept\"\nmax_file_size = \"100MiB\"\n\n[vault]",
    );
    let s = parse(&text).unwrap().scan.expect("scan");
    assert_eq!(s.unscannable, Unscannable::Accept);
    assert_eq!(s.max_file_size, 100 << 20);
}

#[test]
fn a_bad_scan_section_names_its_line() {
    for (bad, says) in [
        ("clamd = \"clamd.ctl\"", "absolute path"),
        ("clamd = \"tcp:localhost\"", "tcp:HOST:PORT"),
        (
            "clamd = \"/run/c.ctl\"\nunscannable = \"pass\"",
            "quarantine",
        ),
        (
            "clamd = \"/run/c.ctl\"\nconcurrency = 0",
            "scan.concurrency",
        ),
        (
            "clamd = \"/run/c.ctl\"\nretry_first = \"1m\"\nretry_max = \"10s\"",
            "scan.retry_max",
        ),
        (
            "clamd = \"/run/c.ctl\"\nmax_attempts = 0",
            "scan.max_attempts must be between 1 and 100",
        ),
        ("clamd = \"/run/c.ctl\"\nclamav = 1", "clamav"),
    ] {
        let text = sample("").replace("[vault]", &format!("[scan]\n{bad}\n\n[vault]"));
        let (line, msg) = err_of(&text);
        assert!(line >= 6, "{bad}: line {line}");
        assert!(msg.contains(says), "{bad}: {msg}");
    }
}

#[test]
fn check_rules_load_with_their_format() {
    let text = format!(
        "{}\n[[check]]\nname = \"juki\"\nbox = \"inbox\"\npatterns = [\"JUKI_*\"]\ntenants = [\"032018\"]\ntypes = [\"text\"]\nname_template = \"JUKI_@市町村コード@_@日時@.DAT\"\nformat = {{ encoding = \"cp932\", records = \"fixed\", record_length = 120, kind_field = [0, 1], header = \"1\", data = \"2\", trailer = \"9\", count_field = [1, 7] }}\n",
        sample("")
    );
    let c = parse(&text).unwrap();
    let r = &c.checks[0];
    assert!(r.selects("032018", renkei_model::boxes::BoxKind::Inbox, "JUKI_a"));
    assert!(!r.selects("032018", renkei_model::boxes::BoxKind::Outbox, "JUKI_a"));
    assert!(!r.selects("032018", renkei_model::boxes::BoxKind::Inbox, "KOKUHO_a"));
    let f = r.format.as_ref().unwrap();
    assert_eq!(f.encoding, renkei_checks::format::Encoding::Cp932);
    assert!(r.at.ends_with(":19"), "{}", r.at);
}

#[test]
fn a_bad_check_rule_names_its_line() {
    for (bad, says) in [
        (
            "box = \"spool\"\npatterns = [\"*\"]\ntypes = [\"text\"]",
            "inbox",
        ),
        (
            "box = \"inbox\"\npatterns = []\ntypes = [\"text\"]",
            "at least one",
        ),
        ("box = \"inbox\"\npatterns = [\"*\"]", "requires nothing"),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\ntypes = [\"exe\"]",
            "executable",
        ),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\nformat = { encoding = \"euc-jp\" }",
            "shift_jis",
        ),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\nformat = { encoding = \"utf-8\", records = \"fixed\" }",
            "record_length",
        ),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\nformat = { encoding = \"utf-8\", records = \"fixed\", record_length = 10, kind_field = [0, 1], data = \"22\" }",
            "kind_field",
        ),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\nformat = { encoding = \"utf-8\", records = \"csv\" }",
            "columns",
        ),
        (
            "box = \"inbox\"\npatterns = [\"*\"]\ntenants = [\"011002\"]\ntypes = [\"text\"]",
            "not configured",
        ),
    ] {
        let text = format!("{}\n[[check]]\nname = \"c\"\n{bad}\n", sample(""));
        let (line, msg) = err_of(&text);
        assert!(line >= 19, "{bad}: line {line}");
        assert!(msg.contains(says), "{bad}: {msg}");
    }
}

#[test]
fn a_check_rule_can_name_a_route_for_its_box_pattern_and_tenants() {
    let routes = "\n[[route]]\nname = \"juki-up\"\nsource = { box = \"inbox\", pattern = \"JUKI_*\" }\ndestination = { dir = \"/var/spool/juki\" }\n\n[[route]]\nname = \"kokuho-down\"\nsource = { dir = \"/var/dist\" }\ndestination = { box = \"outbox\" }\n";
    let text = format!(
        "{}{routes}\n[[check]]\nname = \"up\"\nroute = \"juki-up\"\ntypes = [\"text\"]\n\n[[check]]\nname = \"down\"\nroute = \"kokuho-down\"\ntypes = [\"pdf\", \"text\"]\n",
        sample("")
    );
    let c = parse(&text).unwrap();
    let inbox = renkei_model::boxes::BoxKind::Inbox;
    let outbox = renkei_model::boxes::BoxKind::Outbox;
    assert!(c.checks[0].selects("032018", inbox, "JUKI_1.DAT"));
    assert!(!c.checks[0].selects("032018", inbox, "KOKUHO_1.DAT"));
    assert!(c.checks[1].selects("032018", outbox, "anything.pdf"));
    assert!(!c.checks[1].selects("032018", inbox, "anything.pdf"));
    for (bad, says) in [
        ("route = \"nope\"\ntypes = [\"text\"]", "no route"),
        (
            "route = \"juki-up\"\nbox = \"inbox\"\ntypes = [\"text\"]",
            "not both",
        ),
        ("types = [\"text\"]", "box and patterns"),
    ] {
        let text = format!("{}{routes}\n[[check]]\nname = \"c\"\n{bad}\n", sample(""));
        let (_, msg) = err_of(&text);
        assert!(msg.contains(says), "{bad}: {msg}");
    }
}

const SEGMENTS: &str = r#"
[[segment]]
name = "standard"
label = "標準システム系"
listen = ["10.20.0.5:22"]
networks = ["10.20.0.0/24"]

[[segment.account]]
user = "std-ope"
keys = ["KEY2"]

[[segment.account]]
user = "std-boss"

[[segment]]
name = "chukan"
label = "統合専用端末系"
listen = ["10.30.0.5:22", "[fd00:30::5]:22"]
networks = ["10.30.0.0/24"]

[[segment.account]]
user = "chukan-ope"

[[lane]]
name = "kanyusha-down"
from = "standard"
to = "chukan"
senders = ["std-ope"]
receivers = ["chukan-ope"]
approvers = ["std-boss"]
patterns = ["*.csv"]
max_file_size = "2GiB"
"#;

fn with_segments(extra: &str) -> String {
    format!("{}{}{extra}", sample(""), SEGMENTS.replace("KEY2", KEY2))
}

#[test]
fn segments_and_lanes_load() {
    let c = parse(&with_segments("")).unwrap();
    assert_eq!(c.segments.len(), 2);
    let (seg, acc) = c.segment_account("std-ope").unwrap();
    assert_eq!((seg.name.as_str(), acc.keys.len()), ("standard", 1));
    assert!(
        c.account("std-ope").is_none(),
        "a segment account is no tenant's"
    );
    assert!(c.segment_account("032018-juki").is_none());
    assert_eq!(c.segment("chukan").unwrap().listen.len(), 2);
    let lane = c.lane("kanyusha-down").unwrap();
    assert_eq!(
        (lane.from.as_str(), lane.to.as_str()),
        ("standard", "chukan")
    );
    assert_eq!(lane.approvals, 1);
    assert_eq!(
        lane.expire_after,
        std::time::Duration::from_secs(7 * 86_400)
    );
    assert_eq!(lane.max_file_size, Some(2 << 30));
}

#[test]
fn a_bad_segment_or_lane_names_its_line() {
    for (bad, says) in [
        (
            "\n[[segment]]\nname = \"x\"\nlabel = \"x\"\nlisten = [\"127.0.0.1:2222\"]\n",
            "already listened on",
        ),
        (
            "\n[[segment]]\nname = \"x\"\nlabel = \"x\"\nlisten = []\n",
            "at least one address",
        ),
        (
            "\n[[segment]]\nname = \"standard\"\nlabel = \"x\"\nlisten = [\"10.9.0.1:22\"]\n",
            "defined twice",
        ),
        (
            "\n[[segment]]\nname = \"x\"\nlabel = \"x\"\nlisten = [\"10.9.0.1:22\"]\n\n[[segment.account]]\nuser = \"032018-juki\"\n",
            "already an account of tenant 032018",
        ),
        (
            "\n[[lane]]\nname = \"back\"\nfrom = \"chukan\"\nto = \"chukan\"\nsenders = [\"chukan-ope\"]\nreceivers = [\"chukan-ope\"]\n",
            "both chukan",
        ),
        (
            "\n[[lane]]\nname = \"back\"\nfrom = \"chukan\"\nto = \"standard\"\nsenders = [\"std-ope\"]\nreceivers = [\"std-ope\"]\n",
            "not an account of segment chukan",
        ),
        (
            "\n[[lane]]\nname = \"back\"\nfrom = \"chukan\"\nto = \"lgwan\"\nsenders = [\"chukan-ope\"]\nreceivers = [\"std-ope\"]\n",
            "not a configured segment",
        ),
        (
            "\n[[lane]]\nname = \"back\"\nfrom = \"chukan\"\nto = \"standard\"\nsenders = [\"chukan-ope\"]\nreceivers = [\"std-ope\"]\napprovers = [\"chukan-ope\"]\n",
            "nobody approves their own file",
        ),
        (
            "\n[[lane]]\nname = \"back\"\nfrom = \"chukan\"\nto = \"standard\"\nsenders = [\"chukan-ope\"]\nreceivers = [\"std-ope\"]\napprovers = [\"std-boss\"]\napprovals = 2\n",
            "approvals must be between 1 and the 1",
        ),
        (
            "\n[[lane]]\nname = \"kanyusha-down\"\nfrom = \"chukan\"\nto = \"standard\"\nsenders = [\"chukan-ope\"]\nreceivers = [\"std-ope\"]\n",
            "defined twice",
        ),
    ] {
        let (line, msg) = err_of(&with_segments(bad));
        assert!(line > 20, "{bad}: line {line}");
        assert!(msg.contains(says), "{bad}: {msg}");
    }
    // One key for a municipality's account and a segment's is refused.
    let shared = format!("{}{}", sample(""), SEGMENTS.replace("KEY2", KEY));
    let (_, msg) = err_of(&shared);
    assert!(msg.contains("two municipalities or networks"), "{msg}");
}
