//! `lab protocol` — why `socket(AF_INET, SOCK_STREAM, 0)` says 0, what AF_ and PF_ are,
//! and which socket types each family really has.
//!
//! Method: print the family constants from the system headers (the libc crate), grouped
//! by value. Then call socket(2) for every (domain, type, protocol) cell of a matrix and,
//! when it succeeds, ask the kernel what it made: getsockopt SO_DOMAIN, SO_TYPE and
//! SO_PROTOCOL; each descriptor is closed at once. The same cells run as root, as an
//! unprivileged uid (a forked child that gave up root) and as root of a fresh user
//! namespace, side by side; what could not be measured says why. Last, the protocols
//! database: getprotobyname_r and the lines of /etc/protocols.

use super::{yes_no, yes_no_zh};
use crate::report::{Report, Row, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use crate::sys::{self, netns, privilege, proc, socket::Triple};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

crate::legacy_experiment!(Protocol, "protocol", Args, run);

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Why socket() takes protocol 0, what AF_/PF_ are, which socket types each family has",
    after_help = "Examples:
  lab protocol                          the compact matrix (every family and type with protocol 0, plus telling cases)
  lab protocol --all                    every family x type x protocol
  lab protocol --format json | jq '.tables[] | select(.id==\"defaults\") | .rows'"
)]
pub struct Args {
    /// Run the full matrix: every family x type x protocol (default: a compact selection).
    #[arg(long)]
    pub all: bool,
}

/// How long the unprivileged child may take before it is killed (it needs ~100 ms).
const CHILD_TIMEOUT: Duration = Duration::from_secs(5);
/// The uid and gid the root run drops to: "nobody".
const NOBODY: u32 = 65534;

pub fn run(args: &Args, ctx: &Ctx) -> Result<Report> {
    let mut report = super::report_for("protocol");
    report.tables.push(constants_table());
    let probes = probes(args.all);
    let sctp_before = sctp_state();
    let ping_range = proc::read_sysctl(PING_RANGE).unwrap_or_else(|_| "unreadable".into());
    ctx.progress("socket() matrix, three privilege levels");
    let passes = measure_all(ctx, &probes, true);
    let sctp_after = sctp_state();
    report.tables.push(defaults_table(&probes, &passes));
    let mut matrix = matrix_table(&probes, &passes, args.all);
    matrix_notes(&mut matrix, &ping_range, &sctp_before, &sctp_after);
    report.tables.push(matrix);
    ctx.progress("ICMP datagram sockets and net.ipv4.ping_group_range");
    if let Some(t) = ping_table(ctx, &ping_range, &mut report) {
        report.tables.push(t);
    }
    let protocols = protocols_table(&mut report);
    report.tables.push(protocols);
    for (en, zh) in passes.notes() {
        report.note_zh(en, zh);
    }
    findings(&mut report);
    Ok(report)
}

fn matrix_notes(matrix: &mut Table, ping_range: &str, sctp_before: &SctpState, sctp_after: &SctpState) {
    matrix.note_zh(
        "read back: SO_DOMAIN SO_TYPE SO_PROTOCOL from getsockopt, numbers in brackets; \"-\": socket() failed, nothing to read",
        "读回：用 getsockopt 读出的 SO_DOMAIN SO_TYPE SO_PROTOCOL，括号里是数值；“-”：socket() 失败，没有可读的",
    );
    matrix.note_zh(
        format!(
            "{PING_RANGE} = {ping_range}: only groups in this range may open ICMP datagram sockets \
             (SOCK_DGRAM + IPPROTO_ICMP/ICMPV6); \"1 0\" (the default of a new network namespace) lets no one, not even root"
        ),
        format!(
            "{PING_RANGE} = {ping_range}：只有这个范围内的组才能打开 ICMP 数据报套接字\
             （SOCK_DGRAM + IPPROTO_ICMP/ICMPV6）；“1 0”（新网络命名空间的默认值）谁都不允许，root 也不行"
        ),
    );
    let (modules, modules_zh) = if sctp_before.modules {
        (
            "is possible, so socket() may have asked modprobe for net-pf-N-proto-132",
            "可用，所以 socket() 可能已请 modprobe 加载 net-pf-N-proto-132",
        )
    } else {
        (
            "is not built into this kernel (no /proc/modules), so socket() could not load SCTP",
            "本内核未编入此功能（没有 /proc/modules），所以 socket() 无法加载 SCTP",
        )
    };
    matrix.note_zh(
        format!(
            "IPPROTO_SCTP: SCTP registered with the kernel before the matrix: {}, after: {}; module loading {modules}",
            yes_no(sctp_before.registered),
            yes_no(sctp_after.registered),
        ),
        format!(
            "IPPROTO_SCTP：跑矩阵之前 SCTP 已在内核注册：{}，之后：{}；模块加载：{modules_zh}",
            yes_no_zh(sctp_before.registered),
            yes_no_zh(sctp_after.registered),
        ),
    );
}

// ---- names ----

/// A protocol family: its number, name, and the protocol values worth asking for.
struct Family {
    num: i32,
    name: &'static str,
    /// (value, the name a program would write for it).
    protos: &'static [(i32, &'static str)],
}

const fn htons(v: i32) -> i32 {
    (v as u16).to_be() as i32
}

const IP_PROTOS: &[(i32, &str)] = &[
    (0, "0"),
    (libc::IPPROTO_TCP, "IPPROTO_TCP"),
    (libc::IPPROTO_UDP, "IPPROTO_UDP"),
    (libc::IPPROTO_SCTP, "IPPROTO_SCTP"),
    (libc::IPPROTO_ICMP, "IPPROTO_ICMP"),
    (libc::IPPROTO_ICMPV6, "IPPROTO_ICMPV6"),
    (libc::IPPROTO_UDPLITE, "IPPROTO_UDPLITE"),
    (libc::IPPROTO_MPTCP, "IPPROTO_MPTCP"),
    (libc::IPPROTO_RAW, "IPPROTO_RAW"),
];
const UNIX_PROTOS: &[(i32, &str)] = &[
    (0, "0"),
    (libc::IPPROTO_TCP, "IPPROTO_TCP"),
    (libc::IPPROTO_UDP, "IPPROTO_UDP"),
    (libc::IPPROTO_SCTP, "IPPROTO_SCTP"),
    (libc::IPPROTO_ICMP, "IPPROTO_ICMP"),
];
const NETLINK_PROTOS: &[(i32, &str)] = &[
    (libc::NETLINK_ROUTE, "NETLINK_ROUTE"),
    (libc::NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG"),
    (libc::NETLINK_GENERIC, "NETLINK_GENERIC"),
    (libc::NETLINK_UNUSED, "NETLINK_UNUSED"),
    (libc::IPPROTO_TCP, "IPPROTO_TCP"),
    (libc::IPPROTO_UDP, "IPPROTO_UDP"),
];
const PACKET_PROTOS: &[(i32, &str)] = &[
    (0, "0"),
    (htons(libc::ETH_P_ALL), "htons(ETH_P_ALL)"),
    (htons(libc::ETH_P_IP), "htons(ETH_P_IP)"),
    (libc::ETH_P_ALL, "ETH_P_ALL (no htons)"),
];

const FAMILIES: &[Family] = &[
    Family {
        num: libc::AF_INET,
        name: "AF_INET",
        protos: IP_PROTOS,
    },
    Family {
        num: libc::AF_INET6,
        name: "AF_INET6",
        protos: IP_PROTOS,
    },
    Family {
        num: libc::AF_UNIX,
        name: "AF_UNIX",
        protos: UNIX_PROTOS,
    },
    Family {
        num: libc::AF_NETLINK,
        name: "AF_NETLINK",
        protos: NETLINK_PROTOS,
    },
    Family {
        num: libc::AF_PACKET,
        name: "AF_PACKET",
        protos: PACKET_PROTOS,
    },
];

const TYPES: &[(i32, &str)] = &[
    (libc::SOCK_STREAM, "SOCK_STREAM"),
    (libc::SOCK_DGRAM, "SOCK_DGRAM"),
    (libc::SOCK_SEQPACKET, "SOCK_SEQPACKET"),
    (libc::SOCK_RAW, "SOCK_RAW"),
    (libc::SOCK_RDM, "SOCK_RDM"),
];

/// Cells the compact matrix shows besides protocol 0: each one tells something.
const COMPACT_EXTRAS: &[(i32, i32, i32)] = &[
    (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP),
    (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP),
    (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP),
    (libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_MPTCP),
    (libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP),
    (libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_TCP),
    (libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP),
    (libc::AF_INET, libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP),
    (libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP),
    (libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_TCP),
    (libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6),
    (libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6),
    (libc::AF_UNIX, libc::SOCK_STREAM, libc::IPPROTO_TCP),
    (libc::AF_UNIX, libc::SOCK_STREAM, libc::IPPROTO_ICMP),
    (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_SOCK_DIAG),
    (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_UNUSED),
    (libc::AF_PACKET, libc::SOCK_RAW, htons(libc::ETH_P_ALL)),
    (libc::AF_PACKET, libc::SOCK_DGRAM, htons(libc::ETH_P_ALL)),
];

fn family_name(num: i32) -> String {
    FAMILIES
        .iter()
        .find(|f| f.num == num)
        .map(|f| f.name.to_string())
        .unwrap_or_else(|| format!("family {num}"))
}

fn type_name(num: i32) -> String {
    TYPES
        .iter()
        .find(|t| t.0 == num)
        .map(|t| t.1.to_string())
        .unwrap_or_else(|| format!("type {num}"))
}

/// What a protocol number means in a family: 6 is IPPROTO_TCP in AF_INET but
/// NETLINK_XFRM in AF_NETLINK.
fn protocol_name(family: i32, num: i32) -> String {
    let known: &[(i32, &str)] = match family {
        libc::AF_INET | libc::AF_INET6 => IP_PROTOS,
        libc::AF_NETLINK => &[
            (libc::NETLINK_ROUTE, "NETLINK_ROUTE"),
            (libc::NETLINK_UNUSED, "NETLINK_UNUSED"),
            (libc::NETLINK_SOCK_DIAG, "NETLINK_SOCK_DIAG"),
            (libc::NETLINK_XFRM, "NETLINK_XFRM"),
            (libc::NETLINK_GENERIC, "NETLINK_GENERIC"),
        ],
        libc::AF_UNIX => &[(0, "0"), (libc::PF_UNIX, "PF_UNIX")],
        libc::AF_PACKET => PACKET_PROTOS,
        _ => &[],
    };
    known
        .iter()
        .find(|p| p.0 == num)
        .map(|p| p.1.to_string())
        .unwrap_or_else(|| num.to_string())
}

fn triple_text(t: &Triple) -> String {
    format!(
        "{} {} {} ({}/{}/{})",
        family_name(t.domain),
        type_name(t.ty),
        protocol_name(t.domain, t.protocol),
        t.domain,
        t.ty,
        t.protocol
    )
}

// ---- table 1: constants ----

fn constants_table() -> Table {
    let mut t = Table::new(
        "constants",
        "Family constants from the system headers, grouped by value",
        &[
            ("value", "value"),
            ("names", "names with this value"),
            ("meaning", "meaning"),
        ],
    )
    .zh(
        "系统头文件中的协议族常量，按数值分组",
        &["数值", "取这个值的名字", "含义"],
    );
    let names: &[(&str, i32, &str)] = &[
        ("AF_UNIX", libc::AF_UNIX, "local (Unix-domain) sockets, unix(7)"),
        ("AF_LOCAL", libc::AF_LOCAL, ""),
        ("PF_UNIX", libc::PF_UNIX, ""),
        ("PF_LOCAL", libc::PF_LOCAL, ""),
        ("AF_INET", libc::AF_INET, "IPv4, ip(7)"),
        ("PF_INET", libc::PF_INET, ""),
        ("AF_INET6", libc::AF_INET6, "IPv6, ipv6(7)"),
        ("PF_INET6", libc::PF_INET6, ""),
        ("AF_NETLINK", libc::AF_NETLINK, "kernel/user messages, netlink(7)"),
        ("PF_NETLINK", libc::PF_NETLINK, ""),
        ("AF_PACKET", libc::AF_PACKET, "whole link-layer frames, packet(7)"),
        ("PF_PACKET", libc::PF_PACKET, ""),
    ];
    let mut values: Vec<i32> = names.iter().map(|n| n.1).collect();
    values.sort_unstable();
    values.dedup();
    for v in values {
        let group: Vec<&str> = names.iter().filter(|n| n.1 == v).map(|n| n.0).collect();
        let meaning = names.iter().find(|n| n.1 == v && !n.2.is_empty()).map(|n| n.2);
        t.push(row! { "value" => v, "names" => group.join(" = "), "meaning" => meaning });
    }
    t.note_zh(
        "AF_ (address family) names the kind of address, PF_ (protocol family) the protocol suite; Linux defines every PF_x as AF_x",
        "AF_（地址族）指地址的种类，PF_（协议族）指协议套件；Linux 把每个 PF_x 都定义为 AF_x",
    );
    t
}

// ---- the probes and the passes ----

/// One socket() call to try.
#[derive(Debug, Clone, Copy)]
struct Probe {
    domain: i32,
    ty: i32,
    protocol: i32,
    asked: &'static str,
}

fn probes(all: bool) -> Vec<Probe> {
    let mut out = Vec::new();
    for f in FAMILIES {
        for &(ty, _) in TYPES {
            for &(protocol, asked) in f.protos {
                let keep = all || protocol == 0 || COMPACT_EXTRAS.contains(&(f.num, ty, protocol));
                // IPPROTO_ICMPV6 is only worth asking of AF_INET6.
                let meaningful = !(f.num == libc::AF_INET && protocol == libc::IPPROTO_ICMPV6);
                if keep && meaningful {
                    out.push(Probe {
                        domain: f.num,
                        ty,
                        protocol,
                        asked,
                    });
                }
            }
        }
    }
    out
}

/// What one socket() call gave: "ok" or the errno name, and the read-back when ok.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Outcome {
    result: String,
    back: Option<Triple>,
}

/// Calls socket() for every probe, reads the triple back, closes at once.
fn measure(probes: &[Probe]) -> Vec<Outcome> {
    probes
        .iter()
        .map(|p| match sys::socket::socket(p.domain, p.ty, p.protocol) {
            Ok(fd) => {
                let back = sys::socket::read_back(&fd);
                drop(fd);
                match back {
                    Ok(t) => Outcome {
                        result: "ok".into(),
                        back: Some(t),
                    },
                    Err(e) => Outcome {
                        result: format!("ok, read-back {}", sys::errno_name(&e)),
                        back: None,
                    },
                }
            }
            Err(e) => Outcome {
                result: sys::errno_name(&e),
                back: None,
            },
        })
        .collect()
}

/// Why a privilege column was not measured, in English and Simplified Chinese.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Why {
    en: String,
    zh: String,
}

fn why(en: impl Into<String>, zh: impl Into<String>) -> Why {
    Why {
        en: en.into(),
        zh: zh.into(),
    }
}

fn not_attempted() -> Result<Vec<Outcome>, Why> {
    Err(why("not attempted", "未尝试"))
}

fn left_out() -> Result<Vec<Outcome>, Why> {
    Err(why("left out of this table", "本表不含这一列"))
}

/// One privilege column: measured (with a header saying as whom) or why not.
struct Pass {
    header: String,
    header_zh: String,
    how: String,
    how_zh: String,
    results: Result<Vec<Outcome>, Why>,
}

impl Pass {
    fn not_measured(header: &str, header_zh: &str, why: Why) -> Pass {
        Pass {
            header: header.into(),
            header_zh: header_zh.into(),
            how: String::new(),
            how_zh: String::new(),
            results: Err(why),
        }
    }

    fn get(&self, i: usize) -> Option<&Outcome> {
        self.results.as_ref().ok().and_then(|r| r.get(i))
    }
}

struct Passes {
    root: Pass,
    userns: Pass,
    unprivileged: Pass,
}

impl Passes {
    /// (key, pass) in column order.
    fn columns(&self) -> [(&'static str, &Pass); 3] {
        [
            ("root", &self.root),
            ("userns", &self.userns),
            ("unprivileged", &self.unprivileged),
        ]
    }

    /// The first pass that was measured: root, else namespace root, else unprivileged.
    fn primary(&self) -> Option<(&'static str, &Pass)> {
        self.columns().into_iter().find(|(_, p)| p.results.is_ok())
    }

    /// One (English, Chinese) note per column: as whom it was measured, or why not.
    fn notes(&self) -> Vec<(String, String)> {
        self.columns()
            .iter()
            .map(|(_, p)| match &p.results {
                Ok(_) => (
                    format!("column \"{}\": {}", p.header, p.how),
                    format!("“{}”列：{}", p.header_zh, p.how_zh),
                ),
                Err(why) => (
                    format!("column \"{}\": not measured — {}", p.header, why.en),
                    format!("“{}”列：未测量——{}", p.header_zh, why.zh),
                ),
            })
            .collect()
    }
}

/// What the child sends back.
#[derive(Serialize, Deserialize)]
struct ChildAnswer {
    unprivileged: Option<Result<Vec<Outcome>, Why>>,
    userns: Option<Result<Vec<Outcome>, Why>>,
}

fn io_text(e: &std::io::Error) -> String {
    sys::errno_name(e)
}

fn unshare_failed(e: &std::io::Error) -> Why {
    why(
        format!("unshare(CLONE_NEWUSER|CLONE_NEWNET): {}", io_text(e)),
        format!("unshare(CLONE_NEWUSER|CLONE_NEWNET)：{}", io_text(e)),
    )
}

/// Runs `body` in a forked child and decodes its answer; a failure becomes the reason
/// both child columns were not measured.
fn child(body: impl FnOnce() -> ChildAnswer) -> ChildAnswer {
    let text = privilege::in_child(CHILD_TIMEOUT, || {
        serde_json::to_string(&body()).unwrap_or_else(|e| format!("encode: {e}"))
    });
    let failed = |why: Why| ChildAnswer {
        unprivileged: Some(Err(why.clone())),
        userns: Some(Err(why)),
    };
    match text {
        Ok(t) => serde_json::from_str(&t).unwrap_or_else(|_| {
            failed(why(
                format!("the child answered: {t}"),
                format!("子进程的回答是：{t}"),
            ))
        }),
        Err(e) => failed(why(format!("the child failed: {e}"), format!("子进程失败：{e}"))),
    }
}

/// Measures every probe at the three privilege levels this process can reach.
/// `with_userns` false leaves out the pass in a further user namespace (whose network
/// namespace would be a new one, with its own sysctls).
fn measure_all(ctx: &Ctx, probes: &[Probe], with_userns: bool) -> Passes {
    let euid = nix::unistd::geteuid().as_raw();
    if euid == 0 && privilege::in_initial_user_ns() {
        as_real_root(probes, with_userns)
    } else if euid == 0 {
        as_namespace_root(ctx, probes)
    } else {
        as_plain_user(euid, probes, with_userns)
    }
}

fn as_real_root(probes: &[Probe], with_userns: bool) -> Passes {
    let root = Pass {
        header: "root (uid 0)".into(),
        header_zh: "root（uid 0）".into(),
        how: "this process, uid 0 in the initial user namespace (all capabilities)".into(),
        how_zh: "本进程，初始用户命名空间里的 uid 0（拥有全部能力）".into(),
        results: Ok(measure(probes)),
    };
    let answer = child(|| {
        let unprivileged = privilege::become_user(NOBODY)
            .map(|_| measure(probes))
            .map_err(|e| {
                why(
                    format!("dropping to uid {NOBODY}: {}", io_text(&e)),
                    format!("降到 uid {NOBODY}：{}", io_text(&e)),
                )
            });
        let userns = match &unprivileged {
            Ok(_) if !with_userns => left_out(),
            Ok(_) => netns::unshare_user_net(NOBODY, NOBODY)
                .map(|_| measure(probes))
                .map_err(|e| unshare_failed(&e)),
            Err(e) => Err(e.clone()),
        };
        ChildAnswer {
            unprivileged: Some(unprivileged),
            userns: Some(userns),
        }
    });
    Passes {
        root,
        userns: Pass {
            header: format!("uid {NOBODY} as root of own userns"),
            header_zh: format!("uid {NOBODY}，自建用户命名空间的 root"),
            how: format!(
                "the same child after unshare(CLONE_NEWUSER|CLONE_NEWNET) mapped uid {NOBODY} to uid 0 \
                 of a new user namespace; its capabilities hold only for that namespace's network stack"
            ),
            how_zh: format!(
                "同一个子进程调用 unshare(CLONE_NEWUSER|CLONE_NEWNET) 后，uid {NOBODY} 被映射为新用户命名空间的 uid 0；\
                 它的能力只对该命名空间的网络栈有效"
            ),
            results: answer.userns.unwrap_or_else(not_attempted),
        },
        unprivileged: Pass {
            header: format!("uid {NOBODY}, unprivileged"),
            header_zh: format!("uid {NOBODY}，无特权"),
            how: format!(
                "a forked child that called setgroups([]), setgid({NOBODY}), setuid({NOBODY}) and so holds no capabilities"
            ),
            how_zh: format!(
                "fork 出的子进程调用了 setgroups([])、setgid({NOBODY})、setuid({NOBODY})，因此不持有任何能力"
            ),
            results: answer.unprivileged.unwrap_or_else(not_attempted),
        },
    }
}

fn as_namespace_root(ctx: &Ctx, probes: &[Probe]) -> Passes {
    let outer = ctx.outer_uid;
    let answer = child(|| ChildAnswer {
        unprivileged: Some(
            privilege::drop_capabilities()
                .map(|_| measure(probes))
                .map_err(|e| {
                    why(
                        format!("capset: {}", io_text(&e)),
                        format!("capset：{}", io_text(&e)),
                    )
                }),
        ),
        userns: None,
    });
    Passes {
        root: Pass::not_measured(
            "root (not measured)",
            "root（未测量）",
            why(
                format!("the lab ran as uid {outer}, which is uid 0 only inside a user namespace it made"),
                format!("本实验以 uid {outer} 运行，它只在自己创建的用户命名空间里才是 uid 0"),
            ),
        ),
        userns: Pass {
            header: format!("uid {outer} as root of own userns"),
            header_zh: format!("uid {outer}，自建用户命名空间的 root"),
            how: format!(
                "this process: uid 0 inside a user namespace owned by uid {outer} ({}); its capabilities hold \
                 only for that namespace's network stack",
                ctx.sandbox
            ),
            how_zh: format!(
                "本进程：uid {outer} 所拥有的用户命名空间里的 uid 0（{}）；它的能力只对该命名空间的网络栈有效",
                ctx.sandbox
            ),
            results: Ok(measure(probes)),
        },
        unprivileged: Pass {
            header: format!("uid {outer}, no capabilities"),
            header_zh: format!("uid {outer}，无任何能力"),
            how: "a forked child of that process that dropped every capability with capset(2)".into(),
            how_zh: "该进程 fork 出的子进程，用 capset(2) 放弃了全部能力".into(),
            results: answer.unprivileged.unwrap_or_else(not_attempted),
        },
    }
}

fn as_plain_user(uid: u32, probes: &[Probe], with_userns: bool) -> Passes {
    let gid = nix::unistd::getegid().as_raw();
    let answer = if with_userns {
        child(|| ChildAnswer {
            unprivileged: None,
            userns: Some(
                netns::unshare_user_net(uid, gid)
                    .map(|_| measure(probes))
                    .map_err(|e| unshare_failed(&e)),
            ),
        })
    } else {
        ChildAnswer {
            unprivileged: None,
            userns: Some(left_out()),
        }
    };
    Passes {
        root: Pass::not_measured(
            "root (not measured)",
            "root（未测量）",
            why(
                format!("the lab ran as uid {uid}, not root"),
                format!("本实验以 uid {uid} 运行，不是 root"),
            ),
        ),
        userns: Pass {
            header: format!("uid {uid} as root of own userns"),
            header_zh: format!("uid {uid}，自建用户命名空间的 root"),
            how: "a forked child after unshare(CLONE_NEWUSER|CLONE_NEWNET)".into(),
            how_zh: "调用 unshare(CLONE_NEWUSER|CLONE_NEWNET) 之后的 fork 子进程".into(),
            results: answer.userns.unwrap_or_else(not_attempted),
        },
        unprivileged: Pass {
            header: format!("uid {uid} (this process)"),
            header_zh: format!("uid {uid}（本进程）"),
            how: "this process, as it was started".into(),
            how_zh: "本进程，保持启动时的身份".into(),
            results: Ok(measure(probes)),
        },
    }
}

// ---- table 2: what protocol 0 becomes ----

fn defaults_table(probes: &[Probe], passes: &Passes) -> Table {
    let mut t = Table::new(
        "defaults",
        "socket(domain, type, 0), then getsockopt SO_DOMAIN / SO_TYPE / SO_PROTOCOL: what 0 became",
        &[
            ("domain", "domain"),
            ("type", "type"),
            ("socket", "socket()"),
            ("so_domain", "SO_DOMAIN"),
            ("so_type", "SO_TYPE"),
            ("so_protocol", "SO_PROTOCOL"),
            ("protocol_name", "protocol chosen"),
        ],
    )
    .zh(
        "socket(domain, type, 0) 后用 getsockopt 读 SO_DOMAIN / SO_TYPE / SO_PROTOCOL：0 变成了什么",
        &[
            "协议族",
            "类型",
            "socket()",
            "SO_DOMAIN",
            "SO_TYPE",
            "SO_PROTOCOL",
            "内核选的协议",
        ],
    );
    let Some((_, pass)) = passes.primary() else {
        t.note_zh(
            "no privilege level could be measured",
            "没有任何一个权限级别能测量",
        );
        return t;
    };
    for (i, p) in probes.iter().enumerate() {
        if p.protocol != 0 || p.domain == libc::AF_NETLINK {
            continue;
        }
        let Some(o) = pass.get(i) else { continue };
        let b = o.back.as_ref();
        t.push(row! {
            "domain" => family_name(p.domain),
            "type" => type_name(p.ty),
            "socket" => o.result,
            "so_domain" => b.map(|b| format!("{} ({})", family_name(b.domain), b.domain)),
            "so_type" => b.map(|b| format!("{} ({})", type_name(b.ty), b.ty)),
            "so_protocol" => b.map(|b| b.protocol),
            "protocol_name" => b.map(|b| protocol_name(b.domain, b.protocol)),
        });
    }
    t.note_zh(
        format!("measured as: {}", pass.header),
        format!("测量身份：{}", pass.header_zh),
    );
    t.note_zh(
        "AF_NETLINK is left out here: for netlink, 0 is not \"the default\" but NETLINK_ROUTE itself (see the matrix)",
        "这里不列 AF_NETLINK：对 netlink 来说，0 不是“默认协议”，而就是 NETLINK_ROUTE 本身（见矩阵）",
    );
    t
}

// ---- table 3: the matrix ----

fn matrix_table(probes: &[Probe], passes: &Passes, all: bool) -> Table {
    let cols = passes.columns();
    let title = if all {
        "socket(domain, type, protocol) for every cell, at three privilege levels"
    } else {
        "socket(domain, type, protocol): every family and type with 0, plus telling cells (--all for every cell)"
    };
    let mut t = Table::new(
        "matrix",
        title,
        &[
            ("domain", "domain"),
            ("type", "type"),
            ("protocol", "protocol"),
            ("asked", "asked as"),
            (cols[0].0, &cols[0].1.header),
            (cols[1].0, &cols[1].1.header),
            (cols[2].0, &cols[2].1.header),
            ("read_back", "read back"),
            ("kernel", "what the kernel made of it"),
        ],
    )
    .zh(
        if all {
            "每一格的 socket(domain, type, protocol)，三种权限"
        } else {
            "socket(domain, type, protocol)：每个协议族和类型配 0，再加几个有代表性的格子（--all 看全部）"
        },
        &[
            "协议族",
            "类型",
            "协议号",
            "写法",
            &cols[0].1.header_zh,
            &cols[1].1.header_zh,
            &cols[2].1.header_zh,
            "读回",
            "内核如何处理",
        ],
    );
    for (i, p) in probes.iter().enumerate() {
        t.push(matrix_row(i, p, passes));
    }
    t
}

fn matrix_row(i: usize, p: &Probe, passes: &Passes) -> Row {
    let outcomes: Vec<(&str, Option<&Outcome>)> = passes
        .columns()
        .iter()
        .map(|(k, pass)| (*k, pass.get(i)))
        .collect();
    let backs: Vec<(&str, Triple)> = outcomes
        .iter()
        .filter_map(|(k, o)| o.and_then(|o| o.back).map(|b| (*k, b)))
        .collect();
    let first = backs.first().map(|b| b.1);
    let mut kernel = first.map(|b| what_kernel_did(p, &b));
    if let Some(f) = first {
        for (k, b) in &backs[1..] {
            if *b != f {
                kernel = Some(format!(
                    "{}; as {k}: {}",
                    kernel.unwrap_or_default(),
                    triple_text(b)
                ));
            }
        }
    }
    let mut r = row! {
        "domain" => family_name(p.domain),
        "type" => type_name(p.ty),
        "protocol" => p.protocol,
        "asked" => p.asked,
        "read_back" => first.map(|b| triple_text(&b)),
        "kernel" => kernel,
    };
    for (k, o) in outcomes {
        r.insert(
            k.into(),
            o.map(|o| Value::from(o.result.clone())).unwrap_or(Value::Null),
        );
    }
    r
}

/// Compares what was asked with what SO_DOMAIN/SO_TYPE/SO_PROTOCOL say.
fn what_kernel_did(p: &Probe, b: &Triple) -> String {
    let mut parts = Vec::new();
    if b.domain != p.domain {
        parts.push(format!("family became {}", family_name(b.domain)));
    }
    if b.ty != p.ty {
        parts.push(format!("type became {}", type_name(b.ty)));
    }
    if b.protocol != p.protocol {
        if p.protocol == 0 {
            parts.push(format!("0 resolved to {}", protocol_name(b.domain, b.protocol)));
        } else {
            parts.push(format!("protocol {} reads back as {}", p.protocol, b.protocol));
        }
    } else if p.protocol != 0 && p.asked != protocol_name(p.domain, p.protocol) {
        parts.push(format!(
            "{} means {} here",
            p.protocol,
            protocol_name(p.domain, p.protocol)
        ));
    }
    if parts.is_empty() {
        "kept as asked".into()
    } else {
        parts.join("; ")
    }
}

// ---- table 4: ping sockets and ping_group_range ----

const PING_RANGE: &str = "net.ipv4.ping_group_range";

/// The ping probes as found, then after widening the range (when the namespace allows),
/// then the range put back; returns (as found, widened, the widened range as read back).
fn ping_passes(
    ctx: &Ctx,
    probes: &[Probe],
    found: &str,
    report: &mut Report,
) -> (Passes, Option<Passes>, String) {
    let before = measure_all(ctx, probes, false);
    // The full range where every gid is mapped (initial namespace), else gid 0 alone.
    let widened = ["0 2147483647", "0 0"]
        .into_iter()
        .find(|v| proc::write_sysctl(PING_RANGE, v).is_ok());
    let after = widened.map(|_| measure_all(ctx, probes, false));
    let widened_read = proc::read_sysctl(PING_RANGE).unwrap_or_else(|_| "unreadable".into());
    if let Err(e) = proc::write_sysctl(PING_RANGE, found) {
        let errno = sys::errno_name(&e);
        report.note_zh(
            format!(
                "{PING_RANGE} could not be put back to \"{found}\" ({errno}): inside a user namespace only mapped group ids \
                 may be written; the namespace is the lab's own and ends with the run"
            ),
            format!(
                "{PING_RANGE} 无法恢复为“{found}”（{errno}）：在用户命名空间里只能写入已映射的组 ID；\
                 该命名空间是本实验自己的，随运行结束而消失"
            ),
        );
    }
    (before, after, widened_read)
}

/// The two ICMP datagram ("ping") sockets, before and after widening ping_group_range in
/// the lab's own network namespace; the value found is put back afterwards.
/// What could not be done is noted on `report`.
fn ping_table(ctx: &Ctx, found: &str, report: &mut Report) -> Option<Table> {
    if !ctx.can_set_sysctls {
        report.note_zh(
            format!(
                "the ping-socket table needs a private network namespace to change {PING_RANGE} in; here: {}",
                ctx.sandbox_note
            ),
            format!(
                "ping 套接字表需要一个私有网络命名空间才能修改 {PING_RANGE}；本次：{}",
                ctx.sandbox_note
            ),
        );
        return None;
    }
    let probes = [
        Probe {
            domain: libc::AF_INET,
            ty: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_ICMP,
            asked: "IPPROTO_ICMP",
        },
        Probe {
            domain: libc::AF_INET6,
            ty: libc::SOCK_DGRAM,
            protocol: libc::IPPROTO_ICMPV6,
            asked: "IPPROTO_ICMPV6",
        },
    ];
    let (before, after, widened_read) = ping_passes(ctx, &probes, found, report);
    let cols: Vec<(&str, &Pass)> = before
        .columns()
        .into_iter()
        .filter(|(_, p)| p.results.is_ok())
        .collect();
    let mut spec: Vec<(&str, &str)> = vec![("range", PING_RANGE), ("call", "socket()")];
    let mut spec_zh: Vec<&str> = vec![PING_RANGE, "socket()"];
    for (k, p) in &cols {
        spec.push((k, &p.header));
        spec_zh.push(&p.header_zh);
    }
    let mut t = Table::new(
        "ping",
        "ICMP datagram (\"ping\") sockets: who may open one is set by net.ipv4.ping_group_range",
        &spec,
    )
    .zh(
        "ICMP 数据报（“ping”）套接字：谁能打开由 net.ipv4.ping_group_range 决定",
        &spec_zh,
    );
    let mut add = |range: &str, passes: &Passes| {
        for (i, p) in probes.iter().enumerate() {
            let mut r = row! {
                "range" => range,
                "call" => format!("socket({}, SOCK_DGRAM, {})", family_name(p.domain), p.asked),
            };
            for (k, _) in &cols {
                let pass = passes
                    .columns()
                    .into_iter()
                    .find(|(key, _)| key == k)
                    .map(|c| c.1);
                let cell = pass.and_then(|p| p.get(i)).map(|o| o.result.clone());
                r.insert((*k).into(), cell.map(Value::from).unwrap_or(Value::Null));
            }
            t.push(r);
        }
    };
    add(&format!("{found} (as found)"), &before);
    match &after {
        Some(after) => add(&format!("{widened_read} (widened)"), after),
        None => report.note_zh(
            format!("{PING_RANGE} could not be widened in this namespace"),
            format!("在这个命名空间里无法放宽 {PING_RANGE}"),
        ),
    }
    t.note_zh(
        "the range holds group ids (low high); the caller's group or one of its supplementary groups must fall inside it, capabilities do not matter",
        "这个范围存的是组 ID（下限 上限）；调用者的组或它的某个附加组必须落在范围内，能力（capabilities）不起作用",
    );
    if ctx.sandbox == "userns+netns" {
        t.note_zh(
            "inside a user namespace, group ids with no mapping read back as 65534 (the overflow gid): the kernel's \"1 0\" shows as \"65534 65534\"",
            "在用户命名空间里，没有映射的组 ID 读回来是 65534（溢出 gid）：内核的“1 0”显示为“65534 65534”",
        );
    }
    Some(t)
}

// ---- table 5: /etc/protocols ----

/// What could not be read is noted on `report`.
fn protocols_table(report: &mut Report) -> Table {
    let mut t = Table::new(
        "protocols",
        "The protocols database: getprotobyname_r() and /etc/protocols",
        &[
            ("name", "name"),
            ("constant", "header constant"),
            ("getprotobyname", "getprotobyname()"),
            ("aliases", "aliases"),
            ("line", "line in /etc/protocols"),
        ],
    )
    .zh(
        "协议数据库：getprotobyname_r() 与 /etc/protocols",
        &[
            "名字",
            "头文件常量",
            "getprotobyname()",
            "别名",
            "/etc/protocols 中的行",
        ],
    );
    let file = std::fs::read_to_string("/etc/protocols");
    if let Err(e) = &file {
        let errno = sys::errno_name(e);
        report.note_zh(
            format!(
                "/etc/protocols could not be read ({errno}): the database lookups fall back to whatever NSS provides"
            ),
            format!("无法读取 /etc/protocols（{errno}）：数据库查询只能依靠 NSS 提供的内容"),
        );
    }
    let consts = [
        ("tcp", libc::IPPROTO_TCP, "IPPROTO_TCP"),
        ("udp", libc::IPPROTO_UDP, "IPPROTO_UDP"),
        ("icmp", libc::IPPROTO_ICMP, "IPPROTO_ICMP"),
        ("sctp", libc::IPPROTO_SCTP, "IPPROTO_SCTP"),
    ];
    for (name, value, cname) in consts {
        let (number, aliases) = match sys::socket::protocol_by_name(name) {
            Ok(Some(p)) => (Value::from(p.number), Value::from(p.aliases.join(" "))),
            Ok(None) => (Value::from("not found"), Value::Null),
            Err(e) => (Value::from(sys::errno_name(&e)), Value::Null),
        };
        let line = file.as_ref().ok().and_then(|f| protocols_line(f, name));
        t.push(row! {
            "name" => name, "constant" => format!("{cname} = {value}"),
            "getprotobyname" => number, "aliases" => aliases, "line" => line,
        });
    }
    t.note_zh(
        "Python's socket.getprotobyname(\"tcp\") reads the same database; socket() itself never looks at it",
        "Python 的 socket.getprotobyname(\"tcp\") 读的是同一个数据库；socket() 本身从不查它",
    );
    t
}

/// The first non-comment line of /etc/protocols whose name is `name`, whitespace squeezed.
fn protocols_line(text: &str, name: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

// ---- SCTP and module loading ----

struct SctpState {
    registered: bool,
    modules: bool,
}

fn sctp_state() -> SctpState {
    let registered = sys::socket::registered_protocols()
        .map(|p| p.iter().any(|n| n == "SCTP"))
        .unwrap_or(false)
        || sys::socket::module_present("sctp");
    SctpState {
        registered,
        modules: sys::socket::module_loading_possible(),
    }
}

// ---- findings ----

/// A view of the matrix for the findings: cells by (domain, type, protocol).
struct View<'a> {
    matrix: &'a Table,
    /// The key of the first measured privilege column.
    primary: String,
}

impl View<'_> {
    fn row(&self, d: i32, ty: i32, p: i32) -> Option<&Row> {
        self.matrix.rows.iter().find(|r| {
            r["domain"] == family_name(d).as_str()
                && r["type"] == type_name(ty).as_str()
                && r["protocol"] == p
        })
    }

    fn get(&self, d: i32, ty: i32, p: i32, key: &str) -> String {
        crate::render::cell_text(self.row(d, ty, p).and_then(|r| r.get(key)))
    }

    fn result(&self, d: i32, ty: i32, p: i32) -> String {
        self.get(d, ty, p, &self.primary)
    }
}

fn default_protocol(report: &Report, d: &str, ty: &str) -> String {
    report
        .table("defaults")
        .and_then(|t| t.rows.iter().find(|r| r["domain"] == d && r["type"] == ty))
        .map(|r| crate::render::cell_text(r.get("so_protocol")))
        .unwrap_or_else(|| "-".into())
}

fn findings(report: &mut Report) {
    let Some(matrix) = report.table("matrix").cloned() else {
        return;
    };
    let Some(primary) = ["root", "userns", "unprivileged"]
        .into_iter()
        .find(|k| matrix.rows.iter().any(|r| !r[*k].is_null()))
    else {
        return;
    };
    let v = View {
        matrix: &matrix,
        primary: primary.into(),
    };
    finding_default(report);
    finding_mismatch(report, &v);
    finding_af_pf(report);
    finding_types(report, &v);
    finding_silent_changes(report, &v);
    finding_privilege(report, &v);
    finding_alternatives(report, &v);
    finding_ping(report);
    finding_error_order(report, &v);
}

fn finding_default(report: &mut Report) {
    let (s4, d4) = (
        default_protocol(report, "AF_INET", "SOCK_STREAM"),
        default_protocol(report, "AF_INET", "SOCK_DGRAM"),
    );
    let (s6, d6) = (
        default_protocol(report, "AF_INET6", "SOCK_STREAM"),
        default_protocol(report, "AF_INET6", "SOCK_DGRAM"),
    );
    let ok = s4 == libc::IPPROTO_TCP.to_string() && d4 == libc::IPPROTO_UDP.to_string();
    report.finding_zh(
        "protocol 0 means \"the default protocol for this family and type\", and the kernel fills it in",
        if ok { Verdict::Confirmed } else { Verdict::Refuted },
        format!(
            "socket(AF_INET, SOCK_STREAM, 0) reads back SO_PROTOCOL {s4} (IPPROTO_TCP), SOCK_DGRAM {d4} (IPPROTO_UDP); \
             AF_INET6 gives {s6} and {d6}"
        ),
        "protocol 为 0 的意思是“这个协议族加这个类型的默认协议”，由内核填上",
        format!(
            "socket(AF_INET, SOCK_STREAM, 0) 读回 SO_PROTOCOL {s4}（IPPROTO_TCP），SOCK_DGRAM 读回 {d4}（IPPROTO_UDP）；\
             AF_INET6 分别是 {s6} 和 {d6}"
        ),
    );
}

fn finding_mismatch(report: &mut Report, v: &View) {
    use libc::{AF_INET, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM};
    let stream_udp = v.result(AF_INET, SOCK_STREAM, IPPROTO_UDP);
    let dgram_tcp = v.result(AF_INET, SOCK_DGRAM, IPPROTO_TCP);
    let stream_tcp = v.result(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    report.finding_zh(
        "An explicit protocol must fit the type: SOCK_STREAM with IPPROTO_UDP is refused",
        if stream_udp == "EPROTONOSUPPORT" && stream_tcp == "ok" {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!(
            "AF_INET SOCK_STREAM IPPROTO_UDP gave {stream_udp}, SOCK_DGRAM IPPROTO_TCP gave {dgram_tcp}, \
             SOCK_STREAM IPPROTO_TCP gave {stream_tcp} (the same socket as 0)"
        ),
        "显式写出的协议必须和类型相符：SOCK_STREAM 配 IPPROTO_UDP 会被拒绝",
        format!(
            "AF_INET SOCK_STREAM IPPROTO_UDP 得到 {stream_udp}，SOCK_DGRAM IPPROTO_TCP 得到 {dgram_tcp}，\
             SOCK_STREAM IPPROTO_TCP 得到 {stream_tcp}（与写 0 得到的套接字相同）"
        ),
    );
}

fn finding_af_pf(report: &mut Report) {
    let pairs = [
        ("AF_UNIX", libc::AF_UNIX, "PF_UNIX", libc::PF_UNIX),
        ("AF_LOCAL", libc::AF_LOCAL, "PF_LOCAL", libc::PF_LOCAL),
        ("AF_UNIX", libc::AF_UNIX, "AF_LOCAL", libc::AF_LOCAL),
        ("AF_INET", libc::AF_INET, "PF_INET", libc::PF_INET),
        ("AF_INET6", libc::AF_INET6, "PF_INET6", libc::PF_INET6),
    ];
    let same = pairs.iter().all(|p| p.1 == p.3);
    let text: Vec<String> = pairs
        .iter()
        .map(|p| format!("{} {} / {} {}", p.0, p.1, p.2, p.3))
        .collect();
    report.finding_zh(
        "AF_x and PF_x are the same numbers, and AF_LOCAL is AF_UNIX",
        if same {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        text.join(", "),
        "AF_x 与 PF_x 数值相同，AF_LOCAL 就是 AF_UNIX",
        text.join("，"),
    );
}

fn finding_types(report: &mut Report, v: &View) {
    use libc::{AF_INET, AF_NETLINK, AF_PACKET, AF_UNIX, SOCK_RDM, SOCK_SEQPACKET, SOCK_STREAM};
    let inet_seq = v.result(AF_INET, SOCK_SEQPACKET, 0);
    let unix_seq = v.result(AF_UNIX, SOCK_SEQPACKET, 0);
    let unix_rdm = v.result(AF_UNIX, SOCK_RDM, 0);
    let inet_rdm = v.result(AF_INET, SOCK_RDM, 0);
    let nl_stream = v.result(AF_NETLINK, SOCK_STREAM, 0);
    let pk_stream = v.result(AF_PACKET, SOCK_STREAM, 0);
    let refused = [&inet_seq, &unix_rdm, &inet_rdm, &nl_stream, &pk_stream]
        .iter()
        .any(|r| *r != "ok" && *r != "-");
    report.finding_zh(
        "Every family offers all five socket types",
        if refused { Verdict::Refuted } else { Verdict::Confirmed },
        format!(
            "with protocol 0: AF_UNIX SOCK_SEQPACKET {unix_seq}, AF_INET SOCK_SEQPACKET {inet_seq}, \
             SOCK_RDM {inet_rdm} (AF_INET) and {unix_rdm} (AF_UNIX), AF_NETLINK SOCK_STREAM {nl_stream}, \
             AF_PACKET SOCK_STREAM {pk_stream}"
        ),
        "每个协议族都提供全部五种套接字类型",
        format!(
            "协议号为 0 时：AF_UNIX SOCK_SEQPACKET {unix_seq}，AF_INET SOCK_SEQPACKET {inet_seq}，\
             SOCK_RDM 在 AF_INET 得 {inet_rdm}、在 AF_UNIX 得 {unix_rdm}，AF_NETLINK SOCK_STREAM {nl_stream}，\
             AF_PACKET SOCK_STREAM {pk_stream}"
        ),
    );
}

fn finding_silent_changes(report: &mut Report, v: &View) {
    use libc::{AF_INET, AF_UNIX, IPPROTO_ICMP, SOCK_RAW, SOCK_STREAM};
    let unix_raw = v.get(AF_UNIX, SOCK_RAW, 0, "read_back");
    let unix_one = v.get(AF_UNIX, SOCK_STREAM, IPPROTO_ICMP, "read_back");
    let unix_one_res = v.result(AF_UNIX, SOCK_STREAM, IPPROTO_ICMP);
    let raw0 = v.result(AF_INET, SOCK_RAW, 0);
    let packet = v.get(libc::AF_PACKET, SOCK_RAW, htons(libc::ETH_P_ALL), "read_back");
    let changed = v.matrix.rows.iter().any(|r| {
        r["kernel"]
            .as_str()
            .is_some_and(|k| k.contains("type became") || k.contains("reads back as"))
    });
    report.finding_zh(
        "What you ask socket() for is what you get back",
        if changed { Verdict::Refuted } else { Verdict::Confirmed },
        format!(
            "AF_UNIX SOCK_RAW reads back as {unix_raw}; AF_UNIX with protocol 1 (IPPROTO_ICMP, numerically PF_UNIX) \
             gave {unix_one_res} and reads back as {unix_one}; AF_PACKET SOCK_RAW htons(ETH_P_ALL) reads back as {packet}; \
             AF_INET SOCK_RAW with 0 gave {raw0} (raw sockets have no default)"
        ),
        "向 socket() 要什么，读回来就是什么",
        format!(
            "AF_UNIX SOCK_RAW 读回为 {unix_raw}；AF_UNIX 配协议号 1（IPPROTO_ICMP，数值上等于 PF_UNIX）得到 {unix_one_res}，\
             读回为 {unix_one}；AF_PACKET SOCK_RAW htons(ETH_P_ALL) 读回为 {packet}；\
             AF_INET SOCK_RAW 配 0 得到 {raw0}（原始套接字没有默认协议）"
        ),
    );
}

fn finding_privilege(report: &mut Report, v: &View) {
    use libc::{AF_INET, AF_PACKET, IPPROTO_ICMP, SOCK_RAW};
    let eth_all = htons(libc::ETH_P_ALL);
    let cells = |k: &str| {
        (
            v.get(AF_INET, SOCK_RAW, IPPROTO_ICMP, k),
            v.get(AF_PACKET, SOCK_RAW, eth_all, k),
        )
    };
    let (r_raw, r_pkt) = cells("root");
    let (n_raw, n_pkt) = cells("userns");
    let (u_raw, u_pkt) = cells("unprivileged");
    // The claim has two halves: refused without privilege, and allowed to namespace root.
    let verdict = if u_raw == "EPERM" && n_raw == "ok" {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    report.finding_zh(
        "SOCK_RAW and AF_PACKET need privilege (CAP_NET_RAW), but root of one's own user namespace has it there",
        verdict,
        format!(
            "AF_INET SOCK_RAW IPPROTO_ICMP: root {r_raw}, namespace root {n_raw}, unprivileged {u_raw}; \
             AF_PACKET SOCK_RAW htons(ETH_P_ALL): root {r_pkt}, namespace root {n_pkt}, unprivileged {u_pkt} \
             (\"-\" = not measured)"
        ),
        "SOCK_RAW 与 AF_PACKET 需要特权（CAP_NET_RAW），但自建用户命名空间里的 root 在那里就有这个特权",
        format!(
            "AF_INET SOCK_RAW IPPROTO_ICMP：root {r_raw}，命名空间 root {n_raw}，无特权 {u_raw}；\
             AF_PACKET SOCK_RAW htons(ETH_P_ALL)：root {r_pkt}，命名空间 root {n_pkt}，无特权 {u_pkt}（“-”表示未测量）"
        ),
    );
}

fn finding_alternatives(report: &mut Report, v: &View) {
    use libc::{AF_INET, IPPROTO_MPTCP, IPPROTO_SCTP, IPPROTO_TCP, SOCK_SEQPACKET, SOCK_STREAM};
    let sctp = v.result(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    let sctp_seq = v.result(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP);
    let mptcp = v.result(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
    let mptcp_back = v.get(AF_INET, SOCK_STREAM, IPPROTO_MPTCP, "read_back");
    let ping = v.result(AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP);
    let same =
        v.get(AF_INET, SOCK_STREAM, 0, "read_back") == v.get(AF_INET, SOCK_STREAM, IPPROTO_TCP, "read_back");
    let alternatives = (sctp == "ok" || mptcp == "ok") && same;
    report.finding_zh(
        "The protocol argument matters only when one family and type has more than one protocol",
        if alternatives { Verdict::Confirmed } else { Verdict::Depends },
        format!(
            "SOCK_STREAM in AF_INET can also be IPPROTO_MPTCP ({mptcp}, reads back {mptcp_back}) or IPPROTO_SCTP \
             ({sctp}; SOCK_SEQPACKET IPPROTO_SCTP {sctp_seq}), and SOCK_DGRAM can be IPPROTO_ICMP (a ping \
             socket: {ping} here, see the ping table); SOCK_STREAM 0 and IPPROTO_TCP read back the same: {}",
            yes_no(same)
        ),
        "只有当同一协议族、同一类型下有不止一种协议时，protocol 参数才起作用",
        format!(
            "AF_INET 的 SOCK_STREAM 也可以是 IPPROTO_MPTCP（{mptcp}，读回 {mptcp_back}）或 IPPROTO_SCTP\
             （{sctp}；SOCK_SEQPACKET IPPROTO_SCTP {sctp_seq}），SOCK_DGRAM 也可以是 IPPROTO_ICMP（ping 套接字：\
             本机得到 {ping}，见 ping 表）；SOCK_STREAM 写 0 与写 IPPROTO_TCP 读回相同：{}",
            yes_no_zh(same)
        ),
    );
}

fn finding_ping(report: &mut Report) {
    let Some(t) = report.table("ping").cloned() else {
        return;
    };
    // (english, chinese, result) per privilege column, for the AF_INET row of one range.
    let cells = |widened: bool| -> Vec<(String, String, String)> {
        t.rows
            .iter()
            .filter(|r| {
                r["range"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("(widened)") == widened)
            })
            .filter(|r| r["call"].as_str().is_some_and(|c| c.contains("AF_INET,")))
            .flat_map(|r| {
                t.columns[2..]
                    .iter()
                    .map(|c| {
                        let v = crate::render::cell_text(r.get(&c.key));
                        (c.header.clone(), c.header_zh.clone().unwrap_or_default(), v)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let join = |c: &[(String, String, String)], zh: bool| {
        c.iter()
            .map(|(en, cn, v)| {
                if zh {
                    format!("{cn}：{v}")
                } else {
                    format!("{en}: {v}")
                }
            })
            .collect::<Vec<_>>()
            .join(if zh { "，" } else { "; " })
    };
    let range_of = |widened: bool| {
        t.rows
            .iter()
            .find(|r| {
                r["range"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("(widened)") == widened)
            })
            .map(|r| crate::render::cell_text(r.get("range")))
            .unwrap_or_else(|| "-".into())
    };
    let (before, after) = (cells(false), cells(true));
    let decided =
        before.iter().all(|c| c.2 == "EACCES") && !after.is_empty() && after.iter().all(|c| c.2 == "ok");
    let (r0, r1) = (range_of(false), range_of(true));
    let (b, a, b_zh, a_zh) = (
        join(&before, false),
        join(&after, false),
        join(&before, true),
        join(&after, true),
    );
    // The conclusion is only stated when the measured cells show it.
    let (so, so_zh) = if decided {
        (
            "; so the group range decides, not the uid or capabilities",
            "：起决定作用的是组范围，而不是 uid 或能力",
        )
    } else {
        (
            "; these cells do not show the range alone deciding",
            "：这些结果不足以说明只由组范围决定",
        )
    };
    report.finding_zh(
        "Whether socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) works depends on root",
        if decided {
            Verdict::Refuted
        } else {
            Verdict::Depends
        },
        format!("with ping_group_range {r0} — {b}; with {r1} — {a}{so}"),
        "socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP) 能否成功取决于是不是 root",
        format!("ping_group_range 为 {r0} 时——{b_zh}；为 {r1} 时——{a_zh}{so_zh}"),
    );
}

fn finding_error_order(report: &mut Report, v: &View) {
    // Cells failing both with and without privilege: the only ones this claim is about.
    let both_failed = v
        .matrix
        .rows
        .iter()
        .filter(|r| {
            let privileged = ["root", "userns"].iter().find_map(|k| r[*k].as_str());
            let unpriv = r["unprivileged"].as_str();
            privileged.is_some_and(|p| p != "ok") && unpriv.is_some_and(|u| u != "ok")
        })
        .count();
    if both_failed == 0 {
        // Nothing measured on both sides to compare.
        return;
    }
    let differing: Vec<String> = v
        .matrix
        .rows
        .iter()
        .filter_map(|r| {
            let privileged = ["root", "userns"]
                .iter()
                .find_map(|k| r[*k].as_str().map(str::to_string))?;
            let unpriv = r["unprivileged"].as_str()?;
            (privileged != "ok" && unpriv != "ok" && privileged != unpriv).then(|| {
                format!(
                    "{} {} {}: {privileged} with privilege, {unpriv} without",
                    crate::render::cell_text(r.get("domain")),
                    crate::render::cell_text(r.get("type")),
                    crate::render::cell_text(r.get("asked"))
                )
            })
        })
        .collect();
    let n = differing.len();
    let (verdict, evidence, evidence_zh) = match differing.first() {
        Some(first) => (
            Verdict::Refuted,
            format!(
                "{n} of {both_failed} cells that failed with and without privilege changed their error, \
                 e.g. {first}: the permission check comes before the type check"
            ),
            format!(
                "有权限和无权限时都失败的 {both_failed} 个格子中，有 {n} 个报不同的错误，例如 {first}：权限检查在类型检查之前"
            ),
        ),
        None => (
            Verdict::Confirmed,
            format!("all {both_failed} cells that failed with and without privilege gave the same error"),
            format!("有权限和无权限时都失败的 {both_failed} 个格子，错误全都相同"),
        ),
    };
    report.finding_zh(
        "A call that cannot work fails with the same error whoever makes it",
        verdict,
        evidence,
        "一个注定失败的调用，不管谁来调用，错误都一样",
        evidence_zh,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(all: bool) -> Report {
        crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| run(&Args { all }, ctx)).unwrap()
    }

    fn primary(r: &Row) -> &Value {
        ["root", "userns", "unprivileged"]
            .iter()
            .map(|k| &r[*k])
            .find(|v| !v.is_null())
            .expect("one column measured")
    }

    fn matrix_row<'a>(r: &'a Report, d: &str, ty: &str, p: i32) -> &'a Row {
        r.table("matrix")
            .unwrap()
            .rows
            .iter()
            .find(|row| row["domain"] == d && row["type"] == ty && row["protocol"] == p)
            .unwrap_or_else(|| panic!("no cell {d} {ty} {p}"))
    }

    #[test]
    fn protocol_zero_resolves_and_mismatch_fails() {
        let r = report(false);
        let defaults = r.table("defaults").unwrap();
        let so = |ty: &str| {
            defaults
                .rows
                .iter()
                .find(|row| row["domain"] == "AF_INET" && row["type"] == ty)
                .unwrap()["so_protocol"]
                .clone()
        };
        assert_eq!(so("SOCK_STREAM"), 6);
        assert_eq!(so("SOCK_DGRAM"), 17);
        let mismatch = matrix_row(&r, "AF_INET", "SOCK_STREAM", libc::IPPROTO_UDP);
        assert_eq!(primary(mismatch), "EPROTONOSUPPORT");
        assert!(mismatch["read_back"].is_null());
        // AF_UNIX has SOCK_SEQPACKET; AF_INET without SCTP does not.
        assert_eq!(primary(matrix_row(&r, "AF_UNIX", "SOCK_SEQPACKET", 0)), "ok");
        assert_ne!(primary(matrix_row(&r, "AF_UNIX", "SOCK_RDM", 0)), "ok");
    }

    #[test]
    fn af_and_pf_are_grouped() {
        let t = constants_table();
        let inet = t.rows.iter().find(|r| r["value"] == libc::AF_INET).unwrap();
        assert_eq!(inet["names"], "AF_INET = PF_INET");
        let unix = t.rows.iter().find(|r| r["value"] == libc::AF_UNIX).unwrap();
        assert_eq!(unix["names"], "AF_UNIX = AF_LOCAL = PF_UNIX = PF_LOCAL");
    }

    #[test]
    fn unprivileged_column_lacks_cap_net_raw() {
        let r = report(false);
        let raw = matrix_row(&r, "AF_INET", "SOCK_RAW", libc::IPPROTO_ICMP);
        if !raw["unprivileged"].is_null() {
            assert_eq!(raw["unprivileged"], "EPERM", "{raw:?}");
        }
        if !raw["root"].is_null() {
            assert_eq!(raw["root"], "ok", "{raw:?}");
        }
        // Privilege never changes what a created socket is.
        let tcp = matrix_row(&r, "AF_INET", "SOCK_STREAM", 0);
        for k in ["root", "userns", "unprivileged"] {
            assert!(tcp[k].is_null() || tcp[k] == "ok", "{tcp:?}");
        }
        assert_eq!(tcp["kernel"], "0 resolved to IPPROTO_TCP");
    }

    #[test]
    fn full_matrix_covers_every_family_and_type() {
        let r = report(true);
        let m = r.table("matrix").unwrap();
        for f in FAMILIES {
            for t in TYPES {
                assert!(
                    m.rows
                        .iter()
                        .any(|row| row["domain"] == f.name && row["type"] == t.1),
                    "{} {}",
                    f.name,
                    t.1
                );
            }
        }
        // The same probe list in both runs: compact is a subset of --all.
        assert!(m.rows.len() > probes(false).len());
        assert!(r.findings.iter().all(|f| f.zh.is_some()));
    }

    /// The error-order finding on a hand-made matrix: it can come out either way, and says
    /// nothing when no cell failed on both sides.
    #[test]
    fn error_order_verdict_follows_the_cells() {
        let verdict = |cells: &[(&str, &str)]| {
            let cols = [
                ("domain", "domain"),
                ("type", "type"),
                ("asked", "asked"),
                ("root", "root"),
                ("userns", "userns"),
                ("unprivileged", "unprivileged"),
            ];
            let mut m = Table::new("matrix", "m", &cols);
            for (root, unpriv) in cells {
                m.push(crate::row! {
                    "domain" => "AF_PACKET", "type" => "SOCK_STREAM", "asked" => "0",
                    "root" => *root, "userns" => Value::Null, "unprivileged" => *unpriv,
                });
            }
            let mut r = Report::new("protocol", "t", "q");
            let v = View {
                matrix: &m,
                primary: "root".into(),
            };
            finding_error_order(&mut r, &v);
            r.findings.first().map(|f| f.verdict)
        };
        assert_eq!(verdict(&[("ok", "EPERM")]), None, "nothing failed on both sides");
        assert_eq!(
            verdict(&[("ESOCKTNOSUPPORT", "ESOCKTNOSUPPORT")]),
            Some(Verdict::Confirmed)
        );
        assert_eq!(verdict(&[("ESOCKTNOSUPPORT", "EPERM")]), Some(Verdict::Refuted));
    }

    #[test]
    fn protocols_line_skips_comments() {
        let text = "# tcp 6 comment\ntcp\t6\tTCP\t\t# transmission\nudp 17 UDP\n";
        assert_eq!(protocols_line(text, "tcp").unwrap(), "tcp 6 TCP # transmission");
        assert_eq!(protocols_line(text, "sctp"), None);
    }
}
