//! What the server says: the greeting, the prompt, and the count of one line —
//! characters and bytes — plus what the book's Python 2 and a Python 3 port would
//! have counted for the same bytes. Pure functions, so the tests can pin every byte.

use std::net::SocketAddr;

/// The prompt, exactly as the book wrote it: no newline, no space after the colon.
pub const PROMPT: &str = "Please enter a string:";

/// Whitespace as Python 2's `str.strip()` saw it on a byte string (C `isspace` in the
/// "C" locale): space, \t, \n, \v, \f, \r.
pub fn is_py2_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Whitespace as Python 3's `str.strip()` sees it: Unicode White_Space plus the four
/// separators U+001C..U+001F that Python also counts (`str.isspace`).
pub fn is_py3_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The book's `line.strip()` on the bytes read: leading and trailing ASCII whitespace
/// go, so telnet's CRLF and nc's LF end up the same.
pub fn strip(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| !is_py2_space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|&b| !is_py2_space(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// One counted line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Bytes after stripping: what the book's Python 2 printed.
    pub bytes: usize,
    /// Unicode characters after stripping, when the bytes are valid UTF-8.
    pub chars: Option<usize>,
}

/// Counts a line as read (newline included or not).
pub fn count(line: &[u8]) -> Count {
    let s = strip(line);
    Count {
        bytes: s.len(),
        chars: std::str::from_utf8(s).ok().map(|t| t.chars().count()),
    }
}

/// What `len(line.strip())` gave in the book's Python 2 server (bytes).
pub fn python2_count(line: &[u8]) -> usize {
    strip(line).len()
}

/// What a Python 3 text-mode port (`makefile('r', encoding='utf-8')`, `str.strip()`)
/// would count: characters, or the error that would have ended the book's server loop.
pub fn python3_count(line: &[u8]) -> Result<usize, &'static str> {
    let s = std::str::from_utf8(line).map_err(|_| "UnicodeDecodeError")?;
    Ok(s.trim_matches(is_py3_space).chars().count())
}

/// "welcome, ('127.0.0.1', 54321)\n": the book wrote `str(clientaddr)`, Python's text
/// for the address tuple — (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6.
pub fn greeting(peer: &SocketAddr) -> String {
    match peer {
        SocketAddr::V4(a) => format!("welcome, ('{}', {})\n", a.ip(), a.port()),
        SocketAddr::V6(a) => format!(
            "welcome, ('{}', {}, {}, {})\n",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
    }
}

/// The answer line. ASCII gets the book's exact sentence; when characters and bytes
/// differ both are given; bytes that are not UTF-8 are counted as bytes, with a note.
pub fn answer(c: &Count) -> String {
    match c.chars {
        Some(n) if n == c.bytes => format!("You entered {n} characters.\n"),
        Some(n) => format!("You entered {n} characters ({} bytes in UTF-8).\n", c.bytes),
        None => format!(
            "You entered {} bytes (not valid UTF-8, so counted as bytes).\n",
            c.bytes
        ),
    }
}

/// The message a client gets when its line is over the limit, before the server closes.
pub fn too_long(limit: usize) -> String {
    format!("\nLine too long: the limit is {limit} bytes. Closing.\n")
}

/// The message a client gets when the server stops while it is connected.
pub const SHUTTING_DOWN: &str = "\nThe server is shutting down. Closing.\n";

/// The message a client gets when its line did not arrive within the time allowed for one.
pub fn too_slow(secs: f64) -> String {
    format!("\nYour line took more than {secs} s to arrive. Closing.\n")
}

/// The message a client gets after sending nothing for the idle timeout.
pub fn idle(secs: f64) -> String {
    format!("\nNo input for {secs} s. Closing.\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crlf_and_lf_count_the_same() {
        assert_eq!(count(b"hello\r\n"), count(b"hello\n"));
        assert_eq!(count(b"hello\n").chars, Some(5));
        assert_eq!(
            count(b"  \thello \x0b\x0c\r\n").bytes,
            5,
            "strip() takes all ASCII whitespace"
        );
        assert_eq!(count(b"a b\n").bytes, 3, "inner spaces stay");
    }

    #[test]
    fn chinese_is_two_characters_six_bytes() {
        let c = count("你好\r\n".as_bytes());
        assert_eq!(
            c,
            Count {
                bytes: 6,
                chars: Some(2)
            }
        );
        assert_eq!(answer(&c), "You entered 2 characters (6 bytes in UTF-8).\n");
        assert_eq!(python2_count("你好\n".as_bytes()), 6);
        assert_eq!(python3_count("你好\n".as_bytes()), Ok(2));
    }

    #[test]
    fn invalid_utf8_is_counted_in_bytes() {
        let c = count(b"\xff\xfeab\n");
        assert_eq!(
            c,
            Count {
                bytes: 4,
                chars: None
            }
        );
        assert!(answer(&c).contains("4 bytes (not valid UTF-8"));
        assert_eq!(python3_count(b"\xff\n"), Err("UnicodeDecodeError"));
    }

    #[test]
    fn python3_strips_unicode_space_python2_does_not() {
        let line = "\u{3000}你\n".as_bytes();
        assert_eq!(python3_count(line), Ok(1));
        assert_eq!(python2_count(line), 6, "U+3000 is 3 bytes Python 2 kept");
        assert_eq!(python3_count(b"\x1cx\n"), Ok(1));
    }

    #[test]
    fn greeting_is_pythons_tuple_text() {
        let a: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        assert_eq!(greeting(&a), "welcome, ('127.0.0.1', 54321)\n");
        let b: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(greeting(&b), "welcome, ('::1', 80, 0, 0)\n");
        assert_eq!(answer(&count(b"")), "You entered 0 characters.\n");
    }

    proptest! {
        #[test]
        fn strip_is_idempotent_and_bounded(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = strip(&v);
            prop_assert_eq!(strip(s), s);
            prop_assert!(s.len() <= v.len());
            prop_assert!(s.first().is_none_or(|&b| !is_py2_space(b)));
            prop_assert!(s.last().is_none_or(|&b| !is_py2_space(b)));
        }

        #[test]
        fn ascii_counts_agree_everywhere(s in "[ -~]{0,40}") {
            let c = count(s.as_bytes());
            prop_assert_eq!(c.chars, Some(c.bytes));
            prop_assert_eq!(python3_count(s.as_bytes()), Ok(c.bytes));
        }
    }
}
