//! `lab all --pcap DIR` checked against real tools, for every lab that captures: tcpdump and
//! tshark read every file written under DIR, every lab whose `data.wire` is an Ok list of
//! captures has its files there, and for each capture the SYN, SYN-ACK, FIN and RST counts
//! per connection equal tshark's, and the ladder's flags equal tshark's packet by packet.
//! Generic over `data.wire` (a list of {"pcap", "counts", "flows", "packets"}), so a lab
//! that starts capturing is covered without a change here.

mod common;

use common::stdout_of;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Every .pcap file under `dir`, at any depth (bounded: lab all writes two levels).
fn pcap_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            pcap_files(&p, depth + 1, out);
        } else if p.extension().is_some_and(|x| x == "pcap") {
            out.push(p);
        }
    }
}

/// One TCP packet as tshark reads it.
struct Theirs {
    stream: u32,
    flags: u8,
    ports: (u16, u16),
}

/// `tshark -r FILE -T fields -e tcp.stream -e tcp.flags -e tcp.srcport -e tcp.dstport`.
fn tshark(file: &Path) -> Vec<Theirs> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-e", "tcp.stream", "-e", "tcp.flags"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('\t').collect();
            let [stream, flags, src, dst] = f[..] else {
                return None;
            };
            let hex = flags.trim_start_matches("0x");
            Some(Theirs {
                stream: stream.parse().ok()?,
                flags: u8::from_str_radix(&hex[hex.len().saturating_sub(2)..], 16).ok()?,
                ports: (src.parse().ok()?, dst.parse().ok()?),
            })
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
fn counts(flags: impl Iterator<Item = u8>) -> Value {
    let (mut syn, mut syn_ack, mut fin, mut rst) = (0u64, 0u64, 0u64, 0u64);
    for b in flags {
        syn += (b & 0x12 == 0x02) as u64;
        syn_ack += (b & 0x12 == 0x12) as u64;
        fin += (b & 0x01 != 0) as u64;
        rst += (b & 0x04 != 0) as u64;
    }
    serde_json::json!({"syn": syn, "syn_ack": syn_ack, "fin": fin, "rst": rst})
}

/// Checks one capture of a report against its file.
fn check(lab: &str, w: &Value) {
    let file = PathBuf::from(
        w["pcap"]
            .as_str()
            .unwrap_or_else(|| panic!("{lab}: a pcap file per capture: {w}")),
    );
    assert!(file.is_file(), "{lab}: {} was written", file.display());
    let port = w["server_port"].as_u64().unwrap() as u16;
    // The ladder holds the segments to and from the server's port; so does this.
    let theirs: Vec<Theirs> = tshark(&file)
        .into_iter()
        .filter(|p| p.ports.0 == port || p.ports.1 == port)
        .collect();
    let ladder: Vec<&str> = w["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["flags"].as_str().unwrap())
        .collect();
    let their_flags: Vec<String> = theirs.iter().map(|p| names(p.flags)).collect();
    assert_eq!(
        ladder,
        their_flags,
        "{lab} {}: the ladder's flags are tshark's",
        file.display()
    );
    assert_eq!(
        w["counts"],
        counts(theirs.iter().map(|p| p.flags)),
        "{lab} {}",
        file.display()
    );
    // tshark's streams in the order they first appear are the report's flows 1, 2, ...
    let mut streams: Vec<u32> = Vec::new();
    for p in &theirs {
        if !streams.contains(&p.stream) {
            streams.push(p.stream);
        }
    }
    let flows = w["flows"].as_array().unwrap();
    assert_eq!(
        flows.len(),
        streams.len(),
        "{lab} {}: connections",
        file.display()
    );
    for (i, s) in streams.iter().enumerate() {
        let per = counts(theirs.iter().filter(|p| p.stream == *s).map(|p| p.flags));
        assert_eq!(flows[i], per, "{lab} {}: connection {}", file.display(), i + 1);
    }
}

#[test]
fn every_lab_s_pcap_files_agree_with_tcpdump_and_tshark() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(
        common::lab()
            .args(["all", "--format", "json", "--pcap"])
            .arg(dir.path())
            .timeout(Duration::from_secs(120)),
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    let mut files = Vec::new();
    pcap_files(dir.path(), 0, &mut files);
    for f in &files {
        let tcpdump = Command::new("tcpdump")
            .arg("-nn")
            .arg("-r")
            .arg(f)
            .output()
            .unwrap();
        assert!(
            tcpdump.status.success(),
            "tcpdump -nn -r {}: {}",
            f.display(),
            String::from_utf8_lossy(&tcpdump.stderr)
        );
    }
    let mut checked = 0;
    for r in v["reports"].as_array().unwrap() {
        let lab = r["lab"].as_str().unwrap_or("?");
        let Some(wires) = r["data"]["wire"]["Ok"].as_array() else {
            continue;
        };
        for w in wires {
            check(lab, w);
            checked += 1;
            let f = PathBuf::from(w["pcap"].as_str().unwrap());
            assert!(
                f.starts_with(dir.path().join(lab)),
                "{lab}: {} is in DIR/{lab}/",
                f.display()
            );
        }
    }
    let listed: usize = v["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["data"]["wire"]["Ok"].as_array())
        .map(|w| w.len())
        .sum();
    assert_eq!(
        files.len(),
        listed,
        "every file written is a capture a report names"
    );
    if checked == 0 {
        eprintln!("skipped: no lab captured here (no private namespace?)");
    }
}
