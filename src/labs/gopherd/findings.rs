//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::measure::{Body, Compare, Data, Request, SendMethod, Target};
use super::tables::{compare, method, parallel_answer};
use super::STRINGS as S;
use crate::report::{Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    vec![
        client_needs_nothing_more(d),
        dot_line(d),
        sendfile(d),
        no_escape(d),
        limits(d),
    ]
    .into_iter()
    .chain(server_closes_first(d))
    .collect()
}

/// From the packets of the "files" server: in every connection the server sent the first
/// FIN, after its answer; that close is the only end mark the book's client knows.
fn server_closes_first(d: &Data) -> Option<Finding> {
    use crate::labs::wire::{Dir, FIN};
    let w = d.wire.as_ref().ok()?.iter().find(|w| w.scenario == "files")?;
    let flows = w.flows.len() as u32;
    let mut server_first = 0;
    let mut after_answer = 0;
    for flow in 1..=flows {
        let mine = || w.packets.iter().filter(move |p| p.flow == flow);
        let fin = mine().find(|p| crate::labs::wire::flag_bits(&p.flags) & FIN != 0);
        let last_data = mine()
            .filter(|p| p.dir == Dir::ServerToClient && p.len > 0)
            .map(|p| p.t_ms)
            .next_back();
        if let Some(f) = fin.filter(|f| f.dir == Dir::ServerToClient) {
            server_first += 1;
            after_answer += last_data.is_some_and(|t| f.t_ms >= t) as u32;
        }
    }
    let verdict = if flows > 0 && server_first == flows && after_answer == flows {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(
        S,
        "finding.server_closes_first.evidence",
        flows = flows,
        server_first = server_first,
        after_answer = after_answer
    );
    Some(Finding::new(
        "server_closes_first",
        t!(S, "finding.server_closes_first.claim"),
        verdict,
        evidence,
    ))
}

fn request(d: &Data, t: Target) -> Option<&Request> {
    d.requests.iter().find(|r| r.target == t)
}

fn disk(d: &Data, t: Target) -> Option<Compare> {
    request(d, t)?.body.as_ref().ok().map(|b| b.disk)
}

fn sent(d: &Data, t: Target) -> Option<SendMethod> {
    request(d, t)?.log.as_ref().map(|l| l.method)
}

fn dash() -> Text {
    Text::same("-")
}

fn client_needs_nothing_more(d: &Data) -> Finding {
    // A request counts only if it positively worked: a menu that parsed, or a file that
    // matched the disk. A failed fetch counts as neither.
    let n = d.requests.len();
    let ok = |f: fn(&Body) -> bool| d.requests.iter().filter(|r| r.body.as_ref().is_ok_and(f)).count();
    let menus = ok(|b| b.items.is_some());
    let files = ok(|b| b.disk.matches());
    let verdict = if menus + files == n {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    Finding::new(
        "client_needs_nothing_more",
        t!(S, "finding.client_needs_nothing_more.claim"),
        verdict,
        t!(
            S,
            "finding.client_needs_nothing_more.evidence",
            n = n,
            menus = menus,
            files = files
        ),
    )
}

fn dot_line(d: &Data) -> Finding {
    let (hello, dots, bin) = (
        disk(d, Target::Hello),
        disk(d, Target::Dots),
        disk(d, Target::Binary),
    );
    let dotted = |c: Option<Compare>| c.is_some_and(Compare::has_dot_line);
    let verdict = if dotted(hello) && dotted(dots) && bin == Some(Compare::Identical) {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let show = |c: Option<Compare>| c.map(compare).unwrap_or_else(dash);
    Finding::new(
        "dot_line",
        t!(S, "finding.dot_line.claim"),
        verdict,
        t!(
            S,
            "finding.dot_line.evidence",
            hello = show(hello),
            dots = show(dots),
            bin = show(bin)
        ),
    )
}

fn sendfile(d: &Data) -> Finding {
    let (bin, hello, dots) = (
        sent(d, Target::Binary),
        sent(d, Target::Hello),
        sent(d, Target::Dots),
    );
    let by_sendfile = Some(SendMethod::Sendfile);
    let verdict = if bin == by_sendfile && hello == by_sendfile {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let show = |m: Option<SendMethod>| m.map(method).unwrap_or_else(dash);
    Finding::new(
        "sendfile",
        t!(S, "finding.sendfile.claim"),
        verdict,
        t!(
            S,
            "finding.sendfile.evidence",
            bin = show(bin),
            hello = show(hello),
            dots = show(dots)
        ),
    )
}

fn no_escape(d: &Data) -> Finding {
    let n = d.escapes.len();
    let refused = d.escapes.iter().filter(|e| Body::error_item(&e.body)).count();
    let leaked = d.escapes.iter().filter(|e| e.leaked).count();
    let verdict = if refused == n && leaked == 0 {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    Finding::new(
        "no_escape",
        t!(S, "finding.no_escape.claim"),
        verdict,
        t!(
            S,
            "finding.no_escape.evidence",
            refused = refused,
            n = n,
            leaked = leaked
        ),
    )
}

fn limits(d: &Data) -> Finding {
    let l = &d.limits;
    let errors = [&l.long, &l.silent, &l.busy]
        .iter()
        .filter(|r| Body::error_item(&r.body))
        .count();
    let verdict = if errors == 3 && l.parallel.same == l.parallel.clients {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    Finding::new(
        "limits",
        t!(S, "finding.limits.claim"),
        verdict,
        t!(
            S,
            "finding.limits.evidence",
            errors = errors,
            parallel = parallel_answer(l)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::measure::*;
    use super::*;
    use crate::report::Call;

    fn body(disk: Compare, items: Option<usize>, first: &str) -> Result<Body, Call> {
        Ok(Body {
            bytes: 10,
            first_line: first.into(),
            error_item: first.starts_with('3'),
            items,
            disk,
        })
    }

    fn log(kind: char, method: SendMethod, outcome: Outcome) -> Option<Log> {
        Some(Log {
            kind,
            method,
            outcome,
        })
    }

    fn refused(outcome: Outcome) -> Refused {
        Refused {
            body: body(Compare::NoFile, None, "3refused"),
            log: log('3', SendMethod::Write, outcome),
        }
    }

    /// Data as the lab's server gives it.
    fn served() -> Data {
        let requests = Target::ALL
            .iter()
            .map(|&target| {
                let (b, l) = match target.file() {
                    None => (
                        body(Compare::NoFile, Some(3), "0a  /a"),
                        log('1', SendMethod::Write, Outcome::Ok),
                    ),
                    Some("data.bin") => {
                        let m = if target == Target::BinaryCopy {
                            SendMethod::Copy
                        } else {
                            SendMethod::Sendfile
                        };
                        (body(Compare::Identical, None, ""), log('9', m, Outcome::Ok))
                    }
                    Some(_) => {
                        let (c, m) = if target == Target::Dots {
                            (Compare::PlusDotLineUnstuffed, SendMethod::Copy)
                        } else {
                            (Compare::PlusDotLine, SendMethod::Sendfile)
                        };
                        (body(c, None, "Hello"), log('0', m, Outcome::Ok))
                    }
                };
                Request {
                    target,
                    body: b,
                    log: l,
                }
            })
            .collect();
        let escapes = Attempt::ALL
            .iter()
            .map(|&attempt| Escape {
                attempt,
                body: body(Compare::NoFile, None, "3refused"),
                leaked: false,
                log: log('3', SendMethod::Write, Outcome::DotDot),
            })
            .collect();
        Data {
            requests,
            escapes,
            limits: Limits {
                max_selector: 1024,
                long_bytes: 1124,
                long: refused(Outcome::TooLong),
                read_timeout_ms: 300,
                silent: refused(Outcome::Timeout),
                parallel: Parallel {
                    clients: 8,
                    same: 8,
                    served_ok: 8,
                },
                busy_limit: 2,
                default_max_clients: 64,
                busy: refused(Outcome::Busy),
            },
            wire: Ok(vec![files(&[true, true])]),
        }
    }

    /// One connection per entry of `server_first`: a request, an answer, then the FINs.
    fn files(server_first: &[bool]) -> crate::labs::wire::Wire {
        use crate::labs::wire::{Cause, Dir::*, Packet, Wire};
        let mut packets = Vec::new();
        for (i, &first) in server_first.iter().enumerate() {
            let flow = i as u32 + 1;
            let p = |t: f64, dir, flags: &str, len: u32| {
                let mut p = Packet::bare(flow as f64 + t, dir, flags, Cause::Kernel);
                p.flow = flow;
                p.len = len;
                p
            };
            let (a, b) = if first {
                (ServerToClient, ClientToServer)
            } else {
                (ClientToServer, ServerToClient)
            };
            packets.extend([
                p(0.0, ClientToServer, "SYN", 0),
                p(0.01, ServerToClient, "SYN,ACK", 0),
                p(0.02, ClientToServer, "ACK", 0),
                p(0.03, ClientToServer, "PSH,ACK", 12),
                p(0.04, ServerToClient, "PSH,ACK", 300),
                p(0.05, a, "FIN,ACK", 0),
                p(0.06, b, "FIN,ACK", 0),
            ]);
        }
        Wire::of("files", 7070, packets)
    }

    #[test]
    fn server_closes_first_gives_each_verdict() {
        let mut d = served();
        assert_eq!(verdict(&d, "server_closes_first"), Verdict::Confirmed);
        d.wire = Ok(vec![files(&[true, false])]);
        assert_eq!(verdict(&d, "server_closes_first"), Verdict::Refuted);
        d.wire = Err(crate::report::Unmeasured::NoSandbox);
        assert!(findings(&d).iter().all(|f| f.id != "server_closes_first"));
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        findings(d).into_iter().find(|f| f.id == id).unwrap().verdict
    }

    fn at(d: &mut Data, t: Target) -> &mut Request {
        d.requests.iter_mut().find(|r| r.target == t).unwrap()
    }

    #[test]
    fn everything_is_confirmed_on_the_servers_data() {
        let d = served();
        assert!(
            findings(&d).iter().all(|f| f.verdict == Verdict::Confirmed),
            "{:#?}",
            findings(&d)
        );
    }

    #[test]
    fn a_failed_fetch_refutes_the_plain_client() {
        let mut d = served();
        at(&mut d, Target::Inner).body = Err(Call::Err("ECONNRESET".into()));
        assert_eq!(verdict(&d, "client_needs_nothing_more"), Verdict::Refuted);
    }

    #[test]
    fn a_text_file_without_its_dot_line_refutes_dot_line() {
        let mut d = served();
        at(&mut d, Target::Hello).body = body(Compare::Identical, None, "Hello");
        assert_eq!(verdict(&d, "dot_line"), Verdict::Refuted);
    }

    #[test]
    fn a_copied_binary_makes_sendfile_depend() {
        let mut d = served();
        at(&mut d, Target::Binary).log = log('9', SendMethod::Copy, Outcome::Ok);
        assert_eq!(verdict(&d, "sendfile"), Verdict::Depends);
    }

    #[test]
    fn one_leak_refutes_no_escape() {
        let mut d = served();
        d.escapes[5].leaked = true;
        assert_eq!(verdict(&d, "no_escape"), Verdict::Refuted);
        let mut d = served();
        d.escapes[0].body = Err(Call::Err("ECONNRESET".into()));
        assert_eq!(verdict(&d, "no_escape"), Verdict::Refuted);
    }

    #[test]
    fn a_dropped_client_or_a_short_file_refutes_limits() {
        let mut d = served();
        d.limits.busy.body = Err(Call::Err("ECONNRESET".into()));
        assert_eq!(verdict(&d, "limits"), Verdict::Refuted);
        let mut d = served();
        d.limits.parallel.same = 7;
        assert_eq!(verdict(&d, "limits"), Verdict::Refuted);
    }

    #[test]
    fn evidence_is_chinese_on_the_chinese_side() {
        let f = findings(&served());
        let dot = f.iter().find(|f| f.id == "dot_line").unwrap();
        assert_eq!(
            dot.evidence,
            "hello.txt: identical + final '.' line; dots.txt: identical + final '.' line, once doubled dots are undone; data.bin: identical"
        );
        let zh = &dot.zh.as_ref().unwrap().evidence;
        assert!(!zh.contains("identical"), "{zh}");
        let lim = f.iter().find(|f| f.id == "limits").unwrap();
        assert!(
            lim.evidence.ends_with("8 of 8 got the file byte for byte"),
            "{}",
            lim.evidence
        );
        assert!(!lim.zh.as_ref().unwrap().evidence.contains("got the file"));
    }
}
