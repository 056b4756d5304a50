//! `lab gopher HOST [SELECTOR]`: the client program. It parses the target, fetches the
//! item with the client, and shows it through the front end: a menu as a table, text with
//! the dot rules applied, a binary item only to a file. On a failed connection it says
//! what to try next (`--local` when offline, `lab gopherd` when nothing listens locally).

use crate::gopher::client::{self, End, Exchange, Options, BOOK_CHUNK};
use crate::gopher::front::{render_menu, Sink, MAX_MENU_BYTES, MAX_MENU_LINES};
use crate::gopher::menu::{self, Body};
use crate::gopher::url::{self, Target};
use crate::render::Format;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// What the user asked the client for (the lab's options, without clap).
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Vec<String>,
    pub raw: bool,
    pub output: Option<PathBuf>,
    pub item_type: Option<char>,
    pub timeout: Duration,
    pub max_bytes: u64,
    pub max_time: Duration,
    pub speed_limit: u64,
    pub speed_time: Duration,
    pub local: bool,
}

/// Runs the client; `format` shapes a menu (table, markdown or JSON).
pub fn run(req: &Request, format: Format) -> Result<ExitCode> {
    if req.local {
        local_command(req, format)
    } else {
        fetch_command(req, format).map(|_| ExitCode::SUCCESS)
    }
}

/// "4096", "64K", "1M", "4G" → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
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

/// `--local`: a Gopher server on 127.0.0.1:0 for the docs, fetched from, then stopped.
fn local_command(args: &Request, format: Format) -> Result<ExitCode> {
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
    let result = fetch_command(&local, format);
    drop(server);
    result.map(|_| ExitCode::SUCCESS)
}

fn options(args: &Request, chunk: usize) -> Options {
    Options {
        connect_timeout: args.timeout,
        read_timeout: args.timeout,
        max_bytes: args.max_bytes,
        chunk,
        max_time: args.max_time,
        speed_limit: args.speed_limit,
        speed_time: args.speed_time,
    }
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

fn fetch_command(args: &Request, format: Format) -> Result<()> {
    let target = url::parse_args(&args.target).map_err(|e| anyhow!("{e}"))?;
    for n in &target.notes {
        eprintln!("lab: note: {n}");
    }
    let declared = args.item_type.or(target.item_type);
    if let Some(t) = declared {
        if menu::body_of(t) == Body::Session {
            bail!(
                "type {t} ({}) is an interactive session, not a document; connect with: telnet {} {}",
                menu::type_name(t),
                target.host,
                target.port
            );
        }
    }
    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    if to_terminal && declared.is_some_and(|t| menu::body_of(t) == Body::Binary) {
        bail!(refuse_binary(&target, declared));
    }
    let chunk = if args.raw { BOOK_CHUNK } else { client::BIG_CHUNK };
    let opts = options(args, chunk);
    let mut out = open_output(&args.output)?;
    if !args.raw && declared.is_some_and(|t| menu::body_of(t) == Body::Binary) {
        // Saved unchanged: the kernel moves it to the output with splice(2).
        let ex = client::fetch_to(&target, &opts, out.get_mut()).map_err(|e| with_hint(e, &target))?;
        return finish_binary(&ex);
    }
    let mut state = Sink::new(declared, args.raw, to_terminal);
    let ex = client::fetch(&target, &opts, &mut |c| state.feed(c, &mut out));
    if let Some(e) = state.refused.take() {
        bail!(e);
    }
    let ex = ex.map_err(|e| with_hint(e, &target))?;
    state.finish(&mut out)?;
    if let Some(menu) = state.menu.take() {
        let text = render_menu(
            &target,
            &menu,
            &ex,
            format,
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

/// What to try next, said after a failed fetch: offline, or nothing listening on loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The name does not resolve or the network is unreachable: the docs work offline.
    Offline,
    /// A loopback address refused: the lab's own server is not running.
    NoLocalServer,
}

fn with_hint(e: anyhow::Error, target: &Target) -> anyhow::Error {
    match hint(&target.host, target.port) {
        Some(h) => anyhow!("{e:#}; {}", hint_text(h, target.port)),
        None => e,
    }
}

/// One line, on stderr only (English like the client's other messages).
pub fn hint_text(h: Hint, port: u16) -> String {
    match h {
        Hint::Offline => "no network here? `lab gopher --local` fetches the lab's own pages from an \
                          in-process server"
            .into(),
        Hint::NoLocalServer if port == crate::gopher::server::DEFAULT_PORT => {
            "start the lab's Gopher server first, in another terminal: `lab gopherd` \
             (or use `lab gopher --local`)"
                .into()
        }
        Hint::NoLocalServer => format!(
            "start the lab's Gopher server first, in another terminal: `lab gopherd --port {port}` \
             (or use `lab gopher --local`)"
        ),
    }
}

/// Finds out, after the fact, why the connection failed: each probe is bounded by 1 s.
pub fn hint(host: &str, port: u16) -> Option<Hint> {
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return Some(Hint::Offline);
    };
    let addrs: Vec<SocketAddr> = addrs.take(2).collect();
    let probes: Vec<io::ErrorKind> = addrs
        .iter()
        .map(|a| match TcpStream::connect_timeout(a, Duration::from_secs(1)) {
            Ok(_) => io::ErrorKind::Other,
            Err(e) => e.kind(),
        })
        .collect();
    let all = |k: &[io::ErrorKind]| !probes.is_empty() && probes.iter().all(|p| k.contains(p));
    if addrs.iter().all(|a| a.ip().is_loopback()) && all(&[io::ErrorKind::ConnectionRefused]) {
        Some(Hint::NoLocalServer)
    } else if all(&[io::ErrorKind::NetworkUnreachable, io::ErrorKind::HostUnreachable]) {
        Some(Hint::Offline)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("0").is_err() && parse_size("x").is_err() && parse_size("99999999999G").is_err());
    }

    #[test]
    fn a_refused_loopback_port_suggests_gopherd_and_a_bad_name_suggests_local() {
        // A port just released by the kernel: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        assert_eq!(hint("127.0.0.1", port), Some(Hint::NoLocalServer));
        assert!(hint_text(Hint::NoLocalServer, 7070).contains("`lab gopherd`"));
        assert!(hint_text(Hint::NoLocalServer, port).contains(&format!("--port {port}")));
        assert_eq!(hint("no-such-host.invalid", 70), Some(Hint::Offline));
        assert!(hint_text(Hint::Offline, 70).contains("--local"));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap().port();
        assert_eq!(hint("127.0.0.1", open), None, "something listens: no hint");
    }
}
