//! `lab gopherd` — a Gopher server (RFC 1436) for a directory, so the book's client has a
//! real peer on this machine, and the lab's own docs can be read over Gopher.
//!
//! Question: what does the other end of the book's client do, and what keeps a file server
//! inside the directory it serves?
//!
//! Method (the report, `lab gopherd --report` and `lab all`): build a small directory in a
//! temporary place (a subdirectory with a hand-written gophermap, a text file, a text file
//! with lines starting with ".", a binary file, a symlink inside, and symlinks leading out),
//! serve it with [`server::spawn_local`] and fetch from it with a plain socket2 client written
//! here, the book's way: connect, send the selector and CRLF, read until the server closes.
//! Each answer is compared with the file on disk; the server's own log says how each file
//! was sent (sendfile or a copy). Then path escapes, an over-long selector, a silent client,
//! too many clients and eight clients at once. The temporary directory is removed at the end.
//!
//! Serving (`lab gopherd [DIR]`): DIR on 127.0.0.1:7070 until Ctrl-C or SIGTERM.

//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it. The server
//! is `crate::gopher::server`: this file (the program) and `gopher_server.rs` (the
//! measurement) are the only ones that use its types.

mod findings;
mod gopher_server;
mod measure;
mod tables;

pub use measure::{
    Attempt, Body, Compare, Data, Escape, Limits, Log, Outcome, Parallel, Refused, Request, SendMethod,
    Target,
};

use crate::gopher::server::{self, Config};
use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use anyhow::{bail, Context, Result};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

pub struct Gopherd;

static STRINGS: Catalogue = Catalogue::new("gopherd", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Serve a directory over Gopher (RFC 1436), by default the lab's own docs",
    after_help = "The default port is 7070, not Gopher's 70: ports below 1024 need root.
Text files end with a line holding a lone \".\" (RFC 1436), lines starting with \".\" get a
second one; other files are sent byte for byte until the server closes.
A file named `gophermap` in a directory replaces its generated menu (format: labs/gopherd.md).

Examples:
  lab gopherd                          serve docs/ on gopher://127.0.0.1:7070/
  lab gopherd ~/notes --port 0         any free port; the address is printed
  lab gopher localhost:7070            read it with the lab's client
  curl gopher://127.0.0.1:7070/1/      ... or with curl, or: lynx gopher://127.0.0.1:7070/
  lab gopherd --report                 the experiment: what it sends, what it refuses"
)]
pub struct Args {
    /// Directory to serve [default: ./docs, else the lab's source tree docs/].
    pub dir: Option<PathBuf>,
    /// TCP port; 0 lets the kernel choose. The default is 7070, not Gopher's 70: ports below
    /// 1024 need root.
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on. Anything but 127.0.0.1 may let other machines read DIR.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Clients served at once; when full, the answer stalled longest gives up its seat, or a
    /// newcomer gets a "server busy" error item.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_clients: u16,
    /// Do not log each request on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Read and write files through a buffer instead of sendfile(2), to compare the two.
    #[arg(long)]
    pub no_sendfile: bool,
    /// Run the experiment on a temporary directory and print its report instead of serving.
    #[arg(long)]
    pub report: bool,
}

impl super::Experiment for Gopherd {
    const ID: &'static str = "gopherd";
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
    /// The server itself, unless `--report` asks for the measured report.
    fn program(args: &Args, _env: &super::Env) -> Option<Result<ExitCode>> {
        (!args.report).then(|| serve(args))
    }
}

// ---- serving until a signal ----

fn url(addr: SocketAddr) -> String {
    format!("gopher://{addr}/")
}

fn serve(args: &Args) -> Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(server::default_docs_dir);
    if !dir.is_dir() {
        bail!(
            "{}: no such directory (the lab's docs are written by `lab docs`; or name a DIR to serve)",
            dir.display()
        );
    }
    if args.bind != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        let reach = if args.bind.is_loopback() {
            "only this machine, on an address other than the default"
        } else {
            "OTHER MACHINES that can reach this address"
        };
        let _ = writeln!(
            io::stderr(),
            "lab: WARNING: --bind {}: {} will be readable by {reach}",
            args.bind,
            dir.display()
        );
    }
    // Block SIGINT/SIGTERM before any thread starts (threads inherit the mask), then wait for
    // one here: no signal handler runs in the middle of a client's sendfile.
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(nix::sys::signal::Signal::SIGINT);
    signals.add(nix::sys::signal::Signal::SIGTERM);
    signals.thread_block().context("block SIGINT and SIGTERM")?;
    let cfg = Config {
        bind: SocketAddr::new(args.bind, args.port),
        max_clients: usize::from(args.max_clients),
        log: !args.quiet,
        sendfile: !args.no_sendfile,
        ..Config::default()
    };
    let srv = server::spawn(&dir, cfg)?;
    let addr = srv.addr();
    super::print(&format!("Serving {} on {}\n", srv.root().display(), url(addr)))?;
    // writeln!, not eprintln!: a closed stderr must not panic the server.
    let _ = writeln!(
        io::stderr(),
        "lab: press Ctrl-C to stop. Try: lab gopher {}   or   curl {}1/",
        addr,
        url(addr)
    );
    let sig = signals.wait().context("wait for SIGINT or SIGTERM")?;
    let _ = writeln!(
        io::stderr(),
        "lab: {sig} received: closing the listener and every client"
    );
    srv.stop();
    // Whoever started us may have stopped reading stdout: a closed pipe is no error here.
    super::print("Stopped.\n")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_docs_on_7070() {
        let a: Args = super::super::defaults();
        assert_eq!(a.port, 7070);
        assert_eq!(a.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(!a.report && !a.no_sendfile);
        assert_eq!(url("127.0.0.1:7070".parse().unwrap()), "gopher://127.0.0.1:7070/");
    }
}
