//! The book's exchange on a socket2 socket: connect to HOST:PORT, send the selector and
//! CR LF, then read until the server closes (recv returns 0). Every step is bounded: a
//! connect timeout, a read timeout per recv, a byte cap, a minimum rate over a window (as
//! curl's --speed-limit/--speed-time: a server trickling a byte now and then never trips
//! the read timeout), and a deadline for the whole exchange that every wait is cut to.
//! The reply is handed to a sink chunk by chunk, so memory stays the size of one buffer
//! however large the download.

use super::url::Target;
use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The book's `recv(2048)`.
pub const BOOK_CHUNK: usize = 2048;
/// The default read size: fewer system calls for large items.
pub const BIG_CHUNK: usize = 256 * 1024;
/// Chunk sizes kept for the report; later chunks are only counted.
const KEEP_CHUNKS: usize = 4096;

#[derive(Debug, Clone)]
pub struct Options {
    pub connect_timeout: Duration,
    /// Longest wait for any one recv.
    pub read_timeout: Duration,
    /// Stop reading after this many bytes.
    pub max_bytes: u64,
    /// Bytes asked of each recv.
    pub chunk: usize,
    /// Longest the whole exchange (connect included) may take; every wait is cut to it.
    pub max_time: Duration,
    /// Bytes per second the transfer must average over each `speed_time` window (0: no check).
    pub speed_limit: u64,
    /// The window of the rate check.
    pub speed_time: Duration,
}

/// Default minimum rate: far below any real link, far above a server that trickles.
pub const SPEED_LIMIT: u64 = 1024;
/// Default window of the rate check: a trickling server is cut off within this.
pub const SPEED_TIME: Duration = Duration::from_secs(30);

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            max_bytes: u64::MAX,
            chunk: BIG_CHUNK,
            max_time: Duration::from_secs(3600),
            speed_limit: SPEED_LIMIT,
            speed_time: SPEED_TIME,
        }
    }
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// recv returned 0: the server closed its side.
    Eof,
    /// The --max-bytes cap was reached.
    Cap,
}

/// How the reply's last bytes end, for a menu or a text (RFC 1436: a lone "." line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Nothing came.
    Empty,
    /// The last line is a lone ".": the server said the item is complete.
    DotLine,
    /// Whole lines, but no final "." line (some servers just close).
    NoDotLine,
    /// The last line has no line end: cut short, or never meant to end.
    NoLineEnd,
}

impl Ending {
    /// Classifies the last bytes of a reply (at most [`TAIL`] are needed).
    pub fn of(tail: &[u8]) -> Ending {
        if tail.is_empty() {
            return Ending::Empty;
        }
        if !tail.ends_with(b"\n") {
            return Ending::NoLineEnd;
        }
        let line = tail.strip_suffix(b"\n").unwrap_or(tail);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.strip_suffix(b".") {
            Some(before) if before.is_empty() || before.ends_with(b"\n") => Ending::DotLine,
            _ => Ending::NoDotLine,
        }
    }

    /// A note for the user when a menu or text did not end as the protocol says.
    pub fn note(self, total: u64) -> Option<String> {
        match self {
            Ending::DotLine | Ending::Empty => None,
            Ending::NoDotLine => Some(format!(
                "the reply ({total} bytes) ended without the final \".\" line: it may be incomplete"
            )),
            Ending::NoLineEnd => Some(format!(
                "the reply ({total} bytes) ended in the middle of a line, with no line end and no final \".\" line: it is probably cut short"
            )),
        }
    }
}

/// Bytes kept from the end of the reply: enough for "\n.\r\n".
pub const TAIL: usize = 5;

/// What happened on the wire.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub peer: String,
    /// The exact request bytes written.
    pub sent: Vec<u8>,
    /// Sizes of the first recv results (0 for the final EOF is not included).
    pub chunk_sizes: Vec<usize>,
    /// How many recv calls returned data.
    pub chunks: u64,
    pub total: u64,
    pub end: End,
    pub connect_ms: f64,
    pub transfer_ms: f64,
    /// The last bytes received (at most [`TAIL`]).
    pub tail: Vec<u8>,
    /// How the reply ended, read as a menu or a text would be; `None` when its bytes were
    /// not seen (spliced straight to a file).
    pub ending: Option<Ending>,
}

/// Resolves `host` and connects to the first address that answers.
pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<(Socket, SocketAddr)> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow!("unknown host {host}: its name does not resolve ({e})"))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match connect_one(*addr, timeout) {
            Ok(s) => return Ok((s, *addr)),
            Err(e) => last = Some((*addr, e)),
        }
    }
    match last {
        Some((addr, e)) => Err(connect_error(addr, &e, timeout)),
        None => Err(anyhow!("unknown host {host}: it resolves to no address")),
    }
}

fn connect_one(addr: SocketAddr, timeout: Duration) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.connect_timeout(&SockAddr::from(addr), timeout)?;
    Ok(s)
}

/// One clear line per way a connect fails.
fn connect_error(addr: SocketAddr, e: &io::Error, timeout: Duration) -> anyhow::Error {
    let errno = crate::sys::errno_name(e);
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => anyhow!(
            "connection refused by {addr} (ECONNREFUSED): nothing is listening on port {}",
            addr.port()
        ),
        Some(libc::ENETUNREACH) => anyhow!("network unreachable (ENETUNREACH): no route to {addr}"),
        Some(libc::EHOSTUNREACH) => anyhow!("host unreachable (EHOSTUNREACH): {addr} does not answer"),
        Some(libc::ETIMEDOUT) => timed_out(addr, timeout),
        _ if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
            timed_out(addr, timeout)
        }
        _ => anyhow!("connect {addr}: {errno} ({e})"),
    }
}

fn timed_out(addr: SocketAddr, timeout: Duration) -> anyhow::Error {
    anyhow!(
        "no answer from {addr} within {} s (connect timeout; try --timeout)",
        timeout.as_secs_f64()
    )
}

/// A connected socket whose request line has been sent.
struct Opened {
    sock: Socket,
    peer: SocketAddr,
    sent: Vec<u8>,
    connect_ms: f64,
}

fn open(target: &Target, opts: &Options, started: Instant) -> Result<Opened> {
    let (sock, peer) = connect(&target.host, target.port, opts.connect_timeout.min(opts.max_time))?;
    let connect_ms = ms(started.elapsed());
    sock.set_read_timeout(Some(opts.read_timeout))
        .context("setsockopt SO_RCVTIMEO")?;
    sock.set_write_timeout(Some(opts.read_timeout))
        .context("setsockopt SO_SNDTIMEO")?;
    let sent = target.request();
    (&sock).write_all(&sent).map_err(|e| {
        anyhow!(
            "send the selector to {peer}: {} ({e})",
            crate::sys::errno_name(&e)
        )
    })?;
    Ok(Opened {
        sock,
        peer,
        sent,
        connect_ms,
    })
}

impl Opened {
    fn exchange(&self) -> Exchange {
        Exchange {
            peer: self.peer.to_string(),
            sent: self.sent.clone(),
            chunk_sizes: Vec::new(),
            chunks: 0,
            total: 0,
            end: End::Eof,
            connect_ms: self.connect_ms,
            transfer_ms: 0.0,
            tail: Vec::new(),
            ending: Some(Ending::Empty),
        }
    }
}

impl Exchange {
    fn record(&mut self, n: usize) {
        self.chunks += 1;
        self.total += n as u64;
        if self.chunk_sizes.len() < KEEP_CHUNKS {
            self.chunk_sizes.push(n);
        }
    }

    fn keep_tail(&mut self, data: &[u8]) {
        self.tail
            .extend_from_slice(&data[data.len().saturating_sub(TAIL)..]);
        let extra = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..extra);
        self.ending = Some(Ending::of(&self.tail));
    }

    /// Bytes the next call may ask for, or `None` when the cap is reached.
    fn room(&mut self, opts: &Options, chunk: usize) -> Option<usize> {
        let room = opts.max_bytes.saturating_sub(self.total);
        if room == 0 {
            self.end = End::Cap;
            return None;
        }
        Some(chunk.min(usize::try_from(room).unwrap_or(usize::MAX)))
    }
}

/// The book's program: connect, send the request line, hand every chunk to `sink` until EOF.
pub fn fetch(
    target: &Target,
    opts: &Options,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> Result<Exchange> {
    let started = Instant::now();
    let o = open(target, opts, started)?;
    let mut ex = o.exchange();
    let t0 = Instant::now();
    let mut bounds = Bounds::new(started, opts, o.peer);
    let mut buf = vec![0u8; opts.chunk.max(1)];
    while let Some(want) = ex.room(opts, buf.len()) {
        bounds.before_recv(&o.sock, ex.total)?;
        let n = match (&o.sock).read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                bounds.timed_out(ex.total)?;
                continue;
            }
            Err(e) => return Err(read_error(o.peer, &e, ex.total)),
        };
        ex.record(n);
        ex.keep_tail(&buf[..n]);
        sink(&buf[..n]).map_err(|e| sink_error(e, ex.total))?;
    }
    ex.transfer_ms = ms(t0.elapsed());
    Ok(ex)
}

/// The same exchange for an item saved unchanged: the kernel moves the bytes from the socket
/// through a pipe into `out` with splice(2), never copying them into this process. Falls back
/// to read and write if `out` does not take splice (a terminal, an O_APPEND file).
pub fn fetch_to(target: &Target, opts: &Options, out: &mut std::fs::File) -> Result<Exchange> {
    use crate::sys::splice;
    use std::os::fd::AsFd;
    let started = Instant::now();
    let o = open(target, opts, started)?;
    let mut ex = o.exchange();
    ex.ending = None;
    let t0 = Instant::now();
    let mut bounds = Bounds::new(started, opts, o.peer);
    let chunk = opts.chunk.max(1);
    let (pr, pw) = splice::pipe(chunk).context("pipe for splice")?;
    let mut spliceable = true;
    let mut buf = Vec::new();
    while let Some(want) = ex.room(opts, chunk) {
        bounds.before_recv(&o.sock, ex.total)?;
        let n = match splice::splice(o.sock.as_fd(), pw.as_fd(), want) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                bounds.timed_out(ex.total)?;
                continue;
            }
            Err(e) => return Err(read_error(o.peer, &e, ex.total)),
        };
        ex.record(n);
        let mut left = n;
        while left > 0 {
            let moved = if spliceable {
                match splice::splice(pr.as_fd(), out.as_fd(), left) {
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        spliceable = false;
                        continue;
                    }
                    r => r,
                }
            } else {
                // The output refuses splice: copy what is in the pipe the ordinary way.
                buf.resize(left.min(BIG_CHUNK), 0);
                std::fs::File::from(pr.try_clone().context("dup the pipe")?)
                    .read(&mut buf)
                    .and_then(|m| out.write_all(&buf[..m]).map(|_| m))
            };
            match moved {
                Ok(0) => return Err(sink_error(io::ErrorKind::WriteZero.into(), ex.total)),
                Ok(m) => left -= m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(sink_error(e, ex.total)),
            }
        }
    }
    ex.transfer_ms = ms(t0.elapsed());
    Ok(ex)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Shortest wait given to the kernel: SO_RCVTIMEO 0 would mean "for ever".
const MIN_WAIT: Duration = Duration::from_millis(1);

/// What cut the current recv's wait short.
#[derive(Clone, Copy)]
enum Cut {
    ReadTimeout,
    Deadline,
    Window,
}

/// The time bounds of one exchange: the --max-time deadline and the rate window. Each recv
/// waits for the nearest of the three, so no bound is noticed late.
struct Bounds<'a> {
    opts: &'a Options,
    peer: SocketAddr,
    started: Instant,
    deadline: Instant,
    window_start: Instant,
    window_got: u64,
    cut: Cut,
}

impl<'a> Bounds<'a> {
    fn new(started: Instant, opts: &'a Options, peer: SocketAddr) -> Bounds<'a> {
        let now = Instant::now();
        Bounds {
            opts,
            peer,
            started,
            deadline: started + opts.max_time,
            window_start: now,
            window_got: 0,
            cut: Cut::ReadTimeout,
        }
    }

    /// Checks the bounds and sets the socket's receive timeout to the nearest one.
    fn before_recv(&mut self, sock: &Socket, got: u64) -> Result<()> {
        let now = Instant::now();
        self.check_rate(now, got)?;
        let left = self.deadline.saturating_duration_since(now);
        if left < MIN_WAIT {
            return Err(self.max_time_error(got));
        }
        let window_left = (self.window_start + self.opts.speed_time).saturating_duration_since(now);
        let mut wait = (self.opts.read_timeout, Cut::ReadTimeout);
        if left < wait.0 {
            wait = (left, Cut::Deadline);
        }
        if self.opts.speed_limit > 0 && window_left < wait.0 {
            wait = (window_left, Cut::Window);
        }
        self.cut = wait.1;
        sock.set_read_timeout(Some(wait.0.max(MIN_WAIT)))
            .context("setsockopt SO_RCVTIMEO")
    }

    /// A recv timed out: an error, unless it was only the rate window's end and the rate holds.
    fn timed_out(&mut self, got: u64) -> Result<()> {
        match self.cut {
            Cut::Deadline => Err(self.max_time_error(got)),
            Cut::Window => self.check_rate(Instant::now().max(self.window_start + self.opts.speed_time), got),
            Cut::ReadTimeout => Err(anyhow!(
                "the server at {} sent nothing for {} s (read timeout; try --timeout) after {got} bytes",
                self.peer,
                self.opts.read_timeout.as_secs_f64()
            )),
        }
    }

    /// At each window's end: enough bytes came in it, or the transfer is too slow.
    fn check_rate(&mut self, now: Instant, got: u64) -> Result<()> {
        let window = self.opts.speed_time;
        if self.opts.speed_limit == 0 || now < self.window_start + window {
            return Ok(());
        }
        let came = got - self.window_got;
        if (came as f64) < self.opts.speed_limit as f64 * window.as_secs_f64() {
            return Err(anyhow!(
                "the server at {} sent {came} bytes in {} s, below {} bytes/s (--speed-limit, --speed-time) after {got} bytes",
                self.peer,
                window.as_secs_f64(),
                self.opts.speed_limit
            ));
        }
        self.window_start = now;
        self.window_got = got;
        Ok(())
    }

    fn max_time_error(&self, got: u64) -> anyhow::Error {
        anyhow!(
            "the server at {} was still sending after {:.1} s and {got} bytes (--max-time {} s)",
            self.peer,
            self.started.elapsed().as_secs_f64(),
            self.opts.max_time.as_secs_f64()
        )
    }
}

fn read_error(peer: SocketAddr, e: &io::Error, got: u64) -> anyhow::Error {
    anyhow!(
        "recv from {peer} after {got} bytes: {} ({e})",
        crate::sys::errno_name(e)
    )
}

fn sink_error(e: io::Error, got: u64) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        // `lab gopher ... | head`: the reader left; say so in one line.
        return anyhow!("output closed after {got} bytes (broken pipe)");
    }
    anyhow!("write the item after {got} bytes: {e}")
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn target(port: u16, selector: &[u8]) -> Target {
        let mut t = crate::gopher::url::parse_args(&["127.0.0.1".into(), "x".into()]).unwrap();
        t.port = port;
        t.selector = selector.to_vec();
        t
    }

    #[test]
    fn sends_selector_crlf_and_reads_to_eof() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = [0u8; 64];
            let n = s.read(&mut req).unwrap();
            s.write_all(&vec![b'x'; 5000]).unwrap();
            req[..n].to_vec()
        });
        let mut got = Vec::new();
        let opts = Options {
            chunk: BOOK_CHUNK,
            ..Options::default()
        };
        let ex = fetch(&target(port, b"/a"), &opts, &mut |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            server.join().unwrap(),
            b"/a\r\n",
            "the server received selector + CRLF"
        );
        assert_eq!(got.len(), 5000);
        assert_eq!(ex.total, 5000);
        assert!(ex.chunk_sizes.iter().all(|&n| n <= BOOK_CHUNK));
        assert_eq!(ex.end, End::Eof);
    }

    #[test]
    fn splice_path_saves_the_same_bytes() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = body.clone();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = l.accept().unwrap();
                let mut req = [0u8; 64];
                let _ = s.read(&mut req).unwrap();
                s.write_all(&sent).unwrap();
            }
        });
        let dir = std::env::temp_dir().join(format!("lab-fetch-to-{}", std::process::id()));
        let mut f = std::fs::File::create(&dir).unwrap();
        let ex = fetch_to(&target(port, b"/b"), &Options::default(), &mut f).unwrap();
        assert_eq!(ex.total, body.len() as u64);
        assert_eq!(std::fs::read(&dir).unwrap(), body);
        // An O_APPEND file refuses splice: the fallback copies the same bytes.
        let _ = std::fs::remove_file(&dir);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&dir)
            .unwrap();
        fetch_to(&target(port, b"/b"), &Options::default(), &mut f).unwrap();
        assert_eq!(std::fs::read(&dir).unwrap(), body);
        let _ = std::fs::remove_file(&dir);
        server.join().unwrap();
    }

    #[test]
    fn refused_is_one_clear_line() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = fetch(&target(port, b""), &Options::default(), &mut |_| Ok(())).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("refused") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn cap_and_read_timeout_bound_the_loop() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (done, wait_done) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(&[b'y'; 10_000]);
            // Keep the connection open without sending until the client has given up (at most
            // 30 s): the client must time out, however slowly this machine runs.
            let (mut s2, _) = l.accept().unwrap();
            let _ = s2.write_all(b"a");
            let _ = wait_done.recv_timeout(Duration::from_secs(30));
        });
        let opts = Options {
            max_bytes: 3000,
            ..Options::default()
        };
        let ex = fetch(&target(port, b""), &opts, &mut |_| Ok(())).unwrap();
        assert_eq!((ex.total, ex.end), (3000, End::Cap));
        let opts = Options {
            read_timeout: Duration::from_millis(200),
            ..Options::default()
        };
        let e = fetch(&target(port, b""), &opts, &mut |_| Ok(())).unwrap_err();
        let _ = done.send(());
        assert!(format!("{e:#}").contains("read timeout"), "{e:#}");
        server.join().unwrap();
    }

    #[test]
    fn endings_are_classified_from_the_tail() {
        assert_eq!(Ending::of(b""), Ending::Empty);
        assert_eq!(Ending::of(b"x\r\n.\r\n"), Ending::DotLine);
        assert_eq!(Ending::of(b".\r\n"), Ending::DotLine);
        assert_eq!(Ending::of(b"\n.\n"), Ending::DotLine);
        assert_eq!(Ending::of(b"a.\r\n"), Ending::NoDotLine);
        assert_eq!(Ending::of(b"abc\n"), Ending::NoDotLine);
        assert_eq!(Ending::of(b"\n."), Ending::NoLineEnd);
        assert!(Ending::NoLineEnd.note(7).unwrap().contains("no line end"));
        assert!(Ending::DotLine.note(7).is_none());
    }

    /// A server that writes one byte every `every` until the client leaves, the test drops
    /// the returned sender, or 20 s pass. Joined: true if it saw the client leave.
    fn trickle(every: Duration) -> (u16, std::sync::mpsc::Sender<()>, std::thread::JoinHandle<bool>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until {
                if s.write_all(b"x").is_err() {
                    return true;
                }
                if stopped.recv_timeout(every) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                    return false;
                }
            }
            false
        });
        (port, stop, h)
    }

    #[test]
    fn a_trickle_below_the_rate_is_cut_off_and_says_why() {
        let (port, _stop, h) = trickle(Duration::from_millis(100));
        let opts = Options {
            speed_limit: 100,
            speed_time: Duration::from_millis(500),
            ..Options::default()
        };
        let mut tail = Vec::new();
        let e = fetch(&target(port, b""), &opts, &mut |c| {
            tail.extend_from_slice(c);
            Ok(())
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("--speed-limit"), "{e:#}");
        assert!(!tail.is_empty(), "some bytes came before the cut");
        assert!(h.join().unwrap(), "the server saw the client leave");
    }

    #[test]
    fn max_time_cuts_the_wait_for_a_silent_server_short() {
        // One byte, then silence: the read timeout (10 s) is longer than --max-time, so
        // only a wait cut to the deadline ends this with the --max-time error.
        let (port, stop, h) = trickle(Duration::from_secs(30));
        let opts = Options {
            max_time: Duration::from_millis(300),
            ..Options::default()
        };
        let e = fetch(&target(port, b""), &opts, &mut |_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("--max-time"), "{e:#}");
        drop(stop);
        h.join().unwrap();
    }
}
