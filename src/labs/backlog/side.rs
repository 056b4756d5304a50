//! The side experiments: the sweep over backlogs, what listen() stores, and which
//! settings make phantoms. Each case runs in its own namespace when the sandbox allows.

use super::data::*;
use super::measure::{listener, Clock, COUNTERS, POLL_MS};
use super::Args;
use crate::labs::wire::{Recorder, Taken};
use crate::report::Unmeasured;
use crate::sandbox::Ctx;
use crate::sys::net::{local_port, loopback};
use crate::sys::{self, connect, diag, poll, proc, sysctl_ns};
use anyhow::{Context, Result};
use socket2::Socket;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Per-value window of the sweep: every first SYN on loopback is answered or dropped
/// within a millisecond, and the first SYN retry comes only after about 1 s.
pub const SWEEP_WINDOW_MS: f64 = 150.0;
/// Clients in the retry-batch variants.
pub const VARIANT_CLIENTS: usize = 10;
/// Clients of each listen() case in the stores table.
pub const STORE_CLIENTS: usize = 20;
/// The variants stop watching after the first SYN retry has had time to land.
const VARIANT_BOUND_MS: f64 = 1500.0;
/// The settings of the batch experiment: (tcp_syncookies, tcp_abort_on_overflow).
pub const BATCH_CASES: [(u8, u8); 4] = [(1, 0), (0, 0), (1, 1), (0, 1)];

/// Sysctls to write in an experiment's own namespace before it starts.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub somaxconn: Option<u32>,
    pub abort_on_overflow: Option<u8>,
    pub syncookies: Option<u8>,
}

impl Settings {
    pub fn from_args(a: &Args) -> Settings {
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
    pub fn apply(&self, ctx: &Ctx) -> Result<(), SettingRefused> {
        for (name, value) in self.pairs() {
            let refused = |why| SettingRefused {
                name: name.into(),
                value: value.clone(),
                why,
            };
            if !ctx.can_set_sysctls {
                return Err(refused(Unmeasured::NoSandbox));
            }
            sysctl_ns::write_here(name, &value).map_err(|e| {
                refused(Unmeasured::SysctlRefused {
                    name: name.into(),
                    errno: sys::errno_name(&e),
                })
            })?;
        }
        Ok(())
    }
}

/// listen(backlog), `n` clients connect at once, nobody accepts for SWEEP_WINDOW_MS;
/// its packets are captured as scenario `key` when the run captures.
pub fn first_syn(ctx: &Ctx, key: &str, backlog: i32, n: usize) -> Result<(FirstSyn, Option<Taken>)> {
    let rec = Recorder::start(ctx);
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
    rec.mark(port);
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
        let get = |m: &std::collections::BTreeMap<String, i64>| *m.get("TcpExtListenOverflows").unwrap_or(&0);
        out.overflows = Some(get(&a) - get(&b));
    }
    rec.mark(port);
    drop(socks);
    drop(l);
    Ok((out, rec.finish(key, port)))
}

/// The first SYNs against each backlog, each value in its own namespace when possible.
pub fn sweep(
    ctx: &Ctx,
    backlogs: &[i32],
    clients: usize,
    settings: &Settings,
) -> Result<(Sweep, Vec<Taken>)> {
    let results = ctx.each_isolated(backlogs, |&b| {
        settings
            .apply(ctx)
            .map_err(|e| anyhow::anyhow!(super::tables::refused(&e).en))
            .and_then(|_| first_syn(ctx, &key::sweep(b), b, clients))
    });
    let mut rows = Vec::new();
    let mut taken = Vec::new();
    for (&backlog, (r, isolated)) in backlogs.iter().zip(results) {
        let (mut first, cap) = r.with_context(|| format!("sweep listen({backlog})"))?;
        taken.extend(cap);
        // Without a namespace per value the counter mixes values: leave it out.
        if !isolated {
            first.overflows = None;
        }
        rows.push(SweepRow {
            backlog,
            first,
            isolated,
        });
    }
    let sweep = Sweep {
        clients,
        window_ms: SWEEP_WINDOW_MS,
        rows,
    };
    Ok((sweep, taken))
}

/// What listen() stores for each case, and Python's `listen(-1)`.
pub fn stores(ctx: &Ctx) -> Result<(Stores, Vec<Taken>)> {
    let results = ctx.each_isolated(&StoreCase::ALL, |&case| -> Result<(StoreRun, Option<Taken>)> {
        let (backlog, somaxconn) = case.call();
        let s = Settings {
            somaxconn,
            ..Settings::default()
        };
        let (result, cap) = match s.apply(ctx) {
            Err(e) => (Err(e), None),
            Ok(()) => {
                let somaxconn = proc::read_sysctl("net.core.somaxconn").ok();
                let (first, cap) = first_syn(ctx, &key::store(case), backlog, STORE_CLIENTS)?;
                (Ok(Stored { somaxconn, first }), cap)
            }
        };
        Ok((StoreRun { case, result }, cap))
    });
    let mut cases = Vec::new();
    let mut taken = Vec::new();
    for (case, (r, _)) in StoreCase::ALL.iter().zip(results) {
        let (run, cap) = r.with_context(|| format!("scenario {}", case.key()))?;
        cases.push(run);
        taken.extend(cap);
    }
    // somaxconn is read in the namespace python's listener lived in.
    let (python, _) = ctx.isolated(|| PythonListen {
        limit: python_listen_negative(),
        somaxconn: proc::read_sysctl("net.core.somaxconn").ok(),
    });
    Ok((Stores { cases, python }, taken))
}

const PY_LISTEN: &str = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(-1)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()\n";

/// Runs python3 with `listen(-1)` in this namespace and reads the limit it stored.
fn python_listen_negative() -> Result<u32, Unmeasured> {
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
        .map_err(|_| Unmeasured::Missing {
            program: "python3".into(),
        })?;
    let result = read_python_port(&mut child).and_then(|port| {
        diag::tcp_sockets_on_port(port)?
            .into_iter()
            .find(|r| r.state == "LISTEN")
            .map(|r| r.send_q)
            .context("python's listener not in the socket table")
    });
    // Closing stdin ends the script; it is killed if it lingers.
    drop(child.stdin.take());
    let mut ended = false;
    for _ in 0..100 {
        if child.try_wait().ok().flatten().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
    }
    result.map_err(|e| Unmeasured::Kernel {
        errno: format!("{e:#}"),
    })
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

/// Every batch setting, each in its own namespace (they need sysctls of their own).
pub fn batches(ctx: &Ctx) -> Result<(Vec<BatchRun>, Vec<Taken>)> {
    if !(ctx.can_nest && ctx.can_set_sysctls) {
        let runs = BATCH_CASES
            .iter()
            .map(|&(c, a)| BatchRun {
                syncookies: c,
                abort_on_overflow: a,
                result: Err(Unmeasured::NoSandbox),
            })
            .collect();
        return Ok((runs, Vec::new()));
    }
    let results = ctx.each_isolated(&BATCH_CASES, |&(c, a)| retry_batch(ctx, c, a));
    let mut out = Vec::new();
    let mut taken = Vec::new();
    for (&(c, a), (r, _)) in BATCH_CASES.iter().zip(results) {
        let (result, cap) = r.with_context(|| format!("variant syncookies={c} abort_on_overflow={a}"))?;
        taken.extend(cap);
        out.push(BatchRun {
            syncookies: c,
            abort_on_overflow: a,
            result,
        });
    }
    Ok((out, taken))
}

/// listen(1), VARIANT_CLIENTS connect, the server accepts one: room for exactly one
/// more. The waiting clients' SYN retries then arrive together about 1 s later.
fn retry_batch(ctx: &Ctx, cookies: u8, abort: u8) -> Result<(Result<Batch, Unmeasured>, Option<Taken>)> {
    let s = Settings {
        syncookies: Some(cookies),
        abort_on_overflow: Some(abort),
        somaxconn: None,
    };
    if let Err(e) = s.apply(ctx) {
        return Ok((Err(e.why), None));
    }
    let rec = Recorder::start(ctx);
    let (l, port) = listener(1)?;
    let before = proc::net_counters()?;
    let clock = Clock(Instant::now());
    let mut socks = Vec::new();
    for _ in 0..VARIANT_CLIENTS {
        socks.push(connect::start_connect(loopback(port))?.0);
    }
    rec.mark(port);
    // Loopback handshakes finish within microseconds; wait a little so that the
    // first-SYN winners are all counted as such, then take one from the queue.
    std::thread::sleep(Duration::from_millis(20));
    poll::events(&[(l.as_raw_fd(), libc::POLLIN)], 200)?;
    let accepted = l.accept().ok();
    rec.mark(port);
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
    rec.mark(port);
    let after = proc::net_counters()?;
    let mut b = Batch::default();
    for (i, s) in socks.iter().enumerate() {
        retried[i] |= connect::tcp_info(s).is_ok_and(|x| x.total_retrans > 0);
        let err = s.take_error().ok().flatten();
        if !retried[i] && err.is_none() && first_syn_winner(s) {
            continue;
        }
        b.retried += usize::from(retried[i]);
        let cport = local_port(s).unwrap_or(0);
        let info = connect::tcp_info(s).ok();
        let server = rows.iter().find(|r| r.remote.port() == cport).map(|r| r.state);
        match (err, info.map(|x| x.state)) {
            (Some(_), _) => b.reset += 1,
            (None, Some(2)) => b.waiting += 1,
            (None, Some(1)) => match server {
                Some("ESTAB") => b.in_queue += 1,
                Some(st) if st.contains("SYN-RECV") => b.phantoms_request += 1,
                _ => {
                    b.phantoms_cookie += 1;
                    b.cookie_ports.push(cport);
                }
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
    Ok((Ok(b), rec.finish(&key::batch(cookies, abort), port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without accept(), and more clients than fit, exactly limit + 1 connect on the
    /// first SYN and the queue peaks there; with room for all, all connect at once.
    #[test]
    fn first_syn_fills_backlog_plus_one() {
        let ctx = Ctx::host(crate::report::Text::same("test"));
        let both = || {
            let small = first_syn(&ctx, "a", 1, 8).unwrap();
            let big = first_syn(&ctx, "b", 10, 8).unwrap();
            (small.0, big.0)
        };
        let (small, big) = crate::sys::netns::in_fresh_netns(both).unwrap_or_else(|_| both());
        assert_eq!(small.limit, Some(1));
        assert_eq!(small.queue_max, 2);
        assert_eq!((small.connected, small.pending), (2, 6));
        assert_eq!((big.connected, big.pending, big.queue_max), (8, 0, 8));
    }

    #[test]
    fn a_setting_is_refused_without_a_namespace_of_its_own() {
        let s = Settings {
            somaxconn: Some(4),
            ..Settings::default()
        };
        let e = s
            .apply(&Ctx::host(crate::report::Text::same("test")))
            .unwrap_err();
        assert_eq!((e.name.as_str(), e.value.as_str()), ("net.core.somaxconn", "4"));
        assert_eq!(e.why, Unmeasured::NoSandbox);
        assert!(Settings::default()
            .apply(&Ctx::host(crate::report::Text::same("test")))
            .is_ok());
    }
}
