//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::measure::{changed, Data, Outcome, Passes, Ping, Who};
use super::names::{self, htons};
use super::tables::{header, outcome, read_backs};
use super::STRINGS as S;
use crate::report::{yes_no, Finding, Text, Verdict};
use crate::sys::socket::Triple;
use crate::t;
use libc::{
    AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, IPPROTO_ICMP, IPPROTO_MPTCP, IPPROTO_SCTP,
    IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET, SOCK_STREAM,
};

pub fn findings(d: &Data) -> Vec<Finding> {
    if d.matrix.primary().is_none() {
        return Vec::new();
    }
    [
        default_protocol(d),
        must_fit(d),
        af_pf(d),
        types(d),
        asked_is_got(d),
        privilege(d),
        alternatives(d),
        ping(d),
        error_order(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn index(d: &Data, dom: i32, ty: i32, p: i32) -> Option<usize> {
    d.attempts.iter().position(|a| a.is(dom, ty, p))
}

/// The attempt's outcome in column `w`.
fn at(d: &Data, w: Who, dom: i32, ty: i32, p: i32) -> Option<&Outcome> {
    d.matrix.get(w, index(d, dom, ty, p)?)
}

/// The attempt's outcome in the first measured column.
fn primary(d: &Data, dom: i32, ty: i32, p: i32) -> Option<&Outcome> {
    at(d, d.matrix.primary()?, dom, ty, p)
}

fn result(d: &Data, dom: i32, ty: i32, p: i32) -> Text {
    outcome(primary(d, dom, ty, p))
}

fn ok(d: &Data, dom: i32, ty: i32, p: i32) -> bool {
    primary(d, dom, ty, p).is_some_and(Outcome::ok)
}

/// The first read-back of the attempt over the columns.
fn back(d: &Data, dom: i32, ty: i32, p: i32) -> Option<Triple> {
    let i = index(d, dom, ty, p)?;
    read_backs(&d.matrix, i).first().map(|b| b.1)
}

fn back_text(d: &Data, dom: i32, ty: i32, p: i32) -> Text {
    back(d, dom, ty, p).map_or_else(|| Text::same("-"), |b| names::triple(&b))
}

fn verdict(confirmed: bool, otherwise: Verdict) -> Verdict {
    if confirmed {
        Verdict::Confirmed
    } else {
        otherwise
    }
}

fn finding(id: &str, verdict: Verdict, evidence: Text) -> Option<Finding> {
    let claim = S.text(&format!("finding.{id}.claim"), &[]);
    Some(Finding::new(id, claim, verdict, evidence))
}

fn default_protocol(d: &Data) -> Option<Finding> {
    let so = |dom, ty| {
        primary(d, dom, ty, 0)
            .and_then(Outcome::triple)
            .map(|b| b.protocol)
    };
    let text = |p: Option<i32>| p.map_or_else(|| "-".to_string(), |p| p.to_string());
    let (s4, d4) = (so(AF_INET, SOCK_STREAM), so(AF_INET, SOCK_DGRAM));
    let (s6, d6) = (so(AF_INET6, SOCK_STREAM), so(AF_INET6, SOCK_DGRAM));
    let ok = s4 == Some(IPPROTO_TCP) && d4 == Some(IPPROTO_UDP);
    let evidence = t!(
        S,
        "finding.default_protocol.evidence",
        s4 = text(s4),
        d4 = text(d4),
        s6 = text(s6),
        d6 = text(d6)
    );
    finding("default_protocol", verdict(ok, Verdict::Refuted), evidence)
}

fn must_fit(d: &Data) -> Option<Finding> {
    let refused =
        primary(d, AF_INET, SOCK_STREAM, IPPROTO_UDP).is_some_and(|o| o.failed_with("EPROTONOSUPPORT"));
    let confirmed = refused && ok(d, AF_INET, SOCK_STREAM, IPPROTO_TCP);
    let evidence = t!(
        S,
        "finding.must_fit.evidence",
        stream_udp = result(d, AF_INET, SOCK_STREAM, IPPROTO_UDP),
        dgram_tcp = result(d, AF_INET, SOCK_DGRAM, IPPROTO_TCP),
        stream_tcp = result(d, AF_INET, SOCK_STREAM, IPPROTO_TCP)
    );
    finding("must_fit", verdict(confirmed, Verdict::Refuted), evidence)
}

fn af_pf(d: &Data) -> Option<Finding> {
    let value = |n: &str| d.constants.iter().find(|c| c.0 == n).map(|c| c.1);
    let pairs = [
        ("AF_UNIX", "PF_UNIX"),
        ("AF_LOCAL", "PF_LOCAL"),
        ("AF_UNIX", "AF_LOCAL"),
        ("AF_INET", "PF_INET"),
        ("AF_INET6", "PF_INET6"),
    ];
    let mut same = true;
    let mut text = Vec::new();
    for (a, b) in pairs {
        let (va, vb) = (value(a)?, value(b)?);
        same &= va == vb;
        text.push(format!("{a} {va} / {b} {vb}"));
    }
    let evidence = Text {
        en: text.join(", "),
        zh: text.join("，"),
    };
    finding("af_pf", verdict(same, Verdict::Refuted), evidence)
}

fn types(d: &Data) -> Option<Finding> {
    let cells = [
        (AF_INET, SOCK_SEQPACKET),
        (AF_UNIX, SOCK_RDM),
        (AF_INET, SOCK_RDM),
        (AF_NETLINK, SOCK_STREAM),
        (AF_PACKET, SOCK_STREAM),
    ];
    let refused = cells
        .iter()
        .any(|(dom, ty)| primary(d, *dom, *ty, 0).is_some_and(|o| !o.ok()));
    let evidence = t!(
        S,
        "finding.types.evidence",
        unix_seq = result(d, AF_UNIX, SOCK_SEQPACKET, 0),
        inet_seq = result(d, AF_INET, SOCK_SEQPACKET, 0),
        inet_rdm = result(d, AF_INET, SOCK_RDM, 0),
        unix_rdm = result(d, AF_UNIX, SOCK_RDM, 0),
        nl_stream = result(d, AF_NETLINK, SOCK_STREAM, 0),
        pk_stream = result(d, AF_PACKET, SOCK_STREAM, 0)
    );
    finding("types", verdict(!refused, Verdict::Refuted), evidence)
}

fn asked_is_got(d: &Data) -> Option<Finding> {
    let eth_all = htons(libc::ETH_P_ALL);
    let changed = d
        .attempts
        .iter()
        .enumerate()
        .any(|(i, a)| read_backs(&d.matrix, i).first().is_some_and(|b| changed(a, &b.1)));
    let evidence = t!(
        S,
        "finding.asked_is_got.evidence",
        unix_raw = back_text(d, AF_UNIX, SOCK_RAW, 0),
        unix_one_res = result(d, AF_UNIX, SOCK_STREAM, IPPROTO_ICMP),
        unix_one = back_text(d, AF_UNIX, SOCK_STREAM, IPPROTO_ICMP),
        packet = back_text(d, AF_PACKET, SOCK_RAW, eth_all),
        raw0 = result(d, AF_INET, SOCK_RAW, 0)
    );
    finding("asked_is_got", verdict(!changed, Verdict::Refuted), evidence)
}

fn privilege(d: &Data) -> Option<Finding> {
    let eth_all = htons(libc::ETH_P_ALL);
    let raw = |w| at(d, w, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    let pkt = |w| outcome(at(d, w, AF_PACKET, SOCK_RAW, eth_all));
    // The claim has two halves: refused without privilege, and allowed to namespace root.
    let confirmed = raw(Who::Unprivileged).is_some_and(|o| o.failed_with("EPERM"))
        && raw(Who::Userns).is_some_and(Outcome::ok);
    let evidence = t!(
        S,
        "finding.privilege.evidence",
        r_raw = outcome(raw(Who::Root)),
        n_raw = outcome(raw(Who::Userns)),
        u_raw = outcome(raw(Who::Unprivileged)),
        r_pkt = pkt(Who::Root),
        n_pkt = pkt(Who::Userns),
        u_pkt = pkt(Who::Unprivileged)
    );
    finding("privilege", verdict(confirmed, Verdict::Depends), evidence)
}

fn alternatives(d: &Data) -> Option<Finding> {
    let same = back(d, AF_INET, SOCK_STREAM, 0) == back(d, AF_INET, SOCK_STREAM, IPPROTO_TCP);
    let other = ok(d, AF_INET, SOCK_STREAM, IPPROTO_SCTP) || ok(d, AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
    let evidence = t!(
        S,
        "finding.alternatives.evidence",
        mptcp = result(d, AF_INET, SOCK_STREAM, IPPROTO_MPTCP),
        mptcp_back = back_text(d, AF_INET, SOCK_STREAM, IPPROTO_MPTCP),
        sctp = result(d, AF_INET, SOCK_STREAM, IPPROTO_SCTP),
        sctp_seq = result(d, AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP),
        ping = result(d, AF_INET, SOCK_DGRAM, IPPROTO_ICMP),
        same = yes_no(same)
    );
    finding("alternatives", verdict(other && same, Verdict::Depends), evidence)
}

/// "header: result" for each measured ping column, for the AF_INET attempt.
fn ping_cells(p: &Ping, passes: Option<&Passes>) -> Vec<(Text, Option<Outcome>)> {
    let Some(i) = p.attempts.iter().position(|a| a.domain == AF_INET) else {
        return Vec::new();
    };
    let Some(passes) = passes else {
        return Vec::new();
    };
    p.found
        .measured()
        .into_iter()
        .map(|w| (header(&p.found.vantage, w), passes.get(w, i).cloned()))
        .collect()
}

fn ping_join(cells: &[(Text, Option<Outcome>)]) -> Text {
    let parts: Vec<Text> = cells
        .iter()
        .map(|(h, o)| {
            t!(
                S,
                "finding.ping_root.cell",
                header = *h,
                result = outcome(o.as_ref())
            )
        })
        .collect();
    Text::join(&parts, "; ", "，")
}

fn ping(d: &Data) -> Option<Finding> {
    let p = d.ping.as_ref().ok()?;
    let widened = p.widened.as_ref().ok();
    let before = ping_cells(p, Some(&p.found));
    let after = ping_cells(p, widened.map(|w| &w.passes));
    let decided = before
        .iter()
        .all(|c| c.1.as_ref().is_some_and(|o| o.failed_with("EACCES")))
        && !after.is_empty()
        && after.iter().all(|c| c.1.as_ref().is_some_and(Outcome::ok));
    let range = |r: &Result<String, _>| match r {
        Ok(s) => Text::same(s),
        Err(_) => t!(S, "cell.unreadable"),
    };
    let r0 = t!(S, "ping.found", range = range(&d.ping_range));
    let r1 = widened.map_or_else(
        || Text::same("-"),
        |w| t!(S, "ping.widened", range = range(&w.range)),
    );
    // The conclusion is only stated when the measured cells show it.
    let so = S.text(
        if decided {
            "finding.ping_root.so_range"
        } else {
            "finding.ping_root.so_unclear"
        },
        &[],
    );
    let evidence = t!(
        S,
        "finding.ping_root.evidence",
        r0 = r0,
        before = ping_join(&before),
        r1 = r1,
        after = ping_join(&after),
        so = so
    );
    let v = if decided {
        Verdict::Refuted
    } else {
        Verdict::Depends
    };
    finding("ping_root", v, evidence)
}

fn error_order(d: &Data) -> Option<Finding> {
    let m = &d.matrix;
    // Cells failing both with and without privilege: the only ones this claim is about.
    let pairs: Vec<(usize, &Outcome, &Outcome)> = (0..d.attempts.len())
        .filter_map(|i| {
            let privileged = m.get(Who::Root, i).or_else(|| m.get(Who::Userns, i))?;
            let unpriv = m.get(Who::Unprivileged, i)?;
            (!privileged.ok() && !unpriv.ok()).then_some((i, privileged, unpriv))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let differing: Vec<Text> = pairs
        .iter()
        .filter(|(_, p, u)| p != u)
        .map(|(i, p, u)| {
            let a = &d.attempts[*i];
            t!(
                S,
                "finding.error_order.example",
                domain = names::family(a.domain),
                ty = names::sock_type(a.ty),
                asked = a.asked,
                with = outcome(Some(p)),
                without = outcome(Some(u))
            )
        })
        .collect();
    let total = pairs.len();
    let (v, evidence) = match differing.first() {
        Some(first) => (
            Verdict::Refuted,
            t!(
                S,
                "finding.error_order.differ",
                n = differing.len(),
                total = total,
                first = *first
            ),
        ),
        None => (
            Verdict::Confirmed,
            t!(S, "finding.error_order.same", total = total),
        ),
    };
    finding("error_order", v, evidence)
}

#[cfg(test)]
mod tests {
    use super::super::measure::{attempts, Attempt, Protocols, Sctp, Vantage, Widened};
    use super::*;
    use crate::report::{Call, Unmeasured};

    fn made(domain: i32, ty: i32, protocol: i32) -> Outcome {
        Outcome {
            socket: Call::Ok,
            back: Some(Ok(Triple { domain, ty, protocol })),
        }
    }

    fn err(e: &str) -> Outcome {
        Outcome {
            socket: Call::Err(e.into()),
            back: None,
        }
    }

    /// What this kernel gives, by hand: 0 resolves, mismatches fail, raw needs CAP_NET_RAW.
    fn linux_outcome(dom: i32, ty: i32, p: i32, privileged: bool) -> Outcome {
        let needs_raw = ty == SOCK_RAW && dom != AF_UNIX && dom != AF_NETLINK || dom == AF_PACKET;
        if needs_raw && !privileged {
            return err("EPERM");
        }
        match (dom, ty, p) {
            (AF_UNIX, SOCK_RAW, _) => made(dom, SOCK_DGRAM, 0),
            (AF_UNIX, SOCK_RDM, _) => err("ESOCKTNOSUPPORT"),
            (AF_UNIX, _, _) => made(dom, ty, 0),
            (AF_PACKET, SOCK_RAW | SOCK_DGRAM, _) => made(dom, ty, 0),
            (AF_PACKET, _, _) => err("ESOCKTNOSUPPORT"),
            (AF_NETLINK, SOCK_RAW | SOCK_DGRAM, _) => made(dom, ty, p),
            (AF_NETLINK, _, _) => err("ESOCKTNOSUPPORT"),
            (_, SOCK_STREAM, 0 | IPPROTO_TCP) => made(dom, ty, IPPROTO_TCP),
            (_, SOCK_STREAM, IPPROTO_MPTCP) => made(dom, ty, IPPROTO_MPTCP),
            (_, SOCK_DGRAM, 0 | IPPROTO_UDP) => made(dom, ty, IPPROTO_UDP),
            (_, SOCK_DGRAM, IPPROTO_ICMP) | (_, SOCK_DGRAM, libc::IPPROTO_ICMPV6) => err("EACCES"),
            (_, SOCK_RAW, 0) => err("EPROTONOSUPPORT"),
            (_, SOCK_RAW, _) => made(dom, ty, p),
            (_, SOCK_SEQPACKET | SOCK_RDM, _) => err("ESOCKTNOSUPPORT"),
            _ => err("EPROTONOSUPPORT"),
        }
    }

    fn passes(a: &[Attempt], f: impl Fn(&Outcome, bool) -> Outcome) -> Passes {
        let col = |privileged| {
            let r = a
                .iter()
                .map(|a| f(&linux_outcome(a.domain, a.ty, a.protocol, privileged), privileged))
                .collect();
            Some(Ok(r))
        };
        Passes {
            vantage: Vantage::RealRoot { nobody: 65534 },
            root: col(true),
            userns: col(true),
            unprivileged: col(false),
        }
    }

    fn linux() -> Data {
        let attempts = attempts(false);
        let matrix = passes(&attempts, |o, _| o.clone());
        let ping_attempts: Vec<_> = attempts
            .iter()
            .filter(|a| {
                a.ty == SOCK_DGRAM && (a.protocol == IPPROTO_ICMP || a.protocol == libc::IPPROTO_ICMPV6)
            })
            .cloned()
            .collect();
        let found = passes(&ping_attempts, |o, _| o.clone());
        let widened = passes(&ping_attempts, |_, _| made(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
        Data {
            all: false,
            constants: names::CONSTANTS
                .iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect(),
            attempts,
            matrix,
            ping_range: Ok("1 0".into()),
            sctp: Sctp {
                before: false,
                after: false,
                modules: false,
            },
            ping: Ok(Ping {
                attempts: ping_attempts,
                found,
                widened: Ok(Widened {
                    range: Ok("0 2147483647".into()),
                    passes: widened,
                }),
                restored: Some(Call::Ok),
            }),
            protocols: Protocols {
                file: Call::Ok,
                entries: Vec::new(),
            },
            user_namespace: false,
        }
    }

    fn verdict_of(d: &Data, id: &str) -> Option<Verdict> {
        findings(d).into_iter().find(|f| f.id == id).map(|f| f.verdict)
    }

    /// Sets attempt (dom, ty, p) in every measured column.
    fn set(d: &mut Data, dom: i32, ty: i32, p: i32, o: Outcome) {
        let i = index(d, dom, ty, p).unwrap();
        for c in [
            &mut d.matrix.root,
            &mut d.matrix.userns,
            &mut d.matrix.unprivileged,
        ] {
            if let Some(Ok(r)) = c {
                r[i] = o.clone();
            }
        }
    }

    #[test]
    fn the_hand_built_kernel_gives_the_measured_verdicts() {
        let d = linux();
        let want = [
            ("default_protocol", Verdict::Confirmed),
            ("must_fit", Verdict::Confirmed),
            ("af_pf", Verdict::Confirmed),
            ("types", Verdict::Refuted),
            ("asked_is_got", Verdict::Refuted),
            ("privilege", Verdict::Confirmed),
            ("alternatives", Verdict::Confirmed),
            ("ping_root", Verdict::Refuted),
            ("error_order", Verdict::Refuted),
        ];
        for (id, v) in want {
            assert_eq!(verdict_of(&d, id), Some(v), "{id}");
        }
    }

    #[test]
    fn default_protocol_is_refuted_when_0_reads_back_0() {
        let mut d = linux();
        set(&mut d, AF_INET, SOCK_STREAM, 0, made(AF_INET, SOCK_STREAM, 0));
        assert_eq!(verdict_of(&d, "default_protocol"), Some(Verdict::Refuted));
        let f = findings(&d)
            .into_iter()
            .find(|f| f.id == "default_protocol")
            .unwrap();
        assert!(f.evidence.contains("SO_PROTOCOL 0"), "{}", f.evidence);
    }

    #[test]
    fn must_fit_is_refuted_when_stream_udp_is_accepted() {
        let mut d = linux();
        set(
            &mut d,
            AF_INET,
            SOCK_STREAM,
            IPPROTO_UDP,
            made(AF_INET, SOCK_STREAM, IPPROTO_UDP),
        );
        assert_eq!(verdict_of(&d, "must_fit"), Some(Verdict::Refuted));
    }

    #[test]
    fn af_pf_is_refuted_by_differing_numbers() {
        let mut d = linux();
        d.constants.iter_mut().find(|c| c.0 == "PF_INET").unwrap().1 = 99;
        assert_eq!(verdict_of(&d, "af_pf"), Some(Verdict::Refuted));
    }

    #[test]
    fn types_is_confirmed_when_nothing_is_refused() {
        let mut d = linux();
        for (dom, ty) in [
            (AF_INET, SOCK_SEQPACKET),
            (AF_UNIX, SOCK_RDM),
            (AF_INET, SOCK_RDM),
            (AF_NETLINK, SOCK_STREAM),
            (AF_PACKET, SOCK_STREAM),
        ] {
            set(&mut d, dom, ty, 0, made(dom, ty, 0));
        }
        assert_eq!(verdict_of(&d, "types"), Some(Verdict::Confirmed));
    }

    #[test]
    fn asked_is_got_is_confirmed_when_every_read_back_matches() {
        let mut d = linux();
        for i in 0..d.attempts.len() {
            let a = d.attempts[i].clone();
            if let Some(b) = read_backs(&d.matrix, i).first().map(|b| b.1) {
                let p = if a.protocol == 0 { b.protocol } else { a.protocol };
                set(&mut d, a.domain, a.ty, a.protocol, made(b.domain, a.ty, p));
            }
        }
        assert_eq!(verdict_of(&d, "asked_is_got"), Some(Verdict::Confirmed));
    }

    #[test]
    fn privilege_depends_when_namespace_root_is_refused_too() {
        let mut d = linux();
        let i = index(&d, AF_INET, SOCK_RAW, IPPROTO_ICMP).unwrap();
        if let Some(Ok(r)) = &mut d.matrix.userns {
            r[i] = err("EPERM");
        }
        assert_eq!(verdict_of(&d, "privilege"), Some(Verdict::Depends));
    }

    #[test]
    fn alternatives_depends_without_mptcp_or_sctp() {
        let mut d = linux();
        set(
            &mut d,
            AF_INET,
            SOCK_STREAM,
            IPPROTO_MPTCP,
            err("EPROTONOSUPPORT"),
        );
        assert_eq!(verdict_of(&d, "alternatives"), Some(Verdict::Depends));
    }

    #[test]
    fn ping_root_depends_when_widening_changed_nothing_or_failed() {
        let mut d = linux();
        if let Ok(p) = &mut d.ping {
            let same = p.found.clone();
            p.widened.as_mut().unwrap().passes = same;
        }
        assert_eq!(verdict_of(&d, "ping_root"), Some(Verdict::Depends));
        if let Ok(p) = &mut d.ping {
            p.widened = Err(Unmeasured::SysctlRefused {
                name: "net.ipv4.ping_group_range".into(),
                errno: "EPERM".into(),
            });
        }
        assert_eq!(verdict_of(&d, "ping_root"), Some(Verdict::Depends));
        d.ping = Err(Unmeasured::NoSandbox);
        assert_eq!(verdict_of(&d, "ping_root"), None);
    }

    #[test]
    fn ping_evidence_names_the_ranges_and_columns() {
        let f = findings(&linux());
        let p = f.iter().find(|f| f.id == "ping_root").unwrap();
        assert!(p.evidence.contains("1 0 (as found)"), "{}", p.evidence);
        assert!(p.evidence.contains("root (uid 0): EACCES"), "{}", p.evidence);
        assert!(p.evidence.contains("0 2147483647"), "{}", p.evidence);
        let zh = &p.zh.as_ref().unwrap().evidence;
        assert!(zh.contains("EACCES") && !zh.contains("as found"), "{zh}");
    }

    #[test]
    fn error_order_follows_the_cells_and_says_nothing_without_double_failures() {
        let mut d = linux();
        assert_eq!(verdict_of(&d, "error_order"), Some(Verdict::Refuted));
        // Make every unprivileged failure the same as the privileged one.
        let root = d.matrix.root.clone();
        d.matrix.unprivileged = root.clone();
        d.matrix.userns = root;
        assert_eq!(verdict_of(&d, "error_order"), Some(Verdict::Confirmed));
        // Nothing fails unprivileged: nothing to compare.
        let n = d.attempts.len();
        d.matrix.unprivileged = Some(Ok(vec![made(AF_INET, SOCK_STREAM, 6); n]));
        assert_eq!(verdict_of(&d, "error_order"), None);
    }

    #[test]
    fn no_measured_column_gives_no_findings() {
        let mut d = linux();
        let why = || Some(Err(Unmeasured::Privilege { what: "root".into() }));
        d.matrix.root = why();
        d.matrix.userns = why();
        d.matrix.unprivileged = why();
        assert!(findings(&d).is_empty());
    }

    #[test]
    fn findings_are_whole_in_both_languages() {
        for f in findings(&linux()) {
            let zh = f.zh.as_ref().unwrap();
            for s in [&f.claim, &f.evidence, &zh.claim, &zh.evidence] {
                assert!(!s.contains('⟨') && !s.contains('{'), "{}: {s}", f.id);
            }
        }
    }
}
