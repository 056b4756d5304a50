//! What the packets say: the SYNs and their retries, the cookie SYN-ACKs, the phantom's
//! dropped ACK; the ladder tables and the per-client timeline. Pure functions of [`Data`].

use super::data::*;
use super::tables::sysctl;
use super::STRINGS as S;
use crate::labs::wire::{self, table as wire_table, Cause, Dir, Wire};
use crate::report::picture::{Event, Kind, Lane, Mark, Picture, Timeline};
use crate::report::{Finding, Table, Text, Verdict};
use crate::t;

/// The capture of one scenario, when this run has it.
pub fn wire<'a>(d: &'a Data, scenario: &str) -> Option<&'a Wire> {
    d.wire.as_ref().ok()?.iter().find(|w| w.scenario == scenario)
}

/// The flow number of the client with this port.
fn flow_of(w: &Wire, port: u16) -> Option<u32> {
    w.client_ports
        .iter()
        .position(|&p| p == port)
        .map(|i| i as u32 + 1)
}

fn bits(p: &wire::Packet) -> u8 {
    wire::flag_bits(&p.flags)
}

/// The times of the flow's SYNs (without ACK): the first, then each retry.
fn syn_times(w: &Wire, flow: u32) -> Vec<f64> {
    w.packets
        .iter()
        .filter(|p| p.flow == flow && bits(p) & (wire::SYN | wire::ACK) == wire::SYN)
        .map(|p| p.t_ms)
        .collect()
}

/// A time as the findings quote it: 0.1 ms is all a packet's story needs.
fn ms(t: f64) -> String {
    format!("{t:.1}")
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).map(|x| (x * 10.0).round() / 10.0)
}

/// Per retry number k (1, 2, ...): the median wait from SYN k-1 to SYN k over the flows.
pub fn retry_gaps(w: &Wire) -> Vec<f64> {
    let flows: Vec<Vec<f64>> = (1..=w.flows.len() as u32).map(|f| syn_times(w, f)).collect();
    let most = flows.iter().map(|s| s.len()).max().unwrap_or(0);
    (1..most)
        .filter_map(|k| {
            median(
                flows
                    .iter()
                    .filter(|s| s.len() > k)
                    .map(|s| s[k] - s[k - 1])
                    .collect(),
            )
        })
        .collect()
}

/// The retries of a dropped SYN as the wire shows them: 1, 3, 7 s (doubling), or evenly spaced?
pub fn syn_retries_on_wire(d: &Data) -> Option<Finding> {
    let m = d.main.as_ref()?;
    let claim = t!(S, "finding.syn_retries_on_wire.claim");
    let Some(w) = wire(d, key::MAIN) else {
        let why = d.wire.as_ref().err().map(|u| u.text()).unwrap_or_default();
        let e = t!(S, "finding.syn_retries_on_wire.no_capture", why = why);
        return Some(Finding::new("syn_retries_on_wire", claim, Verdict::Depends, e));
    };
    let clients = m.clients.len();
    let syns = w.counts.syn as usize;
    let gaps = retry_gaps(w);
    // Doubling waits make the second at least about twice the first; linear ones keep it.
    let verdict = match gaps.as_slice() {
        _ if !w.stamped => Verdict::Depends,
        [g1, g2, ..] if *g2 >= 1.5 * g1 => Verdict::Confirmed,
        [_, _, ..] => Verdict::Refuted,
        _ => Verdict::Depends,
    };
    let gap_text = if gaps.is_empty() {
        t!(S, "finding.beyond_queue_refused.none_seen")
    } else {
        Text::same(gaps.iter().map(|g| ms(*g)).collect::<Vec<_>>().join(", "))
    };
    let e = t!(
        S,
        "finding.syn_retries_on_wire.evidence",
        syns = syns,
        clients = clients,
        retries = syns.saturating_sub(clients),
        tcp_info = m.syns_sent().saturating_sub(clients),
        gaps = gap_text,
        linear = sysctl(&m.syn_linear_timeouts)
    );
    Some(Finding::new("syn_retries_on_wire", claim, verdict, e))
}

/// The SYN-ACKs a batch sent to the clients the server kept nothing for: (flow, time).
fn cookie_syn_acks(w: &Wire, b: &Batch) -> Vec<(u32, f64)> {
    let mut out: Vec<(u32, f64)> = Vec::new();
    for &port in &b.cookie_ports {
        let Some(f) = flow_of(w, port) else { continue };
        let last = w
            .packets
            .iter()
            .rev()
            .find(|p| p.flow == f && bits(p) & (wire::SYN | wire::ACK) == wire::SYN | wire::ACK);
        out.extend(last.map(|p| (f, p.t_ms)));
    }
    out.sort_by_key(|(f, _)| *f);
    out
}

/// Does every SYN-ACK stand for a request the server keeps? The cookie batches answer.
pub fn cookie_syn_acks_finding(d: &Data) -> Option<Finding> {
    let runs = d.batches.as_deref()?;
    let claim = t!(S, "finding.cookie_syn_acks.claim");
    let mut captured = 0;
    for r in runs {
        let (Ok(b), Some(w)) = (&r.result, wire(d, &key::batch(r.syncookies, r.abort_on_overflow))) else {
            continue;
        };
        captured += 1;
        let cookies = cookie_syn_acks(w, b);
        if cookies.is_empty() {
            continue;
        }
        let (lo, hi) = cookies.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), (_, t)| {
            (lo.min(*t), hi.max(*t))
        });
        let times = if ms(lo) == ms(hi) {
            ms(lo)
        } else {
            format!("{}–{}", ms(lo), ms(hi))
        };
        let flows: Vec<String> = cookies.iter().map(|(f, _)| f.to_string()).collect();
        let sent = b.counters.get("TcpExtSyncookiesSent").copied().unwrap_or(0);
        let e = t!(
            S,
            "finding.cookie_syn_acks.evidence",
            c = r.syncookies,
            a = r.abort_on_overflow,
            synacks = w.counts.syn_ack,
            n = cookies.len(),
            flows = flows.join(", "),
            times = times,
            sent = sent
        );
        return Some(Finding::new("cookie_syn_acks", claim, Verdict::Refuted, e));
    }
    let (verdict, e) = if captured == 0 {
        (Verdict::Depends, t!(S, "finding.cookie_syn_acks.no_capture"))
    } else {
        (
            Verdict::Confirmed,
            t!(S, "finding.cookie_syn_acks.none", runs = captured),
        )
    };
    Some(Finding::new("cookie_syn_acks", claim, verdict, e))
}

/// One phantom's handshake and line on the wire: its last ACK, its line, the line again.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomFlow {
    pub client: usize,
    pub flow: u32,
    pub ack_ms: f64,
    pub line_ms: f64,
    pub again_ms: Vec<f64>,
}

/// The phantoms of the main run whose flow shows the handshake's ACK and their line.
pub fn phantom_flows(m: &MainRun, w: &Wire) -> Vec<PhantomFlow> {
    let mut out = Vec::new();
    for c in m.clients.iter().filter(|c| c.fate.is_phantom()) {
        let Some(flow) = flow_of(w, c.port) else { continue };
        let mine = || {
            w.packets
                .iter()
                .filter(move |p| p.flow == flow && p.dir == Dir::ClientToServer)
        };
        let ack = mine().find(|p| p.cause == Cause::Connect && bits(p) == wire::ACK);
        let line = mine().find(|p| p.cause == Cause::Send && p.len > 0);
        let again: Vec<f64> = mine()
            .filter(|p| p.cause == Cause::Retry && p.len > 0)
            .map(|p| p.t_ms)
            .collect();
        if let (Some(a), Some(l)) = (ack, line) {
            out.push(PhantomFlow {
                client: c.index,
                flow,
                ack_ms: a.t_ms,
                line_ms: l.t_ms,
                again_ms: again,
            });
        }
    }
    out
}

/// connect() succeeded: did the server get the handshake's last ACK? The phantoms say no.
pub fn phantom_on_wire(d: &Data) -> Option<Finding> {
    let m = d.main.as_ref()?;
    let claim = t!(S, "finding.phantom_on_wire.claim");
    let phantoms = m.clients.iter().filter(|c| c.fate.is_phantom()).count();
    let Some(w) = wire(d, key::MAIN) else {
        let why = d.wire.as_ref().err().map(|u| u.text()).unwrap_or_default();
        let e = t!(S, "finding.syn_retries_on_wire.no_capture", why = why);
        return Some(Finding::new("phantom_on_wire", claim, Verdict::Depends, e));
    };
    let flows = phantom_flows(m, w);
    let resent: Vec<&PhantomFlow> = flows.iter().filter(|f| !f.again_ms.is_empty()).collect();
    // The example is one the server never took, when there is one: the plainest phantom.
    let never = |f: &&&PhantomFlow| m.clients.get(f.client).is_some_and(|c| c.fate == Fate::Phantom);
    let example = resent.iter().find(never).or(resent.first());
    let (verdict, e) = match example {
        Some(f) => {
            let again: Vec<String> = f.again_ms.iter().map(|t| ms(*t)).collect();
            let e = t!(
                S,
                "finding.phantom_on_wire.resent",
                phantoms = phantoms,
                resent = resent.len(),
                client = f.client,
                flow = f.flow,
                ack = ms(f.ack_ms),
                line = ms(f.line_ms),
                again = again.join(", ")
            );
            (Verdict::Refuted, e)
        }
        None if phantoms == 0 => (Verdict::Depends, t!(S, "finding.phantom_on_wire.none")),
        None => (
            Verdict::Depends,
            t!(
                S,
                "finding.phantom_on_wire.not_resent",
                phantoms = phantoms,
                seen = flows.len()
            ),
        ),
    };
    Some(Finding::new("phantom_on_wire", claim, verdict, e))
}

pub fn findings(d: &Data) -> Vec<Finding> {
    [
        syn_retries_on_wire(d),
        cookie_syn_acks_finding(d),
        phantom_on_wire(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The ladders that answer the question: the main run, and the first cookie batch.
pub fn tables(d: &Data) -> Vec<Table> {
    let mut out = Vec::new();
    if let Some(w) = wire(d, key::MAIN) {
        let named = [wire_table::Named {
            wire: w,
            name: t!(S, "ladder.scenario.main"),
        }];
        out.extend(wire_table::ladders("ladder", t!(S, "ladder.title"), &named));
    }
    let cookie_run = d
        .batches
        .iter()
        .flatten()
        .find(|r| r.result.as_ref().is_ok_and(|b| !b.cookie_ports.is_empty()));
    if let Some(r) = cookie_run {
        if let Some(w) = wire(d, &key::batch(r.syncookies, r.abort_on_overflow)) {
            let name = t!(
                S,
                "ladder.scenario.batch",
                c = r.syncookies,
                a = r.abort_on_overflow
            );
            let named = [wire_table::Named { wire: w, name }];
            out.extend(wire_table::ladders(
                "ladder_cookies",
                t!(
                    S,
                    "ladder.cookies_title",
                    c = r.syncookies,
                    a = r.abort_on_overflow
                ),
                &named,
            ));
        }
    }
    // The findings quote the packets; the terminal shows the ladders with --detail.
    for t in &mut out {
        t.detail = true;
    }
    if let (Some(t), Ok(all)) = (out.first_mut(), &d.wire) {
        if let Some(dir) = all
            .iter()
            .find_map(|w| w.pcap.as_deref())
            .and_then(|f| std::path::Path::new(f).parent())
        {
            t.note_text(t!(S, "ladder.note.pcap_all", dir = dir.display().to_string()));
        }
    }
    out
}

/// One lane per client of the main run: connect(), each SYN retry, connected, then
/// accepted, phantom or failed. Times from the packets where they say it, else the lab's.
pub fn pictures(d: &Data) -> Vec<Picture> {
    let Some(m) = &d.main else { return Vec::new() };
    let w = wire(d, key::MAIN);
    let mut lanes = Vec::new();
    for c in &m.clients {
        let flow = w.and_then(|w| flow_of(w, c.port).map(|f| (w, f)));
        let mut events = vec![Event {
            t_ms: c.started_ms,
            mark: Mark::Start,
        }];
        let mut connected = c.connected_ms;
        let mut lost = None;
        let mut failed = None;
        match flow {
            Some((w, f)) => {
                let syns = syn_times(w, f);
                events.extend(syns.iter().skip(1).map(|&t| Event {
                    t_ms: t,
                    mark: Mark::Retry,
                }));
                let mine = |p: &&wire::Packet| p.flow == f;
                let ack = w.packets.iter().filter(mine).find(|p| {
                    p.dir == Dir::ClientToServer && p.cause == Cause::Connect && bits(p) == wire::ACK
                });
                connected = ack.map(|p| p.t_ms).or(connected);
                lost = w
                    .packets
                    .iter()
                    .filter(mine)
                    .find(|p| p.cause == Cause::Retry && p.len > 0)
                    .map(|p| p.t_ms);
                failed = w
                    .packets
                    .iter()
                    .filter(mine)
                    .find(|p| bits(p) & wire::RST != 0)
                    .map(|p| p.t_ms);
            }
            None => events.extend(c.syn_retries_ms.iter().map(|&t| Event {
                t_ms: t,
                mark: Mark::Retry,
            })),
        }
        if let Some(t) = connected {
            events.push(Event {
                t_ms: t,
                mark: Mark::Ok,
            });
        }
        if c.fate.is_phantom() {
            let t = lost.or(connected).unwrap_or(m.ended_ms);
            events.push(Event {
                t_ms: t,
                mark: Mark::Lost,
            });
        }
        if let Some(t) = c.accepted_ms {
            events.push(Event {
                t_ms: t,
                mark: Mark::Accepted,
            });
        }
        if c.error.is_some() {
            events.push(Event {
                t_ms: failed.unwrap_or(m.ended_ms),
                mark: Mark::Failed,
            });
        }
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        lanes.push(Lane {
            label: t!(S, "picture.lane", n = c.index + 1),
            events,
        });
    }
    let legend = [
        (Mark::Start, "start"),
        (Mark::Retry, "retry"),
        (Mark::Ok, "ok"),
        (Mark::Accepted, "accepted"),
        (Mark::Lost, "lost"),
        (Mark::Failed, "failed"),
    ]
    .into_iter()
    .map(|(mark, k)| (mark, S.text(&format!("picture.legend.{k}"), &[])))
    .collect();
    vec![Picture {
        id: "timeline".into(),
        title: t!(S, "picture.title", clients = m.clients.len(), backlog = m.backlog),
        kind: Kind::Timeline(Timeline {
            axis: t!(S, "picture.axis"),
            lanes,
            legend,
        }),
    }]
}

#[cfg(test)]
mod tests;
