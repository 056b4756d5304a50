//! Waiting on several descriptors at once (poll(2)) and asking how many bytes
//! are queued unread (ioctl FIONREAD, tcp(7) "SIOCINQ").

use nix::poll::{PollFd, PollFlags, PollTimeout};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

/// poll(2) for readability on each fd; `None` waits without limit. Returns which fds are
/// readable (or hung up / in error, which a read will report). An EINTR counts as "nothing yet".
pub fn readable(fds: &[&dyn AsFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd> = fds
        .iter()
        .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
        .collect();
    let t = match timeout {
        None => PollTimeout::NONE,
        // Round up so a 0.4 ms remainder does not become a busy zero-timeout loop.
        Some(d) => PollTimeout::try_from(d.as_millis().saturating_add(1).min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX),
    };
    match nix::poll::poll(&mut pfds, t) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok(vec![false; fds.len()]),
        Err(e) => return Err(e.into()),
    }
    Ok(pfds
        .iter()
        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
        .collect())
}

/// poll(2) on `fds` with the given events each; returns revents in the same order
/// (POLLOUT = writable, POLLIN = readable, POLLERR/POLLHUP = failed or closed).
pub fn events(fds: &[(RawFd, i16)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pollfd of the length passed.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![0; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

/// ioctl(FIONREAD): bytes received and not yet read on a socket — tcp(7) SIOCINQ.
pub fn unread_bytes(fd: &impl AsRawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int to the pointer given.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}
