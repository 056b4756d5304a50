//! Where an experiment runs: a private network namespace when possible, so
//! counters start clean, sysctls may be changed and the host is untouched.
//!
//! - root: a scoped thread calls unshare(CLONE_NEWNET); the rest of the process stays put.
//! - unprivileged: a forked child enters a user+network namespace (CLONE_NEWUSER needs a
//!   single-threaded process) and sends its report back as JSON over a pipe.
//! - neither possible, or `--no-sandbox`: the host, and the report says so.

use crate::report::{Report, Text, COMMON};
use crate::sys::{self, netns, proc};
use crate::t;
use anyhow::{anyhow, Context, Result};
use std::io::{IsTerminal, Read, Write};

/// What the experiment is told about where it runs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// "netns", "userns+netns" or "host".
    pub sandbox: &'static str,
    pub sandbox_note: String,
    /// `sandbox_note` in Simplified Chinese.
    pub sandbox_note_zh: String,
    /// True when sysctls of this namespace may be written (a private namespace we own).
    pub can_set_sysctls: bool,
    /// True when the lab may create further fresh namespaces (one per scenario).
    pub can_nest: bool,
    /// Euid outside any user namespace.
    pub outer_uid: u32,
    /// Whether packets are captured, and where pcap files go.
    pub tap: Tap,
    progress: bool,
}

/// Packet capture as the command line asked: on unless `--no-capture`; pcap files in
/// `pcap` (a directory) with `--pcap DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tap {
    pub on: bool,
    pub pcap: Option<std::path::PathBuf>,
}

impl Default for Tap {
    fn default() -> Self {
        Tap { on: true, pcap: None }
    }
}

impl Ctx {
    /// A context for the host, with nothing isolated.
    pub fn host(note: Text) -> Ctx {
        Ctx {
            sandbox: "host",
            sandbox_note: note.en,
            sandbox_note_zh: note.zh,
            can_set_sysctls: false,
            can_nest: false,
            outer_uid: nix::unistd::geteuid().as_raw(),
            tap: Tap::default(),
            progress: std::io::stderr().is_terminal(),
        }
    }

    /// True when this run captures packets: asked for, and inside namespaces the lab made
    /// (a host run never captures).
    pub fn captures(&self) -> bool {
        self.tap.on && self.can_nest
    }

    /// A progress line on stderr, only when a person is watching it.
    pub fn progress(&self, msg: &str) {
        if self.progress {
            eprintln!("lab: {msg}");
        }
    }

    /// Runs `f` in its own fresh namespace when possible, else right here;
    /// the bool says which. Labs use it to give each scenario a clean port space.
    pub fn isolated<T: Send>(&self, f: impl FnOnce() -> T + Send) -> (T, bool) {
        if self.can_nest {
            // in_fresh_netns only fails before calling f, so f is not lost: it is
            // moved in only on success. Keep it simple: try, and on error run here.
            let cell = std::sync::Mutex::new(Some(f));
            match netns::in_fresh_netns(|| (cell.lock().unwrap().take().unwrap())()) {
                Ok(v) => return (v, true),
                Err(_) => {
                    let f = cell.into_inner().unwrap().expect("f not yet run");
                    return (f(), false);
                }
            }
        }
        (f(), false)
    }
}

impl Ctx {
    /// Runs `f` once per item, each in its own fresh namespace and side by side when the
    /// sandbox allows (scenarios then share no port space and no counters), else one after
    /// another here. The bool says whether that item ran isolated.
    pub fn each_isolated<I: Sync, T: Send>(&self, items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<(T, bool)> {
        if !self.can_nest {
            return items.iter().map(|i| (f(i), false)).collect();
        }
        std::thread::scope(|s| {
            let hs: Vec<_> = items.iter().map(|i| s.spawn(|| self.isolated(|| f(i)))).collect();
            hs.into_iter().map(sys::net::join).collect()
        })
    }
}

/// How the user asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Host,
}

/// Runs one experiment in the best sandbox available and stamps its environment.
pub fn run<F>(mode: Mode, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report> + Send,
{
    run_tapped(mode, &Tap::default(), f)
}

/// [`run`], capturing packets as `tap` says.
pub fn run_tapped<F>(mode: Mode, tap: &Tap, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report> + Send,
{
    let started = std::time::Instant::now();
    let euid = nix::unistd::geteuid().as_raw();
    let mut report = match mode {
        Mode::Host => stamped(&Ctx::host(t!(COMMON, "sandbox.host_flag")), f)?,
        Mode::Auto if euid == 0 => run_as_root(tap, f)?,
        Mode::Auto => run_unprivileged(tap, f)?,
    };
    report.environment.uid = euid;
    report.environment.privileged = euid == 0;
    report.elapsed_ms = (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0;
    Ok(report)
}

/// Runs `f` in the current namespace and fills in what it ran on.
fn stamped<F>(ctx: &Ctx, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report>,
{
    let mut report = f(ctx)?;
    let env = &mut report.environment;
    env.kernel = sys::kernel_release();
    env.sandbox = ctx.sandbox.into();
    env.sandbox_note = ctx.sandbox_note.clone();
    env.sandbox_note_zh = ctx.sandbox_note_zh.clone();
    env.sysctls = proc::env_sysctls();
    Ok(report)
}

/// Gives each scenario namespace made from the lab's own its own small TCP socket table
/// (tcp_child_ehash_entries, Linux 6.1+), not a share of the host-sized one: the socket
/// table dump the labs read walks every bucket, about 2 ms for the host's 262144 here.
/// 16384 buckets keep up to 8192 TIME-WAIT sockets per scenario. A kernel without it
/// keeps the shared table; `environment.sysctls` records which.
fn small_child_tables(write: fn(&str, &str) -> std::io::Result<()>) {
    let _ = write("net.ipv4.tcp_child_ehash_entries", "16384");
}

fn run_as_root<F>(tap: &Tap, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report> + Send,
{
    let note = t!(COMMON, "sandbox.netns");
    let ctx = Ctx {
        sandbox: "netns",
        sandbox_note: note.en,
        sandbox_note_zh: note.zh,
        can_set_sysctls: true,
        can_nest: true,
        tap: tap.clone(),
        ..Ctx::host(Text::default())
    };
    let cell = std::sync::Mutex::new(Some(f));
    let take = || cell.lock().unwrap().take().expect("experiment runs once");
    match netns::in_fresh_netns(|| {
        small_child_tables(sys::sysctl_ns::write_here);
        stamped(&ctx, take())
    }) {
        Ok(r) => r,
        Err(e) => {
            let note = t!(COMMON, "sandbox.no_netns", errno = sys::errno_name(&e));
            stamped(&Ctx::host(note), take())
        }
    }
}

fn run_unprivileged<F>(tap: &Tap, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report>,
{
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    // O_CLOEXEC: a process the experiment spawns must not inherit the write end, or the
    // parent's read would wait for that process too, not only for the child.
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe for the sandbox child")?;
    let parent = nix::unistd::getpid();
    // SAFETY: the child only runs the experiment and exits with _exit; the parent
    // only reads the pipe and reaps the child.
    match unsafe { nix::unistd::fork() }.context("fork the sandbox child")? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            if !netns::die_with_parent(parent) {
                // SAFETY: the parent is gone; nobody will read a report.
                unsafe { libc::_exit(1) }
            }
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child_body(uid, gid, tap, f)));
            let msg = match result {
                Ok(Ok(r)) => serde_json::json!({ "ok": r }),
                Ok(Err(e)) => serde_json::json!({ "err": format!("{e:#}") }),
                Err(_) => serde_json::json!({ "err": "the experiment panicked" }),
            };
            let mut w = std::fs::File::from(wr);
            let _ = w.write_all(msg.to_string().as_bytes());
            drop(w);
            // SAFETY: leave without running the parent's atexit handlers or destructors twice.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut text = String::new();
            // Bounded by the child's life: only the child holds the write end (O_CLOEXEC).
            let read = std::fs::File::from(rd).read_to_string(&mut text);
            let status = loop {
                match nix::sys::wait::waitpid(child, None) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    r => break r,
                }
            };
            read.context("read the sandbox child's report")?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
                let how = match status {
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
                    Ok(s) => format!("{s:?}"),
                    Err(e) => format!("waitpid: {e}"),
                };
                anyhow!("the sandbox child ended without a report ({how})")
            })?;
            if let Some(e) = v.get("err").and_then(|e| e.as_str()) {
                return Err(anyhow!("{e}"));
            }
            serde_json::from_value(v["ok"].clone()).context("decode the sandbox child's report")
        }
    }
}

fn child_body<F>(uid: u32, gid: u32, tap: &Tap, f: F) -> Result<Report>
where
    F: FnOnce(&Ctx) -> Result<Report>,
{
    match netns::unshare_user_net(uid, gid).and_then(|_| netns::loopback_up()) {
        Ok(()) => {
            // The whole child is in the new namespace (there is no other thread).
            small_child_tables(proc::write_sysctl);
            let note = t!(COMMON, "sandbox.userns", uid = uid);
            let ctx = Ctx {
                sandbox: "userns+netns",
                sandbox_note: note.en,
                sandbox_note_zh: note.zh,
                can_set_sysctls: true,
                can_nest: true,
                outer_uid: uid,
                tap: tap.clone(),
                ..Ctx::host(Text::default())
            };
            stamped(&ctx, f)
        }
        Err(e) => {
            let note = t!(COMMON, "sandbox.no_userns", errno = sys::errno_name(&e));
            stamped(&Ctx::host(note), f)
        }
    }
}
