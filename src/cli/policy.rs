//! `renkei policy check | explain | who`: the operator's questions about
//! the rules, answered from the files without a running daemon.

use clap::Subcommand;
use std::fmt::Write as _;
use std::process::ExitCode;

use jiff::Timestamp;

use super::when::when;
use renkei_config::units::{Quantity, parse_size};
use renkei_config::{Config, TenantCode};
use renkei_core::namespace::NsPath;
use renkei_core::policy::{Operation, PolicySet, Request};
use renkei_model::time::tokyo;

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Parse and lint the rule files: errors name file:line; warnings for
    /// shadowed rules, rules that can never match, shared networks.
    Check,
    /// Would this be allowed, and by which rule? Exit status 0 = allow, 1 = deny.
    Explain {
        /// Municipality code (6 digits) whose namespace is asked about.
        #[arg(long, value_name = "CODE")]
        tenant: String,
        /// The account (SSH user) asking.
        #[arg(long, value_name = "USER")]
        user: String,
        /// Source address.
        #[arg(long, value_name = "IP")]
        from: std::net::IpAddr,
        /// connect, login, list, read, upload, delete, rename, mkdir, rmdir
        #[arg(long, value_name = "OP")]
        op: String,
        /// Path in the namespace, e.g. /inbox/JUKI_032018_20261121093000.csv
        #[arg(long, value_name = "PATH")]
        path: Option<String>,
        /// Size of the upload, in bytes (or with a unit: 64MiB).
        #[arg(long, value_name = "N")]
        size: Option<String>,
        /// When (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo); default now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The front door: sftp or https.
        #[arg(long, value_name = "PROTOCOL", default_value = "sftp")]
        protocol: String,
    },
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

// Long: one arm per `renkei policy` subcommand; the match is the command
// table.
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
        PolicyCommand::Explain {
            tenant,
            user,
            from,
            op: o,
            path,
            size,
            at,
            protocol,
        } => {
            let code = TenantCode::parse(&tenant)?;
            let op = op(&o)?;
            let protocol = renkei_core::policy::Protocol::parse(&protocol)
                .ok_or_else(|| anyhow::anyhow!("--protocol {protocol:?}: use sftp or https"))?;
            // As the daemon sees it: ::ffff:10.0.0.1 is 10.0.0.1.
            let from = renkei_config::canonical_ip(from);
            let at = match at {
                Some(a) => when(&a)?,
                None => tokyo(Timestamp::now()),
            };
            let size = size
                .map(|s| parse_size(&Quantity::Text(s)).map_err(|e| anyhow::anyhow!("--size: {e}")))
                .transpose()?
                // An upload is first decided when it opens, at size 0.
                .or((op == Operation::Upload).then_some(0));
            if let Some((seg, account)) = config.segment_account(&user) {
                return Ok(explain_segment(
                    config,
                    seg,
                    account,
                    &user,
                    from,
                    op,
                    path.as_deref(),
                    size,
                ));
            }
            let Some((t, account)) = config.account(&user) else {
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
                println!(
                    "  decided by isolation: an account only ever acts in its own tenant's namespace"
                );
                return Ok(ExitCode::FAILURE);
            }
            let parsed = match (&path, op.has_path()) {
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
                    return Ok(if allow {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
                Some(
                    p @ (NsPath::Lanes { .. } | NsPath::LaneFile { .. } | NsPath::Decision { .. }),
                ) => {
                    println!("deny  {op} {p}");
                    println!("{context}");
                    println!(
                        "  decided by the namespace: lanes belong to segment accounts (docs/segments.md), never to a municipality's"
                    );
                    return Ok(ExitCode::FAILURE);
                }
                Some(p @ NsPath::Box(_)) => (p.box_kind(), Some(String::new()), None),
                Some(p @ NsPath::Entry { name, .. }) => {
                    (p.box_kind(), Some(p.rel()), Some(name.clone()))
                }
            };
            let target = parsed.map(|p| format!(" {p}")).unwrap_or_default();
            // The daemon's order: the address at accept, then the account
            // at login (connect, login), then the operation. The first
            // stage that refuses is the answer.
            let ask = |stage_op: Operation| {
                policy.decide(&Request {
                    tenant: &t.code,
                    account: &account.user,
                    account_networks: account.effective_networks(t),
                    source: Some(from),
                    protocol,
                    op: stage_op,
                    bx,
                    path: rel.as_deref(),
                    name: name.as_deref(),
                    size,
                    at: &at,
                })
            };
            let mut passed = Vec::new();
            let mut stage_refusal = None;
            match policy.admits(config, from, protocol, &at) {
                Err(d) => {
                    stage_refusal = Some(("accept (TCP accept, before the SSH handshake)", d))
                }
                Ok(()) => passed.push("accept"),
            }
            for stage_op in [Operation::Connect, Operation::Login] {
                if stage_refusal.is_some() || stage_op == op {
                    break;
                }
                let d = ask(stage_op);
                if d.allow {
                    passed.push(stage_op.name());
                } else {
                    let stage = if stage_op == Operation::Connect {
                        "login (connect)"
                    } else {
                        "login"
                    };
                    stage_refusal = Some((stage, d));
                }
            }
            let (d, stage) = match stage_refusal {
                Some((stage, d)) => (d, Some(stage)),
                None => (ask(op), None),
            };
            println!("{}  {op}{target}", if d.allow { "allow" } else { "deny" });
            println!("{context}");
            if let Some(stage) = stage {
                println!("  refused at {stage}, before the {op} is asked");
            } else if !passed.is_empty() {
                println!("  passes {} from {from}", passed.join(", "));
            }
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
            if let Some(reason) = &d.reason {
                println!("  reason: {reason}");
            } else if !d.allow
                && !account
                    .effective_networks(t)
                    .iter()
                    .any(|n| n.contains(&from))
            {
                println!(
                    "  reason: source address {from} is not in the networks of account {user}"
                );
            }
            Ok(if d.allow {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
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
                let who = renkei_core::namespace::Principal {
                    scope: renkei_core::namespace::Scope::Segment(seg.name.clone()),
                    user: user.to_string(),
                    role: renkei_core::policy::Role::Account,
                    source: Some(from),
                    conn: None,
                    protocol: renkei_core::policy::Protocol::Sftp,
                };
                renkei_core::namespace::lanes::explain(config, &who, op, &p, size)
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
