//! Tables and notes: pure functions of the measured [`Data`].

use super::data::*;
use super::measure::POLL_MS;
use super::side::{STORE_CLIENTS, VARIANT_CLIENTS};
use super::STRINGS as S;
use crate::report::{yes_no, Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    let mut out = Vec::new();
    if let Some(m) = &d.main {
        out.extend([clients(m), listener(m), counters(m), retries(m)]);
    }
    // In a run with a main experiment the findings quote the sweep; alone it is the report.
    out.extend(d.sweep.as_ref().map(|s| sweep(s, d.main.is_some())));
    out.extend(d.stores.as_ref().map(stores));
    if let Some(runs) = d.batches.as_deref() {
        out.extend([batches(runs), batch_counters(runs)]);
    }
    out.extend(super::packets::tables(d));
    out
}

pub fn notes(d: &Data) -> Vec<Text> {
    let mut out = Vec::new();
    if d.main.as_ref().is_some_and(|m| !m.isolated) {
        out.push(t!(S, "note.shared_namespace"));
    }
    out.extend(d.refused.iter().map(refused));
    // In a sweep run the sweep is the report; say why its counters are missing.
    let sweep_shared = d
        .sweep
        .as_ref()
        .is_some_and(|s| s.rows.iter().any(|r| !r.isolated));
    if d.main.is_none() && sweep_shared {
        out.push(t!(S, "note.sweep_shared"));
    }
    if let Err(why) = &d.wire {
        out.push(t!(crate::report::COMMON, "wire.note.off", why = why.text()));
    }
    out
}

/// "name=value not set: why".
pub fn refused(r: &SettingRefused) -> Text {
    let setting = format!("{}={}", r.name, r.value);
    match &r.why {
        crate::report::Unmeasured::SysctlRefused { errno, .. } => {
            t!(S, "note.not_set.sysctl", setting = setting, errno = errno)
        }
        crate::report::Unmeasured::NoSandbox => t!(S, "note.not_set.no_sandbox", setting = setting),
        why => t!(S, "note.not_set.other", setting = setting, why = why.text()),
    }
}

/// A number as a table cell shows it (2032.0 stays "2032.0").
pub fn num(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

/// A sysctl as read, or "unreadable".
pub fn sysctl(v: &Option<String>) -> Text {
    match v {
        Some(v) => Text::same(v.clone()),
        None => t!(S, "cell.unreadable"),
    }
}

pub fn error(e: &ClientError) -> Text {
    match e {
        ClientError::Errno(name) => Text::same(name.clone()),
        ClientError::ClosedByServer => t!(S, "cell.closed_by_server"),
        ClientError::Revents(r) => t!(S, "cell.revents", revents = format!("{r:#x}")),
    }
}

fn window_end(s: &WindowState) -> Text {
    match s {
        WindowState::Connected => t!(S, "cell.window_end.connected"),
        WindowState::Waiting => t!(S, "cell.window_end.waiting"),
        WindowState::Failed(e) => error(e),
    }
}

fn server_side(s: ServerSide) -> Text {
    match s {
        ServerSide::Established => t!(S, "cell.server_side.established"),
        ServerSide::SynRecv => t!(S, "cell.server_side.syn_recv"),
        ServerSide::Nothing => t!(S, "cell.server_side.nothing"),
    }
}

/// What became of one client, in plain words; says how long it was watched.
pub fn fate(c: &Client, m: &MainRun) -> Text {
    let after_ms = format!("{:.0}", (m.ended_ms - m.window_ms).max(0.0));
    let end_ms = format!("{:.0}", m.ended_ms);
    match &c.fate {
        Fate::Accepted => t!(S, "fate.accepted"),
        Fate::RetriedThenAccepted => t!(S, "fate.retried_then_accepted"),
        Fate::LateAccepted => t!(S, "fate.late_accepted"),
        Fate::AcceptedLineLost => t!(S, "fate.accepted_line_lost", end_ms = end_ms),
        Fate::PhantomAcceptedLate => t!(S, "fate.phantom_accepted_late"),
        Fate::PhantomAcceptedLateLineLost => {
            t!(S, "fate.phantom_accepted_late_line_lost", end_ms = end_ms)
        }
        Fate::Phantom => match c.data_resent() {
            Some(1) => t!(S, "fate.phantom.resent_once", after_ms = after_ms),
            Some(n) if n > 1 => t!(S, "fate.phantom.resent", after_ms = after_ms, resent = n),
            _ => t!(S, "fate.phantom.queued", after_ms = after_ms),
        },
        Fate::ConnectedNotAccepted => t!(S, "fate.connected_not_accepted", after_ms = after_ms),
        Fate::ConnectedThenFailed { phantom, error: e } => {
            let key = if *phantom {
                "fate.phantom_then_failed"
            } else {
                "fate.connected_then_failed"
            };
            S.text(key, &[("error", (&error(e)).into())])
        }
        Fate::ConnectFailed { error: e } => t!(S, "fate.connect_failed", error = error(e)),
        Fate::StillWaiting => t!(S, "fate.still_waiting", end_ms = end_ms),
    }
}

fn clients(m: &MainRun) -> Table {
    let cols = [
        "client",
        "connect_ms",
        "syn_retries",
        "window_end",
        "server_side",
        "accepted_ms",
        "line",
        "outcome",
    ];
    let mut t = Table::from_catalogue(&S, "clients", &cols);
    let title = t!(S, "clients.title", backlog = m.backlog, window_ms = m.window_ms);
    (t.title, t.title_zh) = (title.en, Some(title.zh));
    for c in &m.clients {
        let (end, side) = (window_end(&c.at_window_end), c.server_side.map(server_side));
        let row = row! {
            "client" => c.index,
            "connect_ms" => c.connected_ms,
            "syn_retries" => c.syn_retries(),
            "window_end" => t.label(end),
            "server_side" => side.map(|s| t.label(s)),
            "accepted_ms" => c.accepted_ms,
            "line" => t.label(yes_no(c.delivered_ms.is_some())),
            "outcome" => t.label(fate(c, m)),
        };
        t.push(row);
    }
    // The compact view keeps what tells the clients apart: their fate (which says
    // whether the SYN was retried). Per-client timings, retry counts and socket
    // states go to --detail, so clients with one fate group.
    let noise = [
        "connect_ms",
        "syn_retries",
        "window_end",
        "server_side",
        "accepted_ms",
        "line",
    ];
    t.detail(&noise);
    let within = m.clients.last().map(|c| c.started_ms).unwrap_or(0.0);
    t.note_text(t!(
        S,
        "clients.note.started",
        clients = m.clients.len(),
        within = format!("{within:.1}"),
        drain_ms = m.drain_ms
    ));
    t.note_text(t!(S, "clients.note.server_side"));
    t.note_text(t!(
        S,
        "clients.note.phantom",
        abort = sysctl(&m.abort_on_overflow)
    ));
    t
}

pub fn connected_by(m: &MainRun, limit: f64) -> usize {
    m.clients
        .iter()
        .filter(|c| c.connected_ms.is_some_and(|t| t <= limit))
        .count()
}

fn accepted_by(m: &MainRun, limit: f64) -> usize {
    m.clients
        .iter()
        .filter(|c| c.accepted_ms.is_some_and(|t| t <= limit))
        .count()
}

fn listener(m: &MainRun) -> Table {
    let mut t = Table::from_catalogue(&S, "listener", &["what", "window", "after"]);
    let (w, a) = (&m.window, &m.after);
    let rows: [(&str, Cell, Cell); 7] = [
        ("backlog", m.backlog.into(), m.backlog.into()),
        ("limit", w.limit.into(), a.limit.into()),
        ("queue_max", w.queue_max.into(), a.queue_max.into()),
        ("syn_recv_max", w.syn_recv_max.into(), a.syn_recv_max.into()),
        (
            "connected",
            connected_by(m, m.window_ms).into(),
            connected_by(m, f64::INFINITY).into(),
        ),
        (
            "accepted",
            accepted_by(m, m.window_ms).into(),
            accepted_by(m, f64::INFINITY).into(),
        ),
        ("samples", w.samples.into(), a.samples.into()),
    ];
    for (key, window, after) in rows {
        let what = t.label(S.text(&format!("listener.row.{key}"), &[]));
        t.push(row! { "what" => what, "window" => window, "after" => after });
    }
    // The first finding quotes the limit, the queue's peak and the connects.
    t.detail = true;
    t
}

/// The increase of a counter in the main run: (during the window, after it).
pub fn counter(m: &MainRun, name: &str) -> (Option<i64>, Option<i64>) {
    m.counters
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c.window, c.after))
        .unwrap_or((None, None))
}

fn counters(m: &MainRun) -> Table {
    let mut t = Table::from_catalogue(&S, "counters", &["counter", "window", "after"]);
    let title = if m.isolated {
        t!(S, "counters.title.own")
    } else {
        t!(S, "counters.title.shared")
    };
    (t.title, t.title_zh) = (title.en, Some(title.zh));
    for c in &m.counters {
        t.push(row! { "counter" => c.name, "window" => c.window, "after" => c.after });
    }
    t.note_text(drops_note(m));
    t.note_text(t!(S, "counters.note.cookies"));
    // The first finding quotes ListenOverflows; the rest is for --detail.
    t.detail = true;
    t
}

/// What ListenDrops counted in this run, from the counters and the clients' fates.
pub fn drops_note(m: &MainRun) -> Text {
    let (ow, oa) = counter(m, "TcpExtListenOverflows");
    let (dw, da) = counter(m, "TcpExtListenDrops");
    let phantoms = m.clients.iter().filter(|c| c.fate.is_phantom()).count();
    let acks = if phantoms > 0 {
        t!(S, "counters.note.drops.acks", phantoms = phantoms)
    } else {
        Text::default()
    };
    let (Some(ow), Some(oa), Some(dw), Some(da)) = (ow, oa, dw, da) else {
        return t!(S, "counters.note.drops.unmeasured");
    };
    let v = |x: i64| x.to_string();
    let key = if dw + da == 0 {
        "counters.note.drops.none"
    } else if dw == ow && da == oa {
        "counters.note.drops.same"
    } else {
        "counters.note.drops.more"
    };
    t!(
        S,
        key,
        dw = v(dw),
        da = v(da),
        ow = v(ow),
        oa = v(oa),
        acks = acks
    )
}

/// One SYN retry number: who retried, when, and the gap since the previous SYN.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryRow {
    pub retry: usize,
    pub clients: usize,
    pub first_ms: f64,
    pub last_ms: f64,
    pub gap_ms: f64,
    pub rto_ms: Option<u32>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    (v[v.len() / 2] * 10.0).round() / 10.0
}

pub fn retry_schedule(clients: &[Client]) -> Vec<RetryRow> {
    let most = clients.iter().map(Client::syn_retries).max().unwrap_or(0);
    (1..=most)
        .map(|k| {
            let who: Vec<&Client> = clients.iter().filter(|c| c.syn_retries() >= k).collect();
            let at = |c: &Client, i: usize| c.syn_retries_ms[i];
            let times: Vec<f64> = who.iter().map(|c| at(c, k - 1)).collect();
            let gaps = who
                .iter()
                .map(|c| at(c, k - 1) - if k == 1 { c.started_ms } else { at(c, k - 2) })
                .collect();
            RetryRow {
                retry: k,
                clients: who.len(),
                first_ms: times.iter().copied().fold(f64::INFINITY, f64::min),
                last_ms: times.iter().copied().fold(0.0, f64::max),
                gap_ms: median(gaps),
                rto_ms: who.iter().find_map(|c| c.rto_ms.get(k - 1).copied().flatten()),
            }
        })
        .collect()
}

/// The SYN-retry sysctls as read in the run's namespace.
pub fn syn_sysctls(m: &MainRun) -> Text {
    t!(
        S,
        "retries.note.sysctls",
        retries = sysctl(&m.syn_retries),
        linear = sysctl(&m.syn_linear_timeouts)
    )
}

fn retries(m: &MainRun) -> Table {
    let cols = ["retry", "clients", "first_ms", "last_ms", "gap_ms", "rto_ms"];
    let mut t = Table::from_catalogue(&S, "retries", &cols);
    for r in retry_schedule(&m.clients) {
        t.push(row! {
            "retry" => r.retry, "clients" => r.clients, "first_ms" => r.first_ms,
            "last_ms" => r.last_ms, "gap_ms" => r.gap_ms, "rto_ms" => r.rto_ms,
        });
    }
    t.note_text(syn_sysctls(m));
    t.note_text(t!(S, "retries.note.sampled", poll_ms = POLL_MS));
    // The second finding quotes the schedule and the sysctls.
    t.detail = true;
    t
}

fn sweep(s: &Sweep, quoted: bool) -> Table {
    let cols = [
        "backlog",
        "limit",
        "b_plus_1",
        "queue_max",
        "connected",
        "pending",
        "overflows",
    ];
    let mut t = Table::from_catalogue(&S, "sweep", &cols);
    let title = t!(S, "sweep.title", clients = s.clients, window_ms = s.window_ms);
    (t.title, t.title_zh) = (title.en, Some(title.zh));
    for r in &s.rows {
        let f = &r.first;
        t.push(row! {
            "backlog" => r.backlog, "limit" => f.limit, "b_plus_1" => r.backlog as i64 + 1,
            "queue_max" => f.queue_max, "connected" => f.connected, "pending" => f.pending,
            "overflows" => f.overflows,
        });
    }
    let key = if s.rows.iter().all(|r| r.isolated) {
        "sweep.note.window.own"
    } else {
        "sweep.note.window.shared"
    };
    t.note_text(t!(S, key, window_ms = s.window_ms));
    t.detail(&["b_plus_1"]);
    t.detail = quoted;
    t
}

fn stores(st: &Stores) -> Table {
    let cols = ["call", "somaxconn", "limit", "connected"];
    let mut t = Table::from_catalogue(&S, "listen_stores", &cols);
    let title = t!(S, "listen_stores.col.connected", clients = STORE_CLIENTS);
    t.columns[3].header = title.en;
    t.columns[3].header_zh = Some(title.zh);
    for r in &st.cases {
        let call = t.label(S.text(&format!("listen_stores.case.{}", r.case.key()), &[]));
        match &r.result {
            Ok(s) => {
                let smc = t.label(sysctl(&s.somaxconn));
                t.push(row! { "call" => call, "somaxconn" => smc, "limit" => s.first.limit, "connected" => s.first.connected });
            }
            Err(e) => {
                let why = t.label(refused(e));
                t.push(row! { "call" => call, "somaxconn" => why, "limit" => None::<u32>, "connected" => None::<usize> });
            }
        }
    }
    let py = t.label(t!(S, "listen_stores.case.python"));
    let (smc, limit) = match &st.python.limit {
        Ok(l) => (t.label(sysctl(&st.python.somaxconn)), Some(*l)),
        Err(why) => (t.label(why.text()), None),
    };
    t.push(row! { "call" => py, "somaxconn" => smc, "limit" => limit, "connected" => None::<usize> });
    t.note_text(t!(S, "listen_stores.note.min"));
    t.note_text(t!(S, "listen_stores.note.python"));
    // The last finding quotes the stored limits.
    t.detail = true;
    t
}

/// The counters that moved in a batch, by short name: "ListenDrops +15, …".
pub fn moved(b: &Batch) -> String {
    b.counters
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| format!("{} +{v}", k.trim_start_matches("TcpExt")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The setting runs pivoted: one row per measure, one column per setting run, so
/// the table fits a terminal (the counters that moved are in [`batch_counters`]).
fn batches(runs: &[BatchRun]) -> Table {
    let run_key = |i: usize| format!("run{}", i + 1);
    let keys: Vec<String> = (0..runs.len()).map(run_key).collect();
    let what = ("what", S.text("phantoms.col.what", &[]));
    let cols: Vec<(&str, Text)> = std::iter::once(what)
        .chain(keys.iter().enumerate().map(|(i, k)| {
            let n = i + 1;
            let h = S.text("phantoms.col.run", &[("n", (&n).into())]);
            (k.as_str(), h)
        }))
        .collect();
    let title = t!(S, "phantoms.title", clients = VARIANT_CLIENTS);
    let mut t = Table::localized("phantoms", title, &cols);
    let measures = [
        "syncookies",
        "abort",
        "retried",
        "in_queue",
        "phantom_request",
        "phantom_cookie",
        "reset",
        "waiting",
    ];
    for m in measures {
        let label = t.label(S.text(&format!("phantoms.row.{m}"), &[]));
        let mut row = row! { "what" => label };
        for (k, r) in keys.iter().zip(runs) {
            let cell: Cell = match (m, &r.result) {
                ("syncookies", _) => r.syncookies.into(),
                ("abort", _) => r.abort_on_overflow.into(),
                ("retried", Err(why)) => t.label(why.text()),
                (_, Err(_)) => Cell::Null,
                ("retried", Ok(b)) => b.retried.into(),
                ("in_queue", Ok(b)) => b.in_queue.into(),
                ("phantom_request", Ok(b)) => b.phantoms_request.into(),
                ("phantom_cookie", Ok(b)) => b.phantoms_cookie.into(),
                ("reset", Ok(b)) => b.reset.into(),
                (_, Ok(b)) => b.waiting.into(),
            };
            row.insert(k.clone(), cell);
        }
        t.push(row);
    }
    t.note_text(t!(S, "phantoms.note.together"));
    t.note_text(t!(S, "phantoms.note.abort"));
    t
}

/// The counters that moved in each setting run; detail, as its cells are long.
fn batch_counters(runs: &[BatchRun]) -> Table {
    let cols = ["syncookies", "abort", "counters"];
    let mut t = Table::from_catalogue(&S, "phantom_counters", &cols);
    let title = t!(S, "phantom_counters.title", clients = VARIANT_CLIENTS);
    (t.title, t.title_zh) = (title.en, Some(title.zh));
    for r in runs {
        let counters = match &r.result {
            Ok(b) => Cell::from(moved(b)),
            Err(why) => t.label(why.text()),
        };
        t.push(row! { "syncookies" => r.syncookies, "abort" => r.abort_on_overflow, "counters" => counters });
    }
    t.detail = true;
    t
}

#[cfg(test)]
mod tests;
