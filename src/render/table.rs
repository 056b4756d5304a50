use super::cell_text;
use crate::report::Report;
use comfy_table::{presets, ContentArrangement, Table as Grid};
use std::fmt::Write;

/// Terminal rendering: a heading, each table as a grid, then the findings.
pub fn table(report: &Report, tty: bool) -> String {
    let preset = if tty {
        presets::UTF8_FULL
    } else {
        presets::ASCII_FULL
    };
    let mut out = String::new();
    let _ = writeln!(out, "{} — {}", report.lab, report.title);
    let _ = writeln!(out, "Question: {}", report.question);
    for t in &report.tables {
        let mut g = Grid::new();
        g.load_preset(preset)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if !tty {
            // Piped output must not depend on the width of a terminal that is not there.
            g.set_width(160);
        }
        g.set_header(t.columns.iter().map(|c| c.header.as_str()));
        for r in &t.rows {
            g.add_row(t.columns.iter().map(|c| cell_text(r.get(&c.key))));
        }
        let _ = writeln!(out, "\n{}\n{g}", t.title);
        for n in &t.notes {
            let _ = writeln!(out, "  note: {n}");
        }
    }
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nFindings");
        for f in &report.findings {
            let _ = writeln!(
                out,
                "  [{}] {}\n      {}",
                f.verdict.as_str(),
                f.claim,
                f.evidence
            );
        }
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let e = &report.environment;
    let _ = writeln!(
        out,
        "\nMeasured on Linux {} as uid {} in sandbox {} in {} ms.",
        e.kernel, e.uid, e.sandbox, report.elapsed_ms
    );
    out
}
