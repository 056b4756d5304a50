//! The one place the measurement meets the Gopher server (`crate::gopher::server`): how
//! each server of the experiment is set up, and the server's own log turned into this
//! lab's typed record. Keeping every use of `Config` and `Served` here keeps the lab
//! independent of how the server is built.

use super::measure::{Log, Outcome, SendMethod};
use crate::gopher::server::{self, Config, LocalServer, Served};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// How a server of the experiment differs from the defaults.
pub enum Setup {
    Default,
    NoSendfile,
    ReadTimeout(Duration),
    MaxClients(usize),
}

pub fn spawn(root: &Path, setup: Setup) -> Result<LocalServer> {
    let d = Config::default();
    let cfg = match setup {
        Setup::Default => d,
        Setup::NoSendfile => Config { sendfile: false, ..d },
        Setup::ReadTimeout(read_timeout) => Config { read_timeout, ..d },
        Setup::MaxClients(max_clients) => Config { max_clients, ..d },
    };
    server::spawn(root, cfg)
}

/// The server's default limit of clients at once (--max-clients).
pub fn default_max_clients() -> usize {
    Config::default().max_clients
}

/// The longest selector the server takes.
pub const MAX_SELECTOR: usize = server::MAX_SELECTOR;

/// RFC 1436 dot-unstuffing of a text answer, as the server's own inverse.
pub fn unstuff(body: &[u8]) -> Option<Vec<u8>> {
    server::unstuff(body)
}

/// The server's record of the request just made: the last one, if the log grew past
/// `before` (a connection that failed leaves no record, and must not borrow the previous one).
pub fn last(srv: &LocalServer, before: usize) -> Option<Log> {
    let mut log = srv.served();
    if log.len() > before {
        log.pop().as_ref().map(log_of)
    } else {
        None
    }
}

/// The first record that `want` accepts, waiting up to `within` for it: the server may
/// record a refusal only after the client has read its answer and the close.
pub fn wait_for(srv: &LocalServer, within: Duration, want: impl Fn(&Log) -> bool) -> Option<Log> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let found = all(srv).into_iter().map(|(_, l)| l).find(&want);
        if found.is_some() || std::time::Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every record so far.
pub fn all(srv: &LocalServer) -> Vec<(String, Log)> {
    srv.served()
        .iter()
        .map(|s| (s.selector.clone(), log_of(s)))
        .collect()
}

fn log_of(s: &Served) -> Log {
    Log {
        kind: s.kind,
        method: match s.method {
            "sendfile" => SendMethod::Sendfile,
            "copy" => SendMethod::Copy,
            _ => SendMethod::Write,
        },
        outcome: Outcome::from_record(&s.outcome),
    }
}
