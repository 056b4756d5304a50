//! The hostile mix: the same load driven at any of the line server's designs, with typed
//! results for the lab to tabulate. Well-behaved clients (so many at once) meet idle clients
//! that never send (re-opened when closed), giant lines with no newline, abrupt resets
//! (SO_LINGER 0) and lines that are not UTF-8; the server process is watched through /proc
//! for its peak memory, threads and descriptors.
//!
//! Every client is bounded by [`Mix::timeout`] and no client starts after [`Mix::budget`]: a
//! design that answers nobody (the iterative one behind an idle client) ends the run on time
//! (at most the budget, plus a time-out for clients in flight, plus 5 s for the descriptors to
//! settle), and the clients never started are counted as such.

use super::count;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What to send at the server.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Well-behaved clients in all.
    pub clients: usize,
    /// Well-behaved clients at once.
    pub at_once: usize,
    /// Connections held open that never send; one is re-opened as soon as the server closes it.
    pub idle: usize,
    /// Lines of `giant_bytes` with no newline.
    pub giant: usize,
    pub giant_bytes: usize,
    /// Clients that send half a line and reset the connection.
    pub resets: usize,
    /// Lines that are not UTF-8.
    pub garbage: usize,
    /// Longest one client may take, connect to last byte.
    pub timeout: Duration,
    /// No client starts after this.
    pub budget: Duration,
}

impl Mix {
    /// The mix: 10,000 clients, 200 at a time, 100 idle, 50 giant lines of 1 MiB,
    /// 50 resets, 100 non-UTF-8 lines.
    pub fn standard() -> Mix {
        Mix {
            clients: 10_000,
            at_once: 200,
            idle: 100,
            giant: 50,
            giant_bytes: 1 << 20,
            resets: 50,
            garbage: 100,
            timeout: Duration::from_secs(10),
            budget: Duration::from_secs(30),
        }
    }
}

/// What one design did under the mix.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Well-behaved clients started (the rest were past the budget).
    pub attempted: usize,
    /// Got the greeting, the prompt and the exact count.
    pub answered: usize,
    /// Got an answer, but not the right one.
    pub wrong: usize,
    /// Got no answer: connect or read failed or timed out.
    pub lost: usize,
    /// Never started: the budget ran out first.
    pub not_started: usize,
    /// Time from connect() to the whole answer, over the answered clients.
    pub median_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Idle connections the server closed (and that were re-opened).
    pub idle_closed: usize,
    /// Giant lines the server refused with its "Line too long" message.
    pub giant_refused: usize,
    /// Non-UTF-8 lines counted as bytes.
    pub garbage_answered: usize,
    pub resets_sent: usize,
    /// The watched process: peak resident memory (VmHWM), threads and descriptors seen.
    pub peak_rss_kib: Option<u64>,
    pub peak_threads: Option<usize>,
    pub peak_fds: Option<usize>,
    /// Its descriptors before the mix and once the mix's connections were closed.
    pub fds_before: Option<usize>,
    pub fds_after: Option<usize>,
    pub elapsed_ms: f64,
}

/// Drives `mix` at the server on `addr`; watches process `pid` (the server's) if given.
pub fn drive(addr: SocketAddr, mix: &Mix, pid: Option<u32>) -> Outcome {
    // One exchange first: the server has surely set itself up (its pipes, its epoll) before
    // its descriptors are counted as the baseline.
    let _ = one_client(addr, mix.timeout, 0);
    let mut out = Outcome {
        fds_before: pid.and_then(fd_count),
        ..Outcome::default()
    };
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let peaks = Mutex::new(Peaks::default());
    let latencies = Mutex::new(Vec::with_capacity(mix.clients));
    let tally = Tally::default();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        if let Some(pid) = pid {
            let (stop, peaks) = (&stop, &peaks);
            s.spawn(move || watch(pid, stop, peaks));
        }
        s.spawn(|| hold_idle(addr, mix, &stop, &tally));
        s.spawn(|| hostile(addr, mix, started, &tally));
        let workers: Vec<_> = (0..mix.at_once.max(1))
            .map(|_| s.spawn(|| well_behaved(addr, mix, started, &next, &tally, &latencies)))
            .collect();
        for w in workers {
            let _ = w.join();
        }
        stop.store(true, Ordering::SeqCst);
    });
    let mut lat = latencies.into_inner().unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let p = peaks.into_inner().unwrap_or_default();
    out.attempted = tally.attempted.load(Ordering::SeqCst);
    out.answered = tally.answered.load(Ordering::SeqCst);
    out.wrong = tally.wrong.load(Ordering::SeqCst);
    out.lost = out.attempted - out.answered - out.wrong;
    out.not_started = mix.clients - out.attempted;
    out.median_ms = percentile(&lat, 0.5);
    out.p99_ms = percentile(&lat, 0.99);
    out.idle_closed = tally.idle_closed.load(Ordering::SeqCst);
    out.giant_refused = tally.giant_refused.load(Ordering::SeqCst);
    out.garbage_answered = tally.garbage_answered.load(Ordering::SeqCst);
    out.resets_sent = tally.resets.load(Ordering::SeqCst);
    out.peak_rss_kib = p.rss_kib;
    out.peak_threads = p.threads;
    out.peak_fds = p.fds;
    out.fds_after = pid.and_then(|pid| settle_fds(pid, out.fds_before));
    out.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    out
}

#[derive(Default)]
struct Tally {
    attempted: AtomicUsize,
    answered: AtomicUsize,
    wrong: AtomicUsize,
    idle_closed: AtomicUsize,
    giant_refused: AtomicUsize,
    garbage_answered: AtomicUsize,
    resets: AtomicUsize,
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let v = sorted[((last as f64) * q).round() as usize];
    Some((v * 10.0).round() / 10.0)
}

/// Takes client numbers until all are taken or the budget is spent.
fn well_behaved(
    addr: SocketAddr,
    mix: &Mix,
    started: Instant,
    next: &AtomicUsize,
    tally: &Tally,
    latencies: &Mutex<Vec<f64>>,
) {
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= mix.clients || started.elapsed() >= mix.budget {
            return;
        }
        tally.attempted.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        match one_client(addr, mix.timeout, i) {
            Some(true) => {
                tally.answered.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut l) = latencies.lock() {
                    l.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Some(false) => {
                tally.wrong.fetch_add(1, Ordering::SeqCst);
            }
            None => {}
        }
    }
}

/// One well-behaved exchange: Some(true) if greeting, prompt and count are exact.
fn one_client(addr: SocketAddr, timeout: Duration, i: usize) -> Option<bool> {
    let line = format!("client {i} says {}\n", "你好".repeat(i % 3));
    let deadline = Instant::now() + timeout;
    let mut s = connect(addr, timeout).ok()?;
    let local = s.local_addr().ok()?;
    let opening = read_until(&mut s, deadline, |b| b.ends_with(count::PROMPT.as_bytes())).ok()?;
    s.write_all(line.as_bytes()).ok()?;
    let answer = read_until(&mut s, deadline, |_| false).ok()?;
    let want_opening = format!("{}{}", count::greeting(&local), count::PROMPT);
    let want = count::answer(&count::count(line.as_bytes()));
    Some(opening == want_opening.as_bytes() && answer == want.as_bytes())
}

fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.connect_timeout(&SockAddr::from(addr), timeout)?;
    Ok(s.into())
}

/// Reads until `done` says so, EOF, or the deadline (an error).
fn read_until(s: &mut TcpStream, deadline: Instant, done: impl Fn(&[u8]) -> bool) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Holds `mix.idle` silent connections until `stop`, re-opening each one the server closes.
fn hold_idle(addr: SocketAddr, mix: &Mix, stop: &AtomicBool, tally: &Tally) {
    let open = || {
        let s = connect(addr, mix.timeout).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut held: Vec<Option<TcpStream>> = Vec::with_capacity(mix.idle);
    for _ in 0..mix.idle {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        held.push(open());
    }
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        for slot in held.iter_mut() {
            // Each re-open may wait a whole time-out: look at the flag between them.
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let closed = match slot {
                Some(s) => match s.read(&mut buf) {
                    Ok(0) => true,
                    // The server spoke (its time-out message): its close follows.
                    Ok(_) => false,
                    Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
                },
                None => false,
            };
            if closed {
                tally.idle_closed.fetch_add(1, Ordering::SeqCst);
            }
            if closed || slot.is_none() {
                *slot = open();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The giant lines, the resets and the garbage, a few at a time alongside the others.
fn hostile(addr: SocketAddr, mix: &Mix, started: Instant, tally: &Tally) {
    let jobs = Mutex::new(
        std::iter::repeat_n(0u8, mix.giant)
            .chain(std::iter::repeat_n(1, mix.resets))
            .chain(std::iter::repeat_n(2, mix.garbage))
            .collect::<Vec<_>>(),
    );
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                // Past the budget the rest are not run: a server that answers nobody must
                // not keep the run going for jobs x time-out.
                let job = jobs.lock().ok().and_then(|mut j| j.pop());
                let Some(job) = job.filter(|_| started.elapsed() < mix.budget) else {
                    return;
                };
                match job {
                    0 => giant(addr, mix, tally),
                    1 => reset(addr, mix, tally),
                    _ => garbage(addr, mix, tally),
                }
            });
        }
    });
}

fn giant(addr: SocketAddr, mix: &Mix, tally: &Tally) {
    let Ok(mut s) = connect(addr, mix.timeout) else {
        return;
    };
    let deadline = Instant::now() + mix.timeout;
    let _ = s.set_write_timeout(Some(mix.timeout));
    // The server gives up long before the end: the rest of the write may fail.
    let _ = s.write_all(&vec![b'y'; mix.giant_bytes]);
    if read_until(&mut s, deadline, |_| false).is_ok_and(|b| contains(&b, b"Line too long")) {
        tally.giant_refused.fetch_add(1, Ordering::SeqCst);
    }
}

fn reset(addr: SocketAddr, mix: &Mix, tally: &Tally) {
    let Ok(mut s) = connect(addr, mix.timeout) else {
        return;
    };
    let _ = s.write_all(b"half a li");
    let sock = Socket::from(s);
    if sock.set_linger(Some(Duration::ZERO)).is_ok() {
        tally.resets.fetch_add(1, Ordering::SeqCst);
    }
}

fn garbage(addr: SocketAddr, mix: &Mix, tally: &Tally) {
    let Ok(mut s) = connect(addr, mix.timeout) else {
        return;
    };
    let deadline = Instant::now() + mix.timeout;
    let line = b"\xff\xfe not UTF-8 \xc3\x28\n";
    let want = count::answer(&count::count(line));
    if s.write_all(line).is_ok()
        && read_until(&mut s, deadline, |_| false).is_ok_and(|b| contains(&b, want.as_bytes()))
    {
        tally.garbage_answered.fetch_add(1, Ordering::SeqCst);
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[derive(Default)]
struct Peaks {
    rss_kib: Option<u64>,
    threads: Option<usize>,
    fds: Option<usize>,
}

/// Samples the process every 20 ms until `stop`.
fn watch(pid: u32, stop: &AtomicBool, peaks: &Mutex<Peaks>) {
    while !stop.load(Ordering::SeqCst) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        if let Ok(mut p) = peaks.lock() {
            p.rss_kib = p.rss_kib.max(field("VmHWM:"));
            p.threads = p.threads.max(field("Threads:").map(|t| t as usize));
            p.fds = p.fds.max(fd_count(pid));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// The process's descriptors once they are back to `before` (or after 5 s, whatever they are).
fn settle_fds(pid: u32, before: Option<usize>) -> Option<usize> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let now = fd_count(pid)?;
        if before.is_none_or(|b| now <= b) || Instant::now() >= until {
            return Some(now);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
