//! A Gopher server (RFC 1436) for a directory: one request line in, one response out, close.
//!
//! One thread serves every client with an event loop on epoll (mio): sockets are non-blocking,
//! so an idle client or one that never reads costs a descriptor and a few bytes, never a
//! thread, and cannot hold up the others. Up to [`Config::max_clients`] are held at once (the
//! next one gets a "server busy" error item). Every request line must arrive within
//! [`Config::read_timeout`]; a response that makes no progress for [`Config::write_timeout`]
//! is dropped, with sendfile as with a copy. Stopping (drop of [`LocalServer`]) wakes the loop,
//! which closes every client and ends.
//!
//! What is sent: see `select` (which selectors are served), `listing` (menus, gophermap) and
//! `send` (text with the RFC's "." terminator, binary raw with sendfile).

mod events;
mod listing;
mod select;
mod send;

pub use listing::{file_type, menu_bytes, parse_gophermap, Here, Item, GOPHERMAP};
pub use select::{components, Refusal, MAX_SELECTOR};
pub use send::{dot_stuff, unstuff, Method};

use anyhow::{Context, Result};
use select::Root;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The port `lab gopherd` uses when none is given: 70 is Gopher's, but ports below 1024 need
/// root, so the lab takes one any user may bind.
pub const DEFAULT_PORT: u16 = 7070;
/// The longest request line read (selector, optional TAB and search words, CRLF).
pub const MAX_REQUEST: usize = 2 * MAX_SELECTOR;
/// The listen() backlog: room for a burst of clients while the loop is busy.
const BACKLOG: i32 = 1024;
/// Served-request records kept for [`LocalServer::served`].
const MAX_LOG: usize = 1000;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Clients held at once (each costs a socket, and a file while it is sent); one more gets
    /// an error item and is closed.
    pub max_clients: usize,
    /// The whole request line must arrive within this.
    pub read_timeout: Duration,
    /// A blocked write or sendfile gives up after this long without progress.
    pub write_timeout: Duration,
    /// Host written in menus; None: the address the client connected to.
    pub host: Option<String>,
    /// One line per request on stderr.
    pub log: bool,
    /// Send files with sendfile(2); false: read and write through a buffer (to compare).
    pub sendfile: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            max_clients: 1024,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            host: None,
            log: false,
            sendfile: true,
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub peer: SocketAddr,
    /// The selector, lossily as text ("" for the root).
    pub selector: String,
    /// The item type served ('1' menu, '0' text, '9' binary, ...), or '3' for an error item.
    pub kind: char,
    /// Bytes written to the client.
    pub bytes: u64,
    /// "sendfile", "copy" or "write".
    pub method: &'static str,
    /// "ok", the refusal reason ("outside root", "'..'", "busy", "timeout", ...) or an errno name.
    pub outcome: String,
}

/// The lab's docs directory: `docs/` under the current directory if it exists, else the
/// one in the source tree this binary was built from.
pub fn default_docs_dir() -> PathBuf {
    let here = PathBuf::from("docs");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/docs"))
}

/// State shared by the event loop and the [`LocalServer`] handle.
struct Shared {
    root: Root,
    cfg: Config,
    stop: AtomicBool,
    log: Mutex<Vec<Served>>,
}

/// A running server; dropping it stops it and joins its thread.
pub struct LocalServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    waker: Arc<mio::Waker>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Serves `dir` on 127.0.0.1 with a kernel-chosen port from a background thread.
pub fn spawn_local(dir: &Path) -> Result<LocalServer> {
    spawn(dir, Config::default())
}

/// Serves `dir` as `cfg` says, from a background thread; returns once the socket listens.
pub fn spawn(dir: &Path, cfg: Config) -> Result<LocalServer> {
    let root = Root::open(dir).with_context(|| format!("open the directory to serve {}", dir.display()))?;
    // Each client holds a socket and often a file: let the cap be reachable.
    let _ = crate::sys::rlimit::raise_nofile();
    let listener = listen(cfg.bind)?;
    let addr = listener
        .local_addr()?
        .as_socket()
        .context("the listener's address is not an IP address")?;
    let poll = mio::Poll::new().context("epoll_create")?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), events::WAKE).context("eventfd for stop")?);
    let shared = Arc::new(Shared {
        root,
        cfg,
        stop: AtomicBool::new(false),
        log: Mutex::new(Vec::new()),
    });
    let s = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("gopherd".into())
        .spawn(move || events::run(&s, poll, listener))
        .context("spawn the server thread")?;
    Ok(LocalServer {
        addr,
        shared,
        waker,
        thread: Some(thread),
    })
}

fn listen(addr: SocketAddr) -> Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).context("socket")?;
    // A restarted server can take its port back at once (the learner's SO_REUSEADDR question).
    s.set_reuse_address(true).context("SO_REUSEADDR")?;
    s.bind(&addr.into()).with_context(|| format!("bind {addr}"))?;
    s.listen(BACKLOG).with_context(|| format!("listen on {addr}"))?;
    s.set_nonblocking(true).context("O_NONBLOCK on the listener")?;
    Ok(s)
}

impl LocalServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The canonical directory served.
    pub fn root(&self) -> &Path {
        &self.shared.root.path
    }

    /// The requests served so far (the last 1000), oldest first.
    pub fn served(&self) -> Vec<Served> {
        self.shared.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Stops the server and joins its thread (what Drop does).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Where the client reached us, as menus must name it.
fn here(shared: &Shared, sock: &TcpStream) -> Here {
    let local = sock.local_addr().ok();
    Here {
        host: shared.cfg.host.clone().unwrap_or_else(|| {
            local
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|| "127.0.0.1".into())
        }),
        port: local.map(|a| a.port()).unwrap_or(0),
    }
}

/// A type-3 error item followed by the end-of-menu line.
pub fn error_item(msg: &str, here: &Here) -> Vec<u8> {
    let item = Item {
        kind: b'3',
        display: msg.as_bytes().to_vec(),
        selector: Vec::new(),
        host: here.host.clone(),
        port: here.port,
    };
    menu_bytes(&[item])
}

fn record(
    shared: &Shared,
    peer: SocketAddr,
    selector: &str,
    kind: char,
    bytes: u64,
    m: Method,
    outcome: String,
) {
    let s = Served {
        peer,
        selector: selector.into(),
        kind,
        bytes,
        method: m.as_str(),
        outcome,
    };
    if shared.cfg.log {
        // Not eprintln!: a closed stderr must not panic a client thread.
        let _ = writeln!(
            io::stderr(),
            "{} {:?} type {} {} bytes via {}: {}",
            s.peer,
            s.selector,
            s.kind,
            s.bytes,
            s.method,
            s.outcome
        );
    }
    if let Ok(mut log) = shared.log.lock() {
        if log.len() >= MAX_LOG {
            log.remove(0);
        }
        log.push(s);
    }
}

/// The selector of a request line: up to the first TAB (search words and Gopher+ ignored).
pub fn selector_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.split(|&b| b == b'\t').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_stops_at_tab_and_cr() {
        assert_eq!(selector_of(b"/a\tsearch words\r"), b"/a");
        assert_eq!(selector_of(b"/a\r"), b"/a");
        assert_eq!(selector_of(b""), b"");
    }

    #[test]
    fn stop_returns_with_an_idle_client() {
        let dir = std::env::temp_dir();
        let s = spawn_local(&dir).unwrap();
        // A client that never sends its selector must not hold up the stop.
        let _idle = TcpStream::connect(s.addr()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.stop();
    }
}
