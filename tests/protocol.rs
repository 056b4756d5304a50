//! `lab protocol` as a user meets it: the kernel's answers in every format, no fd left
//! open, and the same lab run by an unprivileged user.

mod common;

use common::{is_root, lab, rows, stdout_text, unprivileged_json};
use serde_json::Value;

/// `lab protocol ARGS --format json`.
fn json(args: &[&str]) -> Value {
    common::json(&[&["protocol"], args].concat())
}

/// The first privilege column that was measured in this row.
fn measured(row: &Value) -> &Value {
    ["root", "userns", "unprivileged"]
        .iter()
        .map(|k| &row[*k])
        .find(|c| !c.is_null())
        .unwrap_or_else(|| panic!("no column measured: {row}"))
}

fn cell<'a>(v: &'a Value, domain: &str, ty: &str, protocol: i64) -> &'a Value {
    rows(v, "matrix")
        .iter()
        .find(|r| r["domain"] == domain && r["type"] == ty && r["protocol"] == protocol)
        .unwrap_or_else(|| panic!("no cell {domain} {ty} {protocol}"))
}

fn default_protocol(v: &Value, domain: &str, ty: &str) -> Value {
    rows(v, "defaults")
        .iter()
        .find(|r| r["domain"] == domain && r["type"] == ty)
        .unwrap()["so_protocol"]
        .clone()
}

/// What every run must show, whoever runs it.
fn assert_kernel_answers(v: &Value) {
    assert_eq!(v["lab"], "protocol");
    assert_eq!(
        default_protocol(v, "AF_INET", "SOCK_STREAM"),
        6,
        "STREAM + 0 is TCP"
    );
    assert_eq!(
        default_protocol(v, "AF_INET", "SOCK_DGRAM"),
        17,
        "DGRAM + 0 is UDP"
    );
    let mismatch = cell(v, "AF_INET", "SOCK_STREAM", 17);
    assert_eq!(measured(mismatch), "EPROTONOSUPPORT", "{mismatch}");
    assert!(mismatch["read_back"].is_null());
    // Privilege does not change which protocol 0 picks.
    let tcp = cell(v, "AF_INET", "SOCK_STREAM", 0);
    for k in ["root", "userns", "unprivileged"] {
        assert!(tcp[k].is_null() || tcp[k] == "ok", "{tcp}");
    }
    let inet = rows(v, "constants")
        .iter()
        .find(|r| r["value"] == 2)
        .expect("AF_INET's value is 2 on Linux");
    assert_eq!(inet["names"], "AF_INET = PF_INET");
    for t in v["tables"].as_array().unwrap() {
        assert!(t["title_zh"].is_string(), "table {} needs a zh title", t["id"]);
    }
    for f in v["findings"].as_array().unwrap() {
        assert!(f["zh"]["claim"].is_string(), "finding needs zh: {f}");
    }
}

#[test]
fn json_shows_what_zero_becomes_and_what_fails() {
    let v = json(&[]);
    assert_kernel_answers(&v);
    assert!(v["elapsed_ms"].as_f64().unwrap() >= 0.0);
    let unix_seq = cell(&v, "AF_UNIX", "SOCK_SEQPACKET", 0);
    assert_eq!(measured(unix_seq), "ok", "AF_UNIX has SOCK_SEQPACKET");
    let unix_raw = cell(&v, "AF_UNIX", "SOCK_RAW", 0);
    if measured(unix_raw) == "ok" {
        // Whatever the kernel does with it, the table says what SO_TYPE reported.
        assert!(unix_raw["read_back"]
            .as_str()
            .unwrap()
            .starts_with("AF_UNIX SOCK_"));
    }
    let protocols = rows(&v, "protocols");
    assert_eq!(protocols.len(), 4);
    if std::path::Path::new("/etc/protocols").exists() {
        let tcp = protocols.iter().find(|r| r["name"] == "tcp").unwrap();
        assert_eq!(tcp["getprotobyname"], 6);
        assert!(tcp["line"].as_str().unwrap().starts_with("tcp 6"));
    }
}

#[test]
fn full_matrix_has_every_cell() {
    let v = json(&["--all"]);
    assert_kernel_answers(&v);
    let matrix = rows(&v, "matrix");
    for d in ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"] {
        for t in [
            "SOCK_STREAM",
            "SOCK_DGRAM",
            "SOCK_SEQPACKET",
            "SOCK_RAW",
            "SOCK_RDM",
        ] {
            assert!(
                matrix
                    .iter()
                    .filter(|r| r["domain"] == d && r["type"] == t)
                    .count()
                    >= 4,
                "{d} {t}"
            );
        }
    }
    // A created socket is always described; a failed one never is.
    for r in matrix {
        let any_ok = ["root", "userns", "unprivileged"].iter().any(|k| r[*k] == "ok");
        assert_eq!(any_ok, r["read_back"].is_string(), "{r}");
    }
    let compact = json(&[]);
    assert!(rows(&compact, "matrix").len() < matrix.len());
}

#[test]
fn markdown_and_table_formats() {
    let md = stdout_text(&["protocol", "--format", "markdown"]);
    assert!(md.contains("| domain | type | socket() | SO_DOMAIN | SO_TYPE | SO_PROTOCOL |"));
    assert!(md.contains("| AF_INET | SOCK_STREAM | ok | AF_INET (2) | SOCK_STREAM (1) | 6 | IPPROTO_TCP |"));
    let plain = stdout_text(&["protocol"]);
    assert!(plain.contains("AF_UNIX = AF_LOCAL = PF_UNIX = PF_LOCAL"));
    assert!(plain.contains("EPROTONOSUPPORT"));
    assert!(!plain.contains('│'), "piped tables use plain ASCII");
}

#[test]
fn every_socket_is_closed() {
    for args in [
        &["protocol", "--leak-check"][..],
        &["protocol", "--all", "--leak-check"],
        &["protocol", "--all", "--leak-check", "--no-sandbox"],
    ] {
        lab().args(args).assert().success();
    }
}

#[test]
fn unprivileged_run_has_no_root_column() {
    if !is_root() {
        return;
    }
    let v = unprivileged_json(&["protocol", "--all", "--leak-check"]);
    assert_eq!(v["environment"]["uid"], 65534);
    assert_kernel_answers(&v);
    for r in rows(&v, "matrix") {
        assert!(r["root"].is_null(), "root cannot be measured by uid 65534: {r}");
    }
    let raw = cell(&v, "AF_INET", "SOCK_RAW", 1);
    if !raw["unprivileged"].is_null() {
        assert_eq!(raw["unprivileged"], "EPERM", "no CAP_NET_RAW: {raw}");
    }
    let notes = v["notes"].to_string();
    assert!(notes.contains("not measured"), "{notes}");
}

#[test]
fn root_run_drops_privileges_in_a_child() {
    if !is_root() || !has_cap_net_raw() {
        return;
    }
    let v = json(&[]);
    let raw = cell(&v, "AF_INET", "SOCK_RAW", 1);
    assert_eq!(raw["root"], "ok", "root has CAP_NET_RAW: {raw}");
    assert_eq!(raw["unprivileged"], "EPERM", "uid 65534 has not: {raw}");
}

/// CAP_NET_RAW (bit 13) in this process's effective set (capabilities(7)).
fn has_cap_net_raw() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 13) != 0)
}

/// The typed data beside the tables: one outcome per attempt and column, as the cells show.
#[test]
fn typed_data_matches_the_matrix() {
    let v = json(&[]);
    let d = &v["data"];
    let attempts = d["attempts"].as_array().expect("data.attempts");
    let matrix = rows(&v, "matrix");
    assert_eq!(attempts.len(), matrix.len());
    let mut measured = 0;
    for k in ["root", "userns", "unprivileged"] {
        let Some(outcomes) = d["matrix"][k]["Ok"].as_array() else {
            assert!(
                matrix.iter().all(|r| r[k].is_null()),
                "{k} not measured, no cells"
            );
            continue;
        };
        measured += 1;
        for ((a, o), r) in attempts.iter().zip(outcomes).zip(matrix) {
            assert_eq!(a["protocol"], r["protocol"]);
            assert_eq!(o["socket"], r[k], "{a} as {k}");
            assert_eq!(o["socket"] == "ok", o["back"].is_object(), "{o}");
        }
    }
    assert!(measured >= 1, "at least one privilege level measured");
    let i = attempts
        .iter()
        .position(|a| a["domain"] == 2 && a["ty"] == 1 && a["protocol"] == 0)
        .unwrap();
    let first = ["root", "userns", "unprivileged"]
        .iter()
        .find_map(|k| d["matrix"][*k]["Ok"].as_array())
        .unwrap();
    assert_eq!(
        first[i]["back"]["Ok"]["protocol"], 6,
        "AF_INET SOCK_STREAM 0 is TCP"
    );
}
