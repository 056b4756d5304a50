//! Tables and notes: pure functions of the measured [`Data`].

use super::designs::{Design, MixSpec};
use super::measure::{Answer, Case, Data, ModeRun, Py3, ServerDid, ServerMode, Totals};
use super::STRINGS as S;
use crate::labs::wire::{table as wire_table, Wire};
use crate::report::{Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    let mut t = vec![answers(d), modes(d)];
    if let Ok(runs) = &d.designs.runs {
        t.push(designs(&d.designs.mix, runs));
    }
    t.extend(ladder(d));
    t
}

pub fn notes(d: &Data) -> Vec<Text> {
    let mut n = vec![t!(S, "note.greeting", greeting = format!("{:?}", d.greeting))];
    if let Err(why) = &d.designs.runs {
        n.push(t!(S, "note.designs_unmeasured", why = why.text()));
    }
    if let Err(why) = &d.wire {
        n.push(t!(crate::report::COMMON, "wire.note.off", why = why.text()));
    }
    n
}

/// The cases the ladder shows: the book's exchange, the client that half-closes first,
/// and the line too long.
pub const LADDER_CASES: [Case; 3] = [Case::AsciiLf, Case::NoNewline, Case::Oversized];

/// One case's connection alone, as flow 1 with times from its own first packet. The
/// clients ran one after another, so the i-th case of [`Case::ALL`] is flow i + 1.
pub fn case_wire(d: &Data, case: Case) -> Option<Wire> {
    let w = d.wire.as_ref().ok()?.iter().find(|w| w.scenario == "answers")?;
    let flow = Case::ALL.iter().position(|&c| c == case)? as u32 + 1;
    let mine: Vec<_> = w.packets.iter().filter(|p| p.flow == flow).collect();
    let t0 = mine.first()?.t_ms;
    let packets = mine
        .into_iter()
        .map(|p| {
            let mut p = p.clone();
            p.flow = 1;
            p.t_ms = ((p.t_ms - t0) * 1e3).round() / 1e3;
            p
        })
        .collect();
    let mut one = Wire::of(case.key(), w.server_port, packets);
    one.pcap = w.pcap.clone();
    one.capped = w.capped.clone();
    Some(one)
}

/// The packets of the chosen cases, a detail table (the first-FIN finding quotes it).
fn ladder(d: &Data) -> Vec<Table> {
    let mut wires: Vec<(Case, Wire)> = LADDER_CASES
        .iter()
        .filter_map(|&c| Some((c, case_wire(d, c)?)))
        .collect();
    // One capture file holds every case: name it once.
    for (_, w) in wires.iter_mut().skip(1) {
        w.pcap = None;
    }
    if wires.is_empty() {
        return Vec::new();
    }
    let named: Vec<wire_table::Named> = wires
        .iter()
        .map(|(c, w)| wire_table::Named {
            wire: w,
            name: case(*c),
        })
        .collect();
    let mut v = wire_table::ladders("ladder", t!(S, "ladder.title"), &named);
    for t in &mut v {
        t.detail = true;
    }
    v[0].note_text(t!(S, "ladder.note.flows", n = Case::ALL.len()));
    v
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

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> f64 {
    round1(kib as f64 / 1024.0)
}

fn designs(mix: &MixSpec, runs: &[Design]) -> Table {
    let cols = [
        "design",
        "cap",
        "answered",
        "lost",
        "not_started",
        "median_ms",
        "p99_ms",
        "rss_mib",
        "threads",
        "fds",
        "held",
        "fds_after",
        "giant_refused",
        "garbage_answered",
    ];
    let mut t = Table::from_catalogue(&S, "designs", &cols);
    t.detail(&["fds_after", "giant_refused", "garbage_answered"]);
    for r in runs {
        let o = &r.outcome;
        let name = t.label(mode(r.mode));
        let after = match (o.fds_after, o.fds_before) {
            (Some(a), Some(b)) => Some(format!("{a}/{b}")),
            _ => None,
        };
        t.push(row! {
            "design" => name,
            "cap" => r.cap,
            "answered" => o.answered,
            "lost" => o.lost + o.wrong,
            "not_started" => o.not_started,
            "median_ms" => o.median_ms,
            "p99_ms" => o.p99_ms,
            "rss_mib" => o.peak_rss_kib.map(mib),
            "threads" => o.peak_threads,
            "fds" => o.peak_fds,
            "held" => r.held(),
            "fds_after" => after,
            "giant_refused" => o.giant_refused,
            "garbage_answered" => o.garbage_answered,
        });
    }
    t.note_text(t!(
        S,
        "designs.note.mix",
        clients = mix.clients,
        at_once = mix.at_once,
        idle = mix.idle,
        giant = mix.giant,
        giant_kib = mix.giant_bytes / 1024,
        resets = mix.resets,
        garbage = mix.garbage
    ));
    t.note_text(t!(
        S,
        "designs.note.bounds",
        timeout = mix.timeout_ms,
        budget = mix.budget_ms,
        idle_s = mix.server_idle_s,
        backlog = mix.backlog
    ));
    t.note_text(t!(S, "designs.note.columns"));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_designs_table_has_a_row_per_design_and_the_held_count() {
        use crate::line::hostile::Outcome;
        use serde_json::Value;
        let mix = super::super::designs::SPEC;
        let run = Design {
            mode: ServerMode::Threaded,
            cap: 8,
            outcome: Outcome {
                answered: 40,
                lost: 20,
                not_started: 240,
                peak_fds: Some(13),
                fds_before: Some(5),
                peak_rss_kib: Some(3072),
                ..Outcome::default()
            },
        };
        let t = designs(&mix, &[run]);
        assert_eq!(t.rows.len(), 1);
        let r = &t.rows[0];
        assert_eq!(r["held"], Value::from(8));
        assert_eq!(r["rss_mib"], Value::from(3.0));
        assert_eq!(r["not_started"], Value::from(240));
    }

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
    #[test]
    fn one_english_text_has_one_chinese_text() {
        let clashes = super::S.clashes();
        assert!(clashes.is_empty(), "{clashes:?}");
    }
}
