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

    /// "ok", "ok; <its notes>", "error: <its message>" (the messages are quoted as printed).
    pub fn says(&self) -> Text {
        match self {
            LabRead::NoTarget => t!(S, "says.no_target"),
            LabRead::Target(t) if t.notes.is_empty() => t!(S, "says.ok"),
            LabRead::Target(t) => t!(S, "says.ok_notes", notes = t.notes.join("; ")),
            LabRead::Error(e) => t!(S, "says.error", message = e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .starts_with("socket.gaierror: [Errno -2] Name or service not known"));
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
        assert!(r.says().en.starts_with("ok; "));
        assert!(matches!(lab(&v(&["quux.org:99999"])), LabRead::Error(_)));
        assert_eq!(lab(&[]), LabRead::NoTarget);
    }
}
