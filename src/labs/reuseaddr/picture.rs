//! The restart as a sequence diagram for the docs: the 0/0 restart's packets between the
//! server and the client, the states the socket table showed, then the new server's bind()
//! in the 0/0 and 1/1 cells. A pure function of the measured [`Data`].

use super::measure::{Data, Restart};
use super::STRINGS as S;
use crate::labs::wire::{table::states_text, Dir, Role, States, Wire};
use crate::report::picture::{Arrow, Kind, Picture, Sequence, Step};
use crate::report::{Call, Text};
use crate::t;

pub fn pictures(d: &Data) -> Vec<Picture> {
    let Ok(wires) = &d.wire else {
        return Vec::new();
    };
    let Some(w) = wires.iter().find(|w| w.scenario == "restart_0_0") else {
        return Vec::new();
    };
    let mut steps = packet_steps(w);
    for (old, new) in [(0, 0), (1, 1)] {
        if let Some(r) = d.restarts.iter().find(|r| r.old == old && r.new == new) {
            steps.push(rebind_step(r));
        }
    }
    vec![Picture {
        id: "restart".into(),
        title: t!(S, "picture.restart.title"),
        kind: Kind::Sequence(Sequence {
            left: t!(S, "role.server"),
            right: t!(S, "role.client"),
            steps,
        }),
    }]
}

/// The states of one side in a mark (the listener left out), or None when it has none.
fn side(states: &States, server: bool) -> Option<Text> {
    let kept: Vec<_> = states
        .0
        .iter()
        .filter(|(r, _, _)| {
            if server {
                *r == Role::Server
            } else {
                *r == Role::Client
            }
        })
        .cloned()
        .collect();
    (!kept.is_empty()).then(|| states_text(&States(kept)))
}

fn packet_steps(w: &Wire) -> Vec<Step> {
    w.packets
        .iter()
        .map(|p| {
            let label = if p.len > 0 {
                t!(
                    S,
                    "picture.restart.data",
                    flags = p.flags,
                    len = p.len,
                    data = p.preview
                )
            } else {
                Text::same(&p.flags)
            };
            Step {
                arrow: Some(match p.dir {
                    Dir::ServerToClient => Arrow::LeftToRight,
                    Dir::ClientToServer => Arrow::RightToLeft,
                }),
                label,
                t_ms: Some(p.t_ms),
                left_state: p.states.as_ref().and_then(|s| side(s, true)),
                right_state: p.states.as_ref().and_then(|s| side(s, false)),
                bad: p.flags.contains("RST"),
            }
        })
        .collect()
}

/// The new server's bind() in one cell, with the TIME-WAIT it met.
fn rebind_step(r: &Restart) -> Step {
    let result = match &r.bind {
        Call::Ok => Text::same("ok"),
        Call::Err(e) => Text::same(e),
    };
    Step {
        arrow: None,
        label: t!(
            S,
            "picture.restart.rebind",
            old = r.old,
            new = r.new,
            result = result
        ),
        t_ms: None,
        left_state: r
            .time_wait
            .as_ref()
            .map(|tw| t!(S, "picture.restart.time_wait", left_s = tw.left_ms / 1000)),
        right_state: None,
        bad: !r.bind.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labs::wire::{Cause, Packet};
    use crate::report::Unmeasured;

    fn data() -> Data {
        let tw = super::super::measure::TimeWait {
            local: "127.0.0.1:7000".parse().unwrap(),
            remote: "127.0.0.1:40000".parse().unwrap(),
            left_ms: 59_000,
        };
        let restart = |old, new, bind: Call| Restart {
            old,
            new,
            time_wait: Some(tw.clone()),
            bind,
            listen: None,
        };
        let mut fin = Packet::bare(0.5, Dir::ServerToClient, "FIN,ACK", Cause::Close);
        fin.states = Some(States(vec![
            (Role::Client, "CLOSE-WAIT".into(), 1),
            (Role::Server, "FIN-WAIT-1".into(), 1),
            (Role::Listener, "LISTEN".into(), 1),
        ]));
        Data {
            readback: Vec::new(),
            restarts: vec![
                restart(0, 0, Call::Err("EADDRINUSE".into())),
                restart(1, 1, Call::Ok),
            ],
            scenarios: Vec::new(),
            isolated: true,
            wire: Ok(vec![Wire::of(
                "restart_0_0",
                7000,
                vec![Packet::bare(0.0, Dir::ClientToServer, "SYN", Cause::Connect), fin],
            )]),
        }
    }

    #[test]
    fn the_restart_diagram_follows_the_packets_then_the_rebinds() {
        let p = pictures(&data());
        assert_eq!(p.len(), 1);
        let Kind::Sequence(s) = &p[0].kind else {
            panic!("a sequence diagram")
        };
        assert_eq!(s.steps.len(), 4, "two packets, two rebinds");
        assert_eq!(
            s.steps[0].arrow,
            Some(Arrow::RightToLeft),
            "the client's SYN goes to the server"
        );
        assert_eq!(s.steps[1].left_state.as_ref().unwrap().en, "server FIN-WAIT-1");
        assert_eq!(s.steps[1].right_state.as_ref().unwrap().en, "client CLOSE-WAIT");
        assert!(s.steps[2].bad && s.steps[2].label.en.contains("EADDRINUSE"));
        assert!(!s.steps[3].bad && s.steps[3].label.en.ends_with("ok"));
    }

    #[test]
    fn no_capture_no_diagram() {
        let mut d = data();
        d.wire = Err(Unmeasured::NoSandbox);
        assert!(pictures(&d).is_empty());
    }
}
