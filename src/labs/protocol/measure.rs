//! The measurements: socket(2) for every attempt at up to three privilege levels, the
//! SO_DOMAIN/SO_TYPE/SO_PROTOCOL read-back, ping sockets around ping_group_range, and the
//! protocols database. Everything here is typed data; nothing here is display text.

use super::names::{COMPACT_EXTRAS, CONSTANTS, FAMILIES, TYPES};
use super::Args;
use crate::report::{Call, Measured, Unmeasured};
use crate::sandbox::Ctx;
use crate::sys::{self, netns, privilege, proc, socket::Triple};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long the unprivileged child may take before it is killed (it needs ~100 ms).
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);
/// The uid and gid the root run drops to: "nobody".
pub const NOBODY: u32 = 65534;
pub const PING_RANGE: &str = "net.ipv4.ping_group_range";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// `--all`: every family x type x protocol, not the compact selection.
    pub all: bool,
    /// The family constants of the headers: (name, value).
    pub constants: Vec<(String, i32)>,
    /// The socket() calls of the matrix, in row order.
    pub attempts: Vec<Attempt>,
    /// What each attempt gave at each privilege level.
    pub matrix: Passes,
    /// net.ipv4.ping_group_range as found in the lab's namespace (or why unreadable).
    pub ping_range: Result<String, Call>,
    pub sctp: Sctp,
    pub ping: Measured<Ping>,
    pub protocols: Protocols,
    /// True in a user namespace, where unmapped group ids read back as 65534.
    pub user_namespace: bool,
}

/// One socket() call to try: the numbers passed, and the name a program writes for the third.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub domain: i32,
    pub ty: i32,
    pub protocol: i32,
    pub asked: String,
}

impl Attempt {
    pub fn is(&self, domain: i32, ty: i32, protocol: i32) -> bool {
        (self.domain, self.ty, self.protocol) == (domain, ty, protocol)
    }
}

/// What one socket() call gave, and when it worked, what SO_DOMAIN/SO_TYPE/SO_PROTOCOL said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub socket: Call,
    /// None: socket() failed. Err: getsockopt failed on the new socket.
    pub back: Option<Result<Triple, Call>>,
}

impl Outcome {
    /// A socket was made and described.
    pub fn ok(&self) -> bool {
        self.socket.is_ok() && matches!(self.back, Some(Ok(_)))
    }
    pub fn triple(&self) -> Option<Triple> {
        self.back.as_ref().and_then(|b| b.as_ref().ok().copied())
    }
    pub fn failed_with(&self, errno: &str) -> bool {
        self.socket.is(errno)
    }
}

/// The three privilege columns, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    Root,
    Userns,
    Unprivileged,
}

impl Who {
    pub const ALL: [Who; 3] = [Who::Root, Who::Userns, Who::Unprivileged];
    /// The column key in the tables and the catalogue.
    pub fn key(self) -> &'static str {
        match self {
            Who::Root => "root",
            Who::Userns => "userns",
            Who::Unprivileged => "unprivileged",
        }
    }
}

/// As whom the lab runs, which decides what the three columns are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "as", rename_all = "snake_case")]
pub enum Vantage {
    /// uid 0 in the initial user namespace; the child drops to `nobody`.
    RealRoot { nobody: u32 },
    /// uid 0 only inside a user namespace owned by `outer` (the unprivileged sandbox).
    NamespaceRoot { outer: u32, sandbox: String },
    /// An ordinary uid on the host.
    PlainUser { uid: u32 },
}

/// One column's results: measured, or why not; None: left out of this table on purpose.
pub type Column = Option<Measured<Vec<Outcome>>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passes {
    pub vantage: Vantage,
    pub root: Column,
    pub userns: Column,
    pub unprivileged: Column,
}

impl Passes {
    pub fn column(&self, w: Who) -> &Column {
        match w {
            Who::Root => &self.root,
            Who::Userns => &self.userns,
            Who::Unprivileged => &self.unprivileged,
        }
    }
    /// The results of a column that was measured.
    pub fn results(&self, w: Who) -> Option<&[Outcome]> {
        match self.column(w) {
            Some(Ok(r)) => Some(r),
            _ => None,
        }
    }
    /// Attempt `i` as `w`, if measured.
    pub fn get(&self, w: Who, i: usize) -> Option<&Outcome> {
        self.results(w).and_then(|r| r.get(i))
    }
    /// The columns that were measured, in order.
    pub fn measured(&self) -> Vec<Who> {
        Who::ALL
            .into_iter()
            .filter(|w| self.results(*w).is_some())
            .collect()
    }
    /// The first column measured: root, else namespace root, else unprivileged.
    pub fn primary(&self) -> Option<Who> {
        self.measured().first().copied()
    }
}

/// SCTP registered with the kernel before and after the matrix; can modules load at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sctp {
    pub before: bool,
    pub after: bool,
    pub modules: bool,
}

/// The two ping sockets with the range as found, then widened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub attempts: Vec<Attempt>,
    pub found: Passes,
    /// The range after widening (as read back) and the same attempts, or why not widened.
    pub widened: Measured<Widened>,
    /// Writing the found value back; None when there was nothing readable to restore.
    pub restored: Option<Call>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widened {
    pub range: Result<String, Call>,
    pub passes: Passes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocols {
    /// Reading /etc/protocols.
    pub file: Call,
    pub entries: Vec<ProtoEntry>,
}

/// One name looked up with getprotobyname_r and found in /etc/protocols.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtoEntry {
    pub name: String,
    pub constant: String,
    pub value: i32,
    /// The database's number and aliases; Ok(None): not found; Err: the lookup failed.
    pub lookup: Result<Option<(i32, Vec<String>)>, Call>,
    /// The line of /etc/protocols, whitespace squeezed.
    pub line: Option<String>,
}

pub fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
    let attempts = attempts(args.all);
    let sctp_before = sctp_registered();
    let ping_range = proc::read_sysctl(PING_RANGE).map_err(|e| errno(&e));
    ctx.progress("socket() matrix, three privilege levels");
    let matrix = measure_all(ctx, &attempts, true);
    let sctp = Sctp {
        before: sctp_before,
        after: sctp_registered(),
        modules: sys::socket::module_loading_possible(),
    };
    ctx.progress("ICMP datagram sockets and net.ipv4.ping_group_range");
    let ping = if ctx.can_set_sysctls {
        Ok(ping(ctx, ping_range.as_ref().ok()))
    } else {
        Err(Unmeasured::NoSandbox)
    };
    Ok(Data {
        all: args.all,
        constants: CONSTANTS.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        attempts,
        matrix,
        ping_range,
        sctp,
        ping,
        protocols: protocols(),
        user_namespace: ctx.sandbox == "userns+netns",
    })
}

pub fn attempts(all: bool) -> Vec<Attempt> {
    let mut out = Vec::new();
    for f in FAMILIES {
        for &(ty, _) in TYPES {
            for &(protocol, asked) in f.protos {
                let keep = all || protocol == 0 || COMPACT_EXTRAS.contains(&(f.num, ty, protocol));
                // IPPROTO_ICMPV6 is only worth asking of AF_INET6.
                let meaningful = !(f.num == libc::AF_INET && protocol == libc::IPPROTO_ICMPV6);
                if keep && meaningful {
                    out.push(Attempt {
                        domain: f.num,
                        ty,
                        protocol,
                        asked: asked.into(),
                    });
                }
            }
        }
    }
    out
}

fn errno(e: &std::io::Error) -> Call {
    Call::Err(sys::errno_name(e))
}

/// Calls socket() for every attempt, reads the triple back, closes at once.
fn run(attempts: &[Attempt]) -> Vec<Outcome> {
    attempts
        .iter()
        .map(|a| match sys::socket::socket(a.domain, a.ty, a.protocol) {
            Ok(fd) => {
                let back = sys::socket::read_back(&fd).map_err(|e| errno(&e));
                drop(fd);
                Outcome {
                    socket: Call::Ok,
                    back: Some(back),
                }
            }
            Err(e) => Outcome {
                socket: errno(&e),
                back: None,
            },
        })
        .collect()
}

/// A failed step as the reason a column was not measured: "<step>: ERRNO".
fn refused(step: &str, e: &std::io::Error) -> Unmeasured {
    Unmeasured::Kernel {
        errno: format!("{step}: {}", sys::errno_name(e)),
    }
}

/// What the child sends back.
#[derive(Serialize, Deserialize)]
struct ChildAnswer {
    unprivileged: Column,
    userns: Column,
}

/// Runs `body` in a forked child and decodes its answer; a failure becomes the reason
/// both child columns were not measured.
fn child(body: impl FnOnce() -> ChildAnswer) -> ChildAnswer {
    let text = privilege::in_child(CHILD_TIMEOUT, || {
        serde_json::to_string(&body()).unwrap_or_else(|e| format!("encode: {e}"))
    });
    let failed = |why: Unmeasured| ChildAnswer {
        unprivileged: Some(Err(why.clone())),
        userns: Some(Err(why)),
    };
    match text {
        Ok(t) => serde_json::from_str(&t).unwrap_or_else(|_| {
            failed(Unmeasured::Kernel {
                errno: "child: EBADMSG".into(),
            })
        }),
        Err(e) => failed(refused("child", &e)),
    }
}

/// Measures every attempt at the three privilege levels this process can reach.
/// `with_userns` false leaves out the pass in a further user namespace (whose network
/// namespace would be a new one, with its own sysctls).
fn measure_all(ctx: &Ctx, attempts: &[Attempt], with_userns: bool) -> Passes {
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 && privilege::in_initial_user_ns() {
        as_real_root(attempts, with_userns)
    } else if euid == 0 {
        as_namespace_root(ctx, attempts)
    } else {
        as_plain_user(euid, attempts, with_userns)
    }
}

fn not_root() -> Column {
    Some(Err(Unmeasured::Privilege { what: "root".into() }))
}

fn as_real_root(attempts: &[Attempt], with_userns: bool) -> Passes {
    let root = Some(Ok(run(attempts)));
    let answer = child(|| {
        let unprivileged = privilege::become_user(NOBODY)
            .map(|_| run(attempts))
            .map_err(|e| refused(&format!("setuid({NOBODY})"), &e));
        let userns = match &unprivileged {
            Ok(_) if !with_userns => None,
            Ok(_) => Some(
                netns::unshare_user_net(NOBODY, NOBODY)
                    .map(|_| run(attempts))
                    .map_err(|e| refused("unshare(CLONE_NEWUSER|CLONE_NEWNET)", &e)),
            ),
            Err(e) => Some(Err(e.clone())),
        };
        ChildAnswer {
            unprivileged: Some(unprivileged),
            userns,
        }
    });
    Passes {
        vantage: Vantage::RealRoot { nobody: NOBODY },
        root,
        userns: answer.userns,
        unprivileged: answer.unprivileged,
    }
}

fn as_namespace_root(ctx: &Ctx, attempts: &[Attempt]) -> Passes {
    let answer = child(|| ChildAnswer {
        unprivileged: Some(
            privilege::drop_capabilities()
                .map(|_| run(attempts))
                .map_err(|e| refused("capset", &e)),
        ),
        userns: None,
    });
    Passes {
        vantage: Vantage::NamespaceRoot {
            outer: ctx.outer_uid,
            sandbox: ctx.sandbox.into(),
        },
        root: not_root(),
        userns: Some(Ok(run(attempts))),
        unprivileged: answer.unprivileged,
    }
}

fn as_plain_user(uid: u32, attempts: &[Attempt], with_userns: bool) -> Passes {
    let gid = nix::unistd::getegid().as_raw();
    let userns = if with_userns {
        child(|| ChildAnswer {
            unprivileged: None,
            userns: Some(
                netns::unshare_user_net(uid, gid)
                    .map(|_| run(attempts))
                    .map_err(|e| refused("unshare(CLONE_NEWUSER|CLONE_NEWNET)", &e)),
            ),
        })
        .userns
    } else {
        None
    };
    Passes {
        vantage: Vantage::PlainUser { uid },
        root: not_root(),
        userns,
        unprivileged: Some(Ok(run(attempts))),
    }
}

/// The two ICMP datagram ("ping") sockets, before and after widening ping_group_range in
/// the lab's own network namespace; the value found is put back afterwards.
fn ping(ctx: &Ctx, found: Option<&String>) -> Ping {
    let attempts = vec![
        Attempt {
            domain: libc::AF_INET,
            ty: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_ICMP,
            asked: "IPPROTO_ICMP".into(),
        },
        Attempt {
            domain: libc::AF_INET6,
            ty: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_ICMPV6,
            asked: "IPPROTO_ICMPV6".into(),
        },
    ];
    let before = measure_all(ctx, &attempts, false);
    // The full range where every gid is mapped (initial namespace), else gid 0 alone.
    let mut last = Call::Ok;
    let mut widened = None;
    for v in ["0 2147483647", "0 0"] {
        match proc::write_sysctl(PING_RANGE, v) {
            Ok(()) => {
                widened = Some(v);
                break;
            }
            Err(e) => last = errno(&e),
        }
    }
    let widened = match widened {
        Some(_) => Ok(Widened {
            passes: measure_all(ctx, &attempts, false),
            range: proc::read_sysctl(PING_RANGE).map_err(|e| errno(&e)),
        }),
        None => Err(Unmeasured::SysctlRefused {
            name: PING_RANGE.into(),
            errno: last.name().into(),
        }),
    };
    let restored = found.map(|f| match proc::write_sysctl(PING_RANGE, f) {
        Ok(()) => Call::Ok,
        Err(e) => errno(&e),
    });
    Ping {
        attempts,
        found: before,
        widened,
        restored,
    }
}

fn protocols() -> Protocols {
    let file = std::fs::read_to_string("/etc/protocols");
    let consts = [
        ("tcp", libc::IPPROTO_TCP, "IPPROTO_TCP"),
        ("udp", libc::IPPROTO_UDP, "IPPROTO_UDP"),
        ("icmp", libc::IPPROTO_ICMP, "IPPROTO_ICMP"),
        ("sctp", libc::IPPROTO_SCTP, "IPPROTO_SCTP"),
    ];
    let entries = consts
        .into_iter()
        .map(|(name, value, constant)| ProtoEntry {
            name: name.into(),
            constant: constant.into(),
            value,
            lookup: match sys::socket::protocol_by_name(name) {
                Ok(p) => Ok(p.map(|p| (p.number, p.aliases))),
                Err(e) => Err(errno(&e)),
            },
            line: file.as_ref().ok().and_then(|f| protocols_line(f, name)),
        })
        .collect();
    Protocols {
        file: Call::of(&file),
        entries,
    }
}

/// The first non-comment line of /etc/protocols whose name is `name`, whitespace squeezed.
pub fn protocols_line(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn sctp_registered() -> bool {
    sys::socket::registered_protocols()
        .map(|p| p.iter().any(|n| n == "SCTP"))
        .unwrap_or(false)
        || sys::socket::module_present("sctp")
}

/// Whether a read-back differs from what was asked in type, or in a protocol that was named.
pub fn changed(a: &Attempt, b: &Triple) -> bool {
    b.ty != a.ty || (b.protocol != a.protocol && a.protocol != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(all: bool) -> Data {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            let d = measure(&Args { all }, ctx)?;
            Ok(crate::labs::assemble::<super::super::Protocol>(&d))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap()
    }

    fn primary(d: &Data, dom: i32, ty: i32, p: i32) -> &Outcome {
        let i = d.attempts.iter().position(|a| a.is(dom, ty, p)).unwrap();
        d.matrix.get(d.matrix.primary().unwrap(), i).unwrap()
    }

    #[test]
    fn kernel_behaviour_matches_the_invariants() {
        use libc::*;
        let d = data(false);
        let proto = |ty| primary(&d, AF_INET, ty, 0).triple().map(|b| b.protocol);
        assert_eq!(proto(SOCK_STREAM), Some(IPPROTO_TCP), "STREAM + 0 is TCP");
        assert_eq!(proto(SOCK_DGRAM), Some(IPPROTO_UDP), "DGRAM + 0 is UDP");
        let mismatch = primary(&d, AF_INET, SOCK_STREAM, IPPROTO_UDP);
        assert!(
            mismatch.failed_with("EPROTONOSUPPORT") && mismatch.back.is_none(),
            "{mismatch:?}"
        );
        assert!(
            primary(&d, AF_UNIX, SOCK_SEQPACKET, 0).ok(),
            "AF_UNIX has SOCK_SEQPACKET"
        );
        assert!(!primary(&d, AF_UNIX, SOCK_RDM, 0).ok());
        let i = d
            .attempts
            .iter()
            .position(|a| a.is(AF_INET, SOCK_RAW, IPPROTO_ICMP))
            .unwrap();
        if let Some(o) = d.matrix.get(Who::Unprivileged, i) {
            assert!(o.failed_with("EPERM"), "no CAP_NET_RAW: {o:?}");
        }
        if let Some(o) = d.matrix.get(Who::Root, i) {
            assert!(o.ok(), "root has CAP_NET_RAW: {o:?}");
        }
        // Privilege never changes what a created socket is.
        let i = d
            .attempts
            .iter()
            .position(|a| a.is(AF_INET, SOCK_STREAM, 0))
            .unwrap();
        let backs: Vec<_> = Who::ALL.iter().filter_map(|w| d.matrix.get(*w, i)).collect();
        assert!(!backs.is_empty() && backs.iter().all(|o| o.triple() == backs[0].triple()));
        // A created socket is always described, a refused one never.
        for w in d.matrix.measured() {
            for o in d.matrix.results(w).unwrap() {
                assert_eq!(o.socket.is_ok(), o.back.is_some(), "{o:?}");
            }
        }
    }

    #[test]
    fn the_full_matrix_covers_every_family_and_type() {
        let d = data(true);
        for f in FAMILIES {
            for (ty, name) in TYPES {
                assert!(
                    d.attempts.iter().any(|a| a.domain == f.num && a.ty == *ty),
                    "{} {name}",
                    f.name
                );
            }
        }
        assert!(d.attempts.len() > attempts(false).len());
        let n = d.attempts.len();
        for w in d.matrix.measured() {
            assert_eq!(d.matrix.results(w).unwrap().len(), n, "one outcome per attempt");
        }
    }

    #[test]
    fn protocols_line_skips_comments() {
        let text = "# tcp 6 comment\ntcp\t6\tTCP\t\t# transmission\nudp 17 UDP\n";
        assert_eq!(protocols_line(text, "tcp").unwrap(), "tcp 6 TCP # transmission");
        assert_eq!(protocols_line(text, "sctp"), None);
    }
}
