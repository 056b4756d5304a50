//! `lab reuseaddr` — what the 1 in `setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)` means, and when it matters.
//!
//! Method: set the option to each value and read it back; then replay the book's server
//! restart: a server with the option at OLD serves one client and closes first (its side of
//! the connection enters TIME-WAIT), closes its listener, and a new server with NEW binds the
//! same port. The socket table (sock_diag) proves TIME-WAIT was there at the moment of the
//! rebind. Each scenario runs in its own fresh network namespace when the sandbox allows, so
//! nothing waits for the 60 s TIME-WAIT to expire.
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it.

mod findings;
mod measure;
mod picture;
mod tables;

pub use measure::{Data, Readback, Restart, Scenario, ScenarioRun, TimeWait};

use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use anyhow::Result;

pub struct Reuseaddr;

static STRINGS: Catalogue = Catalogue::new("reuseaddr", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What the 1 in setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) means, and when it matters",
    after_help = "Examples:
  lab reuseaddr
  lab reuseaddr --values 0,1,50,-1
  lab reuseaddr --pcap /tmp/reuseaddr   restart-0-0.pcap ... client-closes-first.pcap
  lab reuseaddr --port 51423            the book's port (each scenario has its own namespace)
  lab reuseaddr --format json | jq '.tables[] | select(.id==\"restart\") | .rows'"
)]
pub struct Args {
    /// Port for the restart scenarios (default: a port the kernel chooses in each scenario).
    #[arg(long)]
    pub port: Option<u16>,
    /// Values passed to setsockopt in the read-back table.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [0, 1, 50, -1, 2147483647])]
    pub values: Vec<i32>,
}

impl super::Experiment for Reuseaddr {
    const ID: &'static str = "reuseaddr";
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
    fn pictures(d: &Data) -> Vec<crate::report::picture::Picture> {
        picture::pictures(d)
    }
}
