//! The only place for raw system calls: integer socket options, errno names,
//! namespaces, sock_diag, /proc and sysctl reads. Labs call these, never libc.

pub mod capture;
pub mod connect;
pub mod diag;
pub mod fileio;
pub mod link;
pub mod net;
pub mod netns;
pub mod options;
pub mod poll;
pub mod privilege;
pub mod proc;
pub mod rlimit;
pub mod secs;
pub mod signal;
pub mod socket;
pub mod sockopt;
pub mod splice;
pub mod sysctl_ns;

use std::io;

/// The symbolic errno name for an I/O error ("EADDRINUSE"), or its Display text
/// when it carries no OS code.
pub fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => errno_code_name(code),
        None => match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout".into(),
            _ => e.to_string(),
        },
    }
}

/// "EPROTONOSUPPORT" for 93; "errno 4242" for a code nix does not know.
pub fn errno_code_name(code: i32) -> String {
    let name = format!("{:?}", nix::errno::Errno::from_raw(code));
    if name == "UnknownErrno" {
        format!("errno {code}")
    } else {
        name
    }
}

/// The kernel release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Number of open file descriptors of this process.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Number of threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_names_are_symbolic() {
        assert_eq!(errno_code_name(libc::EADDRINUSE), "EADDRINUSE");
        assert_eq!(errno_code_name(libc::EPROTONOSUPPORT), "EPROTONOSUPPORT");
        assert_eq!(errno_code_name(4242), "errno 4242");
    }
}
