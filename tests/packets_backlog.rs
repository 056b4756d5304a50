//! `lab backlog --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's, the main run's SYNs are
//! the clients plus the retries the report counts, and the ladder's flags are tshark's.

mod common;

use common::stdout_of;
use std::process::Command;
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// `tshark -r FILE -T fields -e tcp.stream -e tcp.flags`: (stream, flag byte) per packet.
fn tshark(file: &str) -> Vec<(usize, u8)> {
    let out = Command::new("tshark")
        .args(["-r", file, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.flags"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (stream, flags) = l.split_once('\t').expect("two fields");
            let flags = u8::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
            (stream.trim().parse().expect("a stream number"), flags)
        })
        .collect()
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

/// The four counts of these flag bytes, as the report names them.
fn counts(flags: impl Iterator<Item = u8> + Clone) -> [u64; 4] {
    let n = |f: fn(u8) -> bool| flags.clone().filter(|b| f(*b)).count() as u64;
    [
        n(|b| b & 0x12 == 0x02),
        n(|b| b & 0x12 == 0x12),
        n(|b| b & 0x01 != 0),
        n(|b| b & 0x04 != 0),
    ]
}

fn report_counts(c: &serde_json::Value) -> [u64; 4] {
    ["syn", "syn_ack", "fin", "rst"].map(|k| c[k].as_u64().unwrap())
}

#[test]
fn pcap_files_agree_with_tcpdump_and_tshark() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        common::lab()
            .args([
                "backlog",
                "--clients",
                "20",
                "--format",
                "json",
                "--leak-check",
                "--pcap",
            ])
            .arg(dir.path())
            .timeout(Duration::from_secs(90)),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let Some(wires) = v["data"]["wire"]["Ok"].as_array() else {
        eprintln!("skipped: no capture here: {}", v["data"]["wire"]);
        return;
    };
    // The main run, 6 sweep values, 6 listen() cases, 4 retry batches.
    assert_eq!(wires.len(), 17, "every scenario has its capture");
    let written = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(written, wires.len(), "one pcap file per scenario");
    for w in wires {
        let file = w["pcap"].as_str().expect("a pcap file per scenario");
        let tcpdump = Command::new("tcpdump")
            .args(["-nn", "-r", file])
            .output()
            .unwrap();
        assert!(tcpdump.status.success(), "tcpdump -r {file}");
        let packets = tshark(file);
        let all = packets.iter().map(|p| p.1);
        assert_eq!(report_counts(&w["counts"]), counts(all), "{file}: all flows");
        // tshark numbers streams by first appearance, as the ladder numbers its flows.
        let flows = w["flows"].as_array().unwrap();
        let streams = packets.iter().map(|p| p.0).max().map_or(0, |m| m + 1);
        assert_eq!(flows.len(), streams, "{file}: flows");
        for (i, f) in flows.iter().enumerate() {
            let mine = packets.iter().filter(|p| p.0 == i).map(|p| p.1);
            assert_eq!(report_counts(f), counts(mine), "{file}: conn. {}", i + 1);
        }
        let ladder: Vec<&str> = w["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["flags"].as_str().unwrap())
            .collect();
        let theirs: Vec<String> = packets.iter().map(|p| names(p.1)).collect();
        assert_eq!(ladder, theirs, "{file}: the ladder's flags are tshark's");
    }
    let main = wires
        .iter()
        .find(|w| w["scenario"] == "main")
        .expect("the main run");
    let clients = v["data"]["main"]["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 20);
    let retries: u64 = clients
        .iter()
        .map(|c| c["syn_retries_ms"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(
        main["counts"]["syn"],
        clients.len() as u64 + retries,
        "SYNs = clients + retries"
    );
    let f = v["findings"].as_array().unwrap();
    assert!(f.iter().any(|f| f["id"] == "syn_retries_on_wire"), "{f:?}");
}
