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
        let cells: Vec<String> = t.columns.iter().map(|c| esc(&cell_text(r.get(&c.key)))).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    for n in &t.notes {
        let _ = writeln!(out, "\n- {n}");
    }
    out
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
