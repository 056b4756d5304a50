//! The measurement: the book's exchange (recv(2048) until the server closes) against the
//! local responder, for the root menu and for a text item. [`Data`] holds what the client
//! sent, each recv size, how the loop ended, the reply's bytes, and what the server read.

use crate::gopher::client::{self, End, Options, BOOK_CHUNK};
use crate::gopher::responder;
use crate::gopher::url;
use crate::sandbox::Ctx;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub menu: Fetched,
    pub text: Fetched,
    /// What the responder read from each client, in order: the proof of what went on the wire.
    #[serde(with = "bytes_list")]
    pub received: Vec<Vec<u8>>,
}

/// One run of the book's loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fetched {
    /// The address connected to.
    pub peer: String,
    /// The request the client wrote.
    #[serde(with = "bytes_text")]
    pub sent: Vec<u8>,
    /// What each recv(2048) that returned data returned.
    pub chunk_sizes: Vec<usize>,
    pub total: u64,
    pub end: Ending,
    /// The reply as received.
    #[serde(with = "bytes_text")]
    pub raw: Vec<u8>,
}

impl Fetched {
    /// recv calls that returned data.
    pub fn chunks(&self) -> usize {
        self.chunk_sizes.len()
    }
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// recv returned 0: the server closed.
    Eof,
    /// The byte cap was reached first.
    Cap,
}

pub fn measure(ctx: &Ctx) -> Result<Data> {
    ctx.progress("starting a Gopher responder on 127.0.0.1");
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    let server = responder::responder(l, 2);
    let menu = book_fetch(port, b"");
    let text = book_fetch(port, b"/about.txt");
    let received = server
        .join()
        .map_err(|_| anyhow!("the responder thread panicked"))?
        .context("the responder")?;
    Ok(Data {
        menu: menu.context("fetch the menu")?,
        text: text.context("fetch /about.txt")?,
        received,
    })
}

/// The book's loop: connect, send the selector and CR LF, recv(2048) until 0.
fn book_fetch(port: u16, selector: &[u8]) -> Result<Fetched> {
    let mut t = url::parse_args(&["127.0.0.1".into(), String::from_utf8_lossy(selector).into_owned()])
        .map_err(|e| anyhow!("{e}"))?;
    t.port = port;
    let opts = Options {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        max_bytes: 1 << 20,
        chunk: BOOK_CHUNK,
        max_time: Duration::from_secs(10),
    };
    let mut raw = Vec::new();
    let ex = client::fetch(&t, &opts, &mut |c| {
        raw.extend_from_slice(c);
        Ok(())
    })?;
    Ok(Fetched {
        peer: ex.peer,
        sent: ex.sent,
        chunk_sizes: ex.chunk_sizes,
        total: ex.total,
        end: match ex.end {
            End::Eof => Ending::Eof,
            End::Cap => Ending::Cap,
        },
        raw,
    })
}

/// Bytes in JSON as one readable string: printable ASCII as is, the rest as \r \n \t \xNN.
pub mod bytes_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b.escape_ascii().to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        unescape(&String::deserialize(d)?).ok_or_else(|| D::Error::custom("bad escape in bytes"))
    }

    /// The inverse of `escape_ascii`.
    pub fn unescape(s: &str) -> Option<Vec<u8>> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let (byte, len) = match *b.get(i + 1)? {
                b'r' => (b'\r', 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                c @ (b'\\' | b'\'' | b'"') => (c, 2),
                b'x' => (u8::from_str_radix(s.get(i + 2..i + 4)?, 16).ok()?, 4),
                _ => return None,
            };
            out.push(byte);
            i += len;
        }
        Some(out)
    }
}

/// A list of byte strings, each as [`bytes_text`].
pub mod bytes_list {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| b.escape_ascii().to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| super::bytes_text::unescape(s).ok_or_else(|| D::Error::custom("bad escape in bytes")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_json() {
        let b: Vec<u8> = (0u8..=255).collect();
        assert_eq!(bytes_text::unescape(&b.escape_ascii().to_string()), Some(b));
    }

    /// On this kernel: the server read exactly the selector and CR LF, and a menu over 2 KiB
    /// came in several recv(2048) calls, the loop ending on EOF.
    #[test]
    fn the_book_exchange_on_loopback() {
        let d: Data = crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            Ok(crate::labs::assemble::<super::super::Gopher>(&measure(ctx)?))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap();
        assert_eq!(d.received, [b"\r\n".to_vec(), b"/about.txt\r\n".to_vec()]);
        assert_eq!(d.menu.sent, b"\r\n");
        assert!(d.menu.chunks() >= 2, "{:?}", d.menu.chunk_sizes);
        assert!(d.menu.chunk_sizes.iter().all(|&n| n <= BOOK_CHUNK));
        assert_eq!(d.menu.total as usize, d.menu.raw.len());
        assert_eq!((d.menu.end, d.text.end), (Ending::Eof, Ending::Eof));
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Data>(&json).unwrap(), d);
    }
}
