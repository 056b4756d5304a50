//! Writing a sysctl only where it cannot touch the host: a thread that sits in a
//! network namespace of its own (namespaces(7), /proc/thread-self/ns/net).

use std::io;

/// True when the calling thread's network namespace differs from the process's
/// main thread's (readlink /proc/thread-self/ns/net vs /proc/self/ns/net, proc(5)).
pub fn thread_has_own_netns() -> bool {
    let mine = std::fs::read_link("/proc/thread-self/ns/net");
    let process = std::fs::read_link("/proc/self/ns/net");
    matches!((mine, process), (Ok(a), Ok(b)) if a != b)
}

/// Writes a per-namespace sysctl (proc(5) /proc/sys/net) after checking that this
/// thread has its own network namespace; refuses with EPERM otherwise.
pub fn write_here(name: &str, value: &str) -> io::Result<()> {
    if !thread_has_own_netns() {
        return Err(io::Error::from_raw_os_error(libc::EPERM));
    }
    super::proc::write_sysctl(name, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_thread_is_never_written_to() {
        // The test harness runs this on a thread in the process's namespace.
        assert!(!thread_has_own_netns());
        let e = write_here("net.core.somaxconn", "4").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn a_fresh_namespace_takes_the_write_when_privileged() {
        let r = crate::sys::netns::in_fresh_netns(|| {
            let own = thread_has_own_netns();
            let w = write_here("net.core.somaxconn", "4");
            let read = crate::sys::proc::read_sysctl_int("net.core.somaxconn");
            (own, w.is_ok(), read.ok())
        });
        match r {
            Ok((own, wrote, read)) => {
                assert!(own);
                assert!(wrote);
                assert_eq!(read, Some(4));
            }
            // Without the privilege to make a namespace, the refusal must be a permission one.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        }
    }
}
