//! The book's line server: one listening socket, then for each client the greeting,
//! the prompt, one line read, the count, and a close by the server.
//!
//! The main loop never blocks in accept(2): it polls the listener together with a
//! "stop" descriptor (a signalfd for the command, a pipe for the in-process experiment),
//! so Ctrl-C is handled between two clients and even during one. Every client read is
//! a poll with the idle timeout, every line is capped, and in the concurrent mode the
//! number of clients in service is capped (a pool of worker threads, started as needed, up
//! to the cap); when the cap is reached the listener is simply not polled, and new clients
//! wait in the kernel's accept queue as in the book.

use super::count::{self, Count};
use crate::sys::poll;
use anyhow::{bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The book's three server designs (third edition, chapter 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One client at a time, as the book's srv_single.py: one silent client blocks everyone.
    Iterative,
    /// A thread per client (srv_threaded.py), up to --max-concurrent threads: each idle client
    /// holds a whole thread until its idle time-out.
    Threaded,
    /// One thread, an epoll event loop (srv_async.py): an idle client costs a descriptor, not
    /// a thread, so thousands are held at once. `concurrent` means this since idle clients
    /// took every thread of the threaded design and locked the others out.
    #[value(alias = "concurrent")]
    Event,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Iterative => "iterative",
            Mode::Threaded => "threaded",
            Mode::Event => "event",
        }
    }

    /// Clients in service at once by default: a thread each in the threaded mode; in the
    /// event mode, a descriptor each (RLIMIT_NOFILE is raised to its hard limit).
    pub fn default_max_concurrent(self) -> usize {
        match self {
            Mode::Iterative => 1,
            Mode::Threaded => 256,
            Mode::Event => 16_384,
        }
    }

    /// The listen() backlog by default: the book's 1 for the book's server; room for a burst
    /// for the others, or a burst of connects waits out SYN retries (1 s, 3 s, ...).
    pub fn default_backlog(self) -> i32 {
        match self {
            Mode::Iterative => 1,
            Mode::Threaded | Mode::Event => 1024,
        }
    }
}

/// How the server behaves once listening.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Longest line accepted, in bytes, not counting the CR/LF.
    pub max_line: usize,
    /// A client that sends nothing for this long is closed; its whole line must arrive
    /// within [`LINE_TIME_FACTOR`] times this (a byte now and then does not hold the seat).
    pub idle: Duration,
    /// Clients in service at once (threaded: threads; event: connections held).
    pub max_concurrent: usize,
    /// Stop after accepting this many clients.
    pub max_clients: Option<u64>,
    /// One line per client on stderr.
    pub log: bool,
}

/// Something that says "stop": readable when the server should stop.
pub trait Stop: AsFd + Sync {
    /// Why the server stops, once the descriptor is readable; `None` if it was a false alarm.
    fn reason(&self) -> Option<String>;
}

impl Stop for crate::sys::signal::StopSignals {
    fn reason(&self) -> Option<String> {
        match self.pending() {
            Ok(sig) => sig.map(|s| format!("stopped by {s}")),
            Err(e) => Some(format!("signalfd read failed: {}", crate::sys::errno_name(&e))),
        }
    }
}

/// A pipe whose write end, once closed, tells every poller to stop.
pub struct StopPipe {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl StopPipe {
    pub fn new() -> Result<StopPipe> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
        Ok(StopPipe {
            read,
            write: Some(write),
        })
    }

    /// The write end: dropping it makes the read end poll readable for everyone, for good.
    pub fn trigger(&mut self) -> Option<OwnedFd> {
        self.write.take()
    }
}

impl AsFd for StopPipe {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl Stop for StopPipe {
    fn reason(&self) -> Option<String> {
        Some("stopped".into())
    }
}

/// The listening socket the book's way: socket, SO_REUSEADDR = `reuseaddr` (passed
/// through untouched, so 0 and 50 can be tried), bind, listen(backlog).
pub fn listen(ip: IpAddr, port: u16, reuseaddr: i32, backlog: i32) -> Result<Socket> {
    let addr = SocketAddr::new(ip, port);
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).context("socket")?;
    crate::sys::sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, reuseaddr)
        .with_context(|| format!("setsockopt(SO_REUSEADDR, {reuseaddr})"))?;
    s.bind(&addr.into()).with_context(|| format!("bind {addr}"))?;
    s.listen(backlog)
        .with_context(|| format!("listen({backlog}) on {addr}"))?;
    Ok(s)
}

/// The address a socket is bound to.
pub fn local_addr(s: &Socket) -> Result<SocketAddr> {
    s.local_addr()?
        .as_socket()
        .context("the listener has no inet address")
}

/// What happened to one client.
#[derive(Debug, Clone)]
pub struct Record {
    pub peer: Option<SocketAddr>,
    /// Bytes read from the client.
    pub received: usize,
    /// The count of its line, when one was read.
    pub count: Option<Count>,
    pub duration: Duration,
    /// "ok", "line too long", "idle timeout", "too slow", "shutdown", or an errno name.
    pub outcome: String,
}

impl Record {
    /// The log line on stderr.
    pub fn log_line(&self) -> String {
        let peer = self.peer.map_or_else(|| "?".into(), |p| p.to_string());
        let counted = match &self.count {
            Some(Count {
                bytes,
                chars: Some(c),
            }) => format!(
                "{} / {}",
                plural(*c as u64, "character"),
                plural(*bytes as u64, "byte")
            ),
            Some(Count { bytes, chars: None }) => format!("{}, not UTF-8", plural(*bytes as u64, "byte")),
            None => "no line".into(),
        };
        format!(
            "lab serve: client {peer}: received {}, counted {counted}, {:.1} ms, {}",
            plural(self.received as u64, "byte"),
            self.duration.as_secs_f64() * 1000.0,
            self.outcome
        )
    }
}

/// Totals printed when the server stops.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub clients: u64,
    pub answered: u64,
    pub bytes: u64,
    /// Clients that did not end "ok", by outcome.
    pub errors: BTreeMap<String, u64>,
    pub accept_errors: u64,
    pub stopped_by: String,
    pub records: Vec<Record>,
}

impl Summary {
    pub(super) fn add(&mut self, r: Record, cfg: &Config, keep: bool) {
        if cfg.log {
            // One write(2) per line (eprintln! may split it), so lines never interleave.
            let _ = io::stderr().write_all(format!("{}\n", r.log_line()).as_bytes());
        }
        self.clients += 1;
        self.bytes += r.received as u64;
        if r.outcome == "ok" {
            self.answered += 1;
        } else {
            *self.errors.entry(r.outcome.clone()).or_default() += 1;
        }
        if keep {
            self.records.push(r);
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum::<u64>() + self.accept_errors
    }

    /// "42 clients served (40 answered), 310 bytes received, 2 errors (1 idle timeout, 1 line too long)".
    pub fn text(&self) -> String {
        let detail = if self.error_count() == 0 {
            String::new()
        } else {
            let mut parts: Vec<String> = self.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
            if self.accept_errors > 0 {
                parts.push(plural(self.accept_errors, "accept error"));
            }
            format!(" ({})", parts.join(", "))
        };
        format!(
            "{}: {} served ({} answered), {} received, {}{detail}",
            self.stopped_by,
            plural(self.clients, "client"),
            self.answered,
            plural(self.bytes, "byte"),
            plural(self.error_count(), "error"),
        )
    }
}

/// "1 client", "2 clients".
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Runs the server until `stop` fires or `max_clients` have been served.
/// `keep` retains every client record in the summary (for the experiment).
pub fn serve(listener: &Socket, cfg: &Config, stop: &dyn Stop, keep: bool) -> Result<Summary> {
    listener.set_nonblocking(true).context("listener O_NONBLOCK")?;
    match cfg.mode {
        Mode::Iterative => iterative(listener, cfg, stop, keep),
        Mode::Threaded => threaded(listener, cfg, stop, keep),
        Mode::Event => super::event::serve(listener, cfg, stop, keep),
    }
}

/// What the main loop should do after accept.
pub(super) enum Accepted {
    Client(Socket, Option<SocketAddr>),
    Nothing,
}

pub(super) fn accept(listener: &Socket, summary: &mut Summary, log: bool) -> Accepted {
    match listener.accept() {
        Ok((s, addr)) => Accepted::Client(s, addr.as_socket()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
            Accepted::Nothing
        }
        Err(e) => {
            // ECONNABORTED, EMFILE...: count it, and pause a moment so a full fd table
            // does not turn the still-readable listener into a busy loop.
            summary.accept_errors += 1;
            if log {
                let _ = writeln!(io::stderr(), "lab serve: accept: {}", crate::sys::errno_name(&e));
            }
            std::thread::sleep(Duration::from_millis(10));
            Accepted::Nothing
        }
    }
}

pub(super) fn limit_reached(cfg: &Config, accepted: u64) -> bool {
    cfg.max_clients.is_some_and(|n| accepted >= n)
}

fn iterative(listener: &Socket, cfg: &Config, stop: &dyn Stop, keep: bool) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut accepted = 0;
    // After a client, try accept(2) before poll(2): under load the next one is already queued,
    // and a stop still shows, since every client's reads poll the stop descriptor too.
    let mut queued = false;
    loop {
        if limit_reached(cfg, accepted) {
            summary.stopped_by = format!("served --max-clients {accepted}");
            break;
        }
        if !queued {
            let ready = poll::readable(&[&stop.as_fd(), &listener.as_fd()], None).context("poll")?;
            if ready[0] {
                if let Some(why) = stop.reason() {
                    summary.stopped_by = why;
                    break;
                }
            }
            if !ready[1] {
                continue;
            }
        }
        queued = false;
        if let Accepted::Client(s, peer) = accept(listener, &mut summary, cfg.log) {
            accepted += 1;
            let r = handle(s, peer, cfg, &stop.as_fd());
            // A client told "shutting down" means the stop fired: let the poll above see it.
            queued = r.outcome != "shutdown";
            summary.add(r, cfg, keep);
        }
    }
    Ok(summary)
}

fn threaded(listener: &Socket, cfg: &Config, stop: &dyn Stop, keep: bool) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut shutdown = StopPipe::new()?;
    let shutdown_trigger = shutdown.trigger();
    let shutdown = &shutdown;
    // Each worker sends its record, then a byte on `done` to wake the main loop. Non-blocking:
    // a full pipe already means "wake up", and a worker must never wait on it.
    let flags = nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK;
    let (done_r, done_w) = nix::unistd::pipe2(flags).context("pipe")?;
    let mut done_r = std::fs::File::from(done_r);
    let done_w = std::fs::File::from(done_w);
    let (tx, rx) = mpsc::channel::<Record>();
    // Accepted clients go to a pool of worker threads, started only when no worker is
    // idle and never more than the cap: creating a thread costs more than a client.
    let (job_tx, job_rx) = mpsc::channel::<(Socket, Option<SocketAddr>)>();
    let job_rx = std::sync::Mutex::new(job_rx);
    let cap = cfg.max_concurrent.max(1);
    std::thread::scope(|scope| -> Result<()> {
        let mut active = 0usize;
        let mut workers = 0usize;
        let mut accepted = 0u64;
        loop {
            let limit = limit_reached(cfg, accepted);
            if limit && active == 0 {
                summary.stopped_by = format!("served --max-clients {accepted}");
                break;
            }
            let ready = if active < cap && !limit {
                poll::readable(&[&stop.as_fd(), &done_r.as_fd(), &listener.as_fd()], None)
            } else {
                poll::readable(&[&stop.as_fd(), &done_r.as_fd()], None)
            }
            .context("poll")?;
            if ready[0] {
                if let Some(why) = stop.reason() {
                    summary.stopped_by = why;
                    break;
                }
            }
            if ready[1] {
                let mut sink = [0u8; 256];
                let _ = done_r.read(&mut sink);
                while let Ok(r) = rx.try_recv() {
                    active -= 1;
                    summary.add(r, cfg, keep);
                }
            }
            if ready.get(2) != Some(&true) {
                continue;
            }
            let Accepted::Client(s, peer) = accept(listener, &mut summary, cfg.log) else {
                continue;
            };
            accepted += 1;
            if active >= workers {
                let (tx, done_w, sd, jobs) = (tx.clone(), &done_w, shutdown, &job_rx);
                let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                    while let Some((s, peer)) = next_job(jobs) {
                        let _ = tx.send(handle(s, peer, cfg, &sd.as_fd()));
                        let _ = (&*done_w).write(&[1]);
                    }
                });
                match spawned {
                    Ok(_) => workers += 1,
                    // Busy workers will take the client later; with none at all, give up on it.
                    Err(e) if workers == 0 => {
                        let outcome = format!("thread: {}", crate::sys::errno_name(&e));
                        summary.add(
                            Record {
                                peer,
                                received: 0,
                                count: None,
                                duration: Duration::ZERO,
                                outcome,
                            },
                            cfg,
                            keep,
                        );
                        continue;
                    }
                    Err(_) => {}
                }
            }
            active += 1;
            if job_tx.send((s, peer)).is_err() {
                bail!("the worker threads are gone");
            }
        }
        // Stop accepting, tell every worker to close its client and to end, collect the records.
        drop(shutdown_trigger);
        drop(job_tx);
        drop(tx);
        for r in rx.iter() {
            summary.add(r, cfg, keep);
        }
        Ok(())
    })?;
    Ok(summary)
}

/// The next client for a worker, or `None` once the server is stopping.
fn next_job(
    jobs: &std::sync::Mutex<mpsc::Receiver<(Socket, Option<SocketAddr>)>>,
) -> Option<(Socket, Option<SocketAddr>)> {
    jobs.lock().ok()?.recv().ok()
}

/// How long to keep reading (and discarding) after the answer, so that unread input
/// does not turn the close into a reset that could destroy the answer in flight.
pub(super) const LINGER_LIMIT: Duration = Duration::from_millis(200);
pub(super) const LINGER_BYTES: usize = 1 << 20;
/// The whole line must arrive within this many idle timeouts: without it a client sending
/// one byte just before each idle timeout would hold the server for max_line timeouts.
pub const LINE_TIME_FACTOR: u32 = 4;

/// Serves one client: greeting, prompt, one line, answer, close.
pub fn handle(s: Socket, peer: Option<SocketAddr>, cfg: &Config, stop: &dyn AsFd) -> Record {
    let started = Instant::now();
    let mut rec = Record {
        peer,
        received: 0,
        count: None,
        duration: Duration::ZERO,
        outcome: "ok".into(),
    };
    let result = exchange(&s, &mut rec, cfg, stop);
    if let Err(e) = result {
        rec.outcome = crate::sys::errno_name(&e);
    }
    // A too-slow client may still be sending: drain as for an oversized line.
    close(s, rec.outcome == "line too long" || rec.outcome == "too slow");
    rec.duration = started.elapsed();
    rec
}

/// What one read of the line ended with.
pub(super) enum Line {
    Complete(Vec<u8>),
    TooLong,
    Idle,
    TooSlow,
    Shutdown,
}

fn exchange(s: &Socket, rec: &mut Record, cfg: &Config, stop: &dyn AsFd) -> io::Result<()> {
    // The client socket is blocking (on Linux accept4(2) does not pass O_NONBLOCK on), but
    // every read waits in poll first and every send is MSG_DONTWAIT: nothing here blocks.
    send_all(s, opening(rec.peer).as_bytes())?;
    let line = read_line(s, rec, cfg, stop)?;
    send_all(s, reply(line, rec, cfg).as_bytes())
}

/// The greeting and the prompt.
pub(super) fn opening(peer: Option<SocketAddr>) -> String {
    let greeting = match peer {
        Some(p) => count::greeting(&p),
        None => "welcome, ?\n".into(),
    };
    format!("{greeting}{}", count::PROMPT)
}

/// What the server says to how the line ended; the outcome (and count) go in `rec`.
pub(super) fn reply(line: Line, rec: &mut Record, cfg: &Config) -> String {
    let (outcome, text) = match line {
        Line::Complete(line) => {
            let c = count::count(&line);
            let text = count::answer(&c);
            rec.count = Some(c);
            ("ok", text)
        }
        Line::TooLong => ("line too long", count::too_long(cfg.max_line)),
        Line::Idle => ("idle timeout", count::idle(cfg.idle.as_secs_f64())),
        Line::TooSlow => {
            let limit = cfg.idle.saturating_mul(LINE_TIME_FACTOR).as_secs_f64();
            ("too slow", count::too_slow(limit))
        }
        Line::Shutdown => ("shutdown", count::SHUTTING_DOWN.into()),
    };
    rec.outcome = outcome.into();
    text
}

/// Reads up to the first LF (Python's readline), or EOF, within the caps.
fn read_line(s: &Socket, rec: &mut Record, cfg: &Config, stop: &dyn AsFd) -> io::Result<Line> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    let started = Instant::now();
    let line_deadline = started + cfg.idle.saturating_mul(LINE_TIME_FACTOR);
    let mut deadline = started + cfg.idle;
    loop {
        let now = Instant::now();
        if now >= line_deadline {
            return Ok(Line::TooSlow);
        }
        let left = deadline.min(line_deadline).saturating_duration_since(now);
        if left.is_zero() {
            return Ok(Line::Idle);
        }
        let ready = poll::readable(&[&s.as_fd(), &stop.as_fd()], Some(left))?;
        if ready[1] {
            return Ok(Line::Shutdown);
        }
        if !ready[0] {
            continue;
        }
        let n = match (&*s).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock => {
                continue
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(line_at_eof(buf, cfg.max_line));
        }
        rec.received += n;
        deadline = Instant::now() + cfg.idle;
        if let Some(line) = push_line(&mut buf, &chunk[..n], cfg.max_line) {
            return Ok(line);
        }
    }
}

/// The line so far at EOF without a newline: the same limit, one trailing CR aside.
pub(super) fn line_at_eof(buf: Vec<u8>, max_line: usize) -> Line {
    let body = buf.strip_suffix(b"\r").unwrap_or(&buf);
    if body.len() > max_line {
        Line::TooLong
    } else {
        Line::Complete(buf)
    }
}

/// Adds bytes read to the line; the line once it is complete (up to its LF) or too long.
pub(super) fn push_line(buf: &mut Vec<u8>, chunk: &[u8], max_line: usize) -> Option<Line> {
    let old = buf.len();
    buf.extend_from_slice(chunk);
    if let Some(i) = buf[old..].iter().position(|&b| b == b'\n') {
        buf.truncate(old + i + 1);
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        return Some(if body.len() > max_line {
            Line::TooLong
        } else {
            Line::Complete(std::mem::take(buf))
        });
    }
    // No newline yet: only a CR may still follow the longest allowed line.
    (buf.len() > max_line.saturating_add(1)).then_some(Line::TooLong)
}

/// Sends without ever blocking: the server sends a few hundred bytes at most into a fresh
/// socket's send buffer, so "would block" means a peer that does not read, an error (EAGAIN).
pub(super) fn send_all(s: &Socket, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match s.send_with_flags(data, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes the client, the server first as in the book. If input is still unread
/// (a pasted second line, an oversized line), close(2) would send a reset that may
/// destroy the answer in flight (RFC 1122 4.2.2.13), so half-close and drain briefly first.
fn close(s: Socket, troubled: bool) {
    let unread = poll::unread_bytes(&s).unwrap_or(0);
    if unread == 0 && !troubled {
        return;
    }
    if s.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = Instant::now() + LINGER_LIMIT;
    let mut drained = 0;
    let mut chunk = [0u8; 16384];
    while drained < LINGER_BYTES {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll::readable(&[&s.as_fd()], Some(left)).is_ok_and(|r| r[0]) {
            break;
        }
        match (&s).read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular() {
        let s = super::Summary {
            clients: 1,
            answered: 1,
            bytes: 1,
            stopped_by: "stopped".into(),
            ..Default::default()
        };
        assert_eq!(
            s.text(),
            "stopped: 1 client served (1 answered), 1 byte received, 0 errors"
        );
    }
}
