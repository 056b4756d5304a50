//! `lab backlog` — does `listen(1)` mean "at most one waiting connection"?
//!
//! Method: a listener with backlog B accepts nothing during a window while N clients
//! start non-blocking connects at nearly the same instant. Both sides are watched:
//! each client's poll(2) readiness and TCP_INFO (when its connect completed, how often
//! it retransmitted its SYN), and the kernel's socket table (sock_diag: accept-queue
//! length and limit, SYN-RECV entries, whether the server holds a connection for a
//! client that thinks it is connected) plus counter deltas of a private namespace.
//! After the window the server accepts everything it can and each client sends one
//! line, so every client ends with a [`Fate`]. A sweep over backlogs and the sysctl
//! variants run in their own namespaces.
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it.

mod data;
mod findings;
#[cfg(test)]
mod fixture;
mod measure;
mod packets;
mod side;
mod tables;

pub use data::*;

use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use anyhow::Result;

pub struct Backlog;

static STRINGS: Catalogue = Catalogue::new("backlog", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What listen(backlog) does when many clients connect at once",
    after_help = "Examples:
  lab backlog --clients 20                 the book's listen(1) against 20 clients
  lab backlog --backlog 0,1,2,5,10,128     one summary row per backlog (the sweep)
  lab backlog --window 5000                watch longer: more SYN retries
  lab backlog --backlog 128 --somaxconn 4  the clamp (set inside a private namespace only)
  lab backlog --abort-on-overflow --syncookies 0
  lab backlog --format json | jq '.tables[] | select(.id==\"clients\") | .rows'
  lab backlog --format json | jq -c '.data.main.clients[] | {index, fate: .fate.fate, syn_retries: (.syn_retries_ms | length)}'"
)]
pub struct Args {
    /// Clients that connect at once (1 to 1000; also limited by `ulimit -n`).
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Backlog passed to listen(); several values (comma-separated) give the sweep.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [1])]
    pub backlog: Vec<i32>,
    /// How long the server accepts nothing, in milliseconds (100 to 60000).
    #[arg(long, default_value_t = 1200)]
    pub window: u64,
    /// Set net.core.somaxconn to this in the experiment's own namespace first.
    #[arg(long)]
    pub somaxconn: Option<u32>,
    /// Set net.ipv4.tcp_abort_on_overflow=1 in the experiment's own namespace first.
    #[arg(long)]
    pub abort_on_overflow: bool,
    /// Set net.ipv4.tcp_syncookies (0, 1 or 2) in the experiment's own namespace first.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub syncookies: Option<u8>,
}

impl super::Experiment for Backlog {
    const ID: &'static str = "backlog";
    type Args = Args;
    type Data = Data;

    fn strings() -> &'static Catalogue {
        &STRINGS
    }
    fn validate(args: &Args) -> Result<(), String> {
        measure::validate(args)
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
        packets::pictures(d)
    }
}
