//! The measurement: the book's exchange (recv(2048) until the server closes) against the
//! local responder, for the root menu and for a text item. [`Data`] holds what the client
//! sent, each recv size, how the loop ended, the reply's bytes, and what the server read.

use crate::gopher::bytes::{bytes_list, bytes_text};
use crate::gopher::client::{self, End, Options, BOOK_CHUNK};
use crate::gopher::responder;
use crate::gopher::url;
use crate::labs::wire::{self, Recorder, Wire};
use crate::report::Measured;
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
    /// The packets of both fetches (scenario "fetches": flow 1 the menu, flow 2 the text),
    /// or why they were not captured.
    pub wire: Measured<Vec<Wire>>,
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
    // In a namespace of its own, captured from before the responder's socket to after the
    // last close: the two fetches one after another, so flow 1 is the menu, 2 the text.
    ctx.isolated(|| {
        let rec = Recorder::start(ctx);
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let server = responder::responder(l, 2);
        let menu = book_fetch(port, b"");
        rec.mark(port);
        let text = book_fetch(port, b"/about.txt");
        rec.mark(port);
        let received = server
            .join()
            .map_err(|_| anyhow!("the responder thread panicked"))?
            .context("the responder")?;
        rec.mark(port);
        let taken = rec.finish("fetches", port);
        Ok(Data {
            menu: menu.context("fetch the menu")?,
            text: text.context("fetch /about.txt")?,
            received,
            wire: wire::wires(ctx, taken)?,
        })
    })
    .0
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
        ..Options::default()
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

#[cfg(test)]
mod tests {
    use super::*;

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
