//! Tables and notes: pure functions of the measured [`Data`].

use super::behaviour::{Broadcast, LingerRun, OobRun, Place, PortLeft, ReadEnd, SoError};
use super::keepalive::{KeepRun, Keepalive, LocalRead, Runs, KEEP};
use super::measure::{buf_rule, opt, Buffer, Data, Defaults, Got, Probe, Readout, Rule, SetRead, Val};
use super::STRINGS as S;
use crate::labs::wire::{table as wire_table, Wire};
use crate::report::{yes_no, Call, Cell, Table, Text, Unmeasured};
use crate::sys::options::{self as opts, Kind, Opt};
use crate::{row, t};
use std::time::Duration;

pub fn tables(d: &Data) -> Vec<Table> {
    let mut out = vec![catalogue(d), defaults(d), probe(d), buffers(d), linger(&d.linger)];
    out.extend(d.so_error.as_ref().map(so_error));
    out.extend(d.broadcast.as_ref().map(broadcast));
    out.push(oob(&d.oob));
    out.extend(d.keepalive.as_ref().map(keepalive));
    if let Ok(w) = &d.wire {
        out.extend(ladders(d, w));
    }
    out.into_iter().filter(|t| !t.rows.is_empty()).collect()
}

/// Report notes: why the keepalive experiment did not run, why there are no packets.
pub fn notes(d: &Data) -> Vec<Text> {
    let mut v = keepalive_notes(d);
    let traffic =
        !d.linger.is_empty() || matches!(d.keepalive.as_ref().map(|k| &k.runs), Some(Runs::Ran { .. }));
    if let (Err(why), true) = (&d.wire, traffic) {
        v.push(t!(crate::report::COMMON, "wire.note.off", why = why.text()));
    }
    v
}

/// The ladder's name of a scenario: the linger mode (and whether the peer read), or its own.
fn scenario_name(d: &Data, w: &Wire) -> Text {
    match d.linger.iter().find(|r| r.key() == w.scenario) {
        Some(r) if r.peer_reading => t!(S, "ladder.scenario.reading", mode = linger_mode(r.linger)),
        Some(r) => linger_mode(r.linger),
        None => S.text(&format!("ladder.scenario.{}", w.scenario), &[]),
    }
}

/// The close() scenarios' packets and the keepalive runs' packets, as detail tables (the
/// findings quote them; the terminal shows them with --detail).
fn ladders(d: &Data, wires: &[Wire]) -> Vec<Table> {
    let named = |keepalive: bool| -> Vec<wire_table::Named> {
        wires
            .iter()
            .filter(|w| w.scenario.starts_with("keepalive_") == keepalive)
            .map(|w| wire_table::Named {
                wire: w,
                name: scenario_name(d, w),
            })
            .collect()
    };
    let mut out = Vec::new();
    for (id, keepalive) in [("ladder", false), ("keepalive_ladder", true)] {
        let n = named(keepalive);
        if n.is_empty() {
            continue;
        }
        let title = t!(S, &format!("{id}.title"));
        let mut v = wire_table::ladders(id, title, &n);
        if keepalive {
            // Not loopback: the capture note's "own loopback" reads as this veth end here.
            v[0].note_text(t!(S, "keepalive_ladder.note.veth"));
        }
        out.extend(v);
    }
    for t in &mut out {
        t.detail = true;
    }
    out
}

fn keepalive_notes(d: &Data) -> Vec<Text> {
    match d.keepalive.as_ref().map(|k| &k.runs) {
        Some(Runs::NotAsked { seconds }) => vec![t!(S, "note.keepalive_not_asked", seconds = seconds)],
        Some(Runs::Unmeasured(Unmeasured::NoSandbox)) => vec![t!(S, "note.keepalive_no_sandbox")],
        Some(Runs::Unmeasured(u)) => vec![t!(S, "note.keepalive_unmeasured", why = u.text())],
        _ => Vec::new(),
    }
}

/// A JSON number as the renderer prints it ("1015.0"), for evidence that quotes a cell.
pub fn num(x: f64) -> String {
    Cell::from(x).to_string()
}

/// Milliseconds rounded to a tenth, as the tables show them.
pub fn ms1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn level_text(o: &Opt) -> String {
    if o.level == libc::SOL_SOCKET {
        format!("SOL_SOCKET ({})", libc::SOL_SOCKET)
    } else {
        format!("SOL_TCP/IPPROTO_TCP ({})", o.level)
    }
}

fn catalogue(d: &Data) -> Table {
    let cols = ["option", "level", "constant", "kind", "doc", "man"];
    let mut t = Table::from_catalogue(&S, "catalogue", &cols);
    for name in &d.options {
        let o = opt(name);
        let doc = t.label(S.text(&format!("doc.{}", o.name), &[]));
        let kind = kind_cell(&mut t, o.kind);
        t.push(row! {
            "option" => o.name, "level" => level_text(o), "constant" => o.constant,
            "kind" => kind, "doc" => doc, "man" => man_page(o),
        });
    }
    // The level and its number are in the note; the man page is the same two names throughout.
    t.detail(&["level", "constant", "man"]);
    t.note_text(t!(
        S,
        "catalogue.note.levels",
        sol_socket = libc::SOL_SOCKET,
        sol_tcp = libc::SOL_TCP
    ));
    t.note_text(t!(S, "catalogue.note.kinds"));
    t
}

/// The kind of value an option takes, as a label ("flag" is "标志" on the zh pages).
pub fn kind_cell(t: &mut Table, k: Kind) -> Cell {
    t.label(S.text(&format!("kind.{}", k.name()), &[]))
}

/// The man page that documents an option.
fn man_page(o: &Opt) -> &'static str {
    match o.name {
        "SO_KEEPALIVE" | "SO_OOBINLINE" => "socket(7), tcp(7)",
        _ if o.level == libc::SOL_SOCKET => "socket(7)",
        _ => "tcp(7)",
    }
}

/// A call's result as a text: an errno as itself, success as "ok" ("成功" in Chinese).
pub fn call_text(c: &Call) -> Text {
    match c {
        Call::Ok => t!(S, "cell.ok"),
        Call::Err(e) => Text::same(e),
    }
}

/// A call's result as a cell: the JSON keeps "ok", the zh pages show "成功".
fn call_cell(t: &mut Table, c: &Call) -> Cell {
    match c {
        Call::Ok => t.label(call_text(c)),
        Call::Err(_) => c.into(),
    }
}

/// A value as a text: numbers, names of types and errnos, structs in words.
pub fn value_text(kind: Kind, v: Val) -> Text {
    match (kind, v) {
        (Kind::SockType, Val::Int(ty)) => match opts::sock_type_name(ty) {
            "unknown type" => t!(S, "cell.unknown_type"),
            name => Text::same(name),
        },
        (Kind::Errno, Val::Int(0)) => Text::same("0"),
        (Kind::Errno, Val::Int(e)) => Text::same(crate::sys::errno_code_name(e)),
        (_, Val::Int(i)) => Text::same(i.to_string()),
        (_, Val::Linger { on, seconds }) => {
            let state = t!(S, if on { "cell.on" } else { "cell.off" });
            t!(S, "cell.linger", on = on as i32, seconds = seconds, state = state)
        }
        (_, Val::Micros(0)) => t!(S, "cell.no_timeout"),
        (_, Val::Micros(us)) => t!(S, "cell.seconds", s = format!("{:.3}", us as f64 / 1e6)),
    }
}

/// A cell for a read value: numbers stay numbers, everything else is a label.
fn value_cell(t: &mut Table, kind: Kind, v: Val) -> Cell {
    match (kind, v) {
        (Kind::SockType, _) => t.label(value_text(kind, v)),
        (Kind::Errno, Val::Int(e)) if e != 0 => t.label(value_text(kind, v)),
        (_, Val::Int(i)) => Cell::from(i),
        _ => t.label(value_text(kind, v)),
    }
}

fn readout_cell(t: &mut Table, o: &Opt, r: &Readout) -> Cell {
    match r {
        Ok(Got { value, len }) if *len != o.kind.size() => {
            let text = t!(
                S,
                "cell.optlen",
                value = value_text(o.kind, *value),
                len = len,
                want = o.kind.size()
            );
            t.label(text)
        }
        Ok(g) => value_cell(t, o.kind, g.value),
        Err(c) => c.into(),
    }
}

fn defaults(d: &Data) -> Table {
    let cols = [
        "option",
        "level",
        "tcp",
        "udp",
        "listening",
        "connected",
        "accepted",
    ];
    let mut t = Table::from_catalogue(&S, "defaults", &cols);
    for r in &d.defaults {
        let o = opt(&r.option);
        let cells: Vec<Cell> = [&r.tcp, &r.udp, &r.listening, &r.connected, &r.accepted]
            .into_iter()
            .map(|x| readout_cell(&mut t, o, x))
            .collect();
        let mut row = row! { "option" => o.name, "level" => level_text(o) };
        for (k, c) in cols[2..].iter().zip(cells) {
            row.insert((*k).into(), c);
        }
        t.push(row);
    }
    // The level is in the catalogue's note; an accepted socket reads as the connected one does.
    t.detail(&["level", "accepted"]);
    let errnos = refusals(&d.defaults);
    if !errnos.is_empty() {
        t.note_text(t!(S, "defaults.note.refusals", errnos = errnos.join(", ")));
    }
    // About SO_LINGER's and the timeouts' zero values: only when their rows are here.
    if ["SO_LINGER", "SO_RCVTIMEO", "SO_SNDTIMEO"]
        .iter()
        .any(|o| d.options.iter().any(|x| x == o))
    {
        t.note_text(t!(S, "defaults.note.zero"));
    }
    if let Some(n) = d.unix_raw_type.as_ref().map(so_type_note) {
        t.note_text(n);
    }
    t
}

/// The errnos UDP sockets gave, named as this kernel gave them, not as a book predicts.
fn refusals(rows: &[Defaults]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter_map(|r| match &r.udp {
            Err(Call::Err(e)) if e.starts_with('E') => Some(e.clone()),
            _ => None,
        })
        .collect();
    out.dedup();
    out
}

/// What SO_TYPE read back for socket(AF_UNIX, SOCK_RAW): the measured fact behind the sheet.
pub fn so_type_note(c: &super::measure::TypeCheck) -> Text {
    let asked = opts::sock_type_name(c.asked);
    match &c.read {
        Some(Ok(Got {
            value: Val::Int(got), ..
        })) => {
            let key = if *got == c.asked {
                "defaults.note.so_type_same"
            } else {
                "defaults.note.so_type_differs"
            };
            S.text(
                key,
                &[
                    ("asked", (&asked).into()),
                    ("got", (&opts::sock_type_name(*got)).into()),
                ],
            )
        }
        Some(Ok(_)) => t!(
            S,
            "defaults.note.so_type_refused",
            asked = asked,
            errno = "optlen"
        ),
        Some(Err(e)) => t!(S, "defaults.note.so_type_refused", asked = asked, errno = e),
        None => t!(
            S,
            "defaults.note.so_type_refused",
            asked = asked,
            errno = c.socket
        ),
    }
}

fn probe_cell(t: &mut Table, o: &Opt, r: &SetRead) -> Cell {
    match r {
        SetRead::Read(Val::Int(i)) => Cell::from(*i),
        SetRead::Read(v) => value_cell(t, o.kind, *v),
        SetRead::SetFailed(c) => c.into(),
        SetRead::ReadFailed(c) => t.label(t!(S, "probe.read_failed", errno = c)),
        SetRead::NoSocket(c) => t.label(t!(S, "probe.no_socket", errno = c)),
    }
}

/// The column key of a probed value, as the JSON has always named them.
pub fn probe_key(v: i32) -> &'static str {
    match v {
        0 => "v0",
        1 => "v1",
        50 => "v50",
        -1 => "vneg",
        _ => "vmax",
    }
}

fn probe(d: &Data) -> Table {
    let mut cols: Vec<(&str, Text)> = ["option", "kind", "socket"]
        .iter()
        .map(|k| (*k, S.text(&format!("probe.col.{k}"), &[])))
        .collect();
    for v in super::measure::PROBE_VALUES {
        cols.push((probe_key(v), t!(S, "probe.col.value", v = v)));
    }
    cols.push(("stored", t!(S, "probe.col.stored")));
    let mut t = Table::localized("probe", t!(S, "probe.title"), &cols);
    for p in &d.probes {
        let o = opt(&p.option);
        let socket = if p.udp { "UDP" } else { "TCP" };
        let kind = kind_cell(&mut t, o.kind);
        let mut r = row! { "option" => o.name, "kind" => kind, "socket" => socket };
        for (v, res) in &p.results {
            let c = probe_cell(&mut t, o, res);
            r.insert(probe_key(*v).into(), c);
        }
        let stored = t.label(storage_text(p));
        r.insert("stored".into(), stored);
        t.push(r);
    }
    t.note_text(t!(S, "probe.note.fresh"));
    let read_only: Vec<Text> = d
        .probes
        .iter()
        .filter(|p| p.storage() == super::measure::Storage::ReadOnly)
        .map(|p| Text::same(&p.option))
        .collect();
    if !read_only.is_empty() {
        let names = Text::join(&read_only, ", ", "、");
        t.note_text(t!(S, "probe.note.read_only", names = names));
    }
    // The flags finding quotes how each option is stored and what 50 read back as.
    t.detail = true;
    t
}

pub fn storage_text(p: &Probe) -> Text {
    S.text(&format!("storage.{}", p.storage().key()), &[])
}

pub fn rule_text(v: i32, b: &Buffer, rule: Rule) -> Text {
    let r = buf_rule(&b.option).expect("a buffer option");
    match rule {
        Rule::Unreadable => t!(S, "rule.unreadable", sysctl = r.sysctl),
        Rule::Cap { max, unsigned: None } => {
            t!(S, "rule.cap", sysctl = r.sysctl, max = max, capped = 2 * max)
        }
        Rule::Cap {
            max,
            unsigned: Some(u),
        } => t!(
            S,
            "rule.cap_negative",
            v = v,
            unsigned = u,
            sysctl = r.sysctl,
            max = max,
            capped = 2 * max
        ),
        Rule::Floor { doubled } => t!(
            S,
            "rule.floor",
            v = v,
            doubled = doubled,
            floor_name = r.floor_name,
            floor = b.floor
        ),
        Rule::Doubled { doubled } => t!(S, "rule.doubled", v = v, doubled = doubled),
    }
}

fn buffers(d: &Data) -> Table {
    let cols = ["option", "value", "set", "read", "rule", "predicted", "matches"];
    let mut t = Table::from_catalogue(&S, "buffers", &cols);
    for b in &d.buffers {
        for r in &b.rows {
            let (predicted, rule, matches) = r.check(b);
            let read: Cell = match &r.read {
                Ok(n) => Cell::from(*n),
                Err(c) => c.into(),
            };
            let rule = t.label(rule_text(r.value, b, rule));
            let set = call_cell(&mut t, &r.set);
            t.push(row! {
                "option" => b.option, "value" => r.value, "set" => set, "read" => read,
                "rule" => rule, "predicted" => predicted, "matches" => matches,
            });
        }
        let rule = buf_rule(&b.option).expect("a buffer option");
        let max = match b.max {
            Some(m) => Text::same(m.to_string()),
            None => t!(S, "buffers.unreadable"),
        };
        t.note_text(t!(
            S,
            "buffers.note.rule",
            option = b.option,
            sysctl = rule.sysctl,
            max = max,
            floor_name = rule.floor_name,
            floor = b.floor
        ));
    }
    if !d.buffers.is_empty() {
        t.note_text(t!(S, "buffers.note.doubling"));
    }
    // The buffers finding quotes the doubling, the floor, the cap and whether every row
    // matches the rule; in --detail the rule and its prediction stand beside each number.
    t.detail(&["set", "predicted"]);
    t.detail = true;
    t
}

pub fn linger_mode(l: Option<i32>) -> Text {
    match l {
        None => t!(S, "linger.off"),
        Some(n) => Text::same(format!("{{1, {n}}}")),
    }
}

pub fn read_end(e: &ReadEnd) -> Text {
    match e {
        ReadEnd::Eof => Text::same("EOF"),
        ReadEnd::Failed(c) => Text::same(c.name()),
        ReadEnd::StillReading => t!(S, "linger.end.still_reading"),
        ReadEnd::ReaderPanicked => t!(S, "linger.end.panicked"),
    }
}

pub fn port_left(p: &PortLeft) -> Text {
    match p {
        PortLeft::Nothing => t!(S, "linger.left.nothing"),
        PortLeft::TimeWait { left_ms } => t!(S, "linger.left.time_wait", s = left_ms / 1000),
        PortLeft::Other { state } => Text::same(state),
    }
}

fn linger(runs: &[LingerRun]) -> Table {
    let cols = [
        "linger",
        "peer_reading",
        "written",
        "unsent",
        "close",
        "close_ms",
        "peer_bytes",
        "peer_end",
        "left",
    ];
    let mut t = Table::from_catalogue(&S, "linger", &cols);
    if runs.is_empty() {
        return t;
    }
    for r in runs {
        let (mode, reading) = (t.label(linger_mode(r.linger)), t.label(yes_no(r.peer_reading)));
        let left = match &r.left {
            // Shorter than the finding's wording, so the row fits one line at 80 columns.
            PortLeft::TimeWait { left_ms } => t!(S, "linger.left.time_wait_cell", s = left_ms / 1000),
            other => port_left(other),
        };
        let (end, left) = (t.label(read_end(&r.peer_end)), t.label(left));
        let close = call_cell(&mut t, &r.close);
        t.push(row! {
            "linger" => mode, "peer_reading" => reading, "written" => r.written, "unsent" => r.unsent,
            "close" => close, "close_ms" => ms1(r.close_ms), "peer_bytes" => r.peer_bytes,
            "peer_end" => end, "left" => left,
        });
    }
    t.note_text(t!(S, "linger.note.small"));
    let closes: Vec<Text> = runs
        .iter()
        .filter(|r| r.linger == Some(super::behaviour::LINGER_SECONDS))
        .map(|r| call_text(&r.close))
        .collect();
    let and = t!(S, "linger.and");
    let closes = Text::join(&closes, &and.en, &and.zh);
    t.note_text(t!(S, "linger.note.wait", closes = closes));
    t.note_text(t!(S, "linger.note.table"));
    // The queue is the same in every run, the note quotes what close() returned, and the
    // linger finding quotes the bytes the peer read (the ladder shows them packet by packet).
    t.detail(&["written", "unsent", "close", "peer_bytes"]);
    t
}

fn so_error(e: &SoError) -> Table {
    let mut t = Table::from_catalogue(&S, "so_error", &["step", "call", "result", "peer"]);
    let o = opt("SO_ERROR");
    let peer = match e.rsts {
        Some(n) if n > 0 => t!(S, "so_error.peer.rst", n = n),
        Some(_) => t!(S, "so_error.peer.no_rst"),
        None => t!(S, "so_error.peer.unreadable"),
    };
    let rows = [
        (
            t!(S, "so_error.call.connect", addr = e.target),
            call_cell(&mut t, &e.connect),
            t!(S, "so_error.peer.target", addr = e.target),
        ),
        (
            Text::same("poll(POLLOUT)"),
            Cell::from(opts::poll_names(e.revents)),
            peer,
        ),
        (
            t!(S, "so_error.call.first"),
            readout_cell(&mut t, o, &e.first),
            Text::same("-"),
        ),
        (
            t!(S, "so_error.call.second"),
            readout_cell(&mut t, o, &e.second),
            Text::same("-"),
        ),
    ];
    for (i, (call, result, peer)) in rows.into_iter().enumerate() {
        let (call, peer) = (t.label(call), t.label(peer));
        t.push(row! { "step" => i + 1, "call" => call, "result" => result, "peer" => peer });
    }
    t.note_text(t!(S, "so_error.note"));
    // The SO_ERROR finding quotes the connect, the first read and the second.
    t.detail = true;
    t
}

pub fn got_text(g: &Option<super::behaviour::Datagram>) -> Text {
    match g {
        None => t!(S, "broadcast.nothing"),
        Some(d) => {
            let from = d.from.map(|a| a.to_string()).unwrap_or_default();
            t!(S, "broadcast.got", n = d.bytes, from = from)
        }
    }
}

fn broadcast(b: &Broadcast) -> Table {
    let mut t = Table::from_catalogue(&S, "broadcast", &["sender", "to", "result", "receiver", "got"]);
    for s in &b.sends {
        let got = t.label(got_text(&s.got));
        let sent = call_cell(&mut t, &s.sent);
        t.push(row! {
            "sender" => s.flag, "to" => s.to.to_string(), "result" => sent,
            "receiver" => b.receiver_flag, "got" => got,
        });
    }
    t.note_text(t!(S, "broadcast.note.receiver"));
    t.note_text(t!(
        S,
        if b.own_namespace {
            "broadcast.note.own"
        } else {
            "broadcast.note.sandbox"
        }
    ));
    // The note says the receiver never sets SO_BROADCAST.
    t.detail(&["receiver"]);
    t
}

/// Received bytes as code ("\"ab\""), or the errno.
pub fn recv_cell(r: &Result<String, Call>) -> Cell {
    match r {
        Ok(s) => Cell::from(format!("{s:?}")),
        Err(c) => c.into(),
    }
}

fn mark_cell(r: &Result<bool, Call>) -> Cell {
    match r {
        Ok(b) => Cell::from(*b as i32),
        Err(c) => c.into(),
    }
}

fn place_text(p: Place) -> Text {
    let k = match p {
        Place::OutOfBand => "out_of_band",
        Place::Inline => "inline",
        Place::Both => "both",
        Place::Nowhere => "nowhere",
    };
    S.text(&format!("oobinline.place.{k}"), &[])
}

fn oob(runs: &[OobRun]) -> Table {
    let cols = [
        "oobinline",
        "poll",
        "mark_before",
        "first",
        "mark_after",
        "oob",
        "rest",
        "where",
    ];
    let mut t = Table::from_catalogue(&S, "oobinline", &cols);
    if runs.is_empty() {
        return t;
    }
    for r in runs {
        let place = t.label(place_text(r.place()));
        t.push(row! {
            "oobinline" => r.inline, "poll" => opts::poll_names(r.revents),
            "mark_before" => mark_cell(&r.mark_before), "first" => recv_cell(&r.first),
            "mark_after" => mark_cell(&r.mark_after), "oob" => recv_cell(&r.oob),
            "rest" => recv_cell(&r.rest), "where" => place,
        });
    }
    t.note_text(t!(S, "oobinline.note.mark"));
    t.note_text(t!(S, "oobinline.note.one_byte"));
    // The SO_OOBINLINE finding quotes every recv() of both runs and the mark.
    t.detail = true;
    t
}

pub fn local_read(r: &LocalRead) -> Text {
    match r {
        LocalRead::Eof => Text::same("EOF"),
        LocalRead::Bytes(n) => t!(S, "keepalive.read.bytes", n = n),
        LocalRead::StillWaiting { waited_ms } => {
            let wait = format!("{:?}", Duration::from_millis(*waited_ms));
            t!(S, "keepalive.read.still_waiting", wait = wait)
        }
        LocalRead::Failed(c) => Text::same(c.name()),
    }
}

fn peer_text(r: &KeepRun) -> Text {
    let state = match &r.peer_state {
        Some(s) => Text::same(s),
        None => t!(S, "keepalive.peer.no_socket"),
    };
    if r.vanish {
        let heard = if r.read.is("ETIMEDOUT") {
            t!(S, "keepalive.peer.no_reply")
        } else {
            t!(S, "keepalive.peer.see_local")
        };
        let dropped = match r.peer_dropped {
            Some(n) => t!(S, "keepalive.peer.dropped", n = n),
            None => Text::same(""),
        };
        t!(
            S,
            "keepalive.peer.gone",
            heard = heard,
            dropped = dropped,
            state = state
        )
    } else if matches!(r.read, LocalRead::StillWaiting { .. }) {
        t!(S, "keepalive.peer.answered", state = state)
    } else {
        t!(S, "keepalive.peer.there", state = state)
    }
}

fn keepalive(k: &Keepalive) -> Table {
    let cols = [
        "case", "idle", "intvl", "cnt", "gives_up", "local", "after_ms", "probes", "peer",
    ];
    let mut t = Table::from_catalogue(&S, "keepalive", &cols);
    let d = &k.defaults;
    let case = t.label(t!(S, "keepalive.case.defaults"));
    t.push(row! {
        "case" => case, "idle" => d.idle, "intvl" => d.intvl, "cnt" => d.cnt,
        "gives_up" => d.gives_up(), "local" => "-", "after_ms" => Cell::Null,
        "probes" => Cell::Null, "peer" => "-",
    });
    let sysctls: Vec<Text> = k
        .sysctls
        .iter()
        .map(|(n, v)| {
            t!(
                S,
                "keepalive.sysctl",
                name = n,
                value = v.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let sysctls = Text::join(&sysctls, ", ", ", ");
    t.note_text(t!(S, "keepalive.note.defaults", sysctls = sysctls));
    let (i, v, c) = KEEP;
    let timers = |t: &mut Table, vanish: bool| {
        let key = if vanish {
            "keepalive.case.vanished"
        } else {
            "keepalive.case.present"
        };
        let case = t.label(S.text(key, &[("i", (&i).into()), ("v", (&v).into()), ("c", (&c).into())]));
        row! { "case" => case, "idle" => i, "intvl" => v, "cnt" => c, "gives_up" => i + v * c }
    };
    match &k.runs {
        Runs::Ran { vanished, present } => {
            for r in [vanished, present] {
                let mut row = timers(&mut t, r.vanish);
                let (local, peer) = (t.label(local_read(&r.read)), t.label(peer_text(r)));
                row.insert("local".into(), local);
                row.insert("after_ms".into(), Cell::from(r.after_ms.round()));
                row.insert("probes".into(), r.probes.into());
                row.insert("peer".into(), peer);
                t.push(row);
            }
            t.note_text(t!(S, "keepalive.note.veth"));
            t.note_text(t!(S, "keepalive.note.probes"));
            // The case names the short timers and the sysctl note the defaults.
            t.detail(&["idle", "intvl", "cnt"]);
        }
        Runs::NotAsked { .. } | Runs::Unmeasured(_) => {
            for vanish in [true, false] {
                let mut row = timers(&mut t, vanish);
                let local = t.label(t!(S, "keepalive.not_run"));
                row.insert("local".into(), local);
                row.insert("after_ms".into(), Cell::Null);
                row.insert("probes".into(), Cell::Null);
                row.insert("peer".into(), "-".into());
                t.push(row);
            }
            // Not run: the timers are the defaults table's and the report note says why.
            t.detail = true;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::super::measure::TypeCheck;
    use super::*;

    fn unix_raw(read: Option<Readout>) -> TypeCheck {
        TypeCheck {
            asked: libc::SOCK_RAW,
            socket: if read.is_some() {
                Call::Ok
            } else {
                Call::Err("EPERM".into())
            },
            read,
        }
    }

    fn int(i: i32) -> Option<Readout> {
        Some(Ok(Got {
            value: Val::Int(i),
            len: 4,
        }))
    }

    #[test]
    fn the_so_type_note_follows_what_the_kernel_read_back() {
        let differs = so_type_note(&unix_raw(int(libc::SOCK_DGRAM)));
        assert!(
            differs.en.contains("not always") && differs.en.contains("reads back SOCK_DGRAM"),
            "{}",
            differs.en
        );
        assert!(
            differs.zh.contains("SOCK_DGRAM") && differs.zh.contains("不一定"),
            "{}",
            differs.zh
        );
        let same = so_type_note(&unix_raw(int(libc::SOCK_RAW)));
        assert!(
            same.en.contains("reads back SOCK_RAW") && !same.en.contains("not always"),
            "{}",
            same.en
        );
        let refused = so_type_note(&unix_raw(None));
        assert!(refused.en.contains("EPERM"), "{}", refused.en);
    }

    #[test]
    fn values_render_in_both_languages() {
        let l = value_text(
            Kind::Linger,
            Val::Linger {
                on: false,
                seconds: 0,
            },
        );
        assert_eq!((l.en.as_str(), l.zh.as_str()), ("{0, 0} off", "{0, 0} 关"));
        assert_eq!(value_text(Kind::Timeval, Val::Micros(0)).en, "0 (none)");
        assert_eq!(value_text(Kind::Timeval, Val::Micros(1_500_000)).zh, "1.500 秒");
        assert_eq!(
            value_text(Kind::SockType, Val::Int(libc::SOCK_DGRAM)).en,
            "SOCK_DGRAM"
        );
        let w = local_read(&LocalRead::StillWaiting { waited_ms: 3300 });
        assert_eq!(w.en, "no error: still waiting after 3.3s");
    }
}
