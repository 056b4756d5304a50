//! Network namespaces: unshare(2) for a private stack, user_namespaces(7) when
//! unprivileged, and bringing `lo` up (it starts down: connect gives ENETUNREACH).

use nix::sched::{unshare, CloneFlags};
use std::io;

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Moves the calling thread into a new network namespace (needs CAP_SYS_ADMIN).
pub fn unshare_net() -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(nix_err)
}

/// Moves a single-threaded process into a new user and network namespace and
/// maps the caller to root inside it. CLONE_NEWUSER gives EINVAL when the
/// process has more than one thread, so this runs in a freshly forked child.
pub fn unshare_user_net(outer_uid: u32, outer_gid: u32) -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).map_err(nix_err)?;
    // setgroups must be denied before an unprivileged process may write gid_map.
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("0 {outer_uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {outer_gid} 1"))?;
    Ok(())
}

/// prctl(PR_SET_PDEATHSIG, SIGKILL), prctl(2): the calling (forked sandbox) child is killed
/// when the thread that forked it dies, so it cannot outlive a parent that was killed. Returns
/// false when the parent `parent` is already gone (the signal would never come).
pub fn die_with_parent(parent: nix::unistd::Pid) -> bool {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no pointers are involved.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    rc == 0 && nix::unistd::getppid() == parent
}

/// Sets IFF_UP on `lo` in the calling thread's namespace (SIOCSIFFLAGS, netdevice(7)).
pub fn loopback_up() -> io::Result<()> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: fd is a live socket and req a valid ifreq for these requests.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == -1 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `f` on a scoped thread inside a brand-new network namespace with `lo` up.
/// The namespace dies with the thread and the sockets it opened. Works as root,
/// and inside a user namespace the lab created; elsewhere it returns the error.
pub fn in_fresh_netns<T: Send>(f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            unshare_net()?;
            loopback_up()?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_netns_has_loopback_up_and_leaves_caller_alone() {
        let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let inside = in_fresh_netns(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
        match inside {
            Ok(ns) => {
                assert_ne!(ns, before, "the thread must see another namespace");
                // A connect to a closed port in the new namespace is refused, not unreachable: lo is up.
                let r = in_fresh_netns(|| std::net::TcpStream::connect("127.0.0.1:9").map(|_| ()));
                let err = r.unwrap().unwrap_err();
                assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
            }
            Err(e) => assert_eq!(
                e.raw_os_error(),
                Some(libc::EPERM),
                "only lack of privilege may stop it"
            ),
        }
        assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), before);
    }
}
