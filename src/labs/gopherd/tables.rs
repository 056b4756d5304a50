//! Tables: pure functions of the measured [`Data`].

use super::measure::{Body, Compare, Data, Escape, Limits, Log, Outcome, Refused, Request, SendMethod};
use super::STRINGS as S;
use crate::report::{Call, Cell, Row, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    vec![requests(d), escapes(d), limits(&d.limits)]
}

/// Where the packets went (`--pcap DIR`), or why there are none.
pub fn notes(d: &Data) -> Vec<Text> {
    match &d.wire {
        Err(why) => vec![t!(crate::report::COMMON, "wire.note.off", why = why.text())],
        Ok(wires) => {
            let files: Vec<&str> = wires.iter().filter_map(|w| w.pcap.as_deref()).collect();
            let mut v = Vec::new();
            if !files.is_empty() {
                v.push(t!(
                    crate::report::COMMON,
                    "wire.note.pcap",
                    files = files.join(", ")
                ));
            }
            for w in wires {
                if let Some(c) = &w.capped {
                    v.push(t!(
                        crate::report::COMMON,
                        "wire.note.capped",
                        scenario = w.scenario,
                        cap = crate::labs::wire::table::cap_text(c)
                    ));
                }
            }
            v
        }
    }
}

pub fn compare(c: Compare) -> Text {
    match c {
        Compare::NoFile => Text::same("-"),
        Compare::Identical => t!(S, "compare.identical"),
        Compare::PlusDotLine => t!(S, "compare.plus_dot_line"),
        Compare::PlusDotLineUnstuffed => t!(S, "compare.plus_dot_line_unstuffed"),
        Compare::Differs => t!(S, "compare.differs"),
    }
}

pub fn method(m: SendMethod) -> Text {
    match m {
        SendMethod::Sendfile => Text::same("sendfile"),
        SendMethod::Copy => t!(S, "method.copy"),
        SendMethod::Write => t!(S, "method.write"),
    }
}

pub fn outcome(o: &Outcome) -> Text {
    let key = match o {
        Outcome::Ok => "ok",
        Outcome::TooLong => "too_long",
        Outcome::NulByte => "nul_byte",
        Outcome::DotDot => "dot_dot",
        Outcome::NotFound => "not_found",
        Outcome::OutsideRoot => "outside_root",
        Outcome::NotAFile => "not_a_file",
        Outcome::Unreadable => "unreadable",
        Outcome::Timeout => "timeout",
        Outcome::Busy => "busy",
        Outcome::Closed => "closed",
        Outcome::Other(s) => return Text::same(s.clone()),
    };
    S.text(&format!("outcome.{key}"), &[])
}

/// The first line of the answer, or the errno that ended the fetch.
fn first(b: &Result<Body, Call>) -> Cell {
    match b {
        Ok(b) => b.first_line.clone().into(),
        Err(e) => e.into(),
    }
}

fn requests(d: &Data) -> Table {
    let cols = [
        "selector", "what", "type", "first", "items", "bytes", "sent", "disk",
    ];
    let mut t = Table::from_catalogue(&S, "requests", &cols);
    t.code(&["selector", "first"]);
    for r in &d.requests {
        let row = request_row(&mut t, r);
        t.push(row);
    }
    t.note_text(t!(S, "requests.note.menus"));
    t.note_text(t!(S, "requests.note.type"));
    t.note_text(t!(S, "requests.note.copy"));
    t
}

fn request_row(t: &mut Table, r: &Request) -> Row {
    let what = t.label(S.text(&format!("target.{}", r.target.key()), &[]));
    let kind = r.log.as_ref().map(|l| l.kind.to_string());
    let sent = r.log.as_ref().map(|l: &Log| t.label(method(l.method)));
    let selector = format!("{:?}", r.target.selector());
    match &r.body {
        Ok(b) => {
            let text = r.log.as_ref().is_some_and(|l| l.kind == '0');
            let menu = r.target.file().is_none();
            let first = if text || menu {
                b.first_line.clone().into()
            } else {
                t.label(t!(S, "cell.binary", bytes = b.bytes))
            };
            let disk = t.label(compare(b.disk));
            row! {
                "selector" => selector, "what" => what, "type" => kind, "first" => first,
                "items" => b.items, "bytes" => b.bytes, "sent" => sent, "disk" => disk,
            }
        }
        Err(e) => row! {
            "selector" => selector, "what" => what, "type" => kind,
            "first" => e, "items" => None::<usize>, "bytes" => None::<usize>,
            "sent" => None::<&str>, "disk" => "-",
        },
    }
}

fn escapes(d: &Data) -> Table {
    let cols = ["attempt", "selector", "answer", "reason", "leaked"];
    let mut t = Table::from_catalogue(&S, "escapes", &cols);
    t.code(&["selector", "answer"]);
    for e in &d.escapes {
        let row = escape_row(&mut t, e);
        t.push(row);
    }
    t.note_text(t!(S, "escapes.note.percent"));
    t.note_text(t!(S, "escapes.note.resolve"));
    t
}

fn escape_row(t: &mut Table, e: &Escape) -> Row {
    let attempt = t.label(S.text(&format!("attempt.{}", e.attempt.key()), &[]));
    let shown = String::from_utf8_lossy(e.attempt.selector()).replace('\0', "\\0");
    let reason = e.log.as_ref().map(|l| t.label(outcome(&l.outcome)));
    let leaked = t.label(if e.leaked {
        t!(S, "cell.leaked")
    } else {
        crate::report::yes_no(false)
    });
    row! {
        "attempt" => attempt, "selector" => shown, "answer" => first(&e.body),
        "reason" => reason, "leaked" => leaked,
    }
}

fn limit_row(t: &mut Table, situation: Text, r: &Refused, detail: Text) -> Row {
    let (situation, detail) = (t.label(situation), t.label(detail));
    let outcome = r.log.as_ref().map(|l| t.label(outcome(&l.outcome)));
    row! {
        "situation" => situation, "answer" => first(&r.body), "outcome" => outcome, "detail" => detail,
    }
}

fn limits(l: &Limits) -> Table {
    let mut t = Table::from_catalogue(&S, "limits", &["situation", "answer", "outcome", "detail"]);
    t.code(&["answer"]);
    let row = limit_row(
        &mut t,
        t!(S, "limits.long.situation", bytes = l.long_bytes),
        &l.long,
        t!(S, "limits.long.detail", limit = l.max_selector),
    );
    t.push(row);
    let secs = l.read_timeout_ms as f64 / 1000.0;
    let row = limit_row(
        &mut t,
        t!(S, "limits.silent.situation"),
        &l.silent,
        t!(S, "limits.silent.detail", secs = secs),
    );
    t.push(row);
    let p = &l.parallel;
    let cells = [
        t!(S, "limits.parallel.situation", n = p.clients),
        parallel_answer(l),
        t!(S, "limits.parallel.outcome", ok = p.served_ok, n = p.clients),
        t!(S, "limits.parallel.detail"),
    ];
    let [situation, answer, outcome, detail] = cells.map(|c| t.label(c));
    t.push(row! { "situation" => situation, "answer" => answer, "outcome" => outcome, "detail" => detail });
    let row = limit_row(
        &mut t,
        t!(
            S,
            "limits.busy.situation",
            held = l.busy_limit,
            nth = ordinal(l.busy_limit + 1)
        ),
        &l.busy,
        t!(S, "limits.busy.detail", default = l.default_max_clients),
    );
    t.push(row);
    t
}

/// "8 of 8 got the file byte for byte".
pub fn parallel_answer(l: &Limits) -> Text {
    let p = &l.parallel;
    t!(S, "limits.parallel.answer", same = p.same, n = p.clients)
}

/// "3rd" in English, "3" for "第 3 个" in Chinese.
fn ordinal(n: usize) -> Text {
    let suffix = match (n % 10, n % 100) {
        (1, r) if r != 11 => "st",
        (2, r) if r != 12 => "nd",
        (3, r) if r != 13 => "rd",
        _ => "th",
    };
    Text {
        en: format!("{n}{suffix}"),
        zh: n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let en = |n| ordinal(n).en;
        assert_eq!(
            [en(1), en(2), en(3), en(4), en(11), en(22)],
            ["1st", "2nd", "3rd", "4th", "11th", "22nd"]
        );
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
