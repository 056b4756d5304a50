//! Tables: pure functions of the measured [`Data`]. The menu and the text are parsed here
//! from the bytes received, with the same parser and filter `lab gopher HOST` uses.

use super::measure::{Data, Ending, Fetched};
use super::STRINGS as S;
use crate::gopher::bytes::quoted;
use crate::gopher::front::{push_menu_rows, Kind};
use crate::gopher::menu::{self, Line, MenuParser, TextFilter, TextStats};
use crate::labs::wire::table as wire_table;
use crate::report::{Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    let mut v = vec![wire(d), menu_table(d), text(d)];
    v.extend(ladder(d));
    v
}

pub fn notes(d: &Data) -> Vec<Text> {
    match &d.wire {
        Err(why) => vec![t!(crate::report::COMMON, "wire.note.off", why = why.text())],
        Ok(_) => Vec::new(),
    }
}

/// Both fetches' packets, a detail table (the on-the-wire finding quotes it).
fn ladder(d: &Data) -> Vec<Table> {
    let Ok(wires) = &d.wire else {
        return Vec::new();
    };
    let named: Vec<wire_table::Named> = wires
        .iter()
        .map(|w| wire_table::Named {
            wire: w,
            name: t!(S, "ladder.scenario"),
        })
        .collect();
    let mut v = wire_table::ladders("ladder", t!(S, "ladder.title"), &named);
    for t in &mut v {
        t.detail = true;
    }
    v
}

/// The menu's lines, and whether it ended with a lone "." line.
pub fn parsed_menu(d: &Data) -> (Vec<Line>, bool) {
    let mut parser = MenuParser::new();
    let mut lines = Vec::new();
    parser.feed(&d.menu.raw, &mut |l| lines.push(l));
    parser.finish(&mut |l| lines.push(l));
    (lines, parser.end.terminator)
}

/// What `lab gopher` prints for the text item, and what its filter did.
pub fn filtered_text(d: &Data) -> (Vec<u8>, TextStats) {
    let mut f = TextFilter::new();
    let mut printed = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = f.feed(&d.text.raw, &mut printed);
    let _ = f.finish(&mut printed);
    (printed, f.stats)
}

/// Lines starting with "..".
pub fn doubled_dots(b: &[u8]) -> usize {
    b.split(|&c| c == b'\n').filter(|l| l.starts_with(b"..")).count()
}

pub fn wire(d: &Data) -> Table {
    let mut t = Table::from_catalogue(&S, "wire", &["fetch", "step", "call", "bytes", "detail"]);
    let fetches = [("menu", &d.menu), ("text", &d.text)];
    for (k, (name, f)) in fetches.into_iter().enumerate() {
        wire_rows(&mut t, name, f, d.received.get(k));
    }
    t.note_text(t!(S, "wire.note"));
    t
}

fn wire_rows(t: &mut Table, name: &str, f: &Fetched, read: Option<&Vec<u8>>) {
    let fetch = t.label(S.text(&format!("wire.fetch.{name}"), &[]));
    let mut step = 0;
    let mut push = |t: &mut Table, call: Cell, bytes: Cell, detail: Cell| {
        step += 1;
        t.push(
            row! { "fetch" => fetch, "step" => step, "call" => call, "bytes" => bytes, "detail" => detail },
        );
    };
    let code = |s: &str| Cell::from(s);
    let to = t.label(t!(S, "wire.detail.connect", peer = f.peer));
    push(t, code("connect"), Cell::Null, to);
    push(t, code("sendall"), f.sent.len().into(), quoted(&f.sent).into());
    if let Some(r) = read {
        let call = t.label(t!(S, "wire.call.server_read"));
        push(t, call, r.len().into(), quoted(r).into());
    }
    for (i, n) in f.chunk_sizes.iter().enumerate() {
        let chunk = t.label(t!(S, "wire.detail.chunk", n = i + 1));
        push(t, code("recv(2048)"), (*n).into(), chunk);
    }
    match f.end {
        Ending::Eof => {
            let why = t.label(t!(S, "wire.detail.eof"));
            push(t, code("recv(2048)"), 0.into(), why);
        }
        Ending::Cap => {
            let call = t.label(t!(S, "wire.call.stopped"));
            let why = t.label(t!(S, "wire.detail.cap"));
            push(t, call, Cell::Null, why);
        }
    }
    let call = t.label(t!(S, "wire.call.total"));
    let detail = t.label(t!(S, "wire.detail.total", chunks = f.chunks()));
    push(t, call, f.total.into(), detail);
}

/// A measured flag: "true"/"false" as the English page has always shown it, 是/否 in Chinese.
pub fn flag(b: bool) -> Text {
    S.text(if b { "flag.true" } else { "flag.false" }, &[])
}

/// The name of an item type in both languages ("text", "文本").
pub fn type_name(c: char) -> Text {
    let key = format!("type.{}", menu::type_name(c).replace(' ', "_").to_lowercase());
    if S.has(&key) {
        S.text(&key, &[])
    } else {
        Text::same(menu::type_name(c))
    }
}

fn menu_table(d: &Data) -> Table {
    let mut t = Table::from_catalogue(&S, "menu", &["type", "display", "selector", "host", "port"]);
    t.code(&["display", "selector"]);
    let (lines, _) = parsed_menu(d);
    push_menu_rows(&mut t, &lines, &mut |t, k| match k {
        Kind::Item(c) => t.label(t!(S, "menu.type", c = c, name = type_name(c))),
        Kind::Info => "i".into(),
        Kind::Malformed => t.label(t!(S, "menu.malformed")),
    });
    t
}

fn text(d: &Data) -> Table {
    let tail = |b: &[u8]| b[b.len().saturating_sub(24)..].escape_ascii().to_string();
    let (printed, stats) = filtered_text(d);
    let cols = ["program", "bytes", "terminator", "dots", "tail"];
    let mut t = Table::from_catalogue(&S, "text", &cols);
    t.code(&["tail"]);
    for (who, b) in [("book", &d.text.raw), ("lab", &printed)] {
        let program = t.label(S.text(&format!("text.program.{who}"), &[]));
        t.push(row! {
            "program" => program, "bytes" => b.len(), "terminator" => b.ends_with(b"\n.\r\n"),
            "dots" => doubled_dots(b), "tail" => tail(b),
        });
    }
    t.note_text(t!(
        S,
        "text.note",
        terminator = flag(stats.terminator),
        unstuffed = stats.unstuffed
    ));
    t
}

#[cfg(test)]
mod tests {
    use super::super::findings::tests::sample;
    use super::*;

    #[test]
    fn the_tables_show_the_exchange_call_by_call() {
        let d = sample();
        let t = tables(&d);
        let wire = &t[0];
        let reads: Vec<_> = wire
            .rows
            .iter()
            .filter(|r| r["call"] == "(server read)")
            .collect();
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[1]["detail"], "\"/about.txt\\r\\n\"");
        assert_eq!(wire.label_zh("(server read)"), "（服务器读到的）");
        assert_eq!(t[1].rows.len(), 5 + crate::gopher::responder::DEMO_NOTES);
        assert_eq!(t[1].rows[1]["type"], "0 text");
        assert_eq!(t[1].label_zh("0 text"), "0 文本");
        assert_eq!(t[2].rows[0]["terminator"], true);
        assert_eq!(t[2].rows[1]["terminator"], false);
    }
}
