//! `lab options --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's `data.wire`, the ladder's
//! flags are tshark's packet by packet, and in tshark's view the SO_LINGER {1, 0} close sends
//! an RST and no FIN from the closing side (the unread-data close likewise from the server).

mod common;

use common::stdout_of;
use common::wire::{check_capture, have_tools, tcpdump_reads, Theirs};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Runs the lab, checks every scenario's file against tcpdump and tshark, and returns
/// tshark's packets per scenario with the scenario's server port.
fn check(args: &[&str], wait: Duration) -> Option<BTreeMap<String, (u16, Vec<Theirs>)>> {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        common::lab()
            .args(["options", "--format", "json", "--leak-check"])
            .args(args)
            .arg("--pcap")
            .arg(dir.path())
            .timeout(wait),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let Some(wires) = v["data"]["wire"]["Ok"].as_array() else {
        eprintln!("skipped: no capture here: {}", v["data"]["wire"]);
        return None;
    };
    let mut seen = BTreeMap::new();
    for w in wires {
        let file = w["pcap"].as_str().expect("a pcap file per scenario");
        tcpdump_reads(Path::new(file));
        let theirs = check_capture("options", w);
        let port = w["server_port"].as_u64().unwrap() as u16;
        seen.insert(w["scenario"].as_str().unwrap().to_string(), (port, theirs));
    }
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, wires.len(), "one file per scenario");
    Some(seen)
}

/// RSTs and FINs tshark saw from the client side (ports other than the server's) or the server.
fn rst_fin(packets: &[Theirs], port: u16, from_server: bool) -> (usize, usize) {
    let from: Vec<&Theirs> = packets
        .iter()
        .filter(|s| (s.ports.0 == port) == from_server)
        .collect();
    let n = |bit: u8| from.iter().filter(|s| s.flags & bit != 0).count();
    (n(0x04), n(0x01))
}

#[test]
fn close_scenarios_agree_with_tcpdump_and_tshark() {
    if !have_tools() {
        return;
    }
    let Some(seen) = check(&[], Duration::from_secs(60)) else {
        return;
    };
    let keys: Vec<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "linger_0",
            "linger_1",
            "linger_1_reading",
            "linger_off",
            "unread_close"
        ]
    );
    // The client closes in the linger scenarios: {1, 0} resets, off sends FIN.
    let (port, p) = &seen["linger_0"];
    let (rst, fin) = rst_fin(p, *port, false);
    assert!(
        rst >= 1 && fin == 0,
        "linger {{1, 0}}: {rst} RST, {fin} FIN from the client"
    );
    let (port, p) = &seen["linger_off"];
    let (rst, fin) = rst_fin(p, *port, false);
    assert!(
        rst == 0 && fin >= 1,
        "linger off: {rst} RST, {fin} FIN from the client"
    );
    // The server closes with unread bytes: a reset, no FIN.
    let (port, p) = &seen["unread_close"];
    let (rst, fin) = rst_fin(p, *port, true);
    assert!(
        rst >= 1 && fin == 0,
        "unread close: {rst} RST, {fin} FIN from the server"
    );
}

#[test]
fn keepalive_runs_agree_with_tcpdump_and_tshark() {
    if !have_tools() {
        return;
    }
    // The keepalive runs wait about 3.5 s; the bound leaves room on a busy machine.
    let Some(seen) = check(&["--option", "SO_KEEPALIVE"], Duration::from_secs(60)) else {
        return;
    };
    let keys: Vec<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(keys, ["keepalive_present", "keepalive_vanished"]);
    // The vanished peer never answers; the client gives up with a reset.
    let (port, p) = &seen["keepalive_vanished"];
    let (rst, _) = rst_fin(p, *port, false);
    assert!(rst >= 1, "keepalive, peer gone: the client's RST");
}
