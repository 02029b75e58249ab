//! The command line: `renkei serve | check | policy … | ctl …`.
//!
//! `--config FILE` is global (before or after the subcommand). Without it,
//! `serve` runs the embedded demo configuration and `ctl` talks to the
//! daemon whose data directory is `./renkei-data`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod ctl;
mod policy;

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "renkei",
    version,
    about = "Secure file-transfer gateway for municipal data linkage (データ連携用機器)"
)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the embedded demo configuration.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground.
    Serve,
    /// Validate a configuration and print a summary.
    Check,
    /// Check, explain and query the access rules (no daemon needed).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Talk to the running daemon over its control socket.
    Ctl {
        #[command(subcommand)]
        command: CtlCommand,
    },
    /// Verify, query and export the audit trail (offline; no daemon needed).
    Audit {
        /// The audit directory (default: <data_dir>/audit of the configuration).
        #[arg(long, global = true, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every record, the chain and every checkpoint signature. Exit
    /// status 1 and the first problem when anything was tampered with.
    Verify {
        /// Public key file (ed25519:<hex> per line); may be given again for
        /// a trail whose signing key was replaced. Default: audit.pub beside
        /// the trail.
        #[arg(long, value_name = "FILE")]
        pubkey: Vec<std::path::PathBuf>,
        /// The daemon is running: accept an end not yet sealed. Detected by
        /// itself when the daemon's control socket is beside the trail.
        #[arg(long)]
        live: bool,
        /// Verify an exported bundle instead of the directory.
        #[arg(long, value_name = "FILE")]
        bundle: Option<std::path::PathBuf>,
    },
    /// Search the trail: a readable table, or --json / --csv.
    Query {
        /// Municipality code (6 digits).
        #[arg(long, value_name = "CODE")]
        tenant: Option<String>,
        /// Account (SSH user), or ctl for the operator.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Event name(s), comma-separated (see docs/audit.md).
        #[arg(long, value_name = "EVENT")]
        event: Option<String>,
        /// Part of a file path.
        #[arg(long, value_name = "TEXT")]
        file: Option<String>,
        /// ok, refused or failed.
        #[arg(long, value_name = "RESULT")]
        result: Option<String>,
        /// From (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Up to and including (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// The matching records as a JSON array, fields as written.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV with a header row (UTF-8 with BOM, for spreadsheets).
        #[arg(long)]
        csv: bool,
    },
    /// Write the records of a period, with the checkpoints that sign them,
    /// as a bundle that verifies on its own.
    Export {
        /// From (RFC 3339, or "YYYY-MM-DD HH:MM" in Asia/Tokyo).
        #[arg(long, value_name = "TIME")]
        since: String,
        /// Up to and including (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: String,
        /// The bundle file to write.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

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
}

/// Runs a parsed command line; the process exit code is the result.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("renkei: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve => {
            let (config, path) = match &cli.config {
                Some(p) => (load(p)?, Some(p.clone())),
                None => (crate::demo::prepare()?, None),
            };
            crate::logging::init(&config.log);
            crate::daemon::run(config, path)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let Some(path) = &cli.config else {
                anyhow::bail!("check needs a configuration: renkei check --config FILE");
            };
            let config = load(path)?;
            let policy = crate::policy::PolicySet::load(&config)?;
            let found = crate::preflight::check(&config, false)?;
            print!("{}", config.summary());
            print!("{}", policy::summary(&policy));
            if found.running {
                println!(
                    "machine: keys and directories usable; the daemon of {} is running (the port is its own)",
                    config.server.data_dir.display()
                );
            } else {
                println!(
                    "machine: keys, directories and {} usable",
                    config.server.listen
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command } => {
            let config = match &cli.config {
                Some(path) => load(path)?,
                None => {
                    eprintln!(
                        "note: no --config: the embedded default configuration and the built-in baseline rules"
                    );
                    crate::demo::embedded()?
                }
            };
            policy::run(&config, command)
        }
        Command::Audit { dir, command } => {
            let config = cli.config.as_deref().map(load).transpose()?;
            let dir = match (dir, &config) {
                (Some(d), _) => d,
                (None, Some(c)) => c.server.data_dir.join("audit"),
                (None, None) => PathBuf::from(crate::demo::DATA_DIR).join("audit"),
            };
            audit::run(dir, config.as_ref(), command)
        }
        Command::Ctl { command } => {
            let data_dir = match &cli.config {
                Some(p) => match Config::load(p) {
                    Ok(c) => c.server.data_dir,
                    Err(e) => {
                        // The daemon runs on what it loaded last; reach it.
                        eprintln!("renkei: warning: {e}");
                        Config::data_dir_only(p)?
                    }
                },
                None => PathBuf::from(crate::demo::DATA_DIR),
            };
            ctl::run(&data_dir.join(crate::admin::SOCKET_NAME), command)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A time on the command line: RFC 3339, or a civil date-time (with or
/// without seconds, or a bare date) taken as Asia/Tokyo.
pub(crate) fn when(s: &str) -> anyhow::Result<jiff::Zoned> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(crate::time::tokyo(t));
    }
    let tz = crate::time::zone();
    if let Ok(civil) = s.parse::<jiff::civil::DateTime>() {
        return Ok(civil.to_zoned(tz)?);
    }
    if let Ok(date) = s.parse::<jiff::civil::Date>() {
        return Ok(date.to_zoned(tz)?);
    }
    anyhow::bail!(
        "{s:?} is not a time: use 2026-11-21T10:00:00+09:00, \"2026-11-21 10:00\" or 2026-11-21 (Asia/Tokyo)"
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every argument of every command says what it is in `--help`.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "renkei", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
