//! Tables and notes: pure functions of the measured [`Data`].

use super::measure::{Data, Scenario, ScenarioRun, TimeWait};
use super::STRINGS as S;
use crate::report::{Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    vec![readback(d), restart(d), scenarios(d)]
}

pub fn notes(d: &Data) -> Vec<Text> {
    if d.isolated {
        Vec::new()
    } else {
        vec![t!(S, "note.shared_namespace")]
    }
}

fn readback(d: &Data) -> Table {
    let mut t = Table::from_catalogue(&S, "readback", &["option", "socket", "value", "set", "read"]);
    for r in &d.readback {
        let read: Cell = match &r.read {
            Some(Ok(v)) => (*v).into(),
            Some(Err(e)) => e.into(),
            None => Cell::Null,
        };
        let socket = if r.tcp { "TCP" } else { "UDP" };
        t.push(row! { "option" => r.option, "socket" => socket, "value" => r.value, "set" => r.set, "read" => read });
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
