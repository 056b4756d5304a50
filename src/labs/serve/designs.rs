//! The book's three designs under one small hostile mix: each design is a `lab serve`
//! process of its own (this binary, `serve --mode M --port 0 --quiet`), started inside the
//! lab's namespace, driven by `crate::line::hostile::drive`, then killed and reaped. The
//! three runs go side by side, so the lab waits for the slowest one only (about the budget
//! plus one client time-out). Every wait is bounded.

use super::measure::ServerMode;
use crate::line::hostile::{self, Mix, Outcome};
use crate::report::{Measured, Unmeasured};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The mix, small enough for `lab all`: a few hundred clients, more idle clients than the
/// threaded run has threads.
pub const SPEC: MixSpec = MixSpec {
    clients: 300,
    at_once: 20,
    idle: 12,
    giant: 3,
    giant_bytes: 256 << 10,
    resets: 5,
    garbage: 10,
    timeout_ms: 250,
    budget_ms: 300,
    server_idle_s: 10,
    backlog: 1024,
    threads: 8,
};

/// How long a server may take to print its port.
const START: Duration = Duration::from_secs(5);

/// The mix and the servers' settings, as run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixSpec {
    /// Well-behaved clients in all, and at once.
    pub clients: usize,
    pub at_once: usize,
    /// Connections held that never send.
    pub idle: usize,
    /// Lines of `giant_bytes` with no newline.
    pub giant: usize,
    pub giant_bytes: usize,
    /// Clients that reset (SO_LINGER 0) halfway through a line.
    pub resets: usize,
    /// Lines that are not UTF-8.
    pub garbage: usize,
    /// Longest one client may take; no client starts after the budget.
    pub timeout_ms: u64,
    pub budget_ms: u64,
    /// The servers' --idle-timeout (longer than the run: idle clients stay idle).
    pub server_idle_s: u64,
    /// Every server's --backlog, so that no connect waits for a SYN retransmission.
    pub backlog: i32,
    /// The threaded server's --max-concurrent.
    pub threads: usize,
}

impl MixSpec {
    pub fn mix(&self) -> Mix {
        Mix {
            clients: self.clients,
            at_once: self.at_once,
            idle: self.idle,
            giant: self.giant,
            giant_bytes: self.giant_bytes,
            resets: self.resets,
            garbage: self.garbage,
            timeout: Duration::from_millis(self.timeout_ms),
            budget: Duration::from_millis(self.budget_ms),
        }
    }

    /// The --max-concurrent each design runs with.
    pub fn cap(&self, mode: ServerMode) -> usize {
        match mode {
            ServerMode::Iterative => 1,
            ServerMode::Threaded => self.threads,
            ServerMode::Event => 16_384,
        }
    }
}

/// One design under the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub mode: ServerMode,
    /// Its --max-concurrent.
    pub cap: usize,
    pub outcome: Outcome,
}

impl Design {
    /// Connections the server held at its peak: its most descriptors less its baseline.
    pub fn held(&self) -> Option<usize> {
        let o = &self.outcome;
        Some(o.peak_fds?.saturating_sub(o.fds_before?))
    }
    /// Well-behaved clients that got no answer, started or not.
    pub fn unanswered(&self) -> usize {
        let o = &self.outcome;
        o.lost + o.wrong + o.not_started
    }
}

/// The three runs, or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Designs {
    pub mix: MixSpec,
    pub runs: Measured<Vec<Design>>,
}

pub fn measure() -> Designs {
    Designs {
        mix: SPEC,
        runs: lab_binary().and_then(|exe| run_all(&exe, &SPEC)),
    }
}

/// This process, if it is the lab binary (a test harness is not).
fn lab_binary() -> Measured<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Unmeasured::Kernel {
        errno: crate::sys::errno_name(&e),
    })?;
    if exe.file_stem().is_some_and(|s| s == "lab") {
        Ok(exe)
    } else {
        Err(Unmeasured::Missing {
            program: "lab (this process is not the lab binary)".into(),
        })
    }
}

fn run_all(exe: &Path, spec: &MixSpec) -> Measured<Vec<Design>> {
    let modes = [ServerMode::Iterative, ServerMode::Threaded, ServerMode::Event];
    std::thread::scope(|s| {
        let hs: Vec<_> = modes
            .iter()
            .map(|&m| s.spawn(move || run_one(exe, spec, m)))
            .collect();
        hs.into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Unmeasured::Kernel {
                        errno: "the driver panicked".into(),
                    })
                })
            })
            .collect()
    })
}

/// A `lab serve` process, killed and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mode_arg(m: ServerMode) -> &'static str {
    match m {
        ServerMode::Iterative => "iterative",
        ServerMode::Threaded => "threaded",
        ServerMode::Event => "event",
    }
}

fn refused(what: &str) -> Unmeasured {
    Unmeasured::Kernel {
        errno: what.to_string(),
    }
}

fn run_one(exe: &Path, spec: &MixSpec, mode: ServerMode) -> Measured<Design> {
    let cap = spec.cap(mode);
    let child = Command::new(exe)
        .args(["serve", "--port", "0", "--quiet", "--mode", mode_arg(mode)])
        .args(["--max-concurrent", &cap.to_string()])
        .args(["--backlog", &spec.backlog.to_string()])
        .args(["--idle-timeout", &spec.server_idle_s.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| refused(&format!("spawn lab serve: {}", crate::sys::errno_name(&e))))?;
    let mut server = Server(child);
    let stdout = server.0.stdout.take().ok_or_else(|| refused("no stdout"))?;
    let port = first_line_port(stdout).ok_or_else(|| refused("lab serve printed no port"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let outcome = hostile::drive(addr, &spec.mix(), Some(server.0.id()));
    drop(server);
    Ok(Design { mode, cap, outcome })
}

/// The port in "Server is running on port N; ...", read within START.
fn first_line_port(mut out: std::process::ChildStdout) -> Option<u16> {
    let deadline = Instant::now() + START;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.contains(&b'\n') {
        let left = deadline.checked_duration_since(Instant::now())?;
        let ready = crate::sys::poll::readable(&[&out], Some(left)).ok()?;
        if ready[0] {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }
    parse_port(&String::from_utf8_lossy(&got))
}

pub fn parse_port(line: &str) -> Option<u16> {
    line.strip_prefix("Server is running on port ")?
        .split(';')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_from_the_first_line() {
        assert_eq!(
            parse_port("Server is running on port 40123; press Ctrl-C to terminate.\n"),
            Some(40123)
        );
        assert_eq!(parse_port("lab: error: ..."), None);
    }

    // The mix shows the thread cap (more idle clients than threads), and the servers'
    // idle time-out outlasts the run (idle clients stay idle).
    const _: () = assert!(SPEC.idle > SPEC.threads);
    const _: () = assert!(SPEC.server_idle_s * 1000 > SPEC.budget_ms + SPEC.timeout_ms);
}
