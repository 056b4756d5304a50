//! The Gopher client's front end: what `lab gopher HOST` does with the bytes as they arrive.
//! It decides the body (the declared type, or a guess from the first chunk), applies the
//! RFC 1436 text rules, keeps a bounded menu for the table, and makes text safe for a
//! terminal (no escape sequences from a server).

use crate::gopher::client::Exchange;
use crate::gopher::menu::{self, Body, Line, MenuParser, TextFilter};
use crate::gopher::url::Target;
use crate::render::Format;
use crate::report::{Cell, Table};
use crate::row;
use std::io::{self, Write};

/// Guesses the body of a reply from its first bytes, for the book's form (no type given).
pub fn sniff(first: &[u8]) -> char {
    let text = match std::str::from_utf8(first) {
        Ok(t) => t,
        // A multi-byte character cut at the end of the chunk is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&first[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return '9',
    };
    if text.contains('\0') {
        return '9';
    }
    let complete: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .take(20)
        .collect();
    let menu_like = complete.iter().all(|l| {
        let l = l.trim_end_matches(['\r', '\n']);
        l == "." || matches!(menu::parse_line(l.as_bytes()), Line::Item(_) | Line::Info { .. })
    });
    let has_item = complete.iter().any(|l| {
        matches!(
            menu::parse_line(l.trim_end_matches(['\r', '\n']).as_bytes()),
            Line::Item(_)
        )
    });
    if !complete.is_empty() && menu_like && has_item {
        '1'
    } else {
        '0'
    }
}

/// The state of one download: decides the body on the first chunk, then streams.
pub struct Sink {
    declared: Option<char>,
    raw: bool,
    to_terminal: bool,
    decided: Option<char>,
    text: TextFilter,
    pub menu: Option<MenuState>,
    pub refused: Option<String>,
    /// The start of a UTF-8 character split across chunks (terminal output only).
    pending: Vec<u8>,
}

/// A menu as it arrives: parsed line by line, kept within a budget.
#[derive(Default)]
pub struct MenuState {
    pub parser: MenuParser,
    pub lines: Vec<Line>,
    kept_bytes: usize,
    pub dropped: u64,
}

/// Menu text kept for the table; past this lines are only counted (the table is built in memory,
/// and rendering copies it a few times, so the cap is kept small).
pub const MAX_MENU_BYTES: usize = 4 << 20;
/// Menu lines kept for the table, whatever their size: a server sending endless short lines
/// must not grow the table (each row costs far more than its text).
pub const MAX_MENU_LINES: usize = 10_000;

/// Keeps a parsed line while the budget lasts.
fn keep(lines: &mut Vec<Line>, kept: &mut usize, dropped: &mut u64, l: Line) {
    let size = match &l {
        Line::Item(i) => i.display.len() + i.selector.len() + i.host.len() + 64,
        Line::Info { text } => text.len() + 32,
        Line::Malformed { raw, why } => raw.len() + why.len() + 32,
    };
    if lines.len() < MAX_MENU_LINES && *kept + size <= MAX_MENU_BYTES {
        *kept += size;
        lines.push(l);
    } else {
        *dropped += 1;
    }
}

impl MenuState {
    fn feed(&mut self, chunk: &[u8]) {
        let (lines, kept, dropped) = (&mut self.lines, &mut self.kept_bytes, &mut self.dropped);
        self.parser.feed(chunk, &mut |l| keep(lines, kept, dropped, l));
    }

    fn finish(&mut self) {
        let (lines, kept, dropped) = (&mut self.lines, &mut self.kept_bytes, &mut self.dropped);
        self.parser.finish(&mut |l| keep(lines, kept, dropped, l));
    }
}

impl Sink {
    pub fn new(declared: Option<char>, raw: bool, to_terminal: bool) -> Self {
        Sink {
            declared,
            raw,
            to_terminal,
            decided: None,
            text: TextFilter::new(),
            menu: None,
            refused: None,
            pending: Vec::new(),
        }
    }

    pub fn kind_text(&self) -> String {
        match (self.raw, self.decided) {
            (true, _) => "raw".into(),
            (false, Some(t)) => format!("type {t}, {}", menu::type_name(t)),
            (false, None) => "empty".into(),
        }
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut dyn Write) -> io::Result<()> {
        if self.raw {
            return out.write_all(chunk);
        }
        let t = match self.decided {
            Some(t) => t,
            None => {
                let t = self.declared.unwrap_or_else(|| sniff(chunk));
                if self.declared.is_none() {
                    eprintln!(
                        "lab: note: no item type given: the reply looks like type {t} ({})",
                        menu::type_name(t)
                    );
                }
                self.decided = Some(t);
                if menu::body_of(t) == Body::Menu {
                    self.menu = Some(MenuState::default());
                }
                if menu::body_of(t) == Body::Binary && self.to_terminal {
                    self.refused =
                        Some("refusing to print a binary reply to the terminal; save it with -o FILE".into());
                    return Err(io::Error::other("binary to terminal"));
                }
                t
            }
        };
        match menu::body_of(t) {
            Body::Menu => {
                if let Some(m) = self.menu.as_mut() {
                    m.feed(chunk);
                }
                Ok(())
            }
            Body::Text if self.to_terminal => {
                let mut w = Visible {
                    pending: &mut self.pending,
                    out,
                };
                self.text.feed(chunk, &mut w)
            }
            Body::Text => self.text.feed(chunk, out),
            _ => out.write_all(chunk),
        }
    }

    pub fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(m) = self.menu.as_mut() {
            m.finish();
        } else if self.decided.is_some_and(|t| menu::body_of(t) == Body::Text) {
            self.text.finish(out)?;
            if !self.pending.is_empty() {
                // A character cut off by the end of the reply.
                self.pending.clear();
                out.write_all("\u{FFFD}".as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Text for a terminal: invalid UTF-8 becomes U+FFFD and control characters other than
/// TAB, CR and LF are shown escaped, so a server cannot send terminal escape sequences.
pub struct Visible<'a> {
    pub pending: &'a mut Vec<u8>,
    pub out: &'a mut dyn Write,
}

impl Write for Visible<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut text = String::new();
        let mut rest: &[u8] = self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (ok, bad) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(ok).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            text.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            rest = bad; // incomplete: wait for the next chunk
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.to_vec();
        *self.pending = keep;
        self.out.write_all(visible_text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Control characters other than TAB, CR and LF, escaped.
fn visible_text(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return s.into();
    }
    s.chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\t' | '\r' | '\n') {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// A menu cell: all control characters escaped.
pub fn cell(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// What the type column of a menu row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Item(char),
    Info,
    Malformed,
}

/// Pushes one row per menu line into `t` (columns type, display, selector, host, port);
/// `kind` makes the type cell, so a lab can name the types in its own catalogue.
pub fn push_menu_rows(t: &mut Table, lines: &[Line], kind: &mut dyn FnMut(&mut Table, Kind) -> Cell) {
    for l in lines {
        let row = match l {
            Line::Item(i) => row! {
                "type" => kind(t, Kind::Item(i.item_type)),
                "display" => cell(&i.display), "selector" => cell(&i.selector), "host" => cell(&i.host),
                "port" => i.port,
            },
            Line::Info { text } => row! { "type" => kind(t, Kind::Info), "display" => cell(text) },
            Line::Malformed { raw, why } => row! {
                "type" => kind(t, Kind::Malformed), "display" => cell(raw),
                "selector" => format!("({})", cell(why)),
            },
        };
        t.push(row);
    }
}

/// The client's menu table (its own output, in English like its other messages).
fn menu_table(lines: &[Line]) -> Table {
    let mut t = Table::new(
        "menu",
        "Menu",
        &[
            ("type", "type"),
            ("display", "display text"),
            ("selector", "selector"),
            ("host", "host"),
            ("port", "port"),
        ],
    );
    push_menu_rows(&mut t, lines, &mut |_, k| match k {
        Kind::Item(c) => format!("{c} {}", menu::type_name(c)).into(),
        Kind::Info => "i".into(),
        Kind::Malformed => "malformed".into(),
    });
    t
}

pub fn render_menu(target: &Target, m: &MenuState, ex: &Exchange, format: Format, tty: bool) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({
                "url": target.url(),
                "peer": ex.peer,
                "bytes": ex.total,
                "items": m.lines,
                "end": m.parser.end,
                "lines_not_kept": m.dropped,
            });
            serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
        }
        Format::Markdown => crate::render::markdown_table(&menu_table(&m.lines)),
        Format::Table => {
            let mut g = comfy_table::Table::new();
            g.load_preset(if tty {
                comfy_table::presets::UTF8_FULL
            } else {
                comfy_table::presets::ASCII_FULL
            })
            .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
            if !tty {
                g.set_width(160);
            }
            let t = menu_table(&m.lines);
            g.set_header(t.columns.iter().map(|c| c.header.as_str()));
            for r in &t.rows {
                g.add_row(t.columns.iter().map(|c| match r.get(&c.key) {
                    None => String::new(),
                    v => crate::render::cell_text(v),
                }));
            }
            let mut s = format!(
                "{} — {} lines, {} bytes\n{g}\n",
                target.url(),
                m.lines.len(),
                ex.total
            );
            let e = &m.parser.end;
            if !e.terminator {
                s.push_str("note: the menu did not end with a lone \".\" line (the server just closed)\n");
            }
            let plus = m
                .lines
                .iter()
                .filter(|l| matches!(l, Line::Item(i) if i.plus.is_some()))
                .count();
            if plus > 0 {
                s.push_str(&format!(
                    "note: {plus} item(s) carry a Gopher+ field after the port (see --format json)\n"
                ));
            }
            if m.dropped > 0 {
                s.push_str(&format!("note: {} more lines not shown\n", m.dropped));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_tells_menus_text_and_binary_apart() {
        assert_eq!(sniff(b"0About\t/a\th\t70\r\niHi\t\t\t\r\n"), '1');
        assert_eq!(sniff(b"Hello\r\nworld\r\n"), '0');
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), '9');
        assert_eq!(sniff("caf\u{e9}".as_bytes()[..4].as_ref()), '0');
    }

    #[test]
    fn terminal_text_is_lossy_and_escaped_across_chunks() {
        let mut pending = Vec::new();
        let mut out = Vec::new();
        let input = "caf\u{e9} \u{1b}[31mred\n".as_bytes();
        for c in input.chunks(1).chain([&b"\xff\n"[..]]) {
            Visible {
                pending: &mut pending,
                out: &mut out,
            }
            .write_all(c)
            .unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "caf\u{e9} \\u{1b}[31mred\n\u{FFFD}\n"
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn menu_rows_take_the_type_cell_from_the_caller() {
        let mut p = MenuParser::new();
        let mut lines = Vec::new();
        p.feed(b"0About\t/a\th\t70\r\niHi\t\t\t0\r\n.\r\n", &mut |l| {
            lines.push(l)
        });
        p.finish(&mut |l| lines.push(l));
        let t = menu_table(&lines);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0]["selector"], "/a");
        assert_eq!(t.rows[1]["type"], "i");
    }
}
