//! The main experiment: listen(B), N clients connect at once, nobody accepts for a window,
//! then the server accepts and reads. Both sides are watched: each client's poll(2)
//! readiness and TCP_INFO, and the kernel's socket table (sock_diag) and counters.

use super::data::*;
use super::side::{self, Settings};
use super::Args;
use crate::labs::wire::{self, Recorder, Taken};
use crate::sandbox::Ctx;
use crate::sys::net::loopback;
use crate::sys::{self, connect, diag, poll, proc};
use anyhow::{bail, Context, Result};
use socket2::Socket;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Upper bound on --clients: enough for the lesson, small enough for any machine.
pub const MAX_CLIENTS: usize = 1000;
/// Descriptors the default run's side experiments hold at once: 6 sweep values and 6
/// listen() cases of 20 clients plus a listener each, 4 batches of 10 plus two, python's pipes.
const SIDE_FDS: u64 = 6 * 21 + 6 * 21 + 4 * 12 + 8;
/// After the window, how long the server keeps accepting and reading before giving up.
pub const DRAIN_MS: f64 = 1200.0;
pub const POLL_MS: i32 = 5;
const DIAG_EVERY_MS: f64 = 20.0;
pub const DEFAULT_SWEEP: [i32; 6] = [0, 1, 2, 5, 10, 128];
pub const COUNTERS: [&str; 7] = [
    "TcpExtListenOverflows",
    "TcpExtListenDrops",
    "TcpExtSyncookiesSent",
    "TcpExtTCPReqQFullDoCookies",
    "TcpExtTCPReqQFullDrop",
    "TcpOutRsts",
    "TcpExtTCPSynRetrans",
];

/// Options out of range: a usage error, found before anything runs.
pub fn validate(args: &Args) -> Result<(), String> {
    if args.clients == 0 || args.clients > MAX_CLIENTS {
        return Err(format!("--clients {}: choose 1 to {MAX_CLIENTS}", args.clients));
    }
    if args.backlog.is_empty() || args.backlog.len() > 20 {
        return Err("--backlog: give 1 to 20 values".into());
    }
    if !(100..=60_000).contains(&args.window) {
        return Err(format!("--window {}: choose 100 to 60000 ms", args.window));
    }
    Ok(())
}

/// Refuses a run the open-files limit cannot hold, with the way out.
pub fn check_files(args: &Args, nofile: u64) -> Result<()> {
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
    Ok(())
}

pub fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
    if let Err(e) = validate(args) {
        bail!(e);
    }
    check_files(args, proc::open_files_limit())?;
    let settings = Settings::from_args(args);
    if args.backlog.len() > 1 {
        let (sweep, taken) = side::sweep(ctx, &args.backlog, args.clients, &settings)?;
        return Ok(Data {
            main: None,
            refused: Vec::new(),
            sweep: Some(sweep),
            stores: None,
            batches: None,
            wire: wire::wires(ctx, taken)?,
        });
    }
    let backlog = args.backlog[0];
    ctx.progress(&format!(
        "backlog: listen({backlog}), {} clients, watching {} ms",
        args.clients, args.window
    ));
    // The main window, the sweep and the variants run side by side, each in its own
    // namespace, so the default run stays within about 2.5 s. Without namespaces they
    // run one after another, so the counters stay the main run's.
    let side = || {
        let sweep = side::sweep(ctx, &DEFAULT_SWEEP, args.clients.min(20), &Settings::default());
        (sweep, side::stores(ctx))
    };
    let main_run = || ctx.isolated(|| main_experiment(ctx, backlog, args, &settings));
    let (main, (sweep, stores), batches) = if ctx.can_nest {
        std::thread::scope(|s| {
            let side = s.spawn(side);
            let batches = s.spawn(|| side::batches(ctx));
            let main = main_run();
            (main, sys::net::join(side), sys::net::join(batches))
        })
    } else {
        (main_run(), side(), side::batches(ctx))
    };
    let (main, isolated) = main;
    let (mut main, refused, main_cap) = main.context("the main experiment")?;
    main.isolated = isolated;
    let (sweep, sweep_cap) = sweep?;
    let (stores, stores_cap) = stores?;
    let (batches, batches_cap) = batches?;
    let taken = main_cap
        .into_iter()
        .chain(sweep_cap)
        .chain(stores_cap)
        .chain(batches_cap);
    Ok(Data {
        main: Some(main),
        refused,
        sweep: Some(sweep),
        stores: Some(stores),
        batches: Some(batches),
        wire: wire::wires(ctx, taken)?,
    })
}

/// A listener on 127.0.0.1, kernel-chosen port, non-blocking, with this backlog as is.
pub fn listener(backlog: i32) -> Result<(Socket, u16)> {
    let (s, port) = sys::net::listener(None, 0, backlog)?;
    s.set_nonblocking(true)?;
    Ok((s, port))
}

pub struct Clock(pub Instant);
impl Clock {
    pub fn ms(&self) -> f64 {
        (self.0.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
    }
}

/// A client while it is watched: its record and its sockets.
struct Live {
    rec: Client,
    sock: Option<Socket>,
    server_sock: Option<Socket>,
    line_sent: bool,
    received: Vec<u8>,
}

impl Live {
    fn pending(&self) -> bool {
        self.rec.connected_ms.is_none() && self.rec.error.is_none()
    }
    /// Nothing more can happen to this client within the run.
    fn settled(&self) -> bool {
        self.rec.error.is_some() || self.rec.delivered_ms.is_some()
    }
}

struct Run {
    clients: Vec<Live>,
    window: ListenerView,
    after: ListenerView,
}

fn sysctl(name: &str) -> Option<String> {
    proc::read_sysctl(name).ok()
}

fn main_experiment(
    ctx: &Ctx,
    backlog: i32,
    args: &Args,
    settings: &Settings,
) -> Result<(MainRun, Vec<SettingRefused>, Option<Taken>)> {
    let refused: Vec<SettingRefused> = settings.apply(ctx).err().into_iter().collect();
    let rec = Recorder::start(ctx);
    let (l, port) = listener(backlog)?;
    let before = proc::net_counters().context("read counters")?;
    let clock = Clock(Instant::now());
    let mut clients = Vec::with_capacity(args.clients);
    for index in 0..args.clients {
        let started_ms = clock.ms();
        let (s, r) = connect::start_connect(loopback(port)).context("socket for a client")?;
        let cport = sys::net::local_port(&s).unwrap_or(0);
        let error = r.as_ref().err().map(|e| ClientError::Errno(sys::errno_name(e)));
        clients.push(Live {
            rec: Client {
                index,
                port: cport,
                started_ms,
                connected_ms: None,
                syn_retries_ms: Vec::new(),
                rto_ms: Vec::new(),
                retrans_at_end: None,
                at_window_end: WindowState::Waiting,
                server_side: None,
                accepted_ms: None,
                delivered_ms: None,
                error,
                fate: Fate::StillWaiting,
            },
            sock: r.is_ok().then_some(s),
            server_sock: None,
            line_sent: false,
            received: Vec::new(),
        });
    }
    // The socket table after the connects: who the queue took on the first SYN.
    rec.mark(port);
    let window_ms = args.window as f64;
    let mut run = Run {
        clients,
        window: ListenerView::default(),
        after: ListenerView::default(),
    };
    watch(ctx, &clock, &l, port, &mut run, false, window_ms, &rec)?;
    // The window's end: freeze what each client believes, then let the server work.
    for c in run.clients.iter_mut() {
        c.rec.at_window_end = match (&c.rec.error, c.rec.connected_ms) {
            (Some(e), _) => WindowState::Failed(e.clone()),
            (None, Some(_)) => WindowState::Connected,
            (None, None) => WindowState::Waiting,
        };
    }
    let at_window = proc::net_counters().context("read counters")?;
    ctx.progress(&format!(
        "backlog: window over at {:.0} ms: {} connected, {} waiting; accepting now",
        clock.ms(),
        run.clients
            .iter()
            .filter(|c| c.rec.connected_ms.is_some())
            .count(),
        run.clients.iter().filter(|c| c.pending()).count()
    ));
    watch(ctx, &clock, &l, port, &mut run, true, window_ms + DRAIN_MS, &rec)?;
    let end = proc::net_counters().context("read counters")?;
    let ended_ms = clock.ms();
    rec.mark(port);
    let mut out = Vec::with_capacity(run.clients.len());
    // Close everything now: no socket outlives the experiment.
    for mut c in run.clients {
        c.rec.retrans_at_end = c
            .sock
            .as_ref()
            .and_then(|s| connect::tcp_info(s).ok())
            .map(|i| i.total_retrans);
        c.rec.fate = Fate::of(&c.rec, window_ms);
        out.push(c.rec);
    }
    drop(l);
    let cap = rec.finish(key::MAIN, port);
    let main = MainRun {
        backlog,
        window_ms,
        drain_ms: DRAIN_MS,
        ended_ms,
        isolated: false,
        clients: out,
        window: run.window,
        after: run.after,
        counters: deltas(&before, &at_window, &end),
        syn_retries: sysctl("net.ipv4.tcp_syn_retries"),
        syn_linear_timeouts: sysctl("net.ipv4.tcp_syn_linear_timeouts"),
        abort_on_overflow: sysctl("net.ipv4.tcp_abort_on_overflow"),
    };
    Ok((main, refused, cap))
}

fn deltas(
    a: &BTreeMap<String, i64>,
    b: &BTreeMap<String, i64>,
    c: &BTreeMap<String, i64>,
) -> Vec<CounterDelta> {
    let d =
        |name: &str, x: &BTreeMap<String, i64>, y: &BTreeMap<String, i64>| Some(y.get(name)? - x.get(name)?);
    COUNTERS
        .iter()
        .map(|&name| CounterDelta {
            name: name.into(),
            window: d(name, a, b),
            after: d(name, b, c),
        })
        .collect()
}

/// One phase of the poll loop. `serve` false: nobody accepts (the window);
/// true: the server accepts and reads, and each connected client sends its line.
/// `rec` looks at the socket table before the first accept() and after the first one
/// that took something (each look is a sock_diag dump, so only these two).
#[allow(clippy::too_many_arguments)]
fn watch(
    ctx: &Ctx,
    clock: &Clock,
    l: &Socket,
    port: u16,
    m: &mut Run,
    serve: bool,
    until_ms: f64,
    rec: &Recorder,
) -> Result<()> {
    let mut last_diag = f64::NEG_INFINITY;
    let mut last_progress = clock.ms();
    let mut marked_accept = false;
    if serve {
        rec.mark(port);
        send_lines(&mut m.clients);
    }
    // Bounded: ends at until_ms (at most 61.2 s), or earlier once every client is settled.
    loop {
        let now = clock.ms();
        if now >= until_ms || (serve && m.clients.iter().all(Live::settled)) {
            break;
        }
        let (fds, who) = poll_set(&m.clients, l, serve);
        let wait = ((until_ms - now).ceil() as i32).clamp(0, POLL_MS);
        let revents = poll::events(&fds, wait).context("poll")?;
        let t = clock.ms();
        let mut newly = Vec::new();
        for (w, rev) in who.iter().zip(&revents) {
            if let Some(i) = *w {
                if *rev != 0 && client_event(&mut m.clients[i], *rev, t) {
                    newly.push(i);
                }
            }
        }
        track_retries(&mut m.clients, t);
        if !newly.is_empty() || t - last_diag >= DIAG_EVERY_MS {
            last_diag = t;
            let view = if serve { &mut m.after } else { &mut m.window };
            sample(port, view, &mut m.clients, &newly)?;
        }
        if serve {
            send_lines(&mut m.clients);
            if accept_all(l, &mut m.clients, t)? > 0 && !marked_accept {
                marked_accept = true;
                rec.mark(port);
            }
            read_lines(&mut m.clients, t);
        }
        if t - last_progress >= 250.0 {
            last_progress = t;
            let v = if serve { &m.after } else { &m.window };
            ctx.progress(&format!(
                "backlog: {t:.0} ms: {} connected, {} waiting, accept queue {}/{}",
                m.clients.iter().filter(|c| c.rec.connected_ms.is_some()).count(),
                m.clients.iter().filter(|c| c.pending()).count(),
                v.queue_now,
                v.limit.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
            ));
        }
    }
    Ok(())
}

/// The descriptors one poll round watches; Some(i) for client i's own socket.
fn poll_set(
    clients: &[Live],
    l: &Socket,
    serve: bool,
) -> (Vec<(std::os::fd::RawFd, i16)>, Vec<Option<usize>>) {
    let mut fds = Vec::new();
    let mut who = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        if let Some(s) = &c.sock {
            if c.pending() {
                fds.push((s.as_raw_fd(), libc::POLLOUT));
                who.push(Some(i));
            } else if c.rec.error.is_none() && c.rec.delivered_ms.is_none() {
                // Watches for a reset on a client that thinks it is connected.
                fds.push((s.as_raw_fd(), libc::POLLIN));
                who.push(Some(i));
            }
        }
        if let Some(s) = &c.server_sock {
            if c.rec.delivered_ms.is_none() {
                fds.push((s.as_raw_fd(), libc::POLLIN));
                who.push(None);
            }
        }
    }
    if serve {
        fds.push((l.as_raw_fd(), libc::POLLIN));
        who.push(None);
    }
    (fds, who)
}

fn errno(e: &io::Error) -> ClientError {
    ClientError::Errno(sys::errno_name(e))
}

/// Handles readiness on a client socket; true when its connect just completed.
fn client_event(c: &mut Live, rev: i16, t: f64) -> bool {
    let Some(s) = &c.sock else { return false };
    let err = s.take_error().ok().flatten();
    if c.pending() {
        let info = connect::tcp_info(s).ok();
        // The SYN-ACK's arrival dates the completion better than this poll round does.
        let since = info.map(|i| i.last_ack_recv_ms as f64).unwrap_or(0.0);
        let done = (t - since).max(c.rec.started_ms);
        if let Some(info) = info {
            note_retries(&mut c.rec, info, done);
        }
        match err {
            Some(e) => c.rec.error = Some(errno(&e)),
            None if rev & libc::POLLOUT != 0 => {
                c.rec.connected_ms = Some(done);
                return true;
            }
            None => c.rec.error = Some(ClientError::Revents(rev)),
        }
        return false;
    }
    // Connected: readable means the peer reset or closed it (the server never writes).
    let mut b = [0u8; 16];
    c.rec.error = Some(match err {
        Some(e) => errno(&e),
        None => match (&*s).read(&mut b) {
            Ok(0) => ClientError::ClosedByServer,
            Ok(_) => return false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) => errno(&e),
        },
    });
    false
}

fn note_retries(c: &mut Client, info: connect::TcpInfo, t: f64) {
    while (c.syn_retries_ms.len() as u32) < info.total_retrans {
        c.syn_retries_ms.push(t);
        // Once connected, the timeout is the data one, not the SYN's.
        c.rto_ms.push((info.state == 2).then_some(info.rto_ms));
    }
}

/// TCP_INFO on every waiting client: a rise in total_retrans is a SYN retry.
fn track_retries(clients: &mut [Live], t: f64) {
    for c in clients.iter_mut().filter(|c| c.pending()) {
        if let Some(info) = c.sock.as_ref().and_then(|s| connect::tcp_info(s).ok()) {
            note_retries(&mut c.rec, info, t);
        }
    }
}

/// One sock_diag dump: the listener's queue and, for clients that just connected,
/// whether the server holds a connection for them.
fn sample(port: u16, view: &mut ListenerView, clients: &mut [Live], newly: &[usize]) -> Result<()> {
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
        let cport = clients[i].rec.port;
        let mine = rows.iter().find(|r| r.remote.port() == cport);
        clients[i].rec.server_side = Some(match mine.map(|r| r.state) {
            Some("ESTAB") => ServerSide::Established,
            Some(s) if s.contains("SYN-RECV") => ServerSide::SynRecv,
            _ => ServerSide::Nothing,
        });
    }
    Ok(())
}

/// Every connected client that has not yet sent its line sends it now.
fn send_lines(clients: &mut [Live]) {
    for c in clients.iter_mut() {
        if c.rec.connected_ms.is_none() || c.line_sent || c.rec.error.is_some() {
            continue;
        }
        if let Some(s) = &c.sock {
            let r = (&*s).write_all(format!("client {}\n", c.rec.index).as_bytes());
            c.line_sent = true;
            if let Err(e) = r {
                c.rec.error = Some(errno(&e));
            }
        }
    }
}

/// Accepts everything queued (bounded by the number of clients) and pairs each
/// accepted socket with its client by port; how many it took.
fn accept_all(l: &Socket, clients: &mut [Live], t: f64) -> Result<usize> {
    let mut taken = 0;
    for _ in 0..=clients.len() {
        match l.accept() {
            Ok((s, peer)) => {
                let peer_port = peer.as_socket().map(|a| a.port());
                s.set_nonblocking(true)?;
                taken += 1;
                if let Some(c) = clients.iter_mut().find(|c| Some(c.rec.port) == peer_port) {
                    c.rec.accepted_ms = Some(t);
                    c.server_sock = Some(s);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(e) => return Err(e).context("accept"),
        }
    }
    Ok(taken)
}

/// Reads what accepted connections have received; a full line is "delivered".
fn read_lines(clients: &mut [Live], t: f64) {
    for c in clients.iter_mut().filter(|c| c.rec.delivered_ms.is_none()) {
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
            c.rec.delivered_ms = Some(t);
        }
    }
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
    fn options_out_of_range_are_usage_errors() {
        assert!(validate(&args(20, &[1], 1200)).is_ok());
        let e = validate(&args(1001, &[1], 1200)).unwrap_err();
        assert!(e.contains("1 to 1000"), "{e}");
        assert!(validate(&args(0, &[1], 1200)).is_err());
        assert!(validate(&args(20, &[1], 50)).unwrap_err().contains("--window"));
        assert!(validate(&args(20, &[], 1200)).is_err());
    }

    #[test]
    fn the_open_files_limit_is_checked_with_the_way_out() {
        assert!(check_files(&args(20, &[1], 1200), 1024).is_ok());
        let e = check_files(&args(1000, &[1], 1200), 256).unwrap_err().to_string();
        assert!(e.contains("ulimit -n"), "{e}");
        // A sweep holds every value's clients at once: 3 × 101 sockets do not fit in 300.
        let e = check_files(&args(100, &[1, 2, 3], 1200), 300)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ulimit -n"), "{e}");
    }

    /// The live kernel: listen(1) with no accept() takes exactly two on the first SYN,
    /// every client gets a fate, and SYN retries are counted per client.
    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        let ctx = Ctx::host(crate::report::Text::same("test"));
        let a = args(6, &[1], 300);
        let (m, _, _) =
            crate::sys::netns::in_fresh_netns(|| main_experiment(&ctx, 1, &a, &Settings::default()))
                .unwrap_or_else(|_| main_experiment(&ctx, 1, &a, &Settings::default()))
                .unwrap();
        assert_eq!(m.window.limit, Some(1));
        assert_eq!(m.window.queue_max, 2, "the queue takes limit + 1");
        let connected = m
            .clients
            .iter()
            .filter(|c| c.at_window_end == WindowState::Connected)
            .count();
        assert_eq!(connected, 2, "{:?}", m.clients);
        assert!(m.clients.iter().all(|c| c.fate == Fate::of(c, m.window_ms)));
        assert!(m.clients.iter().all(|c| c.port != 0));
        assert!(m.ended_ms >= m.window_ms);
    }
}
