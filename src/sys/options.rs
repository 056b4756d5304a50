//! The socket options `lab options` studies, as one table in the style of Stevens'
//! `checkopts.c` (name, level, constant, how to read the value), plus the calls the
//! behaviour experiments need: MSG_OOB send/recv, SIOCATMARK, SIOCOUTQ, poll.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// How an option's value is laid out and how it should be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An `int` the kernel treats as yes/no.
    Flag,
    /// An `int` that keeps its value (a count, a time in seconds, a size in bytes of a segment).
    Int,
    /// An `int` buffer size in bytes.
    Bytes,
    /// `struct linger { l_onoff, l_linger }`.
    Linger,
    /// `struct timeval`; zero means "no timeout".
    Timeval,
    /// An `int` holding a socket type (SOCK_STREAM ...).
    SockType,
    /// An `int` holding a pending errno (0 = none).
    Errno,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flag => "flag",
            Kind::Int => "int",
            Kind::Bytes => "bytes",
            Kind::Linger => "linger",
            Kind::Timeval => "timeval",
            Kind::SockType => "type",
            Kind::Errno => "errno",
        }
    }

    /// The optlen getsockopt should return for this kind.
    pub fn size(self) -> usize {
        match self {
            Kind::Linger => std::mem::size_of::<libc::linger>(),
            Kind::Timeval => std::mem::size_of::<libc::timeval>(),
            _ => std::mem::size_of::<libc::c_int>(),
        }
    }
}

/// One row of the option table.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub name: &'static str,
    pub level: i32,
    pub level_name: &'static str,
    pub constant: i32,
    pub kind: Kind,
    /// What it does, in one line, with the man page that documents it.
    pub doc: &'static str,
}

const fn so(name: &'static str, constant: i32, kind: Kind, doc: &'static str) -> Opt {
    Opt {
        name,
        level: libc::SOL_SOCKET,
        level_name: "SOL_SOCKET",
        constant,
        kind,
        doc,
    }
}

const fn tcp(name: &'static str, constant: i32, kind: Kind, doc: &'static str) -> Opt {
    Opt {
        name,
        level: libc::IPPROTO_TCP,
        level_name: "IPPROTO_TCP",
        constant,
        kind,
        doc,
    }
}

/// Every option in the defaults table, in the learner's order, then the rest.
pub const OPTIONS: &[Opt] = &[
    so(
        "SO_REUSEADDR",
        libc::SO_REUSEADDR,
        Kind::Flag,
        "bind may reuse a local address still held by TIME-WAIT — socket(7)",
    ),
    so(
        "SO_REUSEPORT",
        libc::SO_REUSEPORT,
        Kind::Flag,
        "several sockets may bind the same address and port — socket(7)",
    ),
    so(
        "SO_KEEPALIVE",
        libc::SO_KEEPALIVE,
        Kind::Flag,
        "send keepalive probes on an idle connection — socket(7), tcp(7)",
    ),
    so(
        "SO_LINGER",
        libc::SO_LINGER,
        Kind::Linger,
        "what close() does with unsent data: wait, reset, or return — socket(7)",
    ),
    so(
        "SO_BROADCAST",
        libc::SO_BROADCAST,
        Kind::Flag,
        "permit sending datagrams to a broadcast address — socket(7)",
    ),
    so(
        "SO_OOBINLINE",
        libc::SO_OOBINLINE,
        Kind::Flag,
        "urgent (MSG_OOB) data stays in the normal stream — socket(7), tcp(7)",
    ),
    so(
        "SO_SNDBUF",
        libc::SO_SNDBUF,
        Kind::Bytes,
        "send buffer size; the kernel doubles what you set — socket(7)",
    ),
    so(
        "SO_RCVBUF",
        libc::SO_RCVBUF,
        Kind::Bytes,
        "receive buffer size; the kernel doubles what you set — socket(7)",
    ),
    so(
        "SO_TYPE",
        libc::SO_TYPE,
        Kind::SockType,
        "the socket's type, read-only — socket(7)",
    ),
    so(
        "SO_ERROR",
        libc::SO_ERROR,
        Kind::Errno,
        "the pending error; reading it clears it, read-only — socket(7)",
    ),
    so(
        "SO_RCVLOWAT",
        libc::SO_RCVLOWAT,
        Kind::Int,
        "bytes a read waits for before returning — socket(7)",
    ),
    so(
        "SO_SNDLOWAT",
        libc::SO_SNDLOWAT,
        Kind::Int,
        "send low-water mark; fixed at 1 on Linux — socket(7)",
    ),
    so(
        "SO_RCVTIMEO",
        libc::SO_RCVTIMEO,
        Kind::Timeval,
        "how long a blocking read may wait — socket(7)",
    ),
    so(
        "SO_SNDTIMEO",
        libc::SO_SNDTIMEO,
        Kind::Timeval,
        "how long a blocking write may wait — socket(7)",
    ),
    so(
        "SO_ACCEPTCONN",
        libc::SO_ACCEPTCONN,
        Kind::Flag,
        "is the socket listening? read-only — socket(7)",
    ),
    tcp(
        "TCP_NODELAY",
        libc::TCP_NODELAY,
        Kind::Flag,
        "send small segments at once, no Nagle delay — tcp(7)",
    ),
    tcp(
        "TCP_MAXSEG",
        libc::TCP_MAXSEG,
        Kind::Int,
        "maximum segment size in bytes — tcp(7)",
    ),
    tcp(
        "TCP_KEEPIDLE",
        libc::TCP_KEEPIDLE,
        Kind::Int,
        "idle seconds before the first keepalive probe — tcp(7)",
    ),
    tcp(
        "TCP_KEEPINTVL",
        libc::TCP_KEEPINTVL,
        Kind::Int,
        "seconds between keepalive probes — tcp(7)",
    ),
    tcp(
        "TCP_KEEPCNT",
        libc::TCP_KEEPCNT,
        Kind::Int,
        "unanswered probes before the connection is dropped — tcp(7)",
    ),
];

/// The option called `name` (exact, upper case).
pub fn find(name: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// A value as getsockopt returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Int(i32),
    Linger { on: bool, seconds: i32 },
    Time(Duration),
}

/// A read value and the optlen the kernel returned (checkopts flags a surprising length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub value: Value,
    pub len: usize,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// getsockopt(2) for any option in [`OPTIONS`], decoded by its kind — socket(7), tcp(7).
pub fn get(fd: &impl AsRawFd, opt: &Opt) -> io::Result<Read> {
    // Room for the largest kind (timeval); the returned len says how much was written.
    let mut buf = [0u8; 32];
    let mut len = opt.kind.size() as libc::socklen_t;
    // SAFETY: buf is valid for writes of `len` (<= 32) bytes; len is valid for writes.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            opt.level,
            opt.constant,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    let int = |at: usize| i32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let value = match opt.kind {
        Kind::Linger => Value::Linger {
            on: int(0) != 0,
            seconds: int(4),
        },
        Kind::Timeval => {
            let sec = i64::from_ne_bytes(buf[0..8].try_into().unwrap_or([0; 8]));
            let usec = i64::from_ne_bytes(buf[8..16].try_into().unwrap_or([0; 8]));
            Value::Time(Duration::from_secs(sec.max(0) as u64) + Duration::from_micros(usec.max(0) as u64))
        }
        _ => Value::Int(int(0)),
    };
    Ok(Read {
        value,
        len: len as usize,
    })
}

/// setsockopt(2) with an `int` for any option, even one whose kind is not `int`
/// (that is how SO_TYPE and SO_ERROR show they are read-only).
pub fn set_int(fd: &impl AsRawFd, opt: &Opt, value: i32) -> io::Result<()> {
    super::sockopt::set_int(fd, opt.level, opt.constant, value)
}

/// send(2) with MSG_OOB: the last byte becomes TCP urgent data — tcp(7) "Urgent data".
pub fn send_oob(fd: &impl AsRawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: data is valid for reads of its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), data.as_ptr().cast(), data.len(), libc::MSG_OOB) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// recv(2) that never blocks (MSG_DONTWAIT), with `oob` adding MSG_OOB — recv(2), tcp(7).
pub fn recv_now(fd: &impl AsRawFd, buf: &mut [u8], oob: bool) -> io::Result<usize> {
    let flags = libc::MSG_DONTWAIT | if oob { libc::MSG_OOB } else { 0 };
    // SAFETY: buf is valid for writes of its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// SIOCATMARK from <linux/sockios.h> (libc does not export it).
const SIOCATMARK: libc::c_ulong = 0x8905;

fn ioctl_int(fd: RawFd, request: libc::c_ulong) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    // SAFETY: these requests write one int through the pointer.
    check(unsafe { libc::ioctl(fd, request as _, &mut v) })?;
    Ok(v)
}

/// SIOCATMARK: is the next byte to read the urgent mark? — tcp(7), sockatmark(3).
pub fn at_mark(fd: &impl AsRawFd) -> io::Result<bool> {
    Ok(ioctl_int(fd.as_raw_fd(), SIOCATMARK)? != 0)
}

/// SIOCOUTQ: bytes in the send queue not yet acknowledged by the peer — tcp(7).
pub fn out_queue(fd: &impl AsRawFd) -> io::Result<i32> {
    ioctl_int(fd.as_raw_fd(), libc::TIOCOUTQ as libc::c_ulong)
}

/// SIOCINQ: bytes in the receive queue not yet read — tcp(7).
pub fn in_queue(fd: &impl AsRawFd) -> io::Result<i32> {
    ioctl_int(fd.as_raw_fd(), libc::FIONREAD as libc::c_ulong)
}

/// poll(2) for `events` with a bounded wait; returns the revents (0 on timeout).
pub fn poll(fd: &impl AsRawFd, events: i16, timeout: Duration) -> io::Result<i16> {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    Ok(super::poll::events(&[(fd.as_raw_fd(), events)], ms)?[0])
}

/// poll(2) revents as names: "POLLOUT|POLLERR|POLLHUP".
pub fn poll_names(revents: i16) -> String {
    let names: Vec<&str> = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLPRI, "POLLPRI"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLERR, "POLLERR"),
        (libc::POLLHUP, "POLLHUP"),
        (libc::POLLRDHUP, "POLLRDHUP"),
    ]
    .iter()
    .filter(|(bit, _)| revents & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        "none (timed out)".into()
    } else {
        names.join("|")
    }
}

/// close(2), returning its result (socket(7): with SO_LINGER on, close may block).
pub fn close(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // SAFETY: raw was an owned descriptor; ownership ends here, closed exactly once.
    check(unsafe { libc::close(raw) }).map(|_| ())
}

/// "SOCK_STREAM" for 1.
pub fn sock_type_name(t: i32) -> &'static str {
    match t {
        libc::SOCK_STREAM => "SOCK_STREAM",
        libc::SOCK_DGRAM => "SOCK_DGRAM",
        libc::SOCK_RAW => "SOCK_RAW",
        libc::SOCK_RDM => "SOCK_RDM",
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET",
        _ => "unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Socket, Type};

    #[test]
    fn every_option_reads_with_its_expected_length_on_tcp() {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        for o in OPTIONS {
            let r = get(&s, o).unwrap_or_else(|e| panic!("{}: {e}", o.name));
            assert_eq!(r.len, o.kind.size(), "{}", o.name);
        }
    }

    #[test]
    fn so_type_reads_the_type() {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        let r = get(&s, find("SO_TYPE").unwrap()).unwrap();
        assert_eq!(r.value, Value::Int(libc::SOCK_DGRAM));
    }

    #[test]
    fn option_names_are_unique() {
        for (i, o) in OPTIONS.iter().enumerate() {
            assert!(OPTIONS[i + 1..].iter().all(|p| p.name != o.name), "{}", o.name);
        }
    }
}
