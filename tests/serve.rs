//! `lab serve` as its users meet it: a real process on a kernel-chosen port, talked to
//! by Debian's nc, socat and telnet and by Rust clients; then hostile load, signals,
//! and the restart the learner tried with SO_REUSEADDR 0, 1 and 50.

mod common;

use common::has_cjk;
use socket2::Socket;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_secs(10);
const PROMPT: &str = "Please enter a string:";

/// A `lab serve` child process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    stdout: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        Self::try_start(args).unwrap_or_else(|(status, err)| panic!("lab serve failed ({status:?}): {err}"))
    }

    /// Starts the server; on failure returns its exit status and stderr.
    fn try_start(args: &[&str]) -> Result<Server, (Option<ExitStatus>, String)> {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("lab"));
        cmd.arg("serve");
        if !args.contains(&"--port") {
            cmd.args(["--port", "0"]);
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
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
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let first = stdout.recv_timeout(STEP);
        let mut server = Server {
            child,
            port: 0,
            stdout,
            stderr,
        };
        let Ok(first) = first else {
            let status = server.wait_exit();
            return Err((status, server.stderr()));
        };
        let port = first
            .strip_prefix("Server is running on port ")
            .and_then(|r| r.strip_suffix("; press Ctrl-C to terminate."))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        server.port = port;
        Ok(server)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stderr once it holds `n` per-client log lines (the server logs after closing,
    /// so the client may finish first); bounded.
    fn log_lines(&self, n: usize) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let log = self.stderr();
            if log
                .lines()
                .filter(|l| l.starts_with("lab serve: client "))
                .count()
                >= n
                || Instant::now() > deadline
            {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Open descriptors of the server process, from /proc/<pid>/fd.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// Waits (bounded) until the fd count is at most `n`; returns the last count.
    fn fds_settle_to(&self, n: usize) -> usize {
        let deadline = Instant::now() + STEP;
        loop {
            let now = self.fds();
            if now <= n || Instant::now() > deadline {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                // Let the reader threads catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Asserts the fds settle back to `baseline`, stops the server with SIGTERM, asserts a
    /// clean exit, and returns the rest of its stdout (the summary).
    fn stop_at_baseline(&mut self, baseline: usize) -> String {
        assert_eq!(self.fds_settle_to(baseline), baseline, "fds back to the baseline");
        self.signal(libc::SIGTERM);
        assert!(self.wait_exit().unwrap().success());
        self.rest_of_stdout()
    }

    /// The rest of stdout, after the process has exited.
    fn rest_of_stdout(&self) -> String {
        let mut s = String::new();
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(1)) {
            s.push_str(&l);
            s.push('\n');
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a Rust client saw.
struct Seen {
    local: SocketAddr,
    opening: String,
    answer: Vec<u8>,
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), STEP).expect("connect");
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_write_timeout(Some(STEP)).unwrap();
    s
}

fn read_opening(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 256];
    while !buf.ends_with(PROMPT.as_bytes()) {
        let n = s.read(&mut b).expect("read greeting");
        assert!(
            n > 0,
            "EOF before the prompt: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&b[..n]);
    }
    String::from_utf8(buf).unwrap()
}

/// The full exchange; `read_to_end` returning proves the server closed first.
fn talk(port: u16, payload: &[u8], half_close: bool) -> Seen {
    let mut s = connect(port);
    let local = s.local_addr().unwrap();
    let opening = read_opening(&mut s);
    s.write_all(payload).unwrap();
    if half_close {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).expect("read the answer to EOF");
    Seen {
        local,
        opening,
        answer,
    }
}

fn greeting_for(local: SocketAddr) -> String {
    format!("welcome, ('127.0.0.1', {})\n{PROMPT}", local.port())
}

#[test]
fn greeting_prompt_and_counts_are_exact() {
    let server = Server::start(&[]);
    let cases: [(&[u8], bool, &str); 7] = [
        (b"hello\n", false, "You entered 5 characters.\n"),
        (b"hello\r\n", false, "You entered 5 characters.\n"),
        (
            "你好\n".as_bytes(),
            false,
            "You entered 2 characters (6 bytes in UTF-8).\n",
        ),
        (
            b"\xff\xfeab\n",
            false,
            "You entered 4 bytes (not valid UTF-8, so counted as bytes).\n",
        ),
        (b"\n", false, "You entered 0 characters.\n"),
        (b"abc", true, "You entered 3 characters.\n"),
        (b" \thi there \x0b\x0c\r\n", false, "You entered 8 characters.\n"),
    ];
    for (payload, half, want) in cases {
        let seen = talk(server.port, payload, half);
        assert_eq!(
            seen.opening,
            greeting_for(seen.local),
            "greeting and prompt bytes"
        );
        assert_eq!(String::from_utf8_lossy(&seen.answer), want, "for {payload:?}");
    }
    // A second line in the same packet is ignored, and the answer is not lost to a reset.
    // (12 KB of them: more than one read takes, so input is still unread at close).
    let pasted = [b"one\n".to_vec(), b"two\n".repeat(3000)].concat();
    let seen = talk(server.port, &pasted, false);
    assert_eq!(seen.answer, b"You entered 3 characters.\n");
    let log = server.log_lines(8);
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("lab serve: client "))
            .count(),
        8,
        "{log}"
    );
    assert!(log.contains("counted 2 characters / 6 bytes"), "{log}");
    assert!(log.contains("not UTF-8"), "{log}");
}

fn run_with_stdin(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx.recv_timeout(STEP).expect("client finished in time").unwrap();
    out.stdout
}

fn assert_book_dialogue(out: &[u8], answer: &str) {
    let text = String::from_utf8_lossy(out);
    let rest = text
        .split_once("welcome, ('127.0.0.1', ")
        .unwrap_or_else(|| panic!("no greeting in {text:?}"))
        .1;
    let (port, rest) = rest.split_once(")\n").unwrap();
    assert!(port.parse::<u16>().is_ok(), "{text:?}");
    assert_eq!(rest, format!("{PROMPT}{answer}"), "{text:?}");
}

#[test]
fn debian_clients_nc_socat_and_telnet() {
    let server = Server::start(&["--mode", "concurrent"]);
    let port = server.port.to_string();
    let nc = run_with_stdin("nc", &["-N", "127.0.0.1", &port], b"hello\n");
    assert_book_dialogue(&nc, "You entered 5 characters.\n");
    let nc = run_with_stdin("nc", &["-N", "127.0.0.1", &port], "你好\n".as_bytes());
    assert_book_dialogue(&nc, "You entered 2 characters (6 bytes in UTF-8).\n");
    let nc = run_with_stdin("nc", &["-N", "127.0.0.1", &port], b"no newline");
    assert_book_dialogue(&nc, "You entered 10 characters.\n");
    let socat = run_with_stdin(
        "socat",
        &["-", &format!("TCP:127.0.0.1:{port}")],
        "你好\r\n".as_bytes(),
    );
    assert_book_dialogue(&socat, "You entered 2 characters (6 bytes in UTF-8).\n");
    let socat = run_with_stdin("socat", &["-", &format!("TCP:127.0.0.1:{port}")], b"\xe4\xbd\n");
    assert_book_dialogue(
        &socat,
        "You entered 2 bytes (not valid UTF-8, so counted as bytes).\n",
    );
    telnet(server.port);
    assert!(
        server.stderr().contains("received 7 bytes"),
        "telnet sent CR LF: {}",
        server.stderr()
    );
}

/// telnet reads its stdin only once connected; type the line after the prompt shows,
/// then wait for it to exit when the server closes.
fn telnet(port: u16) {
    let mut child = Command::new("telnet")
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("telnet");
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut b = [0u8; 256];
        while let Ok(n) = out.read(&mut b) {
            if n == 0 || tx.send(b[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + STEP;
    while !seen.ends_with(PROMPT.as_bytes()) && Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.extend(chunk);
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    stdin.flush().unwrap();
    while let Ok(chunk) = rx.recv_timeout(STEP) {
        seen.extend(chunk);
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains(&format!("{PROMPT}You entered 5 characters.\n")),
        "{text:?}"
    );
}

#[test]
fn sigterm_and_sigint_stop_cleanly_with_a_summary() {
    for (mode, sig, name) in [
        ("iterative", libc::SIGTERM, "SIGTERM"),
        ("concurrent", libc::SIGINT, "SIGINT"),
    ] {
        let mut server = Server::start(&["--mode", mode]);
        talk(server.port, b"hello\n", false);
        talk(server.port, "你好\n".as_bytes(), false);
        // A client in the middle of its exchange when the signal comes.
        let mut waiting = connect(server.port);
        read_opening(&mut waiting);
        server.signal(sig);
        let mut rest = String::new();
        waiting
            .read_to_string(&mut rest)
            .expect("the waiting client is closed, not reset");
        assert!(rest.contains("shutting down"), "{mode}: {rest:?}");
        let status = server.wait_exit().expect("exits after the signal");
        assert!(status.success(), "{mode}: {status:?} {}", server.stderr());
        let out = server.rest_of_stdout();
        assert!(
            out.contains(&format!(
                "stopped by {name}: 3 clients served (2 answered), 13 bytes received, 1 error (1 shutdown)"
            )),
            "{mode}: {out:?}"
        );
        // The listener is gone: nobody is accepting on that port any more.
        assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
    }
}

#[test]
fn max_clients_exits_with_nothing_left_open() {
    for mode in ["iterative", "concurrent"] {
        let mut server = Server::start(&["--mode", mode, "--max-clients", "3", "--leak-check"]);
        for _ in 0..3 {
            let seen = talk(server.port, b"abc\n", false);
            assert_eq!(seen.answer, b"You entered 3 characters.\n");
        }
        let status = server.wait_exit().expect("exits after 3 clients");
        assert!(status.success(), "{mode}: {}", server.stderr());
        assert!(server
            .rest_of_stdout()
            .contains("served --max-clients 3: 3 clients served"));
    }
}

#[test]
fn restart_right_after_a_client_needs_reuseaddr_on_both_sides() {
    // The learner's experiment: SO_REUSEADDR 1 (the book), serve one client, stop, restart.
    let mut first = Server::start(&[]);
    let port = first.port;
    talk(port, b"hi\n", false);
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit().unwrap().success());
    let p = port.to_string();
    // The server closed first, so its side of the connection is in TIME-WAIT now.
    let refused = Server::try_start(&["--port", &p, "--reuseaddr", "0"])
        .err()
        .expect("0 must fail");
    assert_eq!(refused.0.and_then(|s| s.code()), Some(1));
    assert!(
        refused.1.starts_with("lab: error: bind 127.0.0.1:"),
        "{}",
        refused.1
    );
    assert!(refused.1.contains("Address already in use"), "{}", refused.1);
    // ... and says why: the TIME-WAIT of the run before, and the option this run lacks.
    for hint in [
        "held by TIME-WAIT",
        "--reuseaddr 0",
        "--reuseaddr 1",
        "lab reuseaddr",
    ] {
        assert!(refused.1.contains(hint), "{hint}: {}", refused.1);
    }
    // 50 is as good as 1: the kernel keeps a yes/no.
    let again = Server::start(&["--port", &p, "--reuseaddr", "50"]);
    assert_eq!(again.port, port);
    assert_eq!(talk(port, b"ok\n", false).answer, b"You entered 2 characters.\n");
}

#[test]
fn after_a_run_with_reuseaddr_0_even_1_cannot_restart() {
    // The TIME-WAIT socket keeps the old run's 0: the new run's 1 is not enough.
    let mut first = Server::start(&["--reuseaddr", "0"]);
    let port = first.port;
    talk(port, b"hi\n", false);
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit().unwrap().success());
    let refused = Server::try_start(&["--port", &port.to_string(), "--reuseaddr", "1"])
        .err()
        .expect("1 after 0 must fail");
    assert!(refused.1.contains("Address already in use"), "{}", refused.1);
    assert!(refused.1.contains("previous run had it off"), "{}", refused.1);
}

/// A client that sends part of a line, then resets the connection: SO_LINGER {1, 0}, close.
fn reset_midway(port: u16) {
    let mut s = connect(port);
    read_opening(&mut s);
    s.write_all(b"half a li").unwrap();
    let sock = Socket::from(s);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    drop(sock);
}

/// Sends a line longer than the limit; the client must get the message, then EOF.
fn oversized(port: u16, limit: usize) {
    let mut s = connect(port);
    read_opening(&mut s);
    // 64 KiB: far more than the server reads before it gives up on the line.
    let _ = s.write_all(&vec![b'y'; 64 * 1024]);
    let mut rest = String::new();
    s.read_to_string(&mut rest)
        .expect("message then EOF, not a reset");
    assert!(
        rest.contains(&format!("Line too long: the limit is {limit} bytes")),
        "{rest:?}"
    );
}

fn well_behaved(port: u16, i: usize) -> bool {
    let line = format!("client {i} says {}\n", "你".repeat(i % 4));
    let chars = line.trim_end().chars().count();
    let bytes = line.trim_end().len();
    let want = if chars == bytes {
        format!("You entered {chars} characters.\n")
    } else {
        format!("You entered {chars} characters ({bytes} bytes in UTF-8).\n")
    };
    let seen = talk(port, line.as_bytes(), false);
    seen.opening == greeting_for(seen.local) && seen.answer == want.as_bytes()
}

#[test]
fn hostile_load_sequential_iterative() {
    // An idle timeout of 1 s: short enough for ten silent clients, long enough that a
    // well-behaved client descheduled for a while on a loaded machine is not taken for one.
    let mut server = Server::start(&["--max-line", "512", "--idle-timeout", "1", "--quiet"]);
    // The book's listen(1): a silent client is being served while the next one queues.
    assert!(well_behaved(server.port, 0));
    let baseline = server.fds();
    let mut good = 0;
    let mut idle = Vec::new();
    for i in 1..=1000 {
        match i % 100 {
            17 => oversized(server.port, 512),
            33 => reset_midway(server.port),
            // A silent client: it holds the only seat until its idle timeout.
            50 => idle.push(connect(server.port)),
            _ => {}
        }
        assert!(well_behaved(server.port, i), "client {i}");
        good += 1;
    }
    for mut s in idle {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(String::from_utf8_lossy(&rest).contains("No input for 1 s"));
    }
    assert!(server.alive());
    let out = server.stop_at_baseline(baseline);
    assert!(
        out.contains(&format!("{} clients served ({} answered)", good + 31, good + 1)),
        "{out}"
    );
    assert!(
        out.contains("10 idle timeout") && out.contains("10 line too long"),
        "{out}"
    );
}

#[test]
fn hostile_load_concurrent() {
    const THREADS: usize = 120;
    const EACH: usize = 5;
    let mut server = Server::start(&[
        "--mode",
        "concurrent",
        "--max-concurrent",
        "200",
        "--backlog",
        "256",
        "--max-line",
        "512",
        "--idle-timeout",
        "2",
        "--quiet",
    ]);
    let port = server.port;
    assert!(well_behaved(port, 0));
    let baseline = server.fds();
    // Silent clients hold threads open for the whole run.
    let idle: Vec<TcpStream> = (0..10).map(|_| connect(port)).collect();
    let barrier = std::sync::Barrier::new(THREADS + 20);
    let correct = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (barrier, correct) = (&barrier, &correct);
            s.spawn(move || {
                barrier.wait();
                for k in 0..EACH {
                    if well_behaved(port, t * EACH + k) {
                        correct.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        for t in 0..20 {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                if t % 2 == 0 {
                    oversized(port, 512)
                } else {
                    reset_midway(port)
                }
            });
        }
    });
    assert_eq!(
        correct.into_inner(),
        THREADS * EACH,
        "every well-behaved client got its answer"
    );
    assert!(server.alive());
    assert!(well_behaved(port, 9999), "still serving");
    drop(idle);
    let out = server.stop_at_baseline(baseline);
    let total = 1 + THREADS * EACH + 20 + 10 + 1;
    assert!(out.contains(&format!("{total} clients served")), "{out}");
    assert!(out.contains("10 line too long"), "{out}");
}

#[test]
fn help_shows_telnet_and_nc() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("lab"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "telnet 127.0.0.1 51423",
        "nc -N 127.0.0.1 51423",
        "lab serve --port 0",
        "--reuseaddr",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

#[test]
fn report_runs_in_the_sandbox_without_leaks() {
    let v = common::json(&["serve", "--report", "--leak-check"]);
    assert_eq!(v["lab"], "serve");
    // What the kernel carried and the server counted, from the typed data: 你好 is 6 bytes, 2 characters.
    let answers = v["data"]["answers"].as_array().unwrap();
    let zh = answers.iter().find(|a| a["case"] == "chinese").unwrap();
    assert_eq!(zh["counted"], serde_json::json!({"bytes": 6, "chars": 2}), "{zh}");
    let iterative = v["data"]["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mode"] == "iterative")
        .unwrap();
    assert!(
        iterative["after_silent_ms"].as_f64().unwrap() >= iterative["idle_ms"].as_f64().unwrap(),
        "{iterative}"
    );
    // The hostile mix against each design, each its own server process (reaped: --leak-check).
    let runs = v["data"]["designs"]["runs"]["Ok"]
        .as_array()
        .expect("the designs were measured");
    let run = |m: &str| &runs.iter().find(|r| r["mode"] == m).unwrap()["outcome"];
    let clients = v["data"]["designs"]["mix"]["clients"].as_u64().unwrap();
    assert_eq!(run("event")["wrong"], 0, "{}", run("event"));
    assert!(
        run("iterative")["answered"].as_u64().unwrap() < clients,
        "{}",
        run("iterative")
    );
    let cap = v["data"]["designs"]["mix"]["threads"].as_u64().unwrap();
    let th = run("threaded");
    assert!(th["peak_threads"].as_u64().unwrap() <= cap + 1, "{th}");
    // Three tables, and the packet ladder (a detail table) when the run captured.
    let captured = v["data"]["wire"]["Ok"].is_array();
    assert_eq!(v["tables"].as_array().unwrap().len(), 3 + captured as usize);
    for id in ["idle_blocks_iterative", "threads_hold_idle", "event_holds_all"] {
        assert!(
            v["findings"].as_array().unwrap().iter().any(|f| f["id"] == id),
            "{id}"
        );
    }
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["zh"].is_object()));
    // Every note has its Chinese text beside it, for docs/zh.
    let holders = std::iter::once(&v).chain(v["tables"].as_array().unwrap());
    for h in holders {
        let (en, zh) = (&h["notes"], &h["notes_zh"]);
        assert_eq!(
            en.as_array().map(Vec::len),
            zh.as_array().map(Vec::len),
            "{en} / {zh}"
        );
        for z in zh.as_array().unwrap() {
            assert!(has_cjk(z.as_str().unwrap()), "{z}");
        }
    }
}

#[test]
fn concurrent_mode_serves_at_most_max_concurrent_clients() {
    let server = Server::start(&["--mode", "concurrent", "--max-concurrent", "2", "--backlog", "8"]);
    let mut busy: Vec<TcpStream> = (0..2).map(|_| connect(server.port)).collect();
    for s in &mut busy {
        read_opening(s);
    }
    // A third client is accepted by the kernel but not served while two are in service.
    let mut third = connect(server.port);
    third.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut b = [0u8; 64];
    let early = third.read(&mut b);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "served beyond the cap: {early:?}"
    );
    // One of the two finishes: now the third is greeted.
    busy[0].write_all(b"done\n").unwrap();
    let mut answer = String::new();
    busy[0].read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "You entered 4 characters.\n");
    third.set_read_timeout(Some(STEP)).unwrap();
    assert_eq!(
        read_opening(&mut third),
        greeting_for(third.local_addr().unwrap())
    );
}

#[test]
fn a_line_over_the_limit_is_refused_even_without_a_newline() {
    let server = Server::start(&["--max-line", "8"]);
    let at_limit = talk(server.port, b"12345678", true);
    assert_eq!(at_limit.answer, b"You entered 8 characters.\n");
    let over = talk(server.port, b"123456789", true);
    assert!(
        String::from_utf8_lossy(&over.answer).contains("Line too long: the limit is 8 bytes"),
        "{:?}",
        String::from_utf8_lossy(&over.answer)
    );
}

/// A client that sends one byte at a time, each well inside the idle timeout, never a
/// newline: the server must still close it once a whole line's time (4 idle timeouts) is up.
#[test]
fn a_dripping_client_cannot_hold_the_server() {
    let server = Server::start(&["--idle-timeout", "1", "--quiet"]);
    let mut s = connect(server.port);
    read_opening(&mut s);
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    // Bounded: 150 drips of 0.1 s is 15 s, far past the 4 s the server allows.
    for _ in 0..150 {
        if s.write_all(b"x").is_err() {
            break;
        }
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if !got.is_empty() {
            break;
        }
    }
    s.set_read_timeout(Some(STEP)).unwrap();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("took more than 4 s"), "{text:?}");
    assert!(well_behaved(server.port, 1), "served again after the drip");
}

#[test]
fn the_largest_max_line_does_not_overflow() {
    let max = usize::MAX.to_string();
    let mut server = Server::start(&["--max-line", &max]);
    // No newline: the length check runs on a partial line.
    assert_eq!(
        talk(server.port, b"abc", true).answer,
        b"You entered 3 characters.\n"
    );
    assert!(server.alive());
}
