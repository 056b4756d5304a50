//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::designs::Design;
use super::measure::{Answer, Case, Data, ModeRun, Py3, ServerDid, ServerMode};
use super::tables::{case_wire, escape};
use super::STRINGS as S;
use crate::labs::wire::{Dir, Packet};
use crate::report::{Finding, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    [
        counts_characters(d),
        crlf_same(d),
        invalid_utf8_survives(d),
        one_at_a_time(d),
        idle_blocks_iterative(d),
        threads_hold_idle(d),
        event_holds_all(d),
        server_closes_first(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn answer(d: &Data, c: Case) -> Option<&Answer> {
    d.answers.iter().find(|a| a.case == c)
}

fn num(v: Option<usize>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

/// The server's reply as the table shows it.
fn reply(a: &Answer) -> String {
    escape(a.reply.as_bytes(), 70)
}

fn counts_characters(d: &Data) -> Option<Finding> {
    let zh = answer(d, Case::Chinese)?;
    let chars = zh.counted.and_then(|c| c.chars);
    let verdict = if chars == Some(2) && zh.py2 == Some(6) {
        Verdict::Refuted
    } else {
        Verdict::Depends
    };
    let evidence = t!(
        S,
        "finding.counts_characters.evidence",
        chars = num(chars),
        bytes = num(zh.counted.map(|c| c.bytes)),
        py2 = num(zh.py2)
    );
    Some(Finding::new(
        "counts_characters",
        t!(S, "finding.counts_characters.claim"),
        verdict,
        evidence,
    ))
}

fn crlf_same(d: &Data) -> Option<Finding> {
    let (lf, crlf) = (answer(d, Case::AsciiLf)?, answer(d, Case::AsciiCrlf)?);
    let five = lf.counted.is_some_and(|c| c.chars == Some(5) && c.bytes == 5);
    let verdict = if five && lf.reply == crlf.reply && lf.counted == crlf.counted {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(
        S,
        "finding.crlf_same.evidence",
        lf = reply(lf),
        crlf = reply(crlf)
    );
    Some(Finding::new(
        "crlf_same",
        t!(S, "finding.crlf_same.claim"),
        verdict,
        evidence,
    ))
}

fn invalid_utf8_survives(d: &Data) -> Option<Finding> {
    let (bad, next) = (answer(d, Case::InvalidUtf8)?, answer(d, Case::Empty)?);
    let answered = |a: &Answer| a.server == Some(ServerDid::Answered);
    let counted_as_bytes = bad.counted.is_some_and(|c| c.chars.is_none());
    let next_counted = next.counted.is_some_and(|c| c.chars == Some(0));
    let verdict = if answered(bad) && counted_as_bytes && answered(next) && next_counted {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let py3 = match bad.py3 {
        Some(Py3::UnicodeDecodeError) => "UnicodeDecodeError".to_string(),
        Some(Py3::Count(n)) => n.to_string(),
        None => "-".into(),
    };
    let evidence = t!(
        S,
        "finding.invalid_utf8.evidence",
        bad = reply(bad),
        next = reply(next),
        py3 = py3
    );
    Some(Finding::new(
        "invalid_utf8",
        t!(S, "finding.invalid_utf8.claim"),
        verdict,
        evidence,
    ))
}

/// From the packets of the book's exchange (`hello\n`): the line, the answer, and the
/// first FIN, the server's, after its answer.
fn server_closes_first(d: &Data) -> Option<Finding> {
    let w = case_wire(d, Case::AsciiLf)?;
    let data_from = |dir: Dir, after: f64| {
        w.packets
            .iter()
            .find(|p| p.dir == dir && p.len > 0 && p.t_ms >= after)
    };
    // The server speaks first (greeting and prompt): the line is the client's first data.
    let line = data_from(Dir::ClientToServer, 0.0);
    let answer = line.and_then(|l| data_from(Dir::ServerToClient, l.t_ms));
    let fin_of = |dir: Dir| {
        w.packets
            .iter()
            .find(|p| p.dir == dir && crate::labs::wire::flag_bits(&p.flags) & crate::labs::wire::FIN != 0)
    };
    let first = w.first_fin();
    let ok = match (first, answer) {
        (Some(f), Some(a)) => f.dir == Dir::ServerToClient && f.t_ms >= a.t_ms,
        _ => false,
    };
    let verdict = if ok { Verdict::Confirmed } else { Verdict::Refuted };
    let at = |p: Option<&Packet>| p.map_or("–".to_string(), |p| format!("{:.3}", p.t_ms));
    let data = |p: Option<&Packet>| p.map_or("–".to_string(), |p| p.preview.clone());
    let who = match first.map(|p| p.dir) {
        Some(Dir::ServerToClient) => t!(S, "role.server"),
        Some(Dir::ClientToServer) => t!(S, "role.client"),
        None => t!(S, "role.nobody"),
    };
    let evidence = t!(
        S,
        "finding.server_closes_first.evidence",
        line = data(line),
        t_line = at(line),
        answer = data(answer),
        t_answer = at(answer),
        who = who,
        t_fin = at(first),
        t_client_fin = at(fin_of(Dir::ClientToServer))
    );
    Some(Finding::new(
        "server_closes_first",
        t!(S, "finding.server_closes_first.claim"),
        verdict,
        evidence,
    ))
}

fn run(d: &Data, m: ServerMode) -> Option<&ModeRun> {
    d.modes.iter().find(|r| r.mode == m)
}

fn show(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{}", (v * 10.0).round() / 10.0))
}

fn one_at_a_time(d: &Data) -> Option<Finding> {
    let (it, co) = (run(d, ServerMode::Iterative)?, run(d, ServerMode::Event)?);
    let idle = it.idle_ms as f64;
    let verdict = match (it.after_silent_ms, co.after_silent_ms) {
        (Some(i), Some(c)) if i >= idle * 0.9 && c < idle / 2.0 => Verdict::Confirmed,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::Depends,
    };
    let evidence = t!(
        S,
        "finding.one_at_a_time.evidence",
        idle = it.idle_ms,
        n = it.clients.saturating_sub(1),
        it = show(it.max_wait_ms()),
        it_med = show(it.median_wait_ms()),
        co = show(co.max_wait_ms()),
        co_med = show(co.median_wait_ms()),
        it_next = show(it.after_silent_ms),
        co_next = show(co.after_silent_ms)
    );
    Some(Finding::new(
        "one_at_a_time",
        t!(S, "finding.one_at_a_time.claim"),
        verdict,
        evidence,
    ))
}

fn design(d: &Data, m: ServerMode) -> Option<&Design> {
    d.designs.runs.as_ref().ok()?.iter().find(|r| r.mode == m)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The event loop answered every well-behaved client: the mix itself was answerable here.
fn all_answered(r: &Design, clients: usize) -> bool {
    r.outcome.answered == clients && r.unanswered() == 0
}

fn idle_blocks_iterative(d: &Data) -> Option<Finding> {
    let (it, ev) = (design(d, ServerMode::Iterative)?, design(d, ServerMode::Event)?);
    let n = d.designs.mix.clients;
    let verdict = if it.unanswered() == 0 {
        Verdict::Refuted
    } else if it.unanswered() * 2 >= n && all_answered(ev, n) {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let o = &it.outcome;
    let evidence = t!(
        S,
        "finding.idle_blocks_iterative.evidence",
        idle = d.designs.mix.idle,
        answered = o.answered,
        clients = n,
        lost = o.lost + o.wrong,
        not_started = o.not_started,
        budget = d.designs.mix.budget_ms,
        ev = ev.outcome.answered
    );
    Some(Finding::new(
        "idle_blocks_iterative",
        t!(S, "finding.idle_blocks_iterative.claim"),
        verdict,
        evidence,
    ))
}

fn threads_hold_idle(d: &Data) -> Option<Finding> {
    let th = design(d, ServerMode::Threaded)?;
    let (n, idle) = (d.designs.mix.clients, d.designs.mix.idle);
    let held = th.held();
    let verdict = match held {
        _ if all_answered(th, n) => Verdict::Refuted,
        Some(h) if h > th.cap => Verdict::Refuted,
        Some(_) if idle > th.cap && th.unanswered() * 2 >= n => Verdict::Confirmed,
        _ => Verdict::Depends,
    };
    let o = &th.outcome;
    let evidence = t!(
        S,
        "finding.threads_hold_idle.evidence",
        cap = th.cap,
        idle = idle,
        held = opt(held),
        threads = opt(o.peak_threads),
        answered = o.answered,
        clients = n,
        lost = o.lost + o.wrong,
        not_started = o.not_started
    );
    Some(Finding::new(
        "threads_hold_idle",
        t!(S, "finding.threads_hold_idle.claim"),
        verdict,
        evidence,
    ))
}

fn event_holds_all(d: &Data) -> Option<Finding> {
    let ev = design(d, ServerMode::Event)?;
    let (n, idle) = (d.designs.mix.clients, d.designs.mix.idle);
    let o = &ev.outcome;
    let verdict = if o.lost + o.wrong > 0 || o.peak_threads.is_some_and(|t| t > 1) {
        Verdict::Refuted
    } else if all_answered(ev, n) && ev.held().is_some_and(|h| h >= idle) && o.peak_threads == Some(1) {
        Verdict::Confirmed
    } else {
        // Clients never started (the budget ran out on a busy machine), or /proc unread.
        Verdict::Depends
    };
    let evidence = t!(
        S,
        "finding.event_holds_all.evidence",
        idle = idle,
        held = opt(ev.held()),
        threads = opt(o.peak_threads),
        answered = o.answered,
        clients = n,
        median = show(o.median_ms),
        p99 = show(o.p99_ms),
        rss = opt(o.peak_rss_kib.map(super::tables::mib))
    );
    Some(Finding::new(
        "event_holds_all",
        t!(S, "finding.event_holds_all.claim"),
        verdict,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::designs::{Designs, SPEC};
    use super::super::measure::{Counted, Silent, Totals, MAX_LINE};
    use super::*;
    use crate::line::hostile::Outcome;
    use crate::report::Call;

    fn ans(case: Case, reply: &str, counted: Option<Counted>, server: ServerDid) -> Answer {
        let payload = case.payload(MAX_LINE);
        Answer {
            case,
            sent: payload.len(),
            reply: reply.into(),
            end: Call::Ok,
            counted,
            py2: Some(crate::line::count::python2_count(&payload)),
            py3: Some(match crate::line::count::python3_count(&payload) {
                Ok(n) => Py3::Count(n),
                Err(_) => Py3::UnicodeDecodeError,
            }),
            server: Some(server),
        }
    }

    fn c(bytes: usize, chars: Option<usize>) -> Option<Counted> {
        Some(Counted { bytes, chars })
    }

    fn mode(mode: ServerMode, wait: f64, next: f64) -> ModeRun {
        ModeRun {
            mode,
            clients: 20,
            idle_ms: 1000,
            correct: 19,
            waits_ms: vec![wait; 19],
            after_silent_ms: Some(next),
            silent: Silent {
                reply: "No input for 1 s. Closing.".into(),
                after_ms: 1001,
                end: Call::Ok,
            },
            totals: Totals {
                clients: 20,
                answered: 19,
                errors: vec![(ServerDid::IdleTimeout, 1)],
            },
        }
    }

    /// Data as this server gives it.
    fn book() -> Data {
        let five = "You entered 5 characters.\n";
        let ok = ServerDid::Answered;
        Data {
            max_line: MAX_LINE,
            greeting: "welcome, ('127.0.0.1', 1)\nPlease enter a string:".into(),
            answers: vec![
                ans(Case::AsciiLf, five, c(5, Some(5)), ok.clone()),
                ans(Case::AsciiCrlf, five, c(5, Some(5)), ok.clone()),
                ans(
                    Case::Chinese,
                    "You entered 2 characters (6 bytes in UTF-8).\n",
                    c(6, Some(2)),
                    ok.clone(),
                ),
                ans(
                    Case::InvalidUtf8,
                    "You entered 5 bytes (not valid UTF-8, so counted as bytes).\n",
                    c(5, None),
                    ok.clone(),
                ),
                ans(Case::Empty, "You entered 0 characters.\n", c(0, Some(0)), ok),
            ],
            modes: vec![
                mode(ServerMode::Iterative, 1001.2, 1001.7),
                mode(ServerMode::Event, 1.0, 0.9),
            ],
            designs: designs(),
            wire: Err(crate::report::Unmeasured::TurnedOff {
                by: "--no-capture".into(),
            }),
        }
    }

    /// The packets of the first two clients (`hello\n` and `hello\r\n`), the first one's
    /// FINs in the order given.
    fn exchange(server_first: bool) -> crate::labs::wire::Wire {
        use crate::labs::wire::{Cause, Dir::*, Packet, Wire};
        let mut packets = Vec::new();
        for flow in [1, 2] {
            let t0 = (flow - 1) as f64 * 10.0;
            let p = |t: f64, dir, flags: &str, cause, data: &str| {
                let mut p = Packet::bare(t0 + t, dir, flags, cause);
                p.flow = flow;
                p.len = data.len() as u32;
                p.preview = data.into();
                p
            };
            packets.extend([
                p(0.0, ClientToServer, "SYN", Cause::Connect, ""),
                p(0.01, ServerToClient, "SYN,ACK", Cause::Listen, ""),
                p(0.02, ClientToServer, "ACK", Cause::Connect, ""),
                p(0.1, ServerToClient, "PSH,ACK", Cause::Send, "welcome"),
                p(0.2, ClientToServer, "PSH,ACK", Cause::Send, "hello\\n"),
                p(
                    0.3,
                    ServerToClient,
                    "PSH,ACK",
                    Cause::Send,
                    "You entered 5 characters",
                ),
            ]);
            let (first, second) = if server_first || flow == 2 {
                (ServerToClient, ClientToServer)
            } else {
                (ClientToServer, ServerToClient)
            };
            packets.push(p(0.31, first, "FIN,ACK", Cause::Close, ""));
            packets.push(p(0.4, second, "FIN,ACK", Cause::Close, ""));
        }
        Wire::of("answers", 40000, packets)
    }

    #[test]
    fn server_closes_first_gives_each_verdict() {
        let mut d = book();
        assert!(findings(&d).iter().all(|f| f.id != "server_closes_first"));
        d.wire = Ok(vec![exchange(true)]);
        let f = findings(&d)
            .into_iter()
            .find(|f| f.id == "server_closes_first")
            .unwrap();
        assert_eq!(f.verdict, Verdict::Confirmed);
        assert!(
            f.evidence.contains("`hello\\n` at t = 0.200 ms"),
            "{}",
            f.evidence
        );
        assert!(f.evidence.contains("the server's at 0.310 ms"), "{}", f.evidence);
        // The second flow starts at 10 ms: the finding reads the first client's alone.
        d.wire = Ok(vec![exchange(false)]);
        assert_eq!(verdict(&d, "server_closes_first"), Verdict::Refuted);
    }

    fn outcome(answered: usize, lost: usize, threads: usize, peak_fds: usize) -> Outcome {
        Outcome {
            attempted: answered + lost,
            answered,
            lost,
            not_started: 300 - answered - lost,
            median_ms: Some(0.4),
            p99_ms: Some(2.1),
            peak_rss_kib: Some(2560),
            peak_threads: Some(threads),
            peak_fds: Some(peak_fds),
            fds_before: Some(5),
            fds_after: Some(5),
            ..Outcome::default()
        }
    }

    /// The three designs as they behave under the mix: 300 clients, 12 idle, 8 threads.
    fn designs() -> Designs {
        let run = |mode, cap, outcome| Design { mode, cap, outcome };
        Designs {
            mix: SPEC,
            runs: Ok(vec![
                run(ServerMode::Iterative, 1, outcome(3, 20, 1, 6)),
                run(ServerMode::Threaded, 8, outcome(30, 40, 9, 13)),
                run(ServerMode::Event, 16_384, outcome(300, 0, 1, 37)),
            ]),
        }
    }

    fn set_design(d: &mut Data, m: ServerMode, f: impl FnOnce(&mut Design)) {
        let runs = d.designs.runs.as_mut().unwrap();
        f(runs.iter_mut().find(|r| r.mode == m).unwrap())
    }

    #[test]
    fn idle_blocks_iterative_gives_each_verdict() {
        let mut d = book();
        assert_eq!(verdict(&d, "idle_blocks_iterative"), Verdict::Confirmed);
        // The event loop lost clients too: the machine, not the design, may be at fault.
        set_design(&mut d, ServerMode::Event, |r| r.outcome = outcome(290, 10, 1, 37));
        assert_eq!(verdict(&d, "idle_blocks_iterative"), Verdict::Depends);
        set_design(&mut d, ServerMode::Iterative, |r| {
            r.outcome = outcome(300, 0, 1, 6)
        });
        assert_eq!(verdict(&d, "idle_blocks_iterative"), Verdict::Refuted);
    }

    #[test]
    fn threads_hold_idle_gives_each_verdict() {
        let mut d = book();
        assert_eq!(verdict(&d, "threads_hold_idle"), Verdict::Confirmed);
        // As many threads as idle clients: the mix does not test the cap.
        set_design(&mut d, ServerMode::Threaded, |r| r.cap = 12);
        assert_eq!(verdict(&d, "threads_hold_idle"), Verdict::Depends);
        set_design(&mut d, ServerMode::Threaded, |r| {
            r.cap = 8;
            r.outcome = outcome(300, 0, 9, 25);
        });
        assert_eq!(verdict(&d, "threads_hold_idle"), Verdict::Refuted);
        // More connections held than threads would refute it too.
        set_design(&mut d, ServerMode::Threaded, |r| {
            r.outcome = outcome(30, 40, 9, 20)
        });
        assert_eq!(verdict(&d, "threads_hold_idle"), Verdict::Refuted);
    }

    #[test]
    fn event_holds_all_gives_each_verdict() {
        let mut d = book();
        assert_eq!(verdict(&d, "event_holds_all"), Verdict::Confirmed);
        set_design(&mut d, ServerMode::Event, |r| r.outcome.not_started = 5);
        assert_eq!(verdict(&d, "event_holds_all"), Verdict::Depends);
        set_design(&mut d, ServerMode::Event, |r| r.outcome = outcome(299, 1, 1, 37));
        assert_eq!(verdict(&d, "event_holds_all"), Verdict::Refuted);
    }

    #[test]
    fn unmeasured_designs_leave_their_findings_out() {
        let mut d = book();
        d.designs.runs = Err(crate::report::Unmeasured::NoSandbox);
        let ids: Vec<_> = findings(&d).into_iter().map(|f| f.id).collect();
        assert_eq!(ids.len(), 4, "{ids:?}");
    }

    #[test]
    fn design_evidence_quotes_the_figures_in_both_languages() {
        let f = findings(&book());
        let th = f.iter().find(|f| f.id == "threads_hold_idle").unwrap();
        assert!(
            th.evidence.contains("--max-concurrent 8") && th.evidence.contains("12 idle"),
            "{}",
            th.evidence
        );
        assert!(th.zh.as_ref().unwrap().evidence.contains("12"));
        let ev = f.iter().find(|f| f.id == "event_holds_all").unwrap();
        assert!(ev.evidence.contains("300 of 300"), "{}", ev.evidence);
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        findings(d).into_iter().find(|f| f.id == id).unwrap().verdict
    }

    fn set(d: &mut Data, case: Case, f: impl FnOnce(&mut Answer)) {
        f(d.answers.iter_mut().find(|a| a.case == case).unwrap())
    }

    #[test]
    fn counts_characters_is_refuted_by_2_characters_in_6_bytes() {
        let mut d = book();
        assert_eq!(verdict(&d, "counts_characters"), Verdict::Refuted);
        set(&mut d, Case::Chinese, |a| a.py2 = Some(2));
        assert_eq!(verdict(&d, "counts_characters"), Verdict::Depends);
    }

    #[test]
    fn crlf_same_needs_the_same_count_of_5() {
        let mut d = book();
        assert_eq!(verdict(&d, "crlf_same"), Verdict::Confirmed);
        set(&mut d, Case::AsciiCrlf, |a| {
            a.counted = c(6, Some(6));
            a.reply = "You entered 6 characters.\n".into();
        });
        assert_eq!(verdict(&d, "crlf_same"), Verdict::Refuted);
    }

    #[test]
    fn invalid_utf8_is_refuted_when_the_next_client_is_not_served() {
        let mut d = book();
        assert_eq!(verdict(&d, "invalid_utf8"), Verdict::Confirmed);
        set(&mut d, Case::Empty, |a| {
            a.server = Some(ServerDid::Other("ECONNREFUSED".into()));
            a.counted = None;
        });
        assert_eq!(verdict(&d, "invalid_utf8"), Verdict::Refuted);
    }

    #[test]
    fn one_at_a_time_gives_each_verdict() {
        let mut d = book();
        assert_eq!(verdict(&d, "one_at_a_time"), Verdict::Confirmed);
        d.modes[0].after_silent_ms = Some(3.0);
        assert_eq!(verdict(&d, "one_at_a_time"), Verdict::Refuted);
        d.modes[0].after_silent_ms = None;
        assert_eq!(verdict(&d, "one_at_a_time"), Verdict::Depends);
    }

    #[test]
    fn a_missing_case_leaves_its_finding_out() {
        let mut d = book();
        d.answers.retain(|a| a.case != Case::Chinese);
        assert!(findings(&d).iter().all(|f| f.id != "counts_characters"));
        assert_eq!(findings(&d).len(), 6);
    }

    #[test]
    fn evidence_quotes_the_measurement_in_both_languages() {
        let f = findings(&book());
        let one = f.iter().find(|f| f.id == "one_at_a_time").unwrap();
        assert!(
            one.evidence.contains("1001.7") && one.evidence.contains("19 clients"),
            "{}",
            one.evidence
        );
        assert!(one.zh.as_ref().unwrap().evidence.contains("1001.7"));
        let zh = f.iter().find(|f| f.id == "counts_characters").unwrap();
        assert!(zh.evidence.contains("2 characters in 6 bytes"), "{}", zh.evidence);
    }
}
