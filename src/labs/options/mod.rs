//! `lab options` — what each socket option the learner listed does, and what its default is.
//!
//! Method: (1) read every option, Stevens `checkopts` style, on five real sockets (new TCP,
//! new UDP, listening, connected and accepted TCP); an option that does not apply shows the
//! errno the kernel gave. (2) Set values and read them back: flags with 0, 1, 50, -1 and
//! INT_MAX; buffer sizes from 0 to 10 MB against the rule the kernel applies (doubling, a floor,
//! a cap from net.core.wmem_max / rmem_max). (3) Behaviour, each with the other end watching:
//! SO_LINGER off / {1,0} / {1,1} with unsent data; SO_ERROR after a refused non-blocking
//! connect, read twice; SO_BROADCAST off and on towards 127.255.255.255; one MSG_OOB byte with
//! SO_OOBINLINE off and on; SO_KEEPALIVE with 1 s / 1 s / 2 timers against a peer in a second
//! namespace, joined by a veth pair, whose address is then removed (only with
//! `--option SO_KEEPALIVE`: it takes ~3 s).
//! Each behaviour scenario runs in its own fresh network namespace when the sandbox allows.
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it.

mod behaviour;
mod findings;
mod keepalive;
mod measure;
mod tables;

pub use behaviour::{Broadcast, LingerRun, OobRun, PortLeft, ReadEnd, SoError, UnreadRun};
pub use keepalive::{KeepRun, Keepalive, LocalRead, Runs};
pub use measure::{Data, Probe, SetRead, Storage, Val};

use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use crate::sys::options as opts;
use anyhow::Result;

pub struct Options;

static STRINGS: Catalogue = Catalogue::new("options", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What each socket option does: defaults, stored values, and behaviour with a real peer",
    after_help = "Examples:
  lab options                           every option (SO_KEEPALIVE shows its timers only)
  lab options --option SO_LINGER        only SO_LINGER's rows
  lab options --option SO_KEEPALIVE     makes a peer vanish and waits ~3 s for ETIMEDOUT
  lab options --format json | jq '.tables[] | select(.id==\"buffers\") | .rows'"
)]
pub struct Args {
    /// Run only this option's rows (SO_LINGER, so_linger, TCP_NODELAY ...); SO_KEEPALIVE also
    /// runs the keepalive experiment (~3 s).
    #[arg(long, value_name = "NAME", value_parser = parse_option)]
    pub option: Option<&'static str>,
}

fn parse_option(s: &str) -> Result<&'static str, String> {
    let up = s.to_ascii_uppercase();
    opts::find(&up).map(|o| o.name).ok_or_else(|| {
        let names: Vec<&str> = opts::OPTIONS.iter().map(|o| o.name).collect();
        format!("unknown option {s:?}; one of: {}", names.join(", "))
    })
}

impl super::Experiment for Options {
    const ID: &'static str = "options";
    type Args = Args;
    type Data = Data;

    fn strings() -> &'static Catalogue {
        &STRINGS
    }
    fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
        measure::measure(args, ctx)
    }
    fn tables(d: &Data) -> Vec<Table> {
        tables::tables(d)
    }
    fn findings(d: &Data) -> Vec<Finding> {
        findings::findings(d)
    }
    fn notes(d: &Data) -> Vec<Text> {
        tables::notes(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_parse_in_any_case() {
        assert_eq!(parse_option("so_linger"), Ok("SO_LINGER"));
        assert_eq!(parse_option("TCP_NODELAY"), Ok("TCP_NODELAY"));
        assert!(parse_option("SO_NOPE").unwrap_err().contains("SO_LINGER"));
    }
}
