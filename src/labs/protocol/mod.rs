//! `lab protocol` — why `socket(AF_INET, SOCK_STREAM, 0)` says 0, what AF_ and PF_ are,
//! and which socket types each family really has.
//!
//! Method: list the family constants from the system headers (the libc crate), grouped
//! by value. Then call socket(2) for every (domain, type, protocol) attempt of a matrix and,
//! when it succeeds, ask the kernel what it made: getsockopt SO_DOMAIN, SO_TYPE and
//! SO_PROTOCOL; each descriptor is closed at once. The same attempts run as root, as an
//! unprivileged uid (a forked child that gave up root) and as root of a fresh user
//! namespace, side by side; what could not be measured says why. Then ICMP datagram
//! sockets before and after widening ping_group_range, and last the protocols database:
//! getprotobyname_r and the lines of /etc/protocols.
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it.

mod findings;
mod measure;
mod names;
mod tables;

pub use measure::{Attempt, Data, Outcome, Passes, Vantage, Who};

use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use anyhow::Result;

pub struct Protocol;

static STRINGS: Catalogue = Catalogue::new("protocol", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Why socket() takes protocol 0, what AF_/PF_ are, which socket types each family has",
    after_help = "Examples:
  lab protocol                          the compact matrix (every family and type with protocol 0, plus telling cases)
  lab protocol --all                    every family x type x protocol
  lab protocol --format json | jq '.tables[] | select(.id==\"defaults\") | .rows'"
)]
pub struct Args {
    /// Run the full matrix: every family x type x protocol (default: a compact selection).
    #[arg(long)]
    pub all: bool,
}

impl super::Experiment for Protocol {
    const ID: &'static str = "protocol";
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
