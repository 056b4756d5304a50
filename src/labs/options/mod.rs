//! `lab options` — what each socket option the learner listed does, and what its default is.
//!
//! Method: (1) read every option, Stevens `checkopts` style, on five real sockets (new TCP,
//! new UDP, listening, connected and accepted TCP); an option that does not apply shows the
//! errno the kernel gave. (2) Set values and read them back: flags with 0, 1, 50, -1 and
//! INT_MAX; buffer sizes from 0 to 10 MB against the rule the kernel applies (doubling, a floor,
//! a cap from net.core.wmem_max / rmem_max). (3) Behaviour, each with the other end watching:
//! SO_LINGER off / {1,0} / {1,1} with unsent data; SO_ERROR after a refused non-blocking
//! connect, read twice; SO_BROADCAST off and on towards 127.255.255.255; one MSG_OOB byte with
//! SO_OOBINLINE off and on; SO_KEEPALIVE with 1 s / 1 s / 2 timers against a peer in a second
//! namespace, joined by a veth pair, whose address is then removed (only with
//! `--option SO_KEEPALIVE`: it takes ~3 s).
//! Each behaviour scenario runs in its own fresh network namespace when the sandbox allows.

use crate::report::{outcome, Cell, Report, Row, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use crate::sys::options::{self as opts, Kind, Opt, Value};
use crate::sys::{diag, link, netns, proc, sockopt};
use anyhow::{anyhow, Context, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

crate::legacy_experiment!(Options, "options", Args, run);

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "What each socket option does: defaults, stored values, and behaviour with a real peer",
    after_help = "Examples:
  lab options                           every option (SO_KEEPALIVE shows its timers only)
  lab options --option SO_LINGER        only SO_LINGER's rows
  lab options --option SO_KEEPALIVE     makes a peer vanish and waits ~3 s for ETIMEDOUT
  lab options --format json | jq '.tables[] | select(.id==\"buffers\") | .rows'"
)]
pub struct Args {
    /// Run only this option's rows (SO_LINGER, so_linger, TCP_NODELAY ...); SO_KEEPALIVE also
    /// runs the keepalive experiment (~3 s).
    #[arg(long, value_name = "NAME", value_parser = parse_option)]
    pub option: Option<&'static str>,
}

fn parse_option(s: &str) -> Result<&'static str, String> {
    let up = s.to_ascii_uppercase();
    opts::find(&up).map(|o| o.name).ok_or_else(|| {
        let names: Vec<&str> = opts::OPTIONS.iter().map(|o| o.name).collect();
        format!("unknown option {s:?}; one of: {}", names.join(", "))
    })
}

/// The values the learner tried, and the extremes of an int.
const PROBE_VALUES: [(&str, i32); 5] = [
    ("v0", 0),
    ("v1", 1),
    ("v50", 50),
    ("vneg", -1),
    ("vmax", i32::MAX),
];
const BUFFER_VALUES: [i32; 7] = [0, 1, 1000, 4096, 65536, 10_000_000, -1];
/// Options in the value probe (buffers have their own table; linger and timeouts are structs).
const PROBED: [&str; 15] = [
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_KEEPALIVE",
    "SO_BROADCAST",
    "SO_OOBINLINE",
    "TCP_NODELAY",
    "SO_RCVLOWAT",
    "SO_SNDLOWAT",
    "TCP_MAXSEG",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "SO_TYPE",
    "SO_ERROR",
    "SO_ACCEPTCONN",
];
/// SO_LINGER's {1, N}: close() may block up to N seconds.
const LINGER_SECONDS: i32 = 1;
/// The short keepalive timers: idle, interval, count.
const KEEP: (i32, i32, i32) = (1, 1, 2);
/// Every wait on a peer is bounded by this.
const STEP_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(args: &Args, ctx: &Ctx) -> Result<Report> {
    let want = |name: &str| args.option.is_none_or(|o| o == name);
    let mut report = super::report_for("options");
    // SO_LINGER {1, 1} blocks a second by design: run it beside everything else.
    let tables = std::thread::scope(|s| -> Result<Vec<Table>> {
        let linger = want("SO_LINGER").then(|| s.spawn(|| linger_table(ctx)));
        let keepalive = want("SO_KEEPALIVE").then(|| s.spawn(|| keepalive_table(ctx, args.option.is_some())));
        let mut tables = vec![
            catalogue_table(&want),
            defaults_table(&want)?,
            probe_table(&want),
            buffers_table(&want),
        ];
        if let Some(h) = linger {
            tables.push(join(h)?);
        }
        if want("SO_ERROR") {
            tables.push(so_error_table(ctx)?);
        }
        if want("SO_BROADCAST") {
            tables.push(broadcast_table(ctx)?);
        }
        if want("SO_OOBINLINE") {
            tables.push(oob_table(ctx)?);
        }
        if let Some(h) = keepalive {
            let (t, note) = join(h)?;
            tables.push(t);
            if let Some((en, zh)) = note {
                report.note_zh(en, zh);
            }
        }
        Ok(tables)
    })?;
    report.tables = tables.into_iter().filter(|t| !t.rows.is_empty()).collect();
    findings(&mut report);
    Ok(report)
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

fn port_of(s: &Socket) -> Result<u16> {
    s.local_addr()?
        .as_socket()
        .map(|a| a.port())
        .context("local address is not inet")
}

fn tcp() -> Result<Socket> {
    Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("socket(AF_INET, SOCK_STREAM)")
}

fn udp() -> Result<Socket> {
    Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("socket(AF_INET, SOCK_DGRAM)")
}

fn listener_on(addr: SocketAddr, backlog: i32) -> Result<Socket> {
    let l = tcp()?;
    l.bind(&addr.into()).with_context(|| format!("bind {addr}"))?;
    l.listen(backlog).with_context(|| format!("listen on {addr}"))?;
    Ok(l)
}

/// accept(2), waiting at most STEP_TIMEOUT for the connection to be queued.
fn accept_within(l: &Socket, addr: SocketAddr) -> Result<Socket> {
    if opts::poll(l, libc::POLLIN, STEP_TIMEOUT).context("poll")? & libc::POLLIN == 0 {
        return Err(anyhow!(
            "accept on {addr}: nothing queued within {STEP_TIMEOUT:?}"
        ));
    }
    let (s, _) = l.accept().with_context(|| format!("accept on {addr}"))?;
    Ok(s)
}

fn err_cell(e: &io::Error) -> Cell {
    Cell::from(crate::sys::errno_name(e))
}

fn opt(name: &str) -> &'static Opt {
    opts::find(name).expect("every name used here is in sys::options::OPTIONS")
}

// ---- table 1: defaults ----

/// A read value as a cell: numbers stay numbers; structs and names become words.
fn value_cell(kind: Kind, v: Value) -> Cell {
    match (kind, v) {
        (Kind::SockType, Value::Int(t)) => Cell::from(opts::sock_type_name(t)),
        (Kind::Errno, Value::Int(0)) => Cell::from(0),
        (Kind::Errno, Value::Int(e)) => Cell::from(crate::sys::errno_code_name(e)),
        (_, Value::Int(i)) => Cell::from(i),
        (_, Value::Linger { on, seconds }) => Cell::from(format!(
            "{{{}, {seconds}}} {}",
            on as i32,
            if on { "on" } else { "off" }
        )),
        (_, Value::Time(d)) if d.is_zero() => Cell::from("0 (none)"),
        (_, Value::Time(d)) => Cell::from(format!("{:.3} s", d.as_secs_f64())),
    }
}

fn read_cell(s: &Socket, o: &Opt) -> Cell {
    match opts::get(s, o) {
        Ok(r) if r.len != o.kind.size() => Cell::from(format!(
            "{} (optlen {} != {})",
            crate::render::cell_text(Some(&value_cell(o.kind, r.value))),
            r.len,
            o.kind.size()
        )),
        Ok(r) => value_cell(o.kind, r.value),
        Err(e) => err_cell(&e),
    }
}

fn level_text(o: &Opt) -> String {
    if o.level == libc::SOL_SOCKET {
        format!("SOL_SOCKET ({})", libc::SOL_SOCKET)
    } else {
        format!("SOL_TCP/IPPROTO_TCP ({})", o.level)
    }
}

fn catalogue_table(want: &dyn Fn(&str) -> bool) -> Table {
    let mut t = Table::new(
        "catalogue",
        "The options, as Stevens' checkopts lists them: level, constant, kind of value, and what each does",
        &[
            ("option", "option"),
            ("level", "level"),
            ("constant", "constant"),
            ("kind", "kind"),
            ("doc", "what it does (man page)"),
        ],
    )
    .zh(
        "这些选项，按 Stevens 的 checkopts 的方式列出：层级、常量值、值的类型，以及作用",
        &["选项", "层级", "常量值", "类型", "作用（手册页）"],
    );
    for o in opts::OPTIONS.iter().filter(|o| want(o.name)) {
        t.push(row! {
            "option" => o.name, "level" => level_text(o), "constant" => o.constant,
            "kind" => o.kind.name(), "doc" => o.doc,
        });
    }
    t.note_zh(
        format!(
            "two levels: SOL_SOCKET = {} for the socket layer, and the TCP layer, whose two names are one number: \
             SOL_TCP = IPPROTO_TCP = {} (socket(7), tcp(7))",
            libc::SOL_SOCKET,
            libc::SOL_TCP
        ),
        format!(
            "两个层级：套接字层用 SOL_SOCKET = {}；TCP 层有两个名字，却是同一个数：\
             SOL_TCP = IPPROTO_TCP = {}（socket(7)、tcp(7)）",
            libc::SOL_SOCKET,
            libc::SOL_TCP
        ),
    );
    t.note_zh(
        "kinds: flag = an int used as yes/no; int and bytes = an int kept as a number; linger = struct linger \
         {l_onoff, l_linger}; timeval = struct timeval, 0 meaning no timeout",
        "类型：flag = 当作是/否使用的 int；int 和 bytes = 按数值保存的 int；linger = struct linger \
         {l_onoff, l_linger}；timeval = struct timeval，0 表示不超时",
    );
    t
}

fn defaults_table(want: &dyn Fn(&str) -> bool) -> Result<Table> {
    let mut t = Table::new(
        "defaults",
        "getsockopt on five real sockets: every option's value before anyone sets it",
        &[
            ("option", "option"),
            ("level", "level"),
            ("tcp", "new TCP"),
            ("udp", "new UDP"),
            ("listening", "listening TCP"),
            ("connected", "connected TCP"),
            ("accepted", "accepted TCP"),
        ],
    )
    .zh(
        "在五个真实套接字上 getsockopt：没人设置之前每个选项的值",
        &[
            "选项",
            "层级",
            "新建 TCP",
            "新建 UDP",
            "监听中的 TCP",
            "已连接的 TCP",
            "accept 得到的 TCP",
        ],
    );
    let tcp_new = tcp()?;
    let udp_new = udp()?;
    let listening = listener_on(loopback(0), 1)?;
    let addr = loopback(port_of(&listening)?);
    let connected = tcp()?;
    connected
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let accepted = accept_within(&listening, addr)?;
    for o in opts::OPTIONS.iter().filter(|o| want(o.name)) {
        t.push(row! {
            "option" => o.name, "level" => level_text(o),
            "tcp" => read_cell(&tcp_new, o), "udp" => read_cell(&udp_new, o),
            "listening" => read_cell(&listening, o), "connected" => read_cell(&connected, o),
            "accepted" => read_cell(&accepted, o),
        });
    }
    // Name the errnos this kernel actually gave, rather than the ones a book predicts.
    let mut refusals: Vec<String> = t
        .rows
        .iter()
        .filter_map(|r| {
            r.get("udp")
                .and_then(|c| c.as_str())
                .filter(|s| s.starts_with('E'))
        })
        .map(String::from)
        .collect();
    refusals.dedup();
    if !refusals.is_empty() {
        t.note_zh(
            format!(
                "an errno in a cell is the kernel refusing that option on that socket: a TCP-level option on a UDP \
                 socket gave {} here",
                refusals.join(", ")
            ),
            format!(
                "单元格里的 errno 表示内核拒绝在该套接字上使用该选项：这里在 UDP 套接字上设 TCP 层选项得到 {}",
                refusals.join(", ")
            ),
        );
    }
    t.note_zh(
        "a timeval of 0 means a read or write may wait forever; linger {0, 0} means close() returns at once",
        "timeval 为 0 表示读或写可以无限等待；linger {0, 0} 表示 close() 立即返回",
    );
    Ok(t)
}

// ---- table 2: value probe ----

fn probe_socket(o: &Opt) -> Result<Socket> {
    if o.name == "SO_BROADCAST" {
        udp()
    } else {
        tcp()
    }
}

/// What setting `v` stored: the read-back number, or the errno of the setsockopt.
fn probe_one(o: &Opt, v: i32) -> Result<Cell> {
    let s = probe_socket(o)?;
    Ok(match opts::set_int(&s, o, v) {
        Err(e) => err_cell(&e),
        Ok(()) => match opts::get(&s, o) {
            Ok(r) => match r.value {
                Value::Int(i) => Cell::from(i),
                other => value_cell(o.kind, other),
            },
            Err(e) => Cell::from(format!("read: {}", crate::sys::errno_name(&e))),
        },
    })
}

/// How the kernel stored what it was given, judged from the row.
fn stored_as(row: &Row) -> &'static str {
    let cell = |k: &str| row.get(k).cloned().unwrap_or(Cell::Null);
    let all_nonzero_one = ["v1", "v50", "vneg", "vmax"].iter().all(|k| cell(k) == 1);
    if cell("v0") == 0 && all_nonzero_one {
        "0/1 flag: any non-zero is 1"
    } else if PROBE_VALUES.iter().all(|(k, _)| cell(k) == "ENOPROTOOPT") {
        "cannot be set (ENOPROTOOPT)"
    } else if cell("v50") == 50 {
        "a number: 50 stays 50"
    } else if PROBE_VALUES.iter().any(|(k, _)| cell(k) == "EINVAL") {
        "a number with limits (EINVAL outside them)"
    } else {
        "a number the kernel adjusts"
    }
}

fn probe_table(want: &dyn Fn(&str) -> bool) -> Table {
    let mut cols = vec![("option", "option"), ("kind", "kind"), ("socket", "socket")];
    let headers: Vec<String> = PROBE_VALUES.iter().map(|(_, v)| format!("set {v}")).collect();
    cols.extend(
        PROBE_VALUES
            .iter()
            .zip(&headers)
            .map(|((k, _), h)| (*k, h.as_str())),
    );
    cols.push(("stored", "stored as"));
    let mut zh = vec!["选项", "类型", "套接字"];
    let zh_heads: Vec<String> = PROBE_VALUES.iter().map(|(_, v)| format!("设为 {v}")).collect();
    zh.extend(zh_heads.iter().map(|s| s.as_str()));
    zh.push("内核如何存储");
    let mut t = Table::new(
        "probe",
        "setsockopt(level, OPT, value), then getsockopt: what the kernel stored (an errno: setsockopt failed)",
        &cols,
    )
    .zh("先 setsockopt(层级, 选项, 值) 再 getsockopt：内核存下了什么（显示 errno 表示 setsockopt 失败）", &zh);
    for name in PROBED.iter().filter(|n| want(n)) {
        let o = opt(name);
        let mut r = row! { "option" => o.name, "kind" => o.kind.name(), "socket" => if o.name == "SO_BROADCAST" { "UDP" } else { "TCP" } };
        for (k, v) in PROBE_VALUES {
            let cell = probe_one(o, v).unwrap_or_else(|e| Cell::from(format!("socket: {e}")));
            r.insert(k.into(), cell);
        }
        let stored = stored_as(&r);
        r.insert("stored".into(), Cell::from(stored));
        t.push(r);
    }
    t.note_zh(
        "each cell is a fresh socket, so a failed setsockopt cannot leave an earlier value behind",
        "每个单元格都用一个新套接字，所以失败的 setsockopt 不会留下之前设的值",
    );
    let read_only: Vec<String> = t
        .rows
        .iter()
        .filter(|r| r.get("stored").and_then(|c| c.as_str()) == Some("cannot be set (ENOPROTOOPT)"))
        .map(|r| crate::render::cell_text(r.get("option")))
        .collect();
    if !read_only.is_empty() {
        t.note_zh(
            format!(
                "read-only here: setsockopt answered ENOPROTOOPT for every value of {}",
                read_only.join(", ")
            ),
            format!(
                "这里只读的选项：{} 无论设什么值，setsockopt 都返回 ENOPROTOOPT",
                read_only.join("、")
            ),
        );
    }
    t
}

// ---- table 3: buffer sizes ----

struct BufRule {
    name: &'static str,
    sysctl: &'static str,
    floor_name: &'static str,
}

const BUF_RULES: [BufRule; 2] = [
    BufRule {
        name: "SO_SNDBUF",
        sysctl: "net.core.wmem_max",
        floor_name: "SOCK_MIN_SNDBUF",
    },
    BufRule {
        name: "SO_RCVBUF",
        sysctl: "net.core.rmem_max",
        floor_name: "SOCK_MIN_RCVBUF",
    },
];

fn set_and_read(o: &Opt, v: i32) -> Result<(io::Result<()>, io::Result<i32>)> {
    let s = tcp()?;
    let set = opts::set_int(&s, o, v);
    let read = opts::get(&s, o).map(|r| match r.value {
        Value::Int(i) => i,
        _ => -1,
    });
    Ok((set, read))
}

/// The kernel's rule (net/core/sock.c): stored = max(2 × min(value as unsigned, max), floor).
fn buffer_rule(v: i32, max: Option<i64>, floor: i64, r: &BufRule) -> (Option<i64>, String) {
    let Some(max) = max else {
        return (None, format!("{} unreadable", r.sysctl));
    };
    let unsigned = v as u32 as i64;
    let doubled = 2 * unsigned.min(max);
    let predicted = doubled.max(floor);
    let text = if unsigned > max {
        let as_unsigned = if v < 0 {
            format!("{v} is {unsigned} as unsigned, ")
        } else {
            String::new()
        };
        format!(
            "cap: {as_unsigned}above {} = {max}, so 2 × {max} = {}",
            r.sysctl,
            2 * max
        )
    } else if doubled < floor {
        format!("floor: 2 × {v} = {doubled} is below {} = {floor}", r.floor_name)
    } else {
        format!("doubled: 2 × {v} = {doubled}")
    };
    (Some(predicted), text)
}

fn buffers_table(want: &dyn Fn(&str) -> bool) -> Table {
    let mut t = Table::new(
        "buffers",
        "SO_SNDBUF / SO_RCVBUF on a new TCP socket: set, read back, and the rule that explains the number",
        &[
            ("option", "option"),
            ("value", "value set"),
            ("set", "setsockopt"),
            ("read", "read back"),
            ("rule", "rule applied"),
            ("predicted", "rule predicts"),
            ("matches", "matches"),
        ],
    )
    .zh(
        "新建 TCP 套接字上的 SO_SNDBUF / SO_RCVBUF：设置、读回，以及解释这个数字的规则",
        &[
            "选项",
            "设置的值",
            "setsockopt 结果",
            "读回的值",
            "适用的规则",
            "规则预测",
            "是否一致",
        ],
    );
    for r in BUF_RULES.iter().filter(|r| want(r.name)) {
        let o = opt(r.name);
        let max = proc::read_sysctl_int(r.sysctl).ok();
        // The floor is measured, not assumed: what 0 is turned into.
        let floor = match set_and_read(o, 0) {
            Ok((_, Ok(f))) => f as i64,
            _ => 0,
        };
        for v in BUFFER_VALUES {
            let (set, read) = match set_and_read(o, v) {
                Ok(pair) => pair,
                Err(e) => (
                    Err(io::Error::other(e.to_string())),
                    Err(io::Error::other("no socket")),
                ),
            };
            let (predicted, rule) = buffer_rule(v, max, floor, r);
            let read_cell = match &read {
                Ok(n) => Cell::from(*n),
                Err(e) => err_cell(e),
            };
            let matches = match (&read, predicted) {
                (Ok(n), Some(p)) => Cell::from(*n as i64 == p),
                _ => Cell::Null,
            };
            t.push(row! {
                "option" => r.name, "value" => v, "set" => outcome(&set), "read" => read_cell,
                "rule" => rule, "predicted" => predicted, "matches" => matches,
            });
        }
        let max_text = max.map(|m| m.to_string()).unwrap_or_else(|| "unreadable".into());
        t.note_zh(
            format!(
                "{}: stored = max(2 × min(value as unsigned, {} = {max_text}), {} = {floor} measured by setting 0)",
                r.name, r.sysctl, r.floor_name
            ),
            format!(
                "{}：存下的值 = max(2 × min(按无符号数看的值, {} = {max_text}), {} = {floor}，设 0 测得)",
                r.name, r.sysctl, r.floor_name
            ),
        );
    }
    if !t.rows.is_empty() {
        t.note_zh(
            "socket(7): the kernel doubles the value to leave room for its own bookkeeping, and getsockopt \
             returns the doubled value; SO_SNDBUFFORCE / SO_RCVBUFFORCE (CAP_NET_ADMIN) may pass the cap",
            "socket(7)：内核把值翻倍，为自己的簿记开销留出空间，getsockopt 返回的就是翻倍后的值；\
             SO_SNDBUFFORCE / SO_RCVBUFFORCE（需 CAP_NET_ADMIN）可以突破上限",
        );
    }
    t
}

// ---- table 4: SO_LINGER ----

#[derive(Clone, Copy)]
enum Linger {
    Off,
    On(i32),
}

impl Linger {
    fn text(self) -> String {
        match self {
            Linger::Off => "off (default)".into(),
            Linger::On(n) => format!("{{1, {n}}}"),
        }
    }
}

struct LingerRow {
    written: usize,
    unsent: Option<i32>,
    close: io::Result<()>,
    close_ms: f64,
    peer_bytes: usize,
    peer_end: String,
    left_behind: String,
}

fn linger_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "linger",
        "SO_LINGER: close() with unsent data queued, the peer's receive buffer full",
        &[
            ("linger", "SO_LINGER"),
            ("peer_reading", "peer reading during close()"),
            ("written", "bytes written"),
            ("unsent", "unsent at close()"),
            ("close", "close()"),
            ("close_ms", "close() took ms"),
            ("peer_bytes", "peer read bytes"),
            ("peer_end", "peer's read ended with"),
            ("left", "our port afterwards"),
        ],
    )
    .zh(
        "SO_LINGER：发送队列里还有数据、对端接收缓冲区已满时调用 close()",
        &[
            "SO_LINGER",
            "close() 时对端在读吗",
            "写入字节数",
            "close() 时未发出的字节",
            "close()",
            "close() 耗时（毫秒）",
            "对端读到的字节",
            "对端读取的结局",
            "之后本端端口的状态",
        ],
    );
    let cases = [
        (Linger::Off, false),
        (Linger::On(0), false),
        (Linger::On(LINGER_SECONDS), false),
        (Linger::On(LINGER_SECONDS), true),
    ];
    for (mode, peer_reading) in cases {
        let (r, _) = ctx.isolated(|| linger_once(mode, peer_reading));
        let r = r.with_context(|| format!("SO_LINGER {}", mode.text()))?;
        t.push(row! {
            "linger" => mode.text(), "peer_reading" => if peer_reading { "yes" } else { "no" },
            "written" => r.written, "unsent" => r.unsent, "close" => outcome(&r.close),
            "close_ms" => (r.close_ms * 10.0).round() / 10.0, "peer_bytes" => r.peer_bytes,
            "peer_end" => r.peer_end, "left" => r.left_behind,
        });
    }
    t.note_zh(
        "small buffers (SO_SNDBUF 1 and the peer's SO_RCVBUF 1, raised to the floor) so the queues fill in a few KB",
        "用很小的缓冲区（SO_SNDBUF 1 和对端的 SO_RCVBUF 1，会被抬到下限），几 KB 就能填满队列",
    );
    let waited = Linger::On(LINGER_SECONDS).text();
    let closes: Vec<String> = t
        .rows
        .iter()
        .filter(|r| r.get("linger").and_then(|c| c.as_str()) == Some(waited.as_str()))
        .map(|r| crate::render::cell_text(r.get("close")))
        .collect();
    t.note_zh(
        format!(
            "{{1, N}}: close() waits until the data and FIN are acknowledged or N seconds pass; here close() gave {}",
            closes.join(" and ")
        ),
        format!(
            "{{1, N}}：close() 一直等到数据和 FIN 被确认，或过了 N 秒；这里 close() 的结果是 {}",
            closes.join(" 和 ")
        ),
    );
    t.note_zh(
        "\"our port afterwards\" is read from the socket table (sock_diag) once the peer has closed too",
        "“之后我们的端口”是在对端也关闭后，从套接字表（sock_diag）读出来的",
    );
    Ok(t)
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
fn drain(s: &Socket) -> (usize, String) {
    if let Err(e) = s.set_read_timeout(Some(STEP_TIMEOUT)) {
        return (0, crate::sys::errno_name(&e));
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
            Ok(0) => return (total, "EOF".into()),
            Ok(n) => total += n,
            Err(e) => return (total, crate::sys::errno_name(&e)),
        }
    }
    (total, "still reading".into())
}

/// What is left on `port` once the exchange is over: TIME-WAIT, another state, or nothing.
fn left_on(port: u16) -> Result<String> {
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
                None => "no socket left".into(),
                Some(s) if s.state == "TIME-WAIT" => format!("TIME-WAIT ({} s left)", s.expires_ms / 1000),
                Some(s) => s.state.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn linger_once(mode: Linger, peer_reading: bool) -> Result<LingerRow> {
    let l = tcp()?;
    sockopt::set_int(&l, libc::SOL_SOCKET, libc::SO_RCVBUF, 1).context("SO_RCVBUF on the listener")?;
    l.bind(&loopback(0).into()).context("bind 127.0.0.1:0")?;
    l.listen(1).context("listen")?;
    let addr = loopback(port_of(&l)?);
    let local = tcp()?;
    sockopt::set_int(&local, libc::SOL_SOCKET, libc::SO_SNDBUF, 1).context("SO_SNDBUF")?;
    local
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let peer = accept_within(&l, addr)?;
    drop(l);
    let port = port_of(&local)?;
    let written = fill(&local)?;
    if let Linger::On(n) = mode {
        sockopt::set_linger(&local, 1, n).context("SO_LINGER")?;
    }
    let unsent = opts::out_queue(&local).ok();
    let (close, close_ms, (peer_bytes, peer_end)) = std::thread::scope(|s| {
        let reader = peer_reading.then(|| s.spawn(|| drain(&peer)));
        let started = Instant::now();
        let close = opts::close(OwnedFd::from(local));
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let read = match reader {
            Some(h) => h.join().unwrap_or((0, "reader panicked".into())),
            None => drain(&peer),
        };
        (close, ms, read)
    });
    drop(peer);
    Ok(LingerRow {
        written,
        unsent,
        close,
        close_ms,
        peer_bytes,
        peer_end,
        left_behind: left_on(port)?,
    })
}

// ---- table 5: SO_ERROR ----

fn so_error_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "so_error",
        "SO_ERROR after a non-blocking connect to a loopback port where nothing listens",
        &[
            ("step", "step"),
            ("call", "call"),
            ("result", "result"),
            ("peer", "the other end"),
        ],
    )
    .zh(
        "向无人监听的回环端口发起非阻塞 connect 之后的 SO_ERROR",
        &["步骤", "调用", "结果", "另一端"],
    );
    let (rows, _) = ctx.isolated(so_error_steps);
    for r in rows? {
        t.push(r);
    }
    t.note_zh(
        "SO_ERROR hands over the pending error and resets it to 0 (socket(7)); connect(2) says to read it once POLLOUT fires",
        "SO_ERROR 交出待处理的错误并把它清为 0（socket(7)）；connect(2) 说应在 POLLOUT 触发后读它",
    );
    Ok(t)
}

fn counter(name: &str) -> Option<i64> {
    proc::net_counters().ok().and_then(|m| m.get(name).copied())
}

fn so_error_steps() -> Result<Vec<Row>> {
    // A bound socket that never listens: its port is taken, and it refuses connections.
    let target = tcp()?;
    target.bind(&loopback(0).into()).context("bind 127.0.0.1:0")?;
    let addr = loopback(port_of(&target)?);
    let rsts_before = counter("TcpOutRsts");
    let s = tcp()?;
    s.set_nonblocking(true)?;
    let connect = s.connect(&addr.into());
    let revents = opts::poll(&s, libc::POLLOUT, STEP_TIMEOUT).context("poll")?;
    let rsts = match (rsts_before, counter("TcpOutRsts")) {
        (Some(a), Some(b)) if b > a => {
            format!("its kernel answered our SYN with RST (Tcp OutRsts +{})", b - a)
        }
        (Some(_), Some(_)) => "no RST counted (Tcp OutRsts +0)".into(),
        _ => "not measured: Tcp OutRsts unreadable".into(),
    };
    let so_error = opt("SO_ERROR");
    let first = read_cell(&s, so_error);
    let second = read_cell(&s, so_error);
    Ok(vec![
        row! { "step" => 1, "call" => format!("connect({addr}), non-blocking"), "result" => outcome(&connect),
        "peer" => format!("{addr} is bound but not listening") },
        row! { "step" => 2, "call" => "poll(POLLOUT)", "result" => opts::poll_names(revents), "peer" => rsts },
        row! { "step" => 3, "call" => "getsockopt(SO_ERROR), first read", "result" => first, "peer" => "-" },
        row! { "step" => 4, "call" => "getsockopt(SO_ERROR), second read", "result" => second, "peer" => "-" },
    ])
}

// ---- table 6: SO_BROADCAST ----

fn broadcast_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "broadcast",
        "SO_BROADCAST: a UDP datagram to the loopback broadcast address 127.255.255.255",
        &[
            ("sender", "sender's SO_BROADCAST"),
            ("to", "sendto()"),
            ("result", "result"),
            ("receiver", "receiver's SO_BROADCAST"),
            ("got", "receiver got"),
        ],
    )
    .zh(
        "SO_BROADCAST：向回环广播地址 127.255.255.255 发送 UDP 数据报",
        &[
            "发送方的 SO_BROADCAST",
            "sendto() 目的地",
            "结果",
            "接收方的 SO_BROADCAST",
            "接收方收到",
        ],
    );
    let (rows, own_ns) = ctx.isolated(broadcast_rows);
    for r in rows? {
        t.push(r);
    }
    t.note_zh(
        "the receiver is bound to 0.0.0.0 on the port and never sets SO_BROADCAST",
        "接收方绑定在 0.0.0.0 的该端口上，从不设置 SO_BROADCAST",
    );
    let (where_en, where_zh) = if own_ns {
        ("a fresh namespace of this run", "本次运行新建的命名空间里")
    } else {
        ("the sandbox's namespace", "沙箱的命名空间里")
    };
    t.note_zh(
        format!("127.255.255.255 is lo's broadcast address (127.0.0.1/8), here in {where_en}"),
        format!("在{where_zh}，127.255.255.255 是 lo 的广播地址（127.0.0.1/8）"),
    );
    Ok(t)
}

/// Waits (bounded) for one datagram on `r`; "nothing" when none came.
fn receive(r: &Socket, wait: Duration) -> Result<String> {
    if opts::poll(r, libc::POLLIN, wait).context("poll")? & libc::POLLIN == 0 {
        return Ok("nothing".into());
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    let (n, from) = r.recv_from(&mut buf).context("recvfrom")?;
    let from = from.as_socket().map(|a| a.to_string()).unwrap_or_default();
    Ok(format!("{n} bytes from {from}"))
}

fn broadcast_rows() -> Result<Vec<Row>> {
    let r = udp()?;
    let any = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    r.bind(&any.into()).context("bind 0.0.0.0:0")?;
    let port = port_of(&r)?;
    let bcast = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 255, 255, 255), port));
    let receiver_flag = sockopt::get_int(&r, libc::SOL_SOCKET, libc::SO_BROADCAST).ok();
    let mut rows = Vec::new();
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
        rows.push(row! {
            "sender" => flag, "to" => to.to_string(), "result" => outcome(&sent),
            "receiver" => receiver_flag, "got" => got,
        });
    }
    Ok(rows)
}

// ---- table 7: SO_OOBINLINE ----

fn oob_table(ctx: &Ctx) -> Result<Table> {
    let mut t = Table::new(
        "oobinline",
        "SO_OOBINLINE: the sender sends \"ab\", then \"X\" with MSG_OOB, then \"cd\"; where does X come out?",
        &[
            ("oobinline", "receiver's SO_OOBINLINE"),
            ("poll", "poll() says"),
            ("mark_before", "SIOCATMARK first"),
            ("first", "recv()"),
            ("mark_after", "SIOCATMARK then"),
            ("oob", "recv(MSG_OOB)"),
            ("rest", "next recv()"),
            ("where", "X came out"),
        ],
    )
    .zh(
        "SO_OOBINLINE：发送方先发 \"ab\"，再用 MSG_OOB 发 \"X\"，再发 \"cd\"；X 从哪里出来？",
        &[
            "接收方的 SO_OOBINLINE",
            "poll() 的结果",
            "最初的 SIOCATMARK",
            "recv()",
            "之后的 SIOCATMARK",
            "recv(MSG_OOB)",
            "下一次 recv()",
            "X 出现在",
        ],
    );
    for inline in [0, 1] {
        let (r, _) = ctx.isolated(|| oob_once(inline));
        t.push(r.with_context(|| format!("SO_OOBINLINE {inline}"))?);
    }
    t.note_zh(
        "a read stops at the urgent mark, so the first recv() returns only \"ab\" even though \"cd\" has arrived",
        "读操作会停在紧急标记处，所以即使“cd”已经到达，第一次 recv() 也只返回“ab”",
    );
    t.note_zh(
        "TCP carries one urgent byte per MSG_OOB send: the last byte of it (tcp(7), RFC 6093)",
        "每次 MSG_OOB 发送，TCP 只带一个紧急字节：所发数据的最后一个字节（tcp(7)、RFC 6093）",
    );
    Ok(t)
}

fn text_of(r: io::Result<usize>, buf: &[u8]) -> Cell {
    match r {
        Ok(n) => Cell::from(format!("{:?}", String::from_utf8_lossy(&buf[..n]))),
        Err(e) => err_cell(&e),
    }
}

fn mark_cell(s: &Socket) -> Cell {
    match opts::at_mark(s) {
        Ok(b) => Cell::from(b as i32),
        Err(e) => err_cell(&e),
    }
}

fn oob_once(inline: i32) -> Result<Row> {
    let l = listener_on(loopback(0), 1)?;
    let addr = loopback(port_of(&l)?);
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
    let mark_before = mark_cell(&receiver);
    let mut buf = [0u8; 16];
    let first = text_of(opts::recv_now(&receiver, &mut buf, false), &buf);
    let mark_after = mark_cell(&receiver);
    let oob_read = opts::recv_now(&receiver, &mut buf, true);
    let oob_got_x = matches!(oob_read, Ok(1)) && buf[0] == b'X';
    let oob = text_of(oob_read, &buf);
    let rest_read = opts::recv_now(&receiver, &mut buf, false);
    let rest_has_x = matches!(rest_read, Ok(n) if buf[..n].contains(&b'X'));
    let rest = text_of(rest_read, &buf);
    let place = match (oob_got_x, rest_has_x) {
        (true, false) => "out of band: only recv(MSG_OOB) returns it",
        (false, true) => "inline: in the stream, right at the mark",
        (true, true) => "both (unexpected)",
        (false, false) => "nowhere (lost)",
    };
    Ok(row! {
        "oobinline" => inline, "poll" => opts::poll_names(revents), "mark_before" => mark_before,
        "first" => first, "mark_after" => mark_after, "oob" => oob, "rest" => rest, "where" => place,
    })
}

// ---- table 8: SO_KEEPALIVE ----

fn keepalive_columns() -> Table {
    Table::new(
        "keepalive",
        "SO_KEEPALIVE: when does the local side notice a peer that vanished without a word?",
        &[
            ("case", "case"),
            ("idle", "TCP_KEEPIDLE s"),
            ("intvl", "TCP_KEEPINTVL s"),
            ("cnt", "TCP_KEEPCNT"),
            ("gives_up", "gives up after s (idle + intvl × cnt)"),
            ("local", "local read()"),
            ("after_ms", "after ms"),
            ("probes", "probes sent"),
            ("peer", "the peer"),
        ],
    )
    .zh(
        "SO_KEEPALIVE：对端一声不响地消失后，本端多久才发觉？",
        &[
            "情形",
            "TCP_KEEPIDLE 秒",
            "TCP_KEEPINTVL 秒",
            "TCP_KEEPCNT",
            "多少秒后放弃（idle + intvl × cnt）",
            "本端 read()",
            "耗时毫秒",
            "发出的探测",
            "对端",
        ],
    )
}

/// The keepalive table, and a report note (English, Chinese) when the experiment was not run.
fn keepalive_table(ctx: &Ctx, asked: bool) -> Result<(Table, Option<(String, String)>)> {
    let mut t = keepalive_columns();
    let s = tcp()?;
    let get = |name: &str| match opts::get(&s, opt(name)) {
        Ok(opts::Read {
            value: Value::Int(i), ..
        }) => Some(i as i64),
        _ => None,
    };
    let (idle, intvl, cnt) = (get("TCP_KEEPIDLE"), get("TCP_KEEPINTVL"), get("TCP_KEEPCNT"));
    let gives_up = match (idle, intvl, cnt) {
        (Some(a), Some(b), Some(c)) => Some(a + b * c),
        _ => None,
    };
    t.push(row! {
        "case" => "kernel defaults on a new socket (SO_KEEPALIVE itself is off)", "idle" => idle,
        "intvl" => intvl, "cnt" => cnt, "gives_up" => gives_up, "local" => "-",
        "after_ms" => Cell::Null, "probes" => Cell::Null, "peer" => "-",
    });
    let sysctls = [
        "tcp_keepalive_time",
        "tcp_keepalive_intvl",
        "tcp_keepalive_probes",
    ]
    .map(|n| {
        format!(
            "{n} = {}",
            proc::read_sysctl(&format!("net.ipv4.{n}")).unwrap_or_else(|_| "?".into())
        )
    });
    t.note_zh(
        format!("the defaults come from net.ipv4.{}", sysctls.join(", ")),
        format!("默认值来自 net.ipv4.{}", sysctls.join(", ")),
    );
    let (i, v, c) = KEEP;
    let why_not = keepalive_why_not(ctx, asked);
    let cases = [
        (true, "1 s / 1 s / 2, peer vanished (its address removed)"),
        (false, "1 s / 1 s / 2, peer still there"),
    ];
    if let Some(why) = &why_not {
        for (_, case) in cases {
            t.push(row! {
                "case" => case, "idle" => i, "intvl" => v, "cnt" => c, "gives_up" => i + v * c,
                "local" => "not run (see note)", "after_ms" => Cell::Null, "probes" => Cell::Null, "peer" => "-",
            });
        }
        return Ok((t, Some(why.clone())));
    }
    let rows = std::thread::scope(|s| {
        let handles = cases.map(|(vanish, _)| s.spawn(move || ctx.isolated(|| keepalive_once(vanish)).0));
        handles.map(join)
    });
    for ((_, case), r) in cases.iter().zip(rows) {
        let r = r.with_context(|| format!("keepalive: {case}"))?;
        t.push(row! {
            "case" => *case, "idle" => i, "intvl" => v, "cnt" => c, "gives_up" => i + v * c,
            "local" => r.local, "after_ms" => r.after_ms.round(), "probes" => r.probes, "peer" => r.peer,
        });
    }
    t.note_zh(
        "the peer lives in a second network namespace joined by a veth pair; \"vanished\" removes its address, \
         so its kernel drops our probes without a reply or a reset, as if the machine had been switched off",
        "对端在第二个网络命名空间里，用一对 veth 相连；“消失”就是删掉它的地址，\
         于是它的内核丢弃我们的探测包，既不回复也不发 RST，就像那台机器被关掉了一样",
    );
    t.note_zh(
        "probes sent = TcpExtTCPKeepAlive in the local namespace; the local read() waits at most 5 s",
        "发出的探测数 = 本地命名空间里的 TcpExtTCPKeepAlive；本地 read() 最多等 5 秒",
    );
    Ok((t, None))
}

/// Why the keepalive experiment is not run here (English, Chinese), or None to run it.
fn keepalive_why_not(ctx: &Ctx, asked: bool) -> Option<(String, String)> {
    let (i, v, c) = KEEP;
    if !ctx.can_nest {
        Some((
            format!(
                "the keepalive experiment needs a second private namespace whose peer can vanish, and this sandbox \
                 ({}) cannot make one: the timers above are what would apply",
                ctx.sandbox
            ),
            format!(
                "keepalive 实验需要第二个私有命名空间，让对端能够消失，而这个沙箱（{}）建不了：\
                 上面的计时器就是会生效的值",
                ctx.sandbox
            ),
        ))
    } else if !asked {
        Some((
            format!(
                "the keepalive experiment was not run: it waits about {} s for the kernel's timers, over this lab's 2 s \
                 budget; run `lab options --option SO_KEEPALIVE`",
                i + v * c
            ),
            format!(
                "keepalive 实验没有运行：它要等内核计时器约 {} 秒，超出本实验 2 秒的预算；\
                 请运行 `lab options --option SO_KEEPALIVE`",
                i + v * c
            ),
        ))
    } else {
        None
    }
}

struct KeepRow {
    local: String,
    after_ms: f64,
    probes: Option<i64>,
    peer: String,
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
    State(String, Option<i64>),
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

fn keepalive_once(vanish: bool) -> Result<KeepRow> {
    std::thread::scope(|s| {
        let (to_peer, peer_rx) = mpsc::channel();
        let (peer_tx, from_peer) = mpsc::channel();
        let peer = s.spawn(move || {
            if let Err(e) = keepalive_peer(&peer_rx, &peer_tx) {
                let _ = peer_tx.send(FromPeer::Failed(format!("{e:#}")));
            }
        });
        let result = keepalive_local(vanish, &to_peer, &from_peer);
        // Dropping the sender ends the peer's wait if the local side failed early.
        drop(to_peer);
        peer.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        result
    })
}

/// Creates the cable, connects through it, and returns the connected socket.
fn keepalive_connect(to_peer: &mpsc::Sender<ToPeer>, from_peer: &mpsc::Receiver<FromPeer>) -> Result<Socket> {
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
    let addr = SocketAddr::V4(SocketAddrV4::new(PEER_IP, port));
    let c = tcp()?;
    c.connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let FromPeer::Ready = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    Ok(c)
}

fn keepalive_local(
    vanish: bool,
    to_peer: &mpsc::Sender<ToPeer>,
    from_peer: &mpsc::Receiver<FromPeer>,
) -> Result<KeepRow> {
    let c = keepalive_connect(to_peer, from_peer)?;
    let (i, v, n) = KEEP;
    for (name, val) in [
        ("TCP_KEEPIDLE", i),
        ("TCP_KEEPINTVL", v),
        ("TCP_KEEPCNT", n),
        ("SO_KEEPALIVE", 1),
    ] {
        opts::set_int(&c, opt(name), val).with_context(|| format!("set {name} {val}"))?;
    }
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
    let local = match got {
        Ok(0) => "EOF".into(),
        Ok(k) => format!("{k} bytes"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => format!("no error: still waiting after {wait:?}"),
        Err(e) => crate::sys::errno_name(&e),
    };
    let probes = match (probes_before, counter("TcpExtTCPKeepAlive")) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // Ask the peer while our socket is still open, so its state is not our FIN's doing.
    let _ = to_peer.send(ToPeer::Done);
    let FromPeer::State(state, dropped) = expect_peer(from_peer)? else {
        return Err(unexpected());
    };
    // A reset would have made our read fail with ECONNRESET; an answered probe keeps it waiting.
    let peer = if vanish {
        let dropped = dropped
            .map(|d| format!("; its kernel dropped {d} packets (Ip InAddrErrors)"))
            .unwrap_or_default();
        let heard = if local == "ETIMEDOUT" {
            "no reply, no reset"
        } else {
            "see the local read()"
        };
        format!("address gone: {heard}{dropped}; its socket is still {state}")
    } else if local.starts_with("no error") {
        format!("its kernel answered every probe; its program saw nothing; its socket is still {state}")
    } else {
        format!("still there; its socket is {state}")
    };
    Ok(KeepRow {
        local,
        after_ms,
        probes,
        peer,
    })
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
    let _ = tx.send(FromPeer::Port(port_of(&l)?));
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
                let state = diag::tcp_sockets_on_port(port_of(&conn)?)
                    .ok()
                    .and_then(|v| v.into_iter().find(|s| s.state != "LISTEN"))
                    .map(|s| s.state.to_string())
                    .unwrap_or_else(|| "gone".into());
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

// ---- findings ----

fn text(r: Option<&Row>, key: &str) -> String {
    crate::render::cell_text(r.and_then(|r| r.get(key)))
}

/// The socket-table cell of the linger table, in Chinese, for the zh evidence.
fn zh_left(s: &str) -> String {
    if s == "no socket left" {
        return "没有留下任何套接字".into();
    }
    match s
        .strip_prefix("TIME-WAIT (")
        .and_then(|r| r.strip_suffix(" s left)"))
    {
        Some(secs) => format!("TIME-WAIT（还剩 {secs} 秒）"),
        None => s.into(),
    }
}

/// "5 bytes from 127.0.0.1:9" as "来自 127.0.0.1:9 的 5 字节".
fn zh_got(s: &str) -> String {
    if s == "nothing" {
        return "什么也没收到".into();
    }
    match s.split_once(" bytes from ") {
        Some((n, from)) => format!("来自 {from} 的 {n} 字节"),
        None => s.into(),
    }
}

/// "no error: still waiting after 3.3s" in Chinese; errno names stay as they are.
fn zh_local(s: &str) -> String {
    match s.strip_prefix("no error: still waiting after ") {
        Some(t) => format!("没有错误：过了 {t} 仍在等待"),
        None => s.into(),
    }
}

fn confirmed(ok: bool) -> Verdict {
    if ok {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    }
}

fn findings(report: &mut Report) {
    let tables: Vec<Table> = report.tables.clone();
    let table = |id: &str| tables.iter().find(|t| t.id == id);
    if let Some(t) = table("probe") {
        finding_booleans(report, t);
    }
    if let Some(t) = table("buffers") {
        finding_buffers(report, t);
    }
    if let Some(t) = table("linger") {
        finding_linger(report, t);
    }
    if let Some(t) = table("so_error") {
        finding_so_error(report, t);
    }
    if let Some(t) = table("broadcast") {
        finding_broadcast(report, t);
    }
    if let Some(t) = table("oobinline") {
        finding_oob(report, t);
    }
    if let Some(t) = table("keepalive") {
        finding_keepalive(report, t);
    }
}

fn finding_booleans(report: &mut Report, t: &Table) {
    let stored = |r: &Row| r.get("stored").and_then(|c| c.as_str()).unwrap_or("").to_string();
    let names = |pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        t.rows
            .iter()
            .filter(|r| pred(&stored(r)))
            .map(|r| text(Some(r), "option"))
            .collect()
    };
    let settable_flags: Vec<&Row> = t
        .rows
        .iter()
        .filter(|r| r["kind"] == "flag" && !stored(r).starts_with("cannot"))
        .collect();
    if settable_flags.is_empty() {
        return;
    }
    let all_boolean = settable_flags.iter().all(|r| stored(r).starts_with("0/1"));
    let (flags, numbers, fixed) = (
        names(&|s| s.starts_with("0/1")),
        names(&|s| s.starts_with("a number")),
        names(&|s| s.starts_with("cannot")),
    );
    let fifty: Vec<String> = t
        .rows
        .iter()
        .filter(|r| r["v50"].is_number())
        .map(|r| format!("{} {}", text(Some(r), "option"), text(Some(r), "v50")))
        .collect();
    let mut en = vec![format!("stored as 0/1: {}", flags.join(", "))];
    let mut zh = vec![format!("按 0/1 存储的：{}", flags.join("、"))];
    if !numbers.is_empty() {
        en.push(format!("keep the number: {}", numbers.join(", ")));
        zh.push(format!("保留数值的：{}", numbers.join("、")));
    }
    if !fixed.is_empty() {
        en.push(format!("cannot be set: {}", fixed.join(", ")));
        zh.push(format!("不能设置的：{}", fixed.join("、")));
    }
    en.push(format!("set to 50, they read back: {}", fifty.join(", ")));
    zh.push(format!("设为 50 后读回：{}", fifty.join("，")));
    report.finding_zh(
        "The on/off options are yes/no flags: 1, 50, -1 and 2147483647 all read back as 1",
        confirmed(all_boolean),
        en.join("; "),
        "开/关类选项只是“是/否”标志：1、50、-1、2147483647 读回来都是 1",
        zh.join("；"),
    );
}

fn finding_buffers(report: &mut Report, t: &Table) {
    let Some(rule) = BUF_RULES
        .iter()
        .find(|r| t.rows.iter().any(|row| row["option"] == r.name))
    else {
        return;
    };
    let name = rule.name;
    let read = |v: i64| {
        text(
            t.rows.iter().find(|r| r["option"] == name && r["value"] == v),
            "read",
        )
    };
    let all_match = t.rows.iter().all(|r| r.get("matches") == Some(&Cell::from(true)));
    let (r4096, r0, r10m) = (read(4096), read(0), read(10_000_000));
    // Whether 10 MB was capped depends on this machine's wmem_max / rmem_max: quote the rule row.
    let rule10m = text(
        t.rows
            .iter()
            .find(|r| r["option"] == name && r["value"] == 10_000_000),
        "rule",
    );
    let sysctl = rule.sysctl;
    report.finding_zh(
        &format!(
            "{name} reads back doubled: the kernel stores twice what you ask, to cover its own bookkeeping"
        ),
        confirmed(r4096 == "8192" && all_match),
        format!(
            "{name} 4096 read back {r4096}; 0 became the floor {r0}; 10000000 read back {r10m} ({rule10m}); \
             {} the rule max(2 × min(value, {sysctl}), floor)",
            if all_match {
                "every row matches"
            } else {
                "not every row matches"
            }
        ),
        &format!("{name} 读回来翻了一倍：内核存下两倍的值，用来支付它自己的簿记开销"),
        format!(
            "{name} 设 4096 读回 {r4096}；设 0 变成下限 {r0}；设 10000000 读回 {r10m}（{rule10m}）；\
             {}符合规则 max(2 × min(值, {sysctl}), 下限)",
            if all_match {
                "每一行都"
            } else {
                "并非每一行都"
            }
        ),
    );
}

fn finding_linger(report: &mut Report, t: &Table) {
    let row = |mode: &str, reading: &str| {
        t.rows
            .iter()
            .find(|r| r["linger"] == mode && r["peer_reading"] == reading)
    };
    let n = format!("{{1, {LINGER_SECONDS}}}");
    let (off, abort, wait) = (row("off (default)", "no"), row("{1, 0}", "no"), row(&n, "no"));
    let (abort_end, abort_left) = (text(abort, "peer_end"), text(abort, "left"));
    let (off_end, off_left) = (text(off, "peer_end"), text(off, "left"));
    let (off_bytes, off_written) = (text(off, "peer_bytes"), text(off, "written"));
    let (wait_ms, abort_bytes, abort_written) = (
        text(wait, "close_ms"),
        text(abort, "peer_bytes"),
        text(abort, "written"),
    );
    report.finding_zh(
        "SO_LINGER {1, 0} turns close() into a reset: the peer's read fails with ECONNRESET and no TIME-WAIT is left",
        confirmed(abort_end == "ECONNRESET" && !abort_left.starts_with("TIME-WAIT")),
        format!(
            "with {{1, 0}} the peer read {abort_bytes} of {abort_written} bytes, then {abort_end}; our port: {abort_left}. \
             With linger off the peer read {off_bytes} of {off_written} bytes then {off_end}, and our port went to {off_left}; \
             with {n} and a peer that does not read, close() blocked {wait_ms} ms"
        ),
        "SO_LINGER {1, 0} 把 close() 变成复位：对端的读取以 ECONNRESET 失败，也不会留下 TIME-WAIT",
        format!(
            "用 {{1, 0}} 时对端读到 {abort_written} 字节中的 {abort_bytes} 字节，然后是 {abort_end}；本端端口：{}。\
             不开 linger 时对端读到 {off_written} 字节中的 {off_bytes} 字节然后 {off_end}，本端端口进入 {}；\
             用 {n} 且对端不读时，close() 阻塞了 {wait_ms} 毫秒",
            zh_left(&abort_left),
            zh_left(&off_left)
        ),
    );
}

fn finding_so_error(report: &mut Report, t: &Table) {
    let step = |n: i64| text(t.rows.iter().find(|r| r["step"] == n), "result");
    let (first, second) = (step(3), step(4));
    report.finding_zh(
        "SO_ERROR is read-and-clear: the first read returns the pending error, the second returns 0",
        confirmed(first == "ECONNREFUSED" && second == "0"),
        format!(
            "after a refused non-blocking connect ({}), the first read gave {first}, the second {second}",
            step(1)
        ),
        "SO_ERROR 读一次就清零：第一次读到挂起的错误，第二次读到 0",
        format!(
            "非阻塞 connect 被拒（{}）之后，第一次读到 {first}，第二次读到 {second}",
            step(1)
        ),
    );
}

fn finding_broadcast(report: &mut Report, t: &Table) {
    let bc = |flag: i64| {
        t.rows
            .iter()
            .find(|r| r["sender"] == flag && r["to"].as_str().is_some_and(|s| s.starts_with("127.255")))
    };
    let (off, on) = (bc(0), bc(1));
    let (off_res, on_res, on_got) = (text(off, "result"), text(on, "result"), text(on, "got"));
    let receiver = text(on, "receiver");
    report.finding_zh(
        "SO_BROADCAST guards sending, not receiving",
        confirmed(off_res == "EACCES" && on_res == "ok" && on_got != "nothing" && receiver == "0"),
        format!(
            "to 127.255.255.255 with SO_BROADCAST 0 sendto gave {off_res}; with 1 it gave {on_res}, and a receiver whose \
             SO_BROADCAST was {receiver} got {on_got}"
        ),
        "SO_BROADCAST 管的是发送，不是接收",
        format!(
            "向 127.255.255.255 发送：SO_BROADCAST 为 0 时 sendto 得到 {off_res}；为 1 时得到 {on_res}，\
             而 SO_BROADCAST 为 {receiver} 的接收方收到了{}",
            zh_got(&on_got)
        ),
    );
}

fn finding_oob(report: &mut Report, t: &Table) {
    let row = |v: i64| t.rows.iter().find(|r| r["oobinline"] == v);
    let (off, on) = (row(0), row(1));
    let (off_oob, off_rest, on_oob, on_rest) = (
        text(off, "oob"),
        text(off, "rest"),
        text(on, "oob"),
        text(on, "rest"),
    );
    report.finding_zh(
        "With SO_OOBINLINE off the urgent byte leaves the stream and only recv(MSG_OOB) returns it; with it on, the byte stays in the stream",
        confirmed(off_oob == "\"X\"" && !off_rest.contains('X') && on_rest.contains('X')),
        format!(
            "off: recv(MSG_OOB) gave {off_oob} and the stream went on with {off_rest}; on: recv(MSG_OOB) gave {on_oob} \
             and the stream went on with {on_rest}; the first recv() gave {} (off) and {} (on), SIOCATMARK after it {} and {}",
            text(off, "first"),
            text(on, "first"),
            text(off, "mark_after"),
            text(on, "mark_after")
        ),
        "SO_OOBINLINE 关闭时，紧急字节离开数据流，只有 recv(MSG_OOB) 能取到；打开时它留在数据流里",
        format!(
            "关闭时：recv(MSG_OOB) 得到 {off_oob}，数据流接着是 {off_rest}；打开时：recv(MSG_OOB) 得到 {on_oob}，\
             数据流接着是 {on_rest}；第一次 recv() 得到 {}（关闭时）和 {}（打开时），之后的 SIOCATMARK 为 {} 和 {}",
            text(off, "first"),
            text(on, "first"),
            text(off, "mark_after"),
            text(on, "mark_after")
        ),
    );
}

fn finding_keepalive(report: &mut Report, t: &Table) {
    let vanished = t
        .rows
        .iter()
        .find(|r| r["case"].as_str().is_some_and(|c| c.contains("vanished")));
    let present = t
        .rows
        .iter()
        .find(|r| r["case"].as_str().is_some_and(|c| c.contains("still there")));
    let (local, ms) = (text(vanished, "local"), text(vanished, "after_ms"));
    if local.starts_with("not run") {
        return;
    }
    let (plocal, probes) = (text(present, "local"), text(vanished, "probes"));
    report.finding_zh(
        "With SO_KEEPALIVE and short timers, a peer that vanished silently is detected: the read fails with ETIMEDOUT",
        confirmed(local == "ETIMEDOUT" && !plocal.contains("ETIMEDOUT")),
        format!(
            "1 s / 1 s / 2: after the peer's address vanished, read() failed with {local} after {ms} ms ({probes} unanswered probes); \
             with the peer still there the same timers gave: {plocal}"
        ),
        "开启 SO_KEEPALIVE 并把计时器调短后，一声不响消失的对端会被发现：读取以 ETIMEDOUT 失败",
        format!(
            "1 秒 / 1 秒 / 2 次：对端地址消失后，read() 在 {ms} 毫秒后以 {local} 失败（{probes} 个探测无人应答）；\
             对端仍在时同样的计时器得到：{}",
            zh_local(&plocal)
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_parse_in_any_case() {
        assert_eq!(parse_option("so_linger"), Ok("SO_LINGER"));
        assert_eq!(parse_option("TCP_NODELAY"), Ok("TCP_NODELAY"));
        assert!(parse_option("SO_NOPE").unwrap_err().contains("SO_LINGER"));
    }

    #[test]
    fn chinese_evidence_translates_the_cells_it_quotes() {
        assert_eq!(zh_left("TIME-WAIT (59 s left)"), "TIME-WAIT（还剩 59 秒）");
        assert_eq!(zh_left("no socket left"), "没有留下任何套接字");
        assert_eq!(zh_got("5 bytes from 127.0.0.1:9"), "来自 127.0.0.1:9 的 5 字节");
        assert_eq!(zh_local("ETIMEDOUT"), "ETIMEDOUT");
    }

    #[test]
    fn the_buffer_rule_doubles_floors_and_caps() {
        let r = &BUF_RULES[0];
        assert_eq!(buffer_rule(4096, Some(1 << 20), 4608, r).0, Some(8192));
        assert_eq!(buffer_rule(0, Some(1 << 20), 4608, r).0, Some(4608));
        assert_eq!(buffer_rule(-1, Some(1 << 20), 4608, r).0, Some(2 << 20));
        assert!(buffer_rule(-1, Some(1 << 20), 4608, r).1.contains("4294967295"));
    }

    fn report() -> Report {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            run(&super::super::defaults(), ctx)
        })
        .unwrap()
    }

    fn table<'a>(r: &'a Report, id: &str) -> &'a Table {
        r.table(id).unwrap_or_else(|| panic!("table {id}"))
    }

    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        let r = report();
        let d = table(&r, "defaults");
        let row = |name: &str| d.rows.iter().find(|x| x["option"] == name).unwrap().clone();
        let udp_nodelay = row("TCP_NODELAY")["udp"].clone();
        assert!(
            udp_nodelay.as_str().is_some_and(|e| e.starts_with('E')),
            "a TCP option on UDP gives an errno, not a value: {udp_nodelay}"
        );
        assert_eq!(row("SO_ACCEPTCONN")["listening"], 1);
        assert_eq!(row("SO_ACCEPTCONN")["accepted"], 0);
        assert_eq!(row("SO_REUSEADDR")["tcp"], 0);

        let p = table(&r, "probe");
        let keep = p.rows.iter().find(|x| x["option"] == "SO_KEEPALIVE").unwrap();
        assert_eq!(keep["v50"], 1);
        assert_eq!(keep["vneg"], 1);
        let ty = p.rows.iter().find(|x| x["option"] == "SO_TYPE").unwrap();
        assert_eq!(ty["v1"], "ENOPROTOOPT");

        let b = table(&r, "buffers");
        let snd = |v: i64| {
            b.rows
                .iter()
                .find(|x| x["option"] == "SO_SNDBUF" && x["value"] == v)
                .unwrap()["read"]
                .clone()
        };
        assert_eq!(snd(4096), 8192);
        assert!(snd(0).as_i64().unwrap() > 0, "a floor above 0");
        assert_eq!(snd(-1), snd(10_000_000), "-1 and 10 MB both hit the cap");

        let l = table(&r, "linger");
        let abort = l.rows.iter().find(|x| x["linger"] == "{1, 0}").unwrap();
        assert_eq!(abort["peer_end"], "ECONNRESET");
        assert_eq!(abort["left"], "no socket left");
        let off = l.rows.iter().find(|x| x["linger"] == "off (default)").unwrap();
        assert_eq!(off["peer_end"], "EOF");
        assert_eq!(
            off["peer_bytes"], off["written"],
            "linger off still delivers everything"
        );

        let e = table(&r, "so_error");
        assert_eq!(e.rows[2]["result"], "ECONNREFUSED");
        assert_eq!(e.rows[3]["result"], 0);

        let bc = table(&r, "broadcast");
        assert_eq!(bc.rows[0]["result"], "EACCES");
        assert_eq!(bc.rows[1]["result"], "ok");

        let o = table(&r, "oobinline");
        assert_eq!(o.rows[0]["oob"], "\"X\"");
        assert_eq!(o.rows[1]["oob"], "EINVAL");
        assert!(
            r.findings.iter().all(|f| f.verdict == Verdict::Confirmed),
            "{:#?}",
            r.findings
        );
    }
}
