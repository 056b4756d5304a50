//! The numbers the lab tries and the names a program writes for them (the libc headers).

use super::STRINGS as S;
use crate::report::Text;
use crate::sys::socket::Triple;
use crate::t;

/// A protocol family: its number, name, and the protocol values worth asking for.
pub struct Family {
    pub num: i32,
    pub name: &'static str,
    /// (value, the name a program would write for it).
    pub protos: &'static [(i32, &'static str)],
}

pub const fn htons(v: i32) -> i32 {
    (v as u16).to_be() as i32
}

pub const IP_PROTOS: &[(i32, &str)] = &[
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
    // The same number without htons: written as code, the missing htons is the point.
    (libc::ETH_P_ALL, "ETH_P_ALL"),
];

pub const FAMILIES: &[Family] = &[
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

pub const TYPES: &[(i32, &str)] = &[
    (libc::SOCK_STREAM, "SOCK_STREAM"),
    (libc::SOCK_DGRAM, "SOCK_DGRAM"),
    (libc::SOCK_SEQPACKET, "SOCK_SEQPACKET"),
    (libc::SOCK_RAW, "SOCK_RAW"),
    (libc::SOCK_RDM, "SOCK_RDM"),
];

/// Cells the compact matrix shows besides protocol 0: each one tells something.
pub const COMPACT_EXTRAS: &[(i32, i32, i32)] = &[
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

/// The family constants of the headers, AF_ and PF_ spellings (the constants table).
pub const CONSTANTS: &[(&str, i32)] = &[
    ("AF_UNIX", libc::AF_UNIX),
    ("AF_LOCAL", libc::AF_LOCAL),
    ("PF_UNIX", libc::PF_UNIX),
    ("PF_LOCAL", libc::PF_LOCAL),
    ("AF_INET", libc::AF_INET),
    ("PF_INET", libc::PF_INET),
    ("AF_INET6", libc::AF_INET6),
    ("PF_INET6", libc::PF_INET6),
    ("AF_NETLINK", libc::AF_NETLINK),
    ("PF_NETLINK", libc::PF_NETLINK),
    ("AF_PACKET", libc::AF_PACKET),
    ("PF_PACKET", libc::PF_PACKET),
];

/// "AF_INET" for 2; a number no family here has reads "family N".
pub fn family(num: i32) -> Text {
    match FAMILIES.iter().find(|f| f.num == num) {
        Some(f) => Text::same(f.name),
        None => t!(S, "name.family", n = num),
    }
}

pub fn sock_type(num: i32) -> Text {
    match TYPES.iter().find(|t| t.0 == num) {
        Some(t) => Text::same(t.1),
        None => t!(S, "name.type", n = num),
    }
}

/// What a protocol number means in a family: 6 is IPPROTO_TCP in AF_INET but
/// NETLINK_XFRM in AF_NETLINK.
pub fn protocol(family: i32, num: i32) -> String {
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

/// "AF_UNIX SOCK_DGRAM 0 (1/2/0)": names, then the numbers read back.
pub fn triple(t: &Triple) -> Text {
    t!(
        S,
        "name.triple",
        family = family(t.domain),
        ty = sock_type(t.ty),
        protocol = protocol(t.domain, t.protocol),
        d = t.domain,
        t = t.ty,
        p = t.protocol
    )
}
