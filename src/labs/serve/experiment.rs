//! The measured report: the server runs in a thread on a kernel-chosen loopback port
//! and real TCP clients (threads of this process) talk to it. Every thread is joined
//! and every wait is bounded.

use crate::line::count::{self, PROMPT};
use crate::line::server::{self, Config, Mode, Record, StopPipe, Summary};
use crate::report::{Report, Table, Verdict};
use crate::row;
use crate::sandbox::Ctx;
use anyhow::{anyhow, Context, Result};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const STEP: Duration = Duration::from_secs(5);
const MAX_LINE: usize = 4096;
const LOAD_CLIENTS: usize = 20;
const LOAD_IDLE: Duration = Duration::from_millis(1000);

/// A server running in a thread of this process until the guard is finished.
struct Running<'s> {
    port: u16,
    trigger: Option<std::os::fd::OwnedFd>,
    handle: std::thread::ScopedJoinHandle<'s, Result<Summary>>,
}

impl Running<'_> {
    fn finish(mut self) -> Result<Summary> {
        self.trigger = None; // closing the write end stops the server
        self.handle
            .join()
            .map_err(|_| anyhow!("the server thread panicked"))?
    }
}

fn start<'s, 'e: 's>(
    scope: &'s std::thread::Scope<'s, 'e>,
    stop: &'e mut StopPipe,
    cfg: Config,
    backlog: i32,
) -> Result<Running<'s>> {
    let listener = server::listen(LOOPBACK.into(), 0, 1, backlog)?;
    let port = server::local_addr(&listener)?.port();
    let trigger = stop.trigger();
    let stop: &'e StopPipe = stop;
    let handle = std::thread::Builder::new()
        .spawn_scoped(scope, move || server::serve(&listener, &cfg, stop, true))
        .context("spawn the server thread")?;
    Ok(Running {
        port,
        trigger,
        handle,
    })
}

fn config(mode: Mode, idle: Duration) -> Config {
    Config {
        mode,
        max_line: MAX_LINE,
        idle,
        max_concurrent: 64,
        max_clients: None,
        log: false,
    }
}

pub fn run(ctx: &Ctx) -> Result<Report> {
    let mut report = super::super::report_for(&super::LAB);
    ctx.progress("serve: one client per kind of input");
    let (answers, greeting) = answers_table()?;
    report.tables.push(answers);
    ctx.progress("serve: 20 clients at once, one silent, in each mode");
    report.tables.push(modes_table()?);
    report.note_zh(
        format!("the first client was greeted with {greeting:?}"),
        format!("第一个客户端收到的问候是 {greeting:?}"),
    );
    findings(&mut report);
    Ok(report)
}

// ---- the client side ----

/// What one client saw.
struct Seen {
    local: SocketAddr,
    /// Greeting and prompt, as received.
    opening: Vec<u8>,
    /// Everything after the prompt, up to EOF.
    answer: Vec<u8>,
    /// How the read to EOF ended: "ok" or an errno name.
    end: String,
    connected: Instant,
    greeted: Instant,
}

fn connect(port: u16) -> Result<TcpStream> {
    let addr = SocketAddr::from((LOOPBACK, port));
    let s = TcpStream::connect_timeout(&addr, STEP).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(STEP))?;
    s.set_write_timeout(Some(STEP))?;
    Ok(s)
}

/// Reads until the prompt has arrived (or EOF), bounded by the read timeout.
fn read_opening(s: &mut TcpStream) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.ends_with(PROMPT.as_bytes()) && buf.len() < 4096 {
        let n = s.read(&mut chunk).context("read the greeting")?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

/// Reads to EOF; a reset or timeout ends it and is reported, not raised.
fn read_rest(s: &mut TcpStream) -> (Vec<u8>, String) {
    let mut buf = Vec::new();
    let end = match s.read_to_end(&mut buf) {
        Ok(_) => "ok".to_string(),
        Err(e) => crate::sys::errno_name(&e),
    };
    (buf, end)
}

/// One full exchange: wait for the prompt, send `payload`, half-close if asked, read to EOF.
fn exchange(port: u16, payload: &[u8], half_close: bool) -> Result<Seen> {
    let connected = Instant::now();
    let mut s = connect(port)?;
    let local = s.local_addr()?;
    let opening = read_opening(&mut s)?;
    let greeted = Instant::now();
    s.write_all(payload).context("send the line")?;
    if half_close {
        s.shutdown(Shutdown::Write).context("shutdown(SHUT_WR)")?;
    }
    let (answer, end) = read_rest(&mut s);
    Ok(Seen {
        local,
        opening,
        answer,
        end,
        connected,
        greeted,
    })
}

/// Bytes as a short readable string: printable ASCII and other characters as they
/// are, control characters and invalid bytes escaped.
pub fn escape(b: &[u8], max_chars: usize) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for x in chunk.invalid() {
            out.push_str(&format!("\\x{x:02x}"));
        }
    }
    if out.chars().count() > max_chars {
        let cut: String = out.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        out
    }
}

// ---- table 1: one client per kind of input ----

fn cases() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        ("ASCII, as nc sends it (LF)", b"hello\n".to_vec(), false),
        ("ASCII, as telnet sends it (CRLF)", b"hello\r\n".to_vec(), false),
        ("Chinese in UTF-8", "你好\n".as_bytes().to_vec(), false),
        ("spaces and a tab around", b"  hi there\t\r\n".to_vec(), false),
        (
            "ideographic space U+3000 around",
            "\u{3000}你好\u{3000}\n".as_bytes().to_vec(),
            false,
        ),
        ("invalid UTF-8", b"\xff\xfeabc\n".to_vec(), false),
        ("empty line", b"\n".to_vec(), false),
        ("no newline, then EOF", b"abc".to_vec(), true),
        (
            "oversized line",
            [vec![b'x'; MAX_LINE + 904], b"\n".to_vec()].concat(),
            false,
        ),
    ]
}

fn answers_table() -> Result<(Table, String)> {
    let mut t = Table::new(
        "answers",
        "One client per kind of input: what the server answered, and what the book's Python would have counted",
        &[
            ("input", "input"),
            ("sent", "bytes sent"),
            ("sent_n", "bytes"),
            ("answer", "server's answer"),
            ("chars", "characters"),
            ("bytes", "bytes counted"),
            ("py2", "Python 2 (the book) would say"),
            ("py3", "Python 3 text port would say"),
            ("outcome", "server's outcome"),
        ],
    )
    .zh(
        "每种输入一个客户端：服务器的回答，以及书中的 Python 会数出多少",
        &[
            "输入",
            "发送的字节",
            "字节数",
            "服务器的回答",
            "字符数",
            "计入的字节数",
            "Python 2（书中）会说",
            "Python 3 文本模式移植会说",
            "服务器记录的结果",
        ],
    );
    let mut stop = StopPipe::new()?;
    let (seen, summary) = std::thread::scope(|scope| -> Result<(Vec<Seen>, Summary)> {
        let running = start(scope, &mut stop, config(Mode::Iterative, STEP), 1)?;
        let seen: Result<Vec<Seen>> = cases()
            .iter()
            .map(|(name, payload, half)| {
                exchange(running.port, payload, *half).with_context(|| format!("client: {name}"))
            })
            .collect();
        let summary = running.finish()?;
        Ok((seen?, summary))
    })?;
    let greeting = seen
        .first()
        .map(|s| String::from_utf8_lossy(&s.opening).into_owned())
        .unwrap_or_default();
    for ((name, payload, _), s) in cases().iter().zip(&seen) {
        let rec = record_for(&summary.records, s.local);
        let c = rec.and_then(|r| r.count.clone());
        let too_long = payload.len() > MAX_LINE + 2;
        t.push(row! {
            "input" => name,
            "sent" => escape(payload, 24),
            "sent_n" => payload.len(),
            "answer" => escape(&s.answer, 70),
            "chars" => c.as_ref().and_then(|c| c.chars),
            "bytes" => c.as_ref().map(|c| c.bytes),
            "py2" => (!too_long).then(|| count::python2_count(payload)),
            "py3" => (!too_long).then(|| match count::python3_count(payload) {
                Ok(n) => serde_json::json!(n),
                Err(e) => serde_json::json!(e),
            }),
            "outcome" => rec.map(|r| r.outcome.clone()),
        });
    }
    t.note_zh(
        "the server strips leading and trailing ASCII whitespace (space, \\t, \\n, \\r, \\v, \\f) as the book's Python 2 line.strip() did",
        "服务器去掉首尾的 ASCII 空白（空格、\\t、\\n、\\r、\\v、\\f），和书中 Python 2 的 line.strip() 一样",
    );
    let oversized = MAX_LINE + 905;
    t.note_zh(
        format!(
            "the Python columns are what len(line.strip()) gives for the same bytes; the oversized line ({oversized} bytes) \
             is over this server's --max-line {MAX_LINE}, a limit the book's server did not have"
        ),
        format!(
            "两列 Python 是同样的字节交给 len(line.strip()) 得到的结果；超长的一行（{oversized} 字节）\
             超过了本服务器的 --max-line {MAX_LINE}，书中的服务器没有这个上限"
        ),
    );
    t.note_zh(
        "a Python 3 port reading text would stop with UnicodeDecodeError on invalid UTF-8; in the book's loop that ends the whole server",
        "以文本方式读取的 Python 3 移植遇到无效的 UTF-8 会抛出 UnicodeDecodeError；在书中的循环里，这会让整个服务器退出",
    );
    Ok((t, greeting))
}

fn record_for(records: &[Record], local: SocketAddr) -> Option<&Record> {
    records.iter().find(|r| r.peer == Some(local))
}

// ---- table 2: 20 clients at once, one of them silent ----

fn modes_table() -> Result<Table> {
    let mut t = Table::new(
        "modes",
        "20 clients at once, the first one silent: how long the other 19 waited for their greeting",
        &[
            ("mode", "mode"),
            ("clients", "clients"),
            ("answered", "correct answers"),
            ("wait_median_ms", "median wait (ms)"),
            ("wait_max_ms", "longest wait (ms)"),
            (
                "after_silent_ms",
                "next greeting, from the silent one's connect (ms)",
            ),
            ("idle_timeout_ms", "idle timeout (ms)"),
            ("silent", "the silent client got"),
            ("server", "server's summary"),
        ],
    )
    .zh(
        "20 个客户端同时连接，第一个不发送任何内容：其余 19 个等了多久才收到问候",
        &[
            "模式",
            "客户端数",
            "正确回答数",
            "等待中位数（毫秒）",
            "最长等待（毫秒）",
            "从沉默者连接起到下一个问候（毫秒）",
            "空闲超时（毫秒）",
            "沉默的客户端收到",
            "服务器的汇总",
        ],
    );
    for mode in [Mode::Iterative, Mode::Event] {
        let m = load(mode)?;
        let mut waits: Vec<f64> = m.waits_ms.clone();
        waits.sort_by(|a, b| a.total_cmp(b));
        t.push(row! {
            "mode" => mode.name(),
            "clients" => LOAD_CLIENTS,
            "answered" => m.correct,
            "wait_median_ms" => waits.get(waits.len() / 2).map(|v| round1(*v)),
            "wait_max_ms" => waits.last().map(|v| round1(*v)),
            "after_silent_ms" => m.after_silent_ms.map(round1),
            "idle_timeout_ms" => LOAD_IDLE.as_millis() as u64,
            "silent" => m.silent,
            "server" => m.summary,
        });
    }
    t.note_zh(
        "listen backlog 32 here (not the book's 1) so that no connection waits for a SYN retransmission: see lab backlog for that",
        "这里 listen 的 backlog 是 32（不是书中的 1），这样没有连接需要等待 SYN 重传：那部分请看 lab backlog",
    );
    t.note_zh(
        "wait = from connect() to the prompt arriving; the silent client connects first and is greeted before the others start",
        "等待 = 从 connect() 到收到提示语；沉默的客户端最先连接，并在其他客户端开始之前收到问候",
    );
    t.note_zh(
        "the next greeting, timed from the moment the silent client called connect(), shows the one-at-a-time loop directly: in the iterative mode nothing else happens until the silent client times out",
        "“从沉默者连接起到下一个问候”从沉默的客户端调用 connect() 的那一刻计时，直接显示了一次一个的循环：在迭代模式下，沉默的客户端超时之前什么也不会发生",
    );
    Ok(t)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

struct Load {
    correct: usize,
    waits_ms: Vec<f64>,
    after_silent_ms: Option<f64>,
    silent: String,
    summary: String,
}

fn load(mode: Mode) -> Result<Load> {
    let mut stop = StopPipe::new()?;
    std::thread::scope(|scope| -> Result<Load> {
        let running = start(scope, &mut stop, config(mode, LOAD_IDLE), 32)?;
        let port = running.port;
        let result = (|| -> Result<(Vec<Result<Seen>>, String, Instant)> {
            // Taken before connect(): the server cannot start the silent client's idle
            // clock before this, so in the iterative mode the next greeting comes at least
            // one idle timeout after it, however slowly this thread runs.
            let silent_start = Instant::now();
            let mut silent = connect(port)?;
            read_opening(&mut silent)?;
            // A gate, not a Barrier: if a thread cannot be created (EAGAIN), the others must
            // not wait for it forever. They start together once the gate opens.
            let gate = std::sync::RwLock::new(());
            let seen = std::thread::scope(|inner| {
                let closed = gate.write();
                let handles: Vec<_> = (0..LOAD_CLIENTS - 1)
                    .map(|_| {
                        std::thread::Builder::new().spawn_scoped(inner, || {
                            drop(gate.read());
                            exchange(port, b"hello\n", false)
                        })
                    })
                    .collect();
                drop(closed);
                handles
                    .into_iter()
                    .map(|h| match h {
                        Ok(h) => h
                            .join()
                            .unwrap_or_else(|_| Err(anyhow!("client thread panicked"))),
                        Err(e) => Err(anyhow!("spawn a client thread: {e}")),
                    })
                    .collect::<Vec<_>>()
            });
            let (rest, end) = read_rest(&mut silent);
            let text = format!(
                "{} after {} ms ({})",
                escape(rest.trim_ascii(), 40),
                silent_start.elapsed().as_millis(),
                end
            );
            Ok((seen, text, silent_start))
        })();
        let summary = running.finish()?;
        let (seen, silent, silent_start) = result?;
        let expected = count::answer(&count::count(b"hello"));
        let ok: Vec<&Seen> = seen.iter().filter_map(|s| s.as_ref().ok()).collect();
        Ok(Load {
            correct: ok
                .iter()
                .filter(|s| s.answer == expected.as_bytes() && s.end == "ok")
                .count(),
            waits_ms: ok
                .iter()
                .map(|s| (s.greeted - s.connected).as_secs_f64() * 1000.0)
                .collect(),
            after_silent_ms: ok
                .iter()
                .map(|s| s.greeted.saturating_duration_since(silent_start).as_secs_f64() * 1000.0)
                .min_by(|a, b| a.total_cmp(b)),
            silent,
            summary: summary_cell(&summary),
        })
    })
}

fn summary_cell(s: &Summary) -> String {
    let errors: Vec<String> = s.errors.iter().map(|(k, v)| format!("{v} {k}")).collect();
    format!(
        "{} served, {} answered{}",
        s.clients,
        s.answered,
        if errors.is_empty() {
            String::new()
        } else {
            format!(", {}", errors.join(", "))
        }
    )
}

// ---- findings ----

fn findings(report: &mut Report) {
    if let Some(t) = report.table("answers").cloned() {
        answer_findings(report, &t);
    }
    if let Some(t) = report.table("modes").cloned() {
        mode_findings(report, &t);
    }
}

fn row_of<'a>(t: &'a Table, input: &str) -> Option<&'a crate::report::Row> {
    t.rows.iter().find(|r| r["input"] == input)
}

fn text(r: Option<&crate::report::Row>, key: &str) -> String {
    crate::render::cell_text(r.and_then(|r| r.get(key)))
}

fn answer_findings(report: &mut Report, t: &Table) {
    let zh = row_of(t, "Chinese in UTF-8");
    let (chars, bytes, py2) = (text(zh, "chars"), text(zh, "bytes"), text(zh, "py2"));
    report.finding_zh(
        "The book's server counts the characters you type",
        if chars == "2" && py2 == "6" {
            Verdict::Refuted
        } else {
            Verdict::Depends
        },
        format!(
            "for 你好 this server counted {chars} characters in {bytes} bytes; the book's Python 2 len() \
             counted bytes and would have said {py2} — the same only for ASCII"
        ),
        "书中的服务器数的是你输入的字符个数",
        format!(
            "对 你好，本服务器数出 {chars} 个字符、{bytes} 个字节；书中 Python 2 的 len() 数的是字节，会说 {py2}——只有 ASCII 时两者相同"
        ),
    );
    let (lf, crlf) = (
        text(row_of(t, "ASCII, as nc sends it (LF)"), "answer"),
        text(row_of(t, "ASCII, as telnet sends it (CRLF)"), "answer"),
    );
    report.finding_zh(
        "telnet (which ends a line with CR LF) and nc (LF only) get the same count",
        if lf == crlf && lf.contains("5 characters") {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!("\"hello\" with LF got \"{lf}\"; with CR LF got \"{crlf}\": strip() removes both"),
        "telnet（行尾是 CR LF）和 nc（只有 LF）得到相同的计数",
        format!("以 LF 结尾的 \"hello\" 得到“{lf}”；以 CR LF 结尾得到“{crlf}”：strip() 把两者都去掉了"),
    );
    let bad = row_of(t, "invalid UTF-8");
    let after = row_of(t, "empty line");
    let (bad_answer, bad_py3, empty_answer) = (text(bad, "answer"), text(bad, "py3"), text(after, "answer"));
    report.finding_zh(
        "Bytes that are not UTF-8 do not stop the server",
        if bad_answer.contains("not valid UTF-8") && empty_answer.contains("0 characters") {
            Verdict::Confirmed
        } else {
            Verdict::Refuted
        },
        format!(
            "\\xff\\xfeabc got \"{bad_answer}\" and the next client was still served (\"{empty_answer}\"); \
             a Python 3 text port would have raised {bad_py3}"
        ),
        "不是 UTF-8 的字节不会让服务器停下",
        format!("\\xff\\xfeabc 得到“{bad_answer}”，下一个客户端照常得到服务（“{empty_answer}”）；Python 3 文本模式的移植会抛出 {bad_py3}"),
    );
}

fn mode_findings(report: &mut Report, t: &Table) {
    let get = |mode: &str, key: &str| {
        t.rows
            .iter()
            .find(|r| r["mode"] == mode)
            .and_then(|r| r.get(key))
            .and_then(|v| v.as_f64())
    };
    let idle = LOAD_IDLE.as_millis() as f64;
    let (it, co) = (get("iterative", "wait_max_ms"), get(Mode::Event.name(), "wait_max_ms"));
    let (it_med, co_med) = (
        get("iterative", "wait_median_ms"),
        get(Mode::Event.name(), "wait_median_ms"),
    );
    let (it_next, co_next) = (
        get("iterative", "after_silent_ms"),
        get(Mode::Event.name(), "after_silent_ms"),
    );
    let verdict = match (it_next, co_next) {
        (Some(i), Some(c)) if i >= idle * 0.9 && c < idle / 2.0 => Verdict::Confirmed,
        (Some(_), Some(_)) => Verdict::Refuted,
        _ => Verdict::Depends,
    };
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v}"));
    let (n, it, it_med, co, co_med, it_next, co_next) = (
        LOAD_CLIENTS - 1,
        show(it),
        show(it_med),
        show(co),
        show(co_med),
        show(it_next),
        show(co_next),
    );
    report.finding_zh(
        "The book's server serves one client at a time: one silent client makes everyone else wait",
        verdict,
        format!(
            "with one silent client and a {idle} ms idle timeout, the other {n} clients waited up to {it} ms \
             (median {it_med}) in the iterative mode, and up to {co} ms (median {co_med}) with a thread per client; \
             after the silent client's connect() the next greeting came {it_next} ms later in the iterative mode, \
             {co_next} ms later in the concurrent one"
        ),
        "书中的服务器一次只服务一个客户端：一个不说话的客户端让其他人都得等",
        format!(
            "有一个沉默的客户端、空闲超时 {idle} 毫秒时，其余 {n} 个客户端在迭代模式下最多等了 {it} 毫秒（中位数 {it_med}），\
             每个客户端一个线程时最多 {co} 毫秒（中位数 {co_med}）；沉默客户端调用 connect() 之后，\
             下一个问候在迭代模式下 {it_next} 毫秒后才出现，在并发模式下是 {co_next} 毫秒"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_shows_control_and_invalid_bytes() {
        assert_eq!(escape(b"hi\r\n", 10), "hi\\r\\n");
        assert_eq!(escape(b"\xff\xfea", 10), "\\xff\\xfea");
        assert_eq!(escape("你好".as_bytes(), 10), "你好");
        assert_eq!(escape(b"abcdef", 3), "abc…");
    }

    #[test]
    fn the_experiment_measures_what_the_book_did() {
        let r = crate::sandbox::run(crate::sandbox::Mode::Auto, run).unwrap();
        let a = r.table("answers").unwrap();
        let get = |input: &str| a.rows.iter().find(|row| row["input"] == input).unwrap().clone();
        let zh = get("Chinese in UTF-8");
        assert_eq!(
            (zh["chars"].clone(), zh["bytes"].clone(), zh["py2"].clone()),
            (2.into(), 6.into(), 6.into())
        );
        assert_eq!(
            get("ASCII, as telnet sends it (CRLF)")["answer"],
            "You entered 5 characters.\\n"
        );
        assert_eq!(get("empty line")["answer"], "You entered 0 characters.\\n");
        assert_eq!(get("no newline, then EOF")["chars"], 3);
        assert_eq!(get("invalid UTF-8")["chars"], serde_json::Value::Null);
        assert_eq!(get("invalid UTF-8")["bytes"], 5);
        assert_eq!(get("oversized line")["outcome"], "line too long");
        assert!(get("oversized line")["answer"]
            .as_str()
            .unwrap()
            .contains("Line too long"));
        let m = r.table("modes").unwrap();
        for row in &m.rows {
            assert_eq!(row["answered"], (LOAD_CLIENTS - 1) as u64, "{row:?}");
            assert!(row["silent"].as_str().unwrap().contains("No input"), "{row:?}");
        }
        let next = |mode: &str| {
            m.rows.iter().find(|r| r["mode"] == mode).unwrap()["after_silent_ms"]
                .as_f64()
                .unwrap()
        };
        // Head-of-line blocking is a fact of the iterative loop, not a timing accident:
        // no other client can be greeted before the silent one's idle timeout has run out,
        // and that clock starts after the silent client's connect() was called.
        assert!(next("iterative") >= LOAD_IDLE.as_millis() as f64);
        assert_eq!(r.findings.len(), 4);
    }
}
