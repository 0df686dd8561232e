//! `run()`: resolve → fetch → authenticate → source → rebuild → compare → report.

use crate::cli::{Cli, Command};
use crate::exit::Exit;

/// Runs what the command line asks and reports it; returns the exit code.
pub fn main(cli: Cli) -> Exit {
    let out = cli.output.clone();
    match cli.command {
        Some(Command::Authenticate(_))
        | Some(Command::List(_))
        | Some(Command::Compare(_))
        | Some(Command::Build(_))
        | None => {
            let _ = out;
            eprintln!("verify-release: error: not wired yet");
            Exit::Incomplete
        }
    }
}
