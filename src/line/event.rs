//! The event design (the book's srv_async.py): one thread, an epoll loop (mio), every client a
//! small state machine — greeted on accept, its line gathered as bytes arrive, answered, then
//! closed (after a bounded drain when input is left unread). A client that says nothing costs
//! one descriptor and a few dozen bytes, never a thread, so thousands are held at once while
//! the others are served. The limits are the other modes': line length, idle time, whole-line
//! time, clients held (past the cap, new clients wait in the accept queue), --max-clients.
//!
//! Registration is edge-triggered: a client is always read until "would block", and the
//! listener is accepted from until it is empty or the cap is reached (and tried again when a
//! seat frees). Deadlines are checked by a sweep planned at the earliest one.

use super::server::{
    self, Config, Line, Record, Stop, Summary, LINE_TIME_FACTOR, LINGER_BYTES, LINGER_LIMIT,
};
use crate::sys::poll;
use anyhow::{Context, Result};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const STOP: Token = Token(1);
/// Sweeps for expired deadlines are at least this far apart.
const SWEEP_GRAIN: Duration = Duration::from_millis(5);
/// After accept fails (EMFILE...), wait this long before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

struct Client {
    sock: Socket,
    /// Until the answer is sent; `None` while draining.
    rec: Option<Record>,
    started: Instant,
    line: Vec<u8>,
    idle_at: Instant,
    line_at: Instant,
    /// While draining after the answer: until when, and how much so far.
    drain: Option<(Instant, usize)>,
}

impl Client {
    fn deadline(&self) -> Instant {
        match self.drain {
            Some((until, _)) => until,
            None => self.idle_at.min(self.line_at),
        }
    }
}

/// What a client needs after a step.
enum Flow {
    Wait,
    Close,
}

struct Loop<'a> {
    cfg: &'a Config,
    keep: bool,
    poll: Poll,
    clients: HashMap<usize, Client>,
    next_id: usize,
    accepted: u64,
    summary: Summary,
    next_sweep: Option<Instant>,
    accept_paused: Option<Instant>,
    /// The last accept stopped at the cap, not at an empty queue.
    at_cap: bool,
}

/// Runs the event loop until `stop` fires or `max_clients` have been served.
pub fn serve(listener: &Socket, cfg: &Config, stop: &dyn Stop, keep: bool) -> Result<Summary> {
    // Every held client is a descriptor: let the cap be reachable (an unprivileged process
    // may raise its soft limit up to the hard one).
    let _ = crate::sys::rlimit::raise_nofile();
    let poll = Poll::new().context("epoll_create")?;
    let registry = poll.registry();
    let lfd = listener.as_raw_fd();
    registry
        .register(&mut SourceFd(&lfd), LISTENER, Interest::READABLE)
        .context("epoll: listener")?;
    let sfd = stop.as_fd().as_raw_fd();
    registry
        .register(&mut SourceFd(&sfd), STOP, Interest::READABLE)
        .context("epoll: stop")?;
    let mut lp = Loop {
        cfg,
        keep,
        poll,
        clients: HashMap::new(),
        next_id: 2,
        accepted: 0,
        summary: Summary::default(),
        next_sweep: None,
        accept_paused: None,
        at_cap: false,
    };
    lp.run(listener, stop)?;
    lp.close_all();
    Ok(lp.summary)
}

impl Loop<'_> {
    fn run(&mut self, listener: &Socket, stop: &dyn Stop) -> Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            if server::limit_reached(self.cfg, self.accepted) && self.clients.is_empty() {
                self.summary.stopped_by = format!("served --max-clients {}", self.accepted);
                return Ok(());
            }
            match self.poll.poll(&mut events, self.timeout(Instant::now())) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("epoll_wait"),
            }
            let mut accept = false;
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => accept = true,
                    STOP => {
                        if let Some(why) = stop.reason() {
                            self.summary.stopped_by = why;
                            return Ok(());
                        }
                    }
                    Token(id) => self.step(id),
                }
            }
            let now = Instant::now();
            if self.next_sweep.is_some_and(|t| now >= t) {
                self.sweep(now);
            }
            if self.accept_paused.is_some_and(|t| now >= t) {
                self.accept_paused = None;
                accept = true;
            }
            // Also after closes, if the cap stopped the last accept: the queue may still hold clients.
            if accept || (self.at_cap && self.clients.len() < self.cap()) {
                self.accept_all(listener);
            }
        }
    }

    fn cap(&self) -> usize {
        self.cfg.max_concurrent.max(1)
    }

    fn timeout(&self, now: Instant) -> Option<Duration> {
        [self.next_sweep, self.accept_paused]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    fn plan_sweep(&mut self, at: Instant) {
        let at = at.max(Instant::now() + SWEEP_GRAIN);
        if self.next_sweep.is_none_or(|t| at < t) {
            self.next_sweep = Some(at);
        }
    }

    /// Takes waiting clients until the queue is empty, the cap is reached, or accept fails.
    fn accept_all(&mut self, listener: &Socket) {
        self.at_cap = false;
        while self.accept_paused.is_none() && !server::limit_reached(self.cfg, self.accepted) {
            if self.clients.len() >= self.cap() {
                self.at_cap = true;
                return;
            }
            match listener.accept() {
                Ok((s, addr)) => self.admit(s, addr.as_socket()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ECONNABORTED, EMFILE...: count it; a full fd table must not become a busy loop.
                    self.summary.accept_errors += 1;
                    if self.cfg.log {
                        let _ = writeln!(io::stderr(), "lab serve: accept: {}", crate::sys::errno_name(&e));
                    }
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                }
            }
        }
    }

    fn admit(&mut self, sock: Socket, peer: Option<std::net::SocketAddr>) {
        self.accepted += 1;
        let now = Instant::now();
        let mut rec = Record {
            peer,
            received: 0,
            count: None,
            duration: Duration::ZERO,
            outcome: "ok".into(),
        };
        let fd = sock.as_raw_fd();
        let ready = sock.set_nonblocking(true).and_then(|()| {
            self.poll
                .registry()
                .register(&mut SourceFd(&fd), Token(self.next_id), Interest::READABLE)
        });
        if let Err(e) = ready.and_then(|()| server::send_all(&sock, server::opening(peer).as_bytes())) {
            rec.outcome = crate::sys::errno_name(&e);
            return self.summary.add(rec, self.cfg, self.keep);
        }
        let id = self.next_id;
        self.next_id += 1;
        let c = Client {
            sock,
            rec: Some(rec),
            started: now,
            line: Vec::new(),
            idle_at: now + self.cfg.idle,
            line_at: now + self.cfg.idle.saturating_mul(LINE_TIME_FACTOR),
            drain: None,
        };
        self.plan_sweep(c.deadline());
        self.clients.insert(id, c);
        // The line may have come with the connection: its edge was before the registration.
        self.step(id);
    }

    fn step(&mut self, id: usize) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let flow = match c.drain {
            Some(_) => drain(c),
            None => match read_some(c, self.cfg) {
                Ok(None) => Flow::Wait,
                Ok(Some(line)) => answer(c, line, self.cfg, &mut self.summary, self.keep),
                Err(e) => {
                    if let Some(mut rec) = c.rec.take() {
                        rec.outcome = crate::sys::errno_name(&e);
                        rec.duration = c.started.elapsed();
                        self.summary.add(rec, self.cfg, self.keep);
                    }
                    Flow::Close
                }
            },
        };
        match flow {
            // Dropping the socket closes it, which also takes it out of epoll.
            Flow::Close => drop(self.clients.remove(&id)),
            Flow::Wait => {
                let d = c.deadline();
                self.plan_sweep(d);
            }
        }
    }

    /// Answers or closes every client past its deadline; plans the next sweep.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = None;
        let expired: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.deadline() <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            let Some(c) = self.clients.get_mut(&id) else {
                continue;
            };
            let flow = match c.drain {
                Some(_) => Flow::Close,
                None => {
                    let line = if now >= c.line_at {
                        Line::TooSlow
                    } else {
                        Line::Idle
                    };
                    answer(c, line, self.cfg, &mut self.summary, self.keep)
                }
            };
            match flow {
                Flow::Close => drop(self.clients.remove(&id)),
                Flow::Wait => {}
            }
        }
        if let Some(t) = self.clients.values().map(Client::deadline).min() {
            self.plan_sweep(t);
        }
    }

    /// Stopping: every client still waiting for its line is told so; then all are closed.
    fn close_all(&mut self) {
        for (_, mut c) in self.clients.drain() {
            if let Some(rec) = c.rec.as_mut() {
                let text = server::reply(Line::Shutdown, rec, self.cfg);
                finish(&mut c, &text, &mut self.summary, self.cfg, self.keep);
            }
        }
    }
}

/// Reads what has come; the line once complete, too long, or ended by EOF.
fn read_some(c: &mut Client, cfg: &Config) -> io::Result<Option<Line>> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = match (&c.sock).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(Some(server::line_at_eof(
                std::mem::take(&mut c.line),
                cfg.max_line,
            )));
        }
        if let Some(r) = c.rec.as_mut() {
            r.received += n;
        }
        c.idle_at = Instant::now() + cfg.idle;
        if let Some(line) = server::push_line(&mut c.line, &chunk[..n], cfg.max_line) {
            return Ok(Some(line));
        }
    }
}

/// Sends the answer, records the client, then closes it or starts the drain.
fn answer(c: &mut Client, line: Line, cfg: &Config, summary: &mut Summary, keep: bool) -> Flow {
    let Some(rec) = c.rec.as_mut() else {
        return Flow::Close;
    };
    let text = server::reply(line, rec, cfg);
    let troubled = matches!(rec.outcome.as_str(), "line too long" | "too slow");
    finish(c, &text, summary, cfg, keep);
    c.line = Vec::new();
    // Unread input would turn close into a reset that may destroy the answer in flight.
    let unread = poll::unread_bytes(&c.sock).unwrap_or(0);
    if (unread == 0 && !troubled) || c.sock.shutdown(Shutdown::Write).is_err() {
        return Flow::Close;
    }
    c.drain = Some((Instant::now() + LINGER_LIMIT, 0));
    drain(c)
}

fn finish(c: &mut Client, text: &str, summary: &mut Summary, cfg: &Config, keep: bool) {
    let Some(mut rec) = c.rec.take() else {
        return;
    };
    if let Err(e) = server::send_all(&c.sock, text.as_bytes()) {
        rec.outcome = crate::sys::errno_name(&e);
    }
    rec.duration = c.started.elapsed();
    summary.add(rec, cfg, keep);
}

/// Reads and discards after our FIN, up to [`LINGER_BYTES`]; closes at EOF or an error.
fn drain(c: &mut Client) -> Flow {
    let mut chunk = [0u8; 16384];
    loop {
        let Some((_, drained)) = c.drain.as_mut() else {
            return Flow::Close;
        };
        if *drained >= LINGER_BYTES {
            return Flow::Close;
        }
        match (&c.sock).read(&mut chunk) {
            Ok(0) => return Flow::Close,
            Ok(n) => *drained += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Flow::Close,
        }
    }
}
