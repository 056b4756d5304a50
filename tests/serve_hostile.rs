//! `lab serve` in its default concurrent design under the hostile mix, as a real
//! process on loopback: 10,000 well-behaved clients, 200 at a time, with 100 idle connections
//! held (re-opened when closed), 50 lines of 1 MiB with no newline, 50 resets and 100 lines
//! that are not UTF-8. Asserts what the server did — every answer exact, every giant line
//! refused, its peak memory, one thread, its descriptors back — and that it holds 10,000
//! connections at once. Bounded: every client has a 10 s limit and no client starts after 30 s.

use lab::line::hostile::{self, Mix};
use lab::line::server::Mode;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A `lab serve` child, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: mpsc::Receiver<String>,
}

impl Server {
    /// `--mode concurrent` with the event design's default cap and backlog spelled out.
    fn start() -> Server {
        let mode = Mode::Event;
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("lab"))
            .args(["serve", "--mode", "concurrent", "--port", "0", "--quiet"])
            .args(["--max-concurrent", &mode.default_max_concurrent().to_string()])
            .args(["--backlog", &mode.default_backlog().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lab serve");
        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = stdout.recv_timeout(WAIT).expect("the server's first line");
        let port: u16 = first
            .strip_prefix("Server is running on port ")
            .and_then(|r| r.split(';').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stdout,
        }
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// SIGINT, then the summary line (bounded).
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) }, 0);
        let summary = self.stdout.recv_timeout(WAIT).expect("a summary line");
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            self.child.try_wait().unwrap().is_some_and(|s| s.success()),
            "clean exit"
        );
        summary
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answered(addr: SocketAddr, line: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(line).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn the_concurrent_server_holds_the_hostile_mix() {
    let server = Server::start();
    assert!(answered(server.addr, b"warm up\n").ends_with("You entered 7 characters.\n"));
    let mix = Mix::standard();
    let out = hostile::drive(server.addr, &mix, Some(server.child.id()));
    eprintln!("{out:?}");
    assert_eq!(out.not_started, 0, "the mix ran out of time: {out:?}");
    assert_eq!(
        (out.answered, out.wrong, out.lost),
        (mix.clients, 0, 0),
        "{out:?}"
    );
    assert_eq!(
        out.giant_refused, mix.giant,
        "every giant line refused with a message"
    );
    assert_eq!(
        out.garbage_answered, mix.garbage,
        "non-UTF-8 lines counted as bytes"
    );
    assert_eq!(out.resets_sent, mix.resets);
    assert_eq!(out.peak_threads, Some(1), "one thread for everyone");
    let rss = out.peak_rss_kib.expect("peak RSS read from /proc");
    assert!(rss <= 32 * 1024, "peak RSS {rss} KiB over 32 MiB");
    assert_eq!(out.fds_after, out.fds_before, "descriptors back to the baseline");
    let summary = server.stop();
    // Answered: the two warm-ups (this test's and the driver's), every well-behaved client,
    // every non-UTF-8 line, and the idle connections, whose close at the end reads as an
    // empty line (as in the book: EOF ends the line).
    let want = 2 + mix.clients + mix.garbage + mix.idle + out.idle_closed;
    assert!(summary.contains(&format!("({want} answered)")), "{summary}");
    assert!(
        summary.contains(&format!("{} line too long", mix.giant)),
        "{summary}"
    );
}

#[test]
fn the_event_design_holds_10000_connections_at_once() {
    const HELD: usize = 10_000;
    let (soft, _) = lab::sys::rlimit::nofile().unwrap();
    let soft = lab::sys::rlimit::raise_nofile().unwrap_or(soft);
    if soft < HELD as u64 + 100 {
        eprintln!("\n*** SKIPPED: RLIMIT_NOFILE hard limit {soft} < {HELD} + 100 here ***\n");
        return;
    }
    let server = Server::start();
    // After one exchange the event loop (and its epoll descriptor) is surely running.
    assert!(answered(server.addr, b"\n").contains("0 characters"));
    let before = server.fds();
    let held: Vec<TcpStream> = (0..HELD)
        .map(|_| TcpStream::connect_timeout(&server.addr, WAIT).unwrap())
        .collect();
    // Bounded wait until the server has accepted every one of them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.fds() < before + HELD && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.fds() >= before + HELD,
        "held {} of {HELD}",
        server.fds() - before
    );
    assert!(answered(server.addr, "你好\n".as_bytes()).contains("2 characters"));
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.fds() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.fds(), before, "descriptors back after the clients left");
    let summary = server.stop();
    assert!(
        summary.contains(&format!("{} clients served", HELD + 2)),
        "{summary}"
    );
}
