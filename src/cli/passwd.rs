//! `renkei passwd`: makes the argon2id hash (and, on request, the TOTP
//! secret) that a web or FTPS login is written with, so that no plain
//! password is ever put in the configuration.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Longest password accepted (argon2 takes more, a person types less).
const MAX_PASSWORD: usize = 1024;
/// Shortest password accepted.
const MIN_PASSWORD: usize = 12;

/// Reads one line from the terminal without echoing it.
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, OptionalActions::Now, &saved)?;
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub(super) fn run(user: &str, totp: bool, ftps: bool) -> anyhow::Result<ExitCode> {
    let door = if ftps { "ftps" } else { "web" };
    let password = if std::io::stdin().is_terminal() {
        let first = read_hidden(&format!("new {door} password for {user}: "))?;
        let again = read_hidden("again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ; nothing was made");
        first
    } else {
        // From a pipe or file: the first line (scripts, tests).
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    let chars = password.chars().count();
    anyhow::ensure!(
        (MIN_PASSWORD..=MAX_PASSWORD).contains(&chars),
        "a {door} password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; this one has {chars}"
    );
    let hash = renkei_core::door::proof::hash_password(&password);
    anyhow::ensure!(!hash.is_empty(), "the password could not be hashed");
    println!("# {door} login of {user}: put these lines in its account table");
    println!("{door}_password = \"{hash}\"");
    if totp {
        let secret: [u8; 20] = rand::random();
        let text = data_encoding::BASE32_NOPAD.encode(&secret);
        println!("web_totp = \"{text}\"");
        println!(
            "# authenticator app: otpauth://totp/renkei:{user}?secret={text}&issuer=renkei&algorithm=SHA1&digits=6&period=30"
        );
    }
    Ok(ExitCode::SUCCESS)
}
