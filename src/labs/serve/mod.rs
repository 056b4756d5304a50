//! `lab serve` — the book's line server, faithful by default and sound under load.
//!
//! Question: what does the book's server really count, and what happens when many
//! clients (or a slow one) arrive at once?
//!
//! Method: `lab serve` is the server itself (SO_REUSEADDR 1, port 51423, listen(1),
//! greeting, prompt, one line, the count, server closes first), for the learner to try
//! with telnet and nc. Its report (`lab serve --report`, `lab all`) runs the same server
//! on a kernel-chosen port in a thread inside the sandbox and drives it with real
//! clients: ASCII, Chinese UTF-8, invalid UTF-8, an empty line, a line with no newline,
//! an oversized line — and then 20 clients at once, one of them silent, against the
//! book's three designs: iterative, threaded and event (`concurrent`).
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it. The
//! server is `crate::line::server`: this file (the program) and `line_server.rs` (the
//! measurement) are the only ones that use its types.

mod bind;
mod designs;
mod findings;
mod line_server;
mod measure;
mod tables;

pub use designs::{Design, Designs, MixSpec};
pub use measure::{Answer, Case, Counted, Data, ModeRun, Py3, ServerDid, ServerMode, Silent, Totals};

use crate::line::server::{self, Config, Mode};
use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use crate::sys::secs::parse_secs;
use crate::sys::signal::StopSignals;
use anyhow::{Context, Result};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

pub struct Serve;

static STRINGS: Catalogue = Catalogue::new("serve", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "The book's line server: greets you, asks for a string, counts it, closes",
    after_help = "Examples:
  lab serve                                   the book's server on 127.0.0.1:51423
  telnet 127.0.0.1 51423                      in another terminal: type a line, press Enter
  printf 'hello\\n' | nc -N 127.0.0.1 51423    the same with OpenBSD nc (-N: half-close after stdin)
  printf '你好\\n' | nc -N 127.0.0.1 51423     2 characters, 6 bytes (the book's Python 2 said 6)
  socat - TCP:127.0.0.1:51423                 socat works too
  lab serve --port 0                          any free port; the first line says which
  lab serve --reuseaddr 0                     Ctrl-C right after a client, restart: EADDRINUSE
  lab serve --mode concurrent                 one event loop holding every client (same as --mode event)
  lab serve --mode threaded                   a thread for each client (up to --max-concurrent)
  lab serve --bind 0.0.0.0                    reachable from other machines, as the book's host = ''
  lab serve --report                          the measured experiment (also part of `lab all`)

Stop it with Ctrl-C (SIGINT) or SIGTERM: it stops accepting, closes connected clients
with a message, and prints a summary. One log line per client goes to stderr."
)]
pub struct Args {
    /// Port to listen on (0: let the kernel choose; the first line says which).
    #[arg(long, default_value_t = 51423)]
    pub port: u16,
    /// Address to listen on. Anything but loopback lets other machines connect.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Value passed untouched to setsockopt(SOL_SOCKET, SO_REUSEADDR, V): try 0 and 50.
    #[arg(long, value_name = "V", default_value_t = 1, allow_hyphen_values = true)]
    pub reuseaddr: i32,
    /// The listen() backlog (default: the book's 1 for iterative, 1024 for the others).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub backlog: Option<i32>,
    /// The server's design (the book's three): iterative, one client at a time as the book's
    /// first server; threaded, a thread per client; event, one thread on epoll holding every
    /// client. `concurrent` is the event loop: idle clients cannot take its threads.
    #[arg(long, value_enum, default_value_t = Mode::Iterative)]
    pub mode: Mode,
    /// Longest line accepted, in bytes; a longer one gets a message and the connection closes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub max_line: usize,
    /// Seconds a client may stay silent before it is told so and closed (its whole line
    /// must arrive within 4 times this).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_secs)]
    pub idle_timeout: Duration,
    /// Clients served at once (threaded: threads, default 256; event: connections, default
    /// 16384); more wait in the accept queue.
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<usize>,
    /// Exit after this many clients.
    #[arg(long, value_name = "N")]
    pub max_clients: Option<u64>,
    /// No log line per client on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Do not serve: run the experiment and print its report.
    #[arg(long)]
    pub report: bool,
}

impl super::Experiment for Serve {
    const ID: &'static str = "serve";
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
    fn validate(args: &Args) -> Result<(), String> {
        if args.max_line == 0 || args.max_concurrent == Some(0) {
            return Err("--max-line and --max-concurrent must be at least 1".into());
        }
        Ok(())
    }
    /// The server itself, unless `--report` asks for the measured report.
    fn program(args: &Args, _env: &super::Env) -> Option<Result<ExitCode>> {
        (!args.report).then(|| serve(args))
    }
}

impl Args {
    fn config(&self) -> Config {
        Config {
            mode: self.mode,
            max_line: self.max_line,
            idle: self.idle_timeout,
            max_concurrent: self.max_concurrent.unwrap_or(self.mode.default_max_concurrent()),
            max_clients: self.max_clients,
            log: !self.quiet,
        }
    }
}

/// The warning printed when the server is reachable beyond this machine.
pub fn exposure_warning(ip: IpAddr) -> Option<String> {
    (!ip.is_loopback()).then(|| {
        format!(
            "lab serve: WARNING: listening on {ip}, not loopback: other machines can connect to this server"
        )
    })
}

fn serve(args: &Args) -> Result<ExitCode> {
    // Block SIGINT/SIGTERM before any thread exists, so all of them inherit the mask.
    let stop = StopSignals::new().context("signalfd for SIGINT/SIGTERM")?;
    let backlog = args.backlog.unwrap_or(args.mode.default_backlog());
    let listener = server::listen(args.bind, args.port, args.reuseaddr, backlog)
        .map_err(|e| bind::explain(e, args.port, args.reuseaddr))?;
    let addr = server::local_addr(&listener)?;
    if let Some(w) = exposure_warning(addr.ip()) {
        // writeln!, not eprintln!: a closed stderr must not panic the server.
        let _ = writeln!(std::io::stderr(), "{w}");
    }
    // super::print: a reader that went away (`| head`) is no reason to panic.
    super::print(&format!(
        "Server is running on port {}; press Ctrl-C to terminate.\n",
        addr.port()
    ))?;
    let summary = server::serve(&listener, &args.config(), &stop, false)?;
    drop(listener);
    super::print(&format!("{}\n", summary.text()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_books() {
        let a: Args = super::super::defaults();
        assert_eq!((a.port, a.reuseaddr, a.backlog), (51423, 1, None));
        assert_eq!(a.mode.default_backlog(), 1, "the book's listen(1)");
        assert_eq!(a.bind, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(a.mode, Mode::Iterative);
        assert!(!a.report);
    }

    #[test]
    fn only_loopback_is_quiet() {
        assert!(exposure_warning("127.0.0.1".parse().unwrap()).is_none());
        assert!(exposure_warning("::1".parse().unwrap()).is_none());
        assert!(exposure_warning("0.0.0.0".parse().unwrap())
            .unwrap()
            .contains("WARNING"));
        assert!(exposure_warning("::".parse().unwrap()).is_some());
    }

    #[test]
    fn seconds_parse_within_bounds() {
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("nan").is_err());
    }

    #[test]
    fn zero_limits_are_usage_errors() {
        use super::super::Experiment;
        let mut a: Args = super::super::defaults();
        assert!(Serve::validate(&a).is_ok());
        a.max_line = 0;
        assert!(Serve::validate(&a).is_err());
    }
}
