//! `lab reuseaddr --pcap DIR` checked against real tools: tcpdump and tshark read every file,
//! per flow the SYN, SYN-ACK, FIN and RST counts equal the report's, and the ladder's flags
//! match tshark's packet by packet.

mod common;

use common::stdout_of;
use std::process::Command;
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// `tshark -r FILE -T fields -e tcp.flags`: one hex flag byte per packet.
fn tshark_flags(file: &str) -> Vec<u8> {
    let out = Command::new("tshark")
        .args(["-r", file, "-T", "fields", "-e", "tcp.flags"])
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
        .filter(|l| !l.is_empty())
        .map(|l| {
            u8::from_str_radix(l.trim().trim_start_matches("0x").trim_start_matches("0"), 16).unwrap_or(0)
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

#[test]
fn pcap_files_agree_with_tcpdump_and_tshark() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
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
        let tcpdump = Command::new("tcpdump")
            .args(["-nn", "-r", file])
            .output()
            .unwrap();
        assert!(tcpdump.status.success(), "tcpdump -r {file}");
        let flags = tshark_flags(file);
        let count = |f: &dyn Fn(u8) -> bool| flags.iter().filter(|b| f(**b)).count() as u64;
        let c = &w["counts"];
        assert_eq!(c["syn"], count(&|b| b & 0x12 == 0x02), "{file} SYN");
        assert_eq!(c["syn_ack"], count(&|b| b & 0x12 == 0x12), "{file} SYN-ACK");
        assert_eq!(c["fin"], count(&|b| b & 0x01 != 0), "{file} FIN");
        assert_eq!(c["rst"], count(&|b| b & 0x04 != 0), "{file} RST");
        assert_eq!(c["syn"], 1, "{file}: one connection per scenario");
        let ladder: Vec<&str> = w["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["flags"].as_str().unwrap())
            .collect();
        let theirs: Vec<String> = flags.iter().map(|b| names(*b)).collect();
        assert_eq!(ladder, theirs, "{file}: the ladder's flags are tshark's");
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
