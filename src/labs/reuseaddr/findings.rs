//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::measure::{Data, Scenario, ScenarioRun};
use super::STRINGS as S;
use crate::labs::wire::{Dir, Wire};
use crate::report::{Call, Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    [
        boolean(d),
        value_matters(d),
        both_sides(d),
        why_zero_looked_same(d),
        share(d),
        first_fin(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What SO_REUSEADDR on TCP read back after setting `v`: a number, or a label.
fn read(d: &Data, v: i32) -> Option<Text> {
    let r = d
        .readback
        .iter()
        .find(|r| r.option == "SO_REUSEADDR" && r.tcp && r.value == v)?;
    Some(match &r.read {
        Some(Ok(n)) => Text::same(n.to_string()),
        Some(Err(e)) => Text::same(e.name()),
        None => t!(S, "cell.not_reached"),
    })
}

fn read_is(d: &Data, v: i32, want: i32) -> Option<bool> {
    let r = d
        .readback
        .iter()
        .find(|r| r.option == "SO_REUSEADDR" && r.tcp && r.value == v)?;
    Some(matches!(r.read, Some(Ok(n)) if n == want))
}

fn boolean(d: &Data) -> Option<Finding> {
    let (r0, r1) = (read_is(d, 0, 0)?, read_is(d, 1, 1)?);
    // A value not in --values is not evidence against.
    let on = |v| read_is(d, v, 1).unwrap_or(true);
    let verdict = if r0 && r1 && on(50) && on(-1) {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let na = || t!(S, "cell.not_tried");
    let evidence = t!(
        S,
        "finding.boolean.evidence",
        r50 = read(d, 50).unwrap_or_else(na),
        rneg = read(d, -1).unwrap_or_else(na),
        r1 = read(d, 1).unwrap_or_else(na),
        r0 = read(d, 0).unwrap_or_else(na)
    );
    Some(Finding::new(
        "boolean",
        t!(S, "finding.boolean.claim"),
        verdict,
        evidence,
    ))
}

fn wire<'a>(d: &'a Data, scenario: &str) -> Option<&'a Wire> {
    d.wire.as_ref().ok()?.iter().find(|w| w.scenario == scenario)
}

/// Who sent the first FIN (from the packets), and when.
fn fin_by(w: &Wire) -> (Option<Dir>, Text, Text) {
    match w.first_fin() {
        Some(p) => (
            Some(p.dir),
            t!(
                S,
                match p.dir {
                    Dir::ServerToClient => "role.server",
                    Dir::ClientToServer => "role.client",
                }
            ),
            Text::same(format!("{:.3}", p.t_ms)),
        ),
        None => (None, t!(S, "role.nobody"), Text::same("–")),
    }
}

/// From the packets: the side that sent the first FIN is the side whose port holds TIME-WAIT.
fn first_fin(d: &Data) -> Option<Finding> {
    let w = wire(d, "restart_0_0")?;
    let r = d.restarts.iter().find(|r| r.old == 0 && r.new == 0)?;
    let tw_server = r
        .time_wait
        .as_ref()
        .is_some_and(|t| t.local.port() == w.server_port);
    let (who, who_t, t) = fin_by(w);
    let cc = wire(d, "client_closes_first");
    let cc_run = scenario(d, Scenario::ClientClosesFirst);
    let (who2, who2_t, t2) = cc
        .map(fin_by)
        .unwrap_or((None, t!(S, "role.nobody"), Text::same("–")));
    let tw2 = cc_run.and_then(|r| r.time_wait.as_ref()).is_some();
    let tw_text = |on: bool| t!(S, if on { "cell.present" } else { "cell.none" });
    let mut ok = who == Some(Dir::ServerToClient) && tw_server;
    if cc.is_some() {
        ok &= who2 == Some(Dir::ClientToServer) && !tw2;
    }
    let verdict = if ok { Verdict::Confirmed } else { Verdict::Refuted };
    let evidence = t!(
        S,
        "finding.first_fin.evidence",
        who = who_t,
        t = t,
        port = w.server_port,
        tw = tw_text(tw_server),
        who2 = who2_t,
        t2 = t2,
        tw2 = tw_text(tw2)
    );
    Some(Finding::new(
        "first_fin",
        t!(S, "finding.first_fin.claim"),
        verdict,
        evidence,
    ))
}

fn bind(d: &Data, old: i32, new: i32) -> Option<&Call> {
    d.restarts
        .iter()
        .find(|r| r.old == old && r.new == new)
        .map(|r| &r.bind)
}

fn value_matters(d: &Data) -> Option<Finding> {
    let (b00, b11, b150) = (bind(d, 0, 0)?, bind(d, 1, 1)?, bind(d, 1, 50)?);
    let left = d
        .restarts
        .iter()
        .find(|r| r.old == 0 && r.new == 0)?
        .time_wait
        .as_ref();
    let left = left.map(|t| t.left_ms.to_string()).unwrap_or_else(|| "-".into());
    let verdict = if !b00.is_ok() && b11.is_ok() {
        Verdict::Refuted
    } else {
        Verdict::Depends
    };
    let evidence = t!(
        S,
        "finding.value_matters.evidence",
        left = left,
        b00 = b00,
        b11 = b11,
        b150 = b150
    );
    Some(Finding::new(
        "value_matters",
        t!(S, "finding.value_matters.claim"),
        verdict,
        evidence,
    ))
}

fn both_sides(d: &Data) -> Option<Finding> {
    let (b10, b01, b11) = (bind(d, 1, 0)?, bind(d, 0, 1)?, bind(d, 1, 1)?);
    let verdict = if b11.is_ok() && !b10.is_ok() && !b01.is_ok() {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(S, "finding.both_sides.evidence", b10 = b10, b01 = b01, b11 = b11);
    Some(Finding::new(
        "both_sides",
        t!(S, "finding.both_sides.claim"),
        verdict,
        evidence,
    ))
}

fn scenario(d: &Data, s: Scenario) -> Option<&ScenarioRun> {
    d.scenarios.iter().find(|r| r.scenario == s)
}

fn why_zero_looked_same(d: &Data) -> Option<Finding> {
    let never = &scenario(d, Scenario::NeverConnected)?.bind;
    let client_first = &scenario(d, Scenario::ClientClosesFirst)?.bind;
    let verdict = if never.is_ok() && client_first.is_ok() {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(
        S,
        "finding.zero_looked_same.evidence",
        never = never,
        client_first = client_first
    );
    Some(Finding::new(
        "zero_looked_same",
        t!(S, "finding.zero_looked_same.claim"),
        verdict,
        evidence,
    ))
}

fn share(d: &Data) -> Option<Finding> {
    let live = &scenario(d, Scenario::LiveListener)?.bind;
    let verdict = if live.is_ok() {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let share = scenario(d, Scenario::ReuseportShare)
        .map(super::tables::detail)
        .unwrap_or_default();
    let evidence = t!(S, "finding.share.evidence", live = live, share = share);
    Some(Finding::new(
        "share",
        t!(S, "finding.share.claim"),
        verdict,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::measure::{Readback, Restart, TimeWait, OLD_NEW};
    use super::*;
    use crate::labs::wire::{Cause, Packet};
    use crate::report::Unmeasured;

    fn err() -> Call {
        Call::Err("EADDRINUSE".into())
    }

    /// Data as this kernel gives it: a yes/no flag, both sides needed, TIME-WAIT on the server.
    fn linux() -> Data {
        let readback = [0, 1, 50, -1]
            .iter()
            .map(|&v| Readback {
                option: "SO_REUSEADDR".into(),
                tcp: true,
                value: v,
                set: Call::Ok,
                read: Some(Ok((v != 0) as i32)),
            })
            .collect();
        let tw = TimeWait {
            local: "127.0.0.1:1".parse().unwrap(),
            remote: "127.0.0.1:2".parse().unwrap(),
            left_ms: 59_000,
        };
        let mut restarts = Vec::new();
        for old in OLD_NEW {
            for new in OLD_NEW {
                let ok = old != 0 && new != 0;
                let bind = if ok { Call::Ok } else { err() };
                restarts.push(Restart {
                    old,
                    new,
                    time_wait: Some(tw.clone()),
                    bind,
                    listen: ok.then_some(Call::Ok),
                });
            }
        }
        let run = |scenario, bind: Call| ScenarioRun {
            scenario,
            time_wait: None,
            bind,
            listen: None,
            first_listen: None,
            split: None,
        };
        let scenarios = vec![
            run(Scenario::ClientClosesFirst, Call::Ok),
            run(Scenario::LiveListener, err()),
            run(Scenario::NeverConnected, Call::Ok),
            ScenarioRun {
                split: Some((9, 11)),
                listen: Some(Call::Ok),
                ..run(Scenario::ReuseportShare, Call::Ok)
            },
        ];
        Data {
            readback,
            restarts,
            scenarios,
            isolated: true,
            wire: Ok(vec![
                wire(
                    "restart_0_0",
                    &[(Dir::ServerToClient, "FIN,ACK"), (Dir::ClientToServer, "FIN,ACK")],
                ),
                wire(
                    "client_closes_first",
                    &[(Dir::ClientToServer, "FIN,ACK"), (Dir::ServerToClient, "FIN,ACK")],
                ),
            ]),
        }
    }

    /// A hand-built wire: the handshake, then the given packets.
    fn wire(scenario: &str, rest: &[(Dir, &str)]) -> Wire {
        let p = |dir, flags: &str, t_ms| Packet::bare(t_ms, dir, flags, Cause::Kernel);
        let mut packets = vec![
            p(Dir::ClientToServer, "SYN", 0.0),
            p(Dir::ServerToClient, "SYN,ACK", 0.01),
            p(Dir::ClientToServer, "ACK", 0.02),
        ];
        for (i, (dir, flags)) in rest.iter().enumerate() {
            packets.push(p(*dir, flags, 0.05 + i as f64 / 100.0));
        }
        Wire::of(scenario, 1, packets)
    }

    #[test]
    fn first_fin_is_confirmed_by_the_servers_fin_and_time_wait_on_its_port() {
        let mut d = linux();
        assert_eq!(verdict(&d, "first_fin"), Verdict::Confirmed);
        let f = findings(&d).into_iter().find(|f| f.id == "first_fin").unwrap();
        assert!(
            f.evidence
                .contains("the server sent the first FIN at t = 0.050 ms"),
            "{}",
            f.evidence
        );
        // The client's FIN first in the 0/0 restart: refuted.
        if let Ok(w) = &mut d.wire {
            w[0] = wire(
                "restart_0_0",
                &[(Dir::ClientToServer, "FIN,ACK"), (Dir::ServerToClient, "FIN,ACK")],
            );
        }
        assert_eq!(verdict(&d, "first_fin"), Verdict::Refuted);
        // TIME-WAIT not on the server's port: refuted.
        let mut d = linux();
        d.restarts[0].time_wait = None;
        assert_eq!(verdict(&d, "first_fin"), Verdict::Refuted);
        // No capture (--no-sandbox): no finding.
        let mut d = linux();
        d.wire = Err(Unmeasured::NoSandbox);
        assert!(findings(&d).iter().all(|f| f.id != "first_fin"));
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        findings(d).into_iter().find(|f| f.id == id).unwrap().verdict
    }

    #[test]
    fn boolean_is_confirmed_when_non_zero_reads_back_1_and_refuted_otherwise() {
        let mut d = linux();
        assert_eq!(verdict(&d, "boolean"), Verdict::Confirmed);
        d.readback[2].read = Some(Ok(50));
        assert_eq!(verdict(&d, "boolean"), Verdict::Refuted);
    }

    #[test]
    fn value_matters_is_refuted_by_a_failed_0_0_restart_and_depends_otherwise() {
        let mut d = linux();
        assert_eq!(verdict(&d, "value_matters"), Verdict::Refuted);
        d.restarts[0].bind = Call::Ok;
        assert_eq!(verdict(&d, "value_matters"), Verdict::Depends);
    }

    #[test]
    fn both_sides_needs_1_0_and_0_1_to_fail() {
        let mut d = linux();
        assert_eq!(verdict(&d, "both_sides"), Verdict::Confirmed);
        let i = d.restarts.iter().position(|r| r.old == 1 && r.new == 0).unwrap();
        d.restarts[i].bind = Call::Ok;
        assert_eq!(verdict(&d, "both_sides"), Verdict::Refuted);
    }

    #[test]
    fn zero_looked_same_needs_both_free_ports() {
        let mut d = linux();
        assert_eq!(verdict(&d, "zero_looked_same"), Verdict::Confirmed);
        d.scenarios[2].bind = err();
        assert_eq!(verdict(&d, "zero_looked_same"), Verdict::Refuted);
    }

    #[test]
    fn share_is_refuted_by_a_refused_bind_beside_a_live_listener() {
        let mut d = linux();
        assert_eq!(verdict(&d, "share"), Verdict::Refuted);
        d.scenarios[1].bind = Call::Ok;
        assert_eq!(verdict(&d, "share"), Verdict::Confirmed);
    }

    #[test]
    fn evidence_quotes_the_measurement_in_both_languages() {
        let f = findings(&linux());
        let v = f.iter().find(|f| f.id == "value_matters").unwrap();
        assert!(
            v.evidence.contains("59000") && v.evidence.contains("EADDRINUSE"),
            "{}",
            v.evidence
        );
        assert!(v.zh.as_ref().unwrap().evidence.contains("59000"));
        let s = f.iter().find(|f| f.id == "share").unwrap();
        assert!(s.evidence.contains("9 / 11"), "{}", s.evidence);
    }
}
