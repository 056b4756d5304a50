//! `lab argv` as a user meets it: the table of shapes in all three formats, and the
//! learner's case answered (IndexError from the book, a note from lab gopher).

mod common;

use common::{field_of_each, find_table, stdout_of, table};
use std::time::Duration;

/// `lab ARGS --leak-check`, bounded to 60 s: asserts it succeeds and returns its stdout.
fn lab(args: &[&str]) -> String {
    let out = stdout_of(
        common::lab()
            .args(args)
            .arg("--leak-check")
            .timeout(Duration::from_secs(60)),
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn json_has_every_shape_and_the_learners_answer() {
    let v: serde_json::Value = serde_json::from_str(&lab(&["argv", "--format", "json"])).unwrap();
    assert_eq!(v["lab"], "argv");
    let shapes = table(&v, "shapes");
    let rows = shapes["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 21);
    let row = |name: &str| rows.iter().find(|r| r["shape"] == name).unwrap().clone();
    let learner = row("the learner's quux.org/");
    assert!(learner["python2"].as_str().unwrap().starts_with("IndexError"));
    assert_eq!(learner["host"], "quux.org");
    assert_eq!(learner["port"], 70);
    assert_eq!(learner["type"], "1");
    assert!(learner["lab"]
        .as_str()
        .unwrap()
        .contains("gopherclient.py quux.org /"));
    let tab = row("selector with a tab");
    assert_eq!(tab["search"], "\"sockets\"");
    let url = row("%09 search in a URL");
    assert_eq!(
        (url["type"].as_str(), url["search"].as_str()),
        (Some("7"), Some("\"sockets\""))
    );
    assert_eq!(row("%20 typed as a selector")["selector"], "\"/my%20notes.txt\"");
    assert_eq!(row("%20 in a URL")["selector"], "\"/my notes.txt\"");
    assert_eq!(row("IPv6 URL")["host"], "::1");
    // The learner's most likely next try: the name lookup fails, with Python's own words.
    let next = row("the learner's next try: quux.org/ and a selector");
    assert_eq!(next["argv"], "gopherclient.py quux.org/ /");
    assert!(next["python2"]
        .as_str()
        .unwrap()
        .starts_with("socket.gaierror: [Errno -2] Name or service not known"));
    for bad in ["bad port", "extra arguments", "another scheme"] {
        assert!(row(bad)["lab"].as_str().unwrap().starts_with("error: "), "{bad}");
    }
    // Where Python ran, it agrees with the derivation: IndexError for one argument.
    if let Some(ran) = learner["ran"].as_str() {
        assert!(ran.contains("IndexError"), "{ran}");
        // Interpreters are named in cells; their paths are in the data.
        assert!(ran.starts_with("Python "), "{ran}");
        assert!(!ran.contains('/'), "{ran}");
    }
    let typed: Vec<&str> = v["data"]["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["shape"].as_str())
        .collect();
    assert_eq!(typed.len(), rows.len(), "one typed shape per row");
    let claims = field_of_each(&v["findings"], "verdict");
    assert_eq!(claims[0], "refuted", "the book is not wrong");
    assert!(claims.iter().all(|c| c != "depends"));
    // Every finding has its Chinese text.
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["zh"]["claim"].is_string()));
}

#[test]
fn where_python_ran_on_loopback_the_server_saw_the_selector() {
    let v: serde_json::Value = serde_json::from_str(&lab(&["argv", "--format", "json"])).unwrap();
    let Some(t) = find_table(&v, "loopback") else {
        eprintln!("\n*** SKIPPED: no Python, or no private namespace: no loopback run ***\n");
        return;
    };
    for r in t["rows"].as_array().unwrap() {
        let result = r["result"].as_str().unwrap();
        let read = r["server_read"].as_str().unwrap();
        if result.starts_with("exit 0") {
            assert_eq!(read, "\"/about.txt\\r\\n\"", "{r}");
        }
        if result.contains("TypeError") {
            assert_eq!(read, "\"\"", "Python 3 connected but sent nothing: {r}");
        }
        if result.contains("IndexError") {
            assert_eq!(read, "no connection", "{r}");
        }
    }
}

#[test]
fn table_and_markdown_formats() {
    let t = lab(&["argv", "--no-python"]);
    assert!(t.contains("IndexError") && t.contains("Findings"), "{t}");
    let md = lab(&["argv", "--no-python", "--format", "markdown"]);
    assert!(md.contains("| shape |") || md.contains("| shape"), "{md}");
    assert!(md.contains("quux.org/"));
}
