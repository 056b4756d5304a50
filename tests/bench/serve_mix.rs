//! The hostile mix (lab::line::hostile) against each of `lab serve`'s designs, one server
//! process each, one after the other; prints one line of figures per design. A benchmark, not
//! a test: it asserts nothing. Run by tests/bench/serve_mix.sh.
//!
//!   cargo run --release --example serve_mix [LAB_BINARY]

use lab::line::hostile::{self, Mix, Outcome};
use lab::line::server::Mode;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `lab serve` process, killed when dropped.
struct Server(Child, SocketAddr);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(lab: &str, mode: Mode, cap: usize, backlog: i32) -> Server {
    let mut child = Command::new(lab)
        .args(["serve", "--port", "0", "--quiet", "--mode", mode.name()])
        .args([
            "--max-concurrent",
            &cap.to_string(),
            "--backlog",
            &backlog.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lab serve");
    let mut first = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out).read_line(&mut first).expect("first line");
    let port: u16 = first
        .strip_prefix("Server is running on port ")
        .and_then(|r| r.split(';').next())
        .and_then(|p| p.parse().ok())
        .expect("a port in the first line");
    Server(child, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn show(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

fn row(design: &str, o: &Outcome) {
    println!(
        "{design:<34} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>6}",
        o.answered,
        o.lost + o.wrong,
        o.not_started,
        show(o.median_ms),
        show(o.p99_ms),
        o.giant_refused,
        o.garbage_answered,
        o.peak_rss_kib
            .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        o.peak_threads.map_or("-".into(), |t| t.to_string()),
        o.peak_fds.map_or("-".into(), |t| t.to_string()),
        format!("{}/{}", o.fds_after.unwrap_or(0), o.fds_before.unwrap_or(0)),
    );
}

fn main() {
    let lab = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/lab".into());
    let _ = lab::sys::rlimit::raise_nofile();
    let mix = Mix {
        budget: Duration::from_secs(30),
        ..Mix::standard()
    };
    println!(
        "mix: {} clients, {} at once, {} idle (re-opened when closed), {} lines of {} KiB without newline, \
         {} resets, {} non-UTF-8 lines; {} s per client, {} s budget",
        mix.clients,
        mix.at_once,
        mix.idle,
        mix.giant,
        mix.giant_bytes >> 10,
        mix.resets,
        mix.garbage,
        mix.timeout.as_secs(),
        mix.budget.as_secs()
    );
    println!(
        "{:<34} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>5} {:>6}",
        "design",
        "answered",
        "lost",
        "unrun",
        "med ms",
        "p99 ms",
        "giant",
        "non-utf8",
        "RSS MiB",
        "threads",
        "fds",
        "after"
    );
    let designs = [
        (
            "iterative (the book)",
            Mode::Iterative,
            Mode::Iterative.default_max_concurrent(),
            1,
        ),
        ("threaded, 64 threads, listen(1)", Mode::Threaded, 64, 1),
        (
            "threaded (defaults)",
            Mode::Threaded,
            Mode::Threaded.default_max_concurrent(),
            Mode::Threaded.default_backlog(),
        ),
        (
            "event = concurrent (defaults)",
            Mode::Event,
            Mode::Event.default_max_concurrent(),
            Mode::Event.default_backlog(),
        ),
    ];
    for (name, mode, cap, backlog) in designs {
        let server = start(&lab, mode, cap, backlog);
        let out = hostile::drive(server.1, &mix, Some(server.0.id()));
        row(name, &out);
    }
}
