//! SIGINT and SIGTERM as a readable file descriptor (signalfd(2)), so a server can
//! wait for "a client arrived" and "please stop" in one poll(2) instead of blocking
//! in an accept(2) that a signal cannot cleanly interrupt.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

/// SIGINT and SIGTERM blocked in the calling thread (and in threads it spawns later)
/// and delivered through a signalfd — signalfd(2), sigprocmask(2).
pub struct StopSignals {
    fd: SignalFd,
    mask: SigSet,
}

impl StopSignals {
    /// Blocks SIGINT/SIGTERM in this thread and opens the signalfd; call it before
    /// spawning threads so that none of them takes the default (fatal) action.
    pub fn new() -> io::Result<StopSignals> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.thread_block().map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(io::Error::from)?;
        Ok(StopSignals { fd, mask })
    }

    /// The name of a pending stop signal ("SIGINT"), if one arrived; never blocks.
    pub fn pending(&self) -> io::Result<Option<&'static str>> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Ok(Some(match info.ssi_signo as i32 {
                libc::SIGINT => "SIGINT",
                libc::SIGTERM => "SIGTERM",
                _ => "signal",
            })),
            Ok(None) => Ok(None),
            Err(nix::errno::Errno::EAGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for StopSignals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for StopSignals {
    /// Unblocks the signals again, so a later Ctrl-C acts as usual.
    fn drop(&mut self) {
        let _ = self.mask.thread_unblock();
    }
}
