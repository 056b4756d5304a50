//! The packets of a lab's scenarios, for every lab with traffic: captured on the scenario's
//! own loopback ([`crate::sys::capture`]), read into a ladder (roles, relative numbers, the
//! call that made each packet, the socket states the kernel's table showed), and written as
//! pcap when `--pcap DIR` asks. The ladder's table and strings are shared (common.toml
//! `wire.*`), so every lab's ladder reads the same in both languages.
//!
//! Use: `let rec = Recorder::start(ctx)` before the scenario's first socket, `rec.mark(port)`
//! after a call whose effect on the socket table matters, `rec.finish("name", port)` after
//! the last socket, then [`wires`] over every scenario's [`Taken`].

pub mod table;

use crate::report::{Measured, Unmeasured};
use crate::sandbox::Ctx;
use crate::sys::capture::{self, Capture, Capturer, Segment};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Which way a packet went, named by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

/// What made a packet leave (from role, flags and order; a retry is a packet identical to
/// an earlier one of its flow, sent again by the kernel's timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The client's SYN, and its ACK that completes the handshake.
    Connect,
    /// The listener's SYN-ACK, sent by the kernel before accept().
    Listen,
    Send,
    Close,
    /// A reset: close() with unread data, SO_LINGER {1, 0}, or no socket for the segment.
    Reset,
    /// The same segment again: a retransmission by the kernel's timer.
    Retry,
    /// A keepalive probe: an empty ACK one byte behind what the sender already sent.
    Probe,
    /// The same shape while the peer's window is zero: a zero-window probe.
    WindowProbe,
    /// A bare ACK the kernel sent on its own.
    Kernel,
}

/// Which socket a row of the socket table belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Client,
    Server,
    Listener,
}

/// The socket table's states on the server's port at one moment: (role, state, how many).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct States(pub Vec<(Role, String, u32)>);

/// One TCP segment of a ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// ms since the scenario's first packet (kernel timestamps).
    pub t_ms: f64,
    /// Which connection: 1 for the first client port seen, 2 for the next, ...
    pub flow: u32,
    pub dir: Dir,
    /// "SYN", "SYN,ACK", "FIN,ACK", "PSH,ACK", ... (order: FIN, SYN, RST, PSH, ACK, URG).
    pub flags: String,
    /// Relative to the sender's initial sequence number.
    pub seq: u32,
    /// Relative to the receiver's initial sequence number; None without ACK.
    pub ack: Option<u32>,
    pub len: u32,
    /// The payload's first bytes, printable ASCII kept, \r and \n escaped, others as '.'.
    pub preview: String,
    pub cause: Cause,
    /// The socket table right after this packet, when the lab looked before the next one.
    pub states: Option<States>,
}

impl Packet {
    /// A packet of flow 1 with nothing but its time, direction and flags (for hand-built data).
    pub fn bare(t_ms: f64, dir: Dir, flags: &str, cause: Cause) -> Packet {
        Packet {
            t_ms,
            flow: 1,
            dir,
            flags: flags.into(),
            seq: 0,
            ack: None,
            len: 0,
            preview: String::new(),
            cause,
            states: None,
        }
    }
}

/// Per-flow flag counts (a SYN is one without ACK; SYN-ACK has both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub syn: u32,
    pub syn_ack: u32,
    pub fin: u32,
    pub rst: u32,
}

/// The capture of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    /// The scenario's key in its lab ("restart_0_0", "client_closes_first", ...).
    pub scenario: String,
    pub server_port: u16,
    /// The pcap file written (with --pcap).
    pub pcap: Option<String>,
    /// Which bound the capture hit ("packets", "bytes", "kernel dropped N"); None: complete.
    pub capped: Option<String>,
    /// False when the kernel's arrival stamps were not on for the whole capture: then times
    /// may be those of reading, and findings that measure time do not decide.
    #[serde(default = "yes")]
    pub stamped: bool,
    pub packets: Vec<Packet>,
    /// All flows together.
    pub counts: Counts,
    /// Each flow's counts, in flow order (index 0 is flow 1).
    pub flows: Vec<Counts>,
    /// Each flow's client port, in flow order: how a lab finds its own client's flow.
    #[serde(default)]
    pub client_ports: Vec<u16>,
}

impl Wire {
    /// A wire of these packets with its counts made from their flags (for hand-built data).
    pub fn of(scenario: &str, server_port: u16, packets: Vec<Packet>) -> Wire {
        let nflows = packets.iter().map(|p| p.flow).max().unwrap_or(0) as usize;
        let mut flows = vec![Counts::default(); nflows];
        let mut counts = Counts::default();
        for p in &packets {
            let b = flag_bits(&p.flags);
            let slot = (p.flow as usize).checked_sub(1).and_then(|i| flows.get_mut(i));
            for c in std::iter::once(&mut counts).chain(slot) {
                match (b & SYN != 0, b & ACK != 0) {
                    (true, false) => c.syn += 1,
                    (true, true) => c.syn_ack += 1,
                    _ => {}
                }
                c.fin += (b & FIN != 0) as u32;
                c.rst += (b & RST != 0) as u32;
            }
        }
        Wire {
            scenario: scenario.into(),
            server_port,
            pcap: None,
            capped: None,
            stamped: true,
            packets,
            counts,
            flows,
            client_ports: Vec::new(),
        }
    }
    /// The first packet with these flag bits set, if any.
    pub fn first(&self, bits: u8) -> Option<&Packet> {
        self.packets.iter().find(|p| flag_bits(&p.flags) & bits == bits)
    }
    /// The first FIN: who sent it and when.
    pub fn first_fin(&self) -> Option<&Packet> {
        self.first(FIN)
    }
    pub fn count(&self, f: impl Fn(&Packet) -> bool) -> usize {
        self.packets.iter().filter(|p| f(p)).count()
    }
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
const NAMES: [(u8, &str); 6] = [
    (FIN, "FIN"),
    (SYN, "SYN"),
    (RST, "RST"),
    (PSH, "PSH"),
    (ACK, "ACK"),
    (0x20, "URG"),
];

fn yes() -> bool {
    true
}

/// "SYN,ACK" for 0x12.
pub fn flag_names(bits: u8) -> String {
    let v: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join(",")
}

/// 0x12 for "SYN,ACK".
pub fn flag_bits(names: &str) -> u8 {
    names
        .split(',')
        .filter_map(|n| NAMES.iter().find(|(_, m)| *m == n).map(|(b, _)| *b))
        .fold(0, |a, b| a | b)
}

/// What a scenario's recorder kept: its packets and the socket-table looks between them.
pub struct Taken {
    pub scenario: String,
    pub server_port: u16,
    pub capture: std::io::Result<Capture>,
    marks: Vec<Mark>,
}

/// The socket table at one moment (CLOCK_REALTIME ns, the clock of the packets' stamps).
#[derive(Debug, Clone)]
pub struct Mark {
    pub ts_ns: u64,
    pub states: States,
}

/// A scenario's capture while it runs: started before its first socket.
pub struct Recorder {
    cap: Option<std::io::Result<Capturer>>,
    marks: Mutex<Vec<Mark>>,
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Recorder {
    /// Starts capturing on this thread's namespace's loopback when the run captures at all
    /// (only in namespaces the lab made: never on the host).
    pub fn start(ctx: &Ctx) -> Recorder {
        Recorder::start_on(ctx, c"lo")
    }

    /// The same on another interface of this thread's namespace (a veth end the lab made).
    pub fn start_on(ctx: &Ctx, ifname: &std::ffi::CStr) -> Recorder {
        Recorder {
            cap: ctx.captures().then(|| Capturer::start_on(ifname)),
            marks: Mutex::new(Vec::new()),
        }
    }

    /// Looks at the socket table now: the states of the sockets on `server_port` (the
    /// server's side and its listener) and of those connected to it (the clients).
    pub fn mark(&self, server_port: u16) {
        if self.cap.is_none() {
            return;
        }
        let ts_ns = now_ns();
        let Ok(table) = crate::sys::diag::tcp_sockets() else {
            return;
        };
        let mut states: Vec<(Role, String, u32)> = Vec::new();
        for s in &table {
            let role = if s.local.port() == server_port {
                if s.state == "LISTEN" {
                    Role::Listener
                } else {
                    Role::Server
                }
            } else if s.remote.port() == server_port {
                Role::Client
            } else {
                continue;
            };
            match states.iter_mut().find(|(r, st, _)| *r == role && st == s.state) {
                Some(e) => e.2 += 1,
                None => states.push((role, s.state.to_string(), 1)),
            }
        }
        states.sort_by_key(|(r, _, _)| *r as u8);
        if let Ok(mut m) = self.marks.lock() {
            m.push(Mark {
                ts_ns,
                states: States(states),
            });
        }
    }

    /// Stops the capture; None when this run does not capture.
    pub fn finish(self, scenario: &str, server_port: u16) -> Option<Taken> {
        let cap = self.cap?;
        Some(Taken {
            scenario: scenario.into(),
            server_port,
            capture: cap.and_then(Capturer::finish),
            marks: self.marks.into_inner().unwrap_or_default(),
        })
    }
}

/// Why this run has no packets, when it has none.
pub fn why_not(ctx: &Ctx) -> Option<Unmeasured> {
    if !ctx.tap.on {
        Some(Unmeasured::TurnedOff {
            by: "--no-capture".into(),
        })
    } else if !ctx.can_nest {
        Some(Unmeasured::NoSandbox)
    } else {
        None
    }
}

/// Every scenario's ladder, with its pcap file written when `--pcap` asked:
/// `<dir>/<scenario>.pcap`, underscores as dashes.
pub fn wires(ctx: &Ctx, taken: impl IntoIterator<Item = Taken>) -> Result<Measured<Vec<Wire>>> {
    if let Some(why) = why_not(ctx) {
        return Ok(Err(why));
    }
    if let Some(dir) = &ctx.tap.pcap {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut out = Vec::new();
    for t in taken {
        let cap = match t.capture {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(Unmeasured::Kernel {
                    errno: crate::sys::errno_name(&e),
                }))
            }
        };
        let file = match &ctx.tap.pcap {
            Some(dir) => {
                let path = dir.join(format!("{}.pcap", t.scenario.replace('_', "-")));
                capture::write_pcap(&path, &cap.frames)
                    .with_context(|| format!("write {}", path.display()))?;
                Some(path.display().to_string())
            }
            None => None,
        };
        let mut w = ladder(&capture::tcp_segments(&cap.frames), t.server_port, &t.marks);
        w.scenario = t.scenario;
        w.pcap = file;
        w.capped = cap.capped;
        w.stamped = cap.stamped;
        out.push(w);
    }
    Ok(Ok(out))
}

/// The payload's first bytes as one short line (as a ladder's data column shows them).
pub fn preview(data: &[u8]) -> String {
    const KEEP: usize = 24;
    let mut s = String::new();
    for &b in data.iter().take(KEEP) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push('.'),
        }
    }
    if data.len() > KEEP {
        s.push('…');
    }
    s
}

/// Per-flow sequence state while reading a ladder.
#[derive(Default, Clone)]
struct Flow {
    client: Option<std::net::SocketAddr>,
    client_port: u16,
    /// The last window each side advertised was zero.
    zero_window: [bool; 2],
    isn: [Option<u32>; 2],
    /// The highest sequence end each side has sent (relative).
    sent_end: [u32; 2],
    handshake_done: bool,
    seen: Vec<(Dir, u8, u32, Option<u32>, u32)>,
    counts: Counts,
}

/// The ladder of the segments to or from `server_port`: roles, flows, relative numbers,
/// causes, and the socket states of the marks.
pub fn ladder(segs: &[Segment], server_port: u16, marks: &[Mark]) -> Wire {
    let segs: Vec<&Segment> = segs
        .iter()
        .filter(|s| s.src.port() == server_port || s.dst.port() == server_port)
        .collect();
    let t0 = segs.first().map(|s| s.ts_ns).unwrap_or(0);
    let mut flows: Vec<Flow> = Vec::new();
    let mut packets = Vec::new();
    let mut total = Counts::default();
    for (i, s) in segs.iter().enumerate() {
        let dir = if s.dst.port() == server_port {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        };
        let client = match dir {
            Dir::ClientToServer => s.src,
            Dir::ServerToClient => s.dst,
        };
        // A fresh SYN from a client address already seen with another ISN: the port was
        // reused, so a new connection (as tshark counts a new stream).
        let fresh_syn = |f: &Flow| s.flags & (SYN | ACK) == SYN && f.isn[0].is_some_and(|i| i != s.seq);
        let fi = match flows.iter().rposition(|f| f.client == Some(client)) {
            Some(i) if !fresh_syn(&flows[i]) => i,
            _ => {
                flows.push(Flow {
                    client: Some(client),
                    client_port: client.port(),
                    ..Flow::default()
                });
                flows.len() - 1
            }
        };
        let f = &mut flows[fi];
        let side = dir as usize;
        let (syn, ack, fin, rst) = (
            s.flags & SYN != 0,
            s.flags & ACK != 0,
            s.flags & FIN != 0,
            s.flags & RST != 0,
        );
        if f.isn[side].is_none() {
            f.isn[side] = Some(s.seq);
        }
        let seq = s.seq.wrapping_sub(f.isn[side].unwrap_or(s.seq));
        let ack_rel = ack.then(|| s.ack.wrapping_sub(f.isn[1 - side].unwrap_or(s.ack)));
        let key = (dir, s.flags, seq, ack_rel, s.len);
        let end = seq.wrapping_add(s.len + (syn as u32) + (fin as u32));
        // A retry: the same segment again, or data/FIN already sent once (its ack or
        // length may differ from the first copy's). Relative numbers stay far below 2^31 here.
        let resent = !syn && (s.len > 0 || fin) && f.sent_end[side] > 0 && end <= f.sent_end[side];
        let again = (syn || fin || s.len > 0) && (f.seen.contains(&key) || resent);
        f.seen.push(key);
        let probe = !syn
            && !fin
            && !rst
            && s.len == 0
            && f.sent_end[side] > 0
            && seq.wrapping_add(1) == f.sent_end[side];
        let cause = if again {
            Cause::Retry
        } else if rst {
            Cause::Reset
        } else if syn && !ack {
            Cause::Connect
        } else if syn {
            Cause::Listen
        } else if probe && f.zero_window[1 - side] {
            Cause::WindowProbe
        } else if probe {
            Cause::Probe
        } else if fin {
            Cause::Close
        } else if s.len > 0 {
            Cause::Send
        } else if !f.handshake_done && dir == Dir::ClientToServer {
            Cause::Connect
        } else {
            Cause::Kernel
        };
        if !syn {
            f.handshake_done = true;
        }
        f.zero_window[side] = s.window == 0 && !syn && !rst;
        if !probe {
            f.sent_end[side] = f.sent_end[side].max(end);
        }
        for c in [&mut f.counts, &mut total] {
            match (syn, ack) {
                (true, false) => c.syn += 1,
                (true, true) => c.syn_ack += 1,
                _ => {}
            }
            c.fin += fin as u32;
            c.rst += rst as u32;
        }
        let next_ts = segs.get(i + 1).map_or(u64::MAX, |n| n.ts_ns);
        let states = marks
            .iter()
            .find(|m| m.ts_ns >= s.ts_ns && m.ts_ns < next_ts)
            .map(|m| m.states.clone());
        packets.push(Packet {
            t_ms: ((s.ts_ns.saturating_sub(t0)) as f64 / 1e3).round() / 1e3,
            flow: fi as u32 + 1,
            dir,
            flags: flag_names(s.flags),
            seq,
            ack: ack_rel,
            len: s.len,
            preview: preview(&s.payload),
            cause,
            states,
        });
    }
    Wire {
        scenario: String::new(),
        server_port,
        pcap: None,
        capped: None,
        stamped: true,
        packets,
        counts: total,
        flows: flows.iter().map(|f| f.counts).collect(),
        client_ports: flows.iter().map(|f| f.client_port).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn seg(t: u64, from_client: bool, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Segment {
        let c: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let s: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        Segment {
            ts_ns: t * 1_000_000,
            src,
            dst,
            flags,
            seq,
            ack,
            len: payload.len() as u32,
            window: 100,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn roles_relative_numbers_retries_and_probes() {
        let segs = [
            seg(0, true, SYN, 100, 0, b""),
            seg(1000, true, SYN, 100, 0, b""),
            seg(1001, false, SYN | ACK, 500, 101, b""),
            seg(1002, true, ACK, 101, 501, b""),
            seg(1003, true, PSH | ACK, 101, 501, b"hi\r\n"),
            seg(1004, false, ACK, 501, 105, b""),
            seg(3000, true, ACK, 104, 501, b""),
            seg(3001, false, ACK, 501, 105, b""),
            seg(4000, false, RST | ACK, 501, 105, b""),
        ];
        let w = ladder(&segs, 7000, &[]);
        let causes: Vec<Cause> = w.packets.iter().map(|p| p.cause).collect();
        use Cause::*;
        assert_eq!(
            causes,
            [Connect, Retry, Listen, Connect, Send, Kernel, Probe, Kernel, Reset]
        );
        assert_eq!(w.packets[4].seq, 1);
        assert_eq!(w.packets[4].ack, Some(1));
        assert_eq!(w.packets[4].preview, "hi\\r\\n");
        assert_eq!(w.packets[1].t_ms, 1000.0);
        assert_eq!(
            w.counts,
            Counts {
                syn: 2,
                syn_ack: 1,
                fin: 0,
                rst: 1
            }
        );
        assert_eq!(w.flows.len(), 1);
        assert_eq!(flag_bits(&w.packets[2].flags), SYN | ACK);
    }

    #[test]
    fn a_resend_with_a_newer_ack_is_a_retry_and_a_probe_into_a_zero_window_is_not_keepalive() {
        let mut zero = seg(3, false, ACK, 501, 105, b"");
        zero.window = 0;
        let segs = [
            seg(0, true, SYN, 100, 0, b""),
            seg(1, false, SYN | ACK, 500, 101, b""),
            seg(2, true, PSH | ACK, 101, 501, b"abcd"),
            zero,
            seg(4, true, PSH | ACK, 101, 502, b"abcd"),
            seg(5, true, ACK, 104, 502, b""),
        ];
        let causes: Vec<Cause> = ladder(&segs, 7000, &[]).packets.iter().map(|p| p.cause).collect();
        use Cause::*;
        assert_eq!(causes, [Connect, Listen, Send, Kernel, Retry, WindowProbe]);
    }

    #[test]
    fn a_reused_client_port_with_a_new_isn_is_a_new_connection() {
        let segs = [
            seg(0, true, SYN, 100, 0, b""),
            seg(1, false, RST | ACK, 0, 101, b""),
            seg(2, true, SYN, 9000, 0, b""),
        ];
        let w = ladder(&segs, 7000, &[]);
        assert_eq!(w.flows.len(), 2);
        assert_eq!(w.packets[2].flow, 2);
        assert_eq!(w.packets[2].seq, 0, "relative to the new ISN");
        assert_eq!(w.packets[2].cause, Cause::Connect);
    }

    #[test]
    fn a_mark_belongs_to_the_packet_before_it() {
        let segs = [seg(0, true, SYN, 1, 0, b""), seg(5, false, SYN | ACK, 9, 2, b"")];
        let m = Mark {
            ts_ns: 1_000_000,
            states: States(vec![(Role::Client, "SYN-SENT".into(), 1)]),
        };
        let w = ladder(&segs, 7000, &[m]);
        assert!(w.packets[0].states.is_some());
        assert!(w.packets[1].states.is_none());
    }
}
