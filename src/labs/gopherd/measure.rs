//! The measurements: a small directory in a temporary place, served by the lab's Gopher
//! server on loopback, fetched the book's way by a plain socket2 client written here.

use super::gopher_server::{self as gs, Setup, MAX_SELECTOR};
use crate::gopher::server::LocalServer;
use crate::labs::wire::{self, Recorder, Taken, Wire};
use crate::report::{Call, Measured};
use crate::sandbox::Ctx;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SECRET: &[u8] = b"this file lies outside the served directory\n";
const HELLO: &[u8] = b"Hello from lab gopherd.\nThis file is served as Gopher type 0 (text).\n";
const DOTS: &[u8] = b"A line.\n.A line that starts with a dot.\n.\nThe lone dot above is part of the file.\n";
const GOPHERMAP: &[u8] = b"# A hand-written menu (this comment is not sent)\nA hand-written menu: see labs/gopherd.md\n0Back to hello\t/hello.txt\n*\n";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE: u64 = 16 << 20;
/// Clients fetching the binary file at once.
pub const PARALLEL: usize = 8;
/// The limit of the server the "busy" client meets.
pub const BUSY_LIMIT: usize = 2;
const SILENT_TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    pub requests: Vec<Request>,
    pub escapes: Vec<Escape>,
    pub limits: Limits,
    /// The packets of each server's clients ("files", "copy", "limits", "busy"), or why
    /// they were not captured.
    pub wire: Measured<Vec<Wire>>,
}

/// What a request of the first table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Root,
    RootSlash,
    Gophermap,
    Hello,
    Dots,
    Binary,
    Alias,
    Inner,
    /// The binary file again, from a server run with --no-sendfile.
    BinaryCopy,
}

impl Target {
    pub const ALL: [Target; 9] = [
        Target::Root,
        Target::RootSlash,
        Target::Gophermap,
        Target::Hello,
        Target::Dots,
        Target::Binary,
        Target::Alias,
        Target::Inner,
        Target::BinaryCopy,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Target::Root => "root",
            Target::RootSlash => "root_slash",
            Target::Gophermap => "gophermap",
            Target::Hello => "hello",
            Target::Dots => "dots",
            Target::Binary => "binary",
            Target::Alias => "alias",
            Target::Inner => "inner",
            Target::BinaryCopy => "binary_copy",
        }
    }

    pub fn selector(self) -> &'static str {
        match self {
            Target::Root => "",
            Target::RootSlash => "/",
            Target::Gophermap => "/sub/",
            Target::Hello => "/hello.txt",
            Target::Dots => "/dots.txt",
            Target::Binary | Target::BinaryCopy => "/data.bin",
            Target::Alias => "/alias.txt",
            Target::Inner => "/sub/inner.txt",
        }
    }

    /// The file on disk it should match (None: a menu).
    pub fn file(self) -> Option<&'static str> {
        match self {
            Target::Root | Target::RootSlash | Target::Gophermap => None,
            Target::Hello | Target::Alias => Some("hello.txt"),
            Target::Dots => Some("dots.txt"),
            Target::Binary | Target::BinaryCopy => Some("data.bin"),
            Target::Inner => Some("sub/inner.txt"),
        }
    }
}

/// How an answer compares with the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// A menu: there is no file to compare with.
    NoFile,
    Identical,
    /// The file, then the lone "." line that ends text.
    PlusDotLine,
    /// The same, once the doubled dots at line starts are undone.
    PlusDotLineUnstuffed,
    Differs,
}

impl Compare {
    /// The answer is the file, as RFC 1436 sends it.
    pub fn matches(self) -> bool {
        matches!(
            self,
            Compare::Identical | Compare::PlusDotLine | Compare::PlusDotLineUnstuffed
        )
    }
    pub fn has_dot_line(self) -> bool {
        matches!(self, Compare::PlusDotLine | Compare::PlusDotLineUnstuffed)
    }
}

/// How the server wrote its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendMethod {
    Sendfile,
    Copy,
    /// Built in memory (menus, error items) and written.
    Write,
}

/// The server's word for how a request ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    TooLong,
    NulByte,
    DotDot,
    NotFound,
    OutsideRoot,
    NotAFile,
    Unreadable,
    Timeout,
    Busy,
    Closed,
    /// An errno name, or a word this lab does not know.
    Other(String),
}

impl Outcome {
    /// From the outcome of the server's record.
    pub fn from_record(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "too long" => Outcome::TooLong,
            "NUL byte" => Outcome::NulByte,
            "'..'" => Outcome::DotDot,
            "not found" => Outcome::NotFound,
            "outside root" => Outcome::OutsideRoot,
            "not a file" => Outcome::NotAFile,
            "unreadable" => Outcome::Unreadable,
            "timeout" => Outcome::Timeout,
            "busy" => Outcome::Busy,
            "closed" => Outcome::Closed,
            other => Outcome::Other(other.to_string()),
        }
    }
}

/// The server's record of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Log {
    /// The item type served ('1' menu, '0' text, '9' binary), '3' for an error item.
    pub kind: char,
    pub method: SendMethod,
    pub outcome: Outcome,
}

/// What the client read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    pub bytes: usize,
    /// The first line of the answer (protocol text), cut to a readable width.
    pub first_line: String,
    /// The answer's first byte is '3': an error item.
    pub error_item: bool,
    /// Menu items, when the answer parses as a menu.
    pub items: Option<usize>,
    pub disk: Compare,
}

/// One selector of the first table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub target: Target,
    /// What the client read, or the errno that ended the fetch.
    pub body: Result<Body, Call>,
    /// None: the server kept no record of it.
    pub log: Option<Log>,
}

/// A way out of the served directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    Parent,
    ParentAfterSlash,
    DownThenUp,
    Absolute,
    PercentEncoded,
    SymlinkFile,
    SymlinkDir,
    NulByte,
}

impl Attempt {
    pub const ALL: [Attempt; 8] = [
        Attempt::Parent,
        Attempt::ParentAfterSlash,
        Attempt::DownThenUp,
        Attempt::Absolute,
        Attempt::PercentEncoded,
        Attempt::SymlinkFile,
        Attempt::SymlinkDir,
        Attempt::NulByte,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Attempt::Parent => "parent",
            Attempt::ParentAfterSlash => "parent_after_slash",
            Attempt::DownThenUp => "down_then_up",
            Attempt::Absolute => "absolute",
            Attempt::PercentEncoded => "percent_encoded",
            Attempt::SymlinkFile => "symlink_file",
            Attempt::SymlinkDir => "symlink_dir",
            Attempt::NulByte => "nul_byte",
        }
    }

    pub fn selector(self) -> &'static [u8] {
        match self {
            Attempt::Parent => b"../secret.txt",
            Attempt::ParentAfterSlash => b"/../secret.txt",
            Attempt::DownThenUp => b"/sub/../../secret.txt",
            Attempt::Absolute => b"/etc/passwd",
            Attempt::PercentEncoded => b"%2e%2e/secret.txt",
            Attempt::SymlinkFile => b"/leak.txt",
            Attempt::SymlinkDir => b"/escape/secret.txt",
            Attempt::NulByte => b"/hello.txt\0/../../secret.txt",
        }
    }
}

/// One escape attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escape {
    pub attempt: Attempt,
    pub body: Result<Body, Call>,
    /// The outside file's text was in the answer.
    pub leaked: bool,
    pub log: Option<Log>,
}

/// A client the server should turn away with an error item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub body: Result<Body, Call>,
    pub log: Option<Log>,
}

/// PARALLEL clients fetching the binary file at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parallel {
    pub clients: usize,
    /// Clients that got the file byte for byte.
    pub same: usize,
    /// The server's records of those requests that say "ok".
    pub served_ok: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_selector: usize,
    /// Bytes of the over-long selector sent.
    pub long_bytes: usize,
    pub long: Refused,
    pub read_timeout_ms: u64,
    pub silent: Refused,
    pub parallel: Parallel,
    pub busy_limit: usize,
    pub default_max_clients: usize,
    pub busy: Refused,
}

impl Body {
    /// Whether the answer holds an error item (false when the fetch failed).
    pub fn error_item(b: &Result<Body, Call>) -> bool {
        b.as_ref().is_ok_and(|b| b.error_item)
    }
}

pub fn measure(ctx: &Ctx) -> Result<Data> {
    // In a namespace of its own: each server's capture holds its own clients alone.
    ctx.isolated(|| measure_here(ctx)).0
}

/// Each server captured from before its socket to after it stopped: "files" (the requests
/// and escapes), "copy" (no sendfile), "limits" and "busy".
fn measure_here(ctx: &Ctx) -> Result<Data> {
    let (tree, root) = fixture()?;
    let mut taken = Vec::new();
    ctx.progress("gopherd: serving a temporary directory");
    let rec = Recorder::start(ctx);
    let srv = gs::spawn(&root, Setup::Default)?;
    let mut requests: Vec<Request> = Target::ALL[..Target::ALL.len() - 1]
        .iter()
        .map(|&t| request(&srv, &root, t))
        .collect();
    let escapes = Attempt::ALL.iter().map(|&a| escape(&srv, a)).collect();
    let port = srv.addr().port();
    drop(srv);
    taken.extend(rec.finish("files", port));
    let rec = Recorder::start(ctx);
    let copy = gs::spawn(&root, Setup::NoSendfile)?;
    requests.push(request(&copy, &root, Target::BinaryCopy));
    let port = copy.addr().port();
    drop(copy);
    taken.extend(rec.finish("copy", port));
    let limits = limits(ctx, &root, &mut taken)?;
    drop(tree);
    Ok(Data {
        requests,
        escapes,
        limits,
        wire: wire::wires(ctx, taken)?,
    })
}

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
pub fn first_line(body: &[u8]) -> String {
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
pub fn menu_items(body: &[u8]) -> Option<usize> {
    let text = body.strip_suffix(b".\r\n")?;
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .all(|l| l.ends_with(b"\r") && l.iter().filter(|&&b| b == b'\t').count() >= 3)
        .then_some(lines.len())
}

/// How the server's answer compares with the file on disk.
pub fn compare(body: &[u8], disk: Option<&[u8]>, text: bool) -> Compare {
    match disk {
        None => Compare::NoFile,
        Some(d) if body == d => Compare::Identical,
        Some(d) if text && body == [d, b".\r\n"].concat() => Compare::PlusDotLine,
        Some(d) if text && gs::unstuff(body).as_deref() == Some(d) => Compare::PlusDotLineUnstuffed,
        Some(_) => Compare::Differs,
    }
}

fn body_of(b: &[u8], disk: Option<&[u8]>, text: bool, menu: bool) -> Body {
    Body {
        bytes: b.len(),
        first_line: first_line(b),
        error_item: b.first() == Some(&b'3'),
        items: if menu { menu_items(b) } else { None },
        disk: compare(b, disk, text),
    }
}

fn request(srv: &LocalServer, root: &Path, target: Target) -> Request {
    let request = [target.selector().as_bytes(), b"\r\n"].concat();
    let before = srv.served().len();
    let body = fetch(srv.addr(), &request);
    let log = gs::last(srv, before);
    let disk = target.file().and_then(|f| std::fs::read(root.join(f)).ok());
    let text = log.as_ref().is_some_and(|l| l.kind == '0');
    let menu = target.file().is_none();
    Request {
        target,
        body: body
            .map(|b| body_of(&b, disk.as_deref(), text, menu))
            .map_err(|e| Call::of::<()>(&Err(e))),
        log,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn escape(srv: &LocalServer, attempt: Attempt) -> Escape {
    let before = srv.served().len();
    let body = fetch(srv.addr(), &[attempt.selector(), b"\r\n"].concat());
    let log = gs::last(srv, before);
    let leaked = body.as_ref().is_ok_and(|b| contains(b, SECRET.trim_ascii_end()));
    Escape {
        attempt,
        body: refused_body(body),
        leaked,
        log,
    }
}

fn refused_body(body: io::Result<Vec<u8>>) -> Result<Body, Call> {
    body.map(|b| body_of(&b, None, false, false))
        .map_err(|e| Call::of::<()>(&Err(e)))
}

fn limits(ctx: &Ctx, root: &Path, taken: &mut Vec<Taken>) -> Result<Limits> {
    let rec = Recorder::start(ctx);
    let srv = gs::spawn(root, Setup::ReadTimeout(SILENT_TIMEOUT))?;
    let long = vec![b'a'; MAX_SELECTOR + 100];
    let body = fetch(srv.addr(), &[&long[..], b"\r\n"].concat());
    let long_refused = Refused {
        body: refused_body(body),
        log: gs::last(&srv, 0),
    };
    let before = srv.served().len();
    let silent = connect_idle(srv.addr()).and_then(|mut s| {
        let mut b = Vec::new();
        s.read_to_end(&mut b).map(|_| b)
    });
    let silent = Refused {
        body: refused_body(silent),
        log: gs::last(&srv, before),
    };
    let parallel = parallel(&srv, root)?;
    let port = srv.addr().port();
    drop(srv);
    taken.extend(rec.finish("limits", port));
    let rec = Recorder::start(ctx);
    let (busy, port) = busy(root)?;
    taken.extend(rec.finish("busy", port));
    Ok(Limits {
        max_selector: MAX_SELECTOR,
        long_bytes: long.len(),
        long: long_refused,
        read_timeout_ms: SILENT_TIMEOUT.as_millis() as u64,
        silent,
        parallel,
        busy_limit: BUSY_LIMIT,
        default_max_clients: gs::default_max_clients(),
        busy,
    })
}

fn parallel(srv: &LocalServer, root: &Path) -> Result<Parallel> {
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
    let served_ok = gs::all(srv)
        .iter()
        .filter(|(sel, l)| sel == "/data.bin" && l.outcome == Outcome::Ok)
        .count();
    Ok(Parallel {
        clients: PARALLEL,
        same,
        served_ok,
    })
}

/// A server allowing BUSY_LIMIT clients, held by that many silent ones: one more gets "busy".
/// Also returns the server's port.
fn busy(root: &Path) -> Result<(Refused, u16)> {
    let srv = gs::spawn(root, Setup::MaxClients(BUSY_LIMIT))?;
    let port = srv.addr().port();
    let held: Vec<_> = (0..BUSY_LIMIT)
        .map(|_| connect_idle(srv.addr()))
        .collect::<io::Result<_>>()?;
    let body = fetch(srv.addr(), b"/\r\n");
    drop(held);
    let log = gs::wait_for(&srv, Duration::from_secs(1), |l| l.outcome == Outcome::Busy);
    drop(srv);
    Ok((
        Refused {
            body: refused_body(body),
            log,
        },
        port,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            let d = measure(ctx)?;
            Ok(crate::labs::assemble::<super::super::Gopherd>(&d))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap()
    }

    #[test]
    fn files_are_served_and_escapes_refused() {
        let d = data();
        for r in &d.requests {
            let b = r.body.as_ref().unwrap();
            assert_ne!(b.disk, Compare::Differs, "{r:?}");
        }
        let bin = d.requests.iter().find(|r| r.target == Target::Binary).unwrap();
        assert_eq!(bin.body.as_ref().unwrap().disk, Compare::Identical);
        assert_eq!(bin.log.as_ref().unwrap().method, SendMethod::Sendfile);
        let copy = d
            .requests
            .iter()
            .find(|r| r.target == Target::BinaryCopy)
            .unwrap();
        assert_eq!(copy.log.as_ref().unwrap().method, SendMethod::Copy);
        for e in &d.escapes {
            assert!(Body::error_item(&e.body) && !e.leaked, "{e:?}");
        }
        assert_eq!(d.limits.busy.log.as_ref().unwrap().outcome, Outcome::Busy);
        assert_eq!(d.limits.parallel.same, PARALLEL);
    }

    #[test]
    fn compare_tells_the_dot_line_and_stuffing_apart() {
        assert_eq!(compare(b"a\n", Some(b"a\n"), true), Compare::Identical);
        assert_eq!(compare(b"a\n.\r\n", Some(b"a\n"), true), Compare::PlusDotLine);
        assert_eq!(compare(b"b", Some(b"a"), true), Compare::Differs);
        assert_eq!(compare(b"b", None, true), Compare::NoFile);
        assert_eq!(Outcome::from_record("outside root"), Outcome::OutsideRoot);
        assert_eq!(Outcome::from_record("EPIPE"), Outcome::Other("EPIPE".into()));
    }
}
