//! The thin binary: parse the command line, run, turn the outcome into an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = verify_release::cli::Cli::parse();
    verify_release::pipeline::main(cli).into()
}
