//! The web book: `lab docs` output built with mdBook (the English book, then the Chinese
//! one at zh/), every internal link resolved, and every page opened in headless Chromium
//! to measure its tables against the content column.
//!
//! Needs `mdbook` and `chromium` on PATH (.ci/test.sh installs both). Without them the test
//! fails when CI=true and is skipped otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lab");
/// How long one Chromium run may take before it is killed.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(45);
const MARK: &str = "LABRESULT";

/// Writes a result marker into the DOM: the number of tables in the content and each one
/// whose visible box (itself, or the nearest ancestor that clips or scrolls it) reaches
/// past the content column.
const PROBE: &str = r#"<script>
(function () {
  var main = document.querySelector('main') || document.body;
  var m = main.getBoundingClientRect();
  var tables = main.querySelectorAll('table');
  var wide = [];
  tables.forEach(function (t, i) {
    var box = t;
    for (var e = t; e && e !== main; e = e.parentElement) {
      var ox = getComputedStyle(e).overflowX;
      if (ox === 'auto' || ox === 'scroll' || ox === 'hidden') { box = e; break; }
    }
    var r = box.getBoundingClientRect();
    if (r.width > 0 && (r.right > m.right + 1 || r.left < m.left - 1)) {
      wide.push('table ' + (i + 1) + ' is ' + Math.round(r.width) + 'px in a ' + Math.round(m.width) + 'px column');
    }
  });
  var d = document.createElement('pre');
  d.id = 'lab-probe';
  d.textContent = 'LABRESULT tables=' + tables.length + ' main=' + Math.round(m.width) +
    ' wide=' + wide.length + ' [' + wide.join('; ') + '] LABEND';
  document.body.appendChild(d);
})();
</script>
"#;

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            html_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "html") {
            out.push(p);
        }
    }
}

/// Every value of `attr="..."` in the page.
fn attrs(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&needle) {
        rest = &rest[i + needle.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        found.push(rest[..end].replace("&amp;", "&"));
        rest = &rest[end..];
    }
    found
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file an internal link points at, or None for an external link or a bare anchor.
fn target(page: &Path, href: &str) -> Option<PathBuf> {
    let external = ["http:", "https:", "mailto:", "javascript:", "data:", "//"];
    if href.is_empty() || href.starts_with('#') || external.iter().any(|p| href.starts_with(p)) {
        return None;
    }
    let path = href.split(['#', '?']).next().unwrap_or("");
    if path.is_empty() {
        return None;
    }
    let mut t = page.parent().unwrap().join(percent_decode(path));
    if path.ends_with('/') {
        t.push("index.html");
    }
    Some(t)
}

/// Text inside `<code>` elements.
fn code_spans(html: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<code") {
        rest = &rest[i..];
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest.find("</code>") else { break };
        if close > open {
            spans.push(&rest[open + 1..close]);
        }
        rest = &rest[close.max(open) + 1..];
    }
    spans
}

/// Opens `page` in headless Chromium and returns the probe's marker line.
fn probe(page: &Path, profile: &Path, dump: &Path) -> String {
    let out = std::fs::File::create(dump).unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish {} within {CHROMIUM_TIMEOUT:?}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dom = std::fs::read_to_string(dump).unwrap_or_default();
    // The result element, not the script's own source (which holds the marker too).
    let Some(i) = dom
        .find("id=\"lab-probe\">")
        .and_then(|p| dom[p..].find(MARK).map(|q| p + q))
    else {
        panic!("{}: no probe result in the DOM Chromium dumped", page.display());
    };
    let line = &dom[i..];
    line[..line.find("LABEND").unwrap_or(line.len())].to_string()
}

fn field(line: &str, name: &str) -> usize {
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {line}"));
    v.parse().unwrap()
}

#[test]
fn the_book_builds_links_resolve_and_tables_fit() {
    let missing: Vec<&str> = ["mdbook", "chromium"].into_iter().filter(|c| !have(c)).collect();
    if !missing.is_empty() {
        let msg = format!(
            "the web-book test needs {} on PATH (bash .ci/test.sh installs them)",
            missing.join(" and ")
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
        return;
    }

    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    let root = env!("CARGO_MANIFEST_DIR");
    run(Command::new(BIN)
        .current_dir(root)
        .args(["docs", "--from", "docs/results.json", "--out"])
        .arg(&docs));
    // The English book clears target/book, so it goes first; the Chinese one builds into zh/.
    run(Command::new("mdbook").arg("build").arg(&docs));
    run(Command::new("mdbook").arg("build").arg(docs.join("zh")));
    let book = tmp.path().join("target/book");

    let mut pages = Vec::new();
    html_files(&book, &mut pages);
    assert!(
        book.join("index.html").is_file() && book.join("zh/index.html").is_file(),
        "both books have an index.html"
    );

    // Every internal link and resource resolves to a file.
    let (mut links, mut broken) = (0, Vec::new());
    for page in &pages {
        let html = std::fs::read_to_string(page).unwrap();
        // 404.html is served for any missing path, so its links are absolute (site-url).
        let not_found = page.file_name().is_some_and(|n| n == "404.html");
        for href in attrs(&html, "href").into_iter().chain(attrs(&html, "src")) {
            if let Some(t) = target(page, &href).filter(|_| !not_found) {
                links += 1;
                if !t.is_file() {
                    broken.push(format!(
                        "{} -> {href}",
                        page.strip_prefix(&book).unwrap().display()
                    ));
                }
            }
        }
        let rel = page.strip_prefix(&book).unwrap();
        if rel.starts_with("zh") {
            assert!(
                html.contains("lang=\"zh-CN\""),
                "{} is not lang=zh-CN",
                rel.display()
            );
            assert!(
                rel.ends_with("toc.html") || html.contains("lab：在本机上实测回答套接字问题"),
                "{}: no Chinese title",
                rel.display()
            );
        }
        // The English sheets write straight quotes only, so a curly one is smart punctuation
        // (the Chinese sheets use “” in their prose and comments on purpose).
        for code in code_spans(&html).into_iter().filter(|_| !rel.starts_with("zh")) {
            assert!(
                !code.contains(['\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}']),
                "{}: curly quotes in a code span: {code}",
                rel.display()
            );
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
    let en = std::fs::read_to_string(book.join("README.html")).unwrap();
    assert!(
        en.contains("href=\"zh/README.html\""),
        "the English index links to the Chinese one"
    );
    let zh = std::fs::read_to_string(book.join("zh/README.html")).unwrap();
    assert!(
        zh.contains("href=\"../README.html\""),
        "the Chinese index links to the English one"
    );

    // Every content page in Chromium: no table wider than the content column.
    let chapters: Vec<&PathBuf> = pages
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            !matches!(name, "print.html" | "404.html" | "toc.html" | "index.html")
        })
        .collect();
    let profile = tmp.path().join("chromium-profile");
    let (mut tables, mut wide) = (0, Vec::new());
    for page in &chapters {
        let html = std::fs::read_to_string(page).unwrap();
        let at = html.rfind("</body>").expect("a </body>");
        let copy = page.with_extension("probe.html");
        std::fs::write(&copy, format!("{}{PROBE}{}", &html[..at], &html[at..])).unwrap();
        let line = probe(&copy, &profile, &tmp.path().join("dom.html"));
        tables += field(&line, "tables");
        if field(&line, "wide") > 0 {
            wide.push(format!("{}: {line}", page.strip_prefix(&book).unwrap().display()));
        }
    }
    eprintln!(
        "book: {} HTML files, {links} internal links checked, {} pages opened in Chromium, {tables} tables measured",
        pages.len(),
        chapters.len()
    );
    assert!(tables > 0, "no tables measured");
    assert!(
        wide.is_empty(),
        "tables wider than the content column:\n{}",
        wide.join("\n")
    );
}
