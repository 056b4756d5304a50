use super::cell_text;
use crate::report::{Report, Table};
use std::fmt::Write;

/// One table as a Markdown pipe table (cells escaped), its notes as a list.
pub fn markdown_table(t: &Table) -> String {
    let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::new();
    let headers: Vec<String> = t.columns.iter().map(|c| esc(&c.header)).collect();
    let _ = writeln!(out, "| {} |", headers.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(headers.len()));
    for r in &t.rows {
        let cells: Vec<String> = t
            .columns
            .iter()
            .map(|c| match (c.code, r.get(&c.key)) {
                (true, Some(v)) if !v.is_null() => code_span(&cell_text(Some(v))),
                _ => esc(&cell_text(r.get(&c.key))),
            })
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    for n in &t.notes {
        let _ = writeln!(out, "\n- {n}");
    }
    out
}

/// `text` as a Markdown code span inside a table cell: quotes and backslashes stay literal,
/// a backtick in the text gets a longer fence, and `|` is escaped (GFM splits cells on it
/// even in code).
fn code_span(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!(
        "{fence}{pad}{}{pad}{fence}",
        text.replace('|', "\\|").replace('\n', " ")
    )
}

/// The whole report as Markdown: used by `--format markdown` and by `lab docs`.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## `lab {}` — {}\n", report.lab, report.title);
    let _ = writeln!(out, "> {}\n", report.question);
    for t in &report.tables {
        let _ = writeln!(out, "### {}\n\n{}", t.title, markdown_table(t));
    }
    let _ = write!(out, "{}", findings_markdown(report));
    let e = &report.environment;
    let _ = writeln!(
        out,
        "\n_Measured on Linux {} as uid {} (sandbox: {}) in {} ms._",
        e.kernel, e.uid, e.sandbox, report.elapsed_ms
    );
    out
}

/// The findings as a list with verdicts in bold.
pub fn findings_markdown(report: &Report) -> String {
    let mut out = String::new();
    if !report.findings.is_empty() {
        let _ = writeln!(out, "### Findings\n");
        for f in &report.findings {
            let _ = writeln!(
                out,
                "- **{}** — {}  \n  {}",
                f.verdict.as_str(),
                f.claim,
                f.evidence
            );
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "\n> Note: {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row;

    #[test]
    fn code_columns_are_code_spans_with_literal_quotes() {
        let mut t = Table::new("t", "T", &[("cmd", "command"), ("r", "result")]);
        t.code(&["cmd"]);
        t.push(row! { "cmd" => "python gopherclient.py quux.org ''", "r" => "ok" });
        t.push(row! { "cmd" => "printf '`a|b`'", "r" => "ok" });
        let md = markdown_table(&t);
        assert!(
            md.contains("| `python gopherclient.py quux.org ''` | ok |"),
            "{md}"
        );
        assert!(md.contains("``printf '`a\\|b`'``"), "{md}");
    }
}
