//! `renkei completions SHELL` and `renkei manpages DIR`: shell completions
//! and manual pages generated from the command definition itself, so the
//! package's documentation cannot drift from the binary it ships with.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::Cli;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Into memory first: the generator panics on a closed pipe (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "renkei", &mut script);
    match std::io::stdout().write_all(&script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Writes `renkei.1` and one page per subcommand (`renkei-ctl-status.1`…)
/// into `dir`.
pub fn manpages(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir)?;
    let mut written = 0;
    write_tree(Cli::command(), "renkei", dir, &mut written)?;
    eprintln!("{written} manual pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn write_tree(
    cmd: clap::Command,
    name: &str,
    dir: &Path,
    written: &mut usize,
) -> anyhow::Result<()> {
    let cmd = cmd.name(name.to_string()).bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    // No date: the same binary makes the same pages (reproducible builds).
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(dir.join(format!("{name}.1")), page)?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_tree(sub.clone(), &sub_name, dir, written)?;
    }
    Ok(())
}
