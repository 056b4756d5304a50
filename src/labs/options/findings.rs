//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::behaviour::{linger_key, LingerRun, OobRun, PortLeft, ReadEnd, LINGER_SECONDS, UNREAD_KEY};
use super::keepalive::{self, Runs, KEEP};
use super::measure::{opt, Data, Got, Readout, Storage, Val};
use super::tables::{
    call_text, got_text, local_read, ms1, num, port_left, read_end, recv_cell, rule_text, value_text,
};
use super::STRINGS as S;
use crate::labs::wire::{flag_bits, Cause, Dir, Packet, Wire, ACK, FIN, RST};
use crate::report::{Call, Cell, Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    [
        flags(d),
        buffers(d),
        linger(d),
        so_error(d),
        broadcast(d),
        oobinline(d),
        keepalive(d),
        linger_wire(d),
        unread_wire(d),
        keepalive_wire(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn confirmed(ok: bool) -> Verdict {
    if ok {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    }
}

/// A cell as text, the way the tables print it ("-" for nothing).
fn cell(c: Cell) -> String {
    match c {
        Cell::Null => "-".into(),
        Cell::String(s) => s,
        other => other.to_string(),
    }
}

fn names(list: Vec<String>, sep_zh: &str) -> Text {
    let parts: Vec<Text> = list.into_iter().map(Text::same).collect();
    Text::join(&parts, ", ", sep_zh)
}

fn flags(d: &Data) -> Option<Finding> {
    let is_flag = |name: &str| opt(name).kind == crate::sys::options::Kind::Flag;
    let settable: Vec<Storage> = d
        .probes
        .iter()
        .filter(|p| is_flag(&p.option) && p.storage() != Storage::ReadOnly)
        .map(|p| p.storage())
        .collect();
    if settable.is_empty() {
        return None;
    }
    let all_boolean = settable.iter().all(|s| *s == Storage::Flag);
    let with = |pred: &dyn Fn(Storage) -> bool| -> Vec<String> {
        d.probes
            .iter()
            .filter(|p| pred(p.storage()))
            .map(|p| p.option.clone())
            .collect()
    };
    let (flag_names, numbers, fixed) = (
        with(&|s| s == Storage::Flag),
        with(&|s| s.is_number()),
        with(&|s| s == Storage::ReadOnly),
    );
    let fifty: Vec<(String, i32, bool)> = d
        .probes
        .iter()
        .filter_map(|p| p.read_int(50).map(|v| (p.option.clone(), v, is_flag(&p.option))))
        .collect();
    // When every flag read 50 back as 1, say so once and list only the others.
    let others: Vec<String> = fifty
        .iter()
        .filter(|(_, _, flag)| !flag)
        .map(|(n, v, _)| format!("{n} {v}"))
        .collect();
    let flags_one = fifty.iter().any(|f| f.2) && fifty.iter().all(|(_, v, flag)| !flag || *v == 1);
    let mut parts = vec![t!(S, "finding.flags.flags", names = names(flag_names, "、"))];
    if !numbers.is_empty() {
        parts.push(t!(S, "finding.flags.numbers", names = names(numbers, "、")));
    }
    if !fixed.is_empty() {
        parts.push(t!(S, "finding.flags.fixed", names = names(fixed, "、")));
    }
    if flags_one && !others.is_empty() {
        parts.push(t!(S, "finding.flags.fifty_flags", names = names(others, "，")));
    } else {
        let all = fifty.into_iter().map(|(n, v, _)| format!("{n} {v}")).collect();
        parts.push(t!(S, "finding.flags.fifty", names = names(all, "，")));
    }
    Some(Finding::new(
        "flags",
        t!(S, "finding.flags.claim"),
        confirmed(all_boolean),
        Text::join(&parts, "; ", "；"),
    ))
}

fn buffers(d: &Data) -> Option<Finding> {
    let b = d.buffers.first()?;
    let row = |v: i32| b.rows.iter().find(|r| r.value == v);
    let read = |v: i32| match row(v).map(|r| &r.read) {
        Some(Ok(n)) => n.to_string(),
        Some(Err(c)) => c.name().to_string(),
        None => "-".into(),
    };
    let all_match = d
        .buffers
        .iter()
        .all(|b| b.rows.iter().all(|r| r.check(b).2 == Some(true)));
    let r4096_ok = matches!(row(4096).map(|r| &r.read), Some(Ok(8192)));
    let rule10m = match row(10_000_000) {
        Some(r) => rule_text(r.value, b, r.check(b).1),
        None => Text::same("-"),
    };
    let sysctl = super::measure::buf_rule(&b.option)?.sysctl;
    let all = t!(
        S,
        if all_match {
            "finding.buffers.all"
        } else {
            "finding.buffers.not_all"
        }
    );
    let evidence = t!(
        S,
        "finding.buffers.evidence",
        name = b.option,
        r4096 = read(4096),
        r0 = read(0),
        r10m = read(10_000_000),
        rule10m = rule10m,
        all = all,
        sysctl = sysctl
    );
    Some(Finding::new(
        "buffers",
        t!(S, "finding.buffers.claim", name = b.option),
        confirmed(r4096_ok && all_match),
        evidence,
    ))
}

fn linger_run(d: &Data, l: Option<i32>) -> Option<&LingerRun> {
    d.linger.iter().find(|r| r.linger == l && !r.peer_reading)
}

fn linger(d: &Data) -> Option<Finding> {
    let (off, abort, wait) = (
        linger_run(d, None)?,
        linger_run(d, Some(0))?,
        linger_run(d, Some(LINGER_SECONDS))?,
    );
    let reset = matches!(&abort.peer_end, ReadEnd::Failed(c) if c.is("ECONNRESET"));
    let no_time_wait = !matches!(abort.left, PortLeft::TimeWait { .. });
    let evidence = t!(
        S,
        "finding.linger.evidence",
        abort_bytes = abort.peer_bytes,
        abort_written = abort.written,
        abort_end = read_end(&abort.peer_end),
        abort_left = port_left(&abort.left),
        off_bytes = off.peer_bytes,
        off_written = off.written,
        off_end = read_end(&off.peer_end),
        off_left = port_left(&off.left),
        n = format!("{{1, {LINGER_SECONDS}}}"),
        wait_ms = num(ms1(wait.close_ms))
    );
    Some(Finding::new(
        "linger",
        t!(S, "finding.linger.claim"),
        confirmed(reset && no_time_wait),
        evidence,
    ))
}

fn readout_text(r: &Readout) -> Text {
    match r {
        Ok(g) => value_text(opt("SO_ERROR").kind, g.value),
        Err(c) => Text::same(c.name()),
    }
}

fn is_int(r: &Readout, want: i32) -> bool {
    matches!(r, Ok(Got { value: Val::Int(i), .. }) if *i == want)
}

fn so_error(d: &Data) -> Option<Finding> {
    let e = d.so_error.as_ref()?;
    let ok = is_int(&e.first, libc::ECONNREFUSED) && is_int(&e.second, 0);
    let evidence = t!(
        S,
        "finding.so_error.evidence",
        connect = call_text(&e.connect),
        first = readout_text(&e.first),
        second = readout_text(&e.second)
    );
    Some(Finding::new(
        "so_error",
        t!(S, "finding.so_error.claim"),
        confirmed(ok),
        evidence,
    ))
}

fn broadcast(d: &Data) -> Option<Finding> {
    let b = d.broadcast.as_ref()?;
    let send = |flag: i32| b.sends.iter().find(|s| s.flag == flag && s.to_broadcast());
    let (off, on) = (send(0), send(1));
    let sent =
        |s: Option<&super::behaviour::BroadcastSend>| s.map_or(Text::same("-"), |s| call_text(&s.sent));
    let got = on.map_or(Text::same("-"), |s| got_text(&s.got));
    let ok = off.is_some_and(|s| s.sent.is("EACCES"))
        && on.is_some_and(|s| s.sent.is_ok() && s.got.is_some())
        && b.receiver_flag == Some(0);
    let receiver = b.receiver_flag.map_or("-".into(), |f| f.to_string());
    let evidence = t!(
        S,
        "finding.broadcast.evidence",
        off = sent(off),
        on = sent(on),
        receiver = receiver,
        got = got
    );
    Some(Finding::new(
        "broadcast",
        t!(S, "finding.broadcast.claim"),
        confirmed(ok),
        evidence,
    ))
}

fn mark_text(r: &Result<bool, Call>) -> String {
    match r {
        Ok(b) => (*b as i32).to_string(),
        Err(c) => c.name().to_string(),
    }
}

fn oobinline(d: &Data) -> Option<Finding> {
    let run = |v: i32| d.oob.iter().find(|r| r.inline == v);
    let (off, on): (&OobRun, &OobRun) = (run(0)?, run(1)?);
    let ok = off.oob_got_x() && !off.rest_has_x() && on.rest_has_x();
    let text = |r: &Result<String, Call>| cell(recv_cell(r));
    let evidence = t!(
        S,
        "finding.oobinline.evidence",
        off_oob = text(&off.oob),
        off_rest = text(&off.rest),
        on_oob = text(&on.oob),
        on_rest = text(&on.rest),
        off_first = text(&off.first),
        on_first = text(&on.first),
        off_mark = mark_text(&off.mark_after),
        on_mark = mark_text(&on.mark_after)
    );
    Some(Finding::new(
        "oobinline",
        t!(S, "finding.oobinline.claim"),
        confirmed(ok),
        evidence,
    ))
}

fn keepalive(d: &Data) -> Option<Finding> {
    let Runs::Ran { vanished, present } = &d.keepalive.as_ref()?.runs else {
        return None;
    };
    let ok = vanished.read.is("ETIMEDOUT") && !present.read.is("ETIMEDOUT");
    let (i, v, c) = KEEP;
    let evidence = t!(
        S,
        "finding.keepalive.evidence",
        i = i,
        v = v,
        c = c,
        local = local_read(&vanished.read),
        ms = num(vanished.after_ms.round()),
        probes = vanished.probes.map_or("-".into(), |p| p.to_string()),
        present = local_read(&present.read)
    );
    Some(Finding::new(
        "keepalive",
        t!(S, "finding.keepalive.claim"),
        confirmed(ok),
        evidence,
    ))
}

fn wire<'a>(d: &'a Data, scenario: &str) -> Option<&'a Wire> {
    d.wire.as_ref().ok()?.iter().find(|w| w.scenario == scenario)
}

/// The packets one side sent with these flag bits set.
fn sent(w: &Wire, dir: Dir, bits: u8) -> Vec<&Packet> {
    w.packets
        .iter()
        .filter(|p| p.dir == dir && flag_bits(&p.flags) & bits == bits)
        .collect()
}

fn ms(t: f64) -> String {
    if t >= 100.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.3}")
    }
}

/// The packets' times, "–" for none.
fn times(ps: &[&Packet]) -> String {
    if ps.is_empty() {
        return "–".into();
    }
    ps.iter().map(|p| ms(p.t_ms)).collect::<Vec<_>>().join(", ")
}

/// From the packets: SO_LINGER {1, 0}'s close() sends RST and no FIN; a plain close() a FIN.
fn linger_wire(d: &Data) -> Option<Finding> {
    let abort = wire(d, &linger_key(Some(0), false))?;
    let off = wire(d, &linger_key(None, false))?;
    // The client is the side that closes first in both.
    let c = Dir::ClientToServer;
    let (rsts, fins) = (sent(abort, c, RST), sent(abort, c, FIN));
    let (off_rsts, off_fins) = (sent(off, c, RST), sent(off, c, FIN));
    let ok = !rsts.is_empty() && fins.is_empty() && !off_fins.is_empty() && off_rsts.is_empty();
    let evidence = t!(
        S,
        "finding.linger_wire.evidence",
        rsts = rsts.len(),
        rst_t = times(&rsts),
        fins = fins.len(),
        off_fins = off_fins.len(),
        fin_t = times(&off_fins),
        off_rsts = off_rsts.len()
    );
    Some(Finding::new(
        "linger_wire",
        t!(S, "finding.linger_wire.claim"),
        confirmed(ok),
        evidence,
    ))
}

/// From the packets: close() with bytes still unread sends RST, not FIN.
fn unread_wire(d: &Data) -> Option<Finding> {
    let w = wire(d, UNREAD_KEY)?;
    let u = d.unread.as_ref()?;
    let s = Dir::ServerToClient;
    let (rsts, fins) = (sent(w, s, RST), sent(w, s, FIN));
    let had_unread = u.unread.is_none_or(|n| n > 0);
    let ok = had_unread && !rsts.is_empty() && fins.is_empty();
    let evidence = t!(
        S,
        "finding.unread_wire.evidence",
        unread = u.unread.map_or("?".into(), |n| n.to_string()),
        rsts = rsts.len(),
        t = times(&rsts),
        fins = fins.len(),
        end = read_end(&u.client_end)
    );
    Some(Finding::new(
        "unread_wire",
        t!(S, "finding.unread_wire.claim"),
        confirmed(ok),
        evidence,
    ))
}

/// The client's keepalive probes, each with whether the server answered it (an ACK from
/// the server before the next probe).
fn probes(w: &Wire) -> Vec<(&Packet, bool)> {
    let mut out = Vec::new();
    for (i, p) in w.packets.iter().enumerate() {
        if p.cause != Cause::Probe || p.dir != Dir::ClientToServer {
            continue;
        }
        let answered = w.packets[i + 1..]
            .iter()
            .take_while(|q| q.cause != Cause::Probe)
            .any(|q| q.dir == Dir::ServerToClient && flag_bits(&q.flags) & (ACK | RST) == ACK);
        out.push((p, answered));
    }
    out
}

fn only<'a>(v: &[(&'a Packet, bool)]) -> Vec<&'a Packet> {
    v.iter().map(|(p, _)| *p).collect()
}

/// From the packets: probes on the idle connection, answered while the peer is there,
/// unanswered and ended by a RST once it is gone.
fn keepalive_wire(d: &Data) -> Option<Finding> {
    let present = wire(d, keepalive::key(false))?;
    let gone = wire(d, keepalive::key(true))?;
    let (p, g) = (probes(present), probes(gone));
    let answered = |v: &[(&Packet, bool)]| v.iter().filter(|(_, a)| *a).count();
    let rst = sent(gone, Dir::ClientToServer, RST);
    let ok =
        !p.is_empty() && answered(&p) == p.len() && !g.is_empty() && answered(&g) == 0 && !rst.is_empty();
    let evidence = t!(
        S,
        "finding.keepalive_wire.evidence",
        n = p.len(),
        times = times(&only(&p)),
        answered = answered(&p),
        m = g.len(),
        times2 = times(&only(&g)),
        answered2 = answered(&g),
        rst = times(&rst)
    );
    Some(Finding::new(
        "keepalive_wire",
        t!(S, "finding.keepalive_wire.claim"),
        confirmed(ok),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::behaviour::{Broadcast, BroadcastSend, Datagram, SoError, UnreadRun};
    use super::super::keepalive::{KeepRun, Keepalive, LocalRead, Timers};
    use super::super::measure::{Buffer, BufferSet, Probe, SetRead, PROBE_VALUES};
    use super::*;
    use crate::labs::wire::Packet;
    use crate::report::Unmeasured;

    fn err(e: &str) -> Call {
        Call::Err(e.into())
    }

    fn got(i: i32) -> Readout {
        Ok(Got {
            value: Val::Int(i),
            len: 4,
        })
    }

    fn probe(name: &str, f: impl Fn(i32) -> SetRead) -> Probe {
        Probe {
            option: name.into(),
            udp: name == "SO_BROADCAST",
            results: PROBE_VALUES.iter().map(|&v| (v, f(v))).collect(),
        }
    }

    fn flag(v: i32) -> SetRead {
        SetRead::Read(Val::Int((v != 0) as i32))
    }

    fn linger_run(linger: Option<i32>, peer_reading: bool) -> LingerRun {
        let abort = linger == Some(0);
        LingerRun {
            linger,
            peer_reading,
            port: 40000,
            peer_port: 40001,
            written: 3776,
            unsent: Some(3200),
            close: Call::Ok,
            close_ms: if linger == Some(1) && !peer_reading {
                1015.04
            } else {
                0.1
            },
            peer_bytes: if abort { 1024 } else { 3776 },
            peer_end: if abort {
                ReadEnd::Failed(err("ECONNRESET"))
            } else {
                ReadEnd::Eof
            },
            left: if abort {
                PortLeft::Nothing
            } else {
                PortLeft::TimeWait { left_ms: 59_990 }
            },
        }
    }

    fn keep_run(vanish: bool, read: LocalRead) -> KeepRun {
        KeepRun {
            vanish,
            port: 1,
            peer_port: 2,
            read,
            after_ms: 3069.4,
            probes: Some(2),
            peer_state: Some("ESTAB".into()),
            peer_dropped: Some(3),
        }
    }

    /// A hand-built capture: the handshake, then these packets (time, direction, flags, cause).
    fn wire_of(scenario: &str, rest: &[(f64, Dir, &str, Cause)]) -> Wire {
        use Dir::*;
        let mut ps = vec![
            Packet::bare(0.0, ClientToServer, "SYN", Cause::Connect),
            Packet::bare(0.01, ServerToClient, "SYN,ACK", Cause::Listen),
            Packet::bare(0.02, ClientToServer, "ACK", Cause::Connect),
        ];
        ps.extend(rest.iter().map(|&(t, d, f, c)| Packet::bare(t, d, f, c)));
        Wire::of(scenario, 40001, ps)
    }

    /// The wires as this kernel gives them.
    fn wires() -> Vec<Wire> {
        use Cause::*;
        use Dir::*;
        vec![
            wire_of(
                "linger_off",
                &[
                    (0.03, ClientToServer, "PSH,ACK", Send),
                    (0.45, ClientToServer, "FIN,PSH,ACK", Close),
                    (0.46, ServerToClient, "FIN,ACK", Close),
                    (0.47, ClientToServer, "ACK", Kernel),
                ],
            ),
            wire_of(
                "linger_0",
                &[
                    (0.03, ClientToServer, "PSH,ACK", Send),
                    (0.06, ClientToServer, "RST,ACK", Reset),
                ],
            ),
            wire_of(
                "unread_close",
                &[
                    (0.04, ClientToServer, "PSH,ACK", Send),
                    (0.05, ServerToClient, "ACK", Kernel),
                    (0.06, ServerToClient, "RST,ACK", Reset),
                ],
            ),
            wire_of(
                "keepalive_present",
                &[
                    (1027.0, ClientToServer, "ACK", Probe),
                    (1027.1, ServerToClient, "ACK", Kernel),
                    (2047.0, ClientToServer, "ACK", Probe),
                    (2047.1, ServerToClient, "ACK", Kernel),
                    (3366.0, ServerToClient, "RST,ACK", Reset),
                ],
            ),
            wire_of(
                "keepalive_vanished",
                &[
                    (1015.0, ClientToServer, "ACK", Probe),
                    (2035.0, ClientToServer, "ACK", Probe),
                    (3063.0, ClientToServer, "RST,ACK", Reset),
                ],
            ),
        ]
    }

    /// Data as this kernel gives it.
    fn linux() -> Data {
        let buffer = Buffer {
            option: "SO_SNDBUF".into(),
            max: Some(4_194_304),
            floor: 4608,
            rows: [0, 4096, 10_000_000]
                .iter()
                .map(|&v| BufferSet {
                    value: v,
                    set: Call::Ok,
                    read: Ok(super::super::measure::buffer_rule(v, Some(4_194_304), 4608)
                        .0
                        .unwrap() as i32),
                })
                .collect(),
        };
        let bcast = "127.255.255.255:5000".parse().unwrap();
        let send = |flag, to, sent: Call| BroadcastSend {
            flag,
            to,
            got: sent.is_ok().then(|| Datagram {
                bytes: 5,
                from: "127.0.0.1:6000".parse().ok(),
            }),
            sent,
        };
        let oob = |inline, oob: Result<String, Call>, rest: &str| OobRun {
            inline,
            revents: libc::POLLIN | libc::POLLPRI,
            mark_before: Ok(false),
            first: Ok("ab".into()),
            mark_after: Ok(true),
            oob,
            rest: Ok(rest.into()),
        };
        Data {
            options: vec![],
            defaults: vec![],
            unix_raw_type: None,
            probes: vec![
                probe("SO_KEEPALIVE", flag),
                probe("SO_RCVLOWAT", |v| SetRead::Read(Val::Int(v.max(1)))),
                probe("SO_TYPE", |_| SetRead::SetFailed(err("ENOPROTOOPT"))),
            ],
            buffers: vec![buffer],
            linger: vec![
                linger_run(None, false),
                linger_run(Some(0), false),
                linger_run(Some(1), false),
                linger_run(Some(1), true),
            ],
            unread: Some(UnreadRun {
                port: 40001,
                client_port: 40000,
                sent: 6,
                unread: Some(6),
                close: Call::Ok,
                client_end: ReadEnd::Failed(err("ECONNRESET")),
            }),
            so_error: Some(SoError {
                target: "127.0.0.1:7000".parse().unwrap(),
                connect: err("EINPROGRESS"),
                revents: libc::POLLOUT,
                rsts: Some(1),
                first: got(libc::ECONNREFUSED),
                second: got(0),
            }),
            broadcast: Some(Broadcast {
                own_namespace: true,
                receiver_flag: Some(0),
                sends: vec![
                    send(0, bcast, err("EACCES")),
                    send(1, bcast, Call::Ok),
                    send(0, "127.0.0.1:5000".parse().unwrap(), Call::Ok),
                ],
            }),
            oob: vec![oob(0, Ok("X".into()), "cd"), oob(1, Err(err("EINVAL")), "Xcd")],
            keepalive: Some(Keepalive {
                defaults: Timers {
                    idle: Some(7200),
                    intvl: Some(75),
                    cnt: Some(9),
                },
                sysctls: vec![],
                runs: Runs::Ran {
                    vanished: keep_run(true, LocalRead::Failed(err("ETIMEDOUT"))),
                    present: keep_run(false, LocalRead::StillWaiting { waited_ms: 3300 }),
                },
            }),
            wire: Ok(wires()),
        }
    }

    fn wire_mut<'a>(d: &'a mut Data, scenario: &str) -> &'a mut Wire {
        let w = d.wire.as_mut().unwrap();
        w.iter_mut().find(|w| w.scenario == scenario).unwrap()
    }

    #[test]
    fn linger_wire_quotes_the_reset_and_is_refuted_by_a_fin_from_the_closer() {
        let d = linux();
        let f = find(&d, "linger_wire").unwrap();
        assert_eq!(f.verdict, Verdict::Confirmed);
        assert!(
            f.evidence.contains("1 RST (t = 0.060 ms), 0 FIN"),
            "{}",
            f.evidence
        );
        assert!(
            f.evidence.contains("1 FIN (t = 0.450 ms), 0 RST"),
            "{}",
            f.evidence
        );
        let mut d = linux();
        let w = wire_mut(&mut d, "linger_0");
        w.packets[4].flags = "FIN,ACK".into();
        assert_eq!(verdict(&d, "linger_wire"), Verdict::Refuted);
        let mut d = linux();
        d.wire = Err(Unmeasured::NoSandbox);
        assert!(find(&d, "linger_wire").is_none());
    }

    #[test]
    fn unread_wire_is_refuted_by_a_fin_or_a_reset_from_the_client() {
        let d = linux();
        assert_eq!(verdict(&d, "unread_wire"), Verdict::Confirmed);
        let mut d = linux();
        wire_mut(&mut d, "unread_close").packets[5].flags = "FIN,ACK".into();
        assert_eq!(verdict(&d, "unread_wire"), Verdict::Refuted);
        let mut d = linux();
        wire_mut(&mut d, "unread_close").packets[5].dir = Dir::ClientToServer;
        assert_eq!(verdict(&d, "unread_wire"), Verdict::Refuted);
        let mut d = linux();
        d.unread = None;
        assert!(find(&d, "unread_wire").is_none());
    }

    #[test]
    fn keepalive_wire_counts_answers_and_is_refuted_by_an_unanswered_probe() {
        let d = linux();
        let f = find(&d, "keepalive_wire").unwrap();
        assert_eq!(f.verdict, Verdict::Confirmed);
        assert!(
            f.evidence.contains("2 probes (t = 1027, 2047 ms), 2 ACKed"),
            "{}",
            f.evidence
        );
        assert!(f.evidence.contains("RST at 3063 ms"), "{}", f.evidence);
        let mut d = linux();
        // The second answer missing: that probe went unanswered.
        wire_mut(&mut d, "keepalive_present").packets.remove(6);
        assert_eq!(verdict(&d, "keepalive_wire"), Verdict::Refuted);
        let mut d = linux();
        // A vanished peer that answers is not vanished.
        let w = wire_mut(&mut d, "keepalive_vanished");
        w.packets
            .insert(4, Packet::bare(1015.1, Dir::ServerToClient, "ACK", Cause::Kernel));
        assert_eq!(verdict(&d, "keepalive_wire"), Verdict::Refuted);
        let mut d = linux();
        d.keepalive.as_mut().unwrap().runs = Runs::NotAsked { seconds: 3 };
        d.wire
            .as_mut()
            .unwrap()
            .retain(|w| !w.scenario.starts_with("keepalive_"));
        assert!(find(&d, "keepalive_wire").is_none());
    }

    fn find(d: &Data, id: &str) -> Option<Finding> {
        findings(d).into_iter().find(|f| f.id == id)
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        find(d, id).unwrap_or_else(|| panic!("no finding {id}")).verdict
    }

    #[test]
    fn every_finding_is_confirmed_on_linux_data() {
        let f = findings(&linux());
        assert_eq!(f.len(), 10, "{f:#?}");
        assert!(f.iter().all(|f| f.verdict == Verdict::Confirmed), "{f:#?}");
    }

    #[test]
    fn flags_is_refuted_by_a_flag_that_keeps_50_and_absent_without_settable_flags() {
        let mut d = linux();
        d.probes[0] = probe("SO_KEEPALIVE", |v| SetRead::Read(Val::Int(v)));
        assert_eq!(verdict(&d, "flags"), Verdict::Refuted);
        d.probes.remove(0);
        assert!(find(&d, "flags").is_none());
    }

    #[test]
    fn flags_evidence_lists_each_kind_of_storage() {
        let f = find(&linux(), "flags").unwrap();
        assert_eq!(
            f.evidence,
            "stored as 0/1: SO_KEEPALIVE; keep the number: SO_RCVLOWAT; cannot be set: SO_TYPE; \
             set to 50, every flag read back 1, and SO_RCVLOWAT 50"
        );
        assert!(f
            .zh
            .unwrap()
            .evidence
            .starts_with("按 0/1 存储的：SO_KEEPALIVE；"));
    }

    #[test]
    fn buffers_is_refuted_when_4096_is_not_doubled() {
        let mut d = linux();
        assert_eq!(verdict(&d, "buffers"), Verdict::Confirmed);
        d.buffers[0].rows[1].read = Ok(4096);
        let f = find(&d, "buffers").unwrap();
        assert_eq!(f.verdict, Verdict::Refuted);
        assert!(f.evidence.contains("not every row matches"), "{}", f.evidence);
        assert!(f.zh.unwrap().evidence.contains("上限：超过 net.core.wmem_max"));
    }

    #[test]
    fn linger_is_refuted_by_a_fin_or_a_time_wait() {
        let mut d = linux();
        let f = find(&d, "linger").unwrap();
        assert!(
            f.evidence
                .contains("1024 of 3776 bytes, then ECONNRESET; our port: no socket left"),
            "{}",
            f.evidence
        );
        assert!(f.evidence.contains("TIME-WAIT (59 s left)") && f.evidence.contains("1015.0 ms"));
        assert!(f.zh.unwrap().evidence.contains("TIME-WAIT（还剩 59 秒）"));
        d.linger[1].peer_end = ReadEnd::Eof;
        assert_eq!(verdict(&d, "linger"), Verdict::Refuted);
        let mut d = linux();
        d.linger[1].left = PortLeft::TimeWait { left_ms: 60_000 };
        assert_eq!(verdict(&d, "linger"), Verdict::Refuted);
    }

    #[test]
    fn so_error_is_refuted_when_the_second_read_still_has_the_error() {
        let mut d = linux();
        let f = find(&d, "so_error").unwrap();
        assert_eq!(
            f.evidence,
            "after a refused non-blocking connect (EINPROGRESS), the first read gave ECONNREFUSED, the second 0"
        );
        d.so_error.as_mut().unwrap().second = got(libc::ECONNREFUSED);
        assert_eq!(verdict(&d, "so_error"), Verdict::Refuted);
    }

    #[test]
    fn broadcast_is_refuted_when_sending_without_the_flag_works() {
        let mut d = linux();
        let f = find(&d, "broadcast").unwrap();
        assert!(
            f.evidence.ends_with("got 5 bytes from 127.0.0.1:6000"),
            "{}",
            f.evidence
        );
        assert!(f
            .zh
            .unwrap()
            .evidence
            .ends_with("收到了来自 127.0.0.1:6000 的 5 字节"));
        d.broadcast.as_mut().unwrap().sends[0].sent = Call::Ok;
        assert_eq!(verdict(&d, "broadcast"), Verdict::Refuted);
    }

    #[test]
    fn oobinline_is_refuted_when_the_byte_stays_in_the_stream_with_the_option_off() {
        let mut d = linux();
        assert_eq!(verdict(&d, "oobinline"), Verdict::Confirmed);
        d.oob[0].oob = Err(err("EINVAL"));
        d.oob[0].rest = Ok("Xcd".into());
        assert_eq!(verdict(&d, "oobinline"), Verdict::Refuted);
    }

    #[test]
    fn keepalive_is_refuted_without_etimedout_and_absent_when_not_run() {
        let mut d = linux();
        let f = find(&d, "keepalive").unwrap();
        assert!(
            f.evidence
                .contains("ETIMEDOUT after 3069.0 ms (2 unanswered probes)"),
            "{}",
            f.evidence
        );
        assert!(
            f.evidence.ends_with("no error: still waiting after 3.3s"),
            "{}",
            f.evidence
        );
        if let Runs::Ran { vanished, .. } = &mut d.keepalive.as_mut().unwrap().runs {
            vanished.read = LocalRead::StillWaiting { waited_ms: 5000 };
        }
        assert_eq!(verdict(&d, "keepalive"), Verdict::Refuted);
        d.keepalive.as_mut().unwrap().runs = Runs::NotAsked { seconds: 3 };
        assert!(find(&d, "keepalive").is_none());
    }
}
