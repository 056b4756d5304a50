//! Loopback helpers every lab uses: addresses, listeners on port 0, the port a socket got,
//! and joining scoped threads. Written once here so the labs stay about their question.

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::thread::ScopedJoinHandle;

/// 127.0.0.1:port.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// The port a bound socket has.
pub fn local_port(s: &Socket) -> Result<u16> {
    s.local_addr()
        .context("getsockname")?
        .as_socket()
        .map(|a| a.port())
        .context("local address is not inet")
}

/// A TCP socket on IPv4 with SO_REUSEADDR set to `reuseaddr` (None: left at its default).
pub fn tcp(reuseaddr: Option<i32>) -> Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("socket")?;
    if let Some(v) = reuseaddr {
        super::sockopt::set_int(&s, libc::SOL_SOCKET, libc::SO_REUSEADDR, v)
            .context("setsockopt SO_REUSEADDR")?;
    }
    Ok(s)
}

/// A listener on 127.0.0.1:port (0: the kernel chooses) with this backlog, passed as is.
pub fn listener(reuseaddr: Option<i32>, port: u16, backlog: i32) -> Result<(Socket, u16)> {
    let s = tcp(reuseaddr)?;
    s.bind(&loopback(port).into())
        .with_context(|| format!("bind {}", loopback(port)))?;
    s.listen(backlog).with_context(|| format!("listen({backlog})"))?;
    let port = local_port(&s)?;
    Ok((s, port))
}

/// Joins a scoped thread; a panic in it goes on in the caller, as if it had run there.
pub fn join<T>(h: ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}
