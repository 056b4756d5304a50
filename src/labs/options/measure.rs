//! The measurements on fresh sockets: every option's default, values set and read back,
//! buffer sizes. Typed results only; the behaviour experiments are in behaviour.rs and
//! keepalive.rs.

use super::behaviour::{self, Broadcast, LingerRun, OobRun, SoError, UnreadRun};
use super::keepalive::{self, Keepalive};
use super::Args;
use crate::labs::wire::{self, Wire};
use crate::report::{Call, Measured};
use crate::sandbox::Ctx;
use crate::sys::net::{join, local_port, loopback};
use crate::sys::options::{self as opts, Opt, Value};
use crate::sys::proc;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::time::Duration;

/// The values the learner tried, and the extremes of an int.
pub const PROBE_VALUES: [i32; 5] = [0, 1, 50, -1, i32::MAX];
pub const BUFFER_VALUES: [i32; 7] = [0, 1, 1000, 4096, 65536, 10_000_000, -1];
/// Options in the value probe (buffers have their own table; linger and timeouts are structs).
const PROBED: [&str; 15] = [
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_KEEPALIVE",
    "SO_BROADCAST",
    "SO_OOBINLINE",
    "TCP_NODELAY",
    "SO_RCVLOWAT",
    "SO_SNDLOWAT",
    "TCP_MAXSEG",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "SO_TYPE",
    "SO_ERROR",
    "SO_ACCEPTCONN",
];
/// Every wait on a peer is bounded by this.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The options this run covers (every one, or the one `--option` named), in table order.
    pub options: Vec<String>,
    pub defaults: Vec<Defaults>,
    /// SO_TYPE of `socket(AF_UNIX, SOCK_RAW)`: the kernel's type, not always the one asked for.
    pub unix_raw_type: Option<TypeCheck>,
    pub probes: Vec<Probe>,
    pub buffers: Vec<Buffer>,
    pub linger: Vec<LingerRun>,
    /// close() with unread bytes (with SO_LINGER's rows).
    pub unread: Option<UnreadRun>,
    pub so_error: Option<SoError>,
    pub broadcast: Option<Broadcast>,
    pub oob: Vec<OobRun>,
    pub keepalive: Option<Keepalive>,
    /// The packets of the linger, unread-data and keepalive scenarios (keyed by scenario).
    pub wire: Measured<Vec<Wire>>,
}

/// A value getsockopt returned, decoded by the option's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Val {
    Int(i32),
    Linger { on: bool, seconds: i32 },
    Micros(u64),
}

/// A read value and the optlen the kernel returned (checkopts flags a surprising length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Got {
    pub value: Val,
    pub len: usize,
}

/// getsockopt's answer: the value, or the errno.
pub type Readout = Result<Got, Call>;

/// One option read on the five sockets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    pub option: String,
    pub tcp: Readout,
    pub udp: Readout,
    pub listening: Readout,
    pub connected: Readout,
    pub accepted: Readout,
}

/// socket() with one type, and the type SO_TYPE then reads back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeCheck {
    /// The type passed to socket() (SOCK_RAW).
    pub asked: i32,
    pub socket: Call,
    /// None: socket() failed.
    pub read: Option<Readout>,
}

/// What setting one value did, on a fresh socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetRead {
    /// setsockopt worked; getsockopt read this back.
    Read(Val),
    SetFailed(Call),
    ReadFailed(Call),
    NoSocket(Call),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub option: String,
    /// True: probed on UDP (SO_BROADCAST), else TCP.
    pub udp: bool,
    /// One per value of [`PROBE_VALUES`], in order.
    pub results: Vec<(i32, SetRead)>,
}

/// How the kernel stored what it was given, judged from the read-backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Flag,
    ReadOnly,
    Number,
    Limited,
    Adjusted,
}

impl Storage {
    pub fn key(self) -> &'static str {
        match self {
            Storage::Flag => "flag",
            Storage::ReadOnly => "read_only",
            Storage::Number => "number",
            Storage::Limited => "limited",
            Storage::Adjusted => "adjusted",
        }
    }
    /// Keeps a number, within limits or not.
    pub fn is_number(self) -> bool {
        matches!(self, Storage::Number | Storage::Limited | Storage::Adjusted)
    }
}

impl Probe {
    pub fn result(&self, v: i32) -> Option<&SetRead> {
        self.results.iter().find(|(x, _)| *x == v).map(|(_, r)| r)
    }

    /// The int read back after setting `v`, when there is one.
    pub fn read_int(&self, v: i32) -> Option<i32> {
        match self.result(v) {
            Some(SetRead::Read(Val::Int(i))) => Some(*i),
            _ => None,
        }
    }

    fn set_failed_with(&self, v: i32, errno: &str) -> bool {
        matches!(self.result(v), Some(SetRead::SetFailed(c)) if c.is(errno))
    }

    pub fn storage(&self) -> Storage {
        let nonzero_one = [1, 50, -1, i32::MAX].iter().all(|&v| self.read_int(v) == Some(1));
        if self.read_int(0) == Some(0) && nonzero_one {
            Storage::Flag
        } else if PROBE_VALUES
            .iter()
            .all(|&v| self.set_failed_with(v, "ENOPROTOOPT"))
        {
            Storage::ReadOnly
        } else if self.read_int(50) == Some(50) {
            Storage::Number
        } else if PROBE_VALUES.iter().any(|&v| self.set_failed_with(v, "EINVAL")) {
            Storage::Limited
        } else {
            Storage::Adjusted
        }
    }
}

/// The two buffer options, their cap sysctl and the kernel's name for their floor.
pub struct BufRule {
    pub name: &'static str,
    pub sysctl: &'static str,
    pub floor_name: &'static str,
}

pub const BUF_RULES: [BufRule; 2] = [
    BufRule {
        name: "SO_SNDBUF",
        sysctl: "net.core.wmem_max",
        floor_name: "SOCK_MIN_SNDBUF",
    },
    BufRule {
        name: "SO_RCVBUF",
        sysctl: "net.core.rmem_max",
        floor_name: "SOCK_MIN_RCVBUF",
    },
];

pub fn buf_rule(name: &str) -> Option<&'static BufRule> {
    BUF_RULES.iter().find(|r| r.name == name)
}

/// SO_SNDBUF or SO_RCVBUF: the cap read from its sysctl, the floor measured, and each value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Buffer {
    pub option: String,
    /// net.core.wmem_max / rmem_max (None: unreadable).
    pub max: Option<i64>,
    /// What setting 0 turned into.
    pub floor: i64,
    pub rows: Vec<BufferSet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BufferSet {
    pub value: i32,
    pub set: Call,
    pub read: Result<i32, Call>,
}

/// Why a buffer size came out as it did (net/core/sock.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Unreadable,
    /// Above the cap; `unsigned` when the value was negative.
    Cap {
        max: i64,
        unsigned: Option<i64>,
    },
    Floor {
        doubled: i64,
    },
    Doubled {
        doubled: i64,
    },
}

/// stored = max(2 × min(value as unsigned, max), floor): the prediction and why.
pub fn buffer_rule(v: i32, max: Option<i64>, floor: i64) -> (Option<i64>, Rule) {
    let Some(max) = max else {
        return (None, Rule::Unreadable);
    };
    let unsigned = v as u32 as i64;
    let doubled = 2 * unsigned.min(max);
    let rule = if unsigned > max {
        Rule::Cap {
            max,
            unsigned: (v < 0).then_some(unsigned),
        }
    } else if doubled < floor {
        Rule::Floor { doubled }
    } else {
        Rule::Doubled { doubled }
    };
    (Some(doubled.max(floor)), rule)
}

impl BufferSet {
    /// The rule's prediction, and whether the read-back matches it (None: nothing to compare).
    pub fn check(&self, b: &Buffer) -> (Option<i64>, Rule, Option<bool>) {
        let (p, rule) = buffer_rule(self.value, b.max, b.floor);
        let matches = match (&self.read, p) {
            (Ok(n), Some(p)) => Some(*n as i64 == p),
            _ => None,
        };
        (p, rule, matches)
    }
}

pub fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
    let want = |name: &str| args.option.is_none_or(|o| o == name);
    let options: Vec<String> = opts::OPTIONS
        .iter()
        .filter(|o| want(o.name))
        .map(|o| o.name.to_string())
        .collect();
    // SO_LINGER {1, 1} blocks a second by design, and keepalive waits ~3 s: beside the rest.
    std::thread::scope(|s| -> Result<Data> {
        let linger = want("SO_LINGER").then(|| {
            ctx.progress("options: SO_LINGER, close() with unsent data (about 1 s)");
            s.spawn(|| -> Result<_> {
                let (runs, mut taken) = behaviour::linger(ctx)?;
                let (unread, t) = behaviour::unread(ctx)?;
                taken.extend(t);
                Ok((runs, unread, taken))
            })
        });
        let keep = want("SO_KEEPALIVE").then(|| s.spawn(|| keepalive::measure(ctx, args.option.is_some())));
        ctx.progress("options: defaults, values read back and buffer sizes on fresh sockets");
        let defaults = defaults(&want)?;
        let unix_raw_type = want("SO_TYPE").then(unix_raw_type);
        let probes = PROBED.iter().filter(|n| want(n)).map(|n| probe(opt(n))).collect();
        let buffers = BUF_RULES.iter().filter(|r| want(r.name)).map(buffer).collect();
        let (linger, unread, mut taken) = match linger.map(join).transpose()? {
            Some((runs, unread, taken)) => (runs, Some(unread), taken),
            None => (Vec::new(), None, Vec::new()),
        };
        if want("SO_ERROR") || want("SO_BROADCAST") || want("SO_OOBINLINE") {
            ctx.progress("options: SO_ERROR, SO_BROADCAST and SO_OOBINLINE with a peer");
        }
        let so_error = want("SO_ERROR").then(|| behaviour::so_error(ctx)).transpose()?;
        let broadcast = want("SO_BROADCAST")
            .then(|| behaviour::broadcast(ctx))
            .transpose()?;
        let oob = match want("SO_OOBINLINE") {
            true => behaviour::oob(ctx)?,
            false => Vec::new(),
        };
        let keepalive = match keep.map(join).transpose()? {
            Some((k, t)) => {
                taken.extend(t);
                Some(k)
            }
            None => None,
        };
        Ok(Data {
            options,
            defaults,
            unix_raw_type,
            probes,
            buffers,
            linger,
            unread,
            so_error,
            broadcast,
            oob,
            keepalive,
            wire: wire::wires(ctx, taken)?,
        })
    })
}

pub fn opt(name: &str) -> &'static Opt {
    opts::find(name).expect("every name used here is in sys::options::OPTIONS")
}

pub fn tcp() -> Result<Socket> {
    Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).context("socket(AF_INET, SOCK_STREAM)")
}

pub fn udp() -> Result<Socket> {
    Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).context("socket(AF_INET, SOCK_DGRAM)")
}

pub fn listener_on(addr: SocketAddr, backlog: i32) -> Result<Socket> {
    let l = tcp()?;
    l.bind(&addr.into()).with_context(|| format!("bind {addr}"))?;
    l.listen(backlog).with_context(|| format!("listen on {addr}"))?;
    Ok(l)
}

/// accept(2), waiting at most STEP_TIMEOUT for the connection to be queued.
pub fn accept_within(l: &Socket, addr: SocketAddr) -> Result<Socket> {
    if opts::poll(l, libc::POLLIN, STEP_TIMEOUT).context("poll")? & libc::POLLIN == 0 {
        return Err(anyhow!(
            "accept on {addr}: nothing queued within {STEP_TIMEOUT:?}"
        ));
    }
    let (s, _) = l.accept().with_context(|| format!("accept on {addr}"))?;
    Ok(s)
}

pub fn call_err(e: std::io::Error) -> Call {
    Call::of::<()>(&Err(e))
}

fn val(v: Value) -> Val {
    match v {
        Value::Int(i) => Val::Int(i),
        Value::Linger { on, seconds } => Val::Linger { on, seconds },
        Value::Time(d) => Val::Micros(d.as_micros().min(u64::MAX as u128) as u64),
    }
}

pub fn read(s: &Socket, o: &Opt) -> Readout {
    opts::get(s, o)
        .map(|r| Got {
            value: val(r.value),
            len: r.len,
        })
        .map_err(call_err)
}

fn defaults(want: &dyn Fn(&str) -> bool) -> Result<Vec<Defaults>> {
    let tcp_new = tcp()?;
    let udp_new = udp()?;
    let listening = listener_on(loopback(0), 1)?;
    let addr = loopback(local_port(&listening)?);
    let connected = tcp()?;
    connected
        .connect_timeout(&addr.into(), STEP_TIMEOUT)
        .with_context(|| format!("connect {addr}"))?;
    let accepted = accept_within(&listening, addr)?;
    Ok(opts::OPTIONS
        .iter()
        .filter(|o| want(o.name))
        .map(|o| Defaults {
            option: o.name.into(),
            tcp: read(&tcp_new, o),
            udp: read(&udp_new, o),
            listening: read(&listening, o),
            connected: read(&connected, o),
            accepted: read(&accepted, o),
        })
        .collect())
}

/// AF_UNIX has no raw sockets: the kernel turns SOCK_RAW into SOCK_DGRAM (af_unix.c).
fn unix_raw_type() -> TypeCheck {
    let asked = libc::SOCK_RAW;
    match Socket::new(Domain::UNIX, Type::RAW, None) {
        Ok(s) => TypeCheck {
            asked,
            socket: Call::Ok,
            read: Some(read(&s, opt("SO_TYPE"))),
        },
        Err(e) => TypeCheck {
            asked,
            socket: call_err(e),
            read: None,
        },
    }
}

/// What setting `v` stored, each on a fresh socket so no earlier value is left behind.
fn probe_one(o: &Opt, v: i32) -> SetRead {
    let s = if o.name == "SO_BROADCAST" { udp() } else { tcp() };
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            let e = e
                .downcast::<std::io::Error>()
                .unwrap_or_else(std::io::Error::other);
            return SetRead::NoSocket(call_err(e));
        }
    };
    match opts::set_int(&s, o, v) {
        Err(e) => SetRead::SetFailed(call_err(e)),
        Ok(()) => match read(&s, o) {
            Ok(g) => SetRead::Read(g.value),
            Err(c) => SetRead::ReadFailed(c),
        },
    }
}

fn probe(o: &Opt) -> Probe {
    Probe {
        option: o.name.into(),
        udp: o.name == "SO_BROADCAST",
        results: PROBE_VALUES.iter().map(|&v| (v, probe_one(o, v))).collect(),
    }
}

fn set_and_read(o: &Opt, v: i32) -> BufferSet {
    let s = match tcp() {
        Ok(s) => s,
        Err(e) => {
            let c = call_err(
                e.downcast::<std::io::Error>()
                    .unwrap_or_else(std::io::Error::other),
            );
            return BufferSet {
                value: v,
                set: c.clone(),
                read: Err(c),
            };
        }
    };
    let set = Call::of(&opts::set_int(&s, o, v));
    let read = match read(&s, o) {
        Ok(Got {
            value: Val::Int(i), ..
        }) => Ok(i),
        Ok(_) => Ok(-1),
        Err(c) => Err(c),
    };
    BufferSet { value: v, set, read }
}

fn buffer(r: &BufRule) -> Buffer {
    let o = opt(r.name);
    // The floor is measured, not assumed: what 0 is turned into.
    let floor = set_and_read(o, 0).read.map(i64::from).unwrap_or(0);
    Buffer {
        option: r.name.into(),
        max: proc::read_sysctl_int(r.sysctl).ok(),
        floor,
        rows: BUFFER_VALUES.iter().map(|&v| set_and_read(o, v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_rule_doubles_floors_and_caps() {
        assert_eq!(buffer_rule(4096, Some(1 << 20), 4608).0, Some(8192));
        assert_eq!(buffer_rule(0, Some(1 << 20), 4608).0, Some(4608));
        let (p, rule) = buffer_rule(-1, Some(1 << 20), 4608);
        assert_eq!(p, Some(2 << 20));
        assert_eq!(
            rule,
            Rule::Cap {
                max: 1 << 20,
                unsigned: Some(4_294_967_295)
            }
        );
        assert_eq!(buffer_rule(5, None, 4608), (None, Rule::Unreadable));
    }

    fn probe_of(results: &[SetRead]) -> Probe {
        Probe {
            option: "X".into(),
            udp: false,
            results: PROBE_VALUES
                .iter()
                .copied()
                .zip(results.iter().cloned())
                .collect(),
        }
    }

    #[test]
    fn storage_is_judged_from_the_typed_read_backs() {
        let int = |i| SetRead::Read(Val::Int(i));
        let err = |e: &str| SetRead::SetFailed(Call::Err(e.into()));
        assert_eq!(
            probe_of(&[int(0), int(1), int(1), int(1), int(1)]).storage(),
            Storage::Flag
        );
        assert_eq!(
            probe_of(&vec![err("ENOPROTOOPT"); 5]).storage(),
            Storage::ReadOnly
        );
        assert_eq!(
            probe_of(&[int(1), int(1), int(50), int(9), int(9)]).storage(),
            Storage::Number
        );
        let limited = [
            int(536),
            err("EINVAL"),
            err("EINVAL"),
            err("EINVAL"),
            err("EINVAL"),
        ];
        assert_eq!(probe_of(&limited).storage(), Storage::Limited);
        assert_eq!(
            probe_of(&[int(1), int(2), int(3), int(4), int(5)]).storage(),
            Storage::Adjusted
        );
    }

    fn data() -> Data {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            let d = measure(&crate::labs::defaults(), ctx)?;
            Ok(crate::labs::assemble::<super::super::Options>(&d))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap()
    }

    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        use super::super::behaviour::{PortLeft, ReadEnd};
        let d = data();
        let row = |name: &str| d.defaults.iter().find(|r| r.option == name).unwrap().clone();
        let int = |r: &Readout| match r {
            Ok(Got {
                value: Val::Int(i), ..
            }) => Some(*i),
            _ => None,
        };
        assert!(
            row("TCP_NODELAY")
                .udp
                .as_ref()
                .is_err_and(|c| c.name().starts_with('E')),
            "a TCP option on UDP gives an errno, not a value"
        );
        assert_eq!(int(&row("SO_ACCEPTCONN").listening), Some(1));
        assert_eq!(int(&row("SO_ACCEPTCONN").accepted), Some(0));
        assert_eq!(int(&row("SO_REUSEADDR").tcp), Some(0));
        let ty = d.unix_raw_type.as_ref().unwrap();
        assert_eq!(
            ty.read.as_ref().and_then(int),
            Some(libc::SOCK_DGRAM),
            "AF_UNIX has no SOCK_RAW"
        );

        let probe = |name: &str| d.probes.iter().find(|p| p.option == name).unwrap();
        assert_eq!(probe("SO_KEEPALIVE").read_int(50), Some(1));
        assert_eq!(probe("SO_KEEPALIVE").storage(), Storage::Flag);
        assert_eq!(probe("SO_TYPE").storage(), Storage::ReadOnly);

        let snd = &d.buffers[0];
        let read = |v: i32| {
            snd.rows
                .iter()
                .find(|r| r.value == v)
                .unwrap()
                .read
                .clone()
                .unwrap()
        };
        assert_eq!(read(4096), 8192);
        assert!(read(0) > 0, "a floor above 0");
        assert_eq!(read(-1), read(10_000_000), "-1 and 10 MB both hit the cap");

        let abort = d.linger.iter().find(|r| r.linger == Some(0)).unwrap();
        assert_eq!(abort.peer_end, ReadEnd::Failed(Call::Err("ECONNRESET".into())));
        assert_eq!(abort.left, PortLeft::Nothing);
        assert!(
            abort.peer_bytes < abort.written,
            "the reset threw queued data away"
        );
        let off = d.linger.iter().find(|r| r.linger.is_none()).unwrap();
        assert_eq!(off.peer_end, ReadEnd::Eof);
        assert_eq!(
            off.peer_bytes, off.written,
            "linger off still delivers everything"
        );

        let e = d.so_error.as_ref().unwrap();
        assert_eq!(int(&e.first), Some(libc::ECONNREFUSED));
        assert_eq!(int(&e.second), Some(0));
        let b = d.broadcast.as_ref().unwrap();
        assert!(b.sends[0].sent.is("EACCES") && b.sends[1].sent.is_ok());
        assert!(d.oob[0].oob_got_x() && d.oob[1].oob.as_ref().is_err_and(|c| c.is("EINVAL")));
        let f = super::super::findings::findings(&d);
        assert!(
            f.iter().all(|f| f.verdict == crate::report::Verdict::Confirmed),
            "{f:#?}"
        );
    }
}
