//! `lab docs` as the lead and CI use it: sheets for every lab, pages with every marker
//! filled, identical bytes on every run, and `--check` catching a stale docs/.
//!
//! Most tests use a fixture: the real `lab reuseaddr` report plus a small synthetic report
//! for every other lab, with the real sheets where they exist and skeleton sheets otherwise.

mod common;

use common::lab;
use lab::docs::{self, Lang, Marker, Sheets, GENERATED_MARK};
use lab::labs::LABS;
use lab::report::{Report, Table, Verdict};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tempfile::TempDir;

fn sheets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("labs")
}

/// The real reuseaddr report, measured once for all tests in this file.
fn reuseaddr_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| {
        let out = common::stdout(&["reuseaddr", "--format", "json"]);
        serde_json::from_slice(&out).expect("lab reuseaddr --format json prints a report")
    })
}

/// A small report with Chinese text, measured nowhere, for a lab whose real one is not needed.
fn synthetic(id: &str, env_from: &Report) -> Report {
    let l = lab::labs::find(id).unwrap();
    let mut r = Report::new(id, &l.title().en, &l.question().en);
    r.environment = env_from.environment.clone();
    let mut t = Table::new(
        "t",
        "A synthetic table",
        &[("what", "what"), ("result", "result")],
    )
    .zh("合成的表", &["项目", "结果"]);
    t.push(lab::row! { "what" => "bind", "result" => "EADDRINUSE" });
    r.tables.push(t);
    r.finding_zh(
        "A synthetic claim",
        Verdict::Depends,
        "a synthetic measurement",
        "合成的结论",
        "合成的测量",
    );
    r.elapsed_ms = 1.5;
    r
}

/// A sheet in the skeleton of labs/README.md.
fn skeleton(lang: Lang, id: &str) -> String {
    let mut s = format!("# Sheet for {id}\n\n");
    for (i, h) in lang.headings().iter().enumerate() {
        s.push_str(&format!("## {h}\n\n"));
        match Marker::ALL.iter().find(|m| m.section() == i) {
            Some(m) => s.push_str(&format!("{}\n\n", m.text())),
            None => s.push_str("Prose.\n\n"),
        }
    }
    s
}

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    /// results.json and a sheets directory in a fresh temp dir.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let real = reuseaddr_report();
        let reports: Vec<Report> = LABS
            .iter()
            .map(|l| {
                if l.id == "reuseaddr" {
                    real.clone()
                } else {
                    synthetic(l.id, real)
                }
            })
            .collect();
        std::fs::write(
            dir.path().join("results.json"),
            docs::results_json(&reports).unwrap(),
        )
        .unwrap();
        for l in LABS {
            for lang in Lang::ALL {
                let rel = format!("{}{}.md", lang.dir(), l.id);
                let text =
                    std::fs::read_to_string(sheets_dir().join(&rel)).unwrap_or_else(|_| skeleton(lang, l.id));
                let path = dir.path().join("sheets").join(&rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
        }
        Fixture { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `lab docs --from results.json --sheets sheets --out <out>` plus `extra`.
    fn docs(&self, out: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
        let mut cmd = lab();
        cmd.arg("docs")
            .arg("--from")
            .arg(self.path("results.json"))
            .arg("--sheets")
            .arg(self.path("sheets"))
            .arg("--out")
            .arg(self.path(out))
            .args(extra);
        cmd.assert()
    }

    /// Generates into `out` and returns every file's path and bytes.
    fn generate(&self, out: &str) -> Vec<(String, Vec<u8>)> {
        self.docs(out, &[]).success();
        read_tree(&self.path(out))
    }
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in ["", "zh"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
            if e.path().is_file() {
                let name = Path::new(sub).join(e.file_name()).display().to_string();
                files.push((name, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    files.sort();
    files
}

fn text(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

// ---- the sheets in the repository ----

#[test]
fn every_lab_has_exactly_one_sheet_per_language_with_each_marker_once() {
    let mut problems = Vec::new();
    for l in LABS {
        for lang in Lang::ALL {
            let path = sheets_dir().join(format!("{}{}.md", lang.dir(), l.id));
            let Ok(text) = std::fs::read_to_string(&path) else {
                problems.push(format!("{}: missing", path.display()));
                continue;
            };
            for m in Marker::ALL {
                let n = text.matches(m.text()).count();
                if n != 1 {
                    problems.push(format!("{}: {} appears {n} times", path.display(), m.text()));
                }
            }
        }
    }
    // A sheet under a name no lab has (a typo, a renamed lab) is never published.
    for lang in Lang::ALL {
        let dir = sheets_dir().join(lang.dir());
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".md").unwrap_or("");
            if !id.is_empty() && name != "README.md" && name != "glossary.md" && lab::labs::find(id).is_none()
            {
                problems.push(format!("{}: no lab `{id}`", e.path().display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // And the generator accepts them all (skeleton, headings, marker positions).
    Sheets::load(&sheets_dir(), LABS).unwrap();
}

#[test]
fn the_reuseaddr_sheets_follow_the_skeleton() {
    let reuseaddr = std::slice::from_ref(lab::labs::find("reuseaddr").unwrap());
    Sheets::load(&sheets_dir(), reuseaddr).unwrap();
}

// ---- the generator, on the fixture ----

#[test]
fn every_page_is_written_with_every_marker_filled() {
    let f = Fixture::new();
    let files = f.generate("docs");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for l in LABS {
        for lang in Lang::ALL {
            let page = format!("{}{}.md", lang.dir(), l.id);
            assert!(names.contains(&page.as_str()), "{page} missing from {names:?}");
        }
    }
    for required in [
        "README.md",
        "SUMMARY.md",
        "book.toml",
        "book.css",
        "results.json",
        "zh/README.md",
        "zh/SUMMARY.md",
        "zh/book.toml",
        "zh/book.css",
    ] {
        assert!(names.contains(&required), "{required} missing from {names:?}");
    }
    let summary = text(&f.path("docs"), "SUMMARY.md");
    let summary_zh = text(&f.path("docs"), "zh/SUMMARY.md");
    for (name, bytes) in &files {
        let page = String::from_utf8(bytes.clone()).unwrap();
        assert!(!page.contains(Marker::PREFIX), "{name} keeps a marker");
        if name.ends_with(".md") && !name.ends_with("SUMMARY.md") {
            assert!(
                page.starts_with(GENERATED_MARK),
                "{name} lacks the generated comment"
            );
            assert!(
                page.contains("lab docs --from docs/results.json"),
                "{name}: no command"
            );
            // Each book's SUMMARY.md links its own pages, relative to its root.
            let (book, link) = match name.strip_prefix("zh/") {
                Some(rest) => (&summary_zh, rest),
                None => (&summary, name.as_str()),
            };
            assert!(
                book.contains(&format!("({link})")),
                "the SUMMARY.md of {name}'s book does not link it"
            );
        }
    }
    let en = text(&f.path("docs"), "reuseaddr.md");
    let kernel = &reuseaddr_report().environment.kernel;
    assert!(
        en.contains(&format!("| kernel | Linux {kernel} |")),
        "environment table:\n{en}"
    );
    assert!(en.contains("| net.core.somaxconn |"), "sysctls table:\n{en}");
    let index = text(&f.path("docs"), "README.md");
    for l in LABS {
        let question = l.question().en.replace('|', "\\|").replace('<', "&lt;");
        assert!(
            index.contains(&format!("]({}.md)", l.id)) && index.contains(&question),
            "{}",
            l.id
        );
    }
    assert!(index.contains(kernel.as_str()), "the index names the kernel");
}

#[test]
fn generating_twice_gives_identical_bytes() {
    let f = Fixture::new();
    let one = f.generate("one");
    let two = f.generate("two");
    assert_eq!(one, two);
    // Again into the same directory: nothing changes, nothing is left over.
    assert_eq!(f.generate("one"), two);
}

#[test]
fn check_passes_after_generation_and_fails_after_an_edit() {
    let f = Fixture::new();
    f.generate("docs");
    f.docs("docs", &["--check"]).success();
    // Without --from, --check uses DIR/results.json.
    lab()
        .args(["docs", "--check", "--sheets"])
        .arg(f.path("sheets"))
        .arg("--out")
        .arg(f.path("docs"))
        .assert()
        .success();

    let page = f.path("docs/zh/reuseaddr.md");
    let edited = text(&f.path("docs"), "zh/reuseaddr.md") + "\nedited by hand\n";
    std::fs::write(&page, edited).unwrap();
    let out = f.docs("docs", &["--check"]).code(1).get_output().stderr.clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.starts_with("lab: error: "), "{err}");
    assert!(err.contains("is out of date"), "{err}");
    assert!(err.contains(&page.display().to_string()), "names the file: {err}");
    assert!(
        err.contains("run: lab docs") && err.contains("--from"),
        "names the command: {err}"
    );
    assert!(err.contains("`lab docs"), "names the full regeneration: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    f.generate("docs");
    f.docs("docs", &["--check"]).success();
    std::fs::remove_file(f.path("docs/SUMMARY.md")).unwrap();
    f.docs("docs", &["--check"])
        .code(1)
        .stderr(predicates::str::contains("SUMMARY.md (missing)"));
}

#[test]
fn a_page_no_lab_produces_any_more_is_stale() {
    let f = Fixture::new();
    f.generate("docs");
    let old = text(&f.path("docs"), "reuseaddr.md");
    std::fs::write(f.path("docs/zh/retired.md"), &old).unwrap();
    std::fs::write(f.path("docs/notes.md"), "hand-written, not generated\n").unwrap();
    f.docs("docs", &["--check"])
        .code(1)
        .stderr(predicates::str::contains("retired.md (no longer generated)"));
    f.generate("docs");
    assert!(
        !f.path("docs/zh/retired.md").exists(),
        "a stale generated page is removed"
    );
    assert!(
        f.path("docs/notes.md").exists(),
        "a hand-written file is left alone"
    );
    f.docs("docs", &["--check"]).success();
}

#[test]
fn the_zh_page_carries_the_reports_chinese_text() {
    let f = Fixture::new();
    f.generate("docs");
    let zh = text(&f.path("docs"), "zh/reuseaddr.md");
    let en = text(&f.path("docs"), "reuseaddr.md");
    let r = reuseaddr_report();
    assert!(docs::missing_zh(r).is_empty(), "{:?}", docs::missing_zh(r));
    for t in &r.tables {
        let title = t.title_zh.as_deref().unwrap();
        assert!(
            zh.contains(&format!("### {title}")),
            "zh page lacks table title {title}"
        );
        let headers: Vec<&str> = t
            .columns
            .iter()
            .map(|c| c.header_zh.as_deref().unwrap())
            .collect();
        assert!(
            zh.contains(&format!("| {} |", headers.join(" | "))),
            "zh headers of {}",
            t.id
        );
        let english: Vec<&str> = t.columns.iter().map(|c| c.header.as_str()).collect();
        assert!(
            en.contains(&format!("| {} |", english.join(" | "))),
            "en headers of {}",
            t.id
        );
    }
    for f in &r.findings {
        let zh_text = f.zh.as_ref().unwrap();
        let zh_line = format!("- **{}** — {}", Lang::Zh.verdict(f.verdict), zh_text.claim);
        assert!(zh.contains(&zh_line), "zh page lacks: {zh_line}");
        let en_line = format!("- **{}** — {}", Lang::En.verdict(f.verdict), f.claim);
        assert!(en.contains(&en_line), "en page lacks: {en_line}");
    }
    let verdicts = ["证实", "推翻", "视情况而定"];
    assert!(
        verdicts.iter().any(|v| zh.contains(&format!("**{v}**"))),
        "Chinese verdicts"
    );
    assert!(zh.contains("## 本机实测") && zh.contains("| 内核 | Linux "));
}

#[test]
fn the_reuseaddr_page_answers_the_learners_question() {
    let f = Fixture::new();
    f.generate("docs");
    let page = text(&f.path("docs"), "reuseaddr.md");
    // The measured answer: 50 reads back as 1, and 0/0 fails right after a server-closed connection.
    assert!(page.contains("| 50 | 1 | 1 | 1 | 1 |"), "{page}");
    assert!(page.contains("| 0 | 0 | TIME-WAIT"), "{page}");
    // The explanation a beginner needs, with its sources.
    for needle in [
        "boolean flag",
        "TIME-WAIT",
        "closes first",
        "both",
        "SO_REUSEPORT",
        "socket(7)",
        "tcp(7)",
        "RFC 793",
        "RFC 9293",
        "ip-sysctl.rst",
        "Why 0 \"worked\"",
    ] {
        assert!(
            page.contains(needle),
            "docs/reuseaddr.md does not mention {needle}"
        );
    }
}

#[test]
fn a_missing_or_broken_sheet_is_an_error_naming_the_file() {
    let f = Fixture::new();
    let zh = f.path("sheets/zh/reuseaddr.md");
    let good = std::fs::read_to_string(&zh).unwrap();
    std::fs::remove_file(&zh).unwrap();
    f.docs("docs", &[])
        .code(1)
        .stderr(predicates::str::contains(format!(
            "missing sheet {}",
            zh.display()
        )));
    std::fs::write(
        &zh,
        good.replace(
            "<!-- lab:findings -->",
            "<!-- lab:findings -->\n<!-- lab:findings -->",
        ),
    )
    .unwrap();
    f.docs("docs", &[])
        .code(1)
        .stderr(predicates::str::contains(format!(
            "{}: <!-- lab:findings --> appears 2 times",
            zh.display()
        )));
    assert!(
        !f.path("docs").exists(),
        "nothing is written when a sheet is wrong"
    );
}

#[test]
fn results_lacking_a_lab_name_the_command_that_measures_again() {
    let f = Fixture::new();
    let one = docs::results_json(std::slice::from_ref(reuseaddr_report())).unwrap();
    std::fs::write(f.path("results.json"), one).unwrap();
    f.docs("docs", &[]).code(1).stderr(
        predicates::str::contains("no report for lab").and(predicates::str::contains("run `lab docs`")),
    );
}

#[test]
fn check_without_results_says_how_to_make_them() {
    let dir = tempfile::tempdir().unwrap();
    lab()
        .args(["docs", "--check", "--out"])
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(
            predicates::str::contains("results.json not found")
                .and(predicates::str::contains("run: lab docs")),
        );
}

// ---- every real lab, measured ----

/// The end-to-end run the lead does after merging: measures every lab. It fails until every
/// lab is built (the other labs are placeholders on a branch of their own).
#[test]
fn a_fresh_run_of_every_lab_gives_complete_docs_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("docs");
    lab()
        .args(["docs", "--leak-check", "--out"])
        .arg(&out)
        .assert()
        .success();
    let reports = docs::parse_results(&text(&out, "results.json")).unwrap();
    let missing: Vec<String> = reports.iter().flat_map(docs::missing_zh).collect();
    assert!(
        missing.is_empty(),
        "reports without Chinese text:\n{}",
        missing.join("\n")
    );
    for (name, bytes) in read_tree(&out) {
        assert!(
            !String::from_utf8(bytes).unwrap().contains(Marker::PREFIX),
            "{name} keeps a marker"
        );
    }
    lab()
        .args(["docs", "--check", "--out"])
        .arg(&out)
        .assert()
        .success();
}
