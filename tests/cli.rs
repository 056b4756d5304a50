//! The command line as a user meets it: exit codes, formats, errors, leaks.

use assert_cmd::Command;
use predicates::prelude::*;

fn lab() -> Command {
    Command::cargo_bin("lab").unwrap()
}

#[test]
fn list_names_every_lab() {
    let out = lab().arg("list").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for id in [
        "argv",
        "gopher",
        "serve",
        "protocol",
        "options",
        "reuseaddr",
        "backlog",
        "gopherd",
    ] {
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
    let out = lab()
        .args(["reuseaddr", "--format", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
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
    let restart = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "restart")
        .unwrap();
    assert!(restart["rows"][0]["old"].is_number(), "numbers stay numbers");
}

#[test]
fn markdown_and_table_render_the_same_report() {
    let md = lab()
        .args(["reuseaddr", "--format", "markdown"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("| old server's value | new server's value |"));
    let plain = lab()
        .arg("reuseaddr")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let plain = String::from_utf8(plain).unwrap();
    assert!(
        !plain.contains('│') && !plain.contains('─'),
        "piped tables use plain ASCII"
    );
    assert!(plain.contains("+===="));
    assert!(plain.contains("EADDRINUSE"));
}

#[test]
fn reuseaddr_leaves_no_fd_or_thread_behind() {
    lab().args(["reuseaddr", "--leak-check"]).assert().success();
    lab()
        .args(["reuseaddr", "--leak-check", "--no-sandbox"])
        .assert()
        .success();
}

/// The whole lab, run by an unprivileged user: it must finish and say where it ran.
#[test]
fn unprivileged_run_reports_its_sandbox() {
    if !nix_is_root() {
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin("lab");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["reuseaddr", "--format", "json"])
        .output()
        .expect("setpriv runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["environment"]["uid"], 65534);
    assert_eq!(v["environment"]["privileged"], false);
    let sandbox = v["environment"]["sandbox"].as_str().unwrap();
    assert!(sandbox == "userns+netns" || sandbox == "host", "{sandbox}");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}
