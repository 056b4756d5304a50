//! The command line: global options, and one subcommand per registry entry. Labs bring
//! their own options (a clap derive each); nothing here names a lab.

use crate::app::docs::Args as DocsArgs;
use crate::labs::{Lab, LABS};
use crate::render::Format;
use clap::{ArgMatches, Args, FromArgMatches};

const ABOUT: &str =
    "A socket-options teaching lab: each question about sockets answered by a live experiment on this machine's kernel";

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

/// Options every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Colour on a terminal: auto (unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Show every row and column (the default view groups identical rows and leaves out
    /// columns that carry nothing in this run). JSON is always complete.
    #[arg(long, short = 'v', global = true)]
    pub detail: bool,
    /// Run on the host network stack instead of a private network namespace.
    #[arg(long, global = true)]
    pub no_sandbox: bool,
    /// Write the packets each lab captured as pcap files in DIR, one per scenario
    /// (`lab all`: DIR/<lab>/); read them with tcpdump -r, tshark -r or Wireshark.
    #[arg(long, global = true, value_name = "DIR")]
    pub pcap: Option<std::path::PathBuf>,
    /// Capture no packets (the ladders are left out; for measuring what capture costs).
    #[arg(long, global = true, conflicts_with = "pcap")]
    pub no_capture: bool,
    /// After the run, fail if any file descriptor or thread outlived it (used by the tests).
    #[arg(long, global = true, hide = true)]
    pub leak_check: bool,
}

impl Global {
    /// Packet capture as these options ask.
    pub fn tap(&self) -> crate::sandbox::Tap {
        crate::sandbox::Tap {
            on: !self.no_capture,
            pcap: self.pcap.clone(),
        }
    }
}

/// The options of `lab all`.
#[derive(Debug, Clone, Args)]
pub struct AllArgs {
    /// How many labs run side by side (root only; each has its own namespace). 1: one after another.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// What the command line asks for.
pub enum Action {
    List,
    All(AllArgs),
    Docs(DocsArgs),
    Lab(&'static Lab, ArgMatches),
}

/// The whole command: the app's own subcommands, then one per lab in the registry.
pub fn command() -> clap::Command {
    let cmd = Global::augment_args(clap::Command::new("lab"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(clap::Command::new("list").about("List every experiment with the question it answers"))
        .subcommand(
            AllArgs::augment_args(clap::Command::new("all"))
                .about("Run every experiment once, with its default options")
                .after_help(
                    "Examples:\n  lab all\n  lab all --jobs 1                 one lab after another\n  \
                     lab all --format json > results.json\n  lab docs --from results.json",
                ),
        )
        .subcommand(DocsArgs::augment_args(clap::Command::new("docs")));
    LABS.iter().fold(cmd, |cmd, lab| cmd.subcommand((lab.command)()))
}

/// Parses `argv` (program name first).
pub fn parse_from<I, T>(argv: I) -> Result<(Global, Action), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let m = command().try_get_matches_from(argv)?;
    let global = Global::from_arg_matches(&m)?;
    let (name, sub) = m.subcommand().expect("a subcommand is required");
    let action = match name {
        "list" => Action::List,
        "all" => Action::All(AllArgs::from_arg_matches(sub)?),
        "docs" => Action::Docs(DocsArgs::from_arg_matches(sub)?),
        id => Action::Lab(
            crate::labs::find(id).expect("subcommands come from the registry"),
            sub.clone(),
        ),
    };
    Ok((global, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn every_registered_lab_is_a_subcommand_with_an_example() {
        let cmd = command();
        for lab in LABS {
            let sub = cmd
                .find_subcommand(lab.id)
                .unwrap_or_else(|| panic!("lab {} has no subcommand", lab.id));
            let help = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                help.contains(&format!("lab {}", lab.id)),
                "`lab {} --help` needs an example",
                lab.id
            );
            assert!(sub.get_about().is_some(), "`lab {}` needs an about line", lab.id);
        }
    }

    #[test]
    fn globals_parse_after_the_subcommand() {
        let (g, a) = parse_from(["lab", "reuseaddr", "--format", "json", "--no-sandbox"]).unwrap();
        assert_eq!(g.format, Format::Json);
        assert!(g.no_sandbox);
        assert!(matches!(a, Action::Lab(l, _) if l.id == "reuseaddr"));
    }
}
