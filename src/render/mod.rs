//! Renderers: each is a pure function of `&Report`. Measurement never prints.

mod markdown;
mod table;

pub use markdown::{markdown, markdown_table};
pub use table::table;

use crate::report::{Cell, Report};

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables for a terminal (UTF-8 box drawing on a TTY, plain ASCII when piped).
    Table,
    /// The report as JSON (see README.md for its shape).
    Json,
    /// GitHub-flavoured Markdown, as in docs/.
    Markdown,
}

/// Renders one report in the chosen format; `tty` picks box drawing for tables.
pub fn render(report: &Report, format: Format, tty: bool) -> String {
    match format {
        Format::Table => table(report, tty),
        Format::Json => json(report),
        Format::Markdown => markdown(report),
    }
}

/// Pretty JSON with a trailing newline.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a Report always serialises");
    s.push('\n');
    s
}

/// Any serialisable value as pretty JSON with a trailing newline.
pub fn json_value<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a report value always serialises");
    s.push('\n');
    s
}

/// `lab all --format json`: `{"reports": [...]}`.
pub fn json_all(reports: &[Report]) -> String {
    json_value(&serde_json::json!({ "reports": reports }))
}

/// How a cell reads in text: strings bare, null as "-", numbers as JSON prints them.
pub fn cell_text(c: Option<&Cell>) -> String {
    match c {
        None | Some(Cell::Null) => "-".into(),
        Some(Cell::String(s)) => s.clone(),
        Some(Cell::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(other) => other.to_string(),
    }
}
