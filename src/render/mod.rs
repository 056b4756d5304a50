//! Renderers: each is a pure function of `&Report`. Measurement never prints.

mod compact;
mod markdown;
pub mod svg;
mod table;

pub use compact::{compact, View};
pub use markdown::{markdown, markdown_table};
pub use table::{table, wrap};

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

/// How a report is shown. Decided once in main.rs; labs never see it.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    /// Box drawing (a terminal) or plain ASCII (a pipe).
    pub unicode: bool,
    /// ANSI colour and bold.
    pub color: bool,
    /// Columns to fit: the terminal's, else `COLUMNS`, else 100.
    pub width: usize,
    /// Every row and column, not the compact view.
    pub detail: bool,
}

impl Options {
    /// `style` when colour is on, else a style that prints nothing.
    pub fn style(&self, style: anstyle::Style) -> anstyle::Style {
        if self.color {
            style
        } else {
            anstyle::Style::new()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Table,
            unicode: false,
            color: false,
            width: 100,
            detail: false,
        }
    }
}

/// Renders one report as the options say.
pub fn render(report: &Report, o: &Options) -> String {
    match o.format {
        Format::Table => table(report, o),
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
