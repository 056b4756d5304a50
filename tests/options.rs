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

/// The typed run of one SO_LINGER case (`linger`: null for off, n for {1, n}).
fn linger_run(r: &Value, linger: Value, peer_reading: bool) -> &Value {
    r["data"]["linger"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["linger"] == linger && x["peer_reading"] == peer_reading)
        .unwrap_or_else(|| panic!("no linger run {linger} {peer_reading}"))
}

#[test]
fn linger_1_0_resets_the_peer() {
    let r = json(&["--option", "so_linger"]);
    assert_eq!(rows(table(&r, "linger")).len(), 4, "one row per case");
    let abort = linger_run(&r, Value::from(0), false);
    assert_eq!(abort["peer_end"]["failed"], "ECONNRESET");
    assert_eq!(abort["left"], "nothing", "an abortive close leaves no TIME-WAIT");
    assert!(
        abort["peer_bytes"].as_u64() < abort["written"].as_u64(),
        "the queued rest never arrives: {abort}"
    );
    let off = linger_run(&r, Value::Null, false);
    assert_eq!(off["peer_end"], "eof");
    assert_eq!(
        off["peer_bytes"], off["written"],
        "a normal close still delivers every byte"
    );
    assert!(
        off["left"]["time_wait"]["left_ms"].as_u64().unwrap() > 1000,
        "{off}"
    );
    let waited = linger_run(&r, Value::from(1), false);
    assert_eq!(
        waited["close"], "ok",
        "Linux close() returns 0 even when the linger time ran out"
    );
    assert!(
        waited["close_ms"].as_f64().unwrap() >= 900.0,
        "close() blocked: {waited}"
    );
    assert_eq!(
        waited["peer_end"], "eof",
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
    let sends = r["data"]["broadcast"]["sends"].as_array().unwrap();
    let on = sends.iter().find(|s| s["flag"] == 1).unwrap();
    assert_eq!(on["got"]["bytes"], 5, "the datagram arrived whole: {on}");
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
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    // The packet findings come only when this run captures (not with --no-sandbox).
    let (wire, rest): (Vec<&str>, Vec<&str>) = ids.iter().partition(|i| i.ends_with("_wire"));
    assert_eq!(
        rest,
        ["flags", "buffers", "linger", "so_error", "broadcast", "oobinline"],
        "keepalive only with --option SO_KEEPALIVE"
    );
    if r["data"]["wire"]["Ok"].is_array() {
        assert_eq!(wire, ["linger_wire", "unread_wire"]);
    }
    for f in findings {
        assert_eq!(f["verdict"], "confirmed", "{f}");
        assert!(f["zh"]["claim"].is_string(), "{f}");
    }
    // The slow keepalive experiment is left out of the default run, and the report says why.
    let runs = &r["data"]["keepalive"]["runs"];
    if r["environment"]["sandbox"] == "host" {
        assert_eq!(runs["unmeasured"]["why"], "no_sandbox", "{runs}");
    } else {
        assert_eq!(runs["not_asked"]["seconds"], 3, "{runs}");
    }
    assert_eq!(r["notes"].as_array().unwrap().len(), 1, "one note says why");
    // SO_TYPE is the kernel's type: AF_UNIX has no raw sockets.
    assert_eq!(
        r["data"]["unix_raw_type"]["read"]["Ok"]["value"]["int"], 2,
        "socket(AF_UNIX, SOCK_RAW) reads back SOCK_DGRAM"
    );
}

#[test]
fn keepalive_notices_a_vanished_peer() {
    let r = json(&["--option", "SO_KEEPALIVE"]);
    assert_eq!(
        rows(table(&r, "keepalive")).len(),
        3,
        "defaults, vanished, present"
    );
    let runs = &r["data"]["keepalive"]["runs"];
    if r["environment"]["sandbox"] == "host" {
        // No namespaces to make a peer vanish in: the timers are shown, and the report says so.
        assert_eq!(runs["unmeasured"]["why"], "no_sandbox", "{runs}");
        assert!(!r["notes"].as_array().unwrap().is_empty());
        return;
    }
    let (vanished, present) = (&runs["ran"]["vanished"], &runs["ran"]["present"]);
    assert_eq!(vanished["read"]["failed"], "ETIMEDOUT", "{vanished}");
    assert!(vanished["probes"].as_i64().unwrap() >= 1, "{vanished}");
    assert_ne!(
        present["read"]["failed"], "ETIMEDOUT",
        "an answering peer keeps the connection"
    );
    assert_eq!(present["peer_state"], "ESTAB", "{present}");
    let f = r["findings"].as_array().unwrap();
    assert!(
        f.iter()
            .any(|f| f["id"] == "keepalive" && f["verdict"] == "confirmed"),
        "{f:?}"
    );
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
    assert_eq!(
        linger_run(&r, Value::from(0), false)["peer_end"]["failed"],
        "ECONNRESET"
    );
}
