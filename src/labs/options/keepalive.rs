//! SO_KEEPALIVE with 1 s / 1 s / 2 timers against a peer in a second namespace, joined by
//! a veth pair, whose address is then removed. Only with `--option SO_KEEPALIVE` (~3 s).

use super::behaviour::counter;
use super::measure::{call_err, listener_on, opt, tcp, Got, Val, STEP_TIMEOUT};
use crate::labs::wire::{Recorder, Taken};
use crate::report::{Call, Unmeasured};
use crate::sandbox::Ctx;
use crate::sys::net::{join, local_port};
use crate::sys::options as opts;
use crate::sys::{diag, link, netns, proc, sockopt};
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use socket2::Socket;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The short keepalive timers: idle, interval, count.
pub const KEEP: (i64, i64, i64) = (1, 1, 2);
/// The kernel's defaults come from these sysctls (net.ipv4.*).
pub const SYSCTLS: [&str; 3] = [
    "tcp_keepalive_time",
    "tcp_keepalive_intvl",
    "tcp_keepalive_probes",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keepalive {
    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT of a new socket.
    pub defaults: Timers,
    /// The three sysctls as read (None: unreadable).
    pub sysctls: Vec<(String, Option<String>)>,
    pub runs: Runs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timers {
    pub idle: Option<i64>,
    pub intvl: Option<i64>,
    pub cnt: Option<i64>,
}

impl Timers {
    /// idle + intvl × cnt: when the kernel gives up.
    pub fn gives_up(&self) -> Option<i64> {
        Some(self.idle? + self.intvl? * self.cnt?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runs {
    Ran {
        vanished: KeepRun,
        present: KeepRun,
    },
    /// Left out: the run did not ask for it, and it waits about `seconds`.
    NotAsked {
        seconds: i64,
    },
    Unmeasured(Unmeasured),
}

/// One connection through the veth pair, with the short timers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeepRun {
    /// The peer's address was removed once connected.
    pub vanish: bool,
    pub port: u16,
    pub peer_port: u16,
    pub read: LocalRead,
    pub after_ms: f64,
    /// TcpExtTCPKeepAlive in the local namespace during the wait (None: unreadable).
    pub probes: Option<i64>,
    /// The peer's socket state as its socket table showed it, before we closed (None: gone).
    pub peer_state: Option<String>,
    /// Ip InAddrErrors in the peer's namespace after its address went (None: not counted).
    pub peer_dropped: Option<i64>,
}

/// What the local read() came back with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalRead {
    Eof,
    Bytes(usize),
    StillWaiting { waited_ms: u64 },
    Failed(Call),
}

impl LocalRead {
    pub fn is(&self, errno: &str) -> bool {
        matches!(self, LocalRead::Failed(c) if c.is(errno))
    }
}

/// The capture key of a run: keepalive_vanished or keepalive_present.
pub fn key(vanish: bool) -> &'static str {
    if vanish {
        "keepalive_vanished"
    } else {
        "keepalive_present"
    }
}

/// The timers and, when asked, both runs with their captures (taken on the local veth end).
pub fn measure(ctx: &Ctx, asked: bool) -> Result<(Keepalive, Vec<Taken>)> {
    let s = tcp()?;
    let get = |name: &str| match super::measure::read(&s, opt(name)) {
        Ok(Got {
            value: Val::Int(i), ..
        }) => Some(i as i64),
        _ => None,
    };
    let defaults = Timers {
        idle: get("TCP_KEEPIDLE"),
        intvl: get("TCP_KEEPINTVL"),
        cnt: get("TCP_KEEPCNT"),
    };
    let sysctls = SYSCTLS
        .iter()
        .map(|n| (n.to_string(), proc::read_sysctl(&format!("net.ipv4.{n}")).ok()))
        .collect();
    let (i, v, c) = KEEP;
    let mut taken = Vec::new();
    let runs = if !ctx.can_nest {
        Runs::Unmeasured(Unmeasured::NoSandbox)
    } else if !asked {
        Runs::NotAsked { seconds: i + v * c }
    } else {
        ctx.progress("options: SO_KEEPALIVE, a peer that vanishes (about 3 s)");
        let [vanished, present] = std::thread::scope(|s| {
            [true, false]
                .map(|vanish| s.spawn(move || ctx.isolated(|| keepalive_once(ctx, vanish)).0))
                .map(join)
        });
        let (vanished, t1) = vanished.context("keepalive: peer vanished")?;
        let (present, t2) = present.context("keepalive: peer still there")?;
        taken.extend(t1.into_iter().chain(t2));
        Runs::Ran { vanished, present }
    };
    Ok((
        Keepalive {
            defaults,
            sysctls,
            runs,
        },
        taken,
    ))
}

/// Commands from the local namespace's thread to the peer's.
enum ToPeer {
    Configure,
    Vanish,
    Done,
}

/// Answers from the peer's thread.
enum FromPeer {
    Namespace(std::fs::File),
    Port(u16),
    Ready,
    /// The peer socket's state and how many packets its kernel dropped after the address went.
    State(Option<String>, Option<i64>),
    Failed(String),
}

const LOCAL_IF: &str = "labk0";
const PEER_IF: &str = "labk1";
/// The peer's address lives on an alias label: taking the label down deletes the address.
const PEER_LABEL: &str = "labk1:0";
const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

fn expect_peer(rx: &mpsc::Receiver<FromPeer>) -> Result<FromPeer> {
    match rx.recv_timeout(STEP_TIMEOUT) {
        Ok(FromPeer::Failed(e)) => Err(anyhow!("peer namespace: {e}")),
        Ok(m) => Ok(m),
        Err(_) => Err(anyhow!("peer namespace did not answer within {STEP_TIMEOUT:?}")),
    }
}

fn unexpected() -> anyhow::Error {
    anyhow!("peer namespace: unexpected message")
}

/// Waits (bounded) until `name` has carrier, then a moment more: IFF_RUNNING is set just
/// before the queueing discipline is attached, and a packet sent in between is dropped
/// (an ARP request lost there is only retried after 1 s).
fn wait_running(name: &str) -> Result<()> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !link::is_running(name).with_context(|| format!("flags of {name}"))? {
        if Instant::now() > deadline {
            return Err(anyhow!("{name} has no carrier after {STEP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
    Ok(())
}

fn keepalive_once(ctx: &Ctx, vanish: bool) -> Result<(KeepRun, Option<Taken>)> {
    std::thread::scope(|s| {
        let (to_peer, peer_rx) = mpsc::channel();
        let (peer_tx, from_peer) = mpsc::channel();
        let peer = s.spawn(move || {
            if let Err(e) = keepalive_peer(&peer_rx, &peer_tx) {
                let _ = peer_tx.send(FromPeer::Failed(format!("{e:#}")));
            }
        });
        let result = keepalive_local(ctx, vanish, &to_peer, &from_peer);
        // Dropping the sender ends the peer's wait if the local side failed early.
        drop(to_peer);
        join(peer);
        let (run, rec) = result?;
        // After the peer's last socket: its reset, if any, is in the capture.
        rec.mark(run.peer_port);
        let t = rec.finish(key(vanish), run.peer_port);
        Ok((run, t))
    })
}

/// Creates the cable, connects through it, and returns the connected socket and the
/// capture on the local end, started before the first socket.
fn keepalive_connect(
    ctx: &Ctx,
    to_peer: &mpsc::Sender<ToPeer>,
    from_peer: &mpsc::Receiver<FromPeer>,
) -> Result<(Socket, Recorder)> {
    let FromPeer::Namespace(ns) = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    link::veth_pair((LOCAL_IF, 10), (PEER_IF, 20), ns.as_fd())
        .context("create a veth pair into the peer's namespace")?;
    drop(ns);
    link::set_ipv4(LOCAL_IF, LOCAL_IP).with_context(|| format!("address {LOCAL_IP} on {LOCAL_IF}"))?;
    link::set_up(LOCAL_IF, true).with_context(|| format!("bring {LOCAL_IF} up"))?;
    let _ = to_peer.send(ToPeer::Configure);
    let FromPeer::Port(port) = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    wait_running(LOCAL_IF)?;
    let rec = Recorder::start_on(ctx, c"labk0");
    let addr = SocketAddr::V4(SocketAddrV4::new(PEER_IP, port));
    let c = tcp()?;
    c.connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let FromPeer::Ready = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    rec.mark(port);
    Ok((c, rec))
}

fn keepalive_local(
    ctx: &Ctx,
    vanish: bool,
    to_peer: &mpsc::Sender<ToPeer>,
    from_peer: &mpsc::Receiver<FromPeer>,
) -> Result<(KeepRun, Recorder)> {
    let (c, rec) = keepalive_connect(ctx, to_peer, from_peer)?;
    let (i, v, n) = KEEP;
    for (name, val) in [
        ("TCP_KEEPIDLE", i),
        ("TCP_KEEPINTVL", v),
        ("TCP_KEEPCNT", n),
        ("SO_KEEPALIVE", 1),
    ] {
        opts::set_int(&c, opt(name), val as i32).with_context(|| format!("set {name} {val}"))?;
    }
    let port = local_port(&c)?;
    let peer_port = c
        .peer_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port());
    let probes_before = counter("TcpExtTCPKeepAlive");
    let started = Instant::now();
    if vanish {
        let _ = to_peer.send(ToPeer::Vanish);
        let FromPeer::Ready = expect_peer(from_peer)? else {
            return Err(unexpected());
        };
    }
    // Long enough for the short timers to run out (3 s), bounded either way.
    let wait = if vanish {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(3300)
    };
    c.set_read_timeout(Some(wait))?;
    let mut buf = [0u8; 16];
    let got = (&c).read(&mut buf);
    let after_ms = started.elapsed().as_secs_f64() * 1000.0;
    rec.mark(peer_port);
    let read = match got {
        Ok(0) => LocalRead::Eof,
        Ok(k) => LocalRead::Bytes(k),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => LocalRead::StillWaiting {
            waited_ms: wait.as_millis() as u64,
        },
        Err(e) => LocalRead::Failed(call_err(e)),
    };
    let probes = probes_before
        .zip(counter("TcpExtTCPKeepAlive"))
        .map(|(a, b)| b - a);
    // Ask the peer while our socket is still open, so its state is not our FIN's doing.
    let _ = to_peer.send(ToPeer::Done);
    let FromPeer::State(peer_state, peer_dropped) = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    drop(c);
    rec.mark(peer_port);
    let run = KeepRun {
        vanish,
        port,
        peer_port,
        read,
        after_ms,
        probes,
        peer_state,
        peer_dropped,
    };
    Ok((run, rec))
}

/// The peer: its own namespace, one accepted connection, and an address that may vanish.
fn keepalive_peer(rx: &mpsc::Receiver<ToPeer>, tx: &mpsc::Sender<FromPeer>) -> Result<()> {
    netns::unshare_net().context("unshare the peer's namespace")?;
    let _ = tx.send(FromPeer::Namespace(
        link::this_thread_netns().context("open the peer's namespace")?,
    ));
    match rx.recv_timeout(STEP_TIMEOUT) {
        Ok(ToPeer::Configure) => {}
        _ => return Ok(()),
    }
    // Not a router: a packet for an address it no longer has is dropped, not answered.
    let _ = proc::write_sysctl("net.ipv4.ip_forward", "0");
    link::set_ipv4(PEER_LABEL, PEER_IP).with_context(|| format!("address {PEER_IP} on {PEER_LABEL}"))?;
    link::set_up(PEER_IF, true).with_context(|| format!("bring {PEER_IF} up"))?;
    wait_running(PEER_IF)?;
    let l = listener_on(SocketAddr::V4(SocketAddrV4::new(PEER_IP, 0)), 1)?;
    let _ = tx.send(FromPeer::Port(local_port(&l)?));
    if opts::poll(&l, libc::POLLIN, STEP_TIMEOUT)? & libc::POLLIN == 0 {
        return Err(anyhow!("no connection arrived"));
    }
    let (conn, _) = l.accept().context("accept")?;
    let _ = tx.send(FromPeer::Ready);
    let mut dropped_before = None;
    // Bounded: the local side says Done within its 5 s read; a hang-up ends the loop too.
    for _ in 0..3 {
        match rx.recv_timeout(Duration::from_secs(8)) {
            Ok(ToPeer::Vanish) => {
                dropped_before = counter("IpInAddrErrors");
                link::set_up(PEER_LABEL, false).context("remove the peer's address")?;
                let _ = tx.send(FromPeer::Ready);
            }
            Ok(ToPeer::Done) => {
                let state = diag::tcp_sockets_on_port(local_port(&conn)?)
                    .ok()
                    .and_then(|v| v.into_iter().find(|s| s.state != "LISTEN"))
                    .map(|s| s.state.to_string());
                let dropped = dropped_before.zip(counter("IpInAddrErrors")).map(|(a, b)| b - a);
                let _ = tx.send(FromPeer::State(state, dropped));
                break;
            }
            Ok(ToPeer::Configure) => {}
            Err(_) => break,
        }
    }
    // An abortive close: no FIN left retrying towards a dead address after the lab ends.
    sockopt::set_linger(&conn, 1, 0).context("SO_LINGER {1, 0} on the peer")?;
    Ok(())
}
