//! Wiring only: parse, dispatch, report errors as one line, exit.

use clap::Parser;
use lab::cli::{Cli, Command};
use lab::labs;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let g = &cli.global;
    let fds = lab::sys::open_fd_count();
    let result = match &cli.command {
        Command::List => labs::list(g),
        Command::All => labs::all(g),
        Command::Docs(a) => labs::docs::command(a, g),
        Command::Argv(a) => labs::argv::command(a, g),
        Command::Protocol(a) => labs::protocol::command(a, g),
        Command::Reuseaddr(a) => labs::reuseaddr::command(a, g),
        Command::Backlog(a) => labs::backlog::command(a, g),
        Command::Options(a) => labs::options::command(a, g),
        Command::Gopher(a) => labs::gopher::command(a, g),
        Command::Serve(a) => labs::serve::command(a, g),
        Command::Gopherd(a) => labs::gopherd::command(a, g),
    };
    let result = result.and_then(|code| {
        if g.leak_check {
            labs::check_leaks(fds)?;
        }
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lab: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
