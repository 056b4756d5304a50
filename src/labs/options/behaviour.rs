//! Behaviour with the other end watching: SO_LINGER, SO_ERROR, SO_BROADCAST, SO_OOBINLINE.
//! Each scenario runs in its own fresh network namespace when the sandbox allows. The
//! results are typed (bytes, close() results, errnos, ports) so a packet capture of the same
//! run can be set beside them.

use super::measure::{accept_within, call_err, listener_on, opt, read, tcp, udp, Readout, STEP_TIMEOUT};
use crate::labs::wire::{Recorder, Taken};
use crate::report::Call;
use crate::sandbox::Ctx;
use crate::sys::net::{local_port, loopback};
use crate::sys::options as opts;
use crate::sys::{diag, proc, sockopt};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use socket2::{SockAddr, Socket};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// SO_LINGER's {1, N}: close() may block up to N seconds.
pub const LINGER_SECONDS: i32 = 1;

/// close() with unsent data queued and the peer's receive buffer full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LingerRun {
    /// None: SO_LINGER off (the default); Some(n): {1, n}.
    pub linger: Option<i32>,
    /// The peer was reading while close() ran.
    pub peer_reading: bool,
    /// Our port and the peer's, to find the flow in a capture.
    pub port: u16,
    pub peer_port: u16,
    pub written: usize,
    /// SIOCOUTQ just before close() (None: unreadable).
    pub unsent: Option<i32>,
    pub close: Call,
    pub close_ms: f64,
    /// Bytes the peer received before its read ended.
    pub peer_bytes: usize,
    pub peer_end: ReadEnd,
    /// What the socket table held on our port once both sides had closed.
    pub left: PortLeft,
}

impl LingerRun {
    /// The scenario's key in the capture: linger_off, linger_0, linger_1, linger_1_reading.
    pub fn key(&self) -> String {
        linger_key(self.linger, self.peer_reading)
    }
}

pub fn linger_key(linger: Option<i32>, peer_reading: bool) -> String {
    let mode = linger.map_or("off".to_string(), |n| n.to_string());
    let reading = if peer_reading { "_reading" } else { "" };
    format!("linger_{mode}{reading}")
}

/// The capture key of the unread-data scenario.
pub const UNREAD_KEY: &str = "unread_close";

/// The server close()s its accepted socket while the client's bytes sit unread in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreadRun {
    /// The server's port (the listener's) and the client's.
    pub port: u16,
    pub client_port: u16,
    pub sent: usize,
    /// SIOCINQ on the server's socket just before close() (None: unreadable).
    pub unread: Option<i32>,
    pub close: Call,
    /// How the client's read after the close ended.
    pub client_end: ReadEnd,
}

/// How the peer's reading ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadEnd {
    Eof,
    Failed(Call),
    /// The bound on reading ran out first.
    StillReading,
    ReaderPanicked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortLeft {
    Nothing,
    TimeWait { left_ms: u32 },
    Other { state: String },
}

/// A non-blocking connect to a port that refuses, then SO_ERROR read twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoError {
    /// Bound, never listening.
    pub target: SocketAddr,
    pub connect: Call,
    pub revents: i16,
    /// Tcp OutRsts counted during the connect (None: unreadable).
    pub rsts: Option<i64>,
    pub first: Readout,
    pub second: Readout,
}

/// UDP datagrams to 127.255.255.255 and to 127.0.0.1, with and without SO_BROADCAST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    /// It ran in a fresh namespace of this run (else in the sandbox's).
    pub own_namespace: bool,
    /// The receiver's own SO_BROADCAST.
    pub receiver_flag: Option<i32>,
    pub sends: Vec<BroadcastSend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastSend {
    pub flag: i32,
    pub to: SocketAddr,
    pub sent: Call,
    /// None: nothing arrived.
    pub got: Option<Datagram>,
}

impl BroadcastSend {
    pub fn to_broadcast(&self) -> bool {
        matches!(self.to, SocketAddr::V4(a) if a.ip().is_broadcast() || a.ip().octets() == [127, 255, 255, 255])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Datagram {
    pub bytes: usize,
    pub from: Option<SocketAddr>,
}

/// "ab", "X" with MSG_OOB, "cd": what the receiver's reads gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OobRun {
    pub inline: i32,
    pub revents: i16,
    pub mark_before: Result<bool, Call>,
    pub first: Result<String, Call>,
    pub mark_after: Result<bool, Call>,
    pub oob: Result<String, Call>,
    pub rest: Result<String, Call>,
}

/// Where the urgent byte came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    OutOfBand,
    Inline,
    Both,
    Nowhere,
}

impl OobRun {
    pub fn oob_got_x(&self) -> bool {
        matches!(&self.oob, Ok(s) if s == "X")
    }
    pub fn rest_has_x(&self) -> bool {
        matches!(&self.rest, Ok(s) if s.contains('X'))
    }
    pub fn place(&self) -> Place {
        match (self.oob_got_x(), self.rest_has_x()) {
            (true, false) => Place::OutOfBand,
            (false, true) => Place::Inline,
            (true, true) => Place::Both,
            (false, false) => Place::Nowhere,
        }
    }
}

// ---- SO_LINGER ----

/// The four SO_LINGER cases, each with its capture (keyed by [`LingerRun::key`]).
pub fn linger(ctx: &Ctx) -> Result<(Vec<LingerRun>, Vec<Taken>)> {
    let cases = [
        (None, false),
        (Some(0), false),
        (Some(LINGER_SECONDS), false),
        (Some(LINGER_SECONDS), true),
    ];
    let mut out = Vec::new();
    let mut taken = Vec::new();
    for (linger, peer_reading) in cases {
        let (r, _) = ctx.isolated(|| {
            let rec = Recorder::start(ctx);
            linger_once(linger, peer_reading, &rec).map(|r| {
                let t = rec.finish(&r.key(), r.peer_port);
                (r, t)
            })
        });
        let (run, t) = r.with_context(|| format!("SO_LINGER {linger:?}"))?;
        out.push(run);
        taken.extend(t);
    }
    Ok((out, taken))
}

/// close() with unread bytes in the receive queue, with its capture ([`UNREAD_KEY`]).
pub fn unread(ctx: &Ctx) -> Result<(UnreadRun, Option<Taken>)> {
    let (r, _) = ctx.isolated(|| {
        let rec = Recorder::start(ctx);
        unread_once(&rec).map(|r| {
            let t = rec.finish(UNREAD_KEY, r.port);
            (r, t)
        })
    });
    r.context("close() with unread data")
}

fn unread_once(rec: &Recorder) -> Result<UnreadRun> {
    let l = listener_on(loopback(0), 1)?;
    let port = local_port(&l)?;
    let addr = loopback(port);
    let client = tcp()?;
    client
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let server = accept_within(&l, addr)?;
    drop(l);
    let client_port = local_port(&client)?;
    let sent = client.send(b"hello\n").context("send hello")?;
    // Bounded: loopback delivers at once; wait until the bytes sit in the server's queue.
    opts::poll(&server, libc::POLLIN, STEP_TIMEOUT).context("poll")?;
    let unread = opts::in_queue(&server).ok();
    let close = Call::of(&opts::close(OwnedFd::from(server)));
    rec.mark(port);
    let (_, client_end) = drain(&client);
    drop(client);
    rec.mark(port);
    Ok(UnreadRun {
        port,
        client_port,
        sent,
        unread,
        close,
        client_end,
    })
}

/// Writes until the send queue is full; returns the bytes written.
fn fill(s: &Socket) -> Result<usize> {
    s.set_nonblocking(true)?;
    let chunk = [b'x'; 1024];
    let mut written = 0;
    // Bounded: the buffers are a few KB; 10 000 chunks is far more than they hold.
    for _ in 0..10_000 {
        match s.send(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e).context("fill the send queue"),
        }
    }
    s.set_nonblocking(false)?;
    Ok(written)
}

/// Reads until EOF or an error, bounded in time; returns (bytes, how it ended).
fn drain(s: &Socket) -> (usize, ReadEnd) {
    if let Err(e) = s.set_read_timeout(Some(STEP_TIMEOUT)) {
        return (0, ReadEnd::Failed(call_err(e)));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    let mut reader = s;
    // Bounded in time as well as count: a peer trickling bytes cannot keep us here.
    let deadline = Instant::now() + 2 * STEP_TIMEOUT;
    for _ in 0..100_000 {
        if Instant::now() > deadline {
            break;
        }
        match reader.read(&mut buf) {
            Ok(0) => return (total, ReadEnd::Eof),
            Ok(n) => total += n,
            Err(e) => return (total, ReadEnd::Failed(call_err(e))),
        }
    }
    (total, ReadEnd::StillReading)
}

/// What is left on `port` once the exchange is over: TIME-WAIT, another state, or nothing.
fn left_on(port: u16) -> Result<PortLeft> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let here: Vec<_> = diag::tcp_sockets()
            .context("sock_diag dump")?
            .into_iter()
            .filter(|s| s.local.port() == port && s.state != "LISTEN")
            .collect();
        let settled = here.iter().all(|s| s.state == "TIME-WAIT" || s.state == "CLOSE");
        if settled || Instant::now() > deadline {
            return Ok(match here.first() {
                None => PortLeft::Nothing,
                Some(s) if s.state == "TIME-WAIT" => PortLeft::TimeWait {
                    left_ms: s.expires_ms,
                },
                Some(s) => PortLeft::Other {
                    state: s.state.into(),
                },
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn linger_once(linger: Option<i32>, peer_reading: bool, rec: &Recorder) -> Result<LingerRun> {
    let l = tcp()?;
    sockopt::set_int(&l, libc::SOL_SOCKET, libc::SO_RCVBUF, 1).context("SO_RCVBUF on the listener")?;
    l.bind(&loopback(0).into()).context("bind 127.0.0.1:0")?;
    l.listen(1).context("listen")?;
    let addr = loopback(local_port(&l)?);
    let local = tcp()?;
    sockopt::set_int(&local, libc::SOL_SOCKET, libc::SO_SNDBUF, 1).context("SO_SNDBUF")?;
    local
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let peer = accept_within(&l, addr)?;
    drop(l);
    let port = local_port(&local)?;
    let written = fill(&local)?;
    if let Some(n) = linger {
        sockopt::set_linger(&local, 1, n).context("SO_LINGER")?;
    }
    let unsent = opts::out_queue(&local).ok();
    let (close, close_ms, (peer_bytes, peer_end)) = std::thread::scope(|s| {
        let reader = peer_reading.then(|| s.spawn(|| drain(&peer)));
        let started = Instant::now();
        let close = Call::of(&opts::close(OwnedFd::from(local)));
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        rec.mark(addr.port());
        let read = match reader {
            Some(h) => h.join().unwrap_or((0, ReadEnd::ReaderPanicked)),
            None => drain(&peer),
        };
        (close, ms, read)
    });
    drop(peer);
    rec.mark(addr.port());
    Ok(LingerRun {
        linger,
        peer_reading,
        port,
        peer_port: addr.port(),
        written,
        unsent,
        close,
        close_ms,
        peer_bytes,
        peer_end,
        left: left_on(port)?,
    })
}

// ---- SO_ERROR ----

pub fn so_error(ctx: &Ctx) -> Result<SoError> {
    ctx.isolated(so_error_steps).0
}

pub fn counter(name: &str) -> Option<i64> {
    proc::net_counters().ok().and_then(|m| m.get(name).copied())
}

fn so_error_steps() -> Result<SoError> {
    // A bound socket that never listens: its port is taken, and it refuses connections.
    let target = tcp()?;
    target.bind(&loopback(0).into()).context("bind 127.0.0.1:0")?;
    let addr = loopback(local_port(&target)?);
    let rsts_before = counter("TcpOutRsts");
    let s = tcp()?;
    s.set_nonblocking(true)?;
    let connect = Call::of(&s.connect(&addr.into()));
    let revents = opts::poll(&s, libc::POLLOUT, STEP_TIMEOUT).context("poll")?;
    let rsts = rsts_before
        .zip(counter("TcpOutRsts"))
        .map(|(a, b)| (b - a).max(0));
    let so_error = opt("SO_ERROR");
    let first = read(&s, so_error);
    let second = read(&s, so_error);
    Ok(SoError {
        target: addr,
        connect,
        revents,
        rsts,
        first,
        second,
    })
}

// ---- SO_BROADCAST ----

pub fn broadcast(ctx: &Ctx) -> Result<Broadcast> {
    let (r, own_namespace) = ctx.isolated(broadcast_sends);
    let (receiver_flag, sends) = r?;
    Ok(Broadcast {
        own_namespace,
        receiver_flag,
        sends,
    })
}

/// Waits (bounded) for one datagram on `r`; None when none came.
fn receive(r: &Socket, wait: Duration) -> Result<Option<Datagram>> {
    if opts::poll(r, libc::POLLIN, wait).context("poll")? & libc::POLLIN == 0 {
        return Ok(None);
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    let (n, from) = r.recv_from(&mut buf).context("recvfrom")?;
    Ok(Some(Datagram {
        bytes: n,
        from: from.as_socket(),
    }))
}

fn broadcast_sends() -> Result<(Option<i32>, Vec<BroadcastSend>)> {
    let r = udp()?;
    let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    r.bind(&any.into()).context("bind 0.0.0.0:0")?;
    let port = local_port(&r)?;
    let bcast = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 255, 255, 255), port));
    let receiver_flag = sockopt::get_int(&r, libc::SOL_SOCKET, libc::SO_BROADCAST).ok();
    let mut sends = Vec::new();
    for (flag, to) in [(0, bcast), (1, bcast), (0, loopback(port))] {
        let s = udp()?;
        sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_BROADCAST, flag).context("SO_BROADCAST")?;
        let sent = s.send_to(b"hello", &SockAddr::from(to));
        // Loopback delivers during sendto; wait only when something was sent.
        let wait = if sent.is_ok() {
            STEP_TIMEOUT
        } else {
            Duration::ZERO
        };
        let got = receive(&r, wait)?;
        sends.push(BroadcastSend {
            flag,
            to,
            sent: Call::of(&sent),
            got,
        });
    }
    Ok((receiver_flag, sends))
}

// ---- SO_OOBINLINE ----

pub fn oob(ctx: &Ctx) -> Result<Vec<OobRun>> {
    let mut out = Vec::new();
    for inline in [0, 1] {
        let (r, _) = ctx.isolated(|| oob_once(inline));
        out.push(r.with_context(|| format!("SO_OOBINLINE {inline}"))?);
    }
    Ok(out)
}

fn text_of(r: io::Result<usize>, buf: &[u8]) -> Result<String, Call> {
    r.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
        .map_err(call_err)
}

fn mark(s: &Socket) -> Result<bool, Call> {
    opts::at_mark(s).map_err(call_err)
}

fn oob_once(inline: i32) -> Result<OobRun> {
    let l = listener_on(loopback(0), 1)?;
    let addr = loopback(local_port(&l)?);
    let sender = tcp()?;
    sender
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let receiver = accept_within(&l, addr)?;
    sockopt::set_int(&receiver, libc::SOL_SOCKET, libc::SO_OOBINLINE, inline).context("SO_OOBINLINE")?;
    sender.send(b"ab").context("send ab")?;
    opts::send_oob(&sender, b"X").context("send X with MSG_OOB")?;
    sender.send(b"cd").context("send cd")?;
    // Everything acknowledged = everything sits in the receiver's queue.
    let deadline = Instant::now() + STEP_TIMEOUT;
    while opts::out_queue(&sender).unwrap_or(0) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let revents = opts::poll(&receiver, libc::POLLIN | libc::POLLPRI, STEP_TIMEOUT).context("poll")?;
    let mark_before = mark(&receiver);
    let mut buf = [0u8; 16];
    let first = text_of(opts::recv_now(&receiver, &mut buf, false), &buf);
    let mark_after = mark(&receiver);
    let oob = text_of(opts::recv_now(&receiver, &mut buf, true), &buf);
    let rest = text_of(opts::recv_now(&receiver, &mut buf, false), &buf);
    Ok(OobRun {
        inline,
        revents,
        mark_before,
        first,
        mark_after,
        oob,
        rest,
    })
}
