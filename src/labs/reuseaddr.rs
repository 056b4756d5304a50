//! `lab reuseaddr` — what the 1 in `setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)` means, and when it matters.
//!
//! Method: set the option to each value and read it back; then replay the book's server
//! restart: a server with the option at OLD serves one client and closes first (its side of
//! the connection enters TIME-WAIT), closes its listener, and a new server with NEW binds the
//! same port. The socket table (sock_diag) proves TIME-WAIT was there at the moment of the
//! rebind. Each scenario runs in its own fresh network namespace when the sandbox allows, so
//! nothing waits for the 60 s TIME-WAIT to expire.

use super::Lab;
use crate::cli::Global;
use crate::report::{outcome, Cell, Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use crate::sys::{diag, sockopt};
use anyhow::{bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub const LAB: Lab = Lab {
    id: "reuseaddr",
    title: "SO_REUSEADDR: what the value means and when it matters",
    question:
        "What does the 1 in setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) mean, and why did 50 and 0 look the same?",
    run_default,
};

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What the 1 in setsockopt(SOL_SOCKET, SO_REUSEADDR, 1) means, and when it matters",
    after_help = "Examples:
  lab reuseaddr
  lab reuseaddr --values 0,1,50,-1
  lab reuseaddr --port 51423            the book's port (each scenario has its own namespace)
  lab reuseaddr --format json | jq '.tables[] | select(.id==\"restart\") | .rows'"
)]
pub struct Args {
    /// Port for the restart scenarios (default: a port the kernel chooses in each scenario).
    #[arg(long)]
    pub port: Option<u16>,
    /// Values passed to setsockopt in the read-back table.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_values_t = [0, 1, 50, -1, 2147483647])]
    pub values: Vec<i32>,
}

const OLD_NEW: [i32; 3] = [0, 1, 50];
const SHARE_CLIENTS: usize = 20;
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

fn run_default(ctx: &Ctx) -> Result<Report> {
    run(&super::defaults(), ctx)
}

pub fn command(args: &Args, g: &Global) -> Result<ExitCode> {
    super::report_command(g, |ctx| run(args, ctx))
}

pub fn run(args: &Args, ctx: &Ctx) -> Result<Report> {
    if args.port.is_some() && !ctx.can_nest {
        bail!(
            "--port needs a private namespace per scenario ({}); leave out --port",
            ctx.sandbox_note
        );
    }
    let port = args.port.unwrap_or(0);
    let mut report = super::report_for(&LAB);
    report.tables.push(readback_table(&args.values));
    let (restart, isolated) = restart_table(ctx, port)?;
    report.tables.push(restart);
    report.tables.push(scenario_table(ctx, port)?);
    if !isolated {
        report.note_zh(
            "scenarios shared one network namespace (no fresh namespace per scenario could be made); \
             each used a new kernel-chosen port",
            "各场景共用了同一个网络命名空间（无法为每个场景新建命名空间）；每个场景都用了内核新选的端口",
        );
    }
    findings(&mut report);
    Ok(report)
}

// ---- table 1: value read-back ----

fn readback_table(values: &[i32]) -> Table {
    let mut t = Table::new(
        "readback",
        "setsockopt(SOL_SOCKET, OPT, value) then getsockopt: what the kernel stored",
        &[
            ("option", "option"),
            ("socket", "socket"),
            ("value", "value set"),
            ("set", "setsockopt"),
            ("read", "read back"),
        ],
    )
    .zh(
        "先 setsockopt(SOL_SOCKET, 选项, 值) 再 getsockopt：内核实际存下的值",
        &["选项", "套接字", "设置的值", "setsockopt 结果", "读回的值"],
    );
    for (name, opt) in [
        ("SO_REUSEADDR", libc::SO_REUSEADDR),
        ("SO_REUSEPORT", libc::SO_REUSEPORT),
    ] {
        for (kind, ty) in [("TCP", Type::STREAM), ("UDP", Type::DGRAM)] {
            for &v in values {
                let (set, read) = match Socket::new(Domain::IPV4, ty, None) {
                    Ok(s) => {
                        let set = sockopt::set_int(&s, libc::SOL_SOCKET, opt, v);
                        let read = sockopt::get_int(&s, libc::SOL_SOCKET, opt);
                        (
                            outcome(&set),
                            read.map(Cell::from).unwrap_or_else(|e| outcome::<()>(&Err(e))),
                        )
                    }
                    Err(e) => (outcome::<()>(&Err(e)), Cell::Null),
                };
                t.push(
                    row! { "option" => name, "socket" => kind, "value" => v, "set" => set, "read" => read },
                );
            }
        }
    }
    t.note_zh(
        "the kernel stores a yes/no: any non-zero value is kept as 1 (socket(7): \"a boolean integer flag\")",
        "内核只存“是/否”：任何非零值都存成 1（socket(7)：“a boolean integer flag”，布尔整数标志）",
    );
    t
}

// ---- table 2: the restart matrix ----

/// Who closes the served connection first.
#[derive(Clone, Copy, PartialEq)]
enum Closer {
    Server,
    Client,
}

/// What one restart attempt saw.
struct Restart {
    time_wait_on_port: Option<diag::TcpSock>,
    bind: io::Result<()>,
    listen: Option<io::Result<()>>,
}

fn restart_table(ctx: &Ctx, port: u16) -> Result<(Table, bool)> {
    let mut t = Table::new(
        "restart",
        "The book's server restarted right after serving one client (server closes first)",
        &[
            ("old", "old server's value"),
            ("new", "new server's value"),
            ("time_wait", "TIME-WAIT on the port at rebind"),
            ("tw_left_ms", "TIME-WAIT ms left"),
            ("bind", "new bind()"),
            ("listen", "new listen()"),
        ],
    )
    .zh(
        "书中的服务器刚服务完一个客户端（服务器先关闭）就重启",
        &[
            "旧服务器的值",
            "新服务器的值",
            "重新 bind 时该端口上的 TIME-WAIT",
            "TIME-WAIT 剩余毫秒",
            "新的 bind()",
            "新的 listen()",
        ],
    );
    let mut all_isolated = true;
    for old in OLD_NEW {
        for new in OLD_NEW {
            let (r, isolated) = ctx.isolated(|| restart_once(old, new, port, Closer::Server));
            all_isolated &= isolated;
            let r = r.with_context(|| format!("restart scenario old={old} new={new}"))?;
            t.push(row! {
                "old" => old,
                "new" => new,
                "time_wait" => tw_text(&r.time_wait_on_port),
                "tw_left_ms" => r.time_wait_on_port.as_ref().map(|s| s.expires_ms),
                "bind" => outcome(&r.bind),
                "listen" => r.listen.as_ref().map(outcome),
            });
        }
    }
    t.note_zh(
        "TIME-WAIT lasts 60 s on Linux (TCP_TIMEWAIT_LEN, fixed; tcp_fin_timeout does not change it)",
        "Linux 上 TIME-WAIT 持续 60 秒（TCP_TIMEWAIT_LEN，固定值；tcp_fin_timeout 改变不了它）",
    );
    t.note_zh(
        "Linux lets a bind reuse a port held by TIME-WAIT only if the old socket and the new one both set SO_REUSEADDR",
        "只有旧套接字和新套接字都设置了 SO_REUSEADDR，Linux 才允许 bind 重用被 TIME-WAIT 占着的端口",
    );
    Ok((t, all_isolated))
}

fn tw_text(s: &Option<diag::TcpSock>) -> String {
    match s {
        Some(s) => format!("{} {} -> {}", s.state, s.local, s.remote),
        None => "none".into(),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

fn tcp_with(reuseaddr: i32) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, reuseaddr)?;
    Ok(s)
}

/// A listener with SO_REUSEADDR at `value` on 127.0.0.1:port, backlog as the book's.
fn listener(value: i32, port: u16, backlog: i32) -> Result<Socket> {
    let s = tcp_with(value).context("socket")?;
    s.bind(&loopback(port).into())
        .with_context(|| format!("bind {}", loopback(port)))?;
    s.listen(backlog).context("listen")?;
    Ok(s)
}

fn local_port(s: &Socket) -> Result<u16> {
    s.local_addr()?
        .as_socket()
        .map(|a| a.port())
        .context("local address is not inet")
}

/// Serves one client the book's way and closes in the given order; returns the port.
fn serve_one(l: &Socket, closer: Closer) -> Result<()> {
    let port = local_port(l)?;
    let mut client = std::net::TcpStream::connect(loopback(port))
        .with_context(|| format!("connect {}", loopback(port)))?;
    client.set_read_timeout(Some(STEP_TIMEOUT))?;
    let (mut server_side, _) = l.accept().context("accept")?;
    server_side.set_read_timeout(Some(STEP_TIMEOUT))?;
    let mut sink = Vec::new();
    match closer {
        Closer::Server => {
            server_side.write_all(b"welcome\n")?;
            drop(server_side);
            client.read_to_end(&mut sink).context("client reads to EOF")?;
            drop(client);
        }
        Closer::Client => {
            drop(client);
            server_side
                .read_to_end(&mut sink)
                .context("server reads to EOF")?;
            drop(server_side);
        }
    }
    Ok(())
}

/// Waits (bounded) until the connection's closing side is in TIME-WAIT.
fn wait_for_time_wait(port: u16, on_server_port: bool) -> Result<Option<diag::TcpSock>> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let table = diag::tcp_sockets().context("sock_diag dump")?;
        let tw_server = table
            .iter()
            .find(|s| s.state == "TIME-WAIT" && s.local.port() == port)
            .cloned();
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

fn restart_once(old: i32, new: i32, port: u16, closer: Closer) -> Result<Restart> {
    let l = listener(old, port, 1)?;
    let port = local_port(&l)?;
    serve_one(&l, closer)?;
    let tw = wait_for_time_wait(port, closer == Closer::Server)?;
    drop(l);
    let s = tcp_with(new).context("socket")?;
    let bind = s.bind(&loopback(port).into());
    let listen = bind.as_ref().ok().map(|_| s.listen(1));
    Ok(Restart {
        time_wait_on_port: tw,
        bind,
        listen,
    })
}

// ---- table 3: other scenarios ----

fn scenario_table(ctx: &Ctx, port: u16) -> Result<Table> {
    let mut t = Table::new(
        "scenarios",
        "Other situations on the same port",
        &[
            ("scenario", "scenario"),
            ("first", "first socket"),
            ("second", "second socket"),
            ("holds", "what holds the port"),
            ("bind", "second bind()"),
            ("listen", "second listen()"),
            ("detail", "detail"),
        ],
    )
    .zh(
        "同一端口上的其他情形",
        &[
            "情形",
            "第一个套接字",
            "第二个套接字",
            "占用端口的是",
            "第二次 bind()",
            "第二次 listen()",
            "说明",
        ],
    );
    type Scenario = fn(u16) -> Result<ScenarioRow>;
    let scenarios: [(&str, Scenario); 5] = [
        ("client closes first", client_closes_first),
        ("old listener still open", live_listener),
        ("no connection was ever made", never_connected),
        ("two sockets bound, not listening", bound_not_listening),
        ("SO_REUSEPORT on both listeners", reuseport_share),
    ];
    for (name, f) in scenarios {
        let (r, _) = ctx.isolated(|| f(port));
        let r = r.with_context(|| format!("scenario: {name}"))?;
        t.push(row! {
            "scenario" => name, "first" => r.first, "second" => r.second, "holds" => r.holds,
            "bind" => outcome(&r.bind), "listen" => r.listen.as_ref().map(outcome), "detail" => r.detail,
        });
    }
    Ok(t)
}

struct ScenarioRow {
    first: &'static str,
    second: &'static str,
    holds: String,
    bind: io::Result<()>,
    listen: Option<io::Result<()>>,
    detail: String,
}

fn client_closes_first(port: u16) -> Result<ScenarioRow> {
    let r = restart_once(0, 0, port, Closer::Client)?;
    Ok(ScenarioRow {
        first: "SO_REUSEADDR 0",
        second: "SO_REUSEADDR 0",
        holds: tw_text(&r.time_wait_on_port),
        bind: r.bind,
        listen: r.listen,
        detail: "TIME-WAIT went to the client's ephemeral port, not the server's".into(),
    })
}

fn live_listener(port: u16) -> Result<ScenarioRow> {
    let l = listener(1, port, 1)?;
    let s = tcp_with(1)?;
    let bind = s.bind(&loopback(local_port(&l)?).into());
    let listen = bind.as_ref().ok().map(|_| s.listen(1));
    Ok(ScenarioRow {
        first: "SO_REUSEADDR 1, listening",
        second: "SO_REUSEADDR 1",
        holds: "LISTEN".into(),
        bind,
        listen,
        detail: "SO_REUSEADDR never lets two sockets listen on one port".into(),
    })
}

fn never_connected(port: u16) -> Result<ScenarioRow> {
    let l = listener(0, port, 1)?;
    let port = local_port(&l)?;
    drop(l);
    let s = tcp_with(0)?;
    let bind = s.bind(&loopback(port).into());
    let listen = bind.as_ref().ok().map(|_| s.listen(1));
    Ok(ScenarioRow {
        first: "SO_REUSEADDR 0, closed",
        second: "SO_REUSEADDR 0",
        holds: "nothing".into(),
        bind,
        listen,
        detail: "a closed listener frees its port at once".into(),
    })
}

fn bound_not_listening(port: u16) -> Result<ScenarioRow> {
    let a = tcp_with(1)?;
    a.bind(&loopback(port).into()).context("first bind")?;
    let port = local_port(&a)?;
    let b = tcp_with(1)?;
    let bind = b.bind(&loopback(port).into());
    let first_listen = a.listen(1);
    let listen = bind.as_ref().ok().map(|_| b.listen(1));
    Ok(ScenarioRow {
        first: "SO_REUSEADDR 1, bound",
        second: "SO_REUSEADDR 1",
        holds: "a bound socket".into(),
        bind,
        listen,
        detail: format!(
            "both binds allowed; first listen() {}, second must fail",
            crate::render::cell_text(Some(&outcome(&first_listen)))
        ),
    })
}

fn reuseport_listener(port: u16) -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    s.bind(&loopback(port).into())
        .with_context(|| format!("bind {}", loopback(port)))?;
    s.listen(SHARE_CLIENTS as i32)?;
    Ok(s)
}

fn reuseport_share(port: u16) -> Result<ScenarioRow> {
    let a = reuseport_listener(port)?;
    let port = local_port(&a)?;
    let b = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sockopt::set_int(&b, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    let bind = b.bind(&loopback(port).into());
    let listen = bind.as_ref().ok().map(|_| b.listen(SHARE_CLIENTS as i32));
    let detail = if matches!(listen, Some(Ok(()))) {
        let clients: Vec<_> = (0..SHARE_CLIENTS)
            .map(|_| std::net::TcpStream::connect(loopback(port)))
            .collect::<io::Result<_>>()
            .context("connect the clients")?;
        let (na, nb) = (drain(&a)?, drain(&b)?);
        drop(clients);
        format!("{SHARE_CLIENTS} connections split {na} / {nb} between the two listeners")
    } else {
        "the second listener could not share the port".into()
    };
    Ok(ScenarioRow {
        first: "SO_REUSEPORT 1, listening",
        second: "SO_REUSEPORT 1",
        holds: "LISTEN".into(),
        bind,
        listen,
        detail,
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

// ---- findings ----

fn cell_str(t: &Table, pred: impl Fn(&crate::report::Row) -> bool, key: &str) -> String {
    t.rows
        .iter()
        .find(|r| pred(r))
        .map(|r| crate::render::cell_text(r.get(key)))
        .unwrap_or_else(|| "-".into())
}

fn findings(report: &mut Report) {
    let rb = report.table("readback").cloned();
    let rs = report.table("restart").cloned();
    let sc = report.table("scenarios").cloned();
    if let Some(rb) = rb {
        let read = |v: i64| {
            cell_str(
                &rb,
                |r| r["option"] == "SO_REUSEADDR" && r["socket"] == "TCP" && r["value"] == v,
                "read",
            )
        };
        let (r0, r1, r50, rneg) = (read(0), read(1), read(50), read(-1));
        let boolean = r1 == "1" && (r50 == "1" || r50 == "-") && (rneg == "1" || rneg == "-") && r0 == "0";
        report.finding_zh(
            "The value is a yes/no flag: 1, 50 and -1 all mean \"on\"",
            if boolean {
                Verdict::Confirmed
            } else {
                Verdict::Refuted
            },
            format!("set 50 read back {r50}, -1 read back {rneg}, 1 read back {r1}, 0 read back {r0}"),
            "这个值只是开/关：1、50、-1 都表示“开”",
            format!("设 50 读回 {r50}，设 -1 读回 {rneg}，设 1 读回 {r1}，设 0 读回 {r0}"),
        );
    }
    if let Some(rs) = rs {
        let bind = |o: i64, n: i64| cell_str(&rs, |r| r["old"] == o && r["new"] == n, "bind");
        let left = cell_str(&rs, |r| r["old"] == 0 && r["new"] == 0, "tw_left_ms");
        let (b00, b11, b1_50, b10, b01) = (bind(0, 0), bind(1, 1), bind(1, 50), bind(1, 0), bind(0, 1));
        report.finding_zh(
            "\"0 also worked; I saw no difference\": the value makes no difference",
            if b00 != "ok" && b11 == "ok" {
                Verdict::Refuted
            } else {
                Verdict::Depends
            },
            format!(
                "right after serving a client (server closed first, TIME-WAIT with {left} ms left), \
                 the restart with 0/0 gave {b00}, with 1/1 {b11}, with 1/50 {b1_50}"
            ),
            "“改成 0 也能用，看不出区别”：这个值没有影响",
            format!("刚服务完一个客户端（服务器先关闭，TIME-WAIT 还剩 {left} 毫秒）就重启：0/0 得到 {b00}，1/1 得到 {b11}，1/50 得到 {b1_50}"),
        );
        report.finding_zh(
            "On Linux the option must be set on both the old and the new socket",
            if b11 == "ok" && b10 != "ok" && b01 != "ok" {
                Verdict::Confirmed
            } else {
                Verdict::Refuted
            },
            format!("old 1 / new 0 gave {b10}; old 0 / new 1 gave {b01}; old 1 / new 1 gave {b11}"),
            "在 Linux 上，旧套接字和新套接字都必须设置这个选项",
            format!("旧 1 / 新 0 得到 {b10}；旧 0 / 新 1 得到 {b01}；旧 1 / 新 1 得到 {b11}"),
        );
    }
    if let Some(sc) = sc {
        let get = |name: &str, key: &str| cell_str(&sc, |r| r["scenario"] == name, key);
        let never = get("no connection was ever made", "bind");
        let client_first = get("client closes first", "bind");
        report.finding_zh(
            "Why 0 looked the same in the learner's test: without a recent server-closed connection the port is free",
            if never == "ok" && client_first == "ok" { Verdict::Confirmed } else { Verdict::Refuted },
            format!(
                "with 0 on both, a restart when no client had connected gave {never}, and after a client that closed first gave {client_first}; \
                 only a connection the server closed within the last 60 s blocks it"
            ),
            "为什么作者试 0 时看不出区别：最近没有由服务器先关闭的连接时，端口是空闲的",
            format!("两边都设 0：没有客户端连过时重启得到 {never}，客户端先关闭后重启得到 {client_first}；只有服务器在最近 60 秒内关闭的连接才会挡住它"),
        );
        let live = get("old listener still open", "bind");
        let share = get("SO_REUSEPORT on both listeners", "detail");
        report.finding_zh(
            "SO_REUSEADDR lets a second server listen on a port that is still in use",
            if live == "ok" { Verdict::Confirmed } else { Verdict::Refuted },
            format!("binding next to a live listener with SO_REUSEADDR 1 gave {live}; SO_REUSEPORT is the option for sharing ({share})"),
            "SO_REUSEADDR 能让第二个服务器在仍被占用的端口上监听",
            format!("在仍在监听的端口上以 SO_REUSEADDR 1 再 bind 得到 {live}；要共享端口应使用 SO_REUSEPORT（{share}）"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            run(&super::super::defaults(), ctx)
        })
        .unwrap()
    }

    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        let r = report();
        let rb = r.table("readback").unwrap();
        let fifty = rb
            .rows
            .iter()
            .find(|row| row["option"] == "SO_REUSEADDR" && row["socket"] == "TCP" && row["value"] == 50)
            .unwrap();
        assert_eq!(fifty["read"], 1, "50 reads back as on");

        let rs = r.table("restart").unwrap();
        let cell = |o: i64, n: i64| {
            rs.rows
                .iter()
                .find(|row| row["old"] == o && row["new"] == n)
                .unwrap()
                .clone()
        };
        let zero = cell(0, 0);
        assert_eq!(zero["bind"], "EADDRINUSE", "0/0 after server-closes-first");
        assert!(
            zero["time_wait"].as_str().unwrap().starts_with("TIME-WAIT"),
            "evidence: {zero:?}"
        );
        assert!(zero["tw_left_ms"].as_u64().unwrap() > 1000);
        assert_eq!(cell(1, 1)["bind"], "ok");
        assert_eq!(cell(1, 1)["listen"], "ok");
        assert_eq!(cell(1, 0)["bind"], "EADDRINUSE");

        let sc = r.table("scenarios").unwrap();
        let get = |name: &str| {
            sc.rows
                .iter()
                .find(|row| row["scenario"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(get("old listener still open")["bind"], "EADDRINUSE");
        assert_eq!(get("client closes first")["bind"], "ok");
        assert_eq!(get("two sockets bound, not listening")["bind"], "ok");
        assert_eq!(get("two sockets bound, not listening")["listen"], "EADDRINUSE");
        assert_eq!(get("SO_REUSEPORT on both listeners")["listen"], "ok");
        assert!(
            r.findings.iter().all(|f| f.verdict != Verdict::Depends),
            "{:?}",
            r.findings
        );
    }
}
