//! The app's own commands: `list`, `all`, `docs`, and the leak check the tests use.
//! Each returns what it made; main.rs prints it.

pub mod docs;

use crate::labs::LABS;
use crate::report::{Report, Table, Text};
use crate::row;
use crate::sandbox::{self, Mode};
use anyhow::{bail, Result};
use std::io::IsTerminal;

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

/// Every lab's default report, each in its own sandbox, in registry order.
/// One progress line per lab on stderr when a person is watching.
pub fn run_all(mode: Mode) -> Result<Vec<Report>> {
    let tty = std::io::stderr().is_terminal();
    LABS.iter()
        .map(|l| {
            if tty {
                eprintln!("lab: running {}", l.id);
            }
            sandbox::run(mode, l.run_default).map_err(|e| e.context(format!("lab {}", l.id)))
        })
        .collect()
}

/// Fails if the process holds more fds or threads than it did at `fds_before`.
pub fn check_leaks(fds_before: usize) -> Result<()> {
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
