//! Helpers shared by the integration tests: running `lab`, reading its JSON report, and
//! running it as an unprivileged user. Each test crate uses a subset of them.
#![allow(dead_code)]

pub mod wire;

use assert_cmd::Command;
use serde_json::Value;

/// The `lab` binary, ready to take arguments.
pub fn lab() -> Command {
    Command::cargo_bin("lab").unwrap()
}

/// Runs `cmd`, asserts it succeeds, and returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> Vec<u8> {
    cmd.assert().success().get_output().stdout.clone()
}

/// `lab ARGS`: asserts it succeeds and returns its stdout.
pub fn stdout(args: &[&str]) -> Vec<u8> {
    stdout_of(lab().args(args))
}

/// `lab ARGS` as text: asserts it succeeds and returns its stdout.
pub fn stdout_text(args: &[&str]) -> String {
    String::from_utf8(stdout(args)).unwrap()
}

/// `lab ARGS --format json`: asserts it succeeds and returns the report.
pub fn json(args: &[&str]) -> Value {
    let out = stdout(&[args, &["--format", "json"]].concat());
    serde_json::from_slice(&out).expect("the report is JSON")
}

/// `lab ARGS --leak-check`: asserts it succeeds, so no fd or thread outlived the run.
pub fn leak_check(args: &[&str]) {
    lab().args(args).arg("--leak-check").assert().success();
}

/// `lab ARGS --format json` run by uid/gid 65534 (nobody) with no supplementary groups;
/// asserts it succeeds and returns the report. Only root can switch users like this.
pub fn unprivileged_json(args: &[&str]) -> Value {
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(assert_cmd::cargo::cargo_bin("lab"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("setpriv runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the report is JSON")
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The report's table with this id, if it has one.
pub fn find_table<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
}

/// The report's table with this id; panics naming the tables it has if there is none.
pub fn table<'a>(report: &'a Value, id: &str) -> &'a Value {
    find_table(report, id).unwrap_or_else(|| {
        let ids: Vec<&Value> = report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["id"])
            .collect();
        panic!("no table {id} among {ids:?}")
    })
}

/// The rows of the report's table with this id.
pub fn rows<'a>(report: &'a Value, id: &str) -> &'a Vec<Value> {
    table(report, id)["rows"].as_array().unwrap()
}

/// `key` of every element of a JSON array, in order.
pub fn field_of_each(array: &Value, key: &str) -> Vec<Value> {
    array.as_array().unwrap().iter().map(|x| x[key].clone()).collect()
}

/// Whether `s` holds a CJK ideograph (so it is Chinese text, not an English fallback).
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}
