//! What follows from the code, without running anything: what the book's program does with
//! an argv (from `host = sys.argv[1]`, `filename = sys.argv[2]`, an AF_INET socket to port 70,
//! `sendall(filename + "\r\n")`), and what `lab gopher`'s parser reads from the same words.
//! Pure functions of the argv: tables and findings both call them.

use super::measure::Major;
use super::STRINGS as S;
use crate::gopher::url::{self, Target};
use crate::report::Text;
use crate::t;
use std::net::Ipv6Addr;

/// What the book's program does, derived from its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `sys.argv[index]` does not exist.
    IndexError { index: u8 },
    /// The host argument is not a name getaddrinfo can find (it holds ':' or '/').
    NoSuchName { host: String },
    /// An IPv6 address given to an AF_INET socket.
    WrongFamily { host: String },
    /// Python 2: connects and sends the selector and CR LF.
    Sends { host: String, request: Vec<u8> },
    /// Python 3: connects, then `sendall` refuses a str.
    TypeError { host: String },
}

/// An outcome and the arguments the program never reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub outcome: Outcome,
    pub ignored: usize,
}

fn is_ipv6(h: &str) -> bool {
    h.trim_matches(['[', ']']).parse::<Ipv6Addr>().is_ok()
}

pub fn book(argv: &[String], major: Major) -> Derived {
    let (outcome, ignored) = match argv {
        [] => (Outcome::IndexError { index: 1 }, 0),
        [_] => (Outcome::IndexError { index: 2 }, 0),
        [host, selector, rest @ ..] => {
            let host = host.clone();
            let plain = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            let o = if is_ipv6(&host) {
                Outcome::WrongFamily { host }
            } else if !plain {
                Outcome::NoSuchName { host }
            } else if major == Major::Python3 {
                Outcome::TypeError { host }
            } else {
                Outcome::Sends {
                    host,
                    request: format!("{selector}\r\n").into_bytes(),
                }
            };
            (o, rest.len())
        }
    };
    Derived { outcome, ignored }
}

impl Derived {
    pub fn text(&self) -> Text {
        let main = match &self.outcome {
            Outcome::IndexError { index: 1 } => t!(S, "book.index_error.host"),
            Outcome::IndexError { .. } => t!(S, "book.index_error.filename"),
            Outcome::NoSuchName { host } => t!(S, "book.no_such_name", host = format!("{host:?}")),
            Outcome::WrongFamily { host } => t!(S, "book.wrong_family", host = host),
            Outcome::Sends { host, request } => {
                t!(S, "book.sends", host = host, request = request.escape_ascii())
            }
            Outcome::TypeError { host } => t!(S, "book.type_error", host = host),
        };
        if self.ignored == 0 {
            main
        } else {
            t!(S, "book.ignores", outcome = main, n = self.ignored)
        }
    }

    pub fn connects(&self) -> bool {
        matches!(self.outcome, Outcome::Sends { .. } | Outcome::TypeError { .. })
    }
}

/// What `lab gopher` reads from the same words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabRead {
    /// No words: `lab gopher` runs its experiment instead.
    NoTarget,
    Target(Target),
    /// The parser's own message, as `lab gopher` prints it on stderr.
    Error(String),
}

pub fn lab(argv: &[String]) -> LabRead {
    if argv.is_empty() {
        return LabRead::NoTarget;
    }
    match url::parse_args(argv) {
        Ok(t) => LabRead::Target(t),
        Err(e) => LabRead::Error(e.to_string()),
    }
}

impl LabRead {
    pub fn target(&self) -> Option<&Target> {
        match self {
            LabRead::Target(t) => Some(t),
            _ => None,
        }
    }

    /// "ok", "ok; <its notes>", "error: <its message>". The English quotes the parser's own
    /// words (what `lab gopher` prints on stderr); the Chinese says the same from the typed
    /// reading of the argv ([`notes`], [`refusal`]), never from the English text.
    pub fn says(&self, argv: &[String]) -> Text {
        match self {
            LabRead::NoTarget => t!(S, "says.no_target"),
            LabRead::Target(t) if t.notes.is_empty() => t!(S, "says.ok"),
            LabRead::Target(t) => {
                let zh: Vec<Text> = notes(argv, t).iter().map(|n| n.text(argv, t)).collect();
                Text {
                    en: t!(S, "says.ok_notes", notes = t.notes.join("; ")).en,
                    zh: t!(S, "says.ok_notes", notes = Text::join(&zh, "; ", "；")).zh,
                }
            }
            LabRead::Error(e) => Text {
                en: t!(S, "says.error", message = e).en,
                zh: t!(S, "says.error", message = refusal(argv).text(argv)).zh,
            },
        }
    }
}

/// Why `lab gopher` adds a note to what it understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// `quux.org/...`: read as a gopher:// URL without its scheme.
    ReadAsUrl,
    /// One bare host: the root menu.
    NoSelector,
    /// A TAB in the selector: the rest is a search string.
    TabSearch,
    /// `%` in a typed selector: sent as typed.
    AsTyped,
    /// `?query` in a URL: the search string.
    Query,
}

fn scheme(arg: &str) -> Option<&str> {
    arg.split_once("://").map(|(s, _)| s)
}

/// The notes the parser gives for an argv it accepted, in its order.
pub fn notes(argv: &[String], t: &Target) -> Vec<Note> {
    match argv {
        [one] if scheme(one).is_some() => {
            let query = one.split_once('?').is_some();
            query.then_some(Note::Query).into_iter().collect()
        }
        [one] if one.contains('/') => {
            let mut v = vec![Note::ReadAsUrl];
            if t.search.is_some() && one.contains('?') {
                v.push(Note::Query);
            }
            v
        }
        [_] => vec![Note::NoSelector],
        [_, sel] => {
            let mut v = Vec::new();
            if sel.contains('\t') {
                v.push(Note::TabSearch);
            }
            if sel.contains('%') {
                v.push(Note::AsTyped);
            }
            v
        }
        _ => Vec::new(),
    }
}

fn lossy(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

impl Note {
    fn text(self, argv: &[String], t: &Target) -> Text {
        match self {
            Note::ReadAsUrl => {
                let arg = argv.first().map_or("", String::as_str);
                let (host_part, path) = arg.split_at(arg.find('/').unwrap_or(arg.len()));
                let book = super::tables::typed(&[host_part.to_string(), path.to_string()]);
                t!(
                    S,
                    "says.note.read_as_url",
                    arg = format!("{arg:?}"),
                    url = format!("gopher://{arg}"),
                    host = t.host,
                    ty = t.item_type.unwrap_or('1'),
                    selector = lossy(&t.selector),
                    book = format!("python {book}")
                )
            }
            Note::NoSelector => t!(S, "says.note.no_selector"),
            Note::TabSearch => t!(
                S,
                "says.note.tab_search",
                selector = lossy(&t.selector),
                search = lossy(t.search.as_deref().unwrap_or_default())
            ),
            Note::AsTyped => t!(S, "says.note.as_typed"),
            Note::Query => t!(S, "says.note.query"),
        }
    }
}

/// Why `lab gopher` refused an argv, read from the argv's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooMany {
        extra: usize,
    },
    Scheme {
        scheme: String,
    },
    Port {
        port: String,
    },
    HostChar {
        host: String,
        c: char,
    },
    /// Anything else: the English page quotes the parser.
    Other,
}

pub fn refusal(argv: &[String]) -> Refusal {
    let Some(first) = argv.first() else {
        return Refusal::Other;
    };
    if argv.len() > 2 {
        return Refusal::TooMany {
            extra: argv.len() - 2,
        };
    }
    if let Some(s) = scheme(first).filter(|s| !s.eq_ignore_ascii_case("gopher")) {
        return Refusal::Scheme { scheme: s.into() };
    }
    let host = first.trim_start_matches("gopher://");
    if let Some((_, port)) = host.split('/').next().and_then(|h| h.rsplit_once(':')) {
        if port.parse::<u32>().is_ok_and(|p| p == 0 || p > 65535) {
            return Refusal::Port { port: port.into() };
        }
    }
    let bad = |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'));
    if argv.len() == 2 {
        if let Some(c) = first.chars().find(|&c| bad(c)) {
            return Refusal::HostChar {
                host: first.clone(),
                c,
            };
        }
    }
    Refusal::Other
}

impl Refusal {
    fn text(&self, argv: &[String]) -> Text {
        let arg = argv.first().map_or(String::new(), |a| format!("{a:?}"));
        match self {
            Refusal::TooMany { extra } => {
                let cmd = format!("lab gopher {} '{}'", argv[0], argv[1..].join(" "));
                t!(S, "says.refusal.too_many", extra = extra, cmd = cmd)
            }
            Refusal::Scheme { scheme } => t!(S, "says.refusal.scheme", arg = arg, scheme = scheme),
            Refusal::Port { port } => t!(S, "says.refusal.port", arg = arg, port = port),
            Refusal::HostChar { host, c } => {
                t!(
                    S,
                    "says.refusal.host_char",
                    host = format!("{host:?}"),
                    c = format!("{c:?}")
                )
            }
            Refusal::Other => t!(S, "says.refusal.other"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::measure::Shape;
    use super::*;

    /// The typed reading behind the Chinese cell agrees with the parser, shape by shape:
    /// as many notes as it printed, and a named reason for every refusal.
    #[test]
    fn the_typed_reading_agrees_with_the_parser_for_every_shape() {
        for s in Shape::ALL {
            let argv = v(s.argv());
            match lab(&argv) {
                LabRead::Target(t) => {
                    assert_eq!(notes(&argv, &t).len(), t.notes.len(), "{s:?}: {:?}", t.notes)
                }
                LabRead::Error(e) => assert_ne!(refusal(&argv), Refusal::Other, "{s:?}: {e}"),
                LabRead::NoTarget => assert!(argv.is_empty()),
            }
            let says = lab(&argv).says(&argv);
            assert!(
                !says.zh.contains("ok;") && !says.zh.contains("error:"),
                "{s:?}: {}",
                says.zh
            );
        }
    }

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn derived_outcomes_follow_the_code() {
        let py2 = |a: &[&str]| book(&v(a), Major::Python2);
        assert_eq!(py2(&["quux.org/"]).outcome, Outcome::IndexError { index: 2 });
        assert_eq!(py2(&[]).outcome, Outcome::IndexError { index: 1 });
        assert!(py2(&[]).text().en.contains("sys.argv[1]"));
        assert!(py2(&["quux.org", "/"]).text().en.contains("sends \"/\\r\\n\""));
        assert!(matches!(
            book(&v(&["quux.org", "/"]), Major::Python3).outcome,
            Outcome::TypeError { .. }
        ));
        assert!(matches!(py2(&["::1", "/"]).outcome, Outcome::WrongFamily { .. }));
        assert!(matches!(
            py2(&["quux.org:70", "/"]).outcome,
            Outcome::NoSuchName { .. }
        ));
        assert_eq!(py2(&["quux.org", "/", "x"]).ignored, 1);
        assert!(py2(&["quux.org", "/", "x"]).text().en.contains("ignores 1"));
    }

    /// What Python prints for a name getaddrinfo cannot find (EAI_NONAME), not a paraphrase.
    #[test]
    fn the_learners_next_try_fails_with_pythons_own_gaierror_text() {
        let t = book(&v(&["quux.org/", "/"]), Major::Python2).text();
        assert!(
            t.en.starts_with("socket.gaierror: [Errno -2] Name or service not known"),
            "{}",
            t.en
        );
        assert!(t
            .zh
            .starts_with("`socket.gaierror: [Errno -2] Name or service not known`"));
        assert!(t.en.contains("\"quux.org/\""));
    }

    #[test]
    fn lab_reads_the_learners_argument_as_a_url() {
        let r = lab(&v(&["quux.org/"]));
        let t = r.target().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.item_type),
            ("quux.org", 70, Some('1'))
        );
        assert!(r.says(&v(&["quux.org/"])).en.starts_with("ok; "));
        assert!(matches!(lab(&v(&["quux.org:99999"])), LabRead::Error(_)));
        assert_eq!(lab(&[]), LabRead::NoTarget);
    }
}
