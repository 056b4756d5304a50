//! `lab gopherd` against real peers: curl and lynx read its menus and files, which must match
//! the directory byte for byte (text: plus the RFC 1436 "." line, documented in labs/gopherd.md);
//! escapes get a type-3 error item; several clients are served at once. Every server process
//! is stopped by a Drop guard and every wait is bounded.

mod common;

use common::{is_root, lab, stdout_of, table};
use lab::gopher::server::{self, Config};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const SECRET: &[u8] = b"outside the served directory: must never be sent\n";
const TEXT: &[u8] = b"hello\nworld\n";
const DOTS: &[u8] = b"first\n.starts with a dot\n.\nlast";
const DOTS_ON_WIRE: &[u8] = b"first\n..starts with a dot\n..\nlast\r\n.\r\n";
const GOPHERMAP: &[u8] =
    b"# not sent\nWelcome\r\n0Hello\t/file.txt\n0A\ta.txt\n1Far away\t/x\texample.org\t70\n*\n.\nignored\n";
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

fn binary() -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..(1 << 20))
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

/// base/secret.txt (outside) and base/root (served).
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(base.join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("file.txt"), TEXT).unwrap();
    std::fs::write(root.join("dots.txt"), DOTS).unwrap();
    std::fs::write(root.join("file.bin"), binary()).unwrap();
    std::fs::write(root.join("pic.gif"), GIF).unwrap();
    std::fs::write(root.join("notes"), b"no extension, plain words\n").unwrap();
    std::fs::write(root.join(".hidden"), b"not listed\n").unwrap();
    std::fs::write(root.join("sub/inner.txt"), b"inner\n").unwrap();
    std::fs::create_dir(root.join("map")).unwrap();
    std::fs::write(root.join("map/a.txt"), b"a\n").unwrap();
    std::fs::write(root.join("map/gophermap"), GOPHERMAP).unwrap();
    std::os::unix::fs::symlink("file.txt", root.join("alias.txt")).unwrap();
    std::os::unix::fs::symlink("..", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    Fixture { _dir: dir, root }
}

/// The menu the root must produce: names sorted; hidden names and escaping symlinks left out.
fn expected_root_menu(port: u16) -> Vec<u8> {
    let items = [
        ('0', "alias.txt", "/alias.txt"),
        ('0', "dots.txt", "/dots.txt"),
        ('9', "file.bin", "/file.bin"),
        ('0', "file.txt", "/file.txt"),
        ('1', "map", "/map/"),
        ('0', "notes", "/notes"),
        ('g', "pic.gif", "/pic.gif"),
        ('1', "sub", "/sub/"),
    ];
    let mut m = String::new();
    for (t, name, sel) in items {
        m.push_str(&format!("{t}{name}\t{sel}\t127.0.0.1\t{port}\r\n"));
    }
    m.push_str(".\r\n");
    m.into_bytes()
}

/// A `lab gopherd` process; Drop sends SIGTERM, then SIGKILL if it has not exited in time.
struct Daemon {
    child: Child,
    port: u16,
    first_line: String,
}

impl Daemon {
    fn start(args: &[&str], cwd: Option<&Path>) -> Daemon {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("lab"));
        cmd.arg("gopherd")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().expect("start lab gopherd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let first_line = match rx.recv_timeout(WAIT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("lab gopherd printed no address within {WAIT:?}");
            }
        };
        let port = first_line
            .trim_end()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first_line:?}"));
        Daemon {
            child,
            port,
            first_line,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("gopher://127.0.0.1:{}{path}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// SIGTERM, then a bounded wait; returns the exit status and what was left on stderr.
    fn stop(&mut self, sig: Signal) -> (Option<std::process::ExitStatus>, String) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), sig);
        let deadline = Instant::now() + WAIT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
            }
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status, err)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop(Signal::SIGTERM);
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> Output {
    // `timeout` bounds peers that have no time limit of their own (lynx).
    Command::new("timeout")
        .arg("20")
        .arg(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e}"))
}

fn curl(url: &str) -> Vec<u8> {
    let out = run("curl", &["-s", "--path-as-is", "--max-time", "10", url]);
    assert!(out.status.success(), "curl {url}: {:?}", out.status);
    out.stdout
}

/// The book's client: selector + CRLF, read until the server closes.
fn fetch(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request).unwrap();
    let mut body = Vec::new();
    s.read_to_end(&mut body).unwrap();
    body
}

fn assert_error_item(body: &[u8], what: &str) {
    let text = String::from_utf8_lossy(body);
    assert!(body.starts_with(b"3"), "{what}: not a type-3 item: {text:?}");
    assert!(body.ends_with(b"\r\n.\r\n"), "{what}: no end line: {text:?}");
    assert_eq!(
        text.matches("\r\n").count(),
        2,
        "{what}: one item then '.': {text:?}"
    );
    assert!(
        !text.contains("outside the served directory: must"),
        "{what}: leaked: {text:?}"
    );
    assert!(!text.contains("root:"), "{what}: leaked /etc/passwd: {text:?}");
}

#[test]
fn curl_reads_menu_and_files_byte_for_byte() {
    let f = fixture();
    let d = Daemon::start(&[f.root.to_str().unwrap(), "--port", "0", "--quiet"], None);
    assert!(d.first_line.starts_with("Serving "), "{}", d.first_line);
    assert_eq!(curl(&d.url("/1/")), expected_root_menu(d.port));
    assert_eq!(
        curl(&d.url("/")),
        expected_root_menu(d.port),
        "empty selector is the root"
    );
    // Text: the file, then the RFC 1436 lone "." line.
    assert_eq!(curl(&d.url("/0/file.txt")), [TEXT, b".\r\n"].concat());
    assert_eq!(curl(&d.url("/0/alias.txt")), [TEXT, b".\r\n"].concat());
    // Lines starting with "." get a second one; a missing final line break is added.
    assert_eq!(curl(&d.url("/0/dots.txt")), DOTS_ON_WIRE);
    assert_eq!(server::unstuff(DOTS_ON_WIRE).unwrap(), [DOTS, b"\r\n"].concat());
    // Binary: the bytes, nothing added.
    assert_eq!(curl(&d.url("/9/file.bin")), binary());
    assert_eq!(curl(&d.url("/g/pic.gif")), GIF);
    let p = d.port;
    let map = format!(
        "iWelcome\t\t127.0.0.1\t{p}\r\n0Hello\t/file.txt\t127.0.0.1\t{p}\r\n0A\t/map/a.txt\t127.0.0.1\t{p}\r\n\
         1Far away\t/x\texample.org\t70\r\n0a.txt\t/map/a.txt\t127.0.0.1\t{p}\r\n.\r\n"
    );
    assert_eq!(
        String::from_utf8(curl(&d.url("/1/map"))).unwrap(),
        map,
        "gophermap"
    );
    let sub = curl(&d.url("/1/sub/"));
    assert_eq!(
        sub,
        format!("0inner.txt\t/sub/inner.txt\t127.0.0.1\t{}\r\n.\r\n", d.port).into_bytes()
    );
}

#[test]
fn lynx_lists_the_directory_and_reads_a_file() {
    let f = fixture();
    let d = Daemon::start(&[f.root.to_str().unwrap(), "--port", "0", "--quiet"], None);
    let menu = run("lynx", &["-dump", &d.url("/")]);
    assert!(menu.status.success(), "{:?}", menu);
    let menu = String::from_utf8_lossy(&menu.stdout);
    for name in [
        "alias.txt",
        "dots.txt",
        "file.bin",
        "file.txt",
        "notes",
        "pic.gif",
        "sub",
    ] {
        assert!(menu.contains(name), "{name} missing from lynx's menu:\n{menu}");
    }
    for hidden in ["leak.txt", "escape", ".hidden"] {
        assert!(!menu.contains(hidden), "{hidden} listed:\n{menu}");
    }
    assert!(
        menu.contains(&d.url("/1/sub/")),
        "lynx follows our selectors:\n{menu}"
    );
    let text = run("lynx", &["-dump", &d.url("/0/file.txt")]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("hello\nworld\n"), "{text:?}");
}

#[test]
fn escapes_get_an_error_item() {
    let f = fixture();
    let d = Daemon::start(&[f.root.to_str().unwrap(), "--port", "0", "--quiet"], None);
    let raw: [&[u8]; 9] = [
        b"../secret.txt\r\n",
        b"/../secret.txt\r\n",
        b"/sub/../../secret.txt\r\n",
        b"/etc/passwd\r\n",
        b"%2e%2e/secret.txt\r\n",
        b"..%2f..%2fetc%2fpasswd\r\n",
        b"/leak.txt\r\n",
        b"/escape/secret.txt\r\n",
        b"/etc/passwd\tsearch words\r\n",
    ];
    for req in raw {
        assert_error_item(&fetch(d.addr(), req), &String::from_utf8_lossy(req));
    }
    // curl decodes %2e%2e%2f into "../" before sending: refused all the same.
    for path in [
        "/0/../secret.txt",
        "/0/%2e%2e%2fsecret.txt",
        "/0/%2e%2e/%2e%2e/etc/passwd",
        "/0/etc/passwd",
        "/0/escape/secret.txt",
    ] {
        assert_error_item(&curl(&d.url(path)), path);
    }
    let long = [vec![b'a'; server::MAX_SELECTOR + 1], b"\r\n".to_vec()].concat();
    assert_error_item(&fetch(d.addr(), &long), "over-long selector");
    // The server is still there after all that.
    assert_eq!(curl(&d.url("/1/")), expected_root_menu(d.port));
}

#[test]
fn clients_are_served_at_once() {
    let f = fixture();
    let d = Daemon::start(&[f.root.to_str().unwrap(), "--port", "0", "--quiet"], None);
    // Three clients that say nothing hold their threads (5 s read timeout each); a server
    // serving one client at a time would make the fourth wait 15 s, past its 10 s limit.
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(d.addr()).unwrap()).collect();
    assert_eq!(fetch(d.addr(), b"/\r\n"), expected_root_menu(d.port));
    drop(idle);
    let want = binary();
    let urls: Vec<String> = (0..6).map(|_| d.url("/9/file.bin")).collect();
    std::thread::scope(|s| {
        let hs: Vec<_> = urls.iter().map(|u| s.spawn(move || curl(u))).collect();
        for h in hs {
            assert!(h.join().unwrap() == want, "a parallel download differs");
        }
    });
}

#[test]
fn library_server_limits_and_stops() {
    let f = fixture();
    let busy = server::spawn(
        &f.root,
        Config {
            max_clients: 1,
            ..Config::default()
        },
    )
    .unwrap();
    let held = TcpStream::connect(busy.addr()).unwrap();
    let body = fetch(busy.addr(), b"/\r\n");
    assert_error_item(&body, "over the client limit");
    assert!(String::from_utf8_lossy(&body).contains("busy"));
    drop(held);
    drop(busy);

    let slow = server::spawn(
        &f.root,
        Config {
            read_timeout: Duration::from_millis(200),
            ..Config::default()
        },
    )
    .unwrap();
    let mut silent = TcpStream::connect(slow.addr()).unwrap();
    silent.set_read_timeout(Some(WAIT)).unwrap();
    let mut body = Vec::new();
    silent.read_to_end(&mut body).unwrap();
    assert_error_item(&body, "silent client");
    let log = slow.served();
    assert_eq!(log.last().map(|s| s.outcome.as_str()), Some("timeout"));

    let copying = server::spawn(
        &f.root,
        Config {
            sendfile: false,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(fetch(copying.addr(), b"/file.bin\r\n"), binary());
    assert_eq!(copying.served().last().map(|s| s.method), Some("copy"));
    assert_eq!(fetch(copying.addr(), b"/file.txt\r\n"), [TEXT, b".\r\n"].concat());
    drop(copying);

    let local = server::spawn_local(&f.root).unwrap();
    assert!(local.addr().ip().is_loopback());
    assert_eq!(fetch(local.addr(), b"/file.bin\r\n"), binary());
    assert_eq!(local.served().last().map(|s| s.method), Some("sendfile"));
    let addr = local.addr();
    drop(local);
    assert!(
        TcpStream::connect_timeout(&addr, WAIT).is_err(),
        "port closed after drop"
    );
}

#[test]
fn sigint_stops_it_cleanly() {
    let f = fixture();
    let mut d = Daemon::start(&[f.root.to_str().unwrap(), "--port", "0"], None);
    let _idle = TcpStream::connect(d.addr()).unwrap();
    assert_eq!(fetch(d.addr(), b"/file.txt\r\n"), [TEXT, b".\r\n"].concat());
    let (status, err) = d.stop(Signal::SIGINT);
    assert!(status.is_some_and(|s| s.success()), "{status:?} {err}");
    assert!(err.contains("SIGINT received"), "{err}");
    assert!(err.contains("\"/file.txt\" type 0"), "request log: {err}");
}

#[test]
fn default_dir_is_docs_and_bind_is_announced() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("docs")).unwrap();
    std::fs::write(cwd.path().join("docs/index.md"), b"# docs\n").unwrap();
    let d = Daemon::start(&["--port", "0", "--quiet"], Some(cwd.path()));
    let docs = cwd.path().join("docs").canonicalize().unwrap();
    assert!(
        d.first_line
            .contains(&format!("Serving {} on gopher://127.0.0.1:", docs.display())),
        "{}",
        d.first_line
    );
    assert_eq!(curl(&d.url("/0/index.md")), b"# docs\n.\r\n");

    let mut other = Daemon::start(
        &["--port", "0", "--quiet", "--bind", "127.0.0.2"],
        Some(cwd.path()),
    );
    let (_, err) = other.stop(Signal::SIGTERM);
    assert!(err.contains("WARNING: --bind 127.0.0.2"), "{err}");
}

#[test]
fn usage_and_errors() {
    let help = lab().args(["gopherd", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&help.get_output().stdout).into_owned();
    assert!(help.contains("7070") && help.contains("lab gopherd"), "{help}");
    lab()
        .args(["gopherd", "/no/such/dir", "--port", "0"])
        .assert()
        .code(1)
        .stderr(predicates::str::starts_with(
            "lab: error: /no/such/dir: no such directory",
        ));
    lab().args(["gopherd", "--port", "70000"]).assert().code(2);
}

#[test]
fn report_runs_without_leaks() {
    // A private TMPDIR: the fixture must be gone from it afterwards.
    let tmp = tempfile::tempdir().unwrap();
    let out = stdout_of(
        lab()
            .args(["gopherd", "--report", "--format", "json", "--leak-check"])
            .env("TMPDIR", tmp.path())
            .timeout(Duration::from_secs(60)),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let escapes = table(&v, "escapes");
    for row in escapes["rows"].as_array().unwrap() {
        assert!(row["answer"].as_str().unwrap().starts_with('3'), "{row}");
        assert_eq!(row["leaked"], "no");
    }
    // The typed data says the same: every escape got an error item and nothing leaked.
    for e in v["data"]["escapes"].as_array().unwrap() {
        assert_eq!(e["body"]["Ok"]["error_item"], true, "{e}");
        assert_eq!(e["leaked"], false, "{e}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "temporary directory left behind: {left:?}");
}

#[test]
fn report_runs_unprivileged() {
    if !is_root() {
        return; // already unprivileged: report_runs_without_leaks covers it
    }
    let bin = assert_cmd::cargo::cargo_bin("lab");
    let out = run(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin.to_str().unwrap(),
            "gopherd",
            "--report",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in v["findings"].as_array().unwrap() {
        assert_eq!(f["verdict"], "confirmed", "{f}");
    }
}
