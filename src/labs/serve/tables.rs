//! Tables and notes: pure functions of the measured [`Data`].

use super::measure::{Answer, Case, Data, ModeRun, Py3, ServerDid, ServerMode, Totals};
use super::STRINGS as S;
use crate::report::{Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    vec![answers(d), modes(d)]
}

pub fn notes(d: &Data) -> Vec<Text> {
    vec![t!(S, "note.greeting", greeting = format!("{:?}", d.greeting))]
}

/// Bytes as a short readable string: printable ASCII and other characters as they
/// are, control characters and invalid bytes escaped.
pub fn escape(b: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    if out.chars().count() > max_chars {
        let cut: String = out.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        out
    }
}

pub fn case(c: Case) -> Text {
    S.text(&format!("case.{}", c.key()), &[])
}

pub fn did(d: &ServerDid) -> Text {
    match d {
        ServerDid::Answered => t!(S, "did.answered"),
        ServerDid::LineTooLong => t!(S, "did.line_too_long"),
        ServerDid::IdleTimeout => t!(S, "did.idle_timeout"),
        ServerDid::TooSlow => t!(S, "did.too_slow"),
        ServerDid::Shutdown => t!(S, "did.shutdown"),
        ServerDid::Other(s) => Text::same(s.clone()),
    }
}

pub fn mode(m: ServerMode) -> Text {
    match m {
        ServerMode::Iterative => t!(S, "mode.iterative"),
        ServerMode::Threaded => t!(S, "mode.threaded"),
        ServerMode::Event => t!(S, "mode.event"),
    }
}

fn py3(p: Py3) -> Cell {
    match p {
        Py3::Count(n) => n.into(),
        Py3::UnicodeDecodeError => "UnicodeDecodeError".into(),
    }
}

fn answers(d: &Data) -> Table {
    let cols = [
        "input", "sent", "sent_n", "answer", "chars", "bytes", "py2", "py3", "outcome",
    ];
    let mut t = Table::from_catalogue(&S, "answers", &cols);
    t.code(&["sent", "answer"]);
    for a in &d.answers {
        let row = answer_row(&mut t, a, d.max_line);
        t.push(row);
    }
    t.note_text(t!(S, "answers.note.strip"));
    let oversized = Case::Oversized.payload(d.max_line).len();
    t.note_text(t!(
        S,
        "answers.note.python",
        oversized = oversized,
        max_line = d.max_line
    ));
    t.note_text(t!(S, "answers.note.py3"));
    t
}

fn answer_row(t: &mut Table, a: &Answer, max_line: usize) -> crate::report::Row {
    let input = t.label(case(a.case));
    let outcome = a.server.as_ref().map(|s| t.label(did(s)));
    row! {
        "input" => input,
        "sent" => escape(&a.case.payload(max_line), 24),
        "sent_n" => a.sent,
        "answer" => escape(a.reply.as_bytes(), 70),
        "chars" => a.counted.and_then(|c| c.chars),
        "bytes" => a.counted.map(|c| c.bytes),
        "py2" => a.py2,
        "py3" => a.py3.map(py3),
        "outcome" => outcome,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// "20 served, 19 answered, 1 idle timeout".
pub fn totals(s: &Totals) -> Text {
    let errors: Vec<Text> = s
        .errors
        .iter()
        .map(|(what, n)| t!(S, "cell.summary_error", n = n, what = did(what)))
        .collect();
    let errors = Text::join(&errors, "", "");
    t!(
        S,
        "cell.summary",
        clients = s.clients,
        answered = s.answered,
        errors = errors
    )
}

fn silent(m: &ModeRun) -> Text {
    t!(
        S,
        "cell.silent",
        reply = escape(m.silent.reply.as_bytes(), 40),
        ms = m.silent.after_ms,
        end = m.silent.end
    )
}

fn modes(d: &Data) -> Table {
    let cols = [
        "mode",
        "clients",
        "answered",
        "wait_median_ms",
        "wait_max_ms",
        "after_silent_ms",
        "idle_timeout_ms",
        "silent",
        "server",
    ];
    let mut t = Table::from_catalogue(&S, "modes", &cols);
    for m in &d.modes {
        let (name, got, server) = (
            t.label(mode(m.mode)),
            t.label(silent(m)),
            t.label(totals(&m.totals)),
        );
        t.push(row! {
            "mode" => name,
            "clients" => m.clients,
            "answered" => m.correct,
            "wait_median_ms" => m.median_wait_ms().map(round1),
            "wait_max_ms" => m.max_wait_ms().map(round1),
            "after_silent_ms" => m.after_silent_ms.map(round1),
            "idle_timeout_ms" => m.idle_ms,
            "silent" => got,
            "server" => server,
        });
    }
    let backlog = super::measure::LOAD_BACKLOG;
    t.note_text(t!(S, "modes.note.backlog", backlog = backlog));
    t.note_text(t!(S, "modes.note.wait"));
    t.note_text(t!(S, "modes.note.next"));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_control_and_invalid_bytes() {
        assert_eq!(escape(b"hi\r\n", 10), "hi\\r\\n");
        assert_eq!(escape(b"\xff\xfea", 10), "\\xff\\xfea");
        assert_eq!(escape("你好".as_bytes(), 10), "你好");
        assert_eq!(escape(b"abcdef", 3), "abc…");
    }

    #[test]
    fn totals_name_each_error_in_both_languages() {
        let s = Totals {
            clients: 20,
            answered: 19,
            errors: vec![(ServerDid::IdleTimeout, 1)],
        };
        let t = totals(&s);
        assert_eq!(t.en, "20 served, 19 answered, 1 idle timeout");
        assert!(t.zh.contains("空闲超时"), "{}", t.zh);
        let none = Totals { errors: vec![], ..s };
        assert_eq!(totals(&none).en, "20 served, 19 answered");
    }
}

#[cfg(test)]
mod catalogue_tests {
    /// A cell's Chinese is looked up by its English text, so one English text must not
    /// have two translations in this catalogue.
    #[test]
    fn one_english_text_has_one_chinese_text() {
        let mut seen = std::collections::BTreeMap::new();
        for (k, t) in super::S.entries().unwrap() {
            if let Some((k0, zh)) = seen.insert(t.en.clone(), (k.clone(), t.zh.clone())) {
                assert_eq!(zh, t.zh, "{k0} and {k}: {:?}", t.en);
            }
        }
    }
}
