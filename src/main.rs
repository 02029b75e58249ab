//! The `renkei` binary: parses the command line and hands it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    renkei::cli::run(renkei::cli::Cli::parse())
}
