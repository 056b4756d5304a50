//! A Gopher server (RFC 1436) for a directory: one request line in, one response out, close.
//!
//! One thread accepts; each client gets its own thread, up to [`Config::max_clients`] at once
//! (the next one gets a "server busy" error item). Every request line must arrive within
//! [`Config::read_timeout`]; a write that makes no progress for [`Config::write_timeout`] ends
//! the connection. Stopping (drop of [`LocalServer`]) wakes the acceptor, shuts down every open
//! client socket so blocked reads and sendfiles return, and joins all threads.
//!
//! What is sent: see `select` (which selectors are served), `listing` (menus, gophermap) and
//! `send` (text with the RFC's "." terminator, binary raw with sendfile).

mod listing;
mod select;
mod send;

pub use listing::{file_type, menu_bytes, parse_gophermap, Here, Item, GOPHERMAP};
pub use select::{components, Refusal, MAX_SELECTOR};
pub use send::{dot_stuff, unstuff, Method};

use anyhow::{Context, Result};
use select::Root;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The port `lab gopherd` uses when none is given: 70 is Gopher's, but ports below 1024 need
/// root, so the lab takes one any user may bind.
pub const DEFAULT_PORT: u16 = 7070;
/// The longest request line read (selector, optional TAB and search words, CRLF).
pub const MAX_REQUEST: usize = 2 * MAX_SELECTOR;
/// How long `Drop` waits for the acceptor to notice a stop (it polls this often).
const POLL_MS: u16 = 500;
/// Served-request records kept for [`LocalServer::served`].
const MAX_LOG: usize = 1000;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    /// Clients served at once; one more gets an error item and is closed.
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
            max_clients: 64,
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

/// State shared by the acceptor and the client threads.
struct Shared {
    root: Root,
    cfg: Config,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Open client sockets, so a stop can shut them down.
    clients: Mutex<HashMap<u64, TcpStream>>,
    log: Mutex<Vec<Served>>,
}

/// A running server; dropping it stops it and joins its threads.
pub struct LocalServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    wake: Option<OwnedFd>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Serves `dir` on 127.0.0.1 with a kernel-chosen port from a background thread.
pub fn spawn_local(dir: &Path) -> Result<LocalServer> {
    spawn(dir, Config::default())
}

/// Serves `dir` as `cfg` says, from a background thread; returns once the socket listens.
pub fn spawn(dir: &Path, cfg: Config) -> Result<LocalServer> {
    let root = Root::open(dir).with_context(|| format!("open the directory to serve {}", dir.display()))?;
    let listener = listen(cfg.bind)?;
    let addr = listener
        .local_addr()?
        .as_socket()
        .context("the listener's address is not an IP address")?;
    let (wake_rd, wake_wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe to wake the acceptor")?;
    let shared = Arc::new(Shared {
        root,
        cfg,
        stop: AtomicBool::new(false),
        next_id: AtomicU64::new(0),
        clients: Mutex::new(HashMap::new()),
        log: Mutex::new(Vec::new()),
    });
    let s = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("gopherd-accept".into())
        .spawn(move || accept_loop(&s, &listener, &wake_rd))
        .context("spawn the accept thread")?;
    Ok(LocalServer {
        addr,
        shared,
        wake: Some(wake_wr),
        thread: Some(thread),
    })
}

fn listen(addr: SocketAddr) -> Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).context("socket")?;
    // A restarted server can take its port back at once (the learner's SO_REUSEADDR question).
    s.set_reuse_address(true).context("SO_REUSEADDR")?;
    s.bind(&addr.into()).with_context(|| format!("bind {addr}"))?;
    s.listen(128).with_context(|| format!("listen on {addr}"))?;
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

    /// Stops the server and joins its threads (what Drop does).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.wake.take() {
            let _ = nix::unistd::write(&w, b"x");
        }
        if let Some(t) = self.thread.take() {
            // The acceptor shuts down the client sockets and joins their threads before ending.
            let _ = t.join();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &Socket, wake: &OwnedFd) {
    use nix::poll::{poll, PollFd, PollFlags};
    std::thread::scope(|scope| {
        while !shared.stop.load(Ordering::SeqCst) {
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            ];
            if poll(&mut fds, POLL_MS).is_err() {
                continue; // EINTR: look at the stop flag again
            }
            // Take every connection waiting, without blocking.
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((sock, peer)) => {
                        if let Some(peer) = peer.as_socket() {
                            admit(scope, shared, sock.into(), peer);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        // EMFILE and the like: the connection stays queued; do not spin on it.
                        std::thread::sleep(Duration::from_millis(20));
                        break;
                    }
                }
            }
        }
        // Wake every blocked client thread; the scope then joins them.
        if let Ok(clients) = shared.clients.lock() {
            for c in clients.values() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    });
}

fn admit<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    shared: &'s Arc<Shared>,
    sock: TcpStream,
    peer: SocketAddr,
) {
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let busy = {
        let Ok(mut clients) = shared.clients.lock() else {
            return;
        };
        // A client that cannot be tracked (try_clone failed: EMFILE...) is refused as busy:
        // untracked, it would escape both the cap and the shutdown at stop.
        clients.len() >= shared.cfg.max_clients
            || match sock.try_clone() {
                Ok(c) => {
                    clients.insert(id, c);
                    false
                }
                Err(_) => true,
            }
    };
    if busy {
        // A short error item fits the socket buffer: this write does not block the acceptor.
        let mut sock = sock;
        let _ = sock.set_nonblocking(true);
        let body = error_item(
            "server busy: too many clients at once, try again",
            &here(shared, &sock),
        );
        let sent = sock.write(&body).unwrap_or(0);
        // Read what already came, so closing with unread data does not turn FIN into RST.
        let _ = sock.read(&mut [0u8; 4096]);
        let _ = sock.shutdown(Shutdown::Write);
        record(shared, peer, "", '3', sent as u64, Method::Memory, "busy".into());
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("gopherd-client".into())
        .spawn_scoped(scope, move || {
            serve_client(shared, sock, peer);
            if let Ok(mut clients) = shared.clients.lock() {
                clients.remove(&id);
            }
        });
    if spawned.is_err() {
        if let Ok(mut clients) = shared.clients.lock() {
            clients.remove(&id);
        }
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

/// What reading the request line gave.
enum Request {
    Line(Vec<u8>),
    TooLong,
    TimedOut,
    Closed,
}

/// Reads up to the first LF, at most [`MAX_REQUEST`] bytes, within the read timeout overall.
fn read_request(sock: &mut TcpStream, timeout: Duration) -> io::Result<Request> {
    let deadline = std::time::Instant::now() + timeout;
    let mut line = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(Request::TimedOut);
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Ok(Request::TimedOut)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            // A client that half-closes without a line break still asked for something.
            return Ok(if line.is_empty() {
                Request::Closed
            } else {
                Request::Line(line)
            });
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end);
            return Ok(Request::Line(line));
        }
        if line.len() > MAX_REQUEST {
            return Ok(Request::TooLong);
        }
    }
}

/// The selector of a request line: up to the first TAB (search words and Gopher+ ignored).
pub fn selector_of(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.split(|&b| b == b'\t').next().unwrap_or_default()
}

fn serve_client(shared: &Shared, mut sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_write_timeout(Some(shared.cfg.write_timeout));
    let here = here(shared, &sock);
    let request = match read_request(&mut sock, shared.cfg.read_timeout) {
        Ok(r) => r,
        Err(e) => {
            record(
                shared,
                peer,
                "",
                '-',
                0,
                Method::Memory,
                crate::sys::errno_name(&e),
            );
            return;
        }
    };
    let line = match request {
        Request::Line(l) => l,
        Request::Closed => return record(shared, peer, "", '-', 0, Method::Memory, "closed".into()),
        Request::TimedOut => {
            let secs = shared.cfg.read_timeout.as_secs_f64();
            let msg = format!("no selector within {secs} s");
            refuse(shared, &mut sock, peer, "", &msg, "timeout", &here);
            return linger_close(sock);
        }
        Request::TooLong => {
            let msg = format!("request line longer than {MAX_REQUEST} bytes");
            refuse(shared, &mut sock, peer, "", &msg, "too long", &here);
            return linger_close(sock);
        }
    };
    let selector = selector_of(&line);
    let shown = String::from_utf8_lossy(selector).into_owned();
    match select::resolve(&shared.root, selector) {
        Err(r) => refuse(shared, &mut sock, peer, &shown, &r.message(), r.reason(), &here),
        Ok(t) => respond(shared, &mut sock, peer, &shown, t, &here),
    }
    linger_close(sock);
}

/// Sends FIN, then reads (bounded) until the client closes too: closing with unread request
/// bytes would make the kernel send RST, and the client could lose the end of the response.
fn linger_close(mut sock: TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match sock.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
}

fn refuse(
    shared: &Shared,
    sock: &mut TcpStream,
    peer: SocketAddr,
    sel: &str,
    msg: &str,
    why: &str,
    here: &Here,
) {
    let body = error_item(msg, here);
    let outcome = match sock.write_all(&body) {
        Ok(()) => why.to_string(),
        Err(e) => format!("{why}; {}", crate::sys::errno_name(&e)),
    };
    record(shared, peer, sel, '3', body.len() as u64, Method::Memory, outcome);
}

fn respond(
    shared: &Shared,
    sock: &mut TcpStream,
    peer: SocketAddr,
    sel: &str,
    mut t: select::Target,
    here: &Here,
) {
    let (kind, result) = if t.is_dir {
        let body = menu_bytes(&listing::directory_menu(&shared.root, &t.rel, here));
        (
            '1',
            sock.write_all(&body).map(|_| (body.len() as u64, Method::Memory)),
        )
    } else {
        let name = t.rel.file_name().unwrap_or_default().to_os_string();
        let kind = file_type(&name, &mut t.file);
        let r = if kind == b'0' {
            send::text(sock, &mut t.file, t.len, shared.cfg.sendfile)
        } else {
            send::raw(sock, &mut t.file, t.len, shared.cfg.sendfile)
        };
        (kind as char, r)
    };
    match result {
        Ok((n, m)) => record(shared, peer, sel, kind, n, m, "ok".into()),
        Err(e) => record(
            shared,
            peer,
            sel,
            kind,
            0,
            Method::Memory,
            crate::sys::errno_name(&e),
        ),
    }
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
