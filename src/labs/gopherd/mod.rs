//! `lab gopherd` — a Gopher server (RFC 1436) for a directory, so the book's client has a
//! real peer on this machine, and the lab's own docs can be read over Gopher.
//!
//! Question: what does the other end of the book's client do, and what keeps a file server
//! inside the directory it serves?
//!
//! Method (the report, `lab gopherd --report` and `lab all`): build a small directory in a
//! temporary place (a subdirectory with a hand-written gophermap, a text file, a text file
//! with lines starting with ".", a binary file, a symlink inside, and symlinks leading out),
//! serve it with [`server::spawn_local`] and fetch from it with a plain socket2 client written
//! here, the book's way: connect, send the selector and CRLF, read until the server closes.
//! Each answer is compared with the file on disk; the server's own log says how each file
//! was sent (sendfile or a copy). Then path escapes, an over-long selector, a silent client,
//! too many clients and eight clients at once. The temporary directory is removed at the end.
//!
//! Serving (`lab gopherd [DIR]`): DIR on 127.0.0.1:7070 until Ctrl-C or SIGTERM.

use crate::gopher::server::{self, Config, Served};
use crate::report::{Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use anyhow::{bail, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

crate::legacy_experiment!(Gopherd, "gopherd", Args, run, program = program);

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Serve a directory over Gopher (RFC 1436), by default the lab's own docs",
    after_help = "The default port is 7070, not Gopher's 70: ports below 1024 need root.
Text files end with a line holding a lone \".\" (RFC 1436), lines starting with \".\" get a
second one; other files are sent byte for byte until the server closes.
A file named `gophermap` in a directory replaces its generated menu (format: labs/gopherd.md).

Examples:
  lab gopherd                          serve docs/ on gopher://127.0.0.1:7070/
  lab gopherd ~/notes --port 0         any free port; the address is printed
  lab gopher localhost:7070            read it with the lab's client
  curl gopher://127.0.0.1:7070/1/      ... or with curl, or: lynx gopher://127.0.0.1:7070/
  lab gopherd --report                 the experiment: what it sends, what it refuses"
)]
pub struct Args {
    /// Directory to serve [default: ./docs, else the lab's source tree docs/].
    pub dir: Option<PathBuf>,
    /// TCP port; 0 lets the kernel choose. The default is 7070, not Gopher's 70: ports below
    /// 1024 need root.
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on. Anything but 127.0.0.1 may let other machines read DIR.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Clients served at once; one more gets a "server busy" error item.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_clients: u16,
    /// Do not log each request on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Read and write files through a buffer instead of sendfile(2), to compare the two.
    #[arg(long)]
    pub no_sendfile: bool,
    /// Run the experiment on a temporary directory and print its report instead of serving.
    #[arg(long)]
    pub report: bool,
}

/// The server itself, unless `--report` asks for the measured report.
fn program(args: &Args, _env: &super::Env) -> Option<Result<ExitCode>> {
    (!args.report).then(|| serve(args))
}

// ---- serving until a signal ----

fn url(addr: SocketAddr) -> String {
    format!("gopher://{addr}/")
}

fn serve(args: &Args) -> Result<ExitCode> {
    let dir = args.dir.clone().unwrap_or_else(server::default_docs_dir);
    if !dir.is_dir() {
        bail!(
            "{}: no such directory (the lab's docs are written by `lab docs`; or name a DIR to serve)",
            dir.display()
        );
    }
    if args.bind != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        let reach = if args.bind.is_loopback() {
            "only this machine, on an address other than the default"
        } else {
            "OTHER MACHINES that can reach this address"
        };
        let _ = writeln!(
            io::stderr(),
            "lab: WARNING: --bind {}: {} will be readable by {reach}",
            args.bind,
            dir.display()
        );
    }
    // Block SIGINT/SIGTERM before any thread starts (threads inherit the mask), then wait for
    // one here: no signal handler runs in the middle of a client's sendfile.
    let mut signals = nix::sys::signal::SigSet::empty();
    signals.add(nix::sys::signal::Signal::SIGINT);
    signals.add(nix::sys::signal::Signal::SIGTERM);
    signals.thread_block().context("block SIGINT and SIGTERM")?;
    let cfg = Config {
        bind: SocketAddr::new(args.bind, args.port),
        max_clients: usize::from(args.max_clients),
        log: !args.quiet,
        sendfile: !args.no_sendfile,
        ..Config::default()
    };
    let srv = server::spawn(&dir, cfg)?;
    let addr = srv.addr();
    super::print(&format!("Serving {} on {}\n", srv.root().display(), url(addr)))?;
    // writeln!, not eprintln!: a closed stderr must not panic the server.
    let _ = writeln!(
        io::stderr(),
        "lab: press Ctrl-C to stop. Try: lab gopher {}   or   curl {}1/",
        addr,
        url(addr)
    );
    let sig = signals.wait().context("wait for SIGINT or SIGTERM")?;
    let _ = writeln!(
        io::stderr(),
        "lab: {sig} received: closing the listener and every client"
    );
    srv.stop();
    // Whoever started us may have stopped reading stdout: a closed pipe is no error here.
    super::print("Stopped.\n")?;
    Ok(ExitCode::SUCCESS)
}

// ---- the experiment ----

const SECRET: &[u8] = b"this file lies outside the served directory\n";
const HELLO: &[u8] = b"Hello from lab gopherd.\nThis file is served as Gopher type 0 (text).\n";
const DOTS: &[u8] = b"A line.\n.A line that starts with a dot.\n.\nThe lone dot above is part of the file.\n";
const GOPHERMAP: &[u8] = b"# A hand-written menu (this comment is not sent)\nA hand-written menu: see labs/gopherd.md\n0Back to hello\t/hello.txt\n*\n";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE: u64 = 16 << 20;
const PARALLEL: usize = 8;

/// A temporary directory removed on drop.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binary_data() -> Vec<u8> {
    (0..64 * 1024u32).map(|i| (i * 7 + i / 256) as u8).collect()
}

/// base/secret.txt outside; base/root served: hello.txt, dots.txt, data.bin, alias.txt ->
/// hello.txt, sub/ (gophermap, inner.txt), escape -> .. (the base), leak.txt -> ../secret.txt.
fn fixture() -> Result<(TempTree, PathBuf)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = std::env::temp_dir().join(format!("lab-gopherd-{}-{nanos}", std::process::id()));
    let tree = TempTree(base.clone());
    let root = base.join("root");
    let make = || -> io::Result<()> {
        std::fs::create_dir_all(root.join("sub"))?;
        std::fs::write(base.join("secret.txt"), SECRET)?;
        std::fs::write(root.join("hello.txt"), HELLO)?;
        std::fs::write(root.join("dots.txt"), DOTS)?;
        std::fs::write(root.join("data.bin"), binary_data())?;
        std::fs::write(root.join("sub/gophermap"), GOPHERMAP)?;
        std::fs::write(root.join("sub/inner.txt"), b"inside sub/\n")?;
        std::os::unix::fs::symlink("hello.txt", root.join("alias.txt"))?;
        std::os::unix::fs::symlink("..", root.join("escape"))?;
        std::os::unix::fs::symlink("../secret.txt", root.join("leak.txt"))
    };
    make().with_context(|| format!("create the fixture in {}", base.display()))?;
    Ok((tree, root))
}

/// The book's client on a socket2 socket: send the request, read until the server closes.
fn fetch(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.connect_timeout(&addr.into(), CLIENT_TIMEOUT)?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut s = std::net::TcpStream::from(s);
    s.write_all(request)?;
    let mut body = Vec::new();
    s.take(MAX_RESPONSE).read_to_end(&mut body)?;
    Ok(body)
}

fn connect_idle(addr: SocketAddr) -> io::Result<std::net::TcpStream> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.connect_timeout(&addr.into(), CLIENT_TIMEOUT)?;
    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(s.into())
}

/// The first line of a response: for a menu line its type, display text and selector
/// (host and port left out), cut to a readable width.
fn first_line(body: &[u8]) -> String {
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]);
    let line = line.trim_end_matches('\r');
    let fields: Vec<&str> = line.split('\t').collect();
    let line = match fields.as_slice() {
        [shown, "", _, _] => shown.to_string(),
        [shown, sel, _, _] => format!("{shown}  {sel}"),
        _ => line.to_string(),
    };
    if line.chars().count() > 64 {
        format!("{}...", line.chars().take(61).collect::<String>())
    } else {
        line
    }
}

/// Menu items in a response (lines before the lone "."), or None if it is not a menu.
fn menu_items(body: &[u8]) -> Option<usize> {
    let text = body.strip_suffix(b".\r\n")?;
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .all(|l| l.ends_with(b"\r") && l.iter().filter(|&&b| b == b'\t').count() >= 3)
        .then_some(lines.len())
}

/// How the server's answer compares with the file on disk.
fn compare(body: &[u8], disk: Option<&[u8]>, text: bool) -> &'static str {
    match disk {
        None => "-",
        Some(d) if body == d => "identical",
        Some(d) if text && body == [d, b".\r\n"].concat() => "identical + final '.' line",
        Some(d) if text && server::unstuff(body).as_deref() == Some(d) => {
            "identical + final '.' line, once doubled dots are undone"
        }
        Some(_) => "differs",
    }
}

/// The server's record of the request just made: the last one, if the log grew past
/// `before` (a connection that failed leaves no record, and must not borrow the previous one).
fn last(srv: &server::LocalServer, before: usize) -> Option<Served> {
    let mut log = srv.served();
    if log.len() > before {
        log.pop()
    } else {
        None
    }
}

fn requests_table(srv: &server::LocalServer, root: &Path) -> Table {
    let mut t = Table::new(
        "requests",
        "Selectors sent the book's way (selector + CRLF, read until the server closes)",
        &[
            ("selector", "selector sent"),
            ("what", "what it names"),
            ("type", "item type"),
            ("first", "first line of the answer"),
            ("items", "menu items"),
            ("bytes", "bytes"),
            ("sent", "sent by the server with"),
            ("disk", "compared with the file on disk"),
        ],
    )
    .zh(
        "按书中的方式发送选择符（选择符 + CRLF，读到服务器关闭为止）",
        &[
            "发送的选择符",
            "它指向什么",
            "条目类型",
            "回答的第一行",
            "菜单条目数",
            "字节数",
            "服务器的发送方式",
            "与磁盘上的文件比较",
        ],
    );
    let cases: [(&str, &str, Option<&str>); 8] = [
        ("", "the root (empty selector)", None),
        ("/", "the root again", None),
        ("/sub/", "a directory with a gophermap", None),
        ("/hello.txt", "a text file", Some("hello.txt")),
        ("/dots.txt", "text with lines starting with '.'", Some("dots.txt")),
        ("/data.bin", "a 64 KiB binary file", Some("data.bin")),
        ("/alias.txt", "a symlink to hello.txt, inside", Some("hello.txt")),
        (
            "/sub/inner.txt",
            "a file in the subdirectory",
            Some("sub/inner.txt"),
        ),
    ];
    for (sel, what, file) in cases {
        let request = [sel.as_bytes(), b"\r\n"].concat();
        let before = srv.served().len();
        let body = fetch(srv.addr(), &request);
        let log = last(srv, before);
        let disk = file.and_then(|f| std::fs::read(root.join(f)).ok());
        let kind = log.as_ref().map(|l| l.kind.to_string());
        let text = kind.as_deref() == Some("0");
        let row = match &body {
            Ok(b) => row! {
                "selector" => format!("{sel:?}"), "what" => what, "type" => kind,
                "first" => if text || file.is_none() { first_line(b) } else { format!("({} bytes of binary)", b.len()) },
                "items" => if file.is_none() { menu_items(b) } else { None },
                "bytes" => b.len(),
                "sent" => log.as_ref().map(|l| l.method),
                "disk" => compare(b, disk.as_deref(), text),
            },
            Err(e) => row! {
                "selector" => format!("{sel:?}"), "what" => what, "type" => kind,
                "first" => crate::sys::errno_name(e), "items" => None::<usize>, "bytes" => None::<usize>,
                "sent" => None::<&str>, "disk" => "-",
            },
        };
        t.push(row);
    }
    t.note_zh(
        "menus are built in memory and written; files go out with sendfile(2) unless lines need a second '.'",
        "菜单在内存里拼好再写出；文件用 sendfile(2) 发送，除非有些行需要补一个 '.'",
    );
    t.note_zh(
        "the item type is decided by the server from the file (extension, else its first KiB), never by the client",
        "条目类型由服务器根据文件决定（看扩展名，没有则看文件的前 1 KiB），从不由客户端决定",
    );
    t.note_zh(
        "the last row is a second server started with --no-sendfile: the same bytes, read and written by the program",
        "最后一行来自第二个以 --no-sendfile 启动的服务器：同样的字节，由程序自己读出再写出",
    );
    t
}

/// The binary file again, from a server told not to use sendfile.
fn copy_row(root: &Path) -> Result<crate::report::Row> {
    let cfg = Config {
        sendfile: false,
        ..Config::default()
    };
    let srv = server::spawn(root, cfg)?;
    let body = fetch(srv.addr(), b"/data.bin\r\n");
    let log = last(&srv, 0);
    let disk = std::fs::read(root.join("data.bin")).ok();
    Ok(row! {
        "selector" => "\"/data.bin\"", "what" => "the same, server run with --no-sendfile",
        "type" => log.as_ref().map(|l| l.kind.to_string()),
        "first" => body.as_ref().map(|b| format!("({} bytes of binary)", b.len())).unwrap_or_else(crate::sys::errno_name),
        "items" => None::<usize>,
        "bytes" => body.as_ref().ok().map(Vec::len),
        "sent" => log.as_ref().map(|l| l.method),
        "disk" => body.as_ref().map(|b| compare(b, disk.as_deref(), false)).unwrap_or("-"),
    })
}

fn escapes_table(srv: &server::LocalServer) -> Table {
    let mut t = Table::new(
        "escapes",
        "Attempts to read outside the served directory",
        &[
            ("attempt", "attempt"),
            ("selector", "selector sent"),
            ("answer", "first line of the answer"),
            ("reason", "server's reason"),
            ("leaked", "outside file's text in the answer"),
        ],
    )
    .zh(
        "试图读取服务目录之外的文件",
        &[
            "尝试",
            "发送的选择符",
            "回答的第一行",
            "服务器给出的原因",
            "回答中含目录外文件的内容",
        ],
    );
    let cases: [(&str, &[u8]); 8] = [
        ("parent directory", b"../secret.txt"),
        ("parent, after a leading /", b"/../secret.txt"),
        ("down then up", b"/sub/../../secret.txt"),
        ("an absolute path", b"/etc/passwd"),
        ("percent-encoded ..", b"%2e%2e/secret.txt"),
        ("symlink to a file outside", b"/leak.txt"),
        ("symlink to a directory outside", b"/escape/secret.txt"),
        ("NUL byte", b"/hello.txt\0/../../secret.txt"),
    ];
    for (attempt, sel) in cases {
        let before = srv.served().len();
        let body = fetch(srv.addr(), &[sel, b"\r\n"].concat());
        let log = last(srv, before);
        let shown = String::from_utf8_lossy(sel).replace('\0', "\\0");
        let (answer, leaked) = match &body {
            Ok(b) => (
                first_line(b),
                if contains(b, SECRET.trim_ascii_end()) {
                    "YES"
                } else {
                    "no"
                },
            ),
            Err(e) => (crate::sys::errno_name(e), "no"),
        };
        t.push(row! {
            "attempt" => attempt, "selector" => shown, "answer" => answer,
            "reason" => log.map(|l| l.outcome), "leaked" => leaked,
        });
    }
    t.note_zh(
        "selectors are never percent-decoded: '%2e%2e' is a name like any other, and no file has it",
        "选择符从不做百分号解码：'%2e%2e' 和别的名字一样只是个名字，而没有文件叫这个名字",
    );
    t.note_zh(
        "a path is resolved (symlinks followed) and must stay under the root; the file is then opened with openat2(RESOLVE_BENEATH)",
        "路径先被解析（跟随符号链接），且必须留在根目录之下；然后用 openat2(RESOLVE_BENEATH) 打开文件",
    );
    t
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn limits_table(root: &Path) -> Result<Table> {
    let mut t = Table::new(
        "limits",
        "Clients that are slow, greedy or many",
        &[
            ("situation", "situation"),
            ("answer", "first line of the answer"),
            ("outcome", "server's record"),
            ("detail", "detail"),
        ],
    )
    .zh(
        "慢的、贪心的、很多的客户端",
        &["情形", "回答的第一行", "服务器的记录", "说明"],
    );
    let read_timeout = Duration::from_millis(300);
    let cfg = Config {
        read_timeout,
        ..Config::default()
    };
    let srv = server::spawn(root, cfg)?;
    let long = vec![b'a'; server::MAX_SELECTOR + 100];
    let body = fetch(srv.addr(), &[&long[..], b"\r\n"].concat());
    push_limit(
        &mut t,
        &format!("a selector of {} bytes", long.len()),
        &body,
        last(&srv, 0),
        format!("limit {} bytes", server::MAX_SELECTOR),
    );
    let before = srv.served().len();
    let silent = connect_idle(srv.addr()).and_then(|mut s| {
        let mut b = Vec::new();
        s.read_to_end(&mut b).map(|_| b)
    });
    push_limit(
        &mut t,
        "a client that sends nothing",
        &silent,
        last(&srv, before),
        format!("server read timeout {} s", read_timeout.as_secs_f64()),
    );
    let data = std::fs::read(root.join("data.bin")).context("read data.bin")?;
    let answers: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
        // Builder: a thread the kernel refuses (EAGAIN) is a failed client, not a panic.
        let hs: Vec<_> = (0..PARALLEL)
            .map(|_| std::thread::Builder::new().spawn_scoped(s, || fetch(srv.addr(), b"/data.bin\r\n")))
            .collect();
        hs.into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("client thread panicked"))),
                Err(e) => Err(e),
            })
            .collect()
    });
    let same = answers
        .iter()
        .filter(|a| a.as_ref().is_ok_and(|b| *b == data))
        .count();
    // The server's own records of those requests, not an assumed "ok".
    let served_ok = srv
        .served()
        .iter()
        .filter(|s| s.selector == "/data.bin" && s.outcome == "ok")
        .count();
    t.push(row! {
        "situation" => format!("{PARALLEL} clients fetch data.bin at once"),
        "answer" => format!("{same} of {PARALLEL} got the file byte for byte"),
        "outcome" => format!("{served_ok} of {PARALLEL} ok"), "detail" => "one thread per client",
    });
    drop(srv);
    t.push(busy_row(root)?);
    Ok(t)
}

fn push_limit(
    t: &mut Table,
    situation: &str,
    body: &io::Result<Vec<u8>>,
    log: Option<Served>,
    detail: String,
) {
    t.push(row! {
        "situation" => situation,
        "answer" => match body { Ok(b) => first_line(b), Err(e) => crate::sys::errno_name(e) },
        "outcome" => log.map(|l| l.outcome),
        "detail" => detail,
    });
}

/// A server allowing 2 clients, held by 2 silent ones: the third gets "busy".
fn busy_row(root: &Path) -> Result<crate::report::Row> {
    let cfg = Config {
        max_clients: 2,
        ..Config::default()
    };
    let srv = server::spawn(root, cfg)?;
    let held: Vec<_> = (0..2)
        .map(|_| connect_idle(srv.addr()))
        .collect::<io::Result<_>>()?;
    let body = fetch(srv.addr(), b"/\r\n");
    drop(held);
    let log = srv.served().into_iter().find(|s| s.outcome == "busy");
    Ok(row! {
        "situation" => "a 3rd client while 2 are connected (limit 2)",
        "answer" => match &body { Ok(b) => first_line(b), Err(e) => crate::sys::errno_name(e) },
        "outcome" => log.map(|l| l.outcome),
        "detail" => format!("the default limit is {} (--max-clients)", Config::default().max_clients),
    })
}

pub fn run(_args: &Args, ctx: &Ctx) -> Result<Report> {
    let mut report = super::report_for("gopherd");
    let (tree, root) = fixture()?;
    ctx.progress("gopherd: serving a temporary directory");
    let srv = server::spawn_local(&root)?;
    let mut requests = requests_table(&srv, &root);
    requests.push(copy_row(&root)?);
    report.tables.push(requests);
    report.tables.push(escapes_table(&srv));
    drop(srv);
    report.tables.push(limits_table(&root)?);
    drop(tree);
    findings(&mut report);
    Ok(report)
}

// ---- findings ----

fn cell(t: &Table, key: &str, value: &str, col: &str) -> String {
    t.rows
        .iter()
        .find(|r| r.get(key).and_then(|v| v.as_str()) == Some(value))
        .map(|r| crate::render::cell_text(r.get(col)))
        .unwrap_or_else(|| "-".into())
}

fn findings(report: &mut Report) {
    let (Some(rq), Some(es), Some(li)) = (
        report.table("requests").cloned(),
        report.table("escapes").cloned(),
        report.table("limits").cloned(),
    ) else {
        return;
    };
    // A row counts only if it positively worked: a menu that parsed, or a file that matched
    // the disk. A failed fetch (no items, disk "-") counts as neither.
    let n = rq.rows.len();
    let menus = rq.rows.iter().filter(|r| r["items"].is_u64()).count();
    let files = rq
        .rows
        .iter()
        .filter(|r| r["disk"].as_str().is_some_and(|d| d.starts_with("identical")))
        .count();
    report.finding_zh(
        "The book's client needs nothing more: send the selector and CRLF, then read until the server closes",
        if menus + files == n { Verdict::Confirmed } else { Verdict::Refuted },
        format!("{n} requests, one connection each, each read to end-of-file: {menus} menus parsed and {files} files matched the disk"),
        "书中的客户端不需要更多：发送选择符和 CRLF，然后一直读到服务器关闭",
        format!("{n} 个请求，每个一条连接，都读到文件结束：{menus} 个菜单能解析，{files} 个文件与磁盘一致"),
    );
    let dots = cell(&rq, "selector", "\"/dots.txt\"", "disk");
    let hello_first = cell(&rq, "selector", "\"/hello.txt\"", "disk");
    let bin = cell(&rq, "selector", "\"/data.bin\"", "disk");
    report.finding_zh(
        "Text ends with a line holding a lone \".\" (RFC 1436); binary files are sent unchanged until the close",
        if hello_first.starts_with("identical +") && dots.starts_with("identical +") && bin == "identical" {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!("hello.txt: {hello_first}; dots.txt: {dots}; data.bin: {bin}"),
        "文本以只含一个 \".\" 的行结尾（RFC 1436）；二进制文件原样发送，直到连接关闭",
        format!("hello.txt：{hello_first}；dots.txt：{dots}；data.bin：{bin}"),
    );
    let sent_bin = cell(&rq, "selector", "\"/data.bin\"", "sent");
    let sent_hello = cell(&rq, "selector", "\"/hello.txt\"", "sent");
    let sent_dots = cell(&rq, "selector", "\"/dots.txt\"", "sent");
    report.finding_zh(
        "Files go out with sendfile(2): the kernel moves them from the page cache to the socket without a copy in the server",
        if sent_bin == "sendfile" && sent_hello == "sendfile" { Verdict::Confirmed } else { Verdict::Depends },
        format!("data.bin: {sent_bin}; hello.txt: {sent_hello}; dots.txt: {sent_dots} (its lines starting with '.' need a second '.', so the server must see the bytes)"),
        "文件用 sendfile(2) 发出：内核把它从页缓存直接送进套接字，服务器里没有副本",
        format!("data.bin：{sent_bin}；hello.txt：{sent_hello}；dots.txt：{sent_dots}（以 '.' 开头的行要再加一个 '.'，服务器必须看到这些字节）"),
    );
    let refused = es
        .rows
        .iter()
        .filter(|r| r["answer"].as_str().is_some_and(|a| a.starts_with('3')))
        .count();
    let leaked = es.rows.iter().filter(|r| r["leaked"] == "YES").count();
    report.finding_zh(
        "No selector reaches a file outside the served directory, and each refusal is an error item, not a dropped connection",
        if refused == es.rows.len() && leaked == 0 { Verdict::Confirmed } else { Verdict::Refuted },
        format!("{refused} of {} escape attempts got a type-3 error item; {leaked} answers held the outside file's text", es.rows.len()),
        "没有哪个选择符能读到服务目录之外的文件；每次拒绝都是一个错误条目，而不是直接断开连接",
        format!("{} 次越界尝试中有 {refused} 次得到类型 3 的错误条目；{leaked} 个回答含有目录外文件的内容", es.rows.len()),
    );
    let errors = li
        .rows
        .iter()
        .filter(|r| r["answer"].as_str().is_some_and(|a| a.starts_with('3')))
        .count();
    let parallel = cell(
        &li,
        "situation",
        &format!("{PARALLEL} clients fetch data.bin at once"),
        "answer",
    );
    report.finding_zh(
        "A slow, greedy or extra client gets an error item and does not stop the others being served",
        if errors == 3 && parallel.starts_with(&format!("{PARALLEL} of")) { Verdict::Confirmed } else { Verdict::Refuted },
        format!("over-long selector, silent client and a client over the limit: {errors} of 3 got a type-3 item; {parallel}"),
        "慢的、贪心的或多出来的客户端得到一个错误条目，不会妨碍其他客户端",
        format!("超长选择符、不说话的客户端、超出上限的客户端：3 个中有 {errors} 个得到类型 3 的条目；{PARALLEL} 个并发客户端的结果：{parallel}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_shows_files_served_and_escapes_refused() {
        let r = crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            run(&super::super::defaults(), ctx)
        })
        .unwrap();
        let rq = r.table("requests").unwrap();
        for row in &rq.rows {
            assert_ne!(row["disk"], "differs", "{row:?}");
        }
        let bin = rq.rows.iter().find(|r| r["selector"] == "\"/data.bin\"").unwrap();
        assert_eq!(bin["disk"], "identical");
        assert_eq!(bin["sent"], "sendfile");
        let es = r.table("escapes").unwrap();
        for row in &es.rows {
            assert!(row["answer"].as_str().unwrap().starts_with('3'), "{row:?}");
            assert_eq!(row["leaked"], "no");
        }
        assert!(
            r.findings.iter().all(|f| f.verdict == Verdict::Confirmed),
            "{:#?}",
            r.findings
        );
    }
}
