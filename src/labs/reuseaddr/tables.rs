//! Tables and notes: pure functions of the measured [`Data`].

use super::measure::{Data, Scenario, ScenarioRun, TimeWait};
use super::STRINGS as S;
use crate::labs::wire::{table as wire_table, Wire};
use crate::report::{Call, Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    let mut v = vec![readback(d), restart(d), scenarios(d)];
    if let Ok(w) = &d.wire {
        v.extend(ladder(w));
    }
    v
}

pub fn notes(d: &Data) -> Vec<Text> {
    let mut v = Vec::new();
    if !d.isolated {
        v.push(t!(S, "note.shared_namespace"));
    }
    if let Err(why) = &d.wire {
        v.push(t!(crate::report::COMMON, "wire.note.off", why = why.text()));
    }
    v
}

/// The wires the ladder table shows: the 0/0 and 1/1 restarts and client-closes-first.
pub const LADDER_SCENARIOS: [&str; 3] = ["restart_0_0", "restart_1_1", "client_closes_first"];

fn scenario_name(w: &Wire) -> Text {
    match w
        .scenario
        .strip_prefix("restart_")
        .and_then(|r| r.split_once('_'))
    {
        Some((old, new)) => t!(S, "ladder.scenario.restart", old = old, new = new),
        None => S.text(&format!("scenario.{}.name", w.scenario), &[]),
    }
}

/// The packets of the chosen scenarios, identical retries grouped.
fn ladder(wires: &[Wire]) -> Vec<Table> {
    let named: Vec<wire_table::Named> = wires
        .iter()
        .filter(|w| LADDER_SCENARIOS.contains(&w.scenario.as_str()))
        .map(|w| wire_table::Named {
            wire: w,
            name: scenario_name(w),
        })
        .collect();
    let mut v = wire_table::ladders("ladder", t!(S, "ladder.title"), &named);
    // The first-FIN finding quotes the packets; the terminal shows the ladder with --detail.
    v[0].detail = true;
    let files: Vec<&str> = wires.iter().filter_map(|w| w.pcap.as_deref()).collect();
    if files.len() > named.len() {
        v[0].note_text(t!(S, "ladder.note.pcap_all", dir = pcap_dir(&files)));
    }
    v
}

/// The directory the pcap files are in.
fn pcap_dir(files: &[&str]) -> String {
    files
        .first()
        .and_then(|f| std::path::Path::new(f).parent())
        .map_or(String::new(), |d| d.display().to_string())
}

/// One row per value set, one column per option and socket: what getsockopt read back.
fn readback(d: &Data) -> Table {
    let cols = ["value", "addr_tcp", "addr_udp", "port_tcp", "port_udp"];
    let mut t = Table::from_catalogue(&S, "readback", &cols);
    let mut values: Vec<i32> = Vec::new();
    for r in &d.readback {
        if !values.contains(&r.value) {
            values.push(r.value);
        }
    }
    for v in values {
        let mut row = row! { "value" => v };
        for r in d.readback.iter().filter(|r| r.value == v) {
            let key = match (r.option.as_str(), r.tcp) {
                ("SO_REUSEADDR", true) => "addr_tcp",
                ("SO_REUSEADDR", false) => "addr_udp",
                ("SO_REUSEPORT", true) => "port_tcp",
                _ => "port_udp",
            };
            let read: Cell = match (&r.set, &r.read) {
                (Call::Ok, Some(Ok(v))) => (*v).into(),
                (Call::Ok, Some(Err(e))) => e.into(),
                (set, _) => set.into(),
            };
            row.insert(key.into(), read);
        }
        t.push(row);
    }
    t.note_text(t!(S, "readback.note"));
    t
}

fn time_wait(t: &mut Table, tw: &Option<TimeWait>) -> Cell {
    let text = match tw {
        Some(tw) => t!(S, "cell.time_wait", local = tw.local, remote = tw.remote),
        None => t!(S, "cell.none"),
    };
    t.label(text)
}

fn restart(d: &Data) -> Table {
    let mut t = Table::from_catalogue(
        &S,
        "restart",
        &["old", "new", "time_wait", "tw_left_ms", "bind", "listen"],
    );
    for r in &d.restarts {
        let tw = time_wait(&mut t, &r.time_wait);
        t.push(row! {
            "old" => r.old, "new" => r.new, "time_wait" => tw,
            "tw_left_ms" => r.time_wait.as_ref().map(|t| t.left_ms),
            "bind" => r.bind, "listen" => r.listen,
        });
    }
    t.detail(&["time_wait"]);
    t.note_text(t!(S, "restart.note.length"));
    t.note_text(t!(S, "restart.note.both"));
    t
}

fn scenarios(d: &Data) -> Table {
    let cols = ["scenario", "first", "second", "holds", "bind", "listen", "detail"];
    let mut t = Table::from_catalogue(&S, "scenarios", &cols);
    for r in &d.scenarios {
        let k = r.scenario.key();
        let cell = |t: &mut Table, what: &str| t.label(S.text(&format!("scenario.{k}.{what}"), &[]));
        let (name, first, second) = (
            cell(&mut t, "name"),
            cell(&mut t, "first"),
            cell(&mut t, "second"),
        );
        let holds = match r.scenario {
            Scenario::ClientClosesFirst => time_wait(&mut t, &r.time_wait),
            _ => cell(&mut t, "holds"),
        };
        let detail = t.label(detail(r));
        t.push(row! {
            "scenario" => name, "first" => first, "second" => second, "holds" => holds,
            "bind" => r.bind, "listen" => r.listen, "detail" => detail,
        });
    }
    t.detail(&["first", "second", "detail"]);
    t
}

pub fn detail(r: &ScenarioRun) -> Text {
    let k = r.scenario.key();
    match (r.scenario, &r.first_listen, r.split) {
        (Scenario::BoundNotListening, Some(first), _) => {
            t!(S, "scenario.bound_not_listening.detail", first = first)
        }
        (Scenario::ReuseportShare, _, Some((a, b))) => {
            t!(
                S,
                "scenario.reuseport_share.detail",
                clients = a + b,
                a = a,
                b = b
            )
        }
        (Scenario::ReuseportShare, _, None) => t!(S, "scenario.reuseport_share.refused"),
        _ => S.text(&format!("scenario.{k}.detail"), &[]),
    }
}
