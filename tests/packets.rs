//! `lab reuseaddr --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's, and the ladder's flags
//! match tshark's packet by packet.

mod common;

use common::stdout_of;
use common::wire::{check_capture, have_tools, tcpdump_reads};
use std::path::Path;
use std::time::Duration;

#[test]
fn pcap_files_agree_with_tcpdump_and_tshark() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        common::lab()
            .args(["reuseaddr", "--format", "json", "--leak-check", "--pcap"])
            .arg(dir.path())
            .timeout(Duration::from_secs(60)),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let Some(wires) = v["data"]["wire"]["Ok"].as_array() else {
        eprintln!("skipped: no capture here: {}", v["data"]["wire"]);
        return;
    };
    assert_eq!(wires.len(), 10, "nine restart cells and client-closes-first");
    for w in wires {
        let file = w["pcap"].as_str().expect("a pcap file per scenario");
        tcpdump_reads(Path::new(file));
        check_capture("reuseaddr", w);
        assert_eq!(w["counts"]["syn"], 1, "{file}: one connection per scenario");
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.contains(&"restart-0-0.pcap".to_string())
            && names.contains(&"client-closes-first.pcap".to_string()),
        "{names:?}"
    );
}
