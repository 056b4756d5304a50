//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::data::*;
use super::tables::{connected_by, counter, num, retry_schedule, syn_sysctls};
use super::STRINGS as S;
use crate::report::{Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(m) = &d.main {
        out.push(at_most_backlog(m));
        out.push(beyond_queue_refused(m));
        out.push(connected_means_queued(m, d.batches.as_deref().unwrap_or(&[])));
    }
    out.extend(d.sweep.as_ref().map(backlog_plus_one));
    out.extend(d.stores.as_ref().map(stores_given_number));
    out.extend(super::packets::findings(d));
    out
}

/// The learner's belief about listen(B), judged by the accept queue's peak.
fn at_most_backlog(m: &MainRun) -> Finding {
    let n = m.clients.len() as i64;
    let qmax = m.window.queue_max as i64;
    // A limit the socket table never showed leaves nothing to judge against.
    let limit = m.window.limit.map(i64::from).unwrap_or(-1);
    let conn = connected_by(m, m.window_ms);
    let over = counter(m, "TcpExtListenOverflows")
        .0
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".into());
    let all_fit = qmax >= n;
    let verdict = if all_fit || limit < 0 {
        Verdict::Depends
    } else if qmax == limit + 1 {
        Verdict::Refuted
    } else if qmax == limit {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let why = if all_fit {
        t!(S, "finding.at_most_backlog.all_fit", n = n)
    } else if qmax == limit + 1 {
        t!(S, "finding.at_most_backlog.plus_one")
    } else {
        t!(S, "finding.at_most_backlog.peak", qmax = qmax, limit = limit)
    };
    let b = m.backlog;
    Finding::new(
        "at_most_backlog",
        t!(S, "finding.at_most_backlog.claim", b = b),
        verdict,
        t!(
            S,
            "finding.at_most_backlog.evidence",
            n = n,
            limit = limit,
            qmax = qmax,
            conn = conn,
            why = why,
            over = over
        ),
    )
}

/// When the waiting clients retried their SYN: "1011.2 ms (gap 1011.0 ms), …".
fn schedule(m: &MainRun) -> Text {
    let parts: Vec<Text> = retry_schedule(&m.clients)
        .iter()
        .map(|r| {
            t!(
                S,
                "finding.beyond_queue_refused.retry",
                at = num(r.first_ms),
                gap = num(r.gap_ms)
            )
        })
        .collect();
    if parts.is_empty() {
        return t!(S, "finding.beyond_queue_refused.none_seen");
    }
    Text::join(&parts, ", ", "，")
}

/// Were the clients beyond the queue refused, or left waiting and retrying?
fn beyond_queue_refused(m: &MainRun) -> Finding {
    let at_end = |f: &dyn Fn(&WindowState) -> bool| m.clients.iter().filter(|c| f(&c.at_window_end)).count();
    let waiting = at_end(&|s| *s == WindowState::Waiting);
    let refused = at_end(&|s| matches!(s, WindowState::Failed(ClientError::Errno(e)) if e == "ECONNREFUSED"));
    let connected = at_end(&|s| *s == WindowState::Connected);
    let verdict = match (waiting, refused) {
        (w, 0) if w > 0 => Verdict::Refuted,
        (_, r) if r > 0 => Verdict::Confirmed,
        _ => Verdict::Depends,
    };
    let n = m.clients.len();
    let evidence = if waiting == 0 {
        t!(
            S,
            "finding.beyond_queue_refused.none_waiting",
            n = n,
            connected = connected,
            refused = refused
        )
    } else {
        t!(
            S,
            "finding.beyond_queue_refused.waiting",
            waiting = waiting,
            refused = refused,
            schedule = schedule(m),
            sysctls = syn_sysctls(m)
        )
    };
    Finding::new(
        "beyond_queue_refused",
        t!(S, "finding.beyond_queue_refused.claim"),
        verdict,
        evidence,
    )
}

/// The batch settings, one clause each; or why they could not be varied.
fn settings(batches: &[BatchRun]) -> Text {
    let parts: Vec<Text> = batches
        .iter()
        .filter_map(|r| {
            let b = r.result.as_ref().ok()?;
            Some(t!(
                S,
                "finding.connected_means_queued.setting",
                c = r.syncookies,
                a = r.abort_on_overflow,
                p = b.phantoms_request + b.phantoms_cookie,
                r = b.reset,
                w = b.waiting
            ))
        })
        .collect();
    if parts.is_empty() {
        return t!(S, "finding.connected_means_queued.not_varied");
    }
    t!(
        S,
        "finding.connected_means_queued.settings",
        parts = Text::join(&parts, "; ", "；")
    )
}

/// Clients that believed they were connected while the server had nothing.
fn connected_means_queued(m: &MainRun, batches: &[BatchRun]) -> Finding {
    let phantoms: Vec<&Client> = m.clients.iter().filter(|c| c.fate.is_phantom()).collect();
    let late = phantoms.iter().filter(|c| c.accepted_ms.is_some()).count();
    let failed = phantoms
        .iter()
        .filter(|c| c.accepted_ms.is_none() && matches!(c.fate, Fate::ConnectedThenFailed { .. }))
        .count();
    let never = phantoms.len() - late - failed;
    let variant_phantoms = batches
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .any(|b| b.phantoms_request + b.phantoms_cookie > 0);
    let verdict = if phantoms.is_empty() && !variant_phantoms {
        Verdict::Depends
    } else {
        Verdict::Refuted
    };
    let settings = settings(batches);
    let evidence = if phantoms.is_empty() {
        t!(S, "finding.connected_means_queued.none", settings = settings)
    } else {
        t!(
            S,
            "finding.connected_means_queued.some",
            phantoms = phantoms.len(),
            late = late,
            failed = failed,
            never = never,
            drain_ms = m.drain_ms,
            settings = settings
        )
    };
    Finding::new(
        "connected_means_queued",
        t!(S, "finding.connected_means_queued.claim"),
        verdict,
        evidence,
    )
}

/// The backlog + 1 rule across the sweep.
fn backlog_plus_one(s: &Sweep) -> Finding {
    let mut holds = true;
    let mut parts = Vec::new();
    for r in &s.rows {
        let f = &r.first;
        let Some(lim) = f.limit else { continue };
        let clients = (f.connected + f.pending) as i64;
        let expect = (lim as i64 + 1).min(clients);
        holds &= f.queue_max as i64 == expect && f.connected as i64 == expect;
        parts.push(Text::same(format!("B={} → {}", r.backlog, f.connected)));
    }
    let verdict = if parts.is_empty() {
        Verdict::Depends
    } else if holds {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    Finding::new(
        "backlog_plus_one",
        t!(S, "finding.backlog_plus_one.claim"),
        verdict,
        t!(
            S,
            "finding.backlog_plus_one.evidence",
            parts = Text::join(&parts, ", ", "，")
        ),
    )
}

/// What listen() stores for 0, -1 and a clamped value.
fn stores_given_number(st: &Stores) -> Finding {
    let run = |c: StoreCase| {
        st.cases
            .iter()
            .find(|r| r.case == c)
            .and_then(|r| r.result.as_ref().ok())
    };
    let limit = |c: StoreCase| run(c).and_then(|s| s.first.limit).map(i64::from);
    let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let cases = [StoreCase::Zero, StoreCase::MinusOne, StoreCase::Clamped];
    // Judged from what the kernel reported: refuted as soon as one stored limit differs
    // from the number passed, confirmed only when every one was measured and equal.
    let measured: Vec<(i64, i64)> = cases
        .iter()
        .filter_map(|&c| limit(c).map(|got| (c.call().0 as i64, got)))
        .collect();
    let verdict = if measured.iter().any(|(p, g)| p != g) {
        Verdict::Refuted
    } else if measured.len() == cases.len() {
        Verdict::Confirmed
    } else {
        Verdict::Depends
    };
    let smc = |c: StoreCase| match st.cases.iter().find(|r| r.case == c).map(|r| &r.result) {
        Some(Ok(s)) => super::tables::sysctl(&s.somaxconn),
        Some(Err(e)) => super::tables::refused(e),
        None => Text::same("-"),
    };
    Finding::new(
        "stores_given_number",
        t!(S, "finding.stores_given_number.claim"),
        verdict,
        t!(
            S,
            "finding.stores_given_number.evidence",
            zero = text(limit(StoreCase::Zero)),
            neg = text(limit(StoreCase::MinusOne)),
            neg_smc = smc(StoreCase::MinusOne),
            clamp_smc = smc(StoreCase::Clamped),
            clamp = text(limit(StoreCase::Clamped))
        ),
    )
}

#[cfg(test)]
mod tests;
