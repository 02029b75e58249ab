//! The command line: `renkei serve | check | migrate-schema | storage
//! migrate | policy … | ctl … | audit … | passwd | completions | manpages`.
//!
//! `--config FILE` is global (before or after the subcommand). Without it,
//! `serve` runs the embedded demo configuration and `ctl` talks to the
//! daemon whose data directory is `./renkei-data`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod ctl;
mod docs;
mod passwd;
mod policy;
mod progress;
mod when;

pub use audit::AuditCommand;
pub use ctl::CtlCommand;
pub use policy::PolicyCommand;

use renkei_config::Config;

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
    /// Create or upgrade the journal's tables in PostgreSQL
    /// (`[storage] journal`); the daemon also does it at start.
    MigrateSchema,
    /// Move a data directory's journal and files onto the engines of a
    /// configuration (PostgreSQL, S3), verified (offline; docs/storage.md).
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
    },
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
    /// Make the argon2id hash of a web password (read from the terminal,
    /// or the first line of stdin) to write as an account's web_password.
    Passwd {
        /// The user the password is for (shown in the output only).
        user: String,
        /// Also make a TOTP secret (RFC 6238) for a second factor.
        #[arg(long, conflicts_with = "ftps")]
        totp: bool,
        /// For the account's FTPS login (`ftps_password`) rather than its
        /// browser login.
        #[arg(long)]
        ftps: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, …).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (renkei.1 and one per command) into a directory.
    Manpages {
        /// Where to write them.
        dir: PathBuf,
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
pub enum StorageCommand {
    /// Copy the journal into PostgreSQL and the files into the bucket the
    /// configuration names, check every SHA-256, and set the old journal
    /// aside. The daemon must be stopped.
    Migrate {
        /// The data directory to move (the daemon's `data_dir`).
        #[arg(long, value_name = "DATA_DIR")]
        from: PathBuf,
        /// The configuration with the new `[storage]` (same data_dir).
        #[arg(long, value_name = "CONFIG")]
        to: PathBuf,
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
            let policy = renkei_core::policy::PolicySet::load(&config)?;
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
            let certs = crate::fronts::Certs::load(&config)?;
            for (door, store, cert) in [
                ("web", &certs.web, config.web.as_ref().map(|w| &w.tls_cert)),
                (
                    "ftps",
                    &certs.ftps,
                    config.ftps.as_ref().map(|f| &f.tls_cert),
                ),
            ] {
                if let (Some(store), Some(cert)) = (store, cert) {
                    println!(
                        "{door}: certificate {} usable, SHA-256 {}",
                        cert.display(),
                        store.fingerprint()
                    );
                }
            }
            if let Some(f) = &config.ftps {
                println!(
                    "ftps: passive ports {}-{} (open them on the firewall with the control port)",
                    f.passive_ports.start(),
                    f.passive_ports.end()
                );
            }
            for (path, why) in &found.host_key_cautions {
                println!("warning: host key {}: {why}", path.display());
            }
            match &found.scanner {
                Some((at, Ok(version))) => println!("scanner: clamd at {at} answers ({version})"),
                Some((at, Err(e))) => println!(
                    "scanner: clamd at {at} does not answer now ({e}); arriving files will wait in checking until it does"
                ),
                None => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::MigrateSchema => {
            let Some(path) = &cli.config else {
                anyhow::bail!(
                    "migrate-schema needs a configuration: renkei migrate-schema --config FILE"
                );
            };
            println!("{}", crate::engines::migrate_schema(&load(path)?)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Storage {
            command: StorageCommand::Migrate { from, to },
        } => {
            let config = load(&to)?;
            let done = crate::migrate::migrate(&from, &config)?;
            print!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Passwd { user, totp, ftps } => passwd::run(&user, totp, ftps),
        Command::Completions { shell } => docs::completions(shell),
        Command::Manpages { dir } => docs::manpages(&dir),
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
            ctl::run(&data_dir.join(renkei_doors_admin::SOCKET_NAME), command)
        }
    }
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
