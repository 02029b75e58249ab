//! `renkei policy check | explain | who`: the operator's questions about
//! the rules, answered from the files without a running daemon.

use clap::Subcommand;
use std::fmt::Write as _;
use std::process::ExitCode;

use jiff::Timestamp;

use super::when::when;
use renkei_config::units::{Quantity, parse_size};
use renkei_config::{Config, TenantCode};
use renkei_core::namespace::{BoxKind, NsPath};
use renkei_core::policy::{Decision, Operation, PolicySet, Protocol, Request};
use renkei_model::time::tokyo;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and lint the rule files: errors name file:line; warnings for
    /// shadowed rules, rules that can never match, shared networks.
    Check,
    /// Would this be allowed, and by which rule? Exit status 0 = allow, 1 = deny.
    Explain(ExplainArgs),
    /// Who may do OP in a tenant's box: each account, the rules that could
    /// decide, in order.
    Who {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: String,
        /// connect, login, list, read, upload, delete, rename, mkdir, rmdir
        #[arg(long, value_name = "OP")]
        op: String,
        /// Path in the namespace, e.g. /inbox or /inbox/reports/x.csv
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
    },
}

/// What `renkei policy explain` is asked.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Municipality code (6 digits) whose namespace is asked about.
    #[arg(long, value_name = "CODE")]
    pub tenant: String,
    /// The account (SSH user) asking.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Source address.
    #[arg(long, value_name = "IP")]
    pub from: std::net::IpAddr,
    /// connect, login, list, read, upload, delete, rename, mkdir, rmdir
    #[arg(long, value_name = "OP")]
    pub op: String,
    /// Path in the namespace, e.g. /inbox/JUKI_032018_20261121093000.csv
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,
    /// Size of the upload, in bytes (or with a unit: 64MiB).
    #[arg(long, value_name = "N")]
    pub size: Option<String>,
    /// When (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo); default now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The front door: sftp or https.
    #[arg(long, value_name = "PROTOCOL", default_value = "sftp")]
    pub protocol: String,
}

/// How `check` and `policy check` describe the rules in force.
pub(super) fn summary(policy: &PolicySet) -> String {
    let mut s = String::new();
    let from = if policy.files.is_empty() {
        renkei_core::policy::BASELINE_NAME.to_string()
    } else {
        policy.files.join(", ")
    };
    let _ = writeln!(
        s,
        "rules: {} from {} (sha256 {})",
        policy.rules().len(),
        from,
        policy.digest
    );
    for w in &policy.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn op(s: &str) -> anyhow::Result<Operation> {
    Operation::parse(s).ok_or_else(|| {
        anyhow::anyhow!("unknown operation {s:?}: use connect, login, list, read, upload, delete, rename, mkdir or rmdir")
    })
}

pub(super) fn run(config: &Config, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let policy = PolicySet::load(config)?;
    match command {
        PolicyCommand::Check => {
            for w in &config.warnings {
                println!("warning: {w}");
            }
            print!("{}", summary(&policy));
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Who {
            tenant,
            op: o,
            path,
        } => {
            let code = TenantCode::parse(&tenant)?;
            let (bx, rel) = match path
                .as_deref()
                .map(|p| NsPath::parse(p.as_bytes(), config.limits.max_path_depth))
                .transpose()?
            {
                None | Some(NsPath::Root) => (None, None),
                Some(p) => (p.box_kind(), Some(p.rel()).filter(|r| !r.is_empty())),
            };
            print!("{}", policy.who(config, &code, op(&o)?, bx, rel.as_deref()));
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Explain(args) => explain(config, &policy, args),
    }
}

/// The exit status of an answer: 0 = allow, 1 = deny.
fn status(allow: bool) -> ExitCode {
    if allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `policy explain`: the daemon's decision for one request, and what
/// decided it.
fn explain(config: &Config, policy: &PolicySet, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let code = TenantCode::parse(&args.tenant)?;
    let op = op(&args.op)?;
    let protocol = Protocol::parse(&args.protocol)
        .ok_or_else(|| anyhow::anyhow!("--protocol {:?}: use sftp or https", args.protocol))?;
    // As the daemon sees it: ::ffff:10.0.0.1 is 10.0.0.1.
    let from = renkei_config::canonical_ip(args.from);
    let at = match &args.at {
        Some(a) => when(a)?,
        None => tokyo(Timestamp::now()),
    };
    let size = args
        .size
        .map(|s| parse_size(&Quantity::Text(s)).map_err(|e| anyhow::anyhow!("--size: {e}")))
        .transpose()?
        // An upload is first decided when it opens, at size 0.
        .or((op == Operation::Upload).then_some(0));
    let user = args.user.as_str();
    if let Some((seg, account)) = config.segment_account(user) {
        let path = args.path.as_deref();
        return Ok(explain_segment(
            config, seg, account, user, from, op, path, size,
        ));
    }
    let Some((t, account)) = config.account(user) else {
        println!("deny  account {user:?} is not in the configuration");
        return Ok(ExitCode::FAILURE);
    };
    let sized = size
        .map(|s| format!(", size {}", renkei_config::units::format_size(s)))
        .unwrap_or_default();
    let context = format!(
        "  {op} by {user} of {} {} from {from}, at {}{sized}",
        t.code,
        t.name,
        at.strftime("%Y-%m-%d %H:%M:%S %Z (%a)")
    );
    if t.code != code {
        println!(
            "deny  {user} is an account of {} {}, not of {code}",
            t.code, t.name
        );
        println!("{context}");
        println!("  decided by isolation: an account only ever acts in its own tenant's namespace");
        return Ok(ExitCode::FAILURE);
    }
    let target = match target(config, op, args.path.as_deref(), &context)? {
        Target::Answered(code) => return Ok(code),
        Target::Ask(target) => target,
    };
    // The daemon's order: the address at accept, then the account at
    // login (connect, login), then the operation. The first stage that
    // refuses is the answer.
    let ask = |stage_op: Operation| {
        policy.decide(&Request {
            tenant: &t.code,
            account: &account.user,
            account_networks: account.effective_networks(t),
            source: Some(from),
            protocol,
            op: stage_op,
            bx: target.bx,
            path: target.rel.as_deref(),
            name: target.name.as_deref(),
            size,
            at: &at,
        })
    };
    let (passed, refused) = stages(config, policy, from, protocol, &at, op, &ask);
    let (d, stage) = match refused {
        Some((stage, d)) => (d, Some(stage)),
        None => (ask(op), None),
    };
    println!(
        "{}  {op}{}",
        if d.allow { "allow" } else { "deny" },
        target.shown
    );
    println!("{context}");
    if let Some(stage) = stage {
        println!("  refused at {stage}, before the {op} is asked");
    } else if !passed.is_empty() {
        println!("  passes {} from {from}", passed.join(", "));
    }
    print_decided_by(policy, &d);
    if let Some(reason) = &d.reason {
        println!("  reason: {reason}");
    } else if !d.allow
        && !account
            .effective_networks(t)
            .iter()
            .any(|n| n.contains(&from))
    {
        println!("  reason: source address {from} is not in the networks of account {user}");
    }
    Ok(status(d.allow))
}

/// What a request's path names, for the rules.
struct Asked {
    bx: Option<BoxKind>,
    rel: Option<String>,
    name: Option<String>,
    /// ` /inbox/x.csv`, or empty for an operation without a path.
    shown: String,
}

/// A path the namespace answers for by itself, or what to ask the rules.
enum Target {
    Answered(ExitCode),
    Ask(Asked),
}

/// Parses `--path` for `op`. The root, the receipts and the lanes are the
/// namespace's, not the rules': their answer is printed here.
fn target(
    config: &Config,
    op: Operation,
    path: Option<&str>,
    context: &str,
) -> anyhow::Result<Target> {
    let parsed = match (path, op.has_path()) {
        (Some(p), true) => Some(NsPath::parse(p.as_bytes(), config.limits.max_path_depth)?),
        (None, true) => anyhow::bail!("{op} concerns a file or directory: give --path"),
        (_, false) => None,
    };
    let (bx, rel, name) = match &parsed {
        None => (None, None, None),
        Some(p @ (NsPath::Root | NsPath::Receipts | NsPath::Receipt(_))) => {
            let allow = matches!(op, Operation::List | Operation::Read);
            println!("{}  {op} {p}", if allow { "allow" } else { "deny" });
            println!("{context}");
            println!(
                "  decided by the namespace: / lists the boxes and /receipts is read-only, each tenant seeing its own"
            );
            return Ok(Target::Answered(status(allow)));
        }
        Some(p @ (NsPath::Lanes { .. } | NsPath::LaneFile { .. } | NsPath::Decision { .. })) => {
            println!("deny  {op} {p}");
            println!("{context}");
            println!(
                "  decided by the namespace: lanes belong to segment accounts (docs/segments.md), never to a municipality's"
            );
            return Ok(Target::Answered(ExitCode::FAILURE));
        }
        Some(p @ NsPath::Box(_)) => (p.box_kind(), Some(String::new()), None),
        Some(p @ NsPath::Entry { name, .. }) => (p.box_kind(), Some(p.rel()), Some(name.clone())),
    };
    Ok(Target::Ask(Asked {
        bx,
        rel,
        name,
        shown: parsed.map(|p| format!(" {p}")).unwrap_or_default(),
    }))
}

/// The stages before `op` that the daemon decides first (accept, connect,
/// login): those passed, and the first that refuses with its decision.
fn stages(
    config: &Config,
    policy: &PolicySet,
    from: std::net::IpAddr,
    protocol: Protocol,
    at: &jiff::Zoned,
    op: Operation,
    ask: &dyn Fn(Operation) -> Decision,
) -> (Vec<&'static str>, Option<(&'static str, Decision)>) {
    let mut passed = Vec::new();
    if let Err(d) = policy.admits(config, from, protocol, at) {
        return (
            passed,
            Some(("accept (TCP accept, before the SSH handshake)", d)),
        );
    }
    passed.push("accept");
    for stage_op in [Operation::Connect, Operation::Login] {
        if stage_op == op {
            break;
        }
        let d = ask(stage_op);
        if !d.allow {
            let stage = if stage_op == Operation::Connect {
                "login (connect)"
            } else {
                "login"
            };
            return (passed, Some((stage, d)));
        }
        passed.push(stage_op.name());
    }
    (passed, None)
}

/// The rule that decided, with its text, or the default deny.
fn print_decided_by(policy: &PolicySet, d: &Decision) {
    match &d.rule {
        Some(r) => {
            let rule = policy
                .rules()
                .iter()
                .find(|x| &x.at == r)
                .map(|x| x.summary())
                .unwrap_or_default();
            println!("  decided by {r}: {rule}");
        }
        None => println!("  decided by default deny: no rule matched"),
    }
}

/// `policy explain` for a segment's account: its listener and networks for
/// `connect` and `login`, its lanes for everything else (not the rules).
#[allow(clippy::too_many_arguments)]
fn explain_segment(
    config: &renkei_config::Config,
    seg: &renkei_config::Segment,
    account: &renkei_config::Account,
    user: &str,
    from: std::net::IpAddr,
    op: Operation,
    path: Option<&str>,
    size: Option<u64>,
) -> ExitCode {
    let context = format!(
        "  {op} by {user} of segment {} ({}) from {from}",
        seg.name, seg.label
    );
    let verdict = match op {
        Operation::Connect | Operation::Login => {
            let networks = account.networks.as_deref().unwrap_or(&seg.networks);
            if networks.iter().any(|n| n.contains(&from)) {
                Ok(())
            } else {
                Err(format!(
                    "{from} is not in the networks of segment {}",
                    seg.name
                ))
            }
        }
        _ => match path.map(|p| NsPath::parse(p.as_bytes(), config.limits.max_path_depth)) {
            Some(Ok(p)) => {
                renkei_core::namespace::lanes::explain(config, &seg.name, user, from, op, &p, size)
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err("give --path".to_string()),
        },
    };
    let shown = path.unwrap_or("");
    match verdict {
        Ok(()) => {
            println!("allow  {op} {shown}");
            println!("{context}");
            println!(
                "  decided by the segment and its lanes (senders, receivers, approvers), not by the rules: docs/segments.md"
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("deny  {op} {shown}: {why}");
            println!("{context}");
            println!(
                "  decided by the segment and its lanes (a segment's account has no boxes), not by the rules: docs/segments.md"
            );
            ExitCode::FAILURE
        }
    }
}
