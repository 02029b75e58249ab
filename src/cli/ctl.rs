//! `renkei ctl …`: talking to the running daemon, and printing its answers
//! for people (or `--json` for scripts).

use clap::Subcommand;
use std::path::{Path, PathBuf};

use renkei_doors_admin::client::Client;

use super::progress::{Progress, Unit};
use renkei_doors_admin::proto::{ChecksSummary, HeldFile, LsEntry, ReloadResult, Status};

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show the daemon's state.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Place files into a tenant's box (encrypted on the way in), each under its base name.
    Put {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: String,
        /// The box: inbox or outbox.
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: String,
        /// Local files to place; each keeps its base name.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List a tenant's files: name, size, SHA-256, state, time.
    Ls {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: String,
        /// The box: inbox or outbox.
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a file, decrypted and checked against its SHA-256.
    Get {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: String,
        /// The box: inbox or outbox.
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: String,
        /// Path inside the box.
        name: String,
        /// Where to write it (`-` for standard output).
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: PathBuf,
    },
    /// Re-read the configuration and rule files (as SIGHUP does).
    Reload,
    /// List banned source addresses.
    Bans {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift the ban of a source address.
    Unban {
        /// The banned address, as `renkei ctl bans` lists it.
        #[arg(value_name = "IP")]
        ip: String,
    },
    /// Each route: queue, last and next run, failures.
    Routes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a route's failed items back in its queue (all, or one ITEM given
    /// by its path or object id).
    Retry {
        /// The route's name, as in `renkei ctl routes`.
        #[arg(value_name = "ROUTE")]
        route: String,
        /// One failed item: its path in the box or its object id. Without
        /// it, every failed item of the route.
        #[arg(value_name = "ITEM")]
        item: Option<String>,
    },
    /// Each lane between segments: files checking, waiting for approval
    /// (and the oldest), delivered but not received, received, rejected,
    /// expired.
    Lanes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Files the arrival checks hold (quarantined: a virus or unscannable;
    /// rejected: a file-type or 連携 format rule): list, show, release or
    /// delete them.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Every held file: id, state, tenant, path, reason.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One held file in full.
    Show {
        /// Its id (or the first characters of it), as `list` shows.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Let a held file in: it is stored under the name it arrived with,
    /// visible and handed on by routes like any accepted file. No check
    /// runs again; the audit trail and the sender's receipt name the
    /// operator and the reason.
    Release {
        /// Its id (or the first characters of it), as `list` shows.
        #[arg(value_name = "ID")]
        id: String,
        /// Why (kept in the audit trail and shown in the receipt).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Destroy a held file's encrypted bytes (its record stays until
    /// retention forgets it).
    Delete {
        /// Its id (or the first characters of it), as `list` shows.
        #[arg(value_name = "ID")]
        id: String,
        /// Why (kept in the audit trail).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

/// Exit status bits of `ctl status` and `ctl routes`, for monitoring
/// (docs/operations.md): 1 is any error; these are ORed together.
pub const EXIT_HANDOFF_FAILED: u8 = 2;
pub const EXIT_EXPECTED_MISSING: u8 = 4;
pub const EXIT_FILES_HELD: u8 = 8;

/// What needs attention, as exit bits and a line for people.
fn attention(failed: u64, missing: usize, held: Option<usize>) -> (u8, Vec<String>) {
    let mut code = 0;
    let mut said = Vec::new();
    if failed > 0 {
        code |= EXIT_HANDOFF_FAILED;
        said.push(format!("{failed} hand-off(s) failed"));
    }
    if missing > 0 {
        code |= EXIT_EXPECTED_MISSING;
        said.push(format!("{missing} expected file(s) missing"));
    }
    if let Some(h) = held.filter(|h| *h > 0) {
        code |= EXIT_FILES_HELD;
        said.push(format!("{h} file(s) held by the checks"));
    }
    (code, said)
}

fn exit_with(code: u8, said: &[String]) -> std::process::ExitCode {
    if code != 0 {
        eprintln!("attention: {} (exit status {code})", said.join(", "));
    }
    std::process::ExitCode::from(code)
}

// One arm per `renkei ctl` subcommand (request, then print the reply):
// the match is the command table.
pub(super) fn run(socket: &Path, command: CtlCommand) -> anyhow::Result<std::process::ExitCode> {
    let mut client = Client::connect(socket)?;
    let mut exit = std::process::ExitCode::SUCCESS;
    match command {
        CtlCommand::Status { json } => {
            let s = client.status()?;
            let (code, said) =
                attention(s.handoffs_failed, s.expected_missing, Some(s.checks.held));
            exit = exit_with(code, &said);
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print_status(&s);
            }
        }
        CtlCommand::Put { tenant, bx, files } => {
            for f in files {
                let mut bar = Progress::new(f.display().to_string(), Unit::Bytes);
                let r = client.put(&tenant, &bx, &f, &mut |d, t| bar.update(d, t))?;
                bar.finish();
                let held = if r.state == "checking" {
                    "  (held for the arrival checks: `renkei ctl ls` shows when it is stored)"
                } else {
                    ""
                };
                println!("{}  {} bytes  sha256 {}{held}", r.path, r.size, r.sha256);
            }
        }
        CtlCommand::Ls { tenant, bx, json } => {
            let entries = client.ls(&tenant, bx.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                print_table(&entries);
            }
        }
        CtlCommand::Reload => {
            let r = client.reload()?;
            print_reload(&r);
        }
        CtlCommand::Bans { json } => {
            let bans = client.bans()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&bans)?);
            } else if bans.is_empty() {
                println!("no address is banned");
            } else {
                println!(
                    "{:<40} {:<26} {:>4}  REASON",
                    "ADDRESS", "UNTIL (Asia/Tokyo)", "BANS"
                );
                for b in bans {
                    println!("{:<40} {:<26} {:>4}  {}", b.ip, b.until, b.bans, b.reason);
                }
            }
        }
        CtlCommand::Routes { json } => {
            let routes = client.routes()?;
            let (code, said) = attention(
                routes.iter().map(|r| r.failed).sum(),
                routes.iter().map(|r| r.missing.len()).sum(),
                None,
            );
            exit = exit_with(code, &said);
            if json {
                println!("{}", serde_json::to_string_pretty(&routes)?);
            } else {
                print_routes(&routes);
                let checks = client.status()?.checks;
                if checks.waiting > 0 {
                    println!(
                        "waiting for arrival checks (not yet queued on any route): {}",
                        checks.waiting
                    );
                }
            }
        }
        CtlCommand::Retry { route, item } => {
            let n = client.retry(&route, item.as_deref())?;
            println!("{n} item(s) of route {route} queued again");
        }
        CtlCommand::Quarantine { command } => quarantine(&mut client, command)?,
        CtlCommand::Lanes { json } => {
            let lanes = client.lanes()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lanes)?);
            } else if lanes.is_empty() {
                println!("no lanes are configured");
            }
            for l in lanes.iter().filter(|_| !json) {
                let age = |s: Option<u64>| s.map(|s| format!(" (oldest {s}s)")).unwrap_or_default();
                println!("lane {}  {} -> {}", l.name, l.from, l.to);
                println!(
                    "  checking {}  awaiting approval {}{}  delivered {}{}",
                    l.checking,
                    l.awaiting_approval,
                    age(l.oldest_awaiting_secs),
                    l.delivered,
                    age(l.oldest_delivered_secs)
                );
                println!(
                    "  received {}  rejected {}  quarantined {}  expired {}  withdrawn {}",
                    l.received, l.rejected, l.quarantined, l.expired, l.withdrawn
                );
            }
        }
        CtlCommand::Unban { ip } => {
            client.unban(&ip)?;
            println!("{ip} is no longer banned");
        }
        CtlCommand::Get {
            tenant,
            bx,
            name,
            output,
        } => {
            // Not over the file itself when it goes to standard output.
            let mut bar = Progress::new(name.clone(), Unit::Bytes);
            let h = client.get(&tenant, &bx, &name, &output, &mut |d, t| {
                if output != Path::new("-") {
                    bar.update(d, t)
                }
            })?;
            bar.finish();
            if output != Path::new("-") {
                println!(
                    "{}  {} bytes  sha256 {} (verified)",
                    output.display(),
                    h.size,
                    h.sha256
                );
            }
        }
    }
    Ok(exit)
}

fn print_table(entries: &[LsEntry]) {
    println!(
        "{:<7} {:<12} {:>12}  {:<64}  {:<25}  NAME",
        "BOX", "STATE", "SIZE", "SHA-256", "TIME (Asia/Tokyo)"
    );
    for e in entries {
        let name = if e.kind == "dir" {
            format!("{}/", e.path)
        } else {
            e.path.clone()
        };
        println!(
            "{:<7} {:<12} {:>12}  {:<64}  {:<25}  {}",
            e.bx,
            e.state,
            e.size,
            e.sha256.as_deref().unwrap_or("-"),
            e.time.as_deref().unwrap_or("-"),
            name
        );
    }
}

fn print_routes(routes: &[renkei_handoff::route::RouteReport]) {
    if routes.is_empty() {
        println!("no routes are configured");
    }
    for r in routes {
        println!("route {}  ({})", r.name, r.defined_at);
        println!("  {} -> {}", r.source, r.destination);
        println!("  trigger    {}  tenants: {}", r.trigger, r.tenants);
        println!(
            "  items      queued {}  delivered {}  failed {}  cancelled {}  imported {}",
            r.queued, r.delivered, r.failed, r.cancelled, r.imported
        );
        println!(
            "  last run   {}",
            r.last_run.as_deref().unwrap_or("not yet")
        );
        if let Some(n) = &r.next_run {
            println!("  next run   {n}");
        }
        if let Some(e) = &r.last_error {
            println!("  last error {e}");
        }
        for f in &r.failures {
            println!(
                "  FAILED     {} {} (attempts {}): {}",
                f.tenant, f.path, f.attempts, f.error
            );
        }
        for m in &r.missing {
            println!("  MISSING    {m}");
        }
    }
}

fn print_checks(c: &ChecksSummary) {
    let scanner = c.scanner.as_deref().unwrap_or("no [scan]");
    println!(
        "  checks       scanner {scanner}; {} rule(s); {} waiting{}; {} held",
        c.rules,
        c.waiting,
        c.oldest_waiting_secs
            .map(|s| format!(" (oldest {s}s)"))
            .unwrap_or_default(),
        c.held
    );
}

fn print_held(h: &HeldFile) {
    println!("{}  {}", h.id, h.state);
    println!("  file       {} /{}/{}", h.tenant, h.bx, h.path);
    println!("  size       {} bytes  sha256 {}", h.size, h.sha256);
    println!("  from       {}", h.uploaded_by);
    println!("  received   {}", h.received);
    if let Some(at) = &h.held {
        println!("  held       {at}");
    }
    println!("  checks     {}", h.checks.join(", "));
    if let Some(v) = &h.scanner {
        println!("  scanner    {v}");
    }
    if let Some(sig) = &h.signature {
        println!("  signature  {sig}");
    }
    if let Some(r) = &h.reason {
        println!("  reason     {r}");
    }
}

fn quarantine(client: &mut Client, command: QuarantineCommand) -> anyhow::Result<()> {
    match command {
        QuarantineCommand::List { json } => {
            let held = client.held()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&held)?);
            } else if held.is_empty() {
                println!("no file is held");
            } else {
                println!(
                    "{:<26} {:<12} {:<7} {:<7} {:<40}  REASON",
                    "ID", "STATE", "TENANT", "BOX", "PATH"
                );
                for h in held {
                    println!(
                        "{:<26} {:<12} {:<7} {:<7} {:<40}  {}",
                        h.id,
                        h.state,
                        h.tenant,
                        h.bx,
                        h.path,
                        h.reason.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        QuarantineCommand::Show { id } => print_held(&client.held_show(&id)?),
        QuarantineCommand::Release { id, reason } => {
            let h = client.release(&id, &reason)?;
            println!(
                "released {}: stored again as /{}/{} of tenant {}; it is visible and routes hand it on like any accepted file. No check was run again.",
                h.id, h.bx, h.path, h.tenant
            );
        }
        QuarantineCommand::Delete { id, reason } => {
            let h = client.delete_held(&id, &reason)?;
            println!(
                "deleted {}: the stored bytes of /{}/{} (tenant {}) are destroyed; the record stays until retention forgets it.",
                h.id, h.bx, h.path, h.tenant
            );
        }
    }
    Ok(())
}

/// `ctl status` for a person.
fn print_status(s: &Status) {
    println!("renkei {} (pid {})", s.version, s.pid);
    println!("  config       {}", s.config);
    println!("  listening    {}", s.listen);
    for seg in &s.segments {
        println!(
            "  segment      {} {} on {}",
            seg.segment, seg.label, seg.listen
        );
    }
    if let Some(w) = &s.web {
        for (door, addr) in &w.listeners {
            println!("  https        {addr} ({door})");
        }
        println!(
            "  web          {} session(s), {} connection(s), certificate SHA-256 {}",
            w.sessions, w.connections, w.certificate_sha256
        );
    }
    if let Some(f) = &s.ftps {
        for (mode, addr) in &f.listeners {
            println!("  ftps         {addr} ({mode})");
        }
        println!(
            "  ftps         {} connection(s), passive ports {}, certificate SHA-256 {}",
            f.connections, f.passive_ports, f.certificate_sha256
        );
    }
    println!("  data dir     {}", s.data_dir);
    println!("  started      {} (up {}s)", s.started_at, s.uptime_secs);
    println!("  connections  {}", s.connections);
    println!(
        "  client memory {} held (at most {}; {} per account)",
        renkei_config::units::format_size(s.client_memory.held),
        renkei_config::units::format_size(s.client_memory.limit),
        renkei_config::units::format_size(s.client_memory.account_limit)
    );
    let peak = &s.client_memory.peak;
    println!(
        "  memory peak  {} requests, {} replies, {} out of order (most held at once since start)",
        renkei_config::units::format_size(peak.requests),
        renkei_config::units::format_size(peak.replies),
        renkei_config::units::format_size(peak.out_of_order)
    );
    println!("  vault key    {}", s.vault_recipient);
    print_checks(&s.checks);
    for t in &s.tenants {
        println!(
            "  tenant       {} {} ({} accounts)",
            t.code, t.name, t.accounts
        );
    }
}

/// What `ctl reload` changed.
fn print_reload(r: &ReloadResult) {
    println!(
        "reloaded: {} rules from {} (sha256 {})",
        r.rules,
        r.policy_files.join(", "),
        r.policy_sha256
    );
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if !r.restart_needed.is_empty() {
        println!(
            "changes to {} take effect at the next restart",
            r.restart_needed.join(", ")
        );
    }
    for (what, names) in [
        ("starting", &r.routes.started),
        ("replacing", &r.routes.changed),
        ("stopping", &r.routes.stopped),
    ] {
        if !names.is_empty() {
            println!(
                "routes: {what} {} (a transfer in progress finishes first)",
                names.join(", ")
            );
        }
    }
}
