//! The command line. One subcommand per lab; the registry in `labs` names them.

use crate::labs;
use crate::render::Format;
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Examples:
  lab list                         what each experiment answers
  lab reuseaddr                    what the 1 in setsockopt(SO_REUSEADDR, 1) means
  lab backlog --clients 20         what listen(1) does when 20 clients connect at once
  lab protocol --format json | jq '.findings'
  lab serve                        the book's server on port 51423; then: telnet 127.0.0.1 51423
  lab gopher --local               the book's client reading this lab's docs, no network needed
  lab all --format markdown > results.md
  lab docs --check                 is docs/ current with docs/results.json?

Exit status: 0 done, 1 the lab itself failed (one line on stderr), 2 bad usage.";

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "A socket-options teaching lab: each question about sockets answered by a live experiment on this machine's kernel",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run on the host network stack instead of a private network namespace.
    #[arg(long, global = true)]
    pub no_sandbox: bool,
    /// After the run, fail if any file descriptor or thread outlived it (used by the tests).
    #[arg(long, global = true, hide = true)]
    pub leak_check: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every experiment with the question it answers.
    List,
    /// Run every experiment once, with its default options.
    #[command(
        after_help = "Examples:\n  lab all\n  lab all --format json > results.json\n  lab docs --from results.json"
    )]
    All,
    Docs(labs::docs::Args),
    Argv(labs::argv::Args),
    Protocol(labs::protocol::Args),
    Reuseaddr(labs::reuseaddr::Args),
    Backlog(labs::backlog::Args),
    Options(labs::options::Args),
    Gopher(labs::gopher::Args),
    Serve(labs::serve::Args),
    Gopherd(labs::gopherd::Args),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_registered_lab_is_a_subcommand_with_an_example() {
        let cmd = Cli::command();
        for lab in labs::LABS {
            let sub = cmd
                .find_subcommand(lab.id)
                .unwrap_or_else(|| panic!("lab {} has no subcommand", lab.id));
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.contains(&format!("lab {}", lab.id)),
                "`lab {} --help` needs an example",
                lab.id
            );
        }
    }
}
