//! Every note a lab writes has Simplified Chinese text beside it (`notes_zh`, by position),
//! so docs/zh never falls back to English, and the Chinese keeps the measured numbers.
//! One run of `lab all` covers every lab in the registry.

mod common;

use common::{has_cjk, json};
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a note is a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The runs of ASCII digits in `s`, in order.
fn numbers(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .collect()
}

/// `notes_zh` pairs with `notes` one to one; each entry is Chinese and keeps every number.
fn check_notes(lab: &str, owner: &str, holder: &Value) -> usize {
    let en = strings(&holder["notes"]);
    let zh = strings(&holder["notes_zh"]);
    assert_eq!(
        en.len(),
        zh.len(),
        "{lab} {owner}: notes {en:?} but notes_zh {zh:?}"
    );
    for (e, z) in en.iter().zip(&zh) {
        assert!(!z.trim().is_empty(), "{lab} {owner}: no Chinese for {e:?}");
        assert!(has_cjk(z), "{lab} {owner}: {z:?} is not Chinese (for {e:?})");
        let zn = numbers(z);
        for n in numbers(e) {
            assert!(
                zn.contains(&n),
                "{lab} {owner}: {n} of {e:?} is missing from {z:?}"
            );
        }
    }
    en.len()
}

#[test]
fn every_labs_notes_have_chinese() {
    let all = json(&["all"]);
    let reports = all["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), lab::labs::LABS.len());
    for r in reports {
        let lab = r["lab"].as_str().unwrap();
        let tables = r["tables"].as_array().expect("tables");
        assert!(!tables.is_empty(), "{lab}: no tables");
        let mut seen = check_notes(lab, "report", r);
        for t in tables {
            seen += check_notes(lab, &format!("table {}", t["id"]), t);
        }
        assert!(seen > 0, "{lab}: no notes at all, nothing was checked");
    }
}
