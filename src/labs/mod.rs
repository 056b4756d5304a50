//! The registry: one entry per lab drives `lab list`, `lab all`, `lab docs` and the tests.
//! Adding an experiment: a file here with `LAB`, `Args`, `command`; a line in [`LABS`]
//! and in `cli::Command`; its sheets in `labs/<id>.md` and `labs/zh/<id>.md`.

pub mod argv;
pub mod backlog;
pub mod docs;
pub mod gopher;
pub mod gopherd;
pub mod options;
pub mod protocol;
pub mod reuseaddr;
pub mod serve;

use crate::cli::Global;
use crate::render::{self, Format};
use crate::report::Report;
use crate::sandbox::{self, Ctx, Mode};
use anyhow::{bail, Result};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// One lab: what it is called, what it asks, and how to run it with defaults.
pub struct Lab {
    pub id: &'static str,
    pub title: &'static str,
    /// The learner's question, in one sentence.
    pub question: &'static str,
    /// The measured report with default options, for `lab all` and `lab docs`.
    pub run_default: fn(&Ctx) -> Result<Report>,
}

/// Every lab, in reading order (the order of the learner's questions).
pub const LABS: &[Lab] = &[
    argv::LAB,
    gopher::LAB,
    serve::LAB,
    protocol::LAB,
    options::LAB,
    reuseaddr::LAB,
    backlog::LAB,
    gopherd::LAB,
];

/// The lab with this id.
pub fn find(id: &str) -> Option<&'static Lab> {
    LABS.iter().find(|l| l.id == id)
}

/// A new report carrying the lab's id, title and question.
pub fn report_for(lab: &Lab) -> Report {
    Report::new(lab.id, lab.title, lab.question)
}

/// The defaults clap would give `lab <id>` with no options.
pub fn defaults<A: clap::Args + clap::FromArgMatches>() -> A {
    let cmd = A::augment_args(clap::Command::new("lab").no_binary_name(true));
    A::from_arg_matches(&cmd.get_matches_from(Vec::<String>::new())).expect("defaults always parse")
}

fn mode(g: &Global) -> Mode {
    if g.no_sandbox {
        Mode::Host
    } else {
        Mode::Auto
    }
}

/// Runs an experiment in the sandbox and prints its report: the `command` of every
/// report-producing lab.
pub fn report_command<F>(g: &Global, f: F) -> Result<ExitCode>
where
    F: FnOnce(&Ctx) -> Result<Report> + Send,
{
    let report = sandbox::run(mode(g), f)?;
    print(&render::render(
        &report,
        g.format,
        std::io::stdout().is_terminal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`lab all | head`) is not an error worth a message.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// "yes" / "no" for a measured flag in English text.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// "是" / "否" for the same flag in Chinese text.
pub fn yes_no_zh(b: bool) -> &'static str {
    if b {
        "是"
    } else {
        "否"
    }
}

/// `lab list`.
pub fn list(g: &Global) -> Result<ExitCode> {
    let mut t = crate::report::Table::new("labs", "Experiments", &[("id", "lab"), ("question", "answers")]);
    for l in LABS {
        t.push(crate::row! { "id" => l.id, "question" => l.question });
    }
    let text = match g.format {
        Format::Json => serde_json::to_string_pretty(&t)? + "\n",
        Format::Markdown => render::markdown_table(&t),
        Format::Table => {
            let mut s = String::new();
            for l in LABS {
                s.push_str(&format!("{:<10} {}\n", l.id, l.question));
            }
            s
        }
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Every lab's default report, each in its own sandbox.
pub fn run_all(g: &Global) -> Result<Vec<Report>> {
    let tty = std::io::stderr().is_terminal();
    LABS.iter()
        .map(|l| {
            if tty {
                eprintln!("lab: running {}", l.id);
            }
            sandbox::run(mode(g), l.run_default).map_err(|e| e.context(format!("lab {}", l.id)))
        })
        .collect()
}

/// `lab all`.
pub fn all(g: &Global) -> Result<ExitCode> {
    let reports = run_all(g)?;
    let text = match g.format {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({ "reports": reports }))? + "\n",
        f => {
            let tty = std::io::stdout().is_terminal();
            reports
                .iter()
                .map(|r| render::render(r, f, tty))
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    print(&text)?;
    Ok(ExitCode::SUCCESS)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_ids_are_unique_and_plain() {
        for (i, l) in LABS.iter().enumerate() {
            assert!(l.id.chars().all(|c| c.is_ascii_lowercase()), "{}", l.id);
            assert!(LABS[i + 1..].iter().all(|o| o.id != l.id), "duplicate {}", l.id);
            assert!(l.question.ends_with('?'), "{}: a question ends with '?'", l.id);
        }
    }
}
