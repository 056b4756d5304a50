//! The measurements: typed results of real sockets on this kernel.

use super::Args;
use crate::labs::wire::{self, Recorder, Taken, Wire};
use crate::report::{Call, Measured};
use crate::sandbox::Ctx;
use crate::sys::net::{listener, local_port, loopback, tcp};
use crate::sys::{diag, sockopt};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The old and new values the restart matrix tries.
pub const OLD_NEW: [i32; 3] = [0, 1, 50];
/// Connections spread over two SO_REUSEPORT listeners.
pub const SHARE_CLIENTS: usize = 20;
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub readback: Vec<Readback>,
    pub restarts: Vec<Restart>,
    pub scenarios: Vec<ScenarioRun>,
    /// False when the scenarios had to share one namespace.
    pub isolated: bool,
    /// The packets of each scenario that has traffic, or why they were not captured.
    pub wire: Measured<Vec<Wire>>,
}

/// setsockopt then getsockopt of one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readback {
    /// "SO_REUSEADDR" or "SO_REUSEPORT".
    pub option: String,
    /// True for TCP (SOCK_STREAM), false for UDP.
    pub tcp: bool,
    pub value: i32,
    /// socket(), then setsockopt(); `set` is the first that failed.
    pub set: Call,
    /// The value read back, or the errno of getsockopt (None: not reached).
    pub read: Option<Result<i32, Call>>,
}

/// A TIME-WAIT socket as the socket table showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeWait {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub left_ms: u32,
}

/// One cell of the restart matrix: old value, new value, what the rebind met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    pub old: i32,
    pub new: i32,
    /// The TIME-WAIT socket on the server's port at the moment of the rebind.
    pub time_wait: Option<TimeWait>,
    pub bind: Call,
    /// None: bind failed, so listen was not tried.
    pub listen: Option<Call>,
}

/// The other situations on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    ClientClosesFirst,
    LiveListener,
    NeverConnected,
    BoundNotListening,
    ReuseportShare,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::ClientClosesFirst,
        Scenario::LiveListener,
        Scenario::NeverConnected,
        Scenario::BoundNotListening,
        Scenario::ReuseportShare,
    ];

    /// The catalogue key stem of this scenario.
    pub fn key(self) -> &'static str {
        match self {
            Scenario::ClientClosesFirst => "client_closes_first",
            Scenario::LiveListener => "live_listener",
            Scenario::NeverConnected => "never_connected",
            Scenario::BoundNotListening => "bound_not_listening",
            Scenario::ReuseportShare => "reuseport_share",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRun {
    pub scenario: Scenario,
    /// Client-closes-first: where TIME-WAIT landed on the server's port (None: not there).
    pub time_wait: Option<TimeWait>,
    pub bind: Call,
    pub listen: Option<Call>,
    /// Bound-not-listening: what the first socket's listen() gave.
    pub first_listen: Option<Call>,
    /// SO_REUSEPORT: connections accepted by each listener.
    pub split: Option<(usize, usize)>,
}

pub fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
    if args.port.is_some() && !ctx.can_nest {
        bail!(
            "--port needs a private namespace per scenario ({}); leave out --port",
            ctx.sandbox_note
        );
    }
    let port = args.port.unwrap_or(0);
    let mut taken: Vec<Taken> = Vec::new();
    let readback = readback(&args.values);
    let mut isolated = true;
    let mut restarts = Vec::new();
    for old in OLD_NEW {
        for new in OLD_NEW {
            let (r, iso) = ctx.isolated(|| {
                let rec = Recorder::start(ctx);
                let r = restart_once(old, new, port, Closer::Server, &rec);
                let name = format!("restart_{old}_{new}");
                r.map(|(r, port)| (r, rec.finish(&name, port)))
            });
            isolated &= iso;
            let ((time_wait, bind, listen), cap) =
                r.with_context(|| format!("restart scenario old={old} new={new}"))?;
            taken.extend(cap);
            restarts.push(Restart {
                old,
                new,
                time_wait,
                bind,
                listen,
            });
        }
    }
    let mut scenarios = Vec::new();
    for (r, iso) in ctx.each_isolated(&Scenario::ALL, |s| {
        let rec = Recorder::start(ctx);
        scenario(*s, port, &rec).map(|(r, port)| {
            // Only client-closes-first has a connection; the others' captures are empty.
            let cap = port.and_then(|p| rec.finish(s.key(), p));
            (r, cap)
        })
    }) {
        isolated &= iso;
        let (run, cap) = r?;
        taken.extend(cap);
        scenarios.push(run);
    }
    Ok(Data {
        readback,
        restarts,
        scenarios,
        isolated,
        wire: wire::wires(ctx, taken)?,
    })
}

fn readback(values: &[i32]) -> Vec<Readback> {
    let mut out = Vec::new();
    for (name, opt) in [
        ("SO_REUSEADDR", libc::SO_REUSEADDR),
        ("SO_REUSEPORT", libc::SO_REUSEPORT),
    ] {
        for (tcp, ty) in [(true, Type::STREAM), (false, Type::DGRAM)] {
            for &value in values {
                let (set, read) = match Socket::new(Domain::IPV4, ty, None) {
                    Ok(s) => {
                        let set = Call::of(&sockopt::set_int(&s, libc::SOL_SOCKET, opt, value));
                        let read =
                            sockopt::get_int(&s, libc::SOL_SOCKET, opt).map_err(|e| Call::of::<()>(&Err(e)));
                        (set, Some(read))
                    }
                    Err(e) => (Call::of::<()>(&Err(e)), None),
                };
                out.push(Readback {
                    option: name.into(),
                    tcp,
                    value,
                    set,
                    read,
                });
            }
        }
    }
    out
}

/// Who closes the served connection first.
#[derive(Clone, Copy, PartialEq)]
enum Closer {
    Server,
    Client,
}

/// Serves one client the book's way and closes in the given order.
/// `rec` looks at the socket table after each step.
fn serve_one(l: &Socket, closer: Closer, rec: &Recorder) -> Result<()> {
    let port = local_port(l)?;
    let mut client = std::net::TcpStream::connect(loopback(port))
        .with_context(|| format!("connect {}", loopback(port)))?;
    client.set_read_timeout(Some(STEP_TIMEOUT))?;
    let (mut server_side, _) = l.accept().context("accept")?;
    server_side.set_read_timeout(Some(STEP_TIMEOUT))?;
    rec.mark(port);
    let mut sink = Vec::new();
    match closer {
        Closer::Server => {
            server_side.write_all(b"welcome\n")?;
            rec.mark(port);
            drop(server_side);
            rec.mark(port);
            client.read_to_end(&mut sink).context("client reads to EOF")?;
            drop(client);
        }
        Closer::Client => {
            drop(client);
            rec.mark(port);
            server_side
                .read_to_end(&mut sink)
                .context("server reads to EOF")?;
            drop(server_side);
        }
    }
    rec.mark(port);
    Ok(())
}

/// Waits (bounded) until the connection's closing side is in TIME-WAIT; returns the
/// TIME-WAIT socket on the server's port, if any.
fn wait_for_time_wait(port: u16, on_server_port: bool) -> Result<Option<TimeWait>> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let table = diag::tcp_sockets().context("sock_diag dump")?;
        let tw_server = table
            .iter()
            .find(|s| s.state == "TIME-WAIT" && s.local.port() == port)
            .map(|s| TimeWait {
                local: s.local,
                remote: s.remote,
                left_ms: s.expires_ms,
            });
        let tw_client = table
            .iter()
            .any(|s| s.state == "TIME-WAIT" && s.remote.port() == port);
        if (on_server_port && tw_server.is_some())
            || (!on_server_port && tw_client)
            || Instant::now() > deadline
        {
            return Ok(tw_server);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

type Rebind = (Option<TimeWait>, Call, Option<Call>);

/// The rebind's outcome, and the server's port.
fn restart_once(old: i32, new: i32, port: u16, closer: Closer, rec: &Recorder) -> Result<(Rebind, u16)> {
    let (l, port) = listener(Some(old), port, 1)?;
    serve_one(&l, closer, rec)?;
    let tw = wait_for_time_wait(port, closer == Closer::Server)?;
    drop(l);
    let (bind, listen) = bind_listen(&tcp(Some(new))?, port, 1);
    Ok(((tw, bind, listen), port))
}

/// bind() to 127.0.0.1:port, then listen() only if bind worked.
fn bind_listen(s: &Socket, port: u16, backlog: i32) -> (Call, Option<Call>) {
    let bind = s.bind(&loopback(port).into());
    let listen = bind.as_ref().ok().map(|_| Call::of(&s.listen(backlog)));
    (Call::of(&bind), listen)
}

/// One scenario's run, and the server's port when it had traffic.
fn scenario(s: Scenario, port: u16, rec: &Recorder) -> Result<(ScenarioRun, Option<u16>)> {
    let run = |bind, listen| ScenarioRun {
        scenario: s,
        time_wait: None,
        bind,
        listen,
        first_listen: None,
        split: None,
    };
    let r = match s {
        Scenario::ClientClosesFirst => {
            let ((tw, bind, listen), port) = restart_once(0, 0, port, Closer::Client, rec)?;
            return Ok((
                ScenarioRun {
                    time_wait: tw,
                    ..run(bind, listen)
                },
                Some(port),
            ));
        }
        Scenario::LiveListener => {
            let (_l, port) = listener(Some(1), port, 1)?;
            let (bind, listen) = bind_listen(&tcp(Some(1))?, port, 1);
            run(bind, listen)
        }
        Scenario::NeverConnected => {
            let (l, port) = listener(Some(0), port, 1)?;
            drop(l);
            let (bind, listen) = bind_listen(&tcp(Some(0))?, port, 1);
            run(bind, listen)
        }
        Scenario::BoundNotListening => bound_not_listening(port)?,
        Scenario::ReuseportShare => reuseport_share(port)?,
    };
    Ok((r, None))
}

fn bound_not_listening(port: u16) -> Result<ScenarioRun> {
    let a = tcp(Some(1))?;
    a.bind(&loopback(port).into()).context("first bind")?;
    let port = local_port(&a)?;
    let b = tcp(Some(1))?;
    let bind = b.bind(&loopback(port).into());
    let first_listen = Call::of(&a.listen(1));
    let listen = bind.as_ref().ok().map(|_| Call::of(&b.listen(1)));
    Ok(ScenarioRun {
        scenario: Scenario::BoundNotListening,
        time_wait: None,
        bind: Call::of(&bind),
        listen,
        first_listen: Some(first_listen),
        split: None,
    })
}

fn reuseport_socket() -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    Ok(s)
}

fn reuseport_share(port: u16) -> Result<ScenarioRun> {
    let a = reuseport_socket()?;
    a.bind(&loopback(port).into())
        .with_context(|| format!("bind {}", loopback(port)))?;
    a.listen(SHARE_CLIENTS as i32)?;
    let port = local_port(&a)?;
    let b = reuseport_socket()?;
    let (bind, listen) = bind_listen(&b, port, SHARE_CLIENTS as i32);
    let split = if listen.as_ref().is_some_and(Call::is_ok) {
        let clients: Vec<_> = (0..SHARE_CLIENTS)
            .map(|_| std::net::TcpStream::connect(loopback(port)))
            .collect::<io::Result<_>>()
            .context("connect the clients")?;
        let split = (drain(&a)?, drain(&b)?);
        drop(clients);
        Some(split)
    } else {
        None
    };
    Ok(ScenarioRun {
        scenario: Scenario::ReuseportShare,
        time_wait: None,
        bind,
        listen,
        first_listen: None,
        split,
    })
}

/// Accepts everything already queued on `l`; returns how many.
fn drain(l: &Socket) -> Result<usize> {
    l.set_nonblocking(true)?;
    let mut n = 0;
    for _ in 0..SHARE_CLIENTS * 2 {
        match l.accept() {
            Ok(_) => n += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e).context("accept"),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            let d = measure(&crate::labs::defaults(), ctx)?;
            Ok(crate::labs::assemble::<super::super::Reuseaddr>(&d))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap()
    }

    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        let d = data();
        let fifty = d
            .readback
            .iter()
            .find(|r| r.option == "SO_REUSEADDR" && r.tcp && r.value == 50)
            .unwrap();
        assert_eq!(fifty.read, Some(Ok(1)), "50 reads back as on");

        let cell = |o, n| {
            d.restarts
                .iter()
                .find(|r| r.old == o && r.new == n)
                .unwrap()
                .clone()
        };
        let zero = cell(0, 0);
        assert!(
            zero.bind.is("EADDRINUSE"),
            "0/0 after server-closes-first: {zero:?}"
        );
        assert!(
            zero.time_wait.as_ref().is_some_and(|t| t.left_ms > 1000),
            "{zero:?}"
        );
        assert!(cell(1, 1).bind.is_ok() && cell(1, 1).listen == Some(Call::Ok));
        assert!(cell(1, 0).bind.is("EADDRINUSE"));

        let get = |s| d.scenarios.iter().find(|r| r.scenario == s).unwrap().clone();
        assert!(get(Scenario::LiveListener).bind.is("EADDRINUSE"));
        assert!(get(Scenario::ClientClosesFirst).bind.is_ok());
        assert!(get(Scenario::BoundNotListening).bind.is_ok());
        assert!(get(Scenario::BoundNotListening)
            .listen
            .as_ref()
            .unwrap()
            .is("EADDRINUSE"));
        let share = get(Scenario::ReuseportShare);
        assert_eq!(share.listen, Some(Call::Ok));
        let (a, b) = share.split.unwrap();
        assert_eq!(
            a + b,
            SHARE_CLIENTS,
            "every connection went to one of the two listeners"
        );
    }
}
