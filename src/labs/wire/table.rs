//! The ladder as a table: one row per packet, identical retries grouped into one row with
//! their count and times (every packet still has its time there); `per_packet` gives the
//! ungrouped table for `--detail`. Headers and cells come from common.toml `wire.*`.

use super::{Cause, Dir, Packet, Role, States, Wire};
use crate::report::{Table, Text, COMMON as S};
use crate::{row, t};

/// One scenario of a ladder table, with its name in both languages.
pub struct Named<'a> {
    pub wire: &'a Wire,
    pub name: Text,
}

const COLS: [&str; 11] = [
    "scenario", "flow", "t_ms", "dir", "flags", "seq", "ack", "len", "data", "cause", "states",
];

fn cause_text(c: Cause) -> Text {
    S.text(
        match c {
            Cause::Connect => "wire.cause.connect",
            Cause::Listen => "wire.cause.listen",
            Cause::Send => "wire.cause.send",
            Cause::Close => "wire.cause.close",
            Cause::Reset => "wire.cause.reset",
            Cause::Retry => "wire.cause.retry",
            Cause::Probe => "wire.cause.probe",
            Cause::WindowProbe => "wire.cause.window_probe",
            Cause::Kernel => "wire.cause.kernel",
        },
        &[],
    )
}

/// "client ESTAB · server FIN-WAIT-2 ×3"
pub fn states_text(s: &States) -> Text {
    let mut en = Vec::new();
    let mut zh = Vec::new();
    for (role, state, n) in &s.0 {
        let r = S.text(
            match role {
                Role::Client => "wire.role.client",
                Role::Server => "wire.role.server",
                Role::Listener => "wire.role.listener",
            },
            &[],
        );
        let times = if *n > 1 { format!(" ×{n}") } else { String::new() };
        en.push(format!("{} {state}{times}", r.en));
        zh.push(format!("{} {state}{times}", r.zh));
    }
    Text {
        en: en.join(" · "),
        zh: zh.join(" · "),
    }
}

/// Packets with the same flow, direction, flags, numbers and length, the later ones retries.
fn groups(w: &Wire) -> Vec<Vec<&Packet>> {
    let mut out: Vec<Vec<&Packet>> = Vec::new();
    for p in &w.packets {
        let same = |q: &&Packet| {
            q.flow == p.flow
                && q.dir == p.dir
                && q.flags == p.flags
                && q.seq == p.seq
                && q.ack == p.ack
                && q.len == p.len
        };
        match out.iter_mut().find(|g| p.cause == Cause::Retry && same(&g[0])) {
            Some(g) => g.push(p),
            None => out.push(vec![p]),
        }
    }
    out
}

fn ms(t: f64) -> String {
    if t >= 100.0 {
        format!("{t:.0}")
    } else {
        format!("{t:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The ladder of these scenarios; `id` names the table, `title` heads it.
pub fn ladder(id: &str, title: Text, wires: &[Named], per_packet: bool) -> Table {
    let cols: Vec<(&str, Text)> = COLS
        .iter()
        .map(|k| (*k, S.text(&format!("wire.col.{k}"), &[])))
        .collect();
    let mut t = Table::localized(id, title, &cols);
    t.code(&["data"]);
    t.detail(&["seq", "ack"]);
    if wires.len() < 2 {
        t.columns.retain(|c| c.key != "scenario");
    }
    if wires.iter().all(|w| w.wire.flows.len() < 2) {
        t.columns.retain(|c| c.key != "flow");
    }
    for n in wires {
        let name = t.label(n.name.clone());
        let rows: Vec<Vec<&Packet>> = if per_packet {
            n.wire.packets.iter().map(|p| vec![p]).collect()
        } else {
            groups(n.wire)
        };
        for g in rows {
            let p = g[0];
            let dir = t.label(S.text(
                match p.dir {
                    Dir::ClientToServer => "wire.dir.client_to_server",
                    Dir::ServerToClient => "wire.dir.server_to_client",
                },
                &[],
            ));
            let times: Vec<String> = g.iter().map(|q| ms(q.t_ms)).collect();
            let cause = if g.len() > 1 {
                t!(
                    S,
                    "wire.cause.sent_times",
                    cause = cause_text(p.cause),
                    n = g.len()
                )
            } else {
                cause_text(p.cause)
            };
            let cause = t.label(cause);
            let states = g
                .iter()
                .rev()
                .find_map(|q| q.states.as_ref())
                .map(|s| t.label(states_text(s)));
            t.push(row! {
                "scenario" => name.clone(), "flow" => p.flow, "t_ms" => times.join(", "),
                "dir" => dir, "flags" => p.flags.as_str(), "seq" => p.seq, "ack" => p.ack,
                "len" => p.len, "data" => (!p.preview.is_empty()).then_some(p.preview.as_str()),
                "cause" => cause, "states" => states,
            });
        }
    }
    notes(&mut t, wires);
    t
}

/// The bounds, hits of a bound, and the pcap files.
fn notes(t: &mut Table, wires: &[Named]) {
    use crate::sys::capture::{MAX_BYTES, MAX_PACKETS, SNAPLEN};
    t.note_text(t!(
        S,
        "wire.note.caps",
        packets = MAX_PACKETS,
        bytes = MAX_BYTES,
        snaplen = SNAPLEN
    ));
    for n in wires {
        if let Some(c) = &n.wire.capped {
            t.note_text(t!(
                S,
                "wire.note.capped",
                scenario = n.wire.scenario,
                cap = cap_text(c)
            ));
        }
        if !n.wire.stamped {
            t.note_text(t!(S, "wire.note.unstamped", scenario = n.wire.scenario));
        }
    }
    let files: Vec<&str> = wires.iter().filter_map(|n| n.wire.pcap.as_deref()).collect();
    if !files.is_empty() {
        t.note_text(t!(S, "wire.note.pcap", files = files.join(", ")));
    }
}

/// The bound a capture hit, in both languages ("packets", "bytes", "kernel dropped N").
pub fn cap_text(c: &str) -> Text {
    match c.strip_prefix("kernel dropped ") {
        Some(n) => t!(S, "wire.cap.dropped", n = n),
        None if c == "packets" || c == "bytes" => S.text(&format!("wire.cap.{c}"), &[]),
        None => Text::same(c),
    }
}

/// Whether grouping folded any retries (then `--detail` has a per-packet table to add).
pub fn has_retries(wires: &[Named]) -> bool {
    wires
        .iter()
        .any(|n| n.wire.packets.iter().any(|p| p.cause == Cause::Retry))
}

/// The grouped ladder, and with retries the per-packet one as a detail table `<id>_all`.
pub fn ladders(id: &str, title: Text, wires: &[Named]) -> Vec<Table> {
    let mut v = vec![ladder(id, title.clone(), wires, false)];
    if has_retries(wires) {
        let mut all = ladder(
            &format!("{id}_all"),
            t!(S, "wire.every_packet", title = title),
            wires,
            true,
        );
        all.detail = true;
        all.expands = Some(id.to_string());
        v.push(all);
    }
    v
}
