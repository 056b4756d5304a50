use super::*;
use crate::labs::backlog::fixture;
use crate::labs::wire::Packet;
use crate::report::Unmeasured;

/// A packet of one flow.
fn p(flow: u32, t: f64, dir: Dir, flags: &str, cause: Cause, len: u32) -> Packet {
    let mut p = Packet::bare(t, dir, flags, cause);
    p.flow = flow;
    p.len = len;
    p
}

/// The main run's wire as its clients tell it: SYNs, retries `gap` ms apart, the
/// handshake at connect, the line, and a phantom's line sent again 200 ms later.
fn main_wire(m: &MainRun, gap2: f64) -> Wire {
    use Dir::*;
    let mut v = Vec::new();
    for c in &m.clients {
        let f = c.index as u32 + 1;
        v.push(p(f, c.started_ms, ClientToServer, "SYN", Cause::Connect, 0));
        for k in 0..c.syn_retries() {
            let t = c.started_ms + 1000.0 + k as f64 * gap2;
            v.push(p(f, t, ClientToServer, "SYN", Cause::Retry, 0));
        }
        if let Some(t) = c.connected_ms {
            v.push(p(f, t, ServerToClient, "SYN,ACK", Cause::Listen, 0));
            v.push(p(f, t, ClientToServer, "ACK", Cause::Connect, 0));
            v.push(p(f, t + 0.3, ClientToServer, "PSH,ACK", Cause::Send, 9));
            if c.fate.is_phantom() {
                v.push(p(f, t + 200.0, ClientToServer, "PSH,ACK", Cause::Retry, 9));
            }
        }
    }
    v.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
    let mut w = Wire::of(key::MAIN, 7000, v);
    w.client_ports = m.clients.iter().map(|c| c.port).collect();
    w
}

/// The cookie batch: 3 clients, the last two answered by cookies.
fn cookie_wire() -> Wire {
    use Dir::*;
    let mut v = Vec::new();
    for f in 1..=3 {
        v.push(p(f, 0.1 * f as f64, ClientToServer, "SYN", Cause::Connect, 0));
        v.push(p(f, 1010.0, ServerToClient, "SYN,ACK", Cause::Listen, 0));
    }
    let mut w = Wire::of(&key::batch(1, 0), 7001, v);
    w.client_ports = vec![50000, 50001, 50002];
    w
}

fn data(gap2: f64) -> Data {
    let mut d = fixture::data();
    let m = d.main.clone().unwrap();
    if let Some(Ok(b)) = d.batches.as_mut().map(|b| &mut b[0].result) {
        b.cookie_ports = vec![50001, 50002];
        b.counters.insert("TcpExtSyncookiesSent".into(), 2);
    }
    d.wire = Ok(vec![main_wire(&m, gap2), cookie_wire()]);
    d
}

fn finding(d: &Data, id: &str) -> Finding {
    findings(d).into_iter().find(|f| f.id == id).unwrap()
}

#[test]
fn even_syn_retries_refute_the_doubling() {
    let f = finding(&data(1000.0), "syn_retries_on_wire");
    assert_eq!(f.verdict, Verdict::Refuted);
    // 20 clients, 18 of them with 2 retries: 56 SYNs.
    assert!(
        f.evidence
            .contains("56 SYNs on the wire = 20 clients + 36 retries (TCP_INFO: 36)"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("1000.0, 1000.0 ms"), "{}", f.evidence);
}

#[test]
fn doubling_syn_retries_confirm_it() {
    let f = finding(&data(2000.0), "syn_retries_on_wire");
    assert_eq!(f.verdict, Verdict::Confirmed, "{}", f.evidence);
}

#[test]
fn no_capture_leaves_the_retries_and_phantom_undecided() {
    let mut d = data(1000.0);
    d.wire = Err(Unmeasured::TurnedOff {
        by: "--no-capture".into(),
    });
    for id in ["syn_retries_on_wire", "cookie_syn_acks", "phantom_on_wire"] {
        assert_eq!(finding(&d, id).verdict, Verdict::Depends, "{id}");
    }
    assert!(finding(&d, "syn_retries_on_wire")
        .evidence
        .contains("--no-capture"));
    // One retry each cannot tell linear from doubling.
    let mut d = data(1000.0);
    for c in d.main.as_mut().unwrap().clients.iter_mut() {
        c.syn_retries_ms.truncate(1);
    }
    let m = d.main.clone().unwrap();
    d.wire.as_mut().unwrap()[0] = main_wire(&m, 1000.0);
    assert_eq!(finding(&d, "syn_retries_on_wire").verdict, Verdict::Depends);
}

#[test]
fn cookie_syn_acks_refute_one_request_per_syn_ack() {
    let f = finding(&data(1000.0), "cookie_syn_acks");
    assert_eq!(f.verdict, Verdict::Refuted);
    assert!(
        f.evidence
            .contains("3 SYN-ACKs on the wire, 2 (conn. 2, 3, at 1010.0 ms)"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("SyncookiesSent +2"), "{}", f.evidence);
    let zh = f.zh.unwrap().evidence;
    assert!(zh.contains("连接 2, 3"), "{zh}");
}

#[test]
fn no_cookie_confirms_it() {
    let mut d = data(1000.0);
    if let Some(Ok(b)) = d.batches.as_mut().map(|b| &mut b[0].result) {
        b.cookie_ports.clear();
    }
    let f = finding(&d, "cookie_syn_acks");
    assert_eq!(f.verdict, Verdict::Confirmed, "{}", f.evidence);
}

#[test]
fn a_phantoms_resent_line_refutes_the_last_ack_arrived() {
    let f = finding(&data(1000.0), "phantom_on_wire");
    assert_eq!(f.verdict, Verdict::Refuted);
    // The fixture's first never-accepted phantom is client 4 (conn. 5).
    assert!(f.evidence.contains("client 4 (conn. 5)"), "{}", f.evidence);
    assert!(f.evidence.contains("again at 2232.0 ms"), "{}", f.evidence);
}

#[test]
fn phantoms_without_a_resent_line_or_none_at_all_depend() {
    let mut d = data(1000.0);
    if let Ok(w) = d.wire.as_mut() {
        w[0].packets.retain(|p| !(p.cause == Cause::Retry && p.len > 0));
    }
    let f = finding(&d, "phantom_on_wire");
    assert_eq!(f.verdict, Verdict::Depends);
    assert!(f.evidence.contains("none of their lines"), "{}", f.evidence);
    let mut d = data(1000.0);
    for c in d.main.as_mut().unwrap().clients.iter_mut() {
        c.server_side = Some(ServerSide::Established);
        c.fate = Fate::of(c, 1200.0);
    }
    let f = finding(&d, "phantom_on_wire");
    assert_eq!(f.verdict, Verdict::Depends);
    assert!(f.evidence.contains("no client was a phantom"), "{}", f.evidence);
}

#[test]
fn the_timeline_has_one_lane_per_client_in_time_order() {
    let d = data(1000.0);
    let pics = pictures(&d);
    assert_eq!(pics.len(), 1);
    assert_eq!(pics[0].id, "timeline");
    let Kind::Timeline(tl) = &pics[0].kind else {
        panic!("a timeline")
    };
    assert_eq!(tl.lanes.len(), 20);
    assert_eq!(tl.lanes[0].label.en, "client 1");
    assert_eq!(tl.lanes[0].label.zh, "客户端 1");
    for lane in &tl.lanes {
        assert!(lane.events.windows(2).all(|e| e[0].t_ms <= e[1].t_ms), "{lane:?}");
        assert_eq!(lane.events[0].mark, Mark::Start);
    }
    let marks = |i: usize| tl.lanes[i].events.iter().map(|e| e.mark).collect::<Vec<_>>();
    assert_eq!(marks(0), [Mark::Start, Mark::Ok, Mark::Accepted]);
    assert_eq!(
        marks(4),
        [Mark::Start, Mark::Retry, Mark::Retry, Mark::Ok, Mark::Lost]
    );
    assert_eq!(tl.legend.len(), 6);
    assert!(tl
        .legend
        .iter()
        .all(|(_, t)| !t.en.is_empty() && !t.zh.is_empty()));
}

#[test]
fn the_ladders_are_detail_tables() {
    let t = tables(&data(1000.0));
    let ids: Vec<&str> = t.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["ladder", "ladder_all", "ladder_cookies"]);
    assert!(t.iter().all(|t| t.detail));
}
