//! The `studybot` binary: glue between the command line and the library. Each subcommand lives
//! in `cmd/`; errors become one-line messages and exit codes here.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    cmd::init_tracing();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("studybot: {}", cmd::one_line(&err));
            ExitCode::from(cmd::exit_code(&err))
        }
    }
}
