//! The measurements: the book's server in a thread of this process, real TCP clients
//! (threads too) on loopback. Every thread is joined and every wait is bounded.

use super::line_server::{with_server, Served, Setup};
use crate::labs::wire::{self, Recorder, Taken, Wire};
use crate::line::count::{self, PROMPT};
use crate::report::{Call, Measured};
use crate::sandbox::Ctx;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_secs(5);
/// The server's --max-line in the experiment.
pub const MAX_LINE: usize = 4096;
/// Clients at once in the load test; the first is silent.
pub const LOAD_CLIENTS: usize = 20;
/// The idle timeout in the load test.
pub const LOAD_IDLE: Duration = Duration::from_millis(1000);
/// listen() backlog in the load test: large enough that no SYN is retransmitted.
pub const LOAD_BACKLOG: i32 = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The server's line limit in this run.
    pub max_line: usize,
    /// What the first client received before it typed: greeting and prompt.
    pub greeting: String,
    pub answers: Vec<Answer>,
    pub modes: Vec<ModeRun>,
    /// The hostile mix against each design, each its own server process.
    pub designs: super::designs::Designs,
    /// The packets of the first table's clients (scenario "answers", flow i + 1 is the
    /// i-th case of [`Case::ALL`]), or why they were not captured. The load test and the
    /// designs are not captured: thousands of packets that teach nothing new.
    pub wire: Measured<Vec<Wire>>,
}

/// One kind of input a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    AsciiLf,
    AsciiCrlf,
    Chinese,
    SpacesTab,
    IdeographicSpace,
    InvalidUtf8,
    Empty,
    NoNewline,
    Oversized,
}

impl Case {
    pub const ALL: [Case; 9] = [
        Case::AsciiLf,
        Case::AsciiCrlf,
        Case::Chinese,
        Case::SpacesTab,
        Case::IdeographicSpace,
        Case::InvalidUtf8,
        Case::Empty,
        Case::NoNewline,
        Case::Oversized,
    ];

    /// The catalogue key stem.
    pub fn key(self) -> &'static str {
        match self {
            Case::AsciiLf => "ascii_lf",
            Case::AsciiCrlf => "ascii_crlf",
            Case::Chinese => "chinese",
            Case::SpacesTab => "spaces_tab",
            Case::IdeographicSpace => "ideographic_space",
            Case::InvalidUtf8 => "invalid_utf8",
            Case::Empty => "empty",
            Case::NoNewline => "no_newline",
            Case::Oversized => "oversized",
        }
    }

    /// The bytes the client sends for a server whose line limit is `max_line`.
    pub fn payload(self, max_line: usize) -> Vec<u8> {
        match self {
            Case::AsciiLf => b"hello\n".to_vec(),
            Case::AsciiCrlf => b"hello\r\n".to_vec(),
            Case::Chinese => "你好\n".as_bytes().to_vec(),
            Case::SpacesTab => b"  hi there\t\r\n".to_vec(),
            Case::IdeographicSpace => "\u{3000}你好\u{3000}\n".as_bytes().to_vec(),
            Case::InvalidUtf8 => b"\xff\xfeabc\n".to_vec(),
            Case::Empty => b"\n".to_vec(),
            Case::NoNewline => b"abc".to_vec(),
            Case::Oversized => [vec![b'x'; max_line + 904], b"\n".to_vec()].concat(),
        }
    }

    /// The client half-closes after sending (the line has no newline to end it).
    pub fn half_close(self) -> bool {
        self == Case::NoNewline
    }
}

/// The server's count of one line: bytes after strip(), characters if it was UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub bytes: usize,
    pub chars: Option<usize>,
}

/// What a Python 3 text-mode port would have done with the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Py3 {
    Count(usize),
    UnicodeDecodeError,
}

/// What the server did with a client, as its own record says.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerDid {
    Answered,
    LineTooLong,
    IdleTimeout,
    TooSlow,
    Shutdown,
    /// An errno name, or an outcome this lab does not know by name.
    Other(String),
}

impl ServerDid {
    /// From the outcome word of the server's record.
    pub fn from_outcome(s: &str) -> ServerDid {
        match s {
            "ok" => ServerDid::Answered,
            "line too long" => ServerDid::LineTooLong,
            "idle timeout" => ServerDid::IdleTimeout,
            "too slow" => ServerDid::TooSlow,
            "shutdown" => ServerDid::Shutdown,
            other => ServerDid::Other(other.to_string()),
        }
    }
}

/// One client of the first table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub case: Case,
    /// Bytes the client sent.
    pub sent: usize,
    /// What came back after the prompt, up to the server's close (the protocol's text).
    pub reply: String,
    /// How the read to end-of-file ended.
    pub end: Call,
    /// The server's count, when it read a line.
    pub counted: Option<Counted>,
    /// What the book's Python 2 `len(line.strip())` gives (None: over the line limit).
    pub py2: Option<usize>,
    pub py3: Option<Py3>,
    /// None: the server kept no record of this client.
    pub server: Option<ServerDid>,
}

/// The book's three server designs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMode {
    Iterative,
    Threaded,
    /// One thread, an event loop: what `--mode concurrent` runs.
    Event,
}

/// The server's totals once it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub clients: u64,
    pub answered: u64,
    /// Clients that did not get an answer, by what the server did.
    pub errors: Vec<(ServerDid, u64)>,
}

/// What the silent client received, and when its connection ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silent {
    /// The server's text after the prompt (trimmed).
    pub reply: String,
    /// From its connect() to end-of-file.
    pub after_ms: u64,
    pub end: Call,
}

/// One mode of the load test: LOAD_CLIENTS at once, the first silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeRun {
    pub mode: ServerMode,
    pub clients: usize,
    pub idle_ms: u64,
    /// Of the other clients, those that got the right answer and a clean close.
    pub correct: usize,
    /// connect() to prompt, per client that finished its exchange.
    pub waits_ms: Vec<f64>,
    /// From the silent client's connect() to the first other greeting.
    pub after_silent_ms: Option<f64>,
    pub silent: Silent,
    pub totals: Totals,
}

impl ModeRun {
    pub fn median_wait_ms(&self) -> Option<f64> {
        let mut w = self.waits_ms.clone();
        w.sort_by(|a, b| a.total_cmp(b));
        w.get(w.len() / 2).copied()
    }
    pub fn max_wait_ms(&self) -> Option<f64> {
        self.waits_ms.iter().copied().max_by(|a, b| a.total_cmp(b))
    }
}

pub fn measure(ctx: &Ctx) -> Result<Data> {
    ctx.progress("serve: one client per kind of input");
    // In a namespace of its own: the capture holds these clients alone, and the socket
    // table the ladder's marks read is small (a look costs microseconds, not milliseconds).
    let (greeting, answers, taken) = ctx.isolated(|| answers(ctx)).0?;
    ctx.progress("serve: 20 clients at once, one silent, against each design");
    let modes = [ServerMode::Iterative, ServerMode::Threaded, ServerMode::Event]
        .into_iter()
        .map(load)
        .collect::<Result<_>>()?;
    ctx.progress("serve: the hostile mix against each design, a server process each");
    let designs = super::designs::measure();
    Ok(Data {
        max_line: MAX_LINE,
        greeting,
        answers,
        modes,
        designs,
        wire: wire::wires(ctx, taken)?,
    })
}

// ---- the client side ----

/// What one client saw.
struct Seen {
    local: SocketAddr,
    /// Greeting and prompt, as received.
    opening: Vec<u8>,
    /// Everything after the prompt, up to EOF.
    answer: Vec<u8>,
    end: Call,
    connected: Instant,
    greeted: Instant,
}

fn connect(port: u16) -> Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let s = TcpStream::connect_timeout(&addr, STEP).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(STEP))?;
    s.set_write_timeout(Some(STEP))?;
    Ok(s)
}

/// Reads until the prompt has arrived (or EOF), bounded by the read timeout.
fn read_opening(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.ends_with(PROMPT.as_bytes()) && buf.len() < 4096 {
        let n = s.read(&mut chunk).context("read the greeting")?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

/// Reads to EOF; a reset or timeout ends it and is reported, not raised.
fn read_rest(s: &mut TcpStream) -> (Vec<u8>, Call) {
    let mut buf = Vec::new();
    let end = Call::of(&s.read_to_end(&mut buf));
    (buf, end)
}

/// One full exchange: wait for the prompt, send `payload`, half-close if asked, read to EOF.
/// With a recorder, the socket table is looked at after each step (the ladder's states).
fn exchange(port: u16, payload: &[u8], half_close: bool, rec: Option<&Recorder>) -> Result<Seen> {
    let mark = || {
        if let Some(r) = rec {
            r.mark(port);
        }
    };
    let connected = Instant::now();
    let mut s = connect(port)?;
    mark();
    let local = s.local_addr()?;
    let opening = read_opening(&mut s)?;
    let greeted = Instant::now();
    s.write_all(payload).context("send the line")?;
    mark();
    if half_close {
        s.shutdown(Shutdown::Write).context("shutdown(SHUT_WR)")?;
        mark();
    }
    let (answer, end) = read_rest(&mut s);
    mark();
    drop(s);
    mark();
    Ok(Seen {
        local,
        opening,
        answer,
        end,
        connected,
        greeted,
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- one client per kind of input ----

/// The first table's clients, one after another (so flow i + 1 is the i-th case), captured
/// from before the server's socket to after the last client's close.
fn answers(ctx: &Ctx) -> Result<(String, Vec<Answer>, Option<Taken>)> {
    let setup = Setup {
        mode: ServerMode::Iterative,
        idle: STEP,
        max_line: MAX_LINE,
        backlog: 1,
    };
    let rec = Recorder::start(ctx);
    let ((seen, port), served) = with_server(setup, |port| {
        let seen = Case::ALL
            .iter()
            .map(|c| {
                exchange(port, &c.payload(MAX_LINE), c.half_close(), Some(&rec))
                    .with_context(|| format!("client: {}", c.key()))
            })
            .collect::<Result<Vec<Seen>>>();
        (seen, port)
    })?;
    let taken = rec.finish("answers", port);
    let seen = seen?;
    let greeting = seen.first().map(|s| text(&s.opening)).unwrap_or_default();
    let answers = Case::ALL
        .iter()
        .zip(&seen)
        .map(|(&case, s)| answer(case, s, &served))
        .collect();
    Ok((greeting, answers, taken))
}

fn answer(case: Case, s: &Seen, served: &Served) -> Answer {
    let payload = case.payload(MAX_LINE);
    let rec = served.of(s.local);
    // The book's server had no limit; past this one there is no line to count.
    let fits = payload.len() <= MAX_LINE + 2;
    Answer {
        case,
        sent: payload.len(),
        reply: text(&s.answer),
        end: s.end.clone(),
        counted: rec.and_then(|r| r.counted),
        py2: fits.then(|| count::python2_count(&payload)),
        py3: fits.then(|| match count::python3_count(&payload) {
            Ok(n) => Py3::Count(n),
            Err(_) => Py3::UnicodeDecodeError,
        }),
        server: rec.map(|r| r.did.clone()),
    }
}

// ---- LOAD_CLIENTS at once, one of them silent ----

fn load(mode: ServerMode) -> Result<ModeRun> {
    let setup = Setup {
        mode,
        idle: LOAD_IDLE,
        max_line: MAX_LINE,
        backlog: LOAD_BACKLOG,
    };
    let (result, served) = with_server(setup, crowd)?;
    let (seen, silent) = result?;
    let expected = count::answer(&count::count(b"hello"));
    let ok: Vec<&Seen> = seen.iter().filter_map(|s| s.as_ref().ok()).collect();
    let silent_start = silent.0;
    Ok(ModeRun {
        mode,
        clients: LOAD_CLIENTS,
        idle_ms: LOAD_IDLE.as_millis() as u64,
        correct: ok
            .iter()
            .filter(|s| s.answer == expected.as_bytes() && s.end.is_ok())
            .count(),
        waits_ms: ok.iter().map(|s| ms(s.greeted - s.connected)).collect(),
        after_silent_ms: ok
            .iter()
            .map(|s| ms(s.greeted.saturating_duration_since(silent_start)))
            .min_by(|a, b| a.total_cmp(b)),
        silent: silent.1,
        totals: served.totals,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type Crowd = (Vec<Result<Seen>>, (Instant, Silent));

/// The silent client first, then the others all at once; returns when all are done.
fn crowd(port: u16) -> Result<Crowd> {
    // Taken before connect(): the server cannot start the silent client's idle clock
    // before this, so in the iterative mode the next greeting comes at least one idle
    // timeout after it, however slowly this thread runs.
    let silent_start = Instant::now();
    let mut silent = connect(port)?;
    read_opening(&mut silent)?;
    // A gate, not a Barrier: if a thread cannot be created (EAGAIN), the others must not
    // wait for it forever. They start together once the gate opens.
    let gate = std::sync::RwLock::new(());
    let seen = std::thread::scope(|inner| {
        let closed = gate.write();
        let handles: Vec<_> = (0..LOAD_CLIENTS - 1)
            .map(|_| {
                std::thread::Builder::new().spawn_scoped(inner, || {
                    drop(gate.read());
                    exchange(port, b"hello\n", false, None)
                })
            })
            .collect();
        drop(closed);
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("client thread panicked"))),
                Err(e) => Err(anyhow!("spawn a client thread: {e}")),
            })
            .collect::<Vec<_>>()
    });
    let (rest, end) = read_rest(&mut silent);
    let got = Silent {
        reply: text(rest.trim_ascii()),
        after_ms: silent_start.elapsed().as_millis() as u64,
        end,
    };
    Ok((seen, (silent_start, got)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            let d = measure(ctx)?;
            Ok(crate::labs::assemble::<super::super::Serve>(&d))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap()
    }

    #[test]
    fn the_server_counts_and_waits_as_the_invariants_say() {
        let d = data();
        let get = |c| d.answers.iter().find(|a| a.case == c).unwrap().clone();
        let zh = get(Case::Chinese);
        assert_eq!(
            zh.counted,
            Some(Counted {
                bytes: 6,
                chars: Some(2)
            })
        );
        assert_eq!(zh.py2, Some(6));
        assert_eq!(get(Case::AsciiCrlf).reply, "You entered 5 characters.\n");
        assert_eq!(get(Case::Empty).counted.unwrap().chars, Some(0));
        assert_eq!(get(Case::NoNewline).counted.unwrap().chars, Some(3));
        let bad = get(Case::InvalidUtf8);
        assert_eq!(
            bad.counted,
            Some(Counted {
                bytes: 5,
                chars: None
            })
        );
        assert_eq!(bad.py3, Some(Py3::UnicodeDecodeError));
        let big = get(Case::Oversized);
        assert_eq!(big.server, Some(ServerDid::LineTooLong));
        assert!(big.reply.contains("Line too long"), "{}", big.reply);
        assert!(d.greeting.ends_with(PROMPT), "{}", d.greeting);
        for m in &d.modes {
            assert_eq!(m.correct, LOAD_CLIENTS - 1, "{m:?}");
            assert!(m.silent.reply.contains("No input"), "{m:?}");
            assert_eq!(m.totals.clients, LOAD_CLIENTS as u64, "{m:?}");
        }
        // Head-of-line blocking is a fact of the iterative loop, not a timing accident:
        // no other client is greeted before the silent one's idle timeout has run out,
        // and that clock starts after the silent client's connect() was called.
        let it = d.modes.iter().find(|m| m.mode == ServerMode::Iterative).unwrap();
        assert!(it.after_silent_ms.unwrap() >= LOAD_IDLE.as_millis() as f64);
    }

    #[test]
    fn outcomes_map_to_what_the_server_did() {
        assert_eq!(ServerDid::from_outcome("ok"), ServerDid::Answered);
        assert_eq!(ServerDid::from_outcome("idle timeout"), ServerDid::IdleTimeout);
        assert_eq!(
            ServerDid::from_outcome("ECONNRESET"),
            ServerDid::Other("ECONNRESET".into())
        );
    }

    #[test]
    fn the_oversized_line_is_over_the_limit_and_the_rest_under() {
        for c in Case::ALL {
            let over = c.payload(MAX_LINE).len() > MAX_LINE + 2;
            assert_eq!(over, c == Case::Oversized, "{c:?}");
        }
    }
}
