//! `lab backlog` end to end: what the kernel did with a full accept queue, as root
//! and unprivileged, in every output format, without leaking a socket or thread.

mod common;

use common::{is_root, json, lab, rows, stdout_text, unprivileged_json};
use predicates::prelude::*;
use serde_json::Value;

/// The typed data of the main run.
fn main_run(r: &Value) -> &Value {
    &r["data"]["main"]
}

fn clients(r: &Value) -> &Vec<Value> {
    main_run(r)["clients"].as_array().unwrap()
}

fn fate(c: &Value) -> &str {
    c["fate"]["fate"].as_str().unwrap()
}

fn counter(r: &Value, name: &str, phase: &str) -> i64 {
    main_run(r)["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()[phase]
        .as_i64()
        .unwrap()
}

/// The invariants of a run with no accept() during the window and N > B + 1.
fn assert_backlog_plus_one(r: &Value, limit: i64, n: usize) {
    let window = &main_run(r)["window"];
    assert_eq!(window["limit"], limit);
    assert_eq!(window["queue_max"], limit + 1, "queue peaks at B+1");
    let clients = clients(r);
    assert_eq!(clients.len(), n);
    let first_retries: Vec<f64> = clients
        .iter()
        .filter_map(|c| c["syn_retries_ms"][0].as_f64())
        .collect();
    assert!(
        !first_retries.is_empty(),
        "the first SYN retry falls inside the window"
    );
    assert_eq!(first_retries.len() as i64, n as i64 - limit - 1);
    let first_retry = first_retries.iter().copied().fold(f64::INFINITY, f64::min);
    let before = clients
        .iter()
        .filter(|c| c["connected_ms"].as_f64().is_some_and(|t| t < first_retry))
        .count() as i64;
    assert_eq!(
        before,
        limit + 1,
        "exactly B+1 complete before the first SYN retry"
    );
    let waiting = clients.iter().filter(|c| c["at_window_end"] == "waiting").count() as i64;
    assert_eq!(waiting, n as i64 - limit - 1, "the others wait; none is refused");
    // The retries table counts the same clients as the data.
    assert_eq!(rows(r, "retries")[0]["clients"], n as i64 - limit - 1);
    assert_every_client_accounted_for(r);
}

/// Every client ends accepted with its line delivered, or its fate says what happened;
/// its SYN retries are recorded, so a capture can count clients + retries SYNs.
fn assert_every_client_accounted_for(r: &Value) {
    let mut ports = std::collections::BTreeSet::new();
    for c in clients(r) {
        assert!(
            ports.insert(c["port"].as_u64().unwrap()),
            "one port per client: {c}"
        );
        let retries = c["syn_retries_ms"].as_array().unwrap();
        assert!(retries.windows(2).all(|w| w[0].as_f64() <= w[1].as_f64()), "{c}");
        match fate(c) {
            "accepted" | "retried_then_accepted" | "late_accepted" | "phantom_accepted_late" => {
                assert!(
                    c["delivered_ms"].is_number() && c["accepted_ms"].is_number(),
                    "{c}"
                )
            }
            "accepted_line_lost" | "phantom_accepted_late_line_lost" => {
                assert!(c["accepted_ms"].is_number(), "{c}")
            }
            "phantom" | "connected_not_accepted" => assert!(c["accepted_ms"].is_null(), "{c}"),
            "connected_then_failed" | "connect_failed" => assert!(c["fate"]["error"].is_object(), "{c}"),
            "still_waiting" => assert!(c["connected_ms"].is_null(), "{c}"),
            other => panic!("unexplained fate {other}: {c}"),
        }
        if fate(c).starts_with("phantom") || c["fate"]["phantom"] == true {
            assert!(
                c["connected_ms"].is_number(),
                "a phantom believed it was connected: {c}"
            );
            assert_ne!(c["server_side"], "established", "{c}");
        }
        if fate(c) == "retried_then_accepted" {
            assert!(
                !retries.is_empty(),
                "a retry is claimed only when TCP_INFO saw one: {c}"
            );
        }
    }
    // The table shows one row per client, in the same order.
    assert_eq!(rows(r, "clients").len(), clients(r).len());
}

#[test]
fn listen_one_takes_two_and_the_rest_retry() {
    let r = json(&["backlog", "--clients", "20", "--leak-check"]);
    assert_backlog_plus_one(&r, 1, 20);
    let over = counter(&r, "TcpExtListenOverflows", "window");
    assert!(over >= 18, "each dropped SYN is an overflow: {over}");
    // ListenDrops counts every drop, overflows included.
    for phase in ["window", "after"] {
        assert!(counter(&r, "TcpExtListenDrops", phase) >= counter(&r, "TcpExtListenOverflows", phase));
    }
    // The sweep of the default run shows the rule for every backlog.
    for row in r["data"]["sweep"]["rows"].as_array().unwrap() {
        let f = &row["first"];
        let expect = (f["limit"].as_i64().unwrap() + 1).min(20);
        assert_eq!(f["queue_max"].as_i64().unwrap(), expect, "{row}");
        assert_eq!(f["connected"].as_i64().unwrap(), expect, "{row}");
    }
    let cases = r["data"]["stores"]["cases"].as_array().unwrap();
    let stored = |case: &str| &cases.iter().find(|x| x["case"] == case).unwrap()["result"]["Ok"];
    assert_eq!(stored("zero")["first"]["limit"], 0);
    assert_eq!(
        stored("clamped")["first"]["limit"],
        4,
        "somaxconn 4 clamps listen(128)"
    );
    let somaxconn = stored("zero")["somaxconn"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    assert_eq!(stored("minus_one")["first"]["limit"], somaxconn);
    // Which settings make phantoms: every retried client is accounted for, and with
    // cookies off and abort on, nobody is left believing in a connection.
    for run in r["data"]["batches"].as_array().unwrap() {
        let b = &run["result"]["Ok"];
        let n = |k: &str| b[k].as_i64().unwrap();
        assert_eq!(
            n("in_queue") + n("phantoms_request") + n("phantoms_cookie") + n("reset") + n("waiting"),
            n("retried"),
            "{run}"
        );
        assert_eq!(n("in_queue"), 1, "one free place, one connection queued: {run}");
        if run["syncookies"] == 0 && run["abort_on_overflow"] == 1 {
            assert_eq!(n("phantoms_request") + n("phantoms_cookie"), 0, "{run}");
        }
        if run["syncookies"] == 0 {
            assert_eq!(n("phantoms_cookie"), 0, "no cookies, no cookie phantoms: {run}");
        }
    }
    let ids: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let mut want = vec![
        "at_most_backlog",
        "beyond_queue_refused",
        "connected_means_queued",
        "backlog_plus_one",
        "stores_given_number",
    ];
    // With a capture (in a namespace the lab made), the findings from the packets follow.
    if r["data"]["wire"].get("Ok").is_some() {
        want.extend(["syn_retries_on_wire", "cookie_syn_acks", "phantom_on_wire"]);
    }
    assert_eq!(ids, want);
}

#[test]
fn a_backlog_with_room_for_everyone_connects_all_at_once() {
    let r = json(&["backlog", "--clients", "6", "--backlog", "8", "--window", "300"]);
    let clients = clients(&r);
    assert!(clients
        .iter()
        .all(|c| c["at_window_end"] == "connected" && c["syn_retries_ms"].as_array().unwrap().is_empty()));
    assert!(clients.iter().all(|c| fate(c) == "accepted"), "{clients:?}");
    assert_eq!(main_run(&r)["window"]["queue_max"], 6);
    assert!(rows(&r, "retries").is_empty());
    assert_every_client_accounted_for(&r);
}

#[test]
fn the_sweep_shows_backlog_plus_one() {
    let r = json(&[
        "backlog",
        "--clients",
        "8",
        "--backlog",
        "0,1,2,5,10",
        "--leak-check",
    ]);
    assert!(r["data"]["main"].is_null(), "a sweep has no main run");
    let sweep = r["data"]["sweep"]["rows"].as_array().unwrap();
    assert_eq!(sweep.len(), 5);
    for (row, b) in sweep.iter().zip([0i64, 1, 2, 5, 10]) {
        let f = &row["first"];
        assert_eq!(row["backlog"], b);
        assert_eq!(f["limit"], b);
        assert_eq!(f["queue_max"].as_i64().unwrap(), (b + 1).min(8), "{row}");
        assert_eq!(f["connected"].as_i64().unwrap(), (b + 1).min(8), "{row}");
        assert_eq!(f["pending"].as_i64().unwrap(), 8 - (b + 1).min(8), "{row}");
    }
    assert_eq!(rows(&r, "sweep").len(), 5);
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["id"] == "backlog_plus_one" && f["verdict"] == "confirmed"));
}

#[test]
fn somaxconn_clamps_inside_the_runs_own_namespace() {
    let r = json(&[
        "backlog",
        "--clients",
        "8",
        "--backlog",
        "128",
        "--somaxconn",
        "4",
        // Well past the first SYN retry (~1 s), so a loaded machine still sees it.
        "--window",
        "1500",
    ]);
    assert_backlog_plus_one(&r, 4, 8);
    assert!(r["data"]["refused"].as_array().unwrap().is_empty());
    assert!(r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| !n.as_str().unwrap().contains("not set")));
    // The host's somaxconn is untouched.
    let host = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap();
    assert_ne!(host.trim(), "4");
}

#[test]
fn no_sandbox_sweep_leaves_nothing_behind() {
    let r = json(&[
        "backlog",
        "--no-sandbox",
        "--leak-check",
        "--backlog",
        "1,3",
        "--clients",
        "6",
    ]);
    assert_eq!(r["environment"]["sandbox"], "host");
    assert_eq!(r["data"]["sweep"]["rows"][1]["first"]["connected"], 4);
}

#[test]
fn out_of_range_options_are_usage_errors() {
    for args in [
        &["backlog", "--clients", "1001"][..],
        &["backlog", "--clients", "0"],
        &["backlog", "--window", "50"],
    ] {
        lab()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(args[1]).and(predicate::str::contains("\n").count(1)));
    }
    lab()
        .args(["backlog", "--clients", "1001"])
        .assert()
        .stderr(predicate::str::contains("1 to 1000"));
    let bin = assert_cmd::cargo::cargo_bin("lab");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 100 && exec {} backlog --clients 100",
            bin.display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ulimit -n"));
}

#[test]
fn json_and_markdown_render_the_same_report() {
    let args = ["backlog", "--clients", "5", "--backlog", "0,2"];
    let r = json(&args);
    let report: lab::report::Report = serde_json::from_value(r.clone()).unwrap();
    let md = lab::render::markdown(&report);
    let md_run = stdout_text(&[&args[..], &["--format", "markdown"]].concat());
    for t in &report.tables {
        let header = format!(
            "| {} |",
            t.columns
                .iter()
                .map(|c| c.header.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        for text in [&md, &md_run] {
            assert!(text.contains(&t.title) && text.contains(&header), "{}", t.id);
        }
        for row in &t.rows {
            let cells: Vec<String> = t
                .columns
                .iter()
                .map(|c| lab::render::cell_text(row.get(&c.key)))
                .collect();
            assert!(
                md.contains(&format!("| {} |", cells.join(" | "))),
                "row {cells:?}"
            );
        }
    }
    for f in &report.findings {
        assert!(md.contains(&f.claim) && md_run.contains(&f.claim));
        assert!(f.zh.is_some(), "every finding has its Chinese text");
    }
    assert!(report.tables.iter().all(|t| t.title_zh.is_some()));
}

#[test]
fn unprivileged_run_keeps_the_invariants() {
    if !is_root() {
        return;
    }
    let r = unprivileged_json(&["backlog", "--clients", "10", "--window", "1500", "--leak-check"]);
    assert_eq!(r["environment"]["uid"], 65534);
    assert_backlog_plus_one(&r, 1, 10);
    // Sysctl cases are measured in the user namespace, or say why not.
    for case in r["data"]["stores"]["cases"].as_array().unwrap() {
        let res = &case["result"];
        assert!(
            res["Ok"]["first"]["limit"].is_number() || res["Err"]["why"].is_object(),
            "{case}"
        );
    }
}
