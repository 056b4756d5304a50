//! The server's one thread: an epoll loop (mio) over the listener and every client.
//!
//! Each client is a small state machine — reading its request line, sending the response,
//! draining its input after our FIN — stepped whenever its socket is ready, until the socket
//! would block. Sockets are registered edge-triggered for both directions once, so a step
//! must always run until "would block" (or be queued for another turn). Deadlines (the whole
//! request within the read time-out; progress within the write time-out; a bounded drain)
//! are checked by a sweep at the earliest deadline, so a silent client costs nothing while
//! it waits.

use super::send::{self, Pump, Response};
use super::MAX_REQUEST;
use super::{error_item, file_type, here, listing, menu_bytes, record, select, selector_of, Method, Shared};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
/// The token of the waker that says "stop".
pub(super) const WAKE: Token = Token(1);
/// How long, and how much, to read after our FIN: unread input would turn close into RST.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Sweeps for expired deadlines are at least this far apart.
const SWEEP_GRAIN: Duration = Duration::from_millis(10);
/// A response that took no byte for this long may be dropped to seat a new client.
const EVICT_AFTER: Duration = Duration::from_secs(1);
/// After accept fails (EMFILE...), wait this long before trying again.
const ACCEPT_PAUSE: Duration = Duration::from_millis(20);

enum State {
    Reading(Vec<u8>),
    Sending(Response),
    Draining(usize),
}

struct Conn {
    sock: TcpStream,
    peer: SocketAddr,
    state: State,
    deadline: Instant,
    /// When the response last made progress (or began).
    progress_at: Instant,
    selector: String,
    kind: char,
    /// The outcome recorded once the response is written: "ok" or the refusal's reason.
    why: String,
}

/// What a client needs after a step.
#[derive(PartialEq, Eq)]
enum Flow {
    /// Wait for its socket.
    Wait,
    /// It could write more now: give it another turn after the others.
    Again,
    /// Done with it: close.
    Close,
}

struct Loop<'a> {
    shared: &'a Shared,
    conns: HashMap<usize, Conn>,
    next_id: usize,
    next_sweep: Option<Instant>,
    accept_paused: Option<Instant>,
    again: Vec<usize>,
}

/// Runs until the stop flag is set and the waker fires; every client is closed on return.
pub(super) fn run(shared: &Shared, mut poll: Poll, listener: Socket) {
    let fd = listener.as_raw_fd();
    if poll
        .registry()
        .register(&mut SourceFd(&fd), LISTENER, Interest::READABLE)
        .is_err()
    {
        return;
    }
    let mut lp = Loop {
        shared,
        conns: HashMap::new(),
        next_id: 2,
        next_sweep: None,
        accept_paused: None,
        again: Vec::new(),
    };
    let mut events = Events::with_capacity(1024);
    while !shared.stop.load(Ordering::SeqCst) {
        match poll.poll(&mut events, lp.timeout(Instant::now())) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => lp.accept_all(&poll, &listener),
                WAKE => {}
                Token(id) => lp.step(id),
            }
        }
        lp.housekeeping(&poll, &listener);
    }
}

impl Loop<'_> {
    /// How long poll may sleep: until the next deadline, the accept retry, or not at all.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        [self.next_sweep, self.accept_paused]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    fn housekeeping(&mut self, poll: &Poll, listener: &Socket) {
        for id in std::mem::take(&mut self.again) {
            self.step(id);
        }
        let now = Instant::now();
        if self.accept_paused.is_some_and(|t| now >= t) {
            self.accept_paused = None;
            self.accept_all(poll, listener);
        }
        if self.next_sweep.is_some_and(|t| now >= t) {
            self.sweep(now);
        }
    }

    /// Takes every waiting connection (the listener is edge-triggered).
    fn accept_all(&mut self, poll: &Poll, listener: &Socket) {
        while self.accept_paused.is_none() {
            match listener.accept() {
                Ok((sock, peer)) => {
                    if let Some(peer) = peer.as_socket() {
                        self.admit(poll, sock.into(), peer);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EMFILE and the like: the connection stays queued; try again shortly.
                Err(_) => self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE),
            }
        }
    }

    fn admit(&mut self, poll: &Poll, sock: TcpStream, peer: SocketAddr) {
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        if self.conns.len() >= self.shared.cfg.max_clients && !self.evict_stalled() {
            return refuse_busy(self.shared, sock, peer);
        }
        let id = self.next_id;
        self.next_id += 1;
        let fd = sock.as_raw_fd();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if poll
            .registry()
            .register(&mut SourceFd(&fd), Token(id), interest)
            .is_err()
        {
            return;
        }
        let deadline = Instant::now() + self.shared.cfg.read_timeout;
        self.plan_sweep(deadline);
        let conn = Conn {
            sock,
            peer,
            state: State::Reading(Vec::with_capacity(256)),
            deadline,
            progress_at: Instant::now(),
            selector: String::new(),
            kind: '-',
            why: "ok".into(),
        };
        self.conns.insert(id, conn);
        // The request may already be there: its edge came before the registration.
        self.step(id);
    }

    /// Full: the response stalled longest (no byte taken for [`EVICT_AFTER`]) gives its seat
    /// to the newcomer, so clients that stop reading cannot lock the others out for a whole
    /// write time-out. True if one was dropped.
    fn evict_stalled(&mut self) -> bool {
        let now = Instant::now();
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Sending(_)))
            .filter(|(_, c)| now.duration_since(c.progress_at) >= EVICT_AFTER)
            .min_by_key(|(_, c)| c.progress_at)
            .map(|(&id, _)| id);
        let Some(c) = victim.and_then(|id| self.conns.remove(&id)) else {
            return false;
        };
        c.finish(self.shared, Some("evicted: stalled while the server was full"));
        let _ = socket2::SockRef::from(&c.sock).set_linger(Some(Duration::ZERO));
        true
    }

    fn plan_sweep(&mut self, at: Instant) {
        let at = at.max(Instant::now() + SWEEP_GRAIN);
        if self.next_sweep.is_none_or(|t| at < t) {
            self.next_sweep = Some(at);
        }
    }

    fn step(&mut self, id: usize) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let flow = c.advance(self.shared);
        let deadline = c.deadline;
        match flow {
            // Dropping the socket closes it, which also removes it from epoll.
            Flow::Close => drop(self.conns.remove(&id)),
            Flow::Again => self.again.push(id),
            Flow::Wait => self.plan_sweep(deadline),
        }
    }

    /// Ends what is past its deadline; plans the next sweep at the earliest deadline left.
    fn sweep(&mut self, now: Instant) {
        self.next_sweep = None;
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if let Some(c) = self.conns.get_mut(&id) {
                if c.expire(self.shared) {
                    self.step(id);
                } else {
                    self.conns.remove(&id);
                }
            }
        }
        if let Some(t) = self.conns.values().map(|c| c.deadline).min() {
            self.plan_sweep(t);
        }
    }
}

/// Over the cap: a short error item (it fits the empty socket buffer), then close.
fn refuse_busy(shared: &Shared, mut sock: TcpStream, peer: SocketAddr) {
    use std::io::Write;
    let body = error_item(
        "server busy: too many clients at once, try again",
        &here(shared, &sock),
    );
    let sent = sock.write(&body).unwrap_or(0);
    // Read what already came, so closing with unread data does not turn FIN into RST.
    let _ = sock.read(&mut [0u8; 4096]);
    let _ = sock.shutdown(Shutdown::Write);
    record(shared, peer, "", '3', sent as u64, Method::Memory, "busy".into());
}

/// What reading the request line gave.
enum Request {
    Line(Vec<u8>),
    TooLong,
    Closed,
    Pending,
}

impl Conn {
    /// Runs the client's state machine until its socket would block or it is done.
    fn advance(&mut self, shared: &Shared) -> Flow {
        loop {
            let next = match &mut self.state {
                State::Reading(buf) => match read_request(&self.sock, buf) {
                    Ok(Request::Pending) => return Flow::Wait,
                    Ok(Request::Closed) => {
                        record(shared, self.peer, "", '-', 0, Method::Memory, "closed".into());
                        return Flow::Close;
                    }
                    Ok(Request::TooLong) => self.refusal(
                        shared,
                        &format!("request line longer than {MAX_REQUEST} bytes"),
                        "too long",
                    ),
                    Ok(Request::Line(line)) => respond(shared, self, &line),
                    Err(e) => {
                        let why = crate::sys::errno_name(&e);
                        record(shared, self.peer, "", '-', 0, Method::Memory, why);
                        return Flow::Close;
                    }
                },
                State::Sending(r) => {
                    let before = r.sent;
                    let pumped = r.pump(&self.sock);
                    if r.sent > before {
                        self.progress_at = Instant::now();
                        self.deadline = self.progress_at + shared.cfg.write_timeout;
                    }
                    match pumped {
                        Ok(Pump::Blocked) => return Flow::Wait,
                        Ok(Pump::Turn) => return Flow::Again,
                        Ok(Pump::Done) => {
                            self.finish(shared, None);
                            let _ = self.sock.shutdown(Shutdown::Write);
                            self.deadline = Instant::now() + LINGER;
                            State::Draining(0)
                        }
                        Err(e) => {
                            self.finish(shared, Some(&crate::sys::errno_name(&e)));
                            return Flow::Close;
                        }
                    }
                }
                State::Draining(n) => return drain(&self.sock, n),
            };
            self.state = next;
        }
    }

    /// An error item to send instead of a file.
    fn refusal(&mut self, shared: &Shared, msg: &str, why: &str) -> State {
        self.kind = '3';
        self.why = why.into();
        self.progress_at = Instant::now();
        self.deadline = self.progress_at + shared.cfg.write_timeout;
        State::Sending(Response::memory(error_item(msg, &here(shared, &self.sock))))
    }

    /// Records the response: as planned, or with the error that ended it.
    fn finish(&self, shared: &Shared, err: Option<&str>) {
        let State::Sending(r) = &self.state else {
            return;
        };
        let outcome = match err {
            None => self.why.clone(),
            Some(e) if self.why == "ok" => e.to_string(),
            Some(e) => format!("{}; {e}", self.why),
        };
        record(
            shared,
            self.peer,
            &self.selector,
            self.kind,
            r.sent,
            r.method,
            outcome,
        );
    }

    /// The deadline passed. True: step it again (a silent client gets its error item).
    fn expire(&mut self, shared: &Shared) -> bool {
        match self.state {
            State::Reading(_) => {
                let secs = shared.cfg.read_timeout.as_secs_f64();
                self.state = self.refusal(shared, &format!("no selector within {secs} s"), "timeout");
                true
            }
            State::Sending(_) => {
                self.finish(shared, Some("write timeout"));
                // A reset, not a FIN behind megabytes it will never read: the kernel frees
                // the send buffer at once instead of probing a zero window for minutes.
                let _ = socket2::SockRef::from(&self.sock).set_linger(Some(Duration::ZERO));
                false
            }
            State::Draining(_) => false,
        }
    }
}

/// Reads what is there, up to the first LF, at most [`MAX_REQUEST`] bytes.
fn read_request(mut sock: &TcpStream, line: &mut Vec<u8>) -> io::Result<Request> {
    let mut buf = [0u8; 512];
    loop {
        let n = match sock.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Request::Pending),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            // A client that half-closes without a line break still asked for something.
            return Ok(if line.is_empty() {
                Request::Closed
            } else {
                Request::Line(std::mem::take(line))
            });
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            return Ok(Request::Line(std::mem::take(line)));
        }
        if line.len() > MAX_REQUEST {
            return Ok(Request::TooLong);
        }
    }
}

/// Reads and discards after our FIN until the client closes, within [`LINGER_BYTES`].
fn drain(mut sock: &TcpStream, drained: &mut usize) -> Flow {
    let mut buf = [0u8; 4096];
    while *drained < LINGER_BYTES {
        match sock.read(&mut buf) {
            Ok(0) => return Flow::Close,
            Ok(n) => *drained += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flow::Wait,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Flow::Close,
        }
    }
    Flow::Close
}

/// The response to a request line: a menu, a file, or an error item.
fn respond(shared: &Shared, c: &mut Conn, line: &[u8]) -> State {
    let selector = selector_of(line);
    c.selector = String::from_utf8_lossy(selector).into_owned();
    c.progress_at = Instant::now();
    c.deadline = c.progress_at + shared.cfg.write_timeout;
    let here = here(shared, &c.sock);
    let mut t = match select::resolve(&shared.root, selector) {
        Err(r) => return c.refusal(shared, &r.message(), r.reason()),
        Ok(t) => t,
    };
    if t.is_dir {
        c.kind = '1';
        let menu = menu_bytes(&listing::directory_menu(&shared.root, &t.rel, &here));
        return State::Sending(Response::memory(menu));
    }
    let name = t.rel.file_name().unwrap_or_default().to_os_string();
    let kind = file_type(&name, &mut t.file);
    c.kind = kind as char;
    let r = if kind == b'0' {
        send::text(t.file, t.len, shared.cfg.sendfile)
    } else {
        send::raw(t.file, t.len, shared.cfg.sendfile)
    };
    State::Sending(r.unwrap_or_else(|e| {
        c.why = crate::sys::errno_name(&e);
        Response::memory(Vec::new())
    }))
}
