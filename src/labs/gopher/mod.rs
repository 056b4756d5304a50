//! `lab gopher` — the book's first program, a Gopher client, rebuilt on a socket2 socket.
//!
//! Question: what does the book's client really do on the wire, and what comes back?
//!
//! Two uses:
//! - `lab gopher HOST [SELECTOR]` (or a gopher:// URL): the client itself
//!   ([`crate::gopher::fetch`]), run through [`Experiment::program`](super::Experiment::program).
//! - `lab gopher` with no target, `lab all` and `lab docs`: the experiment. A small Gopher
//!   responder ([`crate::gopher::responder`]) runs on a thread on 127.0.0.1 (port chosen by
//!   the kernel); the book's exchange runs against it. `measure` gives [`Data`]; `tables`
//!   and `findings` are pure functions of it.

mod findings;
mod measure;
mod tables;

pub use measure::{Data, Ending, Fetched};

use super::Env;
use crate::gopher::fetch::{self, parse_size, Request};
use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use crate::sys::secs::parse_secs;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub struct Gopher;

static STRINGS: Catalogue = Catalogue::new("gopher", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "The book's Gopher client: fetch a menu, a text or a file (no target: the loopback experiment)",
    after_help = "Examples:
  lab gopher                            the book's exchange with a local server, measured
  lab gopher quux.org /                 the book's two arguments: host and selector
  lab gopher quux.org/                  the learner's one argument, read as gopher://quux.org/
  lab gopher gopher://quux.org/0/About  RFC 4266 URL: type 0 (text), selector /About
  lab gopher quux.org / --raw           the bytes exactly as the book's program printed them
  lab gopher --local                    the lab's own docs, served in-process: no network at all
  lab gopher --local /reuseaddr.md      one page of them
  lab gopher '[::1]:7070' /file.bin -o file.bin
  lab gopher quux.org / --format json | jq '.items[]'"
)]
pub struct Args {
    /// HOST [SELECTOR], HOST:PORT [SELECTOR], or gopher://HOST[:PORT]/TYPE/SELECTOR.
    #[arg(value_name = "TARGET")]
    pub target: Vec<String>,
    /// Write the reply exactly as received (the book's recv(2048) loop), no parsing.
    #[arg(long)]
    pub raw: bool,
    /// Write the item to this file instead of standard output (needed for binary items on a terminal).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The item type, when the book's two-argument form gives none (0 text, 1 menu, 9 binary ...).
    #[arg(long = "type", value_name = "T")]
    pub item_type: Option<char>,
    /// Seconds to wait for the connection and for each recv (0.001 to 86400).
    #[arg(long, default_value = "10", value_parser = parse_secs, value_name = "SECONDS")]
    pub timeout: Duration,
    /// Stop after this many bytes (suffixes K, M, G).
    #[arg(long, default_value = "4G", value_parser = parse_size, value_name = "BYTES")]
    pub max_bytes: u64,
    /// End the whole transfer, connect included, after this many seconds.
    #[arg(long, default_value = "3600", value_parser = parse_secs, value_name = "SECONDS")]
    pub max_time: Duration,
    /// Give up when the transfer averages fewer bytes per second than this over --speed-time
    /// (0: never), as curl's --speed-limit: a server that trickles cannot hold the client.
    #[arg(long, default_value_t = crate::gopher::client::SPEED_LIMIT, value_name = "BYTES")]
    pub speed_limit: u64,
    /// The window of --speed-limit, in seconds.
    #[arg(long, default_value = "30", value_parser = parse_secs, value_name = "SECONDS")]
    pub speed_time: Duration,
    /// Serve the lab's generated docs in-process (as `lab gopherd` would) and fetch from that;
    /// TARGET is then only the selector.
    #[arg(long)]
    pub local: bool,
}

impl Args {
    fn request(&self) -> Request {
        Request {
            target: self.target.clone(),
            raw: self.raw,
            output: self.output.clone(),
            item_type: self.item_type,
            timeout: self.timeout,
            max_bytes: self.max_bytes,
            max_time: self.max_time,
            speed_limit: self.speed_limit,
            speed_time: self.speed_time,
            local: self.local,
        }
    }
}

impl super::Experiment for Gopher {
    const ID: &'static str = "gopher";
    type Args = Args;
    type Data = Data;

    fn strings() -> &'static Catalogue {
        &STRINGS
    }
    fn measure(_args: &Args, ctx: &Ctx) -> Result<Data> {
        measure::measure(ctx)
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
    /// The client itself, unless no target was given: then the measured report.
    fn program(args: &Args, env: &Env) -> Option<Result<ExitCode>> {
        if !args.local && args.target.is_empty() {
            return None;
        }
        Some(fetch::run(&args.request(), env.format))
    }
}
