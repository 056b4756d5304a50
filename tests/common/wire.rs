//! Checking a report's `data.wire` captures against tcpdump and tshark.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Whether tcpdump and tshark are both installed.
/// Whether tcpdump and tshark are here; when not, says the test is skipped. With CI=true
/// (the test command installs them) a missing tool fails the test instead.
pub fn have_tools() -> bool {
    let there = have("tshark") && have("tcpdump");
    assert!(
        there || std::env::var("CI").as_deref() != Ok("true"),
        "tcpdump and tshark must be installed when CI=true (bash .ci/install-peers.sh)"
    );
    if !there {
        eprintln!("skipped: tcpdump and tshark are not installed (bash .ci/install-peers.sh)");
    }
    there
}

/// One TCP packet as tshark reads it.
pub struct Theirs {
    pub stream: u32,
    pub flags: u8,
    /// (source, destination)
    pub ports: (u16, u16),
}

/// `tshark -r FILE -T fields -e tcp.stream -e tcp.flags -e tcp.srcport -e tcp.dstport`: the
/// TCP packets in file order (other frames, such as ARP, have empty fields and are skipped).
pub fn tshark(file: &Path) -> Vec<Theirs> {
    let out = run(Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-T", "fields", "-e", "tcp.stream", "-e", "tcp.flags"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport"]));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('\t').collect();
            let [stream, flags, src, dst] = f[..] else {
                return None;
            };
            // The low byte: FIN..URG (ECE and CWR above it are not in the ladder).
            let hex = flags.trim_start_matches("0x");
            Some(Theirs {
                stream: stream.parse().ok()?,
                flags: u8::from_str_radix(&hex[hex.len().saturating_sub(2)..], 16).ok()?,
                ports: (src.parse().ok()?, dst.parse().ok()?),
            })
        })
        .collect()
}

/// A flag byte as the ladder spells it: "SYN,ACK".
pub fn names(bits: u8) -> String {
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

/// The SYN (without ACK), SYN-ACK, FIN and RST counts of these flag bytes, as the report
/// names them.
pub fn counts(flags: impl Iterator<Item = u8>) -> Value {
    let (mut syn, mut syn_ack, mut fin, mut rst) = (0u64, 0u64, 0u64, 0u64);
    for b in flags {
        syn += (b & 0x12 == 0x02) as u64;
        syn_ack += (b & 0x12 == 0x12) as u64;
        fin += (b & 0x01 != 0) as u64;
        rst += (b & 0x04 != 0) as u64;
    }
    json!({"syn": syn, "syn_ack": syn_ack, "fin": fin, "rst": rst})
}

/// Asserts `tcpdump -nn -r FILE` succeeds.
pub fn tcpdump_reads(file: &Path) {
    run(Command::new("tcpdump").arg("-nn").arg("-r").arg(file));
}

/// Runs `cmd`, asserts it succeeds, and returns its stdout.
fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Checks one `data.wire` capture ({"pcap", "server_port", "counts", "flows", "packets"})
/// against its file: the ladder's flags are tshark's packet by packet on the server's port,
/// the counts are tshark's in all and per flow, and tshark's streams in order of first
/// appearance are the flows 1, 2, ... Returns the packets it checked.
pub fn check_capture(label: &str, w: &Value) -> Vec<Theirs> {
    let file = PathBuf::from(
        w["pcap"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: a pcap file per capture: {w}")),
    );
    assert!(file.is_file(), "{label}: {} was written", file.display());
    let port = w["server_port"].as_u64().unwrap() as u16;
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
        "{label} {}: the ladder's flags are tshark's",
        file.display()
    );
    assert_eq!(
        w["counts"],
        counts(theirs.iter().map(|p| p.flags)),
        "{label} {}: all flows",
        file.display()
    );
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
        "{label} {}: connections",
        file.display()
    );
    for (i, s) in streams.iter().enumerate() {
        let per = counts(theirs.iter().filter(|p| p.stream == *s).map(|p| p.flags));
        assert_eq!(flows[i], per, "{label} {}: connection {}", file.display(), i + 1);
    }
    theirs
}
