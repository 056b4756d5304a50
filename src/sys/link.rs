//! A cable between two network namespaces the lab made: a veth pair (veth(4)) created
//! over rtnetlink(7), addressed and brought up or down with netdevice(7) ioctls.
//! Pulling the cable (one end down) makes a peer vanish without a FIN or RST.

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

const NLMSG_ERROR: u16 = 2;
const NLA_F_NESTED: u16 = 0x8000;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFLA_NET_NS_FD: u16 = 28;
const IFINFOMSG_LEN: usize = 16;

/// The calling thread's network namespace, as a file to hand to another namespace's calls.
pub fn this_thread_netns() -> io::Result<File> {
    File::open("/proc/thread-self/ns/net")
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one rtattr (length, type, payload, padding).
fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

fn name_bytes(name: &str) -> io::Result<Vec<u8>> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    Ok(v)
}

/// An ifinfomsg asking for interface index `index` (0 = let the kernel choose).
fn ifinfomsg(index: i32) -> Vec<u8> {
    let mut m = vec![0u8; IFINFOMSG_LEN];
    m[0] = libc::AF_UNSPEC as u8;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

/// RTM_NEWLINK type veth: `name` (interface index `index`) stays in this thread's namespace,
/// `peer_name` (index `peer_index`) goes into the namespace `peer_ns` — rtnetlink(7), veth(4),
/// `ip link add NAME index I type veth peer name PEER index J netns NS`.
/// Distinct indices matter: the kernel treats a device whose index equals its peer's as
/// not stacked and applies carrier changes up to a second late (linkwatch).
pub fn veth_pair(
    (name, index): (&str, i32),
    (peer_name, peer_index): (&str, i32),
    peer_ns: BorrowedFd<'_>,
) -> io::Result<()> {
    let mut peer = ifinfomsg(peer_index);
    attr(&mut peer, IFLA_IFNAME, &name_bytes(peer_name)?);
    attr(
        &mut peer,
        IFLA_NET_NS_FD,
        &(peer_ns.as_raw_fd() as u32).to_ne_bytes(),
    );
    let mut data = Vec::new();
    attr(&mut data, VETH_INFO_PEER, &peer);
    let mut info = Vec::new();
    attr(&mut info, IFLA_INFO_KIND, b"veth");
    attr(&mut info, IFLA_INFO_DATA | NLA_F_NESTED, &data);
    let mut body = ifinfomsg(index);
    attr(&mut body, IFLA_IFNAME, &name_bytes(name)?);
    attr(&mut body, IFLA_LINKINFO | NLA_F_NESTED, &info);
    let flags = libc::NLM_F_REQUEST | libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
    request(libc::RTM_NEWLINK, flags as u16, &body)
}

/// Sends one rtnetlink request and waits for its acknowledgement.
fn request(kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let total = 16 + body.len();
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    msg.extend_from_slice(body);
    socket.send(&msg, 0)?;
    let mut reply = vec![0u8; 8192];
    // Bounded: the kernel answers one NLMSG_ERROR (code 0 = success) per request;
    // each receive waits at most 2 s, so a missing answer cannot hang the lab.
    for _ in 0..16 {
        if super::poll::events(&[(socket.as_raw_fd(), libc::POLLIN)], 2000)?[0] == 0 {
            break;
        }
        let n = socket.recv(&mut &mut reply[..], 0)?;
        if n >= 20 && u16::from_ne_bytes([reply[4], reply[5]]) == NLMSG_ERROR {
            let code = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            return if code == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(-code))
            };
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "rtnetlink gave no acknowledgement",
    ))
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name_bytes(name)?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

fn control_socket() -> io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
}

/// SIOCSIFADDR: gives interface `name` the IPv4 address `addr` (classful mask) — netdevice(7).
pub fn set_ipv4(name: &str, addr: Ipv4Addr) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq(name)?;
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in fits in the ifreq union's sockaddr; both are plain old data.
    unsafe {
        std::ptr::copy_nonoverlapping(
            (&sin as *const libc::sockaddr_in).cast::<u8>(),
            (&mut req.ifr_ifru.ifru_addr as *mut libc::sockaddr).cast::<u8>(),
            std::mem::size_of::<libc::sockaddr_in>(),
        );
    }
    // SAFETY: a live socket and a valid ifreq for this request.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFADDR, &req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SIOCGIFFLAGS/SIOCSIFFLAGS: sets or clears IFF_UP on interface `name` — netdevice(7).
pub fn set_up(name: &str, up: bool) -> io::Result<()> {
    let sock = control_socket()?;
    let fd = sock.as_raw_fd();
    let mut req = ifreq(name)?;
    // SAFETY: a live socket and a valid ifreq for these requests.
    unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == -1 {
            return Err(io::Error::last_os_error());
        }
        if up {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        } else {
            req.ifr_ifru.ifru_flags &= !(libc::IFF_UP as libc::c_short);
        }
        if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// SIOCGIFFLAGS: is interface `name` up with its carrier on (IFF_RUNNING)? — netdevice(7).
pub fn is_running(name: &str) -> io::Result<bool> {
    let sock = control_socket()?;
    let mut req = ifreq(name)?;
    // SAFETY: a live socket and a valid ifreq for this request.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags & libc::IFF_RUNNING as libc::c_short != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_any_call() {
        assert!(name_bytes("").is_err());
        assert!(name_bytes("a-name-far-too-long-for-linux").is_err());
        assert_eq!(name_bytes("lab0").unwrap(), b"lab0\0");
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut b = Vec::new();
        attr(&mut b, 1, b"veth");
        attr(&mut b, 3, b"x\0");
        assert_eq!(b.len(), 8 + 8);
        assert_eq!(u16::from_ne_bytes([b[8], b[9]]), 6, "length excludes padding");
    }

    /// Two fresh namespaces joined by a veth pair can talk; needs namespaces (root or userns).
    #[test]
    fn a_veth_pair_joins_two_namespaces() {
        let r = crate::sys::netns::in_fresh_netns(|| -> io::Result<()> {
            std::thread::scope(|s| {
                let (tx, rx) = std::sync::mpsc::channel();
                let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
                let b = s.spawn(move || -> io::Result<()> {
                    crate::sys::netns::unshare_net()?;
                    let _ = tx.send(this_thread_netns()?);
                    let _ = done_rx.recv_timeout(std::time::Duration::from_secs(5));
                    Ok(())
                });
                let ns = rx
                    .recv_timeout(std::time::Duration::from_secs(5))
                    .map_err(|_| io::Error::other("peer namespace"))?;
                use std::os::fd::AsFd;
                let made = veth_pair(("labt0", 10), ("labt1", 11), ns.as_fd());
                drop(done_tx);
                b.join().unwrap()?;
                made?;
                set_ipv4("labt0", Ipv4Addr::new(10, 9, 0, 1))?;
                set_up("labt0", true)?;
                Ok(())
            })
        });
        match r {
            Ok(inner) => inner.unwrap(),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
        }
    }
}
