//! The app's own commands: `list`, `all`, `docs`, and the leak check the tests use.
//! Each returns what it made; main.rs prints it.

pub mod docs;

/// Labs side by side when `lab docs` measures (as `lab all` does by default).
pub const ALL_JOBS: usize = 8;

use crate::labs::{Lab, LABS};
use crate::report::{Report, Table, Text};
use crate::row;
use crate::sandbox::{self, Mode, Tap};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};

/// `lab list`: one row per lab.
pub fn list() -> Table {
    let mut t = Table::localized(
        "labs",
        Text {
            en: "Experiments".into(),
            zh: "实验".into(),
        },
        &[
            ("id", Text::same("lab")),
            (
                "question",
                Text {
                    en: "answers".into(),
                    zh: "回答的问题".into(),
                },
            ),
        ],
    );
    for l in LABS {
        let q = l.question();
        let q = t.label(q);
        t.push(row! { "id" => l.id, "question" => q });
    }
    t
}

/// Every lab's default report, each in its own sandbox, in registry order. As root up to
/// `jobs` labs run side by side (each has its own namespace, so none sees another's sockets
/// or counters); unprivileged each forks a child, so they run one at a time.
/// One progress line per finished lab on stderr when a person is watching.
/// With `--pcap DIR` each lab writes its captures in DIR/<lab>/.
pub fn run_all(mode: Mode, tap: &Tap, jobs: usize) -> Result<Vec<Report>> {
    let tty = std::io::stderr().is_terminal();
    let one = |l: &Lab| {
        let started = std::time::Instant::now();
        let tap = Tap {
            on: tap.on,
            pcap: tap.pcap.as_ref().map(|d| d.join(l.id)),
        };
        let r =
            sandbox::run_tapped(mode, &tap, l.run_default).map_err(|e| e.context(format!("lab {}", l.id)));
        if tty {
            let secs = started.elapsed().as_secs_f64();
            let _ = writeln!(std::io::stderr(), "lab: {} done in {secs:.1} s", l.id);
        }
        r
    };
    let root = nix::unistd::geteuid().is_root();
    let jobs = if mode == Mode::Auto && root {
        jobs.clamp(1, LABS.len())
    } else {
        1
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Report>)> = std::thread::scope(|s| {
        let worker = || {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(l) = LABS.get(i) else { return out };
                out.push((i, one(l)));
            }
        };
        let hs: Vec<_> = (0..jobs).map(|_| s.spawn(worker)).collect();
        hs.into_iter().flat_map(crate::sys::net::join).collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Fails if the process holds more fds or threads than it did at `fds_before`.
pub fn check_leaks(fds_before: usize) -> Result<()> {
    // The capture's stamp keeper lives to the end on purpose.
    crate::sys::capture::release();
    // Threads are joined by the time a command returns; allow a moment for reaping.
    for _ in 0..50 {
        if crate::sys::thread_count() <= 1 && crate::sys::open_fd_count() <= fds_before {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    bail!(
        "leak check: {} fds open (had {fds_before}), {} threads alive",
        crate::sys::open_fd_count(),
        crate::sys::thread_count()
    )
}
