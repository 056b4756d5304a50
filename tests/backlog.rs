//! `lab backlog` end to end: what the kernel did with a full accept queue, as root
//! and unprivileged, in every output format, without leaking a socket or thread.

mod common;

use common::{is_root, json, lab, rows, stdout_text, unprivileged_json};
use predicates::prelude::*;
use serde_json::Value;

fn listener(r: &Value, what: &str, col: &str) -> i64 {
    rows(r, "listener").iter().find(|x| x["what"] == what).unwrap()[col]
        .as_i64()
        .unwrap()
}

/// The invariants of a run with no accept() during the window and N > B + 1.
fn assert_backlog_plus_one(r: &Value, limit: i64, n: usize) {
    assert_eq!(listener(r, "accept-queue limit (ss Send-Q)", "window"), limit);
    assert_eq!(
        listener(r, "accept-queue length, max (ss Recv-Q)", "window"),
        limit + 1,
        "queue peaks at B+1"
    );
    let clients = rows(r, "clients");
    assert_eq!(clients.len(), n);
    let retries = rows(r, "retries");
    assert!(!retries.is_empty(), "the first SYN retry falls inside the window");
    let first_retry = retries[0]["first_ms"].as_f64().unwrap();
    assert_eq!(retries[0]["clients"].as_i64().unwrap(), n as i64 - limit - 1);
    let before = clients
        .iter()
        .filter(|c| c["connect_ms"].as_f64().is_some_and(|t| t < first_retry))
        .count() as i64;
    assert_eq!(
        before,
        limit + 1,
        "exactly B+1 complete before the first SYN retry"
    );
    let waiting = clients
        .iter()
        .filter(|c| c["window_end"] == "waiting (SYN-SENT)")
        .count() as i64;
    assert_eq!(waiting, n as i64 - limit - 1, "the others wait; none is refused");
    assert_every_client_accounted_for(r);
}

/// Every client ends accepted with its line delivered, or says plainly what happened.
fn assert_every_client_accounted_for(r: &Value) {
    for c in rows(r, "clients") {
        let outcome = c["outcome"].as_str().unwrap();
        let delivered = c["line"] == "yes";
        if outcome == "accepted"
            || outcome.ends_with("connected and accepted")
            || outcome.ends_with("accepted late")
        {
            assert!(delivered && c["accepted_ms"].is_number(), "{c}");
        } else {
            assert!(
                outcome.starts_with("PHANTOM")
                    || outcome.starts_with("still waiting")
                    || outcome.contains("then E")
                    || outcome.starts_with("connect failed")
                    || outcome.contains("within the bound"),
                "unexplained outcome {c}"
            );
        }
        if outcome.starts_with("PHANTOM") {
            assert!(
                c["connect_ms"].is_number(),
                "a phantom believed it was connected: {c}"
            );
            assert_ne!(c["server_side"], "yes (ESTAB)", "{c}");
        }
    }
}

#[test]
fn listen_one_takes_two_and_the_rest_retry() {
    let r = json(&["backlog", "--clients", "20", "--leak-check"]);
    assert_backlog_plus_one(&r, 1, 20);
    let over = rows(&r, "counters")
        .iter()
        .find(|c| c["counter"] == "TcpExtListenOverflows")
        .unwrap();
    assert!(
        over["window"].as_i64().unwrap() >= 18,
        "each dropped SYN is an overflow: {over}"
    );
    // The sweep of the default run shows the rule for every backlog.
    for row in rows(&r, "sweep") {
        let expect = (row["limit"].as_i64().unwrap() + 1).min(20);
        assert_eq!(row["queue_max"].as_i64().unwrap(), expect, "{row}");
        assert_eq!(row["connected"].as_i64().unwrap(), expect, "{row}");
    }
    let stores = rows(&r, "listen_stores");
    let limit = |call: &str| stores.iter().find(|x| x["call"] == call).unwrap()["limit"].clone();
    assert_eq!(limit("listen(0)"), 0);
    assert_eq!(limit("listen(128)"), 4, "somaxconn 4 clamps listen(128)");
    let somaxconn = stores[0]["somaxconn"].as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(limit("listen(-1) (C and Rust pass it through)"), somaxconn);
    // Which settings make phantoms: every retried client is accounted for, and with
    // cookies off and abort on, nobody is left believing in a connection.
    for row in rows(&r, "phantoms") {
        let n = |k: &str| row[k].as_i64().unwrap();
        assert_eq!(
            n("in_queue") + n("phantom_request") + n("phantom_cookie") + n("reset") + n("waiting"),
            n("retried"),
            "{row}"
        );
        assert_eq!(n("in_queue"), 1, "one free place, one connection queued: {row}");
        if row["syncookies"] == 0 && row["abort"] == 1 {
            assert_eq!(n("phantom_request") + n("phantom_cookie"), 0, "{row}");
        }
        if row["syncookies"] == 0 {
            assert_eq!(n("phantom_cookie"), 0, "no cookies, no cookie phantoms: {row}");
        }
    }
}

#[test]
fn a_backlog_with_room_for_everyone_connects_all_at_once() {
    let r = json(&["backlog", "--clients", "6", "--backlog", "8", "--window", "300"]);
    let clients = rows(&r, "clients");
    assert!(clients
        .iter()
        .all(|c| c["window_end"] == "connected" && c["syn_retries"] == 0));
    assert!(clients.iter().all(|c| c["outcome"] == "accepted"), "{clients:?}");
    assert_eq!(listener(&r, "accept-queue length, max (ss Recv-Q)", "window"), 6);
    assert!(rows(&r, "retries").is_empty());
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
    let sweep = rows(&r, "sweep");
    assert_eq!(sweep.len(), 5);
    for (row, b) in sweep.iter().zip([0i64, 1, 2, 5, 10]) {
        assert_eq!(row["limit"], b);
        assert_eq!(row["queue_max"].as_i64().unwrap(), (b + 1).min(8), "{row}");
        assert_eq!(row["connected"].as_i64().unwrap(), (b + 1).min(8), "{row}");
        assert_eq!(row["pending"].as_i64().unwrap(), 8 - (b + 1).min(8), "{row}");
    }
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["verdict"] == "confirmed"));
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
    assert_eq!(rows(&r, "sweep")[1]["connected"], 4);
}

#[test]
fn clients_are_bounded_with_a_clear_error() {
    lab()
        .args(["backlog", "--clients", "1001"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("1 to 1000").and(predicate::str::contains("\n").count(1)));
    lab()
        .args(["backlog", "--window", "50"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--window"));
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
    // Sysctl rows are measured in the user namespace, or say why not.
    for row in rows(&r, "listen_stores") {
        assert!(
            row["limit"].is_number() || row["somaxconn"].as_str().unwrap().contains("not"),
            "{row}"
        );
    }
}
