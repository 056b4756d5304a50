//! Integer-valued getsockopt/setsockopt. socket2 only takes `bool` for flags;
//! the lab must pass the learner's 50 and -1 through untouched.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// getsockopt(2) for an `int`-sized option.
pub fn get_int(fd: &impl AsRawFd, level: i32, name: i32) -> io::Result<i32> {
    get_int_raw(fd.as_raw_fd(), level, name)
}

/// getsockopt(2) for an `int`-sized option on a raw descriptor.
pub fn get_int_raw(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut val: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: val and len are valid for writes of the sizes given.
    check(unsafe { libc::getsockopt(fd, level, name, (&mut val as *mut i32).cast(), &mut len) })?;
    Ok(val)
}

/// setsockopt(2) with an `int` value, exactly as C and Python pass it.
pub fn set_int(fd: &impl AsRawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value lives for the call and len matches its size.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const i32).cast(), len) })
}

/// SO_LINGER as (on, seconds) — socket(7).
pub fn get_linger(fd: &impl AsRawFd) -> io::Result<(bool, i32)> {
    let mut l = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: l and len are valid for writes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&mut l as *mut libc::linger).cast(),
            &mut len,
        )
    })?;
    Ok((l.l_onoff != 0, l.l_linger))
}

/// SO_LINGER set to {onoff, seconds} — socket(7).
pub fn set_linger(fd: &impl AsRawFd, onoff: i32, seconds: i32) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: onoff,
        l_linger: seconds,
    };
    let len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: l lives for the call and len matches its size.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            len,
        )
    })
}

/// A `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO); zero means "no timeout".
pub fn get_timeval(fd: &impl AsRawFd, name: i32) -> io::Result<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: tv and len are valid for writes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    })?;
    Ok(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Socket, Type};

    #[test]
    fn fifty_reads_back_as_one() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 50).unwrap();
        assert_eq!(get_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(), 1);
        set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, 0).unwrap();
        assert_eq!(get_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(), 0);
    }

    #[test]
    fn linger_round_trips() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        set_linger(&s, 1, 7).unwrap();
        assert_eq!(get_linger(&s).unwrap(), (true, 7));
    }
}
