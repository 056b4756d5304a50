//! `lab gopher` — the book's first program, a Gopher client, rebuilt on a socket2 socket.
//!
//! Question: what does the book's client really do on the wire, and what comes back?
//!
//! Two uses:
//! - `lab gopher HOST [SELECTOR]` (or a gopher:// URL): the client itself. Menus print as a
//!   table, text with the Gopher dot rules applied, binary items only to a file (`-o`);
//!   `--raw` writes the bytes exactly as received, with the book's `recv(2048)` loop.
//! - `lab gopher` with no target, `lab all` and `lab docs`: the experiment. A small Gopher
//!   responder runs on a thread on 127.0.0.1 (port chosen by the kernel) serving a fixed menu
//!   and a text file; the book's exchange runs against it, and the report tabulates the bytes
//!   sent, what the server received, each recv(2048) result, and the parsed menu.

use super::{yes_no, yes_no_zh, Lab};
use crate::cli::Global;
use crate::gopher::client::{self, End, Exchange, Options, BOOK_CHUNK};
use crate::gopher::menu::{self, Body, Line, MenuParser, TextFilter};
use crate::gopher::url::{self, Target};
use crate::render::Format;
use crate::report::{Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{self, IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub const LAB: Lab = Lab {
    id: "gopher",
    title: "The book's Gopher client on the wire",
    question: "What does the book's Gopher client send, and what does recv(2048) bring back?",
    run_default,
};

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "The book's Gopher client: fetch a menu, a text or a file (no target: the loopback experiment)",
    after_help = "Examples:
  lab gopher                            the book's exchange with a local server, measured
  lab gopher quux.org /                 the book's two arguments: host and selector
  lab gopher quux.org/                  the learner's one argument, read as gopher://quux.org/
  lab gopher gopher://quux.org/0/About  RFC 4266 URL: type 0 (text), selector /About
  lab gopher quux.org / --raw           the bytes exactly as the book's program printed them
  lab gopher --local                    the lab's own docs, served in-process: no network at all
  lab gopher --local /reuseaddr.md      one page of them
  lab gopher '[::1]:7070' /file.bin -o file.bin
  lab gopher quux.org / --format json | jq '.items[]'"
)]
pub struct Args {
    /// HOST [SELECTOR], HOST:PORT [SELECTOR], or gopher://HOST[:PORT]/TYPE/SELECTOR.
    #[arg(value_name = "TARGET")]
    pub target: Vec<String>,
    /// Write the reply exactly as received (the book's recv(2048) loop), no parsing.
    #[arg(long)]
    pub raw: bool,
    /// Write the item to this file instead of standard output (needed for binary items on a terminal).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The item type, when the book's two-argument form gives none (0 text, 1 menu, 9 binary ...).
    #[arg(long = "type", value_name = "T")]
    pub item_type: Option<char>,
    /// Seconds to wait for the connection and for each recv.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Stop after this many bytes (suffixes K, M, G).
    #[arg(long, default_value = "4G", value_parser = parse_size, value_name = "BYTES")]
    pub max_bytes: u64,
    /// Give up if the whole transfer takes longer than this many seconds.
    #[arg(long, default_value_t = 3600.0, value_name = "SECONDS")]
    pub max_time: f64,
    /// Serve the lab's generated docs in-process (as `lab gopherd` would) and fetch from that;
    /// TARGET is then only the selector.
    #[arg(long)]
    pub local: bool,
}

/// "4096", "64K", "1M", "4G" → bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'K' | 'k')) => (&s[..i], 1u64 << 10),
        Some((i, 'M' | 'm')) => (&s[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size like 4096, 64K, 1M or 4G"))
}

fn run_default(ctx: &Ctx) -> Result<Report> {
    run(ctx)
}

pub fn command(args: &Args, g: &Global) -> Result<ExitCode> {
    if args.local {
        return local_command(args, g);
    }
    if args.target.is_empty() {
        return super::report_command(g, run);
    }
    fetch_command(args, g)?;
    Ok(ExitCode::SUCCESS)
}

/// `--local`: a Gopher server on 127.0.0.1:0 for the docs, fetched from, then stopped.
fn local_command(args: &Args, g: &Global) -> Result<ExitCode> {
    if args.target.len() > 1 {
        bail!("with --local give at most a selector, e.g. lab gopher --local /reuseaddr.md");
    }
    let dir = crate::gopher::server::default_docs_dir();
    let server = crate::gopher::server::spawn_local(&dir)
        .with_context(|| format!("serve {} for --local", dir.display()))?;
    let mut local = args.clone();
    local.local = false;
    local.target = std::iter::once(server.addr().to_string())
        .chain(args.target.iter().cloned())
        .collect();
    let result = fetch_command(&local, g);
    drop(server);
    result.map(|_| ExitCode::SUCCESS)
}

// ---- the client ----

fn options(args: &Args, chunk: usize) -> Result<Options> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 3600.0) {
        bail!(
            "--timeout {} is not a number of seconds from 0 to 3600",
            args.timeout
        );
    }
    if !(args.max_time.is_finite() && args.max_time > 0.0 && args.max_time <= 86400.0) {
        bail!(
            "--max-time {} is not a number of seconds from 0 to 86400",
            args.max_time
        );
    }
    let t = Duration::from_secs_f64(args.timeout);
    Ok(Options {
        connect_timeout: t,
        read_timeout: t,
        max_bytes: args.max_bytes,
        chunk,
        max_time: Duration::from_secs_f64(args.max_time),
        ..Options::default()
    })
}

/// Where the item goes: a file, or standard output (written through, not line-buffered).
fn open_output(path: &Option<PathBuf>) -> Result<io::BufWriter<std::fs::File>> {
    let file = match path {
        Some(p) => std::fs::File::create(p).with_context(|| format!("create {}", p.display()))?,
        None => std::fs::File::from(
            io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .context("duplicate standard output")?,
        ),
    };
    Ok(io::BufWriter::with_capacity(64 * 1024, file))
}

fn fetch_command(args: &Args, g: &Global) -> Result<()> {
    let target = url::parse_args(&args.target).map_err(|e| anyhow!("{e}"))?;
    for n in &target.notes {
        eprintln!("lab: note: {n}");
    }
    let declared = args.item_type.or(target.item_type);
    if let Some(t) = declared {
        if body_of(t) == Body::Session {
            bail!(
                "type {t} ({}) is an interactive session, not a document; connect with: telnet {} {}",
                menu::type_name(t),
                target.host,
                target.port
            );
        }
    }
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    if to_terminal && declared.is_some_and(|t| body_of(t) == Body::Binary) {
        bail!(refuse_binary(&target, declared));
    }
    let chunk = if args.raw { BOOK_CHUNK } else { client::BIG_CHUNK };
    let opts = options(args, chunk)?;
    let mut out = open_output(&args.output)?;
    if !args.raw && declared.is_some_and(|t| body_of(t) == Body::Binary) {
        // Saved unchanged: the kernel moves it to the output with splice(2).
        let ex = client::fetch_to(&target, &opts, out.get_mut())?;
        return finish_binary(&ex);
    }
    let mut state = Sink::new(declared, args.raw, to_terminal);
    let ex = client::fetch(&target, &opts, &mut |c| state.feed(c, &mut out));
    if let Some(e) = state.refused.take() {
        bail!(e);
    }
    let ex = ex?;
    state.finish(&mut out)?;
    if let Some(menu) = state.menu.take() {
        let text = render_menu(
            &target,
            &menu,
            &ex,
            g.format,
            args.output.is_none() && io::stdout().is_terminal(),
        );
        out.write_all(text.as_bytes()).or_else(ignore_broken_pipe)?;
        if menu.dropped > 0 {
            eprintln!(
                "lab: note: the menu has {} more lines than the {} kept (at most {MAX_MENU_LINES} lines \
                 or {} MiB of text are kept); they were read and counted, not shown",
                menu.dropped,
                menu.lines.len(),
                MAX_MENU_BYTES >> 20
            );
        }
    }
    out.flush().or_else(ignore_broken_pipe)?;
    if io::stderr().is_terminal() {
        eprintln!(
            "lab: {} bytes in {} recv calls from {} ({})",
            ex.total,
            ex.chunks,
            ex.peer,
            state.kind_text()
        );
    }
    if ex.end == End::Cap {
        bail!(
            "stopped after {} bytes (--max-bytes); the item is larger: raise --max-bytes",
            ex.total
        );
    }
    Ok(())
}

fn finish_binary(ex: &Exchange) -> Result<()> {
    if io::stderr().is_terminal() {
        eprintln!(
            "lab: {} bytes in {} splice calls from {}",
            ex.total, ex.chunks, ex.peer
        );
    }
    if ex.end == End::Cap {
        bail!(
            "stopped after {} bytes (--max-bytes); the item is larger: raise --max-bytes",
            ex.total
        );
    }
    Ok(())
}

fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

fn refuse_binary(target: &Target, t: Option<char>) -> String {
    format!(
        "refusing to print a binary item (type {}) to the terminal; save it: lab gopher {} -o FILE",
        t.map_or("guessed binary".into(), |c| format!(
            "{c}, {}",
            menu::type_name(c)
        )),
        shell_words(target)
    )
}

fn shell_words(t: &Target) -> String {
    format!("'{}'", t.url().replace('\'', "%27"))
}

fn body_of(t: char) -> Body {
    menu::body_of(t)
}

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
struct Sink {
    declared: Option<char>,
    raw: bool,
    to_terminal: bool,
    decided: Option<char>,
    text: TextFilter,
    menu: Option<MenuState>,
    refused: Option<String>,
    /// The start of a UTF-8 character split across chunks (terminal output only).
    pending: Vec<u8>,
}

#[derive(Default)]
struct MenuState {
    parser: MenuParser,
    lines: Vec<Line>,
    kept_bytes: usize,
    dropped: u64,
}

/// Menu text kept for the table; past this lines are only counted (the table is built in memory,
/// and rendering copies it a few times, so the cap is kept small).
const MAX_MENU_BYTES: usize = 4 << 20;
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
    fn new(declared: Option<char>, raw: bool, to_terminal: bool) -> Self {
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

    fn kind_text(&self) -> String {
        match (self.raw, self.decided) {
            (true, _) => "raw".into(),
            (false, Some(t)) => format!("type {t}, {}", menu::type_name(t)),
            (false, None) => "empty".into(),
        }
    }

    fn feed(&mut self, chunk: &[u8], out: &mut dyn Write) -> io::Result<()> {
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
                if body_of(t) == Body::Menu {
                    self.menu = Some(MenuState::default());
                }
                if body_of(t) == Body::Binary && self.to_terminal {
                    self.refused =
                        Some("refusing to print a binary reply to the terminal; save it with -o FILE".into());
                    return Err(io::Error::other("binary to terminal"));
                }
                t
            }
        };
        match body_of(t) {
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

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(m) = self.menu.as_mut() {
            m.finish();
        } else if self.decided.is_some_and(|t| body_of(t) == Body::Text) {
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
struct Visible<'a> {
    pending: &'a mut Vec<u8>,
    out: &'a mut dyn Write,
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
fn cell(s: &str) -> String {
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
    )
    .zh("菜单", &["类型", "显示文字", "选择符", "主机", "端口"]);
    for l in lines {
        t.push(match l {
            Line::Item(i) => row! {
                "type" => format!("{} {}", i.item_type, menu::type_name(i.item_type)),
                "display" => cell(&i.display), "selector" => cell(&i.selector), "host" => cell(&i.host),
                "port" => i.port,
            },
            Line::Info { text } => row! { "type" => "i", "display" => cell(text) },
            Line::Malformed { raw, why } => row! {
                "type" => "malformed", "display" => cell(raw), "selector" => format!("({})", cell(why)),
            },
        });
    }
    t
}

fn render_menu(target: &Target, m: &MenuState, ex: &Exchange, format: Format, tty: bool) -> String {
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

// ---- the experiment ----

/// The fixed reply of the local responder for the root selector: long enough to need
/// several recv(2048) calls.
fn demo_menu(port: u16) -> Vec<u8> {
    let mut m = Vec::new();
    let item = |t: char, d: &str, s: &str| format!("{t}{d}\t{s}\t127.0.0.1\t{port}\r\n");
    m.extend_from_slice(b"iA local Gopher server for the lab\tfake\t(NULL)\t0\r\n");
    m.extend_from_slice(item('0', "About this server", "/about.txt").as_bytes());
    m.extend_from_slice(item('1', "Chapter notes", "/notes").as_bytes());
    m.extend_from_slice(item('9', "A binary file", "/blob.bin").as_bytes());
    m.extend_from_slice(item('7', "Search the notes", "/search").as_bytes());
    for i in 1..=DEMO_NOTES {
        let display = format!("Note {i:02}: what the client sends, and what recv(2048) brings back");
        m.extend_from_slice(item('0', &display, &format!("/notes/{i:02}.txt")).as_bytes());
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// Enough lines that the menu needs more than one recv(2048).
const DEMO_NOTES: usize = 24;

const DEMO_TEXT: &[u8] =
    b"This is about.txt.\r\n..hidden: this line starts with a dot\r\nThe last line.\r\n.\r\n";

/// What the responder read from each client: the evidence for what the client sent.
type Received = Vec<Vec<u8>>;

/// A real Gopher server on a thread: answers `n` requests, then returns what it read.
fn responder(l: TcpListener, n: usize) -> std::thread::JoinHandle<io::Result<Received>> {
    std::thread::spawn(move || {
        let port = l.local_addr()?.port();
        let mut got = Vec::new();
        for _ in 0..n {
            let (mut s, _) = accept_bounded(&l)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let req = read_request(&mut s)?;
            let reply = match req.as_slice() {
                b"\r\n" => demo_menu(port),
                b"/about.txt\r\n" => DEMO_TEXT.to_vec(),
                _ => b"3Not found\terror\terror.host\t1\r\n.\r\n".to_vec(),
            };
            got.push(req);
            s.write_all(&reply)?;
            // Dropping the stream closes it: the client's recv returns 0.
        }
        Ok(got)
    })
}

/// Serves one request (the text file for `/about.txt`, the menu otherwise) if a client comes
/// before `stop` is set; returns what it read. Used by `lab argv` to run the book's program.
pub(crate) fn responder_once(
    l: TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<io::Result<Option<Vec<u8>>>> {
    std::thread::spawn(move || {
        let port = l.local_addr()?.port();
        l.set_nonblocking(true)?;
        // Bounded by `stop` (set once the client process ended) and by 10 s.
        for _ in 0..1000 {
            let stopping = stop.load(std::sync::atomic::Ordering::SeqCst);
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let req = read_request(&mut s)?;
                    let reply = if req.starts_with(b"/about.txt") {
                        DEMO_TEXT.to_vec()
                    } else {
                        demo_menu(port)
                    };
                    let _ = s.write_all(&reply);
                    return Ok(Some(req));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && stopping => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    })
}

fn accept_bounded(l: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    l.set_nonblocking(true)?;
    for _ in 0..500 {
        match l.accept() {
            Ok((s, a)) => {
                s.set_nonblocking(false)?;
                return Ok((s, a));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no client within 5 s"))
}

/// Reads up to and including the first LF (at most 1 KiB).
fn read_request(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut req = Vec::new();
    let mut b = [0u8; 256];
    while !req.contains(&b'\n') && req.len() < 1024 {
        let n = s.read(&mut b)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&b[..n]);
    }
    Ok(req)
}

/// Shows bytes with CR, LF and TAB visible.
pub fn escaped(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

struct Fetched {
    ex: Exchange,
    raw: Vec<u8>,
}

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
    Ok(Fetched { ex, raw })
}

pub fn run(ctx: &Ctx) -> Result<Report> {
    let mut report = super::report_for(&LAB);
    ctx.progress("starting a Gopher responder on 127.0.0.1");
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    let server = responder(l, 2);
    let menu = book_fetch(port, b"");
    let text = book_fetch(port, b"/about.txt");
    let received = server
        .join()
        .map_err(|_| anyhow!("the responder thread panicked"))?
        .context("the responder")?;
    let (menu, text) = (menu.context("fetch the menu")?, text.context("fetch /about.txt")?);

    report
        .tables
        .push(wire_table(&[("menu", &menu), ("text", &text)], &received));
    let mut parser = MenuParser::new();
    let mut lines = Vec::new();
    parser.feed(&menu.raw, &mut |l| lines.push(l));
    parser.finish(&mut |l| lines.push(l));
    let mut mt = menu_table(&lines);
    mt.title = "The menu as parsed (RFC 1436: type, display TAB selector TAB host TAB port)".into();
    mt.title_zh = Some("解析后的菜单（RFC 1436：类型、显示文字 TAB 选择符 TAB 主机 TAB 端口）".into());
    report.tables.push(mt);
    let mut filter = TextFilter::new();
    let mut printed = Vec::new();
    filter.feed(&text.raw, &mut printed)?;
    filter.finish(&mut printed)?;
    report.tables.push(text_table(&text.raw, &printed, &filter));
    findings(
        &mut report,
        &menu,
        &text,
        &received,
        parser.end.terminator,
        &filter,
    );
    Ok(report)
}

fn wire_table(fetches: &[(&str, &Fetched)], received: &Received) -> Table {
    let mut t = Table::new(
        "wire",
        "The book's exchange, call by call (client on 127.0.0.1, recv(2048))",
        &[
            ("fetch", "fetch"),
            ("step", "step"),
            ("call", "call"),
            ("bytes", "bytes"),
            ("detail", "detail"),
        ],
    )
    .zh(
        "书中的交互，逐个调用（客户端在 127.0.0.1，recv(2048)）",
        &["请求", "步骤", "调用", "字节数", "说明"],
    );
    for (k, (name, f)) in fetches.iter().enumerate() {
        let mut step = 0;
        let mut push = |call: &str, bytes: serde_json::Value, detail: String| {
            step += 1;
            t.push(row! { "fetch" => name, "step" => step, "call" => call, "bytes" => bytes, "detail" => detail });
        };
        push("connect", serde_json::Value::Null, format!("to {}", f.ex.peer));
        push(
            "sendall",
            f.ex.sent.len().into(),
            format!("\"{}\"", escaped(&f.ex.sent)),
        );
        if let Some(r) = received.get(k) {
            push("(server read)", r.len().into(), format!("\"{}\"", escaped(r)));
        }
        for (i, n) in f.ex.chunk_sizes.iter().enumerate() {
            push("recv(2048)", (*n).into(), format!("chunk {}", i + 1));
        }
        match f.ex.end {
            End::Eof => push(
                "recv(2048)",
                0.into(),
                "returned 0: the server closed, the loop ends".into(),
            ),
            End::Cap => push(
                "(stopped)",
                serde_json::Value::Null,
                "the byte cap was reached before the server closed".into(),
            ),
        }
        push(
            "total",
            f.ex.total.into(),
            format!("in {} recv calls that returned data", f.ex.chunks),
        );
    }
    t.note_zh(
        "\"(server read)\" is what the responder thread read from its socket: the proof of what went on the wire",
        "“(server read)” 是应答线程从自己的套接字读到的内容：线路上实际传了什么的证据",
    );
    t
}

fn text_table(raw: &[u8], printed: &[u8], f: &TextFilter) -> Table {
    let tail = |b: &[u8]| escaped(&b[b.len().saturating_sub(24)..]);
    let mut t = Table::new(
        "text",
        "A text item: what the book's program prints vs. what lab gopher prints",
        &[
            ("program", "program"),
            ("bytes", "bytes"),
            ("terminator", "ends with a lone \".\" line"),
            ("dots", "lines starting with \"..\""),
            ("tail", "last bytes"),
        ],
    )
    .zh(
        "文本条目：书中程序打印的与 lab gopher 打印的",
        &[
            "程序",
            "字节数",
            "以单独的 \".\" 行结尾",
            "以 \"..\" 开头的行",
            "最后几个字节",
        ],
    );
    let count_dots = |b: &[u8]| b.split(|&c| c == b'\n').filter(|l| l.starts_with(b"..")).count();
    t.push(row! {
        "program" => "the book (recv loop, prints everything)", "bytes" => raw.len(),
        "terminator" => raw.ends_with(b"\n.\r\n"), "dots" => count_dots(raw), "tail" => tail(raw),
    });
    t.push(row! {
        "program" => "lab gopher (RFC 1436 text rules)", "bytes" => printed.len(),
        "terminator" => printed.ends_with(b"\n.\r\n"), "dots" => count_dots(printed), "tail" => tail(printed),
    });
    t.note_zh(
        format!(
            "lab gopher dropped the final \".\" line: {}; removed the doubled dot of {} line(s)",
            f.stats.terminator, f.stats.unstuffed
        ),
        format!(
            "lab gopher 去掉了结尾的 “.” 行：{}；还原了 {} 行开头被双写的点",
            f.stats.terminator, f.stats.unstuffed
        ),
    );
    t
}

fn findings(
    report: &mut Report,
    menu: &Fetched,
    text: &Fetched,
    received: &Received,
    menu_terminator: bool,
    filter: &TextFilter,
) {
    finding_request(report, menu, text, received);
    finding_chunks(report, menu);
    finding_end(report, menu, text, menu_terminator);
    finding_marks(report, text, filter);
}

fn finding_request(report: &mut Report, menu: &Fetched, text: &Fetched, received: &Received) {
    let sent_ok = received.len() == 2 && received[0] == menu.ex.sent && received[1] == text.ex.sent;
    // The evidence is what the server read, not what the client meant to send.
    let got = |k: usize| received.get(k).map_or(&[][..], |r| r.as_slice());
    let (r0, r1) = (got(0), got(1));
    let (s0, s1) = (escaped(r0), escaped(r1));
    report.finding_zh(
        "The client sends only the selector and CR LF: no command, no host name, no headers",
        if sent_ok && r0 == b"\r\n" && r1 == b"/about.txt\r\n" {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!(
            "for the root menu the server read {} bytes \"{s0}\"; for /about.txt {} bytes \"{s1}\"",
            r0.len(),
            r1.len()
        ),
        "客户端只发送选择符和 CR LF：没有命令、没有主机名、没有头部",
        format!(
            "请求根菜单时服务器读到 {} 字节 \"{s0}\"；请求 /about.txt 时读到 {} 字节 \"{s1}\"",
            r0.len(),
            r1.len()
        ),
    );
}

fn finding_chunks(report: &mut Report, menu: &Fetched) {
    let sizes = &menu.ex.chunk_sizes;
    let list = sizes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    let many = menu.ex.chunks > 1 && sizes.iter().all(|&n| n <= BOOK_CHUNK);
    report.finding_zh(
        "One recv(2048) returns the server's whole reply",
        if many { Verdict::Refuted } else { Verdict::Depends },
        format!(
            "the {}-byte menu took {} recv calls returning {list} bytes: TCP delivers a byte stream, \
             and recv gives at most what was asked for",
            menu.ex.total, menu.ex.chunks
        ),
        "一次 recv(2048) 就能收到服务器的全部回复",
        format!(
            "{} 字节的菜单用了 {} 次 recv，分别返回 {list} 字节：TCP 交付的是字节流，recv 最多给出所要求的字节数",
            menu.ex.total, menu.ex.chunks
        ),
    );
}

fn finding_end(report: &mut Report, menu: &Fetched, text: &Fetched, menu_terminator: bool) {
    let eof = menu.ex.end == End::Eof && text.ex.end == End::Eof;
    let how = |e: End| match e {
        End::Eof => ("a recv that returned 0", "recv 返回 0"),
        End::Cap => ("the byte cap, not at a close", "字节上限，而不是连接关闭"),
    };
    let ((m_en, m_zh), (t_en, t_zh)) = (how(menu.ex.end), how(text.ex.end));
    report.finding_zh(
        "The reply ends when the server closes the connection (recv returns 0)",
        if eof { Verdict::Confirmed } else { Verdict::Refuted },
        format!(
            "the menu loop ended on {m_en} after {} bytes, the text loop on {t_en} after {} bytes; the menu's \
             \".\" line (present: {menu_terminator}) arrived as ordinary bytes before that",
            menu.ex.total, text.ex.total
        ),
        "服务器关闭连接时回复就结束了（recv 返回 0）",
        format!(
            "菜单的循环在 {m_zh} 时结束，收到 {} 字节；文本的循环在 {t_zh} 时结束，收到 {} 字节；\
             菜单末尾的 \".\" 行（存在：{menu_terminator}）只是之前到达的普通字节",
            menu.ex.total, text.ex.total
        ),
    );
}

fn finding_marks(report: &mut Report, text: &Fetched, filter: &TextFilter) {
    let ends_dot = text.raw.ends_with(b"\n.\r\n");
    let doubled = text
        .raw
        .split(|&c| c == b'\n')
        .filter(|l| l.starts_with(b".."))
        .count();
    let raw_has = ends_dot && doubled > 0;
    report.finding_zh(
        "The book's program prints the protocol's own marks: the final \".\" line and doubled dots",
        if raw_has && filter.stats.terminator && filter.stats.unstuffed == doubled as u64 {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!(
            "the text reply was {} bytes, ending in a lone \".\" line: {}, with {doubled} line(s) starting \"..\"; \
             with RFC 1436's rules lab gopher prints {} bytes: terminator dropped: {}, {} dot(s) removed",
            text.raw.len(),
            yes_no(ends_dot),
            filter.stats.bytes_out,
            yes_no(filter.stats.terminator),
            filter.stats.unstuffed
        ),
        "书中的程序会把协议自身的标记也打印出来：末尾的 \".\" 行和加倍的点",
        format!(
            "文本回复共 {} 字节，以单独的 \".\" 行结尾：{}，以 \"..\" 开头的行有 {doubled} 行；按 RFC 1436 的规则，\
             lab gopher 打印 {} 字节：去掉结束行：{}，去掉 {} 个多余的点",
            text.raw.len(),
            yes_no_zh(ends_dot),
            filter.stats.bytes_out,
            yes_no_zh(filter.stats.terminator),
            filter.stats.unstuffed
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_experiment_shows_the_bytes_on_the_wire() {
        let r = crate::sandbox::run(crate::sandbox::Mode::Auto, run).unwrap();
        let wire = r.table("wire").unwrap();
        let read: Vec<_> = wire
            .rows
            .iter()
            .filter(|r| r["call"] == "(server read)")
            .collect();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0]["bytes"], 2, "root menu: just CR LF");
        assert_eq!(read[1]["detail"], "\"/about.txt\\r\\n\"");
        let recvs: Vec<u64> = wire
            .rows
            .iter()
            .filter(|r| r["fetch"] == "menu" && r["call"] == "recv(2048)")
            .map(|r| r["bytes"].as_u64().unwrap())
            .collect();
        assert!(
            recvs.len() >= 3,
            "a menu over 2 KiB needs several recv calls: {recvs:?}"
        );
        assert!(recvs.iter().all(|&n| n <= 2048));
        assert_eq!(*recvs.last().unwrap(), 0, "the loop ends on EOF");
        let menu = r.table("menu").unwrap();
        assert_eq!(menu.rows.len(), 5 + DEMO_NOTES);
        assert_eq!(menu.rows[1]["selector"], "/about.txt");
        assert!(
            r.findings.iter().all(|f| f.verdict != Verdict::Depends),
            "{:?}",
            r.findings
        );
    }

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
    fn sizes_parse() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("0").is_err() && parse_size("x").is_err() && parse_size("99999999999G").is_err());
    }
}
