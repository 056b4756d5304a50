//! The one result type. Every lab returns a [`Report`]; every renderer reads one.
//! It serialises to the JSON documented in README.md and deserialises back, so
//! `lab docs --from results.json` and the sandbox's child process can hand it over.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A cell: numbers stay numbers, errno names and words are strings, `null` is "not measured".
pub type Cell = Value;
/// A row, keyed by column key.
pub type Row = Map<String, Value>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub lab: String,
    pub title: String,
    pub question: String,
    pub environment: Environment,
    pub tables: Vec<Table>,
    pub findings: Vec<Finding>,
    /// Free-form remarks: what could not be measured here, and why.
    #[serde(default)]
    pub notes: Vec<String>,
    /// `notes` in Simplified Chinese, by position; "" or missing falls back to English.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes_zh: Vec<String>,
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Environment {
    pub kernel: String,
    pub uid: u32,
    pub privileged: bool,
    /// "netns" (root, private network namespace), "userns+netns" (unprivileged), or "host".
    pub sandbox: String,
    /// Why the sandbox is what it is (e.g. why isolation failed).
    #[serde(default)]
    pub sandbox_note: String,
    /// Sysctls as read inside the sandbox, by dotted name; "unreadable" when absent.
    pub sysctls: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Column {
    pub key: String,
    pub header: String,
    /// The header in Simplified Chinese, for docs/zh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_zh: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Table {
    pub id: String,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// `notes` in Simplified Chinese, by position; "" or missing falls back to English.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes_zh: Vec<String>,
    /// The title in Simplified Chinese, for docs/zh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Confirmed,
    Refuted,
    Depends,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Refuted => "refuted",
            Verdict::Depends => "depends",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// The claim tested, often the learner's own belief.
    pub claim: String,
    pub verdict: Verdict,
    /// The measurement that decides it, in one sentence.
    pub evidence: String,
    /// Claim and evidence in Simplified Chinese, for docs/zh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zh: Option<Translated>,
}

/// A finding's text in another language, with the same measured numbers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Translated {
    pub claim: String,
    pub evidence: String,
}

impl Report {
    pub fn new(lab: &str, title: &str, question: &str) -> Self {
        Report {
            lab: lab.into(),
            title: title.into(),
            question: question.into(),
            environment: Environment::default(),
            tables: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
            notes_zh: Vec::new(),
            elapsed_ms: 0.0,
        }
    }

    pub fn finding(&mut self, claim: &str, verdict: Verdict, evidence: impl Into<String>) {
        self.findings.push(Finding {
            claim: claim.into(),
            verdict,
            evidence: evidence.into(),
            zh: None,
        });
    }

    /// Like [`Report::finding`], with the Simplified Chinese claim and evidence.
    pub fn finding_zh(
        &mut self,
        claim: &str,
        verdict: Verdict,
        evidence: impl Into<String>,
        claim_zh: &str,
        evidence_zh: impl Into<String>,
    ) {
        self.finding(claim, verdict, evidence);
        if let Some(f) = self.findings.last_mut() {
            f.zh = Some(Translated {
                claim: claim_zh.into(),
                evidence: evidence_zh.into(),
            });
        }
    }

    /// A report-level note with its Simplified Chinese text.
    pub fn note_zh(&mut self, note: impl Into<String>, zh: impl Into<String>) {
        push_note_zh(&mut self.notes, &mut self.notes_zh, note.into(), zh.into());
    }

    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

impl Table {
    /// `columns` is a list of (key, header) pairs.
    pub fn new(id: &str, title: &str, columns: &[(&str, &str)]) -> Self {
        Table {
            id: id.into(),
            title: title.into(),
            columns: columns
                .iter()
                .map(|(k, h)| Column {
                    key: (*k).into(),
                    header: (*h).into(),
                    header_zh: None,
                })
                .collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            notes_zh: Vec::new(),
            title_zh: None,
        }
    }

    /// Sets the Simplified Chinese title and headers (in column order) for docs/zh.
    pub fn zh(mut self, title: &str, headers: &[&str]) -> Self {
        debug_assert_eq!(
            headers.len(),
            self.columns.len(),
            "one zh header per column in {}",
            self.id
        );
        self.title_zh = Some(title.into());
        for (c, h) in self.columns.iter_mut().zip(headers) {
            c.header_zh = Some((*h).into());
        }
        self
    }

    /// Adds a row; debug builds check that every key is a declared column.
    pub fn push(&mut self, row: Row) {
        debug_assert!(
            row.keys().all(|k| self.columns.iter().any(|c| &c.key == k)),
            "row keys {:?} not all in table {}",
            row.keys().collect::<Vec<_>>(),
            self.id
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// A note with its Simplified Chinese text.
    pub fn note_zh(&mut self, note: impl Into<String>, zh: impl Into<String>) {
        push_note_zh(&mut self.notes, &mut self.notes_zh, note.into(), zh.into());
    }

    /// Rows whose `key` equals `value`.
    pub fn rows_where<'a>(&'a self, key: &'a str, value: &'a Value) -> impl Iterator<Item = &'a Row> {
        self.rows.iter().filter(move |r| r.get(key) == Some(value))
    }
}

fn push_note_zh(notes: &mut Vec<String>, notes_zh: &mut Vec<String>, en: String, zh: String) {
    notes_zh.resize(notes.len(), String::new());
    notes.push(en);
    notes_zh.push(zh);
}

/// The note at `i` in Chinese when there is one, else in English.
pub fn note_in_zh<'a>(notes: &'a [String], notes_zh: &'a [String], i: usize) -> &'a str {
    match notes_zh.get(i) {
        Some(z) if !z.is_empty() => z,
        _ => &notes[i],
    }
}

/// Builds a [`Row`]: `row! { "value" => 50, "result" => "EADDRINUSE" }`.
#[macro_export]
macro_rules! row {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut r = $crate::report::Row::new();
        $( r.insert(($k).to_string(), serde_json::json!($v)); )*
        r
    }};
}

/// A cell for a result: "ok" or the errno name, the way the lab stores expected errors as data.
pub fn outcome<T>(r: &std::io::Result<T>) -> Cell {
    match r {
        Ok(_) => Value::from("ok"),
        Err(e) => Value::from(crate::sys::errno_name(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_json() {
        let mut r = Report::new("x", "X", "why?");
        let mut t = Table::new("t", "T", &[("a", "A"), ("b", "B")]);
        t.push(crate::row! { "a" => 50, "b" => "EADDRINUSE" });
        r.tables.push(t);
        r.finding("claim", Verdict::Refuted, "because");
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(json.contains(r#""a":50"#), "numbers stay numbers: {json}");
        assert!(json.contains(r#""verdict":"refuted""#));
    }

    #[test]
    fn outcome_names_the_errno() {
        let e: std::io::Result<()> = Err(std::io::Error::from_raw_os_error(libc::EADDRINUSE));
        assert_eq!(outcome(&e), Value::from("EADDRINUSE"));
        assert_eq!(outcome(&Ok::<(), std::io::Error>(())), Value::from("ok"));
    }
}
