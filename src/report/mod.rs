//! The one result type. Every lab returns a [`Report`]; every renderer reads one.
//! It serialises to the JSON documented in README.md and deserialises back, so
//! `lab docs --from results.json` and the sandbox's child process can hand it over.

pub mod call;
pub mod picture;
pub mod text;
mod unmeasured;

pub use call::Call;
pub use text::{Catalogue, Lang, Text};
pub use unmeasured::{yes_no, Measured, Unmeasured, COMMON};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_zh: Option<String>,
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
    /// What the docs draw for this report (SVG in the web book), made from `data`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pictures: Vec<picture::Picture>,
    /// The lab's typed measurements, from which its tables and findings were made.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
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
    /// `sandbox_note` in Simplified Chinese.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox_note_zh: String,
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
    /// Shown only with `--detail` (and in JSON, which is always complete).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detail: bool,
    /// Its cells are code (command lines, program output): Markdown shows them literally.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub code: bool,
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
    /// Chinese for the text cells of `rows`, keyed by their English text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels_zh: BTreeMap<String, String>,
    /// The whole table is detail: the default terminal view leaves it out (`--detail`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detail: bool,
    /// This table is another's rows ungrouped (the id of that one): `--detail` shows it; the
    /// docs pages, which have the grouped table, leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expands: Option<String>,
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
    /// A stable name for the finding within its lab (tests and `jq` select by it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
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

impl Finding {
    /// A finding whose claim and evidence come from a catalogue.
    pub fn new(id: &str, claim: Text, verdict: Verdict, evidence: Text) -> Finding {
        Finding {
            id: id.into(),
            claim: claim.en,
            verdict,
            evidence: evidence.en,
            zh: Some(Translated {
                claim: claim.zh,
                evidence: evidence.zh,
            }),
        }
    }
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
            pictures: Vec::new(),
            title_zh: None,
            question_zh: None,
            data: Value::Null,
        }
    }

    /// A report-level note in both languages.
    pub fn note(&mut self, t: Text) {
        push_note_zh(&mut self.notes, &mut self.notes_zh, t.en, t.zh);
    }

    pub fn finding(&mut self, claim: &str, verdict: Verdict, evidence: impl Into<String>) {
        self.findings.push(Finding {
            id: String::new(),
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
                    detail: false,
                    code: false,
                })
                .collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            notes_zh: Vec::new(),
            title_zh: None,
            labels_zh: BTreeMap::new(),
            detail: false,
            expands: None,
        }
    }

    /// A table whose title is `{id}.title` and whose headers are `{id}.col.{key}` in `cat`.
    pub fn from_catalogue(cat: &Catalogue, id: &str, keys: &[&str]) -> Self {
        let title = cat.text(&format!("{id}.title"), &[]);
        let cols: Vec<(&str, Text)> = keys
            .iter()
            .map(|k| (*k, cat.text(&format!("{id}.col.{k}"), &[])))
            .collect();
        Table::localized(id, title, &cols)
    }

    /// A table with its title and headers in both languages.
    pub fn localized(id: &str, title: Text, columns: &[(&str, Text)]) -> Self {
        let mut t = Table::new(id, &title.en, &[]);
        t.title_zh = Some(title.zh);
        t.columns = columns
            .iter()
            .map(|(k, h)| Column {
                key: (*k).into(),
                header: h.en.clone(),
                header_zh: Some(h.zh.clone()),
                detail: false,
                code: false,
            })
            .collect();
        t
    }

    /// Marks these columns as detail: the default terminal view leaves them out.
    pub fn detail(&mut self, keys: &[&str]) {
        for c in self.columns.iter_mut().filter(|c| keys.contains(&c.key.as_str())) {
            c.detail = true;
        }
    }

    /// Marks these columns as code: Markdown puts their cells in code spans.
    pub fn code(&mut self, keys: &[&str]) {
        for c in self.columns.iter_mut().filter(|c| keys.contains(&c.key.as_str())) {
            c.code = true;
        }
    }

    /// A text cell: its English goes in the row, its Chinese in `labels_zh`.
    pub fn label(&mut self, t: Text) -> Cell {
        if t.zh != t.en {
            self.labels_zh.insert(t.en.clone(), t.zh);
        }
        Value::from(t.en)
    }

    /// A table note in both languages.
    pub fn note_text(&mut self, t: Text) {
        push_note_zh(&mut self.notes, &mut self.notes_zh, t.en, t.zh);
    }

    /// The Chinese of a text cell, when it has one.
    pub fn label_zh<'a>(&'a self, en: &'a str) -> &'a str {
        self.labels_zh.get(en).map(String::as_str).unwrap_or(en)
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
