//! `lab docs` — not built yet.

use crate::cli::Global;
use anyhow::{bail, Result};
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
#[command(about = "Not built yet.", after_help = "Examples:\n  lab docs")]
pub struct Args {}

pub fn command(_args: &Args, _g: &Global) -> Result<ExitCode> {
    bail!("lab docs is not built yet")
}
