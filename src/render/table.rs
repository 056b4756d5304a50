//! Terminal rendering. The answer first: the question, then the verdicts (claim, verdict,
//! evidence), then compact tables, then notes. Everything fits `width`: prose wraps at word
//! boundaries, a table whose words cannot all fit side by side is stacked, one record per
//! block, so no token is ever broken.

use super::compact::{compact, View};
use super::{cell_text, Options};
use crate::report::{Report, Table, Verdict};
use anstyle::{AnsiColor, Style};
use comfy_table::{presets, Attribute, Cell, ColumnConstraint, ContentArrangement, Table as Grid, Width};
use std::fmt::Write;
use unicode_width::UnicodeWidthStr;

/// The whole report for a terminal or a pipe.
pub fn table(report: &Report, o: &Options) -> String {
    let mut out = String::new();
    let bold = o.style(Style::new().bold());
    let _ = writeln!(
        out,
        "{}",
        wrap(
            &format!("{bold}{} — {}{bold:#}", report.lab, report.title),
            o.width,
            ""
        )
    );
    let _ = writeln!(
        out,
        "{}",
        wrap(&format!("Question: {}", report.question), o.width, "  ")
    );
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\n{bold}Findings{bold:#}");
        for f in &report.findings {
            let v = o.style(verdict_style(f.verdict));
            let mark = format!("{v}[{}]{v:#}", f.verdict.as_str());
            let _ = writeln!(out, "{}", wrap(&format!("{mark} {}", f.claim), o.width, "    "));
            let _ = writeln!(out, "{}", wrap(&format!("    {}", f.evidence), o.width, "    "));
        }
    }
    for t in report.tables.iter().filter(|t| o.detail || !t.detail) {
        let view = if o.detail { View::Detail } else { View::Compact };
        let (t, _) = compact(t, view);
        let _ = writeln!(
            out,
            "\n{}",
            wrap(&format!("{bold}{}{bold:#}", t.title), o.width, "")
        );
        let _ = write!(out, "{}", grid_or_stack(&t, o));
        for n in &t.notes {
            let _ = writeln!(out, "{}", wrap(&format!("  note: {n}"), o.width, "        "));
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "\n{}", wrap(&format!("note: {n}"), o.width, "      "));
    }
    let e = &report.environment;
    let measured = format!(
        "Measured on Linux {} as uid {} in sandbox {} in {} ms.",
        e.kernel, e.uid, e.sandbox, report.elapsed_ms
    );
    let _ = writeln!(out, "\n{}", wrap(&measured, o.width, ""));
    let left_out = |t: &Table| t.detail || compact(t, View::Compact).1 > 0;
    if !o.detail && report.tables.iter().any(left_out) {
        let _ = writeln!(
            out,
            "{}",
            wrap(
                "(some rows are grouped or columns left out: --detail shows every row and column)",
                o.width,
                ""
            )
        );
    }
    out
}

fn verdict_style(v: Verdict) -> Style {
    let c = match v {
        Verdict::Confirmed => AnsiColor::Green,
        Verdict::Refuted => AnsiColor::Red,
        Verdict::Depends => AnsiColor::Yellow,
    };
    Style::new().fg_color(Some(c.into())).bold()
}

/// Wraps at word boundaries to `width`, continuing lines with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let opts = textwrap::Options::new(width.max(20))
        .subsequent_indent(indent)
        .break_words(false)
        .word_separator(textwrap::WordSeparator::AsciiSpace);
    textwrap::wrap(text, opts).join("\n")
}

/// The widest word of a cell: a column can be no narrower without breaking a token.
fn widest_word(s: &str) -> usize {
    s.split_whitespace()
        .map(UnicodeWidthStr::width)
        .max()
        .unwrap_or(1)
}

/// A grid when every column's widest word fits side by side, else one block per record.
fn grid_or_stack(t: &Table, o: &Options) -> String {
    let text: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| t.columns.iter().map(|c| cell_text(r.get(&c.key))).collect())
        .collect();
    let mins: Vec<usize> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            text.iter()
                .map(|r| widest_word(&r[i]))
                .chain([widest_word(&c.header)])
                .max()
                .unwrap_or(1)
        })
        .collect();
    // Each column costs its content, one space each side and one border.
    let needed: usize = mins.iter().map(|w| w + 3).sum::<usize>() + 1;
    if needed > o.width {
        return stack(t, &text, o);
    }
    let mut g = Grid::new();
    g.load_preset(if o.unicode {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    })
    .set_content_arrangement(ContentArrangement::Dynamic)
    .set_width(o.width as u16);
    if o.color {
        g.enforce_styling();
    }
    let header = t.columns.iter().map(|c| {
        let cell = Cell::new(&c.header);
        if o.color {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    });
    g.set_header(header);
    for r in &text {
        g.add_row(r);
    }
    for (i, w) in mins.iter().enumerate() {
        if let Some(col) = g.column_mut(i) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed((*w + 2) as u16)));
        }
    }
    format!("{g}\n")
}

/// One block per record: `header: value`, values wrapped under themselves.
fn stack(t: &Table, text: &[Vec<String>], o: &Options) -> String {
    let label = t
        .columns
        .iter()
        .map(|c| c.header.width())
        .max()
        .unwrap_or(0)
        .min(o.width / 3);
    let mut out = String::new();
    for (n, row) in text.iter().enumerate() {
        let rule = if o.unicode { "─" } else { "-" };
        let _ = writeln!(
            out,
            "{}",
            format!("{} {} ", rule.repeat(2), n + 1) + &rule.repeat(o.width.saturating_sub(6).min(30))
        );
        for (c, v) in t.columns.iter().zip(row) {
            if v == "-" {
                continue;
            }
            let pad = label.saturating_sub(c.header.width());
            let line = format!("{}{}: {v}", c.header, " ".repeat(pad));
            let _ = writeln!(out, "{}", wrap(&line, o.width, &" ".repeat(label + 2)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Finding, Text};
    use crate::row;

    fn report() -> Report {
        let mut r = Report::new(
            "x",
            "A title that is long enough to need wrapping at forty columns",
            "Why?",
        );
        let mut t = Table::new(
            "t",
            "T",
            &[
                ("a", "first column"),
                ("b", "TIME-WAIT on the port at rebind"),
                ("c", "c"),
            ],
        );
        for i in 0..3 {
            t.push(
                row! { "a" => i, "b" => "TIME-WAIT 127.0.0.1:49445 -> 127.0.0.1:57442", "c" => "EADDRINUSE" },
            );
        }
        r.tables.push(t);
        let claim = Text::same("a claim with many words that will not fit on one line of forty");
        r.findings.push(Finding::new(
            "f",
            claim,
            Verdict::Refuted,
            Text::same("evidence 127.0.0.1:49445"),
        ));
        r
    }

    fn words(r: &Report) -> Vec<String> {
        let t = &r.tables[0];
        let cells = t
            .rows
            .iter()
            .flat_map(|row| row.values().map(|v| cell_text(Some(v))));
        let headers = t.columns.iter().map(|c| c.header.clone());
        cells
            .chain(headers)
            .flat_map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn no_line_is_wider_than_the_width_and_no_token_breaks() {
        let r = report();
        for width in [40, 60, 80, 120] {
            let o = Options {
                width,
                unicode: true,
                ..Options::default()
            };
            let out = table(&r, &o);
            for line in out.lines() {
                assert!(
                    line.width() <= width,
                    "{width}: {line:?} is {} wide",
                    line.width()
                );
            }
            for w in words(&r) {
                assert!(
                    out.lines().any(|l| l.contains(&w)),
                    "{width}: token {w:?} was broken:\n{out}"
                );
            }
        }
    }

    #[test]
    fn verdicts_come_before_tables_and_colour_only_when_asked() {
        let r = report();
        let plain = table(&r, &Options::default());
        assert!(plain.find("[refuted]").unwrap() < plain.find("first column").unwrap());
        assert!(!plain.contains('\x1b'), "no escape codes without colour");
        let coloured = table(
            &r,
            &Options {
                color: true,
                ..Options::default()
            },
        );
        assert!(
            coloured.contains("\x1b[1m\x1b[31m[refuted]") || coloured.contains("\x1b[31m"),
            "{coloured}"
        );
    }
}
