//! What the user typed → where to connect and what to send.
//!
//! Accepted shapes (`lab gopher ...`):
//! - `HOST [SELECTOR]`: the book's two arguments; the selector is sent as typed (a TAB in it
//!   starts a search string, as it would on the wire). No selector = the root menu.
//! - `HOST:PORT`, `[V6]:PORT`, a bare IPv6 literal.
//! - `gopher://HOST[:PORT]/[TYPE[SELECTOR[%09SEARCH[%09PLUS]]]]` (RFC 4266): percent-decoded,
//!   type 1 when the path is empty; a `?query` is a search, as curl reads it.
//! - `HOST/` and `HOST/TYPE...`: the learner's `quux.org/`, read as a URL without its scheme,
//!   with a note saying so.
//!
//! Anything else is a [`ParseError`]: what was understood, and what to type instead.

use std::fmt;
use std::net::Ipv6Addr;

/// The port of RFC 1436, and of the book's program.
pub const DEFAULT_PORT: u16 = 70;

/// One request: where to connect, what to send, how to read the reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Target {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The item type character; `None` when the user gave none (the book's form).
    pub item_type: Option<char>,
    /// The selector bytes, exactly as they go on the wire.
    pub selector: Vec<u8>,
    /// A search string (type 7), sent after a TAB.
    pub search: Option<Vec<u8>>,
    /// A Gopher+ string, sent after a second TAB.
    pub plus: Option<Vec<u8>>,
    /// How the input was read, when that is worth telling.
    pub notes: Vec<String>,
}

/// Input that could not be read: what was understood, and what to type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub understood: String,
    pub hint: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the user typed: control characters are shown escaped.
        let line = format!("{}; type: {}", self.understood, self.hint);
        for c in line.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Item types a learner may write after `HOST/` (RFC 1436 and the common additions).
pub const KNOWN_TYPES: &str = "0123456789+TgIhisdp;<";

impl std::error::Error for ParseError {}

fn err<T>(understood: impl Into<String>, hint: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        understood: understood.into(),
        hint: hint.into(),
    })
}

const USAGE: &str = "lab gopher HOST [SELECTOR]  or  lab gopher gopher://HOST[:PORT]/TYPE/SELECTOR";

impl Target {
    fn new(host: String, port: u16) -> Self {
        Target {
            host,
            port,
            item_type: None,
            selector: Vec::new(),
            search: None,
            plus: None,
            notes: Vec::new(),
        }
    }

    /// The request line: selector [TAB search [TAB plus]] CR LF (RFC 1436, RFC 2 of Gopher+).
    pub fn request(&self) -> Vec<u8> {
        let mut r = self.selector.clone();
        if self.search.is_some() || self.plus.is_some() {
            r.push(b'\t');
            r.extend_from_slice(self.search.as_deref().unwrap_or_default());
        }
        if let Some(p) = &self.plus {
            r.push(b'\t');
            r.extend_from_slice(p);
        }
        r.extend_from_slice(b"\r\n");
        r
    }

    /// `host:port`, with brackets around an IPv6 literal.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The same request as an RFC 4266 URL (type 1 when none was given).
    pub fn url(&self) -> String {
        let ty = self.item_type.unwrap_or('1');
        let mut u = format!("gopher://{}/", self.authority());
        if ty.is_ascii_graphic() && !"#?%".contains(ty) {
            u.push(ty);
        } else {
            u.push_str(&percent_encode(ty.to_string().as_bytes()));
        }
        u.push_str(&percent_encode(&self.selector));
        if self.search.is_some() || self.plus.is_some() {
            u.push_str("%09");
            u.push_str(&percent_encode(self.search.as_deref().unwrap_or_default()));
        }
        if let Some(p) = &self.plus {
            u.push_str("%09");
            u.push_str(&percent_encode(p));
        }
        u
    }
}

/// Reads `lab gopher`'s positional arguments.
pub fn parse_args(args: &[String]) -> Result<Target, ParseError> {
    match args {
        [] => err("no host given", format!("{USAGE}, e.g. lab gopher quux.org /")),
        [one] => parse_one(one),
        [host, selector] => parse_two(host, selector),
        [first, second, rest @ ..] => {
            let understood = match parse_two(first, second) {
                Ok(t) => format!(
                    "understood host {} and selector {:?}, then {} more argument(s) starting with {:?}",
                    t.authority(),
                    String::from_utf8_lossy(&t.selector),
                    rest.len(),
                    rest[0]
                ),
                Err(_) => format!("{} arguments", args.len()),
            };
            err(
                understood,
                format!(
                    "at most HOST and SELECTOR; quote a selector with spaces: lab gopher {} '{}'",
                    first,
                    args[1..].join(" ")
                ),
            )
        }
    }
}

/// One argument: a URL, `HOST`, `HOST:PORT`, or the learner's `HOST/...`.
fn parse_one(arg: &str) -> Result<Target, ParseError> {
    if let Some((scheme, _)) = split_scheme(arg) {
        if scheme.eq_ignore_ascii_case("gopher") {
            return parse_url(arg);
        }
        return err(
            format!("{arg:?} is a URL of scheme {scheme}, not gopher"),
            format!("lab gopher gopher://HOST/ (lab gopher speaks only Gopher), or {USAGE}"),
        );
    }
    if let Some(slash) = slash_after_host(arg) {
        // The learner's `quux.org/`: a gopher URL without its scheme.
        let (host_part, path) = arg.split_at(slash);
        if let Some(ty) = path[1..].chars().next().filter(|c| !KNOWN_TYPES.contains(*c)) {
            return err(
                format!(
                    "read {arg:?} as host {host_part:?} and path {path:?}, but as a gopher:// URL \
                     its first character {ty:?} would be the item type, and that is no Gopher type"
                ),
                format!(
                    "lab gopher {host_part} {} (the book's two arguments) or lab gopher gopher://{host_part}/0{path}",
                    shell_quote(path)
                ),
            );
        }
        let mut t = parse_url(&format!("gopher://{host_part}{path}")).map_err(|e| ParseError {
            understood: format!("read {arg:?} as gopher://{arg}, but {}", e.understood),
            hint: format!("lab gopher {host_part} '{path}' (host and selector as two arguments)"),
        })?;
        t.notes.insert(
            0,
            format!(
                "read {arg:?} as the URL gopher://{arg}: host {}, type {}, selector {:?}; \
                 the book's program wants two arguments: python gopherclient.py {} {}",
                t.host,
                t.item_type.unwrap_or('1'),
                String::from_utf8_lossy(&t.selector),
                host_part,
                if path == "/" {
                    "/".into()
                } else {
                    shell_quote(path)
                }
            ),
        );
        return Ok(t);
    }
    let (host, port) = parse_hostport(arg)?;
    let mut t = Target::new(host, port.unwrap_or(DEFAULT_PORT));
    t.item_type = Some('1');
    t.notes
        .push("no selector: asking for the root menu (an empty selector, type 1)".into());
    Ok(t)
}

/// The book's form: HOST and SELECTOR, the selector sent as typed.
fn parse_two(host: &str, selector: &str) -> Result<Target, ParseError> {
    if split_scheme(host).is_some() {
        return err(
            format!("{host:?} is a URL and {selector:?} a second argument"),
            format!("either the URL alone (lab gopher {host}) or HOST SELECTOR (lab gopher quux.org /)"),
        );
    }
    let (h, port) = parse_hostport(host)?;
    let mut t = Target::new(h, port.unwrap_or(DEFAULT_PORT));
    let bytes = selector.as_bytes();
    if let Some(bad) = bytes.iter().find(|&&b| b == b'\r' || b == b'\n') {
        return err(
            format!(
                "selector {selector:?} holds a {} byte, which would end the request line early",
                name(*bad)
            ),
            format!("lab gopher {host} SELECTOR without line breaks"),
        );
    }
    let mut parts = bytes.splitn(3, |&b| b == b'\t');
    t.selector = parts.next().unwrap_or_default().to_vec();
    t.search = parts.next().map(<[u8]>::to_vec);
    t.plus = parts.next().map(<[u8]>::to_vec);
    if t.search.is_some() {
        t.notes.push(format!(
            "the selector holds a TAB: the server reads selector {:?} and search {:?}",
            String::from_utf8_lossy(&t.selector),
            String::from_utf8_lossy(t.search.as_deref().unwrap_or_default())
        ));
    }
    if t.selector.is_empty() || t.selector == b"/" {
        t.item_type = Some('1');
    }
    if selector.contains('%') {
        t.notes
            .push("the selector is sent as typed: %XX is decoded only in gopher:// URLs".into());
    }
    Ok(t)
}

fn name(b: u8) -> &'static str {
    match b {
        b'\r' => "CR",
        b'\n' => "LF",
        _ => "control",
    }
}

/// Quotes for a POSIX shell when needed, so a hint can be pasted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:".contains(&b))
    {
        s.into()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `scheme://rest` → (scheme, rest), for RFC 3986 scheme characters.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    ok.then_some((scheme, rest))
}

/// Where the path starts in `HOST[:PORT]/...`, if the text has that shape.
fn slash_after_host(s: &str) -> Option<usize> {
    if s.starts_with('[') {
        let close = s.find(']')?;
        return s[close..].find('/').map(|i| close + i);
    }
    s.find('/').filter(|&i| i > 0)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 literal.
pub fn parse_hostport(s: &str) -> Result<(String, Option<u16>), ParseError> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return err(
                format!("{s:?} opens '[' for an IPv6 address but never closes it"),
                "[ADDRESS]:PORT, e.g. lab gopher '[::1]:7070'",
            );
        };
        let host = parse_v6(inside)?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((host, Some(parse_port(p, s)?))),
                None => err(
                    format!("{after:?} after the IPv6 address [{inside}]"),
                    "[ADDRESS]:PORT, e.g. lab gopher '[::1]:7070'",
                ),
            },
        };
    }
    if s.matches(':').count() >= 2 {
        return Ok((parse_v6(s)?, None));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(p, s)?)),
        None => (s, None),
    };
    check_host(host)?;
    Ok((host.to_string(), port))
}

fn parse_v6(s: &str) -> Result<String, ParseError> {
    // A zone (`fe80::1%eth0`) is left out on purpose: loopback and routed addresses need none.
    match s.parse::<Ipv6Addr>() {
        Ok(a) => Ok(a.to_string()),
        Err(_) => err(
            format!("{s:?} looks like an IPv6 address but is not one"),
            "an address like ::1, in brackets with a port: lab gopher '[::1]:7070'",
        ),
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, ParseError> {
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => err(
            format!("port {n} in {whole:?} is outside 1-65535"),
            "HOST:PORT with a port from 1 to 65535 (Gopher's is 70)",
        ),
        Err(_) if p.is_empty() => err(
            format!("{whole:?} ends in ':' with no port"),
            "HOST or HOST:PORT, e.g. lab gopher quux.org:70",
        ),
        Err(_) => err(
            format!("port {p:?} in {whole:?} is not a number"),
            "HOST:PORT with a port from 1 to 65535 (Gopher's is 70)",
        ),
    }
}

fn check_host(h: &str) -> Result<(), ParseError> {
    if h.is_empty() {
        return err(
            "an empty host name",
            format!("{USAGE}, e.g. lab gopher quux.org /"),
        );
    }
    if let Some(c) = h
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
    {
        let hint = if c.is_ascii() {
            format!("{USAGE} (a host name holds letters, digits, '-', '.' only)")
        } else {
            format!("{USAGE} (write an international name in its xn-- ASCII form)")
        };
        return err(format!("host {h:?} holds {c:?}"), hint);
    }
    if h.len() > 253 {
        return err(
            format!("a host name of {} characters", h.len()),
            "a name of at most 253 characters",
        );
    }
    Ok(())
}

/// RFC 4266: gopher://HOST[:PORT]/[TYPE[SELECTOR[%09SEARCH[%09PLUS]]]].
pub fn parse_url(url: &str) -> Result<Target, ParseError> {
    let Some((scheme, rest)) = split_scheme(url) else {
        return err(format!("{url:?} is not a URL"), USAGE);
    };
    if !scheme.eq_ignore_ascii_case("gopher") {
        return err(
            format!("{url:?} is a URL of scheme {scheme}, not gopher"),
            "gopher://HOST/TYPE/SELECTOR",
        );
    }
    let (authority, path) = match slash_after_host(rest) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None if rest.starts_with('/') => ("", &rest[1..]),
        None => (rest, ""),
    };
    // A fragment never reaches the server.
    let path = path.split_once('#').map_or(path, |(p, _)| p);
    if authority.contains('@') {
        return err(
            format!("{url:?} names a user"),
            "gopher://HOST[:PORT]/ (Gopher has no user names)",
        );
    }
    let (host, port) = parse_hostport(authority).map_err(|e| ParseError {
        understood: format!("in {url:?}: {}", e.understood),
        hint: e.hint,
    })?;
    let mut t = Target::new(host, port.unwrap_or(DEFAULT_PORT));
    // curl sends `?query` as a search string; do the same so both fetch the same thing.
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let decoded = percent_decode(path).map_err(|e| ParseError {
        understood: format!("in {url:?}: {}", e.understood),
        hint: e.hint,
    })?;
    let Some((&ty, rest)) = decoded.split_first() else {
        t.item_type = Some('1');
        if query.is_some() {
            return err(
                format!("{url:?} has a ?query but no item type or selector"),
                "gopher://HOST/7/SELECTOR?WORDS",
            );
        }
        return Ok(t);
    };
    if !ty.is_ascii_graphic() {
        return err(
            format!(
                "in {url:?} the item type {:?} is not one visible character",
                ty as char
            ),
            "gopher://HOST/TYPE/SELECTOR with TYPE like 0 (text), 1 (menu), 9 (binary)",
        );
    }
    t.item_type = Some(ty as char);
    if rest.iter().any(|&b| b == b'\r' || b == b'\n') {
        return err(
            format!("in {url:?} the selector decodes to a CR or LF, which would end the request early"),
            "a selector without %0D or %0A",
        );
    }
    let mut parts = rest.splitn(3, |&b| b == b'\t');
    t.selector = parts.next().unwrap_or_default().to_vec();
    t.search = parts.next().map(<[u8]>::to_vec);
    t.plus = parts.next().map(<[u8]>::to_vec);
    if let Some(q) = query {
        if t.search.is_some() {
            return err(
                format!("{url:?} has both a %09 search and a ?query"),
                "one of them: gopher://HOST/7/SELECTOR%09WORDS",
            );
        }
        let q = percent_decode(q)?;
        if q.iter().any(|&b| b == b'\r' || b == b'\n') {
            return err(
                format!("in {url:?} the query decodes to a CR or LF"),
                "a query without %0D or %0A",
            );
        }
        t.notes
            .push("read ?query as the search string, as curl does".into());
        t.search = Some(q);
    }
    Ok(t)
}

/// Decodes `%XX` escapes; any other byte stands for itself.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, ParseError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                _ => {
                    return err(
                        format!("'%' at byte {i} of {s:?} is not followed by two hex digits"),
                        "write a literal % as %25",
                    )
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(out)
}

/// Encodes every byte outside RFC 3986's unreserved set and '/'.
pub fn percent_encode(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn ok(a: &[&str]) -> Target {
        parse_args(&args(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"))
    }

    #[test]
    fn the_books_two_arguments() {
        let t = ok(&["quux.org", "/"]);
        assert_eq!((t.host.as_str(), t.port), ("quux.org", 70));
        assert_eq!(t.request(), b"/\r\n");
        let t = ok(&["quux.org", ""]);
        assert_eq!(t.request(), b"\r\n");
        assert_eq!(t.item_type, Some('1'));
        let t = ok(&["quux.org", "/a b"]);
        assert_eq!(t.request(), b"/a b\r\n");
        assert_eq!(t.item_type, None, "the book's form gives no type");
        let t = ok(&["quux.org", "/a%20b"]);
        assert_eq!(t.selector, b"/a%20b", "sent as typed");
    }

    #[test]
    fn a_tab_in_the_selector_is_a_search() {
        let t = ok(&["quux.org", "/find\tsocket"]);
        assert_eq!(t.selector, b"/find");
        assert_eq!(t.search.as_deref(), Some(&b"socket"[..]));
        assert_eq!(t.request(), b"/find\tsocket\r\n");
    }

    #[test]
    fn the_learners_one_argument() {
        let t = ok(&["quux.org/"]);
        assert_eq!(
            (t.host.as_str(), t.port, t.item_type),
            ("quux.org", 70, Some('1'))
        );
        assert_eq!(t.request(), b"\r\n");
        assert!(t.notes[0].contains("gopherclient.py quux.org /"), "{:?}", t.notes);
        let t = ok(&["quux.org/0/about.txt"]);
        assert_eq!(
            (t.item_type, t.selector.as_slice()),
            (Some('0'), &b"/about.txt"[..])
        );
    }

    #[test]
    fn urls_per_rfc_4266() {
        let t = ok(&["gopher://quux.org/1/"]);
        assert_eq!((t.item_type, t.selector.as_slice()), (Some('1'), &b"/"[..]));
        let t = ok(&["gopher://quux.org:70/0/about.txt"]);
        assert_eq!((t.port, t.item_type), (70, Some('0')));
        assert_eq!(t.selector, b"/about.txt");
        let t = ok(&["gopher://quux.org"]);
        assert_eq!((t.item_type, t.request()), (Some('1'), b"\r\n".to_vec()));
        let t = ok(&["GOPHER://h:7070/7/find%09two%20words"]);
        assert_eq!(t.port, 7070);
        assert_eq!(t.request(), b"/find\ttwo words\r\n");
        let t = ok(&["gopher://h/7/find?x%20y"]);
        assert_eq!(t.request(), b"/find\tx y\r\n");
        let t = ok(&["gopher://[::1]:7070/0/x"]);
        assert_eq!((t.host.as_str(), t.port), ("::1", 7070));
        assert_eq!(t.authority(), "[::1]:7070");
    }

    #[test]
    fn host_port_and_ipv6() {
        let t = ok(&["quux.org:7070"]);
        assert_eq!((t.port, t.item_type), (7070, Some('1')));
        assert_eq!(ok(&["::1"]).host, "::1");
        assert_eq!(ok(&["[::1]:71", "/x"]).port, 71);
        assert_eq!(ok(&["0:0:0:0:0:0:0:1", "/"]).host, "::1");
    }

    #[test]
    fn bad_input_says_what_was_understood_and_what_to_type() {
        for a in [
            &[][..],
            &["quux.org:99999"],
            &["quux.org:0"],
            &["quux.org:x"],
            &["quux.org", "/", "extra"],
            &["http://quux.org/"],
            &["gopher://quux.org/0/%zz"],
            &["quux.org/about.txt"][..],
            &["[::1"],
            &["[:::]:70"],
            &["gopher://u@h/"],
            &["quux.org", "a\r\nb"],
            &["gopher://h/0/a%0Ab"],
            &["gopher://h/%01x"],
            &["bad host", "/"],
            &["gopher://quux.org/1/", "/"],
        ] {
            let e = parse_args(&args(a)).expect_err(&format!("{a:?} must fail"));
            let line = e.to_string();
            assert!(line.contains("; type: "), "{line}");
            assert!(!line.contains('\n'), "one line: {line:?}");
        }
        let e = parse_args(&args(&["quux.org", "/a", "b"])).unwrap_err();
        assert!(e.hint.contains("'/a b'"), "{e}");
    }

    fn selector_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no line end", |b| *b != b'\r' && *b != b'\n' && *b != b'\t'),
            0..40,
        )
    }

    proptest! {
        #[test]
        fn built_urls_parse_back(
            host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
            port in 1u16..,
            ty in proptest::char::range('!', '~'),
            selector in selector_bytes(),
            search in proptest::option::of(selector_bytes()),
        ) {
            let mut t = Target::new(host, port);
            t.item_type = Some(ty);
            t.selector = selector;
            t.search = search;
            let back = parse_url(&t.url()).unwrap();
            prop_assert_eq!(back.request(), t.request());
            prop_assert_eq!(back.item_type, t.item_type);
            prop_assert_eq!(back.authority(), t.authority());
        }

        #[test]
        fn decode_undoes_encode(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(percent_decode(&percent_encode(&b)).unwrap(), b);
        }

        #[test]
        fn any_argv_gives_a_target_or_one_line(a in proptest::collection::vec(".{0,30}", 0..4)) {
            match parse_args(&a) {
                Ok(t) => prop_assert!(t.request().ends_with(b"\r\n")),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
