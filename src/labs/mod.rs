//! The experiments and their one registry. [`LABS`] builds the subcommands, dispatches
//! them, and drives `lab list`, `lab all`, `lab docs` and every test that loops over labs.
//!
//! Adding an experiment: a folder `src/labs/<id>/` implementing [`Experiment`] (measure,
//! tables, findings) with its `strings.toml`; one line in [`LABS`]; its sheets
//! `labs/<id>.md` and `labs/zh/<id>.md`. Nothing else changes.

pub mod argv;
pub mod backlog;
pub mod gopher;
pub mod gopherd;
pub mod options;
pub mod protocol;
pub mod reuseaddr;
pub mod serve;
pub mod wire;

use crate::render::Format;
use crate::report::{Catalogue, Finding, Report, Table, Text};
use crate::sandbox::{self, Ctx, Mode};
use anyhow::Result;
use serde::{de::DeserializeOwned, Serialize};
use std::process::ExitCode;

/// One experiment: typed measurements first, then tables and findings computed from them.
///
/// `measure` is the only part that touches the kernel. `tables`, `findings` and `notes`
/// are pure functions of its `Data`: no verdict ever reads a rendered cell, a label or a
/// note, so renaming any text changes no result.
pub trait Experiment: 'static {
    /// The subcommand name, the sheet names (`labs/<id>.md`) and the report's `lab`.
    const ID: &'static str;
    /// The lab's options, a clap derive (no lab knows the rest of the command line).
    type Args: clap::Args + clap::FromArgMatches + Send + Sync;
    /// What `measure` returns; serialised into the report as `data`.
    type Data: Serialize + DeserializeOwned + Send;

    /// The lab's strings: `lab.title`, `lab.question`, and every table, label and finding.
    fn strings() -> &'static Catalogue;
    fn measure(args: &Self::Args, ctx: &Ctx) -> Result<Self::Data>;
    fn tables(data: &Self::Data) -> Vec<Table>;
    fn findings(data: &Self::Data) -> Vec<Finding>;
    fn notes(_data: &Self::Data) -> Vec<Text> {
        Vec::new()
    }
    /// What the docs draw from this data (a timeline, a sequence diagram); pure, like tables.
    fn pictures(_data: &Self::Data) -> Vec<crate::report::picture::Picture> {
        Vec::new()
    }
    /// A usage error in the options, found before any sandbox is made (exit status 2).
    fn validate(_args: &Self::Args) -> Result<(), String> {
        Ok(())
    }
    /// The lab's own program (the book's server, the client, gopherd) when the options ask
    /// for it rather than for the measured report.
    fn program(_args: &Self::Args, _env: &Env) -> Option<Result<ExitCode>> {
        None
    }
    /// The data as it goes into the report's JSON.
    fn data_json(data: &Self::Data) -> serde_json::Value {
        serde_json::to_value(data).unwrap_or_default()
    }
}

/// What a lab's own program is told: where to run and how its output is shown.
#[derive(Debug, Clone)]
pub struct Env {
    pub mode: Mode,
    /// Packet capture as the command line asked (reports only; a program never captures).
    pub tap: sandbox::Tap,
    pub format: Format,
    pub tty: bool,
}

/// What running a subcommand gave: a report for the renderer, or a program that is done.
pub enum Outcome {
    Report(Box<Report>),
    Done(ExitCode),
}

/// The report of `E` for this data: the one place tables, findings and notes are assembled.
pub fn assemble<E: Experiment>(data: &E::Data) -> Report {
    let s = E::strings();
    let title = s.text("lab.title", &[]);
    let question = s.text("lab.question", &[]);
    let mut r = Report::new(E::ID, &title.en, &question.en);
    r.title_zh = Some(title.zh);
    r.question_zh = Some(question.zh);
    r.tables = E::tables(data);
    r.findings = E::findings(data);
    for n in E::notes(data) {
        r.note(n);
    }
    r.pictures = E::pictures(data);
    r.data = E::data_json(data);
    r
}

/// Measures `E` with these options inside `ctx` and assembles its report.
pub fn measure_report<E: Experiment>(args: &E::Args, ctx: &Ctx) -> Result<Report> {
    E::measure(args, ctx).map(|d| assemble::<E>(&d))
}

/// One registry entry: what the CLI, `lab all`, `lab docs` and the tests know of a lab.
pub struct Lab {
    pub id: &'static str,
    pub strings: fn() -> &'static Catalogue,
    /// The subcommand with the lab's options.
    pub command: fn() -> clap::Command,
    /// Runs the subcommand from its parsed options.
    pub run: fn(&clap::ArgMatches, &Env) -> Result<Outcome, LabError>,
    /// The measured report with default options, for `lab all` and `lab docs`.
    pub run_default: fn(&Ctx) -> Result<Report>,
    /// The report made again from its stored `data` with today's strings (`lab docs --from`).
    pub rebuild: fn(&Report) -> Result<Report>,
}

/// Why a subcommand did not run to the end: bad options (exit 2) or a failure (exit 1).
#[derive(Debug)]
pub enum LabError {
    Usage(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for LabError {
    fn from(e: anyhow::Error) -> Self {
        LabError::Failed(e)
    }
}

impl Lab {
    pub fn title(&self) -> Text {
        (self.strings)().text("lab.title", &[])
    }
    pub fn question(&self) -> Text {
        (self.strings)().text("lab.question", &[])
    }
}

/// The registry entry of `E`.
pub const fn entry<E: Experiment>() -> Lab {
    Lab {
        id: E::ID,
        strings: E::strings,
        command: command::<E>,
        run: run::<E>,
        run_default: |ctx| measure_report::<E>(&defaults::<E::Args>(), ctx),
        rebuild: rebuild::<E>,
    }
}

fn rebuild<E: Experiment>(r: &Report) -> Result<Report> {
    if r.data.is_null() {
        return Ok(r.clone());
    }
    let data: E::Data = serde_json::from_value(r.data.clone())
        .map_err(|e| anyhow::anyhow!("the stored data of lab {} no longer reads: {e}", E::ID))?;
    Ok(Report {
        environment: r.environment.clone(),
        elapsed_ms: r.elapsed_ms,
        ..assemble::<E>(&data)
    })
}

fn command<E: Experiment>() -> clap::Command {
    <E::Args as clap::Args>::augment_args(clap::Command::new(E::ID))
}

fn run<E: Experiment>(m: &clap::ArgMatches, env: &Env) -> Result<Outcome, LabError> {
    let args =
        <E::Args as clap::FromArgMatches>::from_arg_matches(m).map_err(|e| LabError::Usage(e.to_string()))?;
    E::validate(&args).map_err(LabError::Usage)?;
    if let Some(done) = E::program(&args, env) {
        return Ok(Outcome::Done(done?));
    }
    let report = sandbox::run_tapped(env.mode, &env.tap, |ctx| measure_report::<E>(&args, ctx))?;
    Ok(Outcome::Report(Box::new(report)))
}

/// Every lab, in reading order (the order of the learner's questions).
pub static LABS: &[Lab] = &[
    entry::<argv::Argv>(),
    entry::<gopher::Gopher>(),
    entry::<serve::Serve>(),
    entry::<protocol::Protocol>(),
    entry::<options::Options>(),
    entry::<reuseaddr::Reuseaddr>(),
    entry::<backlog::Backlog>(),
    entry::<gopherd::Gopherd>(),
];

/// The lab's own programs (the servers, the client) write as they run: a server's log cannot
/// wait for the end. A reader that went away (`| head`) is no error.
pub fn print(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// The lab with this id.
pub fn find(id: &str) -> Option<&'static Lab> {
    LABS.iter().find(|l| l.id == id)
}

/// The defaults clap would give `lab <id>` with no options.
pub fn defaults<A: clap::Args + clap::FromArgMatches>() -> A {
    let cmd = A::augment_args(clap::Command::new("lab").no_binary_name(true));
    A::from_arg_matches(&cmd.get_matches_from(Vec::<String>::new())).expect("defaults always parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_ids_are_unique_and_plain() {
        for (i, l) in LABS.iter().enumerate() {
            assert!(l.id.chars().all(|c| c.is_ascii_lowercase()), "{}", l.id);
            assert!(LABS[i + 1..].iter().all(|o| o.id != l.id), "duplicate {}", l.id);
            let q = l.question();
            assert!(q.en.ends_with('?'), "{}: a question ends with '?'", l.id);
            assert!(
                q.zh.ends_with('？'),
                "{}: a Chinese question ends with '？'",
                l.id
            );
        }
    }

    #[test]
    fn every_catalogue_is_whole_in_both_languages() {
        let mut problems = crate::report::COMMON.problems();
        for l in LABS {
            let s = (l.strings)();
            problems.extend(s.problems());
            for key in ["lab.title", "lab.question"] {
                if !s.has(key) {
                    problems.push(format!("{}: no {key}", l.id));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
