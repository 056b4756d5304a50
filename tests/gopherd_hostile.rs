//! gopherd under hostile peers, in-process on loopback: 80 clients that ask for a 50 MiB file
//! and never read, 100 that never send a selector (re-opened when closed), escape attempts,
//! and meanwhile 3 rounds of 200 simultaneous well-behaved fetches. Asserts what happened:
//! every well-behaved answer arrived and is byte-exact, no escape leaked, every stalled client
//! was dropped by the write time-out (on the sendfile path), the server stayed one thread, and
//! its descriptors came back. Bounded: every socket has time-outs, the whole test well under 60 s.

use lab::gopher::server::{self, Config};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
const BIG: u64 = 50 << 20;
const TEXT: &[u8] = b"a small text\nwith two lines\n";
const SECRET: &[u8] = b"TOPSECRET-outside-the-root";

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    bin: Vec<u8>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    std::fs::write(root.join("small.txt"), TEXT).unwrap();
    let bin: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(root.join("small.bin"), &bin).unwrap();
    // 50 MiB written in 1 MiB pieces: the test's own memory stays small.
    let mut f = std::fs::File::create(root.join("large.bin")).unwrap();
    let piece = vec![0xa5u8; 1 << 20];
    for _ in 0..(BIG >> 20) {
        f.write_all(&piece).unwrap();
    }
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    Fixture { _dir: dir, root, bin }
}

/// One request; the whole reply, or None if it did not come (connect or read failed).
fn fetch(addr: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).ok()?;
    s.set_read_timeout(Some(WAIT)).ok()?;
    s.write_all(request).ok()?;
    let mut body = Vec::new();
    s.read_to_end(&mut body).ok()?;
    Some(body)
}

/// 100 connections that never send, each re-opened once the server closes it, until `stop`.
fn idle_holders(addr: SocketAddr, stop: &AtomicBool, reopened: &AtomicUsize) {
    let open = || {
        let s = TcpStream::connect_timeout(&addr, WAIT).ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    };
    let mut held: Vec<Option<TcpStream>> = (0..100).map(|_| open()).collect();
    let deadline = Instant::now() + Duration::from_secs(40);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        for slot in held.iter_mut() {
            let closed = match slot {
                // Readable means the server spoke (its time-out item) or closed: re-open.
                Some(s) => {
                    !matches!(s.read(&mut [0u8; 1024]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                }
                None => true,
            };
            if closed {
                *slot = open();
                reopened.fetch_add(1, Ordering::SeqCst);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects, asks for the large file, never reads until the server has had time to drop it.
fn stalled(addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive buffer: the server's send buffer fills, and its sendfile must wait.
    s.set_recv_buffer_size(4096).unwrap();
    s.connect_timeout(&addr.into(), WAIT).unwrap();
    let mut s: TcpStream = s.into();
    s.write_all(b"/large.bin\r\n").unwrap();
    s
}

/// Reads what a stalled client was left with: dropped means fewer bytes than the file.
fn bytes_until_dropped(mut s: TcpStream) -> u64 {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += k as u64,
        }
    }
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn server_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim_end() == "gopherd")
        .count()
}

/// 200 clients at once, each fetching one of three items and comparing every byte.
fn round(addr: SocketAddr, f: &Fixture) -> (usize, usize) {
    let menu = fetch(addr, b"/\r\n").expect("the menu");
    let wants: [(&[u8], Vec<u8>); 3] = [
        (b"/small.txt\r\n", [TEXT, b".\r\n"].concat()),
        (b"/small.bin\r\n", f.bin.clone()),
        (b"/\r\n", menu),
    ];
    let (mut lost, mut wrong) = (0, 0);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..200)
            .map(|i| {
                let (req, want) = &wants[i % 3];
                s.spawn(move || fetch(addr, req).map(|got| got == *want))
            })
            .collect();
        for h in hs {
            match h.join().unwrap() {
                None => lost += 1,
                Some(false) => wrong += 1,
                Some(true) => {}
            }
        }
    });
    (lost, wrong)
}

/// The CLI's cap of 64 held by 80 clients that never read (write time-out 30 s): once they
/// have stalled for a second, each newcomer takes the seat of the one stalled longest.
fn small_cap_is_not_locked_out(f: &Fixture) {
    let cfg = Config {
        max_clients: 64,
        ..Config::default()
    };
    let srv = server::spawn(&f.root, cfg).unwrap();
    let hogs: Vec<TcpStream> = (0..80).map(|_| stalled(srv.addr())).collect();
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..20 {
        let body = fetch(srv.addr(), b"/small.txt\r\n");
        assert_eq!(
            body.as_deref(),
            Some(&[TEXT, b".\r\n"].concat()[..]),
            "served despite the hogs"
        );
    }
    let log = srv.served();
    let evicted = log.iter().filter(|r| r.outcome.starts_with("evicted")).count();
    let busy = log.iter().filter(|r| r.outcome == "busy").count();
    // The first newcomer evicts a hog; its own seat frees when it is done, for the next.
    assert!(evicted >= 1 && busy <= 80 - 64, "{evicted} evicted, {busy} busy");
    drop(hogs);
    drop(srv);
}

#[test]
fn hostile_mix_leaves_well_behaved_clients_served() {
    lab::sys::rlimit::raise_nofile().unwrap();
    let f = fixture();
    let fds_before = lab::sys::open_fd_count();
    let rss_before = status_kib("VmRSS:");
    let cfg = Config {
        read_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let srv = server::spawn(&f.root, cfg).unwrap();
    let addr = srv.addr();
    let stop = AtomicBool::new(false);
    let reopened = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| idle_holders(addr, &stop, &reopened));
        let hogs: Vec<TcpStream> = (0..80).map(|_| stalled(addr)).collect();
        let mut totals = (0, 0);
        for _ in 0..3 {
            let (lost, wrong) = round(addr, &f);
            totals = (totals.0 + lost, totals.1 + wrong);
        }
        assert_eq!(totals, (0, 0), "well-behaved answers (lost, wrong) of 600");
        for sel in [
            "/../secret.txt",
            "../secret.txt",
            "/leak.txt",
            "/up/secret.txt",
            "/sub/../../secret.txt",
        ] {
            let body = fetch(addr, format!("{sel}\r\n").as_bytes()).expect("an answer to an escape");
            assert!(
                body.starts_with(b"3"),
                "{sel}: {}",
                String::from_utf8_lossy(&body)
            );
            assert!(!body.windows(SECRET.len()).any(|w| w == SECRET), "{sel} leaked");
        }
        assert_eq!(server_threads(), 1, "one thread serves everyone");
        // Past the write time-out, every hog has been dropped before the end of the file.
        std::thread::sleep(Duration::from_secs(3));
        let dropped = hogs
            .into_iter()
            .map(bytes_until_dropped)
            .filter(|&n| n < BIG)
            .count();
        assert_eq!(dropped, 80, "stalled clients dropped by the write time-out");
        stop.store(true, Ordering::SeqCst);
    });
    assert!(
        reopened.load(Ordering::SeqCst) >= 100,
        "idle clients were timed out and re-opened"
    );
    let log = srv.served();
    assert!(
        log.iter()
            .any(|r| r.selector == "/large.bin" && r.method == "sendfile" && r.outcome == "write timeout"),
        "a stalled sendfile was ended by the write time-out"
    );
    assert!(log.iter().all(|r| !r.outcome.contains("panic")));
    drop(srv);
    small_cap_is_not_locked_out(&f);
    let grew_mib = status_kib("VmHWM:").saturating_sub(rss_before) / 1024;
    assert!(grew_mib < 128, "peak memory grew by {grew_mib} MiB");
    // Sockets close asynchronously in no thread here: every descriptor is back.
    assert_eq!(
        lab::sys::open_fd_count(),
        fds_before,
        "descriptors after the stop"
    );
}
