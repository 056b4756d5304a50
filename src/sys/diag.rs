//! The kernel's TCP socket table through sock_diag(7) netlink — what `ss -tan`
//! reads — for the calling thread's network namespace.

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP},
    inet::{ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr};
use serde::Serialize;
use std::io;
use std::net::SocketAddr as InetAddr;

/// One row of the socket table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TcpSock {
    pub state: &'static str,
    pub local: InetAddr,
    pub remote: InetAddr,
    /// LISTEN: connections waiting in the accept queue (ss Recv-Q); else unread bytes.
    pub recv_q: u32,
    /// LISTEN: the accept-queue limit the kernel stored (ss Send-Q); else unsent bytes.
    pub send_q: u32,
    /// "on" (retransmit), "keepalive", "timewait", "probe" or "off".
    pub timer: &'static str,
    /// Milliseconds until the timer fires (the TIME-WAIT remainder for "timewait").
    pub expires_ms: u32,
    pub inode: u32,
}

/// tcp_states.h names, as ss prints them.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "CLOSE",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW-SYN-RECV",
        _ => "UNKNOWN",
    }
}

fn timer_name(t: u8) -> &'static str {
    match t {
        1 => "on",
        2 => "keepalive",
        3 => "timewait",
        4 => "probe",
        _ => "off",
    }
}

/// Every TCP socket (IPv4 and IPv6, all states) in this thread's namespace.
pub fn tcp_sockets() -> io::Result<Vec<TcpSock>> {
    let mut out = dump(AF_INET)?;
    out.extend(dump(AF_INET6)?);
    Ok(out)
}

/// TCP sockets whose local port is `port`.
pub fn tcp_sockets_on_port(port: u16) -> io::Result<Vec<TcpSock>> {
    Ok(tcp_sockets()?
        .into_iter()
        .filter(|s| s.local.port() == port)
        .collect())
}

fn dump(family: u8) -> io::Result<Vec<TcpSock>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    let mut recv = vec![0u8; 64 * 1024];
    // Bounded: a dump of a private namespace is a handful of datagrams.
    for _ in 0..10_000 {
        let n = socket.recv(&mut &mut recv[..], 0)?;
        let mut offset = 0;
        while offset < n {
            let bytes = &recv[offset..n];
            let msg = NetlinkMessage::<SockDiagMessage>::deserialize(bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    out.push(from_response(&r.header, bytes));
                }
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => {
                    let code = e.code.map(|c| -c.get()).unwrap_or(0);
                    return Err(io::Error::from_raw_os_error(code));
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "sock_diag dump did not end",
    ))
}

fn from_response(h: &netlink_packet_sock_diag::inet::InetResponseHeader, raw: &[u8]) -> TcpSock {
    let id = &h.socket_id;
    // The crate keeps no remaining time for TIME-WAIT, so read idiag_timer and
    // idiag_expires from the raw inet_diag_msg (after the 16-byte nlmsghdr).
    let timer = raw.get(16 + 2).copied().unwrap_or(0);
    let expires_ms = raw
        .get(16 + 52..16 + 56)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    TcpSock {
        state: state_name(h.state),
        local: InetAddr::new(id.source_address, id.source_port),
        remote: InetAddr::new(id.destination_address, id.destination_port),
        recv_q: h.recv_queue,
        send_q: h.send_queue,
        timer: timer_name(timer),
        expires_ms,
        inode: h.inode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_shows_up_with_its_backlog() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let rows = tcp_sockets_on_port(port).unwrap();
        let row = rows
            .iter()
            .find(|s| s.state == "LISTEN")
            .expect("listener in the table");
        assert_eq!(row.recv_q, 0);
        // std listens with backlog 128, clamped by somaxconn.
        let somaxconn = crate::sys::proc::read_sysctl_int("net.core.somaxconn").unwrap();
        assert_eq!(row.send_q as i64, 128.min(somaxconn));
    }
}
