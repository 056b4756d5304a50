//! `lab argv` — why `python gopherclient.py quux.org/` died with `IndexError`.
//!
//! Question: is the book wrong, or was the program called the wrong way?
//!
//! Method: a table of argument shapes a learner might type. For each: what the book's
//! program does with it, derived from its code (`host = sys.argv[1]`, `filename =
//! sys.argv[2]`, an AF_INET socket to port 70, `sendall(filename + "\r\n")`), in Python 2 as
//! written and in Python 3; and what `lab gopher`'s parser understands. No network: shapes
//! are only parsed. When Python is installed, the book's program is also run here: for the
//! shapes that fail before any socket is made, and, inside the lab's private network
//! namespace, against a local Gopher responder on 127.0.0.1 port 70 (clearly marked).

use crate::gopher::url;
use crate::report::{Cell, Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use anyhow::{Context, Result};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

crate::legacy_experiment!(Argv, "argv", Args, run);

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Why `gopherclient.py quux.org/` raised IndexError: argument shapes, the book's program, lab gopher",
    after_help = "Examples:
  lab argv
  lab argv --no-python                 only what is derived from the program's code
  lab argv --format json | jq '.tables[0].rows[] | [.argv, .python2]'"
)]
pub struct Args {
    /// Do not run the book's program with a Python found on this machine.
    #[arg(long)]
    pub no_python: bool,
}

/// The book's program, as printed in the first edition (Python 2).
pub const BOOK_PROGRAM: &str = r#"#!/usr/bin/env python
# Simple Gopher Client - Chapter 1 - gopherclient.py
import socket, sys
port = 70
host = sys.argv[1]
filename = sys.argv[2]

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((host, port))
s.sendall(filename + "\r\n")

while 1:
    buf = s.recv(2048)
    if not len(buf):
        break
    sys.stdout.write(buf)
"#;

/// The lab's own Python 3 port: bytes on the wire, bytes to stdout, nothing else changed.
pub const PY3_PORT: &str = r#"import socket, sys
port = 70
host = sys.argv[1]
filename = sys.argv[2]

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((host, port))
s.sendall((filename + "\r\n").encode())

while 1:
    buf = s.recv(2048)
    if not len(buf):
        break
    sys.stdout.buffer.write(buf)
"#;

/// The shapes: a name and the arguments after the program's name.
pub const SHAPES: &[(&str, &[&str])] = &[
    ("none", &[]),
    ("host only", &["quux.org"]),
    ("host and selector (the book's way)", &["quux.org", "/"]),
    ("the learner's quux.org/", &["quux.org/"]),
    ("gopher URL, menu", &["gopher://quux.org/1/"]),
    (
        "gopher URL with port, text",
        &["gopher://quux.org:70/0/about.txt"],
    ),
    ("host:port", &["quux.org:70"]),
    ("host:port and selector", &["quux.org:70", "/"]),
    ("empty selector", &["quux.org", ""]),
    ("selector with spaces", &["quux.org", "/my notes.txt"]),
    ("selector with a tab", &["quux.org", "/search\tsockets"]),
    ("%09 search in a URL", &["gopher://quux.org/7/search%09sockets"]),
    ("%09 typed as a selector", &["quux.org", "/search%09sockets"]),
    ("%20 in a URL", &["gopher://quux.org/0/my%20notes.txt"]),
    ("%20 typed as a selector", &["quux.org", "/my%20notes.txt"]),
    ("IPv6 literal", &["::1", "/"]),
    ("IPv6 URL", &["gopher://[::1]:70/1/"]),
    ("bad port", &["quux.org:99999"]),
    ("extra arguments", &["quux.org", "/", "extra"]),
    ("another scheme", &["http://quux.org/"]),
];

pub fn run(args: &Args, ctx: &Ctx) -> Result<Report> {
    let mut report = super::report_for("argv");
    let pythons = if args.no_python {
        Vec::new()
    } else {
        find_pythons()
    };
    let script = if pythons.is_empty() {
        None
    } else {
        Some(TempScripts::new().context("write the book's program to a temporary file")?)
    };
    let mut shapes = shape_table(&pythons, script.as_ref());
    if pythons.is_empty() {
        shapes.note_zh(
            "no Python was run (none found, or --no-python): the python columns are derived from the code",
            "没有运行任何 Python（未找到，或用了 --no-python）：Python 各列是从代码推出来的",
        );
    }
    report.tables.push(shapes);
    if let Some(s) = &script {
        if ctx.sandbox == "host" {
            report.note_zh(
                "the local run on port 70 needs the lab's private network namespace; skipped on the host",
                "在 70 端口的本地运行需要实验自己的私有网络命名空间；在宿主机上跳过",
            );
        } else {
            ctx.progress("running the book's program against a local Gopher responder on 127.0.0.1:70");
            report.tables.push(loopback_table(&pythons, s)?);
        }
    }
    findings(&mut report);
    Ok(report)
}

// ---- what the book's program does, from its code ----

fn is_ipv6(h: &str) -> bool {
    h.trim_matches(['[', ']']).parse::<Ipv6Addr>().is_ok()
}

/// Derived from the program's logic; the network is never touched.
pub fn book_outcome(argv: &[&str], python3: bool) -> String {
    let index = "IndexError: list index out of range";
    match argv {
        [] => format!("{index} at host = sys.argv[1]"),
        [_] => format!("{index} at filename = sys.argv[2]"),
        [host, selector, rest @ ..] => {
            let ignored = if rest.is_empty() {
                String::new()
            } else {
                format!("; ignores {} extra argument(s)", rest.len())
            };
            if is_ipv6(host) {
                return format!(
                    "socket.gaierror: address family for hostname not supported (an AF_INET socket cannot reach {host}){ignored}"
                );
            }
            let plain = host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !plain {
                return format!(
                    "socket.gaierror: no host is named {host:?} (the whole argument is looked up as a name; the port is always 70){ignored}"
                );
            }
            if python3 {
                format!(
                    "connects to {host}:70, then TypeError at sendall: a bytes-like object is required, not 'str'{ignored}"
                )
            } else {
                format!(
                    "connects to {host}:70, sends \"{}\", prints the reply as received{ignored}",
                    format!("{selector}\r\n").escape_default()
                )
            }
        }
    }
}

/// What `lab gopher` reads from the same arguments.
fn lab_cells(argv: &[&str]) -> (Cell, Cell, Cell, Cell, Cell, String) {
    if argv.is_empty() {
        let none = || Cell::Null;
        return (
            none(),
            none(),
            none(),
            none(),
            none(),
            "no target: lab gopher runs its loopback experiment instead".into(),
        );
    }
    let args: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    match url::parse_args(&args) {
        Ok(t) => (
            t.host.clone().into(),
            t.port.into(),
            t.item_type
                .map_or(Cell::from("guessed from the reply"), |c| c.to_string().into()),
            format!("\"{}\"", t.selector.escape_ascii()).into(),
            t.search
                .as_ref()
                .map_or(Cell::Null, |s| format!("\"{}\"", s.escape_ascii()).into()),
            if t.notes.is_empty() {
                "ok".into()
            } else {
                format!("ok; {}", t.notes.join("; "))
            },
        ),
        Err(e) => (
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            Cell::Null,
            format!("error: {e}"),
        ),
    }
}

/// The command line as a user would type it in a POSIX shell.
pub fn typed(argv: &[&str]) -> String {
    let mut s = String::from("gopherclient.py");
    for a in argv {
        s.push(' ');
        if a.contains('\t') {
            s.push_str(&format!("$'{}'", a.replace('\t', "\\t")));
        } else if a.is_empty() || a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(a);
        }
    }
    s
}

fn shape_table(pythons: &[Python], script: Option<&TempScripts>) -> Table {
    let mut cols = vec![
        ("shape", "shape"),
        ("argv", "command line"),
        ("python2", "book, Python 2 (from its code)"),
        ("python3", "book, Python 3 (from its code)"),
    ];
    let mut zh = vec![
        "形式",
        "命令行",
        "书中程序，Python 2（由代码推出）",
        "书中程序，Python 3（由代码推出）",
    ];
    if !pythons.is_empty() {
        cols.push((
            "ran",
            "ran here (no network: only shapes that fail before a socket)",
        ));
        zh.push("在本机实际运行（不联网：只运行在创建套接字前就失败的形式）");
    }
    cols.extend([
        ("host", "lab: host"),
        ("port", "lab: port"),
        ("type", "lab: type"),
        ("selector", "lab: selector"),
        ("search", "lab: search"),
        ("lab", "lab gopher says"),
    ]);
    zh.extend([
        "lab：主机",
        "lab：端口",
        "lab：类型",
        "lab：选择符",
        "lab：搜索词",
        "lab gopher 的回应",
    ]);
    let mut t = Table::new(
        "shapes",
        "Argument shapes: the book's program vs. lab gopher (parsing only, no network)",
        &cols,
    )
    .zh("参数形式：书中的程序与 lab gopher（只解析，不联网）", &zh);
    for (name, argv) in SHAPES {
        let (host, port, ty, sel, search, said) = lab_cells(argv);
        let mut r = row! {
            "shape" => name, "argv" => typed(argv),
            "python2" => book_outcome(argv, false), "python3" => book_outcome(argv, true),
            "host" => host, "port" => port, "type" => ty, "selector" => sel, "search" => search, "lab" => said,
        };
        if let Some(s) = script {
            let ran: Vec<String> = if argv.len() < 2 {
                pythons
                    .iter()
                    .map(|p| format!("{}: {}", p.label, p.run(&s.book, argv)))
                    .collect()
            } else {
                Vec::new()
            };
            r.insert(
                "ran".into(),
                if ran.is_empty() {
                    Cell::Null
                } else {
                    ran.join("; ").into()
                },
            );
        }
        t.push(r);
    }
    t.note_zh(
        "the program reads sys.argv[1] (host) and sys.argv[2] (selector) with no check, and always uses port 70",
        "书中的程序不加检查地读取 sys.argv[1]（主机）和 sys.argv[2]（选择子），端口总是 70",
    );
    t.note_zh(
        "lab gopher sends a two-argument selector exactly as typed; %XX is decoded only inside gopher:// URLs (RFC 4266)",
        "lab gopher 把两参数形式的选择子原样发送；%XX 只在 gopher:// URL 里才解码（RFC 4266）",
    );
    t
}

// ---- running Python, bounded ----

pub struct Python {
    pub label: String,
    pub path: String,
}

impl Python {
    /// Runs `script argv...` for at most 5 s; the last line of stderr, or what stdout held.
    fn run(&self, script: &Path, argv: &[&str]) -> String {
        match run_bounded(&self.path, script, argv) {
            Ok((code, out, err)) => {
                let last = err
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim();
                if code == Some(0) {
                    format!("exit 0, printed {} bytes", out.len())
                } else {
                    format!(
                        "{last} (exit {})",
                        code.map_or("by signal".into(), |c| c.to_string())
                    )
                }
            }
            Err(e) => format!("could not run: {e}"),
        }
    }
}

fn run_bounded(py: &str, script: &Path, argv: &[&str]) -> std::io::Result<(Option<i32>, Vec<u8>, String)> {
    let mut child = Command::new(py)
        .arg(script)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // An error from try_wait ends the wait too: the child is still killed and reaped.
        let exited = child.try_wait().map_or(true, |s| s.is_some());
        if exited || Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
            if !exited && out.status.code().is_none() {
                // Said as the last line, so the table shows why it ended.
                err.push_str("\nkilled by lab after 5 s");
            }
            return Ok((out.status.code(), out.stdout, err));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Interpreters that start: Python 2 for the book as written, and Python 3. System paths come
/// first (a version manager's shim costs a second per start); a pyenv-installed 2.x is used too.
pub fn find_pythons() -> Vec<Python> {
    let mut py2: Vec<String> = ["/usr/bin/python2", "/usr/bin/python2.7"]
        .map(String::from)
        .to_vec();
    let pyenv = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Ok(root) = pyenv {
        if let Ok(dir) = std::fs::read_dir(root.join("versions")) {
            let mut v: Vec<PathBuf> = dir
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("2."))
                .map(|e| e.path().join("bin/python2"))
                .collect();
            v.sort();
            py2.extend(v.into_iter().rev().map(|p| p.to_string_lossy().into_owned()));
        }
    }
    py2.extend(["python2".into(), "python2.7".into()]);
    let py3: Vec<String> = ["/usr/bin/python3", "python3"].map(String::from).to_vec();
    let mut found = Vec::new();
    for (label, candidates) in [("python2", py2), ("python3", py3)] {
        for c in candidates {
            let ok = starts(&c);
            if ok {
                found.push(Python {
                    label: format!("{label} ({c})"),
                    path: c,
                });
                break;
            }
        }
    }
    found
}

/// True when `python -c "import socket"` exits 0 within 5 s (a hung shim is killed and reaped).
fn starts(python: &str) -> bool {
    let Ok(mut child) = Command::new(python)
        .args(["-c", "import socket, sys; sys.exit(0)"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The book's program and the py3 port in a private temporary directory, removed on drop.
pub struct TempScripts {
    dir: PathBuf,
    pub book: PathBuf,
    pub port: PathBuf,
}

impl TempScripts {
    pub fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("lab-argv-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        let s = TempScripts {
            book: dir.join("gopherclient.py"),
            port: dir.join("gopherclient3.py"),
            dir,
        };
        std::fs::write(&s.book, BOOK_PROGRAM)?;
        std::fs::write(&s.port, PY3_PORT)?;
        Ok(s)
    }
}

impl Drop for TempScripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- the local run: the book's program against a responder on 127.0.0.1:70 ----

fn loopback_table(pythons: &[Python], s: &TempScripts) -> Result<Table> {
    let mut t = Table::new(
        "loopback",
        "Run here: the book's program against a local Gopher responder on 127.0.0.1 port 70 \
         (inside the lab's private network namespace; quux.org replaced by 127.0.0.1)",
        &[
            ("program", "program"),
            ("argv", "command line"),
            ("result", "result"),
            ("server_read", "the server read"),
        ],
    )
    .zh(
        "在本机运行：书中的程序连接 127.0.0.1 端口 70 上的本地 Gopher 应答程序（在 lab 的私有网络命名空间中；quux.org 换成 127.0.0.1）",
        &["程序", "命令行", "结果", "服务器读到的内容"],
    );
    let cases: Vec<(String, &Python, &Path, Vec<&str>)> = pythons
        .iter()
        .flat_map(|p| {
            let mut v = vec![
                (
                    format!("the book as written, {}", p.label),
                    p,
                    s.book.as_path(),
                    vec!["127.0.0.1/"],
                ),
                (
                    format!("the book as written, {}", p.label),
                    p,
                    s.book.as_path(),
                    vec!["127.0.0.1", "/about.txt"],
                ),
            ];
            if p.label.starts_with("python3") {
                v.push((
                    format!("the lab's Python 3 port, {}", p.label),
                    p,
                    s.port.as_path(),
                    vec!["127.0.0.1", "/about.txt"],
                ));
            }
            v
        })
        .collect();
    for (program, py, script, argv) in cases {
        let (result, read) = run_against_responder(py, script, &argv)?;
        t.push(
            row! { "program" => program, "argv" => typed(&argv), "result" => result, "server_read" => read },
        );
    }
    t.note_zh(
        "the lab's Python 3 port changes two things only: sendall((filename + \"\\r\\n\").encode()) and sys.stdout.buffer.write(buf)",
        "本实验的 Python 3 移植版只改了两处：sendall((filename + \"\\r\\n\").encode()) 和 sys.stdout.buffer.write(buf)",
    );
    Ok(t)
}

fn run_against_responder(py: &Python, script: &Path, argv: &[&str]) -> Result<(String, Cell)> {
    let l =
        std::net::TcpListener::bind(("127.0.0.1", 70)).context("bind 127.0.0.1:70 in the lab's namespace")?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = crate::gopher::responder::responder_once(l, stop.clone());
    let result = py.run(script, argv);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let read = server
        .join()
        .map_err(|_| anyhow::anyhow!("the responder thread panicked"))?;
    let read = match read {
        Ok(Some(b)) => format!("\"{}\"", b.escape_ascii()).into(),
        Ok(None) => "no connection".into(),
        Err(e) => crate::sys::errno_name(&e).into(),
    };
    Ok((result, read))
}

// ---- findings ----

/// The result of the two-argument `/about.txt` run of `program` in the loopback table, if it ran.
fn loopback_result(report: &Report, program: &str) -> Option<String> {
    report.table("loopback").and_then(|t| {
        t.rows
            .iter()
            .find(|r| {
                r["program"].as_str().is_some_and(|p| p.contains(program))
                    && r["argv"].as_str().is_some_and(|a| a.contains("about"))
            })
            .map(|r| crate::render::cell_text(r.get("result")))
    })
}

fn findings(report: &mut Report) {
    let shapes = report.table("shapes").cloned();
    let Some(shapes) = shapes else { return };
    let cell = |name: &str, key: &str| {
        shapes
            .rows
            .iter()
            .find(|r| r["shape"] == name)
            .map(|r| crate::render::cell_text(r.get(key)))
            .unwrap_or_default()
    };
    finding_book_wrong(report, &cell);
    finding_two_arguments(report, &cell);
    finding_python3(report, &cell);
    finding_lab_understands(report, &cell);
}

/// A cell of the shapes table, by shape name and column key.
type ShapeCell<'a> = dyn Fn(&str, &str) -> String + 'a;

fn finding_book_wrong(report: &mut Report, cell: &ShapeCell) {
    let learner = cell("the learner's quux.org/", "python2");
    let ran = cell("the learner's quux.org/", "ran");
    let ran_txt = if ran == "-" || ran.is_empty() {
        String::new()
    } else {
        format!("; run here: {ran}")
    };
    // A run, when there was one, must agree with what the code says.
    let ran_agrees = ran_txt.is_empty() || ran.split("; ").all(|p| p.contains("IndexError"));
    report.finding_zh(
        "The book is wrong: its program cannot fetch quux.org",
        if learner.starts_with("IndexError") && ran_agrees { Verdict::Refuted } else { Verdict::Depends },
        format!(
            "the program reads two arguments, host = sys.argv[1] and filename = sys.argv[2]; `quux.org/` is one \
             argument, so sys.argv is ['gopherclient.py', 'quux.org/'] and sys.argv[2] does not exist; \
             derived from its code: {learner}{ran_txt}"
        ),
        "书错了：书中的程序取不到 quux.org",
        format!(
            "程序读取两个参数：host = sys.argv[1]，filename = sys.argv[2]；`quux.org/` 只是一个参数，所以 sys.argv 是 \
             ['gopherclient.py', 'quux.org/']，sys.argv[2] 不存在；由代码推出：{learner}{ran_txt}"
        ),
    );
}

fn finding_two_arguments(report: &mut Report, cell: &ShapeCell) {
    let two = cell("host and selector (the book's way)", "python2");
    let empty = cell("empty selector", "python2");
    // Runs against the local responder, when Python was there: they must agree with the code.
    let py2_live = loopback_result(report, "as written, python2");
    let two_agrees = py2_live.as_ref().is_none_or(|r| r.starts_with("exit 0"));
    let (ran2, ran2_zh) = match &py2_live {
        Some(r) => (
            format!("; run here with python2 against 127.0.0.1:70 (selector /about.txt): {r}"),
            format!("；在本机用 python2 连接 127.0.0.1:70 运行（选择符 /about.txt）：{r}"),
        ),
        None => (String::new(), String::new()),
    };
    report.finding_zh(
        "Called with host and selector as two arguments, the program works: python gopherclient.py quux.org /",
        if two.starts_with("connects") && empty.starts_with("connects") && two_agrees {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!("derived from its code: `quux.org /`: {two}; `quux.org ''` (the root menu): {empty}{ran2}"),
        "把主机和选择符作为两个参数传入，程序就能工作：python gopherclient.py quux.org /",
        format!("由代码推出：`quux.org /`：{two}；`quux.org ''`（根菜单）：{empty}{ran2_zh}"),
    );
}

fn finding_python3(report: &mut Report, cell: &ShapeCell) {
    let py3 = cell("host and selector (the book's way)", "python3");
    let live = loopback_result(report, "as written, python3");
    // A run, when there was one, must show the same TypeError the code predicts.
    let live_agrees = live.as_ref().is_none_or(|r| r.contains("TypeError"));
    let live = live.map_or(String::new(), |r| format!("; run here against 127.0.0.1:70: {r}"));
    report.finding_zh(
        "Under Python 3 the two-argument call still fails, later: sendall needs bytes",
        if py3.contains("TypeError") && live_agrees {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!("derived from its code: {py3}{live}"),
        "在 Python 3 下，即使传两个参数也会失败，只是更晚：sendall 需要 bytes",
        format!("由代码推出：{py3}{live}"),
    );
}

fn finding_lab_understands(report: &mut Report, cell: &ShapeCell) {
    let lab_learner = cell("the learner's quux.org/", "lab");
    let lab_sel = cell("the learner's quux.org/", "selector");
    let (host, port, ty) = (
        cell("the learner's quux.org/", "host"),
        cell("the learner's quux.org/", "port"),
        cell("the learner's quux.org/", "type"),
    );
    let understood = lab_learner.starts_with("ok") && host == "quux.org" && port == "70" && ty == "1";
    report.finding_zh(
        "lab gopher understands the learner's `quux.org/`",
        if understood { Verdict::Confirmed } else { Verdict::Refuted },
        format!("its parser reads it as host {host}, port {port}, type {ty}, selector {lab_sel}; it says: {lab_learner}"),
        "lab gopher 能理解作者输入的 `quux.org/`",
        format!("它的解析器读作：主机 {host}，端口 {port}，类型 {ty}，选择符 {lab_sel}；它的说明：{lab_learner}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_outcomes_follow_the_code() {
        assert!(book_outcome(&["quux.org/"], false).starts_with("IndexError"));
        assert!(book_outcome(&[], true).contains("sys.argv[1]"));
        assert!(book_outcome(&["quux.org", "/"], false).contains("sends \"/\\r\\n\""));
        assert!(book_outcome(&["quux.org", "/"], true).contains("TypeError"));
        assert!(book_outcome(&["::1", "/"], false).contains("gaierror"));
        assert!(book_outcome(&["quux.org:70", "/"], false).contains("gaierror"));
        assert!(book_outcome(&["quux.org", "/", "x"], false).contains("ignores 1"));
    }

    #[test]
    fn every_shape_gets_a_row_and_the_findings_hold() {
        let r = crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            run(&Args { no_python: true }, ctx)
        })
        .unwrap();
        let t = r.table("shapes").unwrap();
        assert_eq!(t.rows.len(), SHAPES.len());
        let learner = t
            .rows
            .iter()
            .find(|r| r["shape"] == "the learner's quux.org/")
            .unwrap();
        assert_eq!(learner["host"], "quux.org");
        assert_eq!(learner["selector"], "\"\"");
        let bad = t.rows.iter().find(|r| r["shape"] == "bad port").unwrap();
        assert!(bad["lab"].as_str().unwrap().starts_with("error: port 99999"));
        assert!(
            r.findings.iter().all(|f| f.verdict != Verdict::Depends),
            "{:?}",
            r.findings
        );
    }
}
