//! `lab backlog` — does `listen(1)` mean "at most one waiting connection"?
//!
//! Method: a listener with backlog B accepts nothing during a window while N clients
//! start non-blocking connects at nearly the same instant. Both sides are watched:
//! each client's poll(2) readiness and TCP_INFO (when its connect completed, how often
//! it retransmitted its SYN), and the kernel's socket table (sock_diag: accept-queue
//! length and limit, SYN-RECV entries, whether the server holds a connection for a
//! client that thinks it is connected) plus counter deltas of a private namespace.
//! After the window the server accepts everything it can and each client sends one
//! line, so every client ends accepted, delivered, or with what happened to it.
//! A sweep over backlogs and the sysctl variants run in their own namespaces.

use crate::report::{Cell, Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use crate::sys::{self, connect, diag, poll, proc, sysctl_ns};
use anyhow::{bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

crate::legacy_experiment!(Backlog, "backlog", Args, run);

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What listen(backlog) does when many clients connect at once",
    after_help = "Examples:
  lab backlog --clients 20                 the book's listen(1) against 20 clients
  lab backlog --backlog 0,1,2,5,10,128     one summary row per backlog (the sweep)
  lab backlog --window 5000                watch longer: more SYN retries
  lab backlog --backlog 128 --somaxconn 4  the clamp (set inside a private namespace only)
  lab backlog --abort-on-overflow --syncookies 0
  lab backlog --format json | jq '.tables[] | select(.id==\"clients\") | .rows'"
)]
pub struct Args {
    /// Clients that connect at once (1 to 1000; also limited by `ulimit -n`).
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Backlog passed to listen(); several values (comma-separated) give the sweep.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [1])]
    pub backlog: Vec<i32>,
    /// How long the server accepts nothing, in milliseconds (100 to 60000).
    #[arg(long, default_value_t = 1200)]
    pub window: u64,
    /// Set net.core.somaxconn to this in the experiment's own namespace first.
    #[arg(long)]
    pub somaxconn: Option<u32>,
    /// Set net.ipv4.tcp_abort_on_overflow=1 in the experiment's own namespace first.
    #[arg(long)]
    pub abort_on_overflow: bool,
    /// Set net.ipv4.tcp_syncookies (0, 1 or 2) in the experiment's own namespace first.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub syncookies: Option<u8>,
}

/// Upper bound on --clients: enough for the lesson, small enough for any machine.
pub const MAX_CLIENTS: usize = 1000;
/// Descriptors the default run's side experiments hold at once: 6 sweep values and 6
/// listen() cases of 20 clients plus a listener each, 4 batches of 10 plus two, python's pipes.
const SIDE_FDS: u64 = 6 * 21 + 6 * 21 + 4 * 12 + 8;
/// After the window, how long the server keeps accepting and reading before giving up.
const DRAIN_MS: f64 = 1200.0;
/// Per-value window of the sweep: every first SYN on loopback is answered or dropped
/// within a millisecond, and the first SYN retry comes only after about 1 s.
const SWEEP_WINDOW_MS: f64 = 150.0;
/// Clients in the retry-batch variants.
const VARIANT_CLIENTS: usize = 10;
/// The variants stop watching after the first SYN retry has had time to land.
const VARIANT_BOUND_MS: f64 = 1500.0;
const POLL_MS: i32 = 5;
const DIAG_EVERY_MS: f64 = 20.0;
const DEFAULT_SWEEP: [i32; 6] = [0, 1, 2, 5, 10, 128];
const COUNTERS: [&str; 7] = [
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtSyncookiesSent",
    "TcpExtTCPReqQFullDoCookies",
    "TcpExtTCPReqQFullDrop",
    "TcpOutRsts",
    "TcpExtTCPSynRetrans",
];

/// Refuses settings the lab cannot honour, with the reason and the way out.
pub fn check_args(args: &Args, nofile: u64) -> Result<()> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        bail!("--clients {}: choose 1 to {MAX_CLIENTS}", args.clients);
    }
    if args.backlog.is_empty() || args.backlog.len() > 20 {
        bail!("--backlog: give 1 to 20 values");
    }
    // Each client needs its own socket and the server's accepted one, plus a margin. The
    // experiments run side by side: a sweep opens every value's clients at once, and the
    // default run adds its side experiments (sweep, listen() stores, phantom batches).
    let clients = args.clients as u64;
    let at_once = if args.backlog.len() > 1 {
        args.backlog.len() as u64 * (clients + 1)
    } else {
        2 * clients + SIDE_FDS
    };
    let need = at_once + 64;
    if need > nofile {
        bail!(
            "--clients {} needs about {need} open files but the limit is {nofile}: raise it (ulimit -n {need}) or use fewer clients",
            args.clients
        );
    }
    if !(100..=60_000).contains(&args.window) {
        bail!("--window {}: choose 100 to 60000 ms", args.window);
    }
    Ok(())
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<Report> {
    check_args(args, proc::open_files_limit())?;
    let mut report = super::report_for("backlog");
    let settings = Settings::from_args(args);
    if args.backlog.len() > 1 {
        let mut notes = Vec::new();
        let sweep = sweep_table(ctx, &args.backlog, args.clients, &settings, &mut notes)?;
        report.tables.push(sweep);
        for (en, zh) in notes {
            report.note_zh(en, zh);
        }
        findings(&mut report, args);
        return Ok(report);
    }
    let backlog = args.backlog[0];
    ctx.progress(&format!(
        "backlog: listen({backlog}), {} clients, watching {} ms",
        args.clients, args.window
    ));
    // The main window, the sweep and the variants run side by side, each in its
    // own namespace, so the default run stays within about 2.5 s.
    // Without namespaces they run one after another, so the counters stay the main run's.
    let side = || {
        let sweep = sweep_table(
            ctx,
            &DEFAULT_SWEEP,
            args.clients.min(20),
            &Settings::default(),
            &mut Vec::new(),
        );
        (sweep, stores_table(ctx))
    };
    let main_run = || ctx.isolated(|| main_experiment(ctx, backlog, args, &settings));
    let (main, (sweep, stores), batches) = if ctx.can_nest {
        std::thread::scope(|s| {
            let side = s.spawn(side);
            let batches = s.spawn(|| batch_table(ctx));
            let main = main_run();
            let side = side.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            let batches = batches.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (main, side, batches)
        })
    } else {
        (main_run(), side(), batch_table(ctx))
    };
    let (main, isolated) = main;
    let main = main.context("the main experiment")?;
    if !isolated {
        report.note_zh(
            "the experiment shared a network namespace with other sockets: counter deltas may include their traffic",
            "本实验与其他套接字共用了一个网络命名空间：计数器的增加量可能包含它们的流量",
        );
    }
    for (en, zh) in &main.notes {
        report.note_zh(en.as_str(), zh.as_str());
    }
    report.tables.push(clients_table(&main));
    report.tables.push(listener_table(&main));
    report.tables.push(counters_table(&main, isolated));
    report.tables.push(retries_table(&main));
    report.tables.push(sweep?);
    report.tables.push(stores?);
    report.tables.push(batches?);
    findings(&mut report, args);
    Ok(report)
}

// ---- sysctl settings ----

/// Sysctls to write in an experiment's own namespace before it starts.
#[derive(Debug, Clone, Default)]
struct Settings {
    somaxconn: Option<u32>,
    abort_on_overflow: Option<u8>,
    syncookies: Option<u8>,
}

impl Settings {
    fn from_args(a: &Args) -> Settings {
        Settings {
            somaxconn: a.somaxconn,
            abort_on_overflow: a.abort_on_overflow.then_some(1),
            syncookies: a.syncookies,
        }
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(n) = self.somaxconn {
            v.push(("net.core.somaxconn", n.to_string()));
        }
        if let Some(n) = self.abort_on_overflow {
            v.push(("net.ipv4.tcp_abort_on_overflow", n.to_string()));
        }
        if let Some(n) = self.syncookies {
            v.push(("net.ipv4.tcp_syncookies", n.to_string()));
        }
        v
    }

    /// Writes every setting here (refused unless this thread has its own namespace).
    fn apply(&self, ctx: &Ctx) -> std::result::Result<(), NotSet> {
        for (name, value) in self.pairs() {
            if !ctx.can_set_sysctls {
                return Err(NotSet {
                    en: format!("{name}={value} not set: {}", ctx.sandbox_note),
                    zh: format!("{name}={value} 未设置：{}", ctx.sandbox_note),
                });
            }
            sysctl_ns::write_here(name, &value).map_err(|e| {
                let errno = sys::errno_name(&e);
                NotSet {
                    en: format!(
                        "{name}={value} not set: {errno} (only a private namespace of this run is ever changed)"
                    ),
                    zh: format!("{name}={value} 未设置：{errno}（本程序只会修改本次运行自己的私有命名空间）"),
                }
            })?;
        }
        Ok(())
    }
}

/// Why a setting could not be written, in English (also used in table cells) and Chinese.
struct NotSet {
    en: String,
    zh: String,
}

// ---- the main experiment ----

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// A listener on 127.0.0.1, kernel-chosen port, with this backlog passed as is.
fn listener(backlog: i32) -> Result<(Socket, u16)> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("socket")?;
    s.bind(&loopback(0).into()).context("bind 127.0.0.1:0")?;
    s.listen(backlog).with_context(|| format!("listen({backlog})"))?;
    s.set_nonblocking(true)?;
    let port = s
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .context("listener address is not inet")?;
    Ok((s, port))
}

/// One client's life, as both sides saw it.
#[derive(Debug, Default)]
struct Client {
    sock: Option<Socket>,
    port: u16,
    started_ms: f64,
    connected_ms: Option<f64>,
    error: Option<String>,
    /// Times at which a SYN retransmission was seen (TCP_INFO total_retrans rose).
    retries_ms: Vec<f64>,
    rto_ms: Vec<Option<u32>>,
    /// What the server held for this client when its connect() completed.
    server_side: Option<&'static str>,
    window_end: String,
    line_sent: Option<Cell>,
    accepted_ms: Option<f64>,
    server_sock: Option<Socket>,
    received: Vec<u8>,
    delivered_ms: Option<f64>,
}

impl Client {
    fn pending(&self) -> bool {
        self.connected_ms.is_none() && self.error.is_none()
    }
    fn phantom(&self) -> bool {
        self.connected_ms.is_some() && self.server_side.is_some_and(|s| s != SERVER_HAS_IT)
    }
}

const SERVER_HAS_IT: &str = "yes (ESTAB)";
const SERVER_REQUEST: &str = "no: SYN-RECV, ACK dropped";
const SERVER_NOTHING: &str = "no: nothing (SYN cookie), ACK dropped";

/// What the listener looked like, from sock_diag samples.
#[derive(Debug, Default, Clone)]
struct ListenerView {
    limit: Option<u32>,
    queue_max: u32,
    queue_now: u32,
    syn_recv_max: usize,
    samples: usize,
}

struct Main {
    backlog: i32,
    window_ms: f64,
    clients: Vec<Client>,
    window_view: ListenerView,
    drain_view: ListenerView,
    counters: [BTreeMap<String, i64>; 3],
    syn_sysctls: (String, String),
    /// net.ipv4.tcp_abort_on_overflow as the run's namespace had it.
    abort_on_overflow: String,
    /// Report notes, (English, Chinese).
    notes: Vec<(String, String)>,
    elapsed_ms: f64,
}

struct Clock(Instant);
impl Clock {
    fn ms(&self) -> f64 {
        (self.0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
    }
}

fn main_experiment(ctx: &Ctx, backlog: i32, args: &Args, settings: &Settings) -> Result<Main> {
    let mut notes = Vec::new();
    if let Err(e) = settings.apply(ctx) {
        notes.push((e.en, e.zh));
    }
    let (l, port) = listener(backlog)?;
    let before = proc::net_counters().context("read counters")?;
    let clock = Clock(Instant::now());
    let mut clients: Vec<Client> = (0..args.clients).map(|_| Client::default()).collect();
    for c in clients.iter_mut() {
        c.started_ms = clock.ms();
        let (s, r) = connect::start_connect(loopback(port)).context("socket for a client")?;
        c.port = s.local_addr()?.as_socket().map(|a| a.port()).unwrap_or(0);
        match r {
            Ok(()) => c.sock = Some(s),
            Err(e) => c.error = Some(sys::errno_name(&e)),
        }
    }
    let window_ms = args.window as f64;
    let mut m = Main {
        backlog,
        window_ms,
        clients,
        window_view: ListenerView::default(),
        drain_view: ListenerView::default(),
        counters: [before, BTreeMap::new(), BTreeMap::new()],
        abort_on_overflow: proc::read_sysctl("net.ipv4.tcp_abort_on_overflow")
            .unwrap_or_else(|_| "unreadable".into()),
        syn_sysctls: (
            proc::read_sysctl("net.ipv4.tcp_syn_retries").unwrap_or_else(|_| "unreadable".into()),
            proc::read_sysctl("net.ipv4.tcp_syn_linear_timeouts").unwrap_or_else(|_| "unreadable".into()),
        ),
        notes,
        elapsed_ms: 0.0,
    };
    watch(ctx, &clock, &l, port, &mut m, false, window_ms)?;
    // The window's end: freeze what each client believes, then let the server work.
    for c in m.clients.iter_mut() {
        c.window_end = state_word(c);
    }
    m.counters[1] = proc::net_counters().context("read counters")?;
    ctx.progress(&format!(
        "backlog: window over at {:.0} ms: {} connected, {} waiting; accepting now",
        clock.ms(),
        m.clients.iter().filter(|c| c.connected_ms.is_some()).count(),
        m.clients.iter().filter(|c| c.pending()).count()
    ));
    watch(ctx, &clock, &l, port, &mut m, true, window_ms + DRAIN_MS)?;
    m.counters[2] = proc::net_counters().context("read counters")?;
    m.elapsed_ms = clock.ms();
    // Close everything now: no socket outlives the experiment.
    for c in m.clients.iter_mut() {
        c.sock = None;
        c.server_sock = None;
    }
    drop(l);
    Ok(m)
}

fn state_word(c: &Client) -> String {
    match (&c.error, c.connected_ms) {
        (Some(e), _) => e.clone(),
        (None, Some(_)) => "connected".into(),
        (None, None) => "waiting (SYN-SENT)".into(),
    }
}

/// One phase of the poll loop. `serve` false: nobody accepts (the window);
/// true: the server accepts and reads, and each connected client sends its line.
fn watch(
    ctx: &Ctx,
    clock: &Clock,
    l: &Socket,
    port: u16,
    m: &mut Main,
    serve: bool,
    until_ms: f64,
) -> Result<()> {
    let mut last_diag = f64::NEG_INFINITY;
    let mut last_progress = clock.ms();
    if serve {
        send_lines(m);
    }
    // Bounded: ends at until_ms (at most 61.2 s), or earlier once every client is settled.
    loop {
        let now = clock.ms();
        if now >= until_ms || (serve && m.clients.iter().all(settled)) {
            break;
        }
        let (fds, who) = poll_set(m, l, serve);
        let wait = ((until_ms - now).ceil() as i32).clamp(0, POLL_MS);
        let revents = poll::events(&fds, wait).context("poll")?;
        let t = clock.ms();
        let mut newly = Vec::new();
        for (w, rev) in who.iter().zip(&revents) {
            if let Who::Client(i) = *w {
                if *rev != 0 && client_event(&mut m.clients[i], *rev, t) {
                    newly.push(i);
                }
            }
        }
        track_retries(&mut m.clients, t);
        if !newly.is_empty() || t - last_diag >= DIAG_EVERY_MS {
            last_diag = t;
            let view = if serve {
                &mut m.drain_view
            } else {
                &mut m.window_view
            };
            sample(port, view, &mut m.clients, &newly)?;
        }
        if serve {
            send_lines(m);
            accept_all(l, &mut m.clients, t)?;
            read_lines(&mut m.clients, t);
        }
        if t - last_progress >= 250.0 {
            last_progress = t;
            let v = if serve { &m.drain_view } else { &m.window_view };
            ctx.progress(&format!(
                "backlog: {t:.0} ms: {} connected, {} waiting, accept queue {}/{}",
                m.clients.iter().filter(|c| c.connected_ms.is_some()).count(),
                m.clients.iter().filter(|c| c.pending()).count(),
                v.queue_now,
                v.limit.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
            ));
        }
    }
    Ok(())
}

/// The descriptors one poll round watches, and whose socket each one is.
fn poll_set(m: &Main, l: &Socket, serve: bool) -> (Vec<(std::os::fd::RawFd, i16)>, Vec<Who>) {
    let mut fds = Vec::new();
    let mut who = Vec::new();
    for (i, c) in m.clients.iter().enumerate() {
        if let Some(s) = &c.sock {
            if c.pending() {
                fds.push((s.as_raw_fd(), libc::POLLOUT));
                who.push(Who::Client(i));
            } else if c.error.is_none() && c.delivered_ms.is_none() {
                // Watches for a reset on a client that thinks it is connected.
                fds.push((s.as_raw_fd(), libc::POLLIN));
                who.push(Who::Client(i));
            }
        }
        if let Some(s) = &c.server_sock {
            if c.delivered_ms.is_none() {
                fds.push((s.as_raw_fd(), libc::POLLIN));
                who.push(Who::Server);
            }
        }
    }
    if serve {
        fds.push((l.as_raw_fd(), libc::POLLIN));
        who.push(Who::Listener);
    }
    (fds, who)
}

enum Who {
    Client(usize),
    Server,
    Listener,
}

/// Nothing more can happen to this client within the run.
fn settled(c: &Client) -> bool {
    c.error.is_some() || c.delivered_ms.is_some()
}

/// Handles readiness on a client socket; true when its connect just completed.
fn client_event(c: &mut Client, rev: i16, t: f64) -> bool {
    let Some(s) = &c.sock else { return false };
    let err = s.take_error().ok().flatten();
    if c.pending() {
        let info = connect::tcp_info(s).ok();
        // The SYN-ACK's arrival dates the completion better than this poll round does.
        let since = info.map(|i| i.last_ack_recv_ms as f64).unwrap_or(0.0);
        let done = (t - since).max(c.started_ms);
        if let Some(info) = info {
            note_retries(c, info, done);
        }
        match err {
            Some(e) => c.error = Some(sys::errno_name(&e)),
            None if rev & libc::POLLOUT != 0 => {
                c.connected_ms = Some(done);
                return true;
            }
            None => c.error = Some(format!("poll revents {rev:#x}")),
        }
        return false;
    }
    // Connected: readable means the peer reset or closed it (the server never writes).
    let mut b = [0u8; 16];
    c.error = Some(match err {
        Some(e) => sys::errno_name(&e),
        None => match (&*s).read(&mut b) {
            Ok(0) => "closed by the server (EOF)".into(),
            Ok(_) => return false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) => sys::errno_name(&e),
        },
    });
    false
}

fn note_retries(c: &mut Client, info: connect::TcpInfo, t: f64) {
    while (c.retries_ms.len() as u32) < info.total_retrans {
        c.retries_ms.push(t);
        // Once connected, the timeout is the data one, not the SYN's.
        c.rto_ms.push((info.state == 2).then_some(info.rto_ms));
    }
}

/// TCP_INFO on every waiting client: a rise in total_retrans is a SYN retry.
fn track_retries(clients: &mut [Client], t: f64) {
    for c in clients.iter_mut().filter(|c| c.pending()) {
        if let Some(info) = c.sock.as_ref().and_then(|s| connect::tcp_info(s).ok()) {
            note_retries(c, info, t);
        }
    }
}

/// One sock_diag dump: the listener's queue and, for clients that just connected,
/// whether the server holds a connection for them.
fn sample(port: u16, view: &mut ListenerView, clients: &mut [Client], newly: &[usize]) -> Result<()> {
    let rows = diag::tcp_sockets_on_port(port).context("sock_diag dump")?;
    view.samples += 1;
    if let Some(l) = rows.iter().find(|r| r.state == "LISTEN") {
        view.limit = Some(l.send_q);
        view.queue_now = l.recv_q;
        view.queue_max = view.queue_max.max(l.recv_q);
    }
    let syn_recv = rows.iter().filter(|r| r.state.contains("SYN-RECV")).count();
    view.syn_recv_max = view.syn_recv_max.max(syn_recv);
    for &i in newly {
        let cport = clients[i].port;
        let mine = rows.iter().find(|r| r.remote.port() == cport);
        clients[i].server_side = Some(match mine.map(|r| r.state) {
            Some("ESTAB") => SERVER_HAS_IT,
            Some(s) if s.contains("SYN-RECV") => SERVER_REQUEST,
            _ => SERVER_NOTHING,
        });
    }
    Ok(())
}

/// Every connected client that has not yet sent its line sends it now.
fn send_lines(m: &mut Main) {
    for (i, c) in m.clients.iter_mut().enumerate() {
        if c.connected_ms.is_none() || c.line_sent.is_some() || c.error.is_some() {
            continue;
        }
        if let Some(s) = &c.sock {
            let r = (&*s).write_all(format!("client {i}\n").as_bytes());
            c.line_sent = Some(crate::report::outcome(&r));
            if let Err(e) = r {
                c.error = Some(sys::errno_name(&e));
            }
        }
    }
}

/// Accepts everything queued (bounded by the number of clients) and pairs each
/// accepted socket with its client by port.
fn accept_all(l: &Socket, clients: &mut [Client], t: f64) -> Result<()> {
    for _ in 0..=clients.len() {
        match l.accept() {
            Ok((s, peer)) => {
                let peer_port = peer.as_socket().map(|a| a.port());
                s.set_nonblocking(true)?;
                if let Some(c) = clients.iter_mut().find(|c| Some(c.port) == peer_port) {
                    c.accepted_ms = Some(t);
                    c.server_sock = Some(s);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(e) => return Err(e).context("accept"),
        }
    }
    Ok(())
}

/// Reads what accepted connections have received; a full line is "delivered".
fn read_lines(clients: &mut [Client], t: f64) {
    for c in clients.iter_mut().filter(|c| c.delivered_ms.is_none()) {
        let Some(s) = &c.server_sock else { continue };
        let mut b = [0u8; 64];
        // Bounded: a line is a dozen bytes.
        for _ in 0..8 {
            match (&*s).read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => c.received.extend_from_slice(&b[..n]),
            }
        }
        if c.received.contains(&b'\n') {
            c.delivered_ms = Some(t);
        }
    }
}

// ---- tables of the main experiment ----

/// What became of one client, in plain words.
fn outcome_word(c: &Client, window_ms: f64) -> String {
    let late = c.connected_ms.is_some_and(|t| t > window_ms);
    match (c.phantom(), &c.error, c.accepted_ms, c.delivered_ms) {
        (_, Some(e), _, _) if c.connected_ms.is_some() => {
            format!(
                "{}connected, then {e}",
                if c.phantom() { "PHANTOM: " } else { "" }
            )
        }
        (_, Some(e), _, _) => format!("connect failed: {e}"),
        (true, None, Some(_), Some(_)) => "PHANTOM: connected while not in the queue; accepted late".into(),
        (true, None, Some(_), None) => {
            "PHANTOM: connected while not in the queue; accepted late, line not delivered within the bound"
                .into()
        }
        (true, None, None, _) => "PHANTOM: thinks it is connected; never accepted within the bound".into(),
        // "retried" only when TCP_INFO saw a SYN retransmission, not merely because it was late.
        (false, None, Some(_), Some(_)) if late && !c.retries_ms.is_empty() => {
            "SYN retried, then connected and accepted".into()
        }
        (false, None, Some(_), Some(_)) if late => "after the window: connected and accepted".into(),
        (false, None, Some(_), Some(_)) => "accepted".into(),
        (false, None, Some(_), None) => "accepted; line not delivered within the bound".into(),
        (false, None, None, _) if c.connected_ms.is_some() => {
            "connected; never accepted within the bound".into()
        }
        (false, None, None, _) => "still waiting (SYN-SENT) at the bound".into(),
    }
}

fn clients_table(m: &Main) -> Table {
    let mut t = Table::new(
        "clients",
        &format!(
            "Each client of listen({}) — the server accepts nothing for {} ms",
            m.backlog, m.window_ms
        ),
        &[
            ("client", "client"),
            ("connect_ms", "connect() done (ms)"),
            ("syn_retries", "SYN retries"),
            ("window_end", "at window end"),
            ("server_side", "server had it?"),
            ("accepted_ms", "accepted (ms)"),
            ("line", "line delivered"),
            ("outcome", "what happened"),
        ],
    )
    .zh(
        &format!(
            "listen({}) 的每个客户端——服务器在 {} 毫秒内不调用 accept",
            m.backlog, m.window_ms
        ),
        &[
            "客户端",
            "connect() 完成（毫秒）",
            "SYN 重传次数",
            "观察窗口结束时",
            "服务器端有这个连接吗？",
            "accept 的时间（毫秒）",
            "那一行送达了吗",
            "结果",
        ],
    );
    for (i, c) in m.clients.iter().enumerate() {
        t.push(row! {
            "client" => i,
            "connect_ms" => c.connected_ms,
            "syn_retries" => c.retries_ms.len(),
            "window_end" => c.window_end,
            "server_side" => c.server_side,
            "accepted_ms" => c.accepted_ms,
            "line" => if c.delivered_ms.is_some() { "yes" } else { "no" },
            "outcome" => outcome_word(c, m.window_ms),
        });
    }
    let started_within = m.clients.last().map(|c| c.started_ms).unwrap_or(0.0);
    t.note_zh(
        format!(
            "all {} connects were started within {started_within:.1} ms; after the window the server accepted for up to {DRAIN_MS} ms and each connected client sent one line",
            m.clients.len(),
        ),
        format!(
            "全部 {} 个 connect 在 {started_within:.1} 毫秒内发起；观察窗口之后，服务器最多 accept {DRAIN_MS} 毫秒，每个连上的客户端发送一行",
            m.clients.len(),
        ),
    );
    t.note_zh(
        "\"server had it?\" is read from the kernel's socket table (sock_diag) the moment the client's connect() completed",
        "“服务器有这个连接吗？”是在客户端 connect() 完成的那一刻，从内核的套接字表（sock_diag）读出来的",
    );
    let abort = &m.abort_on_overflow;
    t.note_zh(
        format!("PHANTOM: the client's connect() succeeded but the server's kernel dropped its final ACK because the accept queue was full (tcp_abort_on_overflow={abort} in this run)"),
        format!("PHANTOM（幽灵连接）：客户端的 connect() 成功了，但服务器内核因为 accept 队列已满而丢掉了它的最后一个 ACK（本次运行中 tcp_abort_on_overflow={abort}）"),
    );
    t
}

fn listener_table(m: &Main) -> Table {
    let mut t = Table::new(
        "listener",
        "The listening socket, from the kernel's socket table",
        &[
            ("what", "what"),
            ("window", "during the window"),
            ("after", "after the window"),
        ],
    )
    .zh(
        "监听套接字（来自内核的套接字表）",
        &["项目", "观察窗口内", "观察窗口之后"],
    );
    let (w, d) = (&m.window_view, &m.drain_view);
    let connected_by = |limit: f64| {
        m.clients
            .iter()
            .filter(|c| c.connected_ms.is_some_and(|t| t <= limit))
            .count()
    };
    t.push(row! { "what" => "backlog passed to listen()", "window" => m.backlog, "after" => m.backlog });
    t.push(row! { "what" => "accept-queue limit (ss Send-Q)", "window" => w.limit, "after" => d.limit });
    t.push(row! { "what" => "accept-queue length, max (ss Recv-Q)", "window" => w.queue_max, "after" => d.queue_max });
    t.push(row! { "what" => "SYN-RECV entries, max", "window" => w.syn_recv_max, "after" => d.syn_recv_max });
    t.push(row! {
        "what" => "clients whose connect() had completed",
        "window" => connected_by(m.window_ms),
        "after" => connected_by(f64::INFINITY),
    });
    let accepted_by = |limit: f64| {
        m.clients
            .iter()
            .filter(|c| c.accepted_ms.is_some_and(|t| t <= limit))
            .count()
    };
    t.push(row! {
        "what" => "clients the server accepted",
        "window" => accepted_by(m.window_ms),
        "after" => accepted_by(f64::INFINITY),
    });
    t.push(row! { "what" => "socket-table samples", "window" => w.samples, "after" => d.samples });
    t
}

fn counters_table(m: &Main, own_namespace: bool) -> Table {
    let whose = if own_namespace {
        "the run's own namespace"
    } else {
        "a shared namespace (other traffic included)"
    };
    let mut t = Table::new(
        "counters",
        &format!("Kernel counters of {whose} (/proc/net/netstat, /proc/net/snmp): increase"),
        &[
            ("counter", "counter"),
            ("window", "during the window"),
            ("after", "after the window"),
        ],
    )
    .zh(
        if own_namespace {
            "本次运行独占的网络命名空间中的内核计数器：增加量"
        } else {
            "共享网络命名空间中的内核计数器（含其他流量）：增加量"
        },
        &["计数器", "观察窗口内", "观察窗口之后"],
    );
    let [a, b, c] = &m.counters;
    for name in COUNTERS {
        let d = |x: &BTreeMap<String, i64>, y: &BTreeMap<String, i64>| match (x.get(name), y.get(name)) {
            (Some(x), Some(y)) => Cell::from(y - x),
            _ => Cell::Null,
        };
        t.push(row! { "counter" => name, "window" => d(a, b), "after" => d(b, c) });
    }
    t.note_zh(
        "ListenOverflows: a SYN or a final ACK found the accept queue full; ListenDrops counts every SYN the listener dropped",
        "ListenOverflows：某个 SYN 或最后的 ACK 遇到 accept 队列已满；ListenDrops 统计监听套接字丢弃的每一个 SYN",
    );
    t.note_zh(
        "TCPReqQFullDoCookies / SyncookiesSent: SYN-ACKs sent as SYN cookies; TCPReqQFullDrop: SYNs dropped because the SYN queue was full and cookies were off",
        "TCPReqQFullDoCookies / SyncookiesSent：以 SYN cookie 形式发出的 SYN-ACK；TCPReqQFullDrop：因 SYN 队列已满且未开启 cookie 而丢弃的 SYN",
    );
    t
}

/// Per retry number: who retried, when, and the gap since the previous SYN.
fn retries_table(m: &Main) -> Table {
    let mut t = Table::new(
        "retries",
        "SYN retransmissions of the waiting clients, measured (TCP_INFO)",
        &[
            ("retry", "SYN retry"),
            ("clients", "clients"),
            ("first_ms", "first seen (ms)"),
            ("last_ms", "last seen (ms)"),
            ("gap_ms", "gap since previous SYN, median (ms)"),
            ("rto_ms", "timeout then in force (ms)"),
        ],
    )
    .zh(
        "等待中的客户端的 SYN 重传（TCP_INFO 实测）",
        &[
            "第几次 SYN 重传",
            "客户端数",
            "最早（毫秒）",
            "最晚（毫秒）",
            "与上一个 SYN 的间隔中位数（毫秒）",
            "当时的超时值（毫秒）",
        ],
    );
    for r in retry_schedule(&m.clients) {
        t.push(row! {
            "retry" => r.retry, "clients" => r.clients, "first_ms" => r.first_ms,
            "last_ms" => r.last_ms, "gap_ms" => r.gap_ms, "rto_ms" => r.rto_ms,
        });
    }
    let (retries, linear) = &m.syn_sysctls;
    t.note_zh(
        format!(
            "net.ipv4.tcp_syn_retries = {retries}, net.ipv4.tcp_syn_linear_timeouts = {linear} (read inside the run's namespace)"
        ),
        format!(
            "net.ipv4.tcp_syn_retries = {retries}，net.ipv4.tcp_syn_linear_timeouts = {linear}（在本次运行的命名空间内读取）"
        ),
    );
    t.note_zh(
        format!(
            "sampled every {POLL_MS} ms; a retry that at once completed the connection is stamped with the arrival of its SYN-ACK (TCP_INFO last_ack_recv)"
        ),
        format!(
            "每 {POLL_MS} 毫秒采样一次；一次重传若立刻完成了连接，就以它的 SYN-ACK 到达时刻为准（TCP_INFO last_ack_recv）"
        ),
    );
    t
}

#[derive(Debug, Clone, PartialEq)]
struct RetryRow {
    retry: usize,
    clients: usize,
    first_ms: f64,
    last_ms: f64,
    gap_ms: f64,
    rto_ms: Option<u32>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    (v[v.len() / 2] * 10.0).round() / 10.0
}

fn retry_schedule(clients: &[Client]) -> Vec<RetryRow> {
    let most = clients.iter().map(|c| c.retries_ms.len()).max().unwrap_or(0);
    (1..=most)
        .map(|k| {
            let who: Vec<&Client> = clients.iter().filter(|c| c.retries_ms.len() >= k).collect();
            let times: Vec<f64> = who.iter().map(|c| c.retries_ms[k - 1]).collect();
            let gaps = who
                .iter()
                .map(|c| c.retries_ms[k - 1] - if k == 1 { c.started_ms } else { c.retries_ms[k - 2] })
                .collect();
            RetryRow {
                retry: k,
                clients: who.len(),
                first_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
                last_ms: times.iter().copied().fold(0.0, f64::max),
                gap_ms: median(gaps),
                rto_ms: who.iter().find_map(|c| c.rto_ms.get(k - 1).copied().flatten()),
            }
        })
        .collect()
}

// ---- the sweep ----

/// What a short no-accept window shows for one listen() call.
#[derive(Debug, Clone, Default)]
struct FirstSyn {
    limit: Option<u32>,
    connected: usize,
    pending: usize,
    failed: usize,
    queue_max: u32,
    overflows: Option<i64>,
}

/// listen(backlog), `n` clients connect at once, nobody accepts for SWEEP_WINDOW_MS.
fn first_syn(backlog: i32, n: usize) -> Result<FirstSyn> {
    let (l, port) = listener(backlog)?;
    let before = proc::net_counters().ok();
    let clock = Clock(Instant::now());
    let mut socks = Vec::with_capacity(n);
    let mut out = FirstSyn::default();
    for _ in 0..n {
        let (s, r) = connect::start_connect(loopback(port)).context("socket for a client")?;
        if r.is_ok() {
            socks.push((s, None::<bool>));
        } else {
            out.failed += 1;
        }
    }
    while clock.ms() < SWEEP_WINDOW_MS {
        let fds: Vec<_> = socks
            .iter()
            .filter(|s| s.1.is_none())
            .map(|s| (s.0.as_raw_fd(), libc::POLLOUT))
            .collect();
        let rev = poll::events(&fds, POLL_MS).context("poll")?;
        let mut it = rev.into_iter();
        for s in socks.iter_mut().filter(|s| s.1.is_none()) {
            if it.next().unwrap_or(0) != 0 {
                s.1 = Some(s.0.take_error().ok().flatten().is_none());
            }
        }
        if let Some(lrow) = diag::tcp_sockets_on_port(port)?
            .into_iter()
            .find(|r| r.state == "LISTEN")
        {
            out.limit = Some(lrow.send_q);
            out.queue_max = out.queue_max.max(lrow.recv_q);
        }
    }
    out.connected = socks.iter().filter(|s| s.1 == Some(true)).count();
    out.failed += socks.iter().filter(|s| s.1 == Some(false)).count();
    out.pending = socks.iter().filter(|s| s.1.is_none()).count();
    if let (Some(b), Ok(a)) = (before, proc::net_counters()) {
        out.overflows =
            Some(a.get("TcpExtListenOverflows").unwrap_or(&0) - b.get("TcpExtListenOverflows").unwrap_or(&0));
    }
    drop(socks);
    drop(l);
    Ok(out)
}

/// Runs `f` for every item, side by side in fresh namespaces when possible,
/// else one after another here (so counters stay attributable).
fn each_isolated<I: Sync, T: Send>(ctx: &Ctx, items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<(T, bool)> {
    if !ctx.can_nest {
        return items.iter().map(|i| (f(i), false)).collect();
    }
    std::thread::scope(|s| {
        let hs: Vec<_> = items.iter().map(|i| s.spawn(|| ctx.isolated(|| f(i)))).collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn sweep_table(
    ctx: &Ctx,
    backlogs: &[i32],
    clients: usize,
    settings: &Settings,
    notes: &mut Vec<(String, String)>,
) -> Result<Table> {
    let mut t = Table::new(
        "sweep",
        &format!("{clients} clients against listen(B), nobody accepts: the first {SWEEP_WINDOW_MS} ms"),
        &[
            ("backlog", "B (listen)"),
            ("limit", "limit stored (Send-Q)"),
            ("b_plus_1", "B + 1"),
            ("queue_max", "accept queue, max"),
            ("connected", "connected"),
            ("pending", "waiting (SYN-SENT)"),
            ("overflows", "ListenOverflows"),
        ],
    )
    .zh(
        &format!("{clients} 个客户端对 listen(B)，无人 accept：前 {SWEEP_WINDOW_MS} 毫秒"),
        &[
            "B（listen 参数）",
            "内核存下的上限（Send-Q）",
            "B + 1",
            "accept 队列最大长度",
            "已连接",
            "等待中（SYN-SENT）",
            "ListenOverflows",
        ],
    );
    let results = each_isolated(ctx, backlogs, |&b| {
        settings
            .apply(ctx)
            .map_err(|e| anyhow::anyhow!(e.en))
            .and_then(|_| first_syn(b, clients))
    });
    let mut all_isolated = true;
    for (&b, (r, isolated)) in backlogs.iter().zip(results) {
        all_isolated &= isolated;
        let r = r.with_context(|| format!("sweep listen({b})"))?;
        t.push(row! {
            "backlog" => b, "limit" => r.limit, "b_plus_1" => b as i64 + 1, "queue_max" => r.queue_max,
            "connected" => r.connected, "pending" => r.pending,
            "overflows" => if isolated { r.overflows } else { None },
        });
    }
    let (own, own_zh) = if all_isolated {
        (" in its own namespace", "（各在自己的命名空间里）")
    } else {
        ("", "")
    };
    t.note_zh(
        format!(
            "each value ran {SWEEP_WINDOW_MS} ms{own}: on loopback a first SYN is answered or dropped within a millisecond and the first retry comes only after about 1 s, so \"connected\" means connected on the first SYN"
        ),
        format!(
            "每个值运行 {SWEEP_WINDOW_MS} 毫秒{own_zh}：在回环接口上，第一个 SYN 在一毫秒内就被应答或丢弃，而第一次重传要约 1 秒后才来，所以“已连接”指凭第一个 SYN 就连上了"
        ),
    );
    if !all_isolated {
        notes.push((
            "the sweep ran without a namespace per value: ListenOverflows is left out (it would mix values)"
                .into(),
            "扫描没有为每个值各建一个命名空间：因此不列 ListenOverflows（否则各值的计数会混在一起）".into(),
        ));
    }
    Ok(t)
}

// ---- what listen() stores ----

fn stores_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "listen_stores",
        "What listen() stores: the limit the kernel reports (ss Send-Q) and first-SYN connects",
        &[
            ("call", "call"),
            ("somaxconn", "somaxconn"),
            ("limit", "limit stored (Send-Q)"),
            ("connected", "connected of 20"),
        ],
    )
    .zh(
        "listen() 存下了什么：内核报告的上限（ss Send-Q）与第一个 SYN 就连上的数量",
        &["调用", "somaxconn", "存下的上限（Send-Q）", "20 个中连上的"],
    );
    let cases: [(&str, i32, Option<u32>); 6] = [
        ("listen(0)", 0, None),
        ("listen(1)", 1, None),
        ("listen(-1) (C and Rust pass it through)", -1, None),
        ("listen(5000)", 5000, None),
        ("listen(128)", 128, Some(4)),
        ("listen(0), somaxconn 0", 0, Some(0)),
    ];
    let results = each_isolated(
        ctx,
        &cases,
        |&(_, b, smc)| -> Result<std::result::Result<(String, FirstSyn), String>> {
            let s = Settings {
                somaxconn: smc,
                ..Settings::default()
            };
            if let Err(e) = s.apply(ctx) {
                return Ok(Err(e.en));
            }
            let smc = proc::read_sysctl("net.core.somaxconn").unwrap_or_else(|_| "unreadable".into());
            Ok(Ok((smc, first_syn(b, 20)?)))
        },
    );
    for ((name, _, _), (r, _)) in cases.iter().zip(results) {
        match r.with_context(|| format!("scenario {name}"))? {
            Ok((smc, f)) => t.push(row! { "call" => name, "somaxconn" => smc, "limit" => f.limit, "connected" => f.connected }),
            Err(why) => t.push(row! { "call" => name, "somaxconn" => why, "limit" => None::<u32>, "connected" => None::<usize> }),
        }
    }
    // somaxconn is read in the namespace python's listener lived in.
    let ((py, smc), _) = ctx.isolated(|| {
        let py = python_listen_negative();
        let smc = proc::read_sysctl("net.core.somaxconn").unwrap_or_else(|_| "unreadable".into());
        (py, smc)
    });
    match py {
        Ok(limit) => t.push(row! { "call" => PY_CALL, "somaxconn" => smc, "limit" => limit, "connected" => None::<usize> }),
        Err(why) => t.push(row! { "call" => PY_CALL, "somaxconn" => format!("not measured: {why:#}"), "limit" => None::<u32>, "connected" => None::<usize> }),
    }
    t.note_zh(
        "the kernel keeps min(backlog, somaxconn), comparing as unsigned, so -1 becomes somaxconn (listen(2))",
        "内核保存 min(backlog, somaxconn)，按无符号数比较，所以 -1 变成 somaxconn（listen(2)）",
    );
    t.note_zh(
        "Python's socket.listen(-1) stores 0, not somaxconn: CPython turns a negative backlog into 0 before calling listen(2)",
        "Python 的 socket.listen(-1) 存下的是 0 而不是 somaxconn：CPython 在调用 listen(2) 之前把负的 backlog 改成了 0",
    );
    Ok(t)
}

const PY_CALL: &str = "Python: s.listen(-1) (python3 run here)";
const PY_LISTEN: &str = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(-1)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()\n";

/// Runs python3 with `listen(-1)` in this namespace and reads the limit it stored.
fn python_listen_negative() -> Result<u32> {
    // The first python3 that starts; no separate trial run, whose wait would be unbounded.
    let spawn = |exe: &str| {
        std::process::Command::new(exe)
            .args(["-c", PY_LISTEN])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
    };
    let mut child = spawn("/usr/bin/python3")
        .or_else(|_| spawn("python3"))
        .context("spawn python3")?;
    let result = read_python_port(&mut child).and_then(|port| {
        diag::tcp_sockets_on_port(port)?
            .into_iter()
            .find(|r| r.state == "LISTEN")
            .map(|r| r.send_q)
            .context("python's listener not in the socket table")
    });
    // Closing stdin ends the script; it is killed if it lingers.
    drop(child.stdin.take());
    for _ in 0..100 {
        if child.try_wait().ok().flatten().is_some() {
            return result;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The port python3 prints, waited for at most 3 s.
fn read_python_port(child: &mut std::process::Child) -> Result<u16> {
    let out = child.stdout.as_mut().context("python3 stdout")?;
    let mut text = Vec::new();
    let start = Instant::now();
    while !text.contains(&b'\n') && start.elapsed() < Duration::from_secs(3) {
        if poll::events(&[(out.as_raw_fd(), libc::POLLIN)], 100)?[0] == 0 {
            continue;
        }
        let mut b = [0u8; 16];
        match out.read(&mut b)? {
            0 => break,
            n => text.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&text)
        .trim()
        .parse()
        .context("python3 printed no port")
}

// ---- which settings make phantoms ----

#[derive(Debug, Clone, Default)]
struct Batch {
    retried: usize,
    in_queue: usize,
    phantoms_request: usize,
    phantoms_cookie: usize,
    reset: usize,
    waiting: usize,
    counters: BTreeMap<String, i64>,
}

/// listen(1), VARIANT_CLIENTS connect, the server accepts one: room for exactly one
/// more. The waiting clients' SYN retries then arrive together about 1 s later.
fn retry_batch(ctx: &Ctx, cookies: u8, abort: u8) -> Result<std::result::Result<Batch, String>> {
    let s = Settings {
        syncookies: Some(cookies),
        abort_on_overflow: Some(abort),
        somaxconn: None,
    };
    if let Err(e) = s.apply(ctx) {
        return Ok(Err(e.en));
    }
    let (l, port) = listener(1)?;
    let before = proc::net_counters()?;
    let clock = Clock(Instant::now());
    let mut socks = Vec::new();
    for _ in 0..VARIANT_CLIENTS {
        socks.push(connect::start_connect(loopback(port))?.0);
    }
    // Loopback handshakes finish within microseconds; wait a little so that the
    // first-SYN winners are all counted as such, then take one from the queue.
    std::thread::sleep(Duration::from_millis(20));
    poll::events(&[(l.as_raw_fd(), libc::POLLIN)], 200)?;
    let accepted = l.accept().ok();
    // Who retried is read from the kernel (TCP_INFO total_retrans), not inferred from
    // timing: a client that connected on its first SYN has ESTABLISHED and no retransmission.
    let mut retried = vec![false; socks.len()];
    let first_syn_winner =
        |s: &Socket| connect::tcp_info(s).is_ok_and(|x| x.state == 1 && x.total_retrans == 0);
    // Bounded by VARIANT_BOUND_MS: wait until every client has retried or connected at once.
    while clock.ms() < VARIANT_BOUND_MS {
        for (i, s) in socks.iter().enumerate() {
            retried[i] |= connect::tcp_info(s).is_ok_and(|x| x.total_retrans > 0);
        }
        if socks
            .iter()
            .enumerate()
            .all(|(i, s)| retried[i] || first_syn_winner(s))
        {
            std::thread::sleep(Duration::from_millis(30));
            break;
        }
        std::thread::sleep(Duration::from_millis(POLL_MS as u64));
    }
    let rows = diag::tcp_sockets_on_port(port)?;
    let after = proc::net_counters()?;
    let mut b = Batch::default();
    for (i, s) in socks.iter().enumerate() {
        retried[i] |= connect::tcp_info(s).is_ok_and(|x| x.total_retrans > 0);
        let err = s.take_error().ok().flatten();
        if !retried[i] && err.is_none() && first_syn_winner(s) {
            continue;
        }
        b.retried += usize::from(retried[i]);
        let cport = s.local_addr()?.as_socket().map(|a| a.port()).unwrap_or(0);
        let info = connect::tcp_info(s).ok();
        let server = rows.iter().find(|r| r.remote.port() == cport).map(|r| r.state);
        match (err, info.map(|x| x.state)) {
            (Some(_), _) => b.reset += 1,
            (None, Some(2)) => b.waiting += 1,
            (None, Some(1)) => match server {
                Some("ESTAB") => b.in_queue += 1,
                Some(st) if st.contains("SYN-RECV") => b.phantoms_request += 1,
                _ => b.phantoms_cookie += 1,
            },
            (None, _) => b.reset += 1,
        }
    }
    for name in COUNTERS {
        b.counters.insert(
            name.into(),
            after.get(name).unwrap_or(&0) - before.get(name).unwrap_or(&0),
        );
    }
    drop(accepted);
    drop(socks);
    drop(l);
    Ok(Ok(b))
}

fn batch_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "phantoms",
        &format!(
            "Which settings make phantoms: listen(1), {VARIANT_CLIENTS} clients, one accepted, the rest retry their SYN together"
        ),
        &[
            ("syncookies", "tcp_syncookies"),
            ("abort", "tcp_abort_on_overflow"),
            ("retried", "clients that retried"),
            ("in_queue", "connected, in the accept queue"),
            ("phantom_request", "PHANTOM (server: SYN-RECV)"),
            ("phantom_cookie", "PHANTOM (server: nothing)"),
            ("reset", "reset (ECONNRESET)"),
            ("waiting", "still waiting (SYN-SENT)"),
            ("counters", "counters that moved"),
        ],
    )
    .zh(
        &format!("哪些设置会产生“幽灵连接”：listen(1)，{VARIANT_CLIENTS} 个客户端，accept 一个，其余一起重传 SYN"),
        &[
            "tcp_syncookies",
            "tcp_abort_on_overflow",
            "重传过的客户端",
            "已连接且在 accept 队列中",
            "幽灵连接（服务器端：SYN-RECV）",
            "幽灵连接（服务器端：什么都没有）",
            "被重置（ECONNRESET）",
            "仍在等待（SYN-SENT）",
            "变化的计数器",
        ],
    );
    let cases: [(u8, u8); 4] = [(1, 0), (0, 0), (1, 1), (0, 1)];
    let results = if ctx.can_nest && ctx.can_set_sysctls {
        each_isolated(ctx, &cases, |&(c, a)| retry_batch(ctx, c, a))
    } else {
        cases
            .iter()
            .map(|_| {
                (
                    Ok(Err(format!(
                        "not measured: needs a private namespace per setting ({})",
                        ctx.sandbox_note
                    ))),
                    false,
                )
            })
            .collect()
    };
    for (&(c, a), (r, _)) in cases.iter().zip(results) {
        match r.with_context(|| format!("variant syncookies={c} abort_on_overflow={a}"))? {
            Ok(b) => {
                let moved: Vec<String> = b
                    .counters
                    .iter()
                    .filter(|(_, v)| **v != 0)
                    .map(|(k, v)| format!("{} +{v}", k.trim_start_matches("TcpExt")))
                    .collect();
                t.push(row! {
                    "syncookies" => c, "abort" => a, "retried" => b.retried, "in_queue" => b.in_queue,
                    "phantom_request" => b.phantoms_request, "phantom_cookie" => b.phantoms_cookie,
                    "reset" => b.reset, "waiting" => b.waiting, "counters" => moved.join(", "),
                })
            }
            Err(why) => t.push(row! { "syncookies" => c, "abort" => a, "counters" => why }),
        }
    }
    t.note_zh(
        "a retried SYN that finds room in the accept queue is answered; when several arrive at once they are all answered, and the final ACKs that no longer fit are dropped (or reset with tcp_abort_on_overflow=1)",
        "重传的 SYN 若发现 accept 队列有空位就会得到应答；若几个同时到达，它们都会得到应答，而放不下的最后 ACK 会被丢弃（tcp_abort_on_overflow=1 时则被重置）",
    );
    t.note_zh(
        "tcp_abort_on_overflow only resets connections the server kept a SYN-RECV entry for; one made with a SYN cookie is dropped silently",
        "tcp_abort_on_overflow 只重置服务器为之保留了 SYN-RECV 条目的连接；用 SYN cookie 建立的连接会被悄悄丢弃",
    );
    Ok(t)
}

// ---- findings ----

fn num(t: &Table, key_col: &str, key: &str, col: &str) -> Option<i64> {
    t.rows
        .iter()
        .find(|r| r.get(key_col).and_then(|v| v.as_str()) == Some(key))
        .and_then(|r| r.get(col)?.as_i64())
}

fn findings(report: &mut Report, args: &Args) {
    let b = args.backlog[0];
    let n = args.clients as i64;
    if let (Some(l), Some(cl), Some(ct)) = (
        report.table("listener").cloned(),
        report.table("clients").cloned(),
        report.table("counters").cloned(),
    ) {
        finding_belief(report, b, n, &l, &ct);
        finding_refused(report, n, &cl);
        finding_phantoms(report, &cl);
    }
    if let Some(sw) = report.table("sweep").cloned() {
        finding_sweep(report, &sw);
    }
    if let Some(st) = report.table("listen_stores").cloned() {
        finding_stores(report, &st);
    }
}

/// The learner's belief about listen(B), judged by the accept queue's peak.
fn finding_belief(report: &mut Report, b: i32, n: i64, l: &Table, ct: &Table) {
    let qmax = num(l, "what", "accept-queue length, max (ss Recv-Q)", "window").unwrap_or(-1);
    let limit = num(l, "what", "accept-queue limit (ss Send-Q)", "window").unwrap_or(-1);
    let conn = num(l, "what", "clients whose connect() had completed", "window").unwrap_or(-1);
    let over = num(ct, "counter", "TcpExtListenOverflows", "window")
        .map(|v| v.to_string())
        .unwrap_or("-".into());
    let all_fit = qmax >= n;
    // A limit the socket table never showed leaves nothing to judge against.
    let verdict = if all_fit || limit < 0 {
        Verdict::Depends
    } else if qmax == limit + 1 {
        Verdict::Refuted
    } else if qmax == limit {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let (why, why_zh) = if all_fit {
        (
            format!("all {n} clients fitted; run with more clients than the backlog + 1 to see the limit"),
            format!("{n} 个客户端全部放得下；客户端数要多于 backlog + 1 才能看到上限"),
        )
    } else if qmax == limit + 1 {
        (
            "the queue is full only when it holds more than the limit, so it takes limit + 1".to_string(),
            "队列只有在超过上限时才算满，所以能放上限 + 1 个".to_string(),
        )
    } else {
        (
            format!("the queue peaked at {qmax} against a limit of {limit}"),
            format!("队列最多到 {qmax} 个，上限是 {limit}"),
        )
    };
    report.finding_zh(
        &format!("listen({b}) means at most {b} waiting connection(s)"),
        verdict,
        format!(
            "with {n} clients and no accept(), the kernel stored a limit of {limit} (Send-Q); the accept queue held up to {qmax} (Recv-Q) and {conn} clients connected within the window: {why}; ListenOverflows +{over}"
        ),
        &format!("listen({b}) 表示最多 {b} 个等待中的连接"),
        format!(
            "{n} 个客户端、不调用 accept() 时，内核存下的上限是 {limit}（Send-Q）；accept 队列里最多有 {qmax} 个（Recv-Q），窗口内有 {conn} 个客户端连上：{why_zh}；ListenOverflows 增加 {over}"
        ),
    );
}

/// Were the clients beyond the queue refused, or left waiting and retrying?
fn finding_refused(report: &mut Report, n: i64, cl: &Table) {
    let waiting = cl
        .rows
        .iter()
        .filter(|r| r["window_end"] == "waiting (SYN-SENT)")
        .count();
    let refused = cl
        .rows
        .iter()
        .filter(|r| r["window_end"] == "ECONNREFUSED")
        .count();
    let connected = cl.rows.iter().filter(|r| r["window_end"] == "connected").count();
    let sched = report.table("retries").map(|r| {
        r.rows
            .iter()
            .map(|x| {
                format!(
                    "{} ms (gap {} ms)",
                    crate::render::cell_text(x.get("first_ms")),
                    crate::render::cell_text(x.get("gap_ms"))
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    let sched = sched
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none seen".into());
    let sched_zh = sched.replace("gap", "间隔").replace(" ms", " 毫秒");
    let sysctls = report
        .table("retries")
        .and_then(|r| r.notes.first().cloned())
        .unwrap_or_default();
    let sysctls_zh = sysctls
        .split(" (read")
        .next()
        .unwrap_or_default()
        .replace(", ", "，");
    report.finding_zh(
        "Clients beyond the queue are refused",
        match (waiting, refused) {
            (w, 0) if w > 0 => Verdict::Refuted,
            (_, r) if r > 0 => Verdict::Confirmed,
            _ => Verdict::Depends,
        },
        if waiting == 0 {
            format!("no client was still waiting at the window's end: of {n}, {connected} were connected and {refused} were refused")
        } else {
            format!(
                "{waiting} clients were still waiting at the window's end and {refused} were refused: their SYN was dropped without an answer and retried at {sched}; {sysctls}"
            )
        },
        "超出队列的客户端会被拒绝",
        if waiting == 0 {
            format!("窗口结束时没有客户端还在等待：{n} 个中已连接 {connected} 个，被拒绝 {refused} 个")
        } else {
            format!(
                "窗口结束时仍有 {waiting} 个客户端在等待，被拒绝的有 {refused} 个：它们的 SYN 被悄悄丢弃，没有任何回应，并在这些时刻重传：{sched_zh}；{sysctls_zh}（在本次运行的命名空间内读取）"
            )
        },
    );
}

/// Clients that believed they were connected while the server had nothing.
fn finding_phantoms(report: &mut Report, cl: &Table) {
    let phantoms: Vec<&crate::report::Row> = cl
        .rows
        .iter()
        .filter(|r| r["outcome"].as_str().is_some_and(|s| s.starts_with("PHANTOM")))
        .collect();
    let late = phantoms.iter().filter(|r| r["accepted_ms"].is_number()).count();
    let failed = phantoms
        .iter()
        .filter(|r| {
            !r["accepted_ms"].is_number() && r["outcome"].as_str().is_some_and(|s| s.contains(", then "))
        })
        .count();
    let never = phantoms.len() - late - failed;
    let settings = report.table("phantoms").map(phantom_settings).unwrap_or_default();
    let settings_zh = report
        .table("phantoms")
        .map(phantom_settings_zh)
        .unwrap_or_default();
    let variant_phantoms = report
        .table("phantoms")
        .is_some_and(|t| phantom_cells(t).iter().any(|c| c.2 > 0));
    report.finding_zh(
        "A client whose connect() succeeded is in the server's accept queue",
        if phantoms.is_empty() && !variant_phantoms {
            Verdict::Depends
        } else {
            Verdict::Refuted
        },
        if phantoms.is_empty() {
            format!("in the main run no client was a phantom. {settings}")
        } else {
            format!(
                "{} clients saw connect() succeed while the server held no connection for them (phantoms); {late} of them were accepted late, after the window, {failed} failed, and {never} were not accepted within the {DRAIN_MS} ms the server kept accepting. {settings}",
                phantoms.len()
            )
        },
        "connect() 成功的客户端一定在服务器的 accept 队列里",
        if phantoms.is_empty() {
            format!("主实验中没有幽灵连接。{settings_zh}")
        } else {
            format!(
                "有 {} 个客户端的 connect() 成功了，而服务器端根本没有它们的连接（幽灵连接）；其中 {late} 个在观察窗口之后才被 accept，{failed} 个出错，{never} 个在服务器继续 accept 的 {DRAIN_MS} 毫秒内始终没有被 accept。{settings_zh}",
                phantoms.len()
            )
        },
    );
}

/// The backlog + 1 rule across the sweep.
fn finding_sweep(report: &mut Report, sw: &Table) {
    let mut holds = true;
    let mut parts = Vec::new();
    for r in &sw.rows {
        let (q, c, lim) = (
            r["queue_max"].as_i64(),
            r["connected"].as_i64(),
            r["limit"].as_i64(),
        );
        let (Some(q), Some(c), Some(lim)) = (q, c, lim) else {
            continue;
        };
        let clients = c + r["pending"].as_i64().unwrap_or(0);
        let expect = (lim + 1).min(clients);
        holds &= q == expect && c == expect;
        parts.push(format!("B={} → {c}", r["backlog"]));
    }
    report.finding_zh(
        "The accept queue holds backlog + 1 connections (up to the number of clients)",
        if parts.is_empty() {
            Verdict::Depends
        } else if holds {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!(
            "connected on the first SYN with nobody accepting: {}",
            parts.join(", ")
        ),
        "accept 队列能容纳 backlog + 1 个连接（不超过客户端数）",
        format!("无人 accept 时第一个 SYN 就连上的数量：{}", parts.join("，")),
    );
}

/// What listen() stores for 0, -1 and a clamped value.
fn finding_stores(report: &mut Report, st: &Table) {
    let cell = |call: &str, col: &str| {
        st.rows
            .iter()
            .find(|r| r.get("call").and_then(|v| v.as_str()) == Some(call))
            .and_then(|r| r.get(col).cloned())
    };
    let get = |call: &str| num(st, "call", call, "limit");
    let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or("-".into());
    let cases = [
        ("listen(0)", 0),
        ("listen(-1) (C and Rust pass it through)", -1),
        ("listen(128)", 128),
    ];
    // Judged from what the kernel reported: refuted as soon as one stored limit differs
    // from the number passed, confirmed only when every one was measured and equal.
    let measured: Vec<(i64, i64)> = cases
        .iter()
        .filter_map(|&(call, passed)| get(call).map(|got| (passed, got)))
        .collect();
    let verdict = if measured.iter().any(|(p, g)| p != g) {
        Verdict::Refuted
    } else if measured.len() == cases.len() {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let (zero, neg, clamp) = (
        text(get(cases[0].0)),
        text(get(cases[1].0)),
        text(get(cases[2].0)),
    );
    let smc = |call: &str| crate::render::cell_text(cell(call, "somaxconn").as_ref());
    let (neg_smc, clamp_smc) = (smc(cases[1].0), smc(cases[2].0));
    report.finding_zh(
        "listen() stores the number it is given",
        verdict,
        format!("listen(0) stored {zero}; listen(-1) stored {neg} (somaxconn {neg_smc}); listen(128) with somaxconn {clamp_smc} stored {clamp}"),
        "listen() 原样存下传给它的数",
        format!("listen(0) 存下 {zero}；listen(-1) 存下 {neg}（somaxconn 为 {neg_smc}）；somaxconn 为 {clamp_smc} 时 listen(128) 存下 {clamp}"),
    );
}

fn phantom_cells(t: &Table) -> Vec<(i64, i64, i64, i64, i64)> {
    t.rows
        .iter()
        .filter_map(|r| {
            Some((
                r["syncookies"].as_i64()?,
                r["abort"].as_i64()?,
                r.get("phantom_request")?.as_i64()? + r.get("phantom_cookie")?.as_i64()?,
                r.get("reset")?.as_i64()?,
                r.get("waiting")?.as_i64()?,
            ))
        })
        .collect()
}

fn phantom_settings(t: &Table) -> String {
    let parts: Vec<String> = phantom_cells(t)
        .iter()
        .map(|(c, a, p, r, w)| {
            format!("syncookies={c} abort_on_overflow={a}: phantoms {p}, resets {r}, still waiting {w}")
        })
        .collect();
    if parts.is_empty() {
        return "Settings could not be varied here.".into();
    }
    format!("With the SYN retries arriving together: {}.", parts.join("; "))
}

fn phantom_settings_zh(t: &Table) -> String {
    let parts: Vec<String> = phantom_cells(t)
        .iter()
        .map(|(c, a, p, r, w)| {
            format!("syncookies={c} abort_on_overflow={a}：幽灵连接 {p} 个，重置 {r} 个，仍在等待 {w} 个")
        })
        .collect();
    if parts.is_empty() {
        return "这里无法改变这些设置。".into();
    }
    format!("重传的 SYN 一起到达时：{}。", parts.join("；"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(clients: usize, backlog: &[i32], window: u64) -> Args {
        Args {
            clients,
            backlog: backlog.to_vec(),
            window,
            somaxconn: None,
            abort_on_overflow: false,
            syncookies: None,
        }
    }

    #[test]
    fn clients_are_bounded_with_a_clear_error() {
        assert!(check_args(&args(20, &[1], 1200), 1024).is_ok());
        let e = check_args(&args(1001, &[1], 1200), 1_000_000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 to 1000"), "{e}");
        let e = check_args(&args(1000, &[1], 1200), 256).unwrap_err().to_string();
        assert!(e.contains("ulimit -n"), "{e}");
        assert!(check_args(&args(0, &[1], 1200), 1024).is_err());
        // A sweep holds every value's clients at once: 3 × 101 sockets do not fit in 300.
        let e = check_args(&args(100, &[1, 2, 3], 1200), 300)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ulimit -n"), "{e}");
    }

    #[test]
    fn outcomes_name_phantoms_plainly() {
        let mut c = Client {
            connected_ms: Some(2000.0),
            server_side: Some(SERVER_NOTHING),
            retries_ms: vec![1000.0],
            ..Client::default()
        };
        assert!(outcome_word(&c, 1200.0).starts_with("PHANTOM"));
        c.server_side = Some(SERVER_HAS_IT);
        c.accepted_ms = Some(2000.0);
        c.delivered_ms = Some(2000.0);
        assert_eq!(
            outcome_word(&c, 1200.0),
            "SYN retried, then connected and accepted"
        );
        c.retries_ms.clear();
        assert_eq!(
            outcome_word(&c, 1200.0),
            "after the window: connected and accepted",
            "no SYN retry seen, so none is claimed"
        );
        c.server_side = Some(SERVER_REQUEST);
        c.delivered_ms = None;
        assert!(
            outcome_word(&c, 1200.0).contains("accepted late"),
            "accepted is never reported as not"
        );
        let w = Client::default();
        assert_eq!(outcome_word(&w, 1200.0), "still waiting (SYN-SENT) at the bound");
    }

    #[test]
    fn retry_schedule_groups_by_retry_number() {
        let c = |r: &[f64]| Client {
            retries_ms: r.to_vec(),
            rto_ms: vec![Some(1000); r.len()],
            ..Client::default()
        };
        let s = retry_schedule(&[c(&[1000.0, 2000.0]), c(&[1004.0]), c(&[])]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].clients, s[0].first_ms, s[0].last_ms), (2, 1000.0, 1004.0));
        assert_eq!((s[1].clients, s[1].gap_ms), (1, 1000.0));
    }

    /// Without accept(), and more clients than fit, exactly limit + 1 connect on the
    /// first SYN and the queue peaks there; with room for all, all connect at once.
    #[test]
    fn first_syn_fills_backlog_plus_one() {
        let r = crate::sys::netns::in_fresh_netns(|| (first_syn(1, 8).unwrap(), first_syn(10, 8).unwrap()));
        let (small, big) = match r {
            Ok(v) => v,
            Err(_) => (first_syn(1, 8).unwrap(), first_syn(10, 8).unwrap()),
        };
        assert_eq!(small.limit, Some(1));
        assert_eq!(small.queue_max, 2);
        assert_eq!((small.connected, small.pending), (2, 6));
        assert_eq!((big.connected, big.pending, big.queue_max), (8, 0, 8));
    }
}
