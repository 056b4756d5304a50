//! No verdict depends on display text: every lab's report is made again from its typed
//! data with every English title, header, label, note and claim renamed, and its findings
//! (ids and verdicts) stay the same. Loops over the registry, so a new lab is covered.

mod common;

use lab::labs::LABS;
use lab::report::{text, Report};

fn reports() -> Vec<Report> {
    let all = common::json(&["all"]);
    serde_json::from_value(all["reports"].clone()).expect("lab all gives reports")
}

fn verdicts(r: &Report) -> Vec<(String, String)> {
    r.findings
        .iter()
        .map(|f| (f.id.clone(), f.verdict.as_str().to_string()))
        .collect()
}

fn english(r: &Report) -> Vec<String> {
    let mut out = vec![];
    for t in &r.tables {
        out.push(t.title.clone());
        out.extend(t.columns.iter().map(|c| c.header.clone()));
        out.extend(t.labels_zh.keys().cloned());
    }
    out.extend(r.findings.iter().map(|f| f.claim.clone()));
    out
}

#[test]
fn renaming_every_english_text_changes_no_verdict() {
    let measured = reports();
    assert_eq!(measured.len(), LABS.len(), "lab all runs every registered lab");
    let mut typed = 0;
    for r in &measured {
        let lab = LABS.iter().find(|l| l.id == r.lab).expect("a registered lab");
        let plain = (lab.rebuild)(r).unwrap();
        if r.data.is_null() {
            continue; // not yet converted to typed data
        }
        typed += 1;
        assert_eq!(
            plain.findings, r.findings,
            "{}: the report is made again faithfully",
            r.lab
        );
        text::scramble(true);
        let renamed = (lab.rebuild)(r);
        text::scramble(false);
        let renamed = renamed.unwrap();
        let (before, after) = (english(&plain), english(&renamed));
        assert!(!before.is_empty(), "{}: nothing to rename", r.lab);
        // Texts made with Text::same (a sysctl's name as a header, a constant) are data and
        // stay; everything from the catalogue changes: every title and most of the rest.
        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!(
            changed * 2 > before.len(),
            "{}: only {changed} of {} texts renamed",
            r.lab,
            before.len()
        );
        for (t, u) in plain.tables.iter().zip(&renamed.tables) {
            assert_ne!(t.title, u.title, "{}: table {} keeps its title", r.lab, t.id);
        }
        assert_eq!(
            verdicts(&plain),
            verdicts(&renamed),
            "{}: a verdict read a label",
            r.lab
        );
        assert!(!verdicts(&plain).is_empty(), "{}: no findings to compare", r.lab);
    }
    assert!(typed > 0, "no lab has typed data yet");
}
