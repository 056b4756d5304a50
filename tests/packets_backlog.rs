//! `lab backlog --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's, the main run's SYNs are
//! the clients plus the retries the report counts, and the ladder's flags are tshark's.

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
        tcpdump_reads(Path::new(file));
        check_capture("backlog", w);
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
