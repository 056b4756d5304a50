//! Reading what a Gopher server sends back (RFC 1436, section 3).
//!
//! - A menu line: TYPE DISPLAY TAB SELECTOR TAB HOST TAB PORT [TAB GOPHER+ ...] CR LF.
//!   Info lines (`i`) are text whatever their other fields hold; lines that fit no shape are
//!   kept as [`Line::Malformed`] with the reason, never dropped.
//! - A text body: lines end in CR LF (or LF); a lone "." line ends it, and a line that starts
//!   with "." is sent with a second "." in front. Servers differ: some send neither, so the
//!   filter here drops a "." line only when it is the last line, and removes a doubled dot only
//!   while the server has not shown that it does not double them.
//!
//! Both parsers are streaming: feed chunks as they arrive, memory stays bounded.

use serde::Serialize;
use std::io::{self, Write};

/// Longest menu line kept whole; past it the line is cut and marked malformed.
pub const MAX_LINE: usize = 64 * 1024;

/// One parsed menu line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    Item(Item),
    /// An `i` line: text to show.
    Info {
        text: String,
    },
    /// A line that is not a menu line, with the reason.
    Malformed {
        raw: String,
        why: String,
    },
}

/// A menu item: what the user sees and where it leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    #[serde(rename = "type")]
    pub item_type: char,
    pub display: String,
    pub selector: String,
    pub host: String,
    pub port: u16,
    /// Gopher+ fields after the port ("+", "?", "$" ...), TAB-joined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plus: Option<String>,
}

/// A readable name for an item type.
pub fn type_name(t: char) -> &'static str {
    match t {
        '0' => "text",
        '1' => "menu",
        '2' => "CSO phone book",
        '3' => "error",
        '4' => "BinHex",
        '5' => "DOS binary",
        '6' => "uuencoded",
        '7' => "search",
        '8' => "telnet",
        '9' => "binary",
        '+' => "mirror",
        'T' => "tn3270",
        'g' => "GIF",
        'I' => "image",
        'h' => "HTML",
        'i' => "info",
        's' => "sound",
        'd' => "document",
        'p' => "PNG",
        ';' => "video",
        '<' => "sound",
        _ => "unknown",
    }
}

/// How the body of an item type is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    Menu,
    Text,
    Binary,
    /// An interactive session (telnet, tn3270, CSO): nothing to download.
    Session,
}

pub fn body_of(t: char) -> Body {
    match t {
        '1' | '7' => Body::Menu,
        '0' | '4' | '6' | 'h' | '3' => Body::Text,
        '8' | 'T' | '2' => Body::Session,
        _ => Body::Binary,
    }
}

/// Parses one menu line, its CR LF (or LF) already removed.
pub fn parse_line(line: &[u8]) -> Line {
    let text = String::from_utf8_lossy(line);
    let Some(first) = text.chars().next() else {
        return malformed(&text, "empty line");
    };
    let rest = &text[first.len_utf8()..];
    if first == 'i' {
        let display = rest.split('\t').next().unwrap_or_default();
        return Line::Info {
            text: display.to_string(),
        };
    }
    if first == '\t' || first.is_control() {
        return malformed(&text, "no item type before the first TAB");
    }
    let fields: Vec<&str> = rest.split('\t').collect();
    if fields.len() < 4 {
        return malformed(
            &text,
            &format!(
                "{} field(s) after the type; a menu line has display, selector, host, port",
                fields.len()
            ),
        );
    }
    let port = match fields[3].trim().parse::<u16>() {
        Ok(p) => p,
        Err(_) => {
            return malformed(
                &text,
                &format!("port {:?} is not a number from 0 to 65535", fields[3]),
            )
        }
    };
    Line::Item(Item {
        item_type: first,
        display: fields[0].to_string(),
        selector: fields[1].to_string(),
        host: fields[2].to_string(),
        port,
        plus: (fields.len() > 4).then(|| fields[4..].join("\t")),
    })
}

fn malformed(raw: &str, why: &str) -> Line {
    Line::Malformed {
        raw: raw.to_string(),
        why: why.to_string(),
    }
}

/// The wire form of an item (without CR LF), the inverse of [`parse_line`].
pub fn format_item(i: &Item) -> String {
    let mut s = format!(
        "{}{}\t{}\t{}\t{}",
        i.item_type, i.display, i.selector, i.host, i.port
    );
    if let Some(p) = &i.plus {
        s.push('\t');
        s.push_str(p);
    }
    s
}

/// What a menu reply held, beyond its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MenuEnd {
    /// A lone "." line was seen (and what followed it was ignored).
    pub terminator: bool,
    /// Bytes after the terminator, ignored.
    pub after_terminator: u64,
    /// Lines ending in CR LF / in a bare LF / at EOF without a line end.
    pub crlf: u64,
    pub lf: u64,
    pub unterminated: u64,
}

/// Splits a menu reply into lines as chunks arrive.
#[derive(Debug, Default)]
pub struct MenuParser {
    buf: Vec<u8>,
    overflow: bool,
    pub end: MenuEnd,
}

impl MenuParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; calls `on_line` for every complete line.
    pub fn feed(&mut self, chunk: &[u8], on_line: &mut dyn FnMut(Line)) {
        if self.end.terminator {
            self.end.after_terminator += chunk.len() as u64;
            return;
        }
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.push(&rest[..nl]);
            rest = &rest[nl + 1..];
            let crlf = self.buf.last() == Some(&b'\r');
            if crlf {
                self.buf.pop();
                self.end.crlf += 1;
            } else {
                self.end.lf += 1;
            }
            self.emit(on_line);
            if self.end.terminator {
                self.end.after_terminator += rest.len() as u64;
                return;
            }
        }
        self.push(rest);
    }

    /// The last line, when the reply ended without a line end.
    pub fn finish(&mut self, on_line: &mut dyn FnMut(Line)) {
        if !self.end.terminator && (!self.buf.is_empty() || self.overflow) {
            self.end.unterminated += 1;
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            self.emit(on_line);
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.overflow = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit(&mut self, on_line: &mut dyn FnMut(Line)) {
        if self.buf == b"." && !self.overflow {
            self.end.terminator = true;
        } else if self.overflow {
            let head = String::from_utf8_lossy(&self.buf[..self.buf.len().min(80)]).into_owned();
            on_line(malformed(
                &head,
                &format!("line longer than {MAX_LINE} bytes, cut"),
            ));
        } else {
            on_line(parse_line(&self.buf));
        }
        self.buf.clear();
        self.overflow = false;
    }
}

/// What the text filter did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TextStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The last line was a lone "." and was dropped.
    pub terminator: bool,
    /// Lines that started with ".." and lost one dot.
    pub unstuffed: u64,
    /// The server sent a line starting with one "." then more: it does not double dots.
    pub saw_unstuffed_dot_line: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum TextState {
    #[default]
    LineStart,
    MidLine,
    /// "." at the start of a line.
    Dot,
    /// "." then CR at the start of a line.
    DotCr,
}

/// Streams a text item through: drops the final lone "." line and undoes dot-stuffing.
/// Holds at most three bytes back, so memory stays flat for any size.
#[derive(Debug, Default)]
pub struct TextFilter {
    state: TextState,
    /// A complete "." line (".\r\n" or ".\n") held back until we know whether more follows.
    held: Vec<u8>,
    pub stats: TextStats,
}

impl TextFilter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, chunk: &[u8], out: &mut dyn Write) -> io::Result<()> {
        self.stats.bytes_in += chunk.len() as u64;
        let mut start = 0; // start of bytes not yet written
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                TextState::MidLine => {
                    // Skip to the end of the line in one step: the fast path.
                    match chunk[i..].iter().position(|&c| c == b'\n') {
                        Some(n) => {
                            i += n + 1;
                            self.state = TextState::LineStart;
                        }
                        None => i = chunk.len(),
                    }
                    continue;
                }
                TextState::LineStart => {
                    if !self.held.is_empty() {
                        // A "." line followed by more text: it was content, not the end.
                        self.stats.saw_unstuffed_dot_line = true;
                        self.write(out, &chunk[start..i])?;
                        start = i;
                        let held = std::mem::take(&mut self.held);
                        self.write(out, &held)?;
                    }
                    if b == b'.' {
                        self.write(out, &chunk[start..i])?;
                        start = i + 1;
                        self.state = TextState::Dot;
                    } else {
                        self.state = if b == b'\n' {
                            TextState::LineStart
                        } else {
                            TextState::MidLine
                        };
                    }
                }
                TextState::Dot => match b {
                    b'.' if !self.stats.saw_unstuffed_dot_line => {
                        // ".." → ".": keep this dot, the held one is dropped.
                        self.stats.unstuffed += 1;
                        start = i;
                        self.state = TextState::MidLine;
                    }
                    b'\r' => self.state = TextState::DotCr,
                    b'\n' => {
                        self.held = b".\n".to_vec();
                        start = i + 1;
                        self.state = TextState::LineStart;
                    }
                    _ => {
                        if b != b'.' {
                            self.stats.saw_unstuffed_dot_line = true;
                        }
                        self.write(out, b".")?;
                        start = i;
                        self.state = TextState::MidLine;
                    }
                },
                TextState::DotCr => {
                    if b == b'\n' {
                        self.held = b".\r\n".to_vec();
                        start = i + 1;
                        self.state = TextState::LineStart;
                    } else {
                        self.stats.saw_unstuffed_dot_line = true;
                        self.write(out, b".\r")?;
                        start = i;
                        self.state = TextState::MidLine;
                        continue; // re-read b as part of the line
                    }
                }
            }
            i += 1;
        }
        // In Dot/DotCr the pending "." (and CR) live in `state` and are written later.
        if matches!(self.state, TextState::LineStart | TextState::MidLine) {
            self.write(out, &chunk[start.min(chunk.len())..])?;
        }
        Ok(())
    }

    /// End of the reply: a held "." line (or a final "." without line end) was the terminator.
    pub fn finish(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        match self.state {
            TextState::Dot | TextState::DotCr => self.stats.terminator = true,
            TextState::LineStart if !self.held.is_empty() => self.stats.terminator = true,
            _ => {}
        }
        self.held.clear();
        Ok(())
    }

    fn write(&mut self, out: &mut dyn Write, b: &[u8]) -> io::Result<()> {
        if !b.is_empty() {
            self.stats.bytes_out += b.len() as u64;
            out.write_all(b)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(reply: &[u8], chunk: usize) -> (Vec<Line>, MenuEnd) {
        let mut p = MenuParser::new();
        let mut v = Vec::new();
        for c in reply.chunks(chunk.max(1)) {
            p.feed(c, &mut |l| v.push(l));
        }
        p.finish(&mut |l| v.push(l));
        (v, p.end)
    }

    fn text(reply: &[u8], chunk: usize) -> (Vec<u8>, TextStats) {
        let mut f = TextFilter::new();
        let mut out = Vec::new();
        for c in reply.chunks(chunk.max(1)) {
            f.feed(c, &mut out).unwrap();
        }
        f.finish(&mut out).unwrap();
        (out, f.stats)
    }

    #[test]
    fn menu_lines_of_both_real_shapes() {
        let reply =
            b"iWelcome\tfake\t(NULL)\t0\r\n0About\t/about.txt\th\t70\r\n9Blob\t/b\th\t70\t+\r\n.\r\njunk";
        let (v, end) = lines(reply, 7);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v[0],
            Line::Info {
                text: "Welcome".into()
            }
        );
        let Line::Item(i) = &v[2] else { panic!() };
        assert_eq!((i.item_type, i.port, i.plus.as_deref()), ('9', 70, Some("+")));
        assert!(end.terminator);
        assert_eq!(end.after_terminator, 4);
        // LF only, no terminator (as some servers send).
        let (v, end) = lines(b"1Sub\t/s\th\t70\n0T\t/t\th\t70", 3);
        assert_eq!(v.len(), 2);
        assert_eq!((end.lf, end.unterminated, end.terminator), (1, 1, false));
    }

    #[test]
    fn malformed_lines_are_kept_with_a_reason() {
        for l in [
            &b""[..],
            b"0only display",
            b"0a\tb\tc\tport",
            b"0a\tb\tc\t99999",
            b"\tx\ty\t70",
        ] {
            assert!(matches!(parse_line(l), Line::Malformed { .. }), "{l:?}");
        }
        let (v, _) = lines(&vec![b'0'; MAX_LINE * 2], 4096);
        assert!(matches!(&v[0], Line::Malformed { why, .. } if why.contains("longer")));
    }

    #[test]
    fn text_terminator_and_stuffing() {
        let (out, s) = text(b"a\r\n..b\r\n.\r\n", 1);
        assert_eq!(out, b"a\r\n.b\r\n");
        assert!(s.terminator);
        assert_eq!(s.unstuffed, 1);
        // A server that does not stuff: ".x" stays, "." mid-text stays, no terminator.
        let (out, s) = text(b".x\n.\nend\n..y\n", 2);
        assert_eq!(out, b".x\n.\nend\n..y\n");
        assert!(!s.terminator);
        // A final "." without a line end is the terminator too.
        assert_eq!(text(b"a\n.", 5).0, b"a\n");
        assert_eq!(text(b"a\n.\r", 5).0, b"a\n");
        assert_eq!(text(b".\rx\n", 1).0, b".\rx\n");
        assert_eq!(text(b"", 1).0, b"");
    }

    fn field() -> impl Strategy<Value = String> {
        "[^\t\r\n]{0,20}"
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(
            t in proptest::char::any().prop_filter("a type", |c| *c != 'i' && *c != '\t' && !c.is_control()),
            display in field(), selector in field(), host in field(), port in any::<u16>(),
            plus in proptest::option::of("[+?$!]"),
        ) {
            let item = Item { item_type: t, display, selector, host, port, plus };
            prop_assert_eq!(parse_line(format_item(&item).as_bytes()), Line::Item(item));
        }

        #[test]
        fn text_filter_chunking_does_not_matter(body in proptest::collection::vec(
            prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'a')], 0..64), chunk in 1usize..9) {
            prop_assert_eq!(text(&body, chunk), text(&body, body.len().max(1)));
        }

        #[test]
        fn stuffed_text_comes_back(lines in proptest::collection::vec("[.a-z ]{0,8}", 0..10)) {
            // What an RFC 1436 server sends for these lines: dots doubled, "." at the end.
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for l in &lines {
                if l.starts_with('.') { wire.push(b'.'); }
                wire.extend_from_slice(l.as_bytes());
                wire.extend_from_slice(b"\r\n");
                want.extend_from_slice(l.as_bytes());
                want.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b".\r\n");
            let (out, s) = text(&wire, 3);
            prop_assert_eq!(out, want);
            prop_assert!(s.terminator);
        }

        #[test]
        fn menu_parser_never_loses_bytes_silently(reply in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..50) {
            let (a, ea) = lines(&reply, chunk);
            let (b, eb) = lines(&reply, reply.len().max(1));
            prop_assert_eq!(a, b);
            prop_assert_eq!(ea, eb);
        }
    }
}
