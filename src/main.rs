//! parse → run → render → exit code. The only place that prints a result.

use lab::app;
use lab::cli::{self, Action, ColorChoice, Global};
use lab::labs::{Env, LabError, Outcome};
use lab::render::{self, Format};
use lab::report::Report;
use lab::sandbox::Mode;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// What a command produced, before it is shown.
enum Shown {
    Reports(Vec<Report>, bool),
    Text(String),
    Done(ExitCode),
}

fn main() -> ExitCode {
    let (g, action) = match cli::parse_from(std::env::args_os()) {
        Ok(p) => p,
        Err(e) => e.exit(),
    };
    let fds = lab::sys::open_fd_count();
    let result = run(&g, action).and_then(|shown| {
        if g.leak_check {
            app::check_leaks(fds).map_err(LabError::Failed)?;
        }
        Ok(shown)
    });
    match result {
        Ok(shown) => show(&g, shown),
        Err(LabError::Usage(msg)) => {
            let _ = writeln!(std::io::stderr(), "lab: usage: {msg}");
            ExitCode::from(2)
        }
        Err(LabError::Failed(e)) => {
            let _ = writeln!(std::io::stderr(), "lab: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn mode(g: &Global) -> Mode {
    if g.no_sandbox {
        Mode::Host
    } else {
        Mode::Auto
    }
}

fn run(g: &Global, action: Action) -> Result<Shown, LabError> {
    let tty = std::io::stdout().is_terminal();
    Ok(match action {
        Action::List => Shown::Text(match g.format {
            Format::Table => app::list()
                .rows
                .iter()
                .map(|r| {
                    format!(
                        "{:<10} {}\n",
                        render::cell_text(r.get("id")),
                        render::cell_text(r.get("question"))
                    )
                })
                .collect(),
            Format::Json => render::json_value(&app::list()),
            Format::Markdown => render::markdown_table(&app::list()),
        }),
        Action::All(a) => Shown::Reports(app::run_all(mode(g), &g.tap(), a.jobs.into())?, true),
        Action::Docs(a) => Shown::Text(app::docs::command(&a, mode(g))?),
        Action::Lab(lab, m) => {
            let env = Env {
                mode: mode(g),
                tap: g.tap(),
                format: g.format,
                tty,
            };
            match (lab.run)(&m, &env)? {
                Outcome::Report(r) => Shown::Reports(vec![*r], false),
                Outcome::Done(code) => Shown::Done(code),
            }
        }
    })
}

/// How the result is shown: fitted to the terminal, or to `COLUMNS` (else 100) in a pipe.
fn options(g: &Global) -> render::Options {
    let tty = std::io::stdout().is_terminal();
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok());
    let width = match terminal_size::terminal_size() {
        Some((w, _)) if tty => w.0 as usize,
        _ => columns.unwrap_or(100),
    };
    let color = match g.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never,
    };
    render::Options {
        format: g.format,
        unicode: tty,
        color: color && g.format == Format::Table,
        width: width.clamp(40, 400),
        detail: g.detail,
    }
}

fn show(g: &Global, shown: Shown) -> ExitCode {
    let o = options(g);
    let text = match shown {
        Shown::Done(code) => return code,
        Shown::Text(t) => t,
        Shown::Reports(reports, true) if g.format == Format::Json => render::json_all(&reports),
        Shown::Reports(reports, _) => reports
            .iter()
            .map(|r| render::render(r, &o))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        // A reader that went away (`lab all | head`) is not an error worth a message.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = writeln!(std::io::stderr(), "lab: error: write stdout: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
