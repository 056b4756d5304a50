//! `lab options --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's `data.wire`, the ladder's
//! flags are tshark's packet by packet, and in tshark's view the SO_LINGER {1, 0} close sends
//! an RST and no FIN from the closing side (the unread-data close likewise from the server).

mod common;

use common::stdout_of;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// One TCP packet as tshark reads it.
struct Seen {
    stream: u32,
    src_port: u16,
    flags: u8,
}

/// `tshark -r FILE -T fields -e tcp.stream -e tcp.srcport -e tcp.flags`: the TCP packets in
/// file order (other frames, such as ARP on the veth, have empty fields and are skipped).
fn tshark(file: &str) -> Vec<Seen> {
    let out = Command::new("tshark")
        .args([
            "-r",
            file,
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.srcport",
            "-e",
            "tcp.flags",
        ])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut v = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').map(str::trim).collect();
        if f.len() < 3 || f[2].is_empty() {
            continue;
        }
        let hex = f[2].trim_start_matches("0x");
        v.push(Seen {
            stream: f[0].parse().unwrap(),
            src_port: f[1].parse().unwrap(),
            // The low byte: FIN..URG (ECE and CWR above it are not in the ladder).
            flags: (u16::from_str_radix(hex, 16).unwrap() & 0xff) as u8,
        });
    }
    v
}

fn names(bits: u8) -> String {
    let n = [
        (0x01, "FIN"),
        (0x02, "SYN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x10, "ACK"),
        (0x20, "URG"),
    ];
    n.iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, s)| *s)
        .collect::<Vec<_>>()
        .join(",")
}

/// SYN, SYN-ACK, FIN, RST counts of some packets, as the report's JSON spells them.
fn counts<'a>(flags: impl Iterator<Item = &'a u8> + Clone) -> serde_json::Value {
    let n = |f: &dyn Fn(u8) -> bool| flags.clone().filter(|b| f(**b)).count() as u64;
    serde_json::json!({
        "syn": n(&|b| b & 0x12 == 0x02),
        "syn_ack": n(&|b| b & 0x12 == 0x12),
        "fin": n(&|b| b & 0x01 != 0),
        "rst": n(&|b| b & 0x04 != 0),
    })
}

/// Runs the lab, checks every scenario's file against tcpdump and tshark, and returns
/// tshark's packets per scenario with the scenario's server port.
fn check(args: &[&str], wait: Duration) -> Option<BTreeMap<String, (u16, Vec<Seen>)>> {
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
        let tcpdump = Command::new("tcpdump")
            .args(["-nn", "-r", file])
            .output()
            .unwrap();
        assert!(
            tcpdump.status.success(),
            "tcpdump -r {file}: {}",
            String::from_utf8_lossy(&tcpdump.stderr)
        );
        let theirs = tshark(file);
        let flags: Vec<u8> = theirs.iter().map(|s| s.flags).collect();
        assert_eq!(w["counts"], counts(flags.iter()), "{file}: all flows");
        // Flow N of the ladder is the N-th TCP stream tshark numbers (first seen first).
        let mut streams: Vec<u32> = Vec::new();
        for s in &theirs {
            if !streams.contains(&s.stream) {
                streams.push(s.stream);
            }
        }
        let flows = w["flows"].as_array().unwrap();
        assert_eq!(flows.len(), streams.len(), "{file}: flows");
        for (i, (flow, stream)) in flows.iter().zip(&streams).enumerate() {
            let of: Vec<u8> = theirs
                .iter()
                .filter(|s| s.stream == *stream)
                .map(|s| s.flags)
                .collect();
            assert_eq!(*flow, counts(of.iter()), "{file}: flow {}", i + 1);
        }
        let ladder: Vec<&str> = w["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["flags"].as_str().unwrap())
            .collect();
        let theirs_names: Vec<String> = flags.iter().map(|b| names(*b)).collect();
        assert_eq!(ladder, theirs_names, "{file}: the ladder's flags are tshark's");
        let port = w["server_port"].as_u64().unwrap() as u16;
        seen.insert(w["scenario"].as_str().unwrap().to_string(), (port, theirs));
    }
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, wires.len(), "one file per scenario");
    Some(seen)
}

/// RSTs and FINs tshark saw from the client side (ports other than the server's) or the server.
fn rst_fin(packets: &[Seen], port: u16, from_server: bool) -> (usize, usize) {
    let from: Vec<&Seen> = packets
        .iter()
        .filter(|s| (s.src_port == port) == from_server)
        .collect();
    let n = |bit: u8| from.iter().filter(|s| s.flags & bit != 0).count();
    (n(0x04), n(0x01))
}

#[test]
fn close_scenarios_agree_with_tcpdump_and_tshark() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
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
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
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
