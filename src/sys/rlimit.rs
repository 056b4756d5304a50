//! The descriptor limit (RLIMIT_NOFILE): servers that hold thousands of clients at once raise
//! the soft limit to the hard one, which an unprivileged process may do — getrlimit(2).

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::io;

/// The soft and hard limits on open descriptors.
pub fn nofile() -> io::Result<(u64, u64)> {
    getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)
}

/// Raises the soft limit to the hard limit; returns the soft limit now in force.
/// The default soft limit (often 1024) is kept low for select(2) users, which this lab has none of.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = nofile()?;
    if soft >= hard {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    #[test]
    fn raising_reaches_the_hard_limit() {
        let now = super::raise_nofile().unwrap();
        assert_eq!(super::nofile().unwrap(), (now, now));
    }
}
