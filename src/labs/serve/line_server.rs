//! The one place the measurement meets the book's line server (`crate::line::server`):
//! it runs the server in a thread on a kernel-chosen loopback port while a closure plays
//! the clients, then turns the server's own records into this lab's typed data.
//! Keeping every use of `Config`, `Record` and `Summary` here keeps the lab independent of
//! how the server is built.

use super::measure::{Counted, ServerDid, ServerMode, Totals};
use crate::line::server::{self, Config, Mode, Record, StopPipe, Summary};
use anyhow::{anyhow, Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// What the server recorded for one client.
#[derive(Debug, Clone)]
pub struct ServerRecord {
    pub peer: Option<SocketAddr>,
    pub counted: Option<Counted>,
    pub did: ServerDid,
}

/// The server's records and totals once it stopped.
#[derive(Debug, Clone)]
pub struct Served {
    pub records: Vec<ServerRecord>,
    pub totals: Totals,
}

impl Served {
    /// The record of the client that connected from `local`.
    pub fn of(&self, local: SocketAddr) -> Option<&ServerRecord> {
        self.records.iter().find(|r| r.peer == Some(local))
    }
}

/// How the experiment's server is set up (the rest are the server's defaults).
pub struct Setup {
    pub mode: ServerMode,
    pub idle: Duration,
    pub max_line: usize,
    pub backlog: i32,
}

/// Runs the server while `clients(port)` talks to it, then stops it and joins it.
pub fn with_server<T>(setup: Setup, clients: impl FnOnce(u16) -> T) -> Result<(T, Served)> {
    let mut stop = StopPipe::new()?;
    let listener = server::listen(Ipv4Addr::LOCALHOST.into(), 0, 1, setup.backlog)?;
    let port = server::local_addr(&listener)?.port();
    let trigger = stop.trigger();
    let stop = &stop;
    let cfg = Config {
        mode: mode(setup.mode),
        max_line: setup.max_line,
        idle: setup.idle,
        max_concurrent: 64,
        max_clients: None,
        log: false,
    };
    std::thread::scope(|scope| {
        // Moved in here: if `clients` panics, the trigger is dropped while unwinding and the
        // server stops before the scope waits for it.
        let trigger = trigger;
        let handle = std::thread::Builder::new()
            .spawn_scoped(scope, move || server::serve(&listener, &cfg, stop, true))
            .context("spawn the server thread")?;
        let out = clients(port);
        drop(trigger); // closing the write end stops the server
        let summary = handle
            .join()
            .map_err(|_| anyhow!("the server thread panicked"))??;
        Ok((out, served(summary)))
    })
}

fn mode(m: ServerMode) -> Mode {
    match m {
        ServerMode::Iterative => Mode::Iterative,
        ServerMode::Threaded => Mode::Threaded,
        ServerMode::Event => Mode::Event,
    }
}

fn served(s: Summary) -> Served {
    let errors = s
        .errors
        .iter()
        .map(|(k, v)| (ServerDid::from_outcome(k), *v))
        .collect();
    Served {
        records: s.records.iter().map(record).collect(),
        totals: Totals {
            clients: s.clients,
            answered: s.answered,
            errors,
        },
    }
}

fn record(r: &Record) -> ServerRecord {
    ServerRecord {
        peer: r.peer,
        counted: r.count.as_ref().map(|c| Counted {
            bytes: c.bytes,
            chars: c.chars,
        }),
        did: ServerDid::from_outcome(&r.outcome),
    }
}
