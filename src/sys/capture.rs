//! Packet capture on this namespace's loopback: an AF_PACKET socket bound to `lo`, with kernel
//! timestamps (SO_TIMESTAMPNS). The kernel queues the frames in the socket's receive buffer
//! (sized to the byte cap) while the experiment runs; `finish` drains them without blocking.
//!
//! On loopback a PACKET socket sees every frame twice (once leaving, PACKET_OUTGOING, once
//! arriving); only the arriving copy is kept, so each packet counts once.
//!
//! Bounds: at most [`MAX_PACKETS`] frames and [`MAX_BYTES`] captured bytes, each frame cut to
//! [`SNAPLEN`] bytes; a capture that hit a bound says which in [`Capture::capped`].

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// The kernel queue asked for while a scenario runs (the kernel doubles it for overhead).
/// It is charged by each frame's whole buffer, not the part kept, so it is larger than MAX_BYTES.
pub const QUEUE_BYTES: usize = 4 << 20;

/// Frames kept per capture.
pub const MAX_PACKETS: usize = 1024;
/// Captured bytes kept per capture (and the socket's receive buffer).
pub const MAX_BYTES: usize = 1 << 20;
/// Bytes kept of each frame.
pub const SNAPLEN: usize = 2048;

/// One frame as it arrived on lo.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Kernel timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Length on the wire.
    pub orig_len: u32,
    /// The first SNAPLEN bytes (Ethernet header first).
    pub data: Vec<u8>,
}

/// What one capture saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capture {
    pub frames: Vec<Frame>,
    /// "packets" or "bytes" when a bound was hit; "kernel dropped N" when the queue overflowed.
    pub capped: Option<String>,
    /// False when arrival stamps were not on in time: then times may be those of reading.
    pub stamped: bool,
}

/// A running capture on `lo`.
pub struct Capturer {
    fd: Option<OwnedFd>,
    /// Keep the frames this namespace sends (on a veth they are seen only once, leaving).
    keep_outgoing: bool,
    /// False when the kernel was not yet stamping packets on arrival (see wait_for_rx_stamps).
    stamped: bool,
}

/// Closing a PACKET socket waits for an RCU grace period (packet_release calls
/// synchronize_net, 10-20 ms here). A short thread per socket does that wait off the
/// experiment's path, and several such waits overlap instead of adding up.
impl Drop for Capturer {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            // No thread to spare: the failed closure is dropped, and the fd closes here.
            let _ = std::thread::Builder::new()
                .name("capture-close".into())
                .spawn(move || drop(fd));
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt(fd: libc::c_int, level: libc::c_int, opt: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: v is a live c_int for the call's duration, and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            &v as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

impl Capturer {
    /// Opens the PACKET socket on `ifname` of the calling thread's network namespace
    /// (`lo`, or a veth end the lab made); call it only inside a namespace the lab made.
    /// On a veth each frame is seen once, leaving or arriving, so both are kept.
    pub fn start_on(ifname: &std::ffi::CStr) -> io::Result<Capturer> {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // Protocol 0 at socket(): no hook is registered yet, so bind() below registers one
        // without first removing a catch-all hook (that removal waits for a grace period).
        // SAFETY: plain socket(2); the fd is owned at once.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        })?;
        // SAFETY: raw is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifname is a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(ifname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SO_RCVBUF alone is capped by net.core.rmem_max (208 KiB by default): a few large
        // loopback frames would fill it. FORCE (CAP_NET_ADMIN) lifts the cap; else the capped size.
        let queue = QUEUE_BYTES as libc::c_int;
        if setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, queue).is_err() {
            setopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, queue)?;
        }
        attach_filter(raw, ifname != c"lo")?;
        setopt(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        // Before bind: the probe's datagrams are not captured.
        let stamped = stamps_on();
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid start.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll and its size is passed.
        cvt(unsafe {
            libc::bind(
                raw,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(Capturer {
            fd: Some(fd),
            keep_outgoing: ifname != c"lo",
            stamped,
        })
    }

    /// Stops the capture: drains what the kernel queued (never blocks); the socket closes
    /// off this thread (see Drop).
    pub fn finish(self) -> io::Result<Capture> {
        let fd = self.fd.as_ref().map_or(-1, |f| f.as_raw_fd());
        let mut cap = Capture {
            stamped: self.stamped,
            ..Capture::default()
        };
        let mut bytes = 0usize;
        let mut buf = vec![0u8; SNAPLEN];
        // u64 words: the control buffer must be aligned for cmsghdr.
        let mut cbuf = [0u64; 16];
        loop {
            // SAFETY: zeroed sockaddr_ll / msghdr are valid; every pointer below outlives recvmsg.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = &mut sll as *mut _ as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: msg points at live buffers of the stated sizes.
            let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING && !self.keep_outgoing {
                continue;
            }
            let orig = n as usize;
            let kept = orig.min(SNAPLEN);
            if cap.frames.len() >= MAX_PACKETS {
                cap.capped = Some("packets".into());
                continue;
            }
            if bytes + kept > MAX_BYTES {
                cap.capped = Some("bytes".into());
                continue;
            }
            bytes += kept;
            // A frame without a stamp takes the one before it, and the capture says so.
            let ts_ns = match timestamp(&msg) {
                Some(t) => t,
                None => {
                    cap.stamped = false;
                    cap.frames.last().map_or(0, |f| f.ts_ns)
                }
            };
            cap.frames.push(Frame {
                ts_ns,
                orig_len: orig as u32,
                data: buf[..kept].to_vec(),
            });
        }
        // Frames the kernel dropped because the queue was full.
        // SAFETY: tpacket_stats is plain data; its size is passed and updated by the kernel.
        let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if r == 0 && st.tp_drops > 0 && cap.capped.is_none() {
            cap.capped = Some(format!("kernel dropped {}", st.tp_drops));
        }
        Ok(cap)
    }
}

/// A socket that wants stamps for as long as the process captures, so the kernel's
/// stamping stays on between captures (turning it on and off costs milliseconds each time).
static KEEPER: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);
static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True once the kernel stamps packets on arrival; the first call per process checks.
/// A classic BPF program run on each frame before it is queued: on loopback it drops the
/// leaving copy of each frame (the arriving one is kept), so the queue holds each packet once
/// (socket(7) SO_ATTACH_FILTER, packet(7)). Frames are kept whole: cutting them here would
/// lose their length on the wire, which recvmsg's MSG_TRUNC reports.
fn attach_filter(fd: libc::c_int, keep_outgoing: bool) -> io::Result<()> {
    if keep_outgoing {
        return Ok(());
    }
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    // SKF_AD_OFF + SKF_AD_PKTTYPE: the frame's packet type as an ancillary load.
    const PKTTYPE: u32 = (-0x1000i32 + 4) as u32;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut prog = [
        op(LD_W_ABS, 0, 0, PKTTYPE),
        op(JEQ_K, 1, 0, libc::PACKET_OUTGOING as u32),
        op(RET_K, 0, 0, u32::MAX),
        op(RET_K, 0, 0, 0),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points at `prog`, alive for the call; the kernel copies it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A failed check is tried again by the next capture (stamping may come on later).
fn stamps_on() -> bool {
    use std::sync::atomic::Ordering;
    if READY.load(Ordering::Relaxed) {
        return true;
    }
    if let Ok(mut k) = KEEPER.lock() {
        if k.is_none() {
            if let Ok(s) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) {
                let _ = setopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
                *k = Some(s.into());
            }
        }
    }
    let ok = wait_for_rx_stamps();
    READY.store(ok, Ordering::Relaxed);
    ok
}

/// Closes the stamp keeper (the leak check calls it: the keeper is meant to live to the end).
pub fn release() {
    if let Ok(mut k) = KEEPER.lock() {
        k.take();
    }
}

/// The kernel stamps a packet on arrival only while some socket wants stamps, and turns that
/// on a moment after the first such socket asks (net_enable_timestamp defers it to a work
/// item); a packet that arrives before then is stamped when it is read, which would put the
/// first packets of a capture last. So: send datagrams to ourselves on this namespace's
/// loopback until one carries a stamp older than the moment it was read. At most 20 ms.
fn wait_for_rx_stamps() -> bool {
    use std::net::UdpSocket;
    let probe = || -> io::Result<bool> {
        let rx = UdpSocket::bind("127.0.0.1:0")?;
        setopt(rx.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        let tx = UdpSocket::bind("127.0.0.1:0")?;
        let to = rx.local_addr()?;
        for _ in 0..100 {
            tx.send_to(b"t", to)?;
            std::thread::sleep(Duration::from_micros(200));
            let Some(stamp) = recv_stamp(rx.as_raw_fd()) else {
                continue;
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            if now.saturating_sub(stamp) > 100_000 {
                return Ok(true);
            }
        }
        Ok(false)
    };
    probe().unwrap_or(false)
}

/// One datagram's SCM_TIMESTAMPNS (the datagram itself is dropped).
fn recv_stamp(fd: libc::c_int) -> Option<u64> {
    let mut buf = [0u8; 16];
    let mut cbuf = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: zeroed msghdr is valid; its pointers reference live buffers of the stated sizes.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: as above; MSG_DONTWAIT never blocks.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    (n >= 0).then(|| timestamp(&msg)).flatten()
}

/// The SCM_TIMESTAMPNS of a received message, in ns since the epoch.
fn timestamp(msg: &libc::msghdr) -> Option<u64> {
    // SAFETY: the CMSG_* macros walk the control buffer recvmsg filled.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                return Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// Writes frames as a nanosecond pcap file (link type Ethernet, as lo delivers them).
pub fn write_pcap(path: &Path, frames: &[Frame]) -> io::Result<()> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::{DataLink, TsResolution};
    let header = PcapHeader {
        snaplen: SNAPLEN as u32,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        ..Default::default()
    };
    let file = File::create(path)?;
    let mut w = PcapWriter::with_header(io::BufWriter::new(file), header).map_err(io::Error::other)?;
    for f in frames {
        let p = PcapPacket::new(Duration::from_nanos(f.ts_ns), f.orig_len, &f.data);
        w.write_packet(&p).map_err(io::Error::other)?;
    }
    let mut inner = w.into_writer();
    io::Write::flush(&mut inner)
}

/// One TCP segment over IPv4 or IPv6, parsed from a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub ts_ns: u64,
    pub src: std::net::SocketAddr,
    pub dst: std::net::SocketAddr,
    /// FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20 (as in the TCP header).
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub len: u32,
    /// The window field as sent (unscaled; 0 is a zero window at any scale).
    pub window: u16,
    /// The payload as captured (cut at SNAPLEN).
    pub payload: Vec<u8>,
}

/// The TCP segments among the frames (others are skipped). Lax parsing: a frame cut at
/// SNAPLEN still has its headers, and its length is the segment's, not the part kept.
pub fn tcp_segments(frames: &[Frame]) -> Vec<Segment> {
    use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
    use std::net::{IpAddr, SocketAddr};
    let mut out = Vec::new();
    for f in frames {
        let Ok(p) = LaxSlicedPacket::from_ethernet(&f.data) else {
            continue;
        };
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(LaxNetSlice::Ipv4(v4)) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            Some(LaxNetSlice::Ipv6(v6)) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            continue;
        };
        let mut flags = 0u8;
        for (on, bit) in [
            (t.fin(), 0x01),
            (t.syn(), 0x02),
            (t.rst(), 0x04),
            (t.psh(), 0x08),
            (t.ack(), 0x10),
            (t.urg(), 0x20),
        ] {
            if on {
                flags |= bit;
            }
        }
        out.push(Segment {
            ts_ns: f.ts_ns,
            src: SocketAddr::new(src, t.source_port()),
            dst: SocketAddr::new(dst, t.destination_port()),
            flags,
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            // The bytes the snap length cut off were payload (loopback frames carry no padding).
            len: (t.payload().len() + (f.orig_len as usize).saturating_sub(f.data.len())) as u32,
            window: t.window_size(),
            payload: t.payload().to_vec(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_hand_built_syn() {
        let b = etherparse::PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(40000, 51423, 1000, 65535)
            .syn();
        let mut data = Vec::new();
        b.write(&mut data, &[]).unwrap();
        let f = Frame {
            ts_ns: 5,
            orig_len: data.len() as u32,
            data,
        };
        let s = tcp_segments(&[f]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].flags, 0x02);
        assert_eq!(s[0].seq, 1000);
        assert_eq!(s[0].dst.port(), 51423);
    }

    #[test]
    fn a_frame_cut_at_the_snap_length_keeps_its_segment_and_length() {
        let b = etherparse::PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(7070, 40000, 1, 65535)
            .ack(3)
            .psh();
        let payload = vec![b'i'; 5000];
        let mut data = Vec::new();
        b.write(&mut data, &payload).unwrap();
        let orig_len = data.len() as u32;
        data.truncate(SNAPLEN);
        let s = tcp_segments(&[Frame {
            ts_ns: 5,
            orig_len,
            data,
        }]);
        assert_eq!(s.len(), 1, "a cut frame is still a segment");
        assert_eq!(s[0].len, 5000);
        assert_eq!(s[0].flags, 0x18);
    }
}
