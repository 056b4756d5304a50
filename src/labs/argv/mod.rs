//! `lab argv` — why `python gopherclient.py quux.org/` died with `IndexError`.
//!
//! Question: is the book wrong, or was the program called the wrong way?
//!
//! Method: a table of argument shapes a learner might type. For each: what the book's
//! program does with it, derived from its code ([`derive`]), in Python 2 as written and in
//! Python 3; and what `lab gopher`'s parser understands. No network: shapes are only parsed.
//! When Python is installed, the book's program is also run here: for the shapes that fail
//! before any socket is made, and, inside the lab's private network namespace, against a
//! local Gopher responder on 127.0.0.1 port 70 (clearly marked).
//!
//! `measure` gives [`Data`]; `tables` and `findings` are pure functions of it.

mod derive;
mod findings;
mod measure;
mod program;
mod tables;

pub use measure::{
    Data, Exception, Exit, Interpreter, LoopbackRun, Major, Program, Run, ServerRead, Shape, ShapeRun,
};
pub use program::{BOOK_PROGRAM, PY3_PORT};

use crate::report::{Catalogue, Finding, Table, Text};
use crate::sandbox::Ctx;
use anyhow::Result;

pub struct Argv;

static STRINGS: Catalogue = Catalogue::new("argv", include_str!("strings.toml"));

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Why `gopherclient.py quux.org/` raised IndexError: argument shapes, the book's program, lab gopher",
    after_help = "Examples:
  lab argv
  lab argv --no-python                 only what is derived from the program's code
  lab argv --format json | jq '.tables[0].rows[] | [.argv, .python2]'
  lab argv --format json | jq '.data.shapes[] | select(.shape==\"learner\") | .ran'"
)]
pub struct Args {
    /// Do not run the book's program with a Python found on this machine.
    #[arg(long)]
    pub no_python: bool,
}

impl super::Experiment for Argv {
    const ID: &'static str = "argv";
    type Args = Args;
    type Data = Data;

    fn strings() -> &'static Catalogue {
        &STRINGS
    }
    fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
        measure::measure(args, ctx)
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
}
