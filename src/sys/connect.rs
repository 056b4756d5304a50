//! Many connections at once: non-blocking connect(2), and TCP_INFO (tcp(7)) to watch a connecting socket retransmit its SYN.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A TCP socket with O_NONBLOCK whose connect(2) has been started; the result is
/// Ok(()) for an immediate connect, Ok for EINPROGRESS too (the usual case), or the errno.
pub fn start_connect(addr: SocketAddr) -> io::Result<(Socket, io::Result<()>)> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    let r = match s.connect(&SockAddr::from(addr)) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
        Err(e) => Err(e),
    };
    Ok((s, r))
}

/// The parts of `struct tcp_info` (getsockopt TCP_INFO, tcp(7)) the backlog lab reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// tcp_states.h number (2 = SYN-SENT, 1 = ESTABLISHED).
    pub state: u8,
    /// Every retransmission this socket made (for a connecting socket: SYN retries).
    pub total_retrans: u32,
    /// The retransmission timeout now in force, in milliseconds.
    pub rto_ms: u32,
    /// Milliseconds since the last ACK arrived (for a new connection: since its SYN-ACK).
    pub last_ack_recv_ms: u32,
}

/// getsockopt(IPPROTO_TCP, TCP_INFO) — tcp(7).
pub fn tcp_info(fd: &impl AsRawFd) -> io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data; zeroed is valid.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: info and len are valid for writes of the size given.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        state: info.tcpi_state,
        total_retrans: info.tcpi_total_retrans,
        rto_ms: info.tcpi_rto / 1000,
        last_ack_recv_ms: info.tcpi_last_ack_recv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonblocking_connect_completes_and_poll_sees_it() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (s, r) = start_connect(l.local_addr().unwrap()).unwrap();
        r.unwrap();
        let rev = crate::sys::poll::events(&[(s.as_raw_fd(), libc::POLLOUT)], 1000).unwrap();
        assert!(rev[0] & libc::POLLOUT != 0, "writable once connected");
        let info = tcp_info(&s).unwrap();
        assert_eq!(info.state, 1, "ESTABLISHED");
        assert_eq!(info.total_retrans, 0);
    }
}
