//! Running a measurement with fewer privileges: a forked child that gives up root
//! (setgroups(2), setgid(2), setuid(2)) or its capabilities (capset(2)), and hands its
//! answer back over a pipe before leaving with _exit(2). The parent waits a bounded time.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// True when this process is in the initial user namespace (user_namespaces(7): its
/// /proc/self/uid_map is the identity map "0 0 4294967295"), so uid 0 is the real root.
pub fn in_initial_user_ns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// Becomes uid/gid `id` with no supplementary groups: setgroups([]), setgid, setuid — in that
/// order, since setgid and setgroups need the privilege setuid gives up. Then sets the
/// process dumpable again (prctl(2) PR_SET_DUMPABLE) so it may still write its own
/// /proc/self/uid_map should it create a user namespace.
pub fn become_user(id: u32) -> io::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
    setgroups(&[]).map_err(nix_err)?;
    setgid(Gid::from_raw(id)).map_err(nix_err)?;
    setuid(Uid::from_raw(id)).map_err(nix_err)?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Drops every capability of the calling process: capset(2) with empty effective,
/// permitted and inheritable sets (capabilities(7)). Used inside a user namespace, where
/// uid 0 cannot become another uid (only one uid is mapped) but can shed its capabilities.
pub fn drop_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522; // _LINUX_CAPABILITY_VERSION_3: two Data words
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and data are valid, correctly laid out and live for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` in a forked child and returns the text it produced. The child writes it to a
/// pipe and leaves with _exit, so no destructor or atexit handler of the parent runs twice.
/// Waits at most `timeout` in all; a child still running then is killed and reaped.
///
/// The child is a copy of one thread only: `f` must not wait on other threads' locks.
pub fn in_child(timeout: Duration, f: impl FnOnce() -> String) -> io::Result<String> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(nix_err)?;
    // SAFETY: the child runs `f`, writes, and calls _exit; the parent only reads and reaps.
    match unsafe { nix::unistd::fork() }.map_err(nix_err)? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| "the child panicked".into());
            let mut w = std::fs::File::from(wr);
            let ok = w.write_all(text.as_bytes()).is_ok();
            drop(w);
            // SAFETY: leave at once, without the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let deadline = Instant::now() + timeout;
            let read = read_until(rd, deadline);
            reap(child, deadline)?;
            read
        }
    }
}

/// The most a child may answer: its answers are a few kilobytes of JSON.
const MAX_ANSWER: usize = 16 << 20;

/// Reads the pipe to its end, giving up at `deadline` or past [`MAX_ANSWER`] bytes.
fn read_until(rd: OwnedFd, deadline: Instant) -> io::Result<String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut file = std::fs::File::from(rd);
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "child did not answer in time",
            ));
        }
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(nix_err(e)),
        }
        match file.read(&mut chunk)? {
            0 => break,
            n => out.extend_from_slice(&chunk[..n]),
        }
        if out.len() > MAX_ANSWER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("child answered more than {MAX_ANSWER} bytes"),
            ));
        }
    }
    String::from_utf8(out).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Waits for the child until `deadline`, then kills it; always reaps it.
fn reap(child: nix::unistd::Pid, deadline: Instant) -> io::Result<()> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                // SIGKILL cannot be caught: this wait is short.
                waitpid(child, None).map_err(nix_err)?;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "child killed after the deadline",
                ));
            }
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(nix_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_answers_through_the_pipe() {
        let got = in_child(Duration::from_secs(5), || format!("pid {}", std::process::id())).unwrap();
        assert!(got.starts_with("pid "), "{got}");
        assert_ne!(
            got,
            format!("pid {}", std::process::id()),
            "it ran in another process"
        );
    }

    #[test]
    fn a_stuck_child_is_killed_in_time() {
        let r = in_child(Duration::from_millis(200), || {
            std::thread::sleep(Duration::from_secs(30));
            String::new()
        });
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn an_endless_answer_is_cut_off() {
        let r = in_child(Duration::from_secs(20), || "x".repeat(MAX_ANSWER + 1));
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn dropped_child_is_really_unprivileged() {
        if !nix::unistd::geteuid().is_root() || !in_initial_user_ns() {
            return;
        }
        let got = in_child(Duration::from_secs(5), || match become_user(65534) {
            Ok(()) => crate::report::outcome(&crate::sys::socket::socket(
                libc::AF_INET,
                libc::SOCK_RAW,
                libc::IPPROTO_ICMP,
            ))
            .to_string(),
            Err(e) => e.to_string(),
        })
        .unwrap();
        assert_eq!(got, "\"EPERM\"", "raw socket without CAP_NET_RAW");
    }
}
