//! `lab serve` — not built yet: a placeholder so the registry and CLI are complete.
//! (This file is replaced by the issue that builds the lab.)

use super::Lab;
use crate::cli::Global;
use crate::report::Report;
use crate::sandbox::Ctx;
use anyhow::{bail, Result};
use std::process::ExitCode;

pub const LAB: Lab = Lab {
    id: "serve",
    title: "TODO",
    question: "TODO?",
    run_default: run_default,
};

#[derive(Debug, Clone, clap::Args)]
#[command(about = "Not built yet.", after_help = "Examples:\n  lab serve")]
pub struct Args {}

fn run_default(_ctx: &Ctx) -> Result<Report> {
    bail!("lab serve is not built yet")
}

pub fn command(_args: &Args, _g: &Global) -> Result<ExitCode> {
    bail!("lab serve is not built yet")
}
