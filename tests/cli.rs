//! The command line as a user meets it: exit codes, formats, errors, leaks.

mod common;

use common::{is_root, json, lab, leak_check, stdout_text, table, unprivileged_json};
use predicates::prelude::*;

#[test]
fn list_names_every_lab() {
    let text = stdout_text(&["list"]);
    assert!(!lab::labs::LABS.is_empty());
    for id in lab::labs::LABS.iter().map(|l| l.id) {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{text}"
        );
    }
}

#[test]
fn bad_usage_exits_2() {
    lab().arg("no-such-lab").assert().code(2);
    lab().args(["reuseaddr", "--format", "yaml"]).assert().code(2);
}

#[test]
fn lab_errors_are_one_line_without_backtrace() {
    // --port needs one namespace per scenario; --no-sandbox forbids it.
    lab()
        .args(["reuseaddr", "--no-sandbox", "--port", "5000"])
        .env("RUST_BACKTRACE", "1")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("lab: error: ").and(predicate::str::contains("\n").count(1)));
}

#[test]
fn reuseaddr_json_is_the_documented_shape() {
    let v = json(&["reuseaddr"]);
    assert_eq!(v["lab"], "reuseaddr");
    for key in [
        "title",
        "question",
        "environment",
        "tables",
        "findings",
        "elapsed_ms",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v["environment"]["sysctls"]["net.core.somaxconn"].is_string());
    let restart = table(&v, "restart");
    assert!(restart["rows"][0]["old"].is_number(), "numbers stay numbers");
}

#[test]
fn markdown_and_table_render_the_same_report() {
    let md = stdout_text(&["reuseaddr", "--format", "markdown"]);
    assert!(md.contains("| old server's value | new server's value |"));
    let plain = stdout_text(&["reuseaddr"]);
    assert!(
        !plain.contains('│') && !plain.contains('─'),
        "piped tables use plain ASCII"
    );
    assert!(plain.contains("+===="));
    assert!(plain.contains("EADDRINUSE"));
}

#[test]
fn reuseaddr_leaves_no_fd_or_thread_behind() {
    leak_check(&["reuseaddr"]);
    leak_check(&["reuseaddr", "--no-sandbox"]);
}

/// The whole lab, run by an unprivileged user: it must finish and say where it ran.
#[test]
fn unprivileged_run_reports_its_sandbox() {
    if !is_root() {
        return;
    }
    let v = unprivileged_json(&["reuseaddr"]);
    assert_eq!(v["environment"]["uid"], 65534);
    assert_eq!(v["environment"]["privileged"], false);
    let sandbox = v["environment"]["sandbox"].as_str().unwrap();
    assert!(sandbox == "userns+netns" || sandbox == "host", "{sandbox}");
}
