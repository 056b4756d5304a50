//! `lab options` as a user runs it: what the kernel and the peer did, in every format.

mod common;

use common::{is_root, lab, leak_check, stdout_text, table, unprivileged_json};
use serde_json::Value;

/// `lab options ARGS --format json`.
fn json(args: &[&str]) -> Value {
    common::json(&[&["options"], args].concat())
}

/// The rows of a table already found.
fn rows(t: &Value) -> &Vec<Value> {
    t["rows"].as_array().unwrap()
}

fn row(t: &Value, pred: impl Fn(&Value) -> bool) -> &Value {
    rows(t)
        .iter()
        .find(|r| pred(r))
        .unwrap_or_else(|| panic!("no such row in {}", t["id"]))
}

#[test]
fn sndbuf_4096_reads_back_8192() {
    let r = json(&["--option", "SO_SNDBUF"]);
    let b = table(&r, "buffers");
    let r4096 = row(b, |r| r["option"] == "SO_SNDBUF" && r["value"] == 4096);
    assert_eq!(r4096["read"], 8192);
    assert_eq!(r4096["matches"], true);
    // The floor and the cap are real limits: 0 is raised, and 10 MB is held to
    // 2 × wmem_max, whatever this machine's wmem_max is (it may be above 10 MB).
    let floor = row(b, |r| r["option"] == "SO_SNDBUF" && r["value"] == 0)["read"]
        .as_i64()
        .unwrap();
    let cap = row(b, |r| r["option"] == "SO_SNDBUF" && r["value"] == 10_000_000)["read"]
        .as_i64()
        .unwrap();
    assert!(floor > 0 && cap <= 20_000_000, "floor {floor}, cap {cap}");
    assert!(
        rows(b).iter().all(|r| r["matches"] == true),
        "every read-back follows max(2 × min(value, wmem_max), floor): {b}"
    );
    assert!(
        rows(b).iter().all(|r| r["option"] == "SO_SNDBUF"),
        "--option keeps only its rows"
    );
}

#[test]
fn linger_1_0_resets_the_peer() {
    let r = json(&["--option", "so_linger"]);
    let l = table(&r, "linger");
    let abort = row(l, |r| r["linger"] == "{1, 0}");
    assert_eq!(abort["peer_end"], "ECONNRESET");
    assert_eq!(
        abort["left"], "no socket left",
        "an abortive close leaves no TIME-WAIT"
    );
    let off = row(l, |r| r["linger"] == "off (default)");
    assert_eq!(off["peer_end"], "EOF");
    assert_eq!(
        off["peer_bytes"], off["written"],
        "a normal close still delivers every byte"
    );
    assert!(off["left"].as_str().unwrap().starts_with("TIME-WAIT"), "{off}");
    let waited = row(l, |r| r["linger"] == "{1, 1}" && r["peer_reading"] == "no");
    assert_eq!(
        waited["close"], "ok",
        "Linux close() returns 0 even when the linger time ran out"
    );
    assert_eq!(
        waited["peer_end"], "EOF",
        "the data still arrives after close() gave up waiting"
    );
}

#[test]
fn so_error_is_read_and_clear() {
    let r = json(&["--option", "SO_ERROR"]);
    let e = table(&r, "so_error");
    assert_eq!(row(e, |r| r["step"] == 1)["result"], "EINPROGRESS");
    assert_eq!(row(e, |r| r["step"] == 3)["result"], "ECONNREFUSED");
    assert_eq!(row(e, |r| r["step"] == 4)["result"], 0);
}

#[test]
fn so_broadcast_guards_sending_only() {
    let r = json(&["--option", "SO_BROADCAST"]);
    let b = table(&r, "broadcast");
    let bcast = |flag: i64| {
        row(b, |r| {
            r["sender"] == flag && r["to"].as_str().unwrap().starts_with("127.255.255.255")
        })
    };
    assert_eq!(bcast(0)["result"], "EACCES");
    assert_eq!(bcast(0)["got"], "nothing");
    assert_eq!(bcast(1)["result"], "ok");
    assert_eq!(bcast(1)["receiver"], 0, "the receiver never set SO_BROADCAST");
    assert!(
        bcast(1)["got"].as_str().unwrap().starts_with("5 bytes"),
        "{}",
        bcast(1)
    );
    let ids: Vec<&str> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"linger") && !ids.contains(&"oobinline"), "{ids:?}");
}

#[test]
fn default_run_has_every_table_and_only_confirmed_findings() {
    let r = json(&[]);
    for id in [
        "catalogue",
        "defaults",
        "probe",
        "buffers",
        "linger",
        "so_error",
        "broadcast",
        "oobinline",
        "keepalive",
    ] {
        let t = table(&r, id);
        assert!(t["title_zh"].is_string(), "{id} has a Chinese title");
    }
    let d = table(&r, "defaults");
    assert_eq!(rows(d).len(), 20, "one row per option");
    let nodelay = row(d, |r| r["option"] == "TCP_NODELAY");
    assert!(
        nodelay["udp"].as_str().unwrap().starts_with('E'),
        "TCP option on UDP: {nodelay}"
    );
    assert_eq!(row(d, |r| r["option"] == "SO_ACCEPTCONN")["listening"], 1);
    let p = table(&r, "probe");
    assert_eq!(
        row(p, |r| r["option"] == "SO_KEEPALIVE")["v50"],
        1,
        "a flag stores 50 as 1"
    );
    assert_eq!(
        row(p, |r| r["option"] == "SO_TYPE")["v1"],
        "ENOPROTOOPT",
        "read-only"
    );
    let o = table(&r, "oobinline");
    assert_eq!(row(o, |r| r["oobinline"] == 0)["oob"], "\"X\"");
    assert_eq!(row(o, |r| r["oobinline"] == 1)["rest"], "\"Xcd\"");
    let findings = r["findings"].as_array().unwrap();
    assert!(findings.len() >= 6, "{findings:?}");
    for f in findings {
        assert_eq!(f["verdict"], "confirmed", "{f}");
        assert!(f["zh"]["claim"].is_string(), "{f}");
    }
    // The slow keepalive experiment is left out of the default run, and the report says why.
    let notes = r["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("--option SO_KEEPALIVE")),
        "{notes:?}"
    );
}

#[test]
fn keepalive_notices_a_vanished_peer() {
    let r = json(&["--option", "SO_KEEPALIVE"]);
    let k = table(&r, "keepalive");
    let vanished = row(k, |r| r["case"].as_str().unwrap().contains("vanished"));
    let present = row(k, |r| r["case"].as_str().unwrap().contains("still there"));
    if r["environment"]["sandbox"] == "host" {
        // No namespaces to make a peer vanish in: the timers are shown, and the report says so.
        assert!(vanished["local"].as_str().unwrap().starts_with("not run"));
        assert!(!r["notes"].as_array().unwrap().is_empty());
        return;
    }
    assert_eq!(vanished["local"], "ETIMEDOUT");
    assert!(vanished["probes"].as_i64().unwrap() >= 1, "{vanished}");
    assert_ne!(
        present["local"], "ETIMEDOUT",
        "an answering peer keeps the connection"
    );
    assert!(present["peer"].as_str().unwrap().contains("ESTAB"), "{present}");
}

#[test]
fn every_format_renders() {
    let plain = stdout_text(&["options", "--option", "SO_BROADCAST"]);
    assert!(plain.contains("EACCES") && plain.contains("+===="), "{plain}");
    assert!(plain.contains("Findings"));
    let md = stdout_text(&["options", "--option", "SO_OOBINLINE", "--format", "markdown"]);
    assert!(md.contains("| receiver's SO_OOBINLINE |"), "{md}");
    assert!(md.contains("**confirmed**"), "{md}");
}

#[test]
fn unknown_option_is_a_usage_error() {
    lab().args(["options", "--option", "SO_NOSUCH"]).assert().code(2);
}

#[test]
fn no_fd_or_thread_outlives_the_run() {
    leak_check(&["options"]);
    leak_check(&["options", "--no-sandbox"]);
}

/// The whole lab, run by an unprivileged user: it completes and the kernel behaves the same.
#[test]
fn unprivileged_run_completes() {
    if !is_root() {
        return;
    }
    let r = unprivileged_json(&["options", "--leak-check"]);
    assert_eq!(r["environment"]["uid"], 65534);
    let sandbox = r["environment"]["sandbox"].as_str().unwrap();
    assert!(sandbox == "userns+netns" || sandbox == "host", "{sandbox}");
    let e = table(&r, "so_error");
    assert_eq!(row(e, |r| r["step"] == 3)["result"], "ECONNREFUSED");
    let l = table(&r, "linger");
    assert_eq!(row(l, |r| r["linger"] == "{1, 0}")["peer_end"], "ECONNRESET");
}
