//! The command line: `renkei serve | check | ctl ...`.
//!
//! `--config FILE` is global (before or after the subcommand). Without it,
//! `serve` runs the embedded demo configuration and `ctl` talks to the
//! daemon whose data directory is `./renkei-data`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::admin::client::Client;
use crate::admin::proto::LsEntry;
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
    /// Talk to the running daemon over its control socket.
    Ctl {
        #[command(subcommand)]
        command: CtlCommand,
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
        #[arg(long, value_name = "CODE")]
        tenant: String,
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: String,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List a tenant's files: name, size, SHA-256, state, time.
    Ls {
        #[arg(long, value_name = "CODE")]
        tenant: String,
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch a file, decrypted and checked against its SHA-256.
    Get {
        #[arg(long, value_name = "CODE")]
        tenant: String,
        #[arg(long = "box", value_name = "inbox|outbox")]
        bx: String,
        /// Path inside the box.
        name: String,
        /// Where to write it (`-` for standard output).
        #[arg(short = 'o', long = "output", value_name = "PATH")]
        output: PathBuf,
    },
}

/// Runs a parsed command line; the process exit code is the result.
pub fn run(cli: Cli) -> ExitCode {
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("renkei: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let (config, demo) = match &cli.config {
                Some(p) => (load(p)?, false),
                None => (crate::demo::prepare()?, true),
            };
            crate::logging::init(&config.log);
            crate::daemon::run(config, demo)?;
            Ok(())
        }
        Command::Check => {
            let Some(path) = &cli.config else {
                anyhow::bail!("check needs a configuration: renkei check --config FILE");
            };
            print!("{}", load(path)?.summary());
            Ok(())
        }
        Command::Ctl { command } => {
            let data_dir = match &cli.config {
                Some(p) => load(p)?.server.data_dir,
                None => PathBuf::from(crate::demo::DATA_DIR),
            };
            ctl(&data_dir.join(crate::admin::SOCKET_NAME), command)
        }
    }
}

fn ctl(socket: &Path, command: CtlCommand) -> anyhow::Result<()> {
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
