//! `renkei ctl …`: talking to the running daemon, and printing its answers
//! for people (or `--json` for scripts).

use std::path::Path;

use crate::admin::client::Client;
use crate::admin::proto::LsEntry;

use super::CtlCommand;

// Long: one arm per `renkei ctl` subcommand (request, then print the
// reply); the match is the command table.
pub(super) fn run(socket: &Path, command: CtlCommand) -> anyhow::Result<()> {
    let mut client = Client::connect(socket)?;
    match command {
        CtlCommand::Status { json } => {
            let s = client.status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("renkei {} (pid {})", s.version, s.pid);
                println!("  config       {}", s.config);
                println!("  listening    {}", s.listen);
                println!("  data dir     {}", s.data_dir);
                println!("  started      {} (up {}s)", s.started_at, s.uptime_secs);
                println!("  connections  {}", s.connections);
                println!(
                    "  client memory {} held (at most {}; {} per account)",
                    crate::config::units::format_size(s.client_memory.held),
                    crate::config::units::format_size(s.client_memory.limit),
                    crate::config::units::format_size(s.client_memory.account_limit)
                );
                println!("  vault key    {}", s.vault_recipient);
                for t in &s.tenants {
                    println!(
                        "  tenant       {} {} ({} accounts)",
                        t.code, t.name, t.accounts
                    );
                }
            }
        }
        CtlCommand::Put { tenant, bx, files } => {
            for f in files {
                let r = client.put(&tenant, &bx, &f)?;
                println!("{}  {} bytes  sha256 {}", r.path, r.size, r.sha256);
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
            if json {
                println!("{}", serde_json::to_string_pretty(&routes)?);
            } else {
                print_routes(&routes);
            }
        }
        CtlCommand::Retry { route, item } => {
            let n = client.retry(&route, item.as_deref())?;
            println!("{n} item(s) of route {route} queued again");
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
            let h = client.get(&tenant, &bx, &name, &output)?;
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
    Ok(())
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

fn print_routes(routes: &[crate::route::RouteReport]) {
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
    }
}
