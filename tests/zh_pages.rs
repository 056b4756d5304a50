//! The Chinese pages are the learner's: on every docs/zh page no table cell, finding or note
//! holds English prose. Allowed: code spans, constants (SO_REUSEADDR), errno and exception
//! names (EADDRINUSE, IndexError), counters (ListenOverflows), addresses, file and host names,
//! numbers, man-page references (socket(7)), and the names of programs and systems below.
//! The glossary (labs/zh/glossary.md) fixes one term per concept; its "don't use" column is
//! checked on every zh page and sheet.

use std::path::Path;

/// Proper names, program and system-call names, sysctls and technical terms that stay as
/// they are in Chinese text (the lab ids too).
const NAMES: &str = "Linux Python Gopher Debian Wireshark Rust lab gophernicus pygopherd curl socat \
    lynx telnet netcat tcpdump tshark nc ss strace root uid gid netns userns sysctl unshare errno \
    pyenv mdBook ok recv send sendall sendto connect accept listen bind close socket setsockopt \
    getsockopt getprotobyname sendfile splice shutdown poll epoll read write select htons ms \
    gopherclient gopherd gophermap argv backlog protocol somaxconn syncookies cookie keepalive \
    linger timeval Nagle Unix Tcp netlink max min fork ping signalfd stderr stdout udp icmp sctp seq ack \
    gaierror http";

fn zh_pages() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/zh");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("docs/zh exists")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The lines a lab generated: table rows, findings, their evidence, notes.
fn generated(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with('|') || l.starts_with("- **") || l.starts_with("实测：") || l.starts_with("> 说明：")
}

/// Removes what may stay in English: code spans, quoted data ("Xcd"), calls and man-page
/// references (`socket(domain, type, protocol)`, `tcp(7)`), command-line options.
fn strip(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        match c {
            '`' => in_code = !in_code,
            _ if in_code => {}
            _ => out.push(c),
        }
    }
    let mut s = out;
    for (open, close) in [('"', '"'), ('(', ')')] {
        s = remove_spans(&s, open, close);
    }
    // command-line options (`--max-clients`), also inside Chinese parentheses
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '-' && chars.peek() == Some(&'-') {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '-')
            {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Removes `open … close` spans: quoted ASCII data, and the arguments of a call written
/// right after a name (`listen(backlog)`); a Chinese parenthesis is prose and stays.
fn remove_spans(s: &str, open: char, close: char) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(open) {
        let call = open != '(' || rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        match rest[i + 1..].find(close) {
            Some(j) if call && rest[i + 1..i + 1 + j].is_ascii() => {
                // a call drops its name too: `tcp(7)`, `listen(backlog)`
                let head = &rest[..i];
                let name = if open == '(' {
                    head.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                } else {
                    head
                };
                out.push_str(name);
                rest = &rest[i + 2 + j..];
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// English words left after the allowed kinds are taken out.
fn english_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for raw in text.split(|c: char| !(c.is_ascii_alphanumeric() || "_.-/:'+".contains(c))) {
        let w = raw.trim_matches(|c: char| ".:-'/+".contains(c));
        let letters = w.chars().filter(|c| c.is_ascii_alphabetic()).count();
        if letters < 3 || w.chars().any(|c| c.is_ascii_digit() || "_./:".contains(c)) {
            continue; // numbers, addresses, paths, files, constants with digits or _
        }
        let upper = w.chars().filter(|c| c.is_ascii_uppercase()).count();
        let camel = upper >= 2 || w.chars().all(|c| !c.is_ascii_lowercase());
        if camel || NAMES.split_whitespace().any(|n| n.eq_ignore_ascii_case(w)) {
            continue; // IndexError, ListenOverflows, EADDRINUSE, SYN-SENT, names
        }
        words.push(w.to_string());
    }
    words
}

#[test]
fn zh_pages_hold_no_english_prose() {
    let mut bad = Vec::new();
    for (name, text) in zh_pages() {
        for (i, line) in text.lines().enumerate().filter(|(_, l)| generated(l)) {
            let words = english_words(&strip(line));
            if !words.is_empty() {
                bad.push(format!("docs/zh/{name}:{}: {words:?} in {line}", i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} lines hold English prose:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_checker_finds_english_and_lets_the_allowed_kinds_through() {
    assert_eq!(english_words("| 等待中（waiting） | ok |"), ["waiting"]);
    assert!(
        english_words("EADDRINUSE IndexError 127.0.0.1:70 socket(7) SO_REUSEADDR 1.5 about.txt").is_empty()
    );
    assert!(english_words(&strip("运行 `python gopherclient.py quux.org /` 得到")).is_empty());
    let calls = "socket(domain, type, protocol)：见 tcp(7)；数据流接着是 \"Xcd\"，以 --no-sendfile 运行";
    assert!(
        english_words(&strip(calls)).is_empty(),
        "{:?}",
        english_words(&strip(calls))
    );
    assert_eq!(
        english_words(&strip("等待中（waiting for the peer）")),
        ["waiting", "for", "the", "peer"]
    );
}

/// The "don't use" terms of the glossary's table.
fn forbidden_terms() -> Vec<String> {
    let g =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/zh/glossary.md")).unwrap();
    g.lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.contains("不要用"))
        .filter_map(|l| {
            l.trim_matches('|')
                .split('|')
                .nth(2)
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn zh_pages_and_sheets_follow_the_glossary() {
    let terms = forbidden_terms();
    assert!(terms.len() >= 5, "the glossary lists terms not to use: {terms:?}");
    let sheets = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs/zh");
    let mut texts = zh_pages();
    for e in std::fs::read_dir(sheets).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "glossary.md" {
            texts.push((
                format!("labs/zh/{name}"),
                std::fs::read_to_string(e.path()).unwrap(),
            ));
        }
    }
    let mut bad = Vec::new();
    for (name, text) in &texts {
        for t in &terms {
            if text.contains(t.as_str()) {
                bad.push(format!("{name}: uses {t:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
