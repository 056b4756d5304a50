//! The measurement: which Python interpreters start here, what the book's program does
//! when run with each argument shape that fails before a socket is made, and, inside the
//! lab's private network namespace, the book's program against a local Gopher responder on
//! 127.0.0.1 port 70. Every child process is bounded by 5 s, killed and reaped.

use super::program::{BOOK_PROGRAM, PY3_PORT};
use super::Args;
use crate::labs::wire::{self, Recorder, Taken, Wire};
use crate::report::{Call, Measured, Unmeasured};
use crate::sandbox::Ctx;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The argument shapes a learner might type after `gopherclient.py`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    None,
    HostOnly,
    BookWay,
    Learner,
    LearnerNextTry,
    UrlMenu,
    UrlPortText,
    HostPort,
    HostPortSelector,
    EmptySelector,
    SelectorSpaces,
    SelectorTab,
    UrlSearch,
    SelectorPercent09,
    UrlPercent20,
    SelectorPercent20,
    Ipv6Literal,
    Ipv6Url,
    BadPort,
    ExtraArguments,
    OtherScheme,
}

impl Shape {
    /// Every shape, in the table's order.
    pub const ALL: [Shape; 21] = [
        Shape::None,
        Shape::HostOnly,
        Shape::BookWay,
        Shape::Learner,
        Shape::LearnerNextTry,
        Shape::UrlMenu,
        Shape::UrlPortText,
        Shape::HostPort,
        Shape::HostPortSelector,
        Shape::EmptySelector,
        Shape::SelectorSpaces,
        Shape::SelectorTab,
        Shape::UrlSearch,
        Shape::SelectorPercent09,
        Shape::UrlPercent20,
        Shape::SelectorPercent20,
        Shape::Ipv6Literal,
        Shape::Ipv6Url,
        Shape::BadPort,
        Shape::ExtraArguments,
        Shape::OtherScheme,
    ];

    /// The words after the program's name.
    pub fn argv(self) -> &'static [&'static str] {
        match self {
            Shape::None => &[],
            Shape::HostOnly => &["quux.org"],
            Shape::BookWay => &["quux.org", "/"],
            Shape::Learner => &["quux.org/"],
            Shape::LearnerNextTry => &["quux.org/", "/"],
            Shape::UrlMenu => &["gopher://quux.org/1/"],
            Shape::UrlPortText => &["gopher://quux.org:70/0/about.txt"],
            Shape::HostPort => &["quux.org:70"],
            Shape::HostPortSelector => &["quux.org:70", "/"],
            Shape::EmptySelector => &["quux.org", ""],
            Shape::SelectorSpaces => &["quux.org", "/my notes.txt"],
            Shape::SelectorTab => &["quux.org", "/search\tsockets"],
            Shape::UrlSearch => &["gopher://quux.org/7/search%09sockets"],
            Shape::SelectorPercent09 => &["quux.org", "/search%09sockets"],
            Shape::UrlPercent20 => &["gopher://quux.org/0/my%20notes.txt"],
            Shape::SelectorPercent20 => &["quux.org", "/my%20notes.txt"],
            Shape::Ipv6Literal => &["::1", "/"],
            Shape::Ipv6Url => &["gopher://[::1]:70/1/"],
            Shape::BadPort => &["quux.org:99999"],
            Shape::ExtraArguments => &["quux.org", "/", "extra"],
            Shape::OtherScheme => &["http://quux.org/"],
        }
    }

    /// The catalogue key of its name (`shape.<key>`).
    pub fn key(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }
}

/// Python 2 (the book as written) or Python 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Major {
    Python2,
    Python3,
}

/// An interpreter that started here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    pub major: Major,
    /// "2.7", "3.11": what `sys.version_info` said.
    pub version: String,
    pub path: String,
}

impl Interpreter {
    /// The name shown in cells: "Python 2.7".
    pub fn name(&self) -> String {
        format!("Python {}", self.version)
    }
}

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Exit {
    Code {
        code: i32,
    },
    /// Ended by a signal it did not get from the lab.
    Signal,
    /// Killed by the lab after 5 s.
    Killed,
    /// Could not be started at all.
    NotStarted {
        error: String,
    },
}

/// The exception a traceback ends with, read from the last line of stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exception {
    IndexError,
    TypeError,
    Gaierror,
    Other,
}

impl Exception {
    pub fn of(last_line: &str) -> Option<Exception> {
        let name = last_line.split(':').next()?.trim();
        Some(match name {
            "" => return None,
            "IndexError" => Exception::IndexError,
            "TypeError" => Exception::TypeError,
            "socket.gaierror" | "gaierror" => Exception::Gaierror,
            n if n.ends_with("Error") || n.ends_with("Exception") => Exception::Other,
            _ => return None,
        })
    }
}

/// One run of a Python program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub python: Major,
    pub exit: Exit,
    /// The last non-empty line of stderr, as printed.
    pub last_line: String,
    pub exception: Option<Exception>,
    pub stdout_bytes: usize,
}

impl Run {
    pub fn succeeded(&self) -> bool {
        self.exit == Exit::Code { code: 0 }
    }
}

/// A shape and, when Python ran it here, what each interpreter did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeRun {
    pub shape: Shape,
    pub argv: Vec<String>,
    /// Empty when the shape was not run (it would open a socket, or no Python).
    pub ran: Vec<Run>,
}

/// Which program the local run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    /// The book's program as printed.
    Book,
    /// The lab's two-line Python 3 port.
    Py3Port,
}

/// What the responder on 127.0.0.1:70 read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum ServerRead {
    NoConnection,
    Read {
        #[serde(with = "crate::gopher::bytes::bytes_text")]
        bytes: Vec<u8>,
    },
    Failed {
        errno: Call,
    },
}

/// The book's program run against the local responder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopbackRun {
    pub program: Program,
    pub argv: Vec<String>,
    pub run: Run,
    pub server_read: ServerRead,
}

/// Why no Python ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoPython {
    /// `--no-python`.
    Asked,
    /// None of the candidates started.
    NoneFound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The interpreters used (at most one per major version).
    pub pythons: Vec<Interpreter>,
    /// Why no interpreter was used, when none was.
    pub no_python: Option<NoPython>,
    pub shapes: Vec<ShapeRun>,
    /// The local run on 127.0.0.1:70; None when no Python ran.
    pub loopback: Option<Measured<Vec<LoopbackRun>>>,
    /// The packets of each local run (scenario [`LoopbackRun::scenario`], in the runs'
    /// order), or why there are none.
    pub wire: Measured<Vec<Wire>>,
}

impl LoopbackRun {
    /// The run's capture key: "python3_book_2" (interpreter, program, argument count).
    pub fn scenario(&self) -> String {
        scenario(self.run.python, self.program, self.argv.len())
    }
}

fn scenario(major: Major, program: Program, args: usize) -> String {
    let py = match major {
        Major::Python2 => "python2",
        Major::Python3 => "python3",
    };
    let program = match program {
        Program::Book => "book",
        Program::Py3Port => "port",
    };
    format!("{py}_{program}_{args}")
}

impl Data {
    pub fn interpreters(&self) -> &[Interpreter] {
        &self.pythons
    }

    pub fn interpreter(&self, m: Major) -> Option<&Interpreter> {
        self.interpreters().iter().find(|p| p.major == m)
    }

    pub fn shape(&self, s: Shape) -> Option<&ShapeRun> {
        self.shapes.iter().find(|r| r.shape == s)
    }

    /// The two-argument run of `program` under `major` against 127.0.0.1:70.
    pub fn loopback_two_args(&self, program: Program, major: Major) -> Option<&LoopbackRun> {
        let runs = self.loopback.as_ref()?.as_ref().ok()?;
        runs.iter()
            .find(|r| r.program == program && r.run.python == major && r.argv.len() == 2)
    }
}

pub fn measure(args: &Args, ctx: &Ctx) -> Result<Data> {
    let found = if args.no_python {
        Err(NoPython::Asked)
    } else {
        Some(find_pythons())
            .filter(|p| !p.is_empty())
            .ok_or(NoPython::NoneFound)
    };
    let (pythons, no_python) = match found {
        Ok(p) => (p, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    let found = &pythons[..];
    let scripts = if found.is_empty() {
        None
    } else {
        Some(TempScripts::new().context("write the book's program to a temporary file")?)
    };
    let shapes = Shape::ALL
        .iter()
        .map(|&shape| {
            let argv = shape.argv();
            // Only shapes that fail before a socket is made: no network at all.
            let ran = match &scripts {
                Some(s) if argv.len() < 2 => found.iter().map(|p| run(p, &s.book, argv)).collect(),
                _ => Vec::new(),
            };
            ShapeRun {
                shape,
                argv: argv.iter().map(|a| a.to_string()).collect(),
                ran,
            }
        })
        .collect();
    let mut taken = Vec::new();
    let loopback = match &scripts {
        None => None,
        Some(_) if ctx.sandbox == "host" => Some(Err(Unmeasured::NoSandbox)),
        Some(s) => {
            ctx.progress("running the book's program against a local Gopher responder on 127.0.0.1:70");
            Some(Ok(loopback(ctx, found, s, &mut taken)?))
        }
    };
    let wire = match &loopback {
        Some(Ok(_)) => wire::wires(ctx, taken)?,
        Some(Err(why)) => Err(why.clone()),
        None => Err(match no_python {
            Some(NoPython::Asked) => Unmeasured::TurnedOff {
                by: "--no-python".into(),
            },
            _ => Unmeasured::Missing {
                program: "python".into(),
            },
        }),
    };
    Ok(Data {
        pythons,
        no_python,
        shapes,
        loopback,
        wire,
    })
}

// ---- the local run: the book's program against a responder on 127.0.0.1:70 ----

/// Each run in a namespace of its own (port 70 free in each, the capture holding that run
/// alone), captured from before the responder's socket to after it stopped.
fn loopback(
    ctx: &Ctx,
    pythons: &[Interpreter],
    s: &TempScripts,
    taken: &mut Vec<Taken>,
) -> Result<Vec<LoopbackRun>> {
    let mut out = Vec::new();
    for p in pythons {
        let mut cases = vec![
            (Program::Book, s.book.as_path(), vec!["127.0.0.1/"]),
            (Program::Book, s.book.as_path(), vec!["127.0.0.1", "/about.txt"]),
        ];
        if p.major == Major::Python3 {
            cases.push((
                Program::Py3Port,
                s.port.as_path(),
                vec!["127.0.0.1", "/about.txt"],
            ));
        }
        for (program, script, argv) in cases {
            let key = scenario(p.major, program, argv.len());
            let ((run, server_read), cap) = ctx
                .isolated(|| {
                    let rec = Recorder::start(ctx);
                    let r = against_responder(p, script, &argv);
                    r.map(|r| (r, rec.finish(&key, 70)))
                })
                .0?;
            taken.extend(cap);
            out.push(LoopbackRun {
                program,
                argv: argv.iter().map(|a| a.to_string()).collect(),
                run,
                server_read,
            });
        }
    }
    Ok(out)
}

fn against_responder(py: &Interpreter, script: &Path, argv: &[&str]) -> Result<(Run, ServerRead)> {
    let l = TcpListener::bind(("127.0.0.1", 70)).context("bind 127.0.0.1:70 in the lab's namespace")?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = crate::gopher::responder::responder_once(l, stop.clone());
    let result = run(py, script, argv);
    stop.store(true, Ordering::SeqCst);
    let read = server
        .join()
        .map_err(|_| anyhow::anyhow!("the responder thread panicked"))?;
    let read = match read {
        Ok(Some(bytes)) => ServerRead::Read { bytes },
        Ok(None) => ServerRead::NoConnection,
        Err(e) => ServerRead::Failed {
            errno: Call::of::<()>(&Err(e)),
        },
    };
    Ok((result, read))
}

// ---- running Python, bounded ----

/// Runs `script argv...` for at most 5 s.
fn run(py: &Interpreter, script: &Path, argv: &[&str]) -> Run {
    let (exit, stdout_bytes, err) = match run_bounded(&py.path, script, argv) {
        Ok(r) => r,
        Err(e) => (
            Exit::NotStarted {
                error: crate::sys::errno_name(&e),
            },
            0,
            String::new(),
        ),
    };
    let last_line = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    Run {
        python: py.major,
        exception: Exception::of(&last_line),
        exit,
        last_line,
        stdout_bytes,
    }
}

fn run_bounded(py: &str, script: &Path, argv: &[&str]) -> std::io::Result<(Exit, usize, String)> {
    let mut child = Command::new(py)
        .arg(script)
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // An error from try_wait ends the wait too: the child is still killed and reaped.
        let exited = child.try_wait().map_or(true, |s| s.is_some());
        if exited || Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            let exit = match out.status.code() {
                Some(code) => Exit::Code { code },
                None if exited => Exit::Signal,
                None => Exit::Killed,
            };
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            return Ok((exit, out.stdout.len(), err));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Interpreters that start: Python 2 for the book as written, and Python 3. System paths come
/// first (a version manager's shim costs a second per start); a pyenv-installed 2.x is used too.
pub fn find_pythons() -> Vec<Interpreter> {
    let mut py2: Vec<String> = ["/usr/bin/python2", "/usr/bin/python2.7"]
        .map(String::from)
        .to_vec();
    let pyenv = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".pyenv")));
    if let Ok(root) = pyenv {
        if let Ok(dir) = std::fs::read_dir(root.join("versions")) {
            let mut v: Vec<PathBuf> = dir
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("2."))
                .map(|e| e.path().join("bin/python2"))
                .collect();
            v.sort();
            py2.extend(v.into_iter().rev().map(|p| p.to_string_lossy().into_owned()));
        }
    }
    py2.extend(["python2".into(), "python2.7".into()]);
    let py3: Vec<String> = ["/usr/bin/python3", "python3"].map(String::from).to_vec();
    let mut found = Vec::new();
    for (major, candidates) in [(Major::Python2, py2), (Major::Python3, py3)] {
        let want = if major == Major::Python2 { "2." } else { "3." };
        for path in candidates {
            if let Some(version) = version(&path).filter(|v| v.starts_with(want)) {
                found.push(Interpreter { major, version, path });
                break;
            }
        }
    }
    found
}

/// "2.7" when the interpreter starts, imports socket and exits 0 within 5 s (a hung shim is
/// killed and reaped).
fn version(python: &str) -> Option<String> {
    let mut child = Command::new(python)
        .args([
            "-c",
            "import socket, sys; sys.stdout.write('%d.%d' % sys.version_info[:2])",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    let v = String::from_utf8(out.stdout).ok()?;
    let plain = !v.is_empty() && v.len() < 8 && v.chars().all(|c| c.is_ascii_digit() || c == '.');
    (out.status.success() && plain).then_some(v)
}

/// The book's program and the py3 port in a private temporary directory, removed on drop.
pub struct TempScripts {
    dir: PathBuf,
    pub book: PathBuf,
    pub port: PathBuf,
}

impl TempScripts {
    pub fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("lab-argv-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        let s = TempScripts {
            book: dir.join("gopherclient.py"),
            port: dir.join("gopherclient3.py"),
            dir,
        };
        std::fs::write(&s.book, BOOK_PROGRAM)?;
        std::fs::write(&s.port, PY3_PORT)?;
        Ok(s)
    }
}

impl Drop for TempScripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_are_read_from_the_last_line() {
        assert_eq!(
            Exception::of("IndexError: list index out of range"),
            Some(Exception::IndexError)
        );
        assert_eq!(
            Exception::of("socket.gaierror: [Errno -2] Name or service not known"),
            Some(Exception::Gaierror)
        );
        assert_eq!(Exception::of("killed"), None);
        assert_eq!(Exception::of(""), None);
    }

    #[test]
    fn every_shape_has_a_distinct_key() {
        let keys: std::collections::BTreeSet<String> = Shape::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys.len(), Shape::ALL.len());
        assert!(!keys.contains(""));
    }

    /// Where Python is installed: the learner's one argument raises IndexError before any
    /// socket, in every interpreter found.
    #[test]
    fn the_learners_argument_raises_index_error_where_python_runs() {
        let args = Args { no_python: false };
        let d: Data = crate::sandbox::run(crate::sandbox::Mode::Auto, |ctx| {
            Ok(crate::labs::assemble::<super::super::Argv>(&measure(&args, ctx)?))
        })
        .map(|r| serde_json::from_value(r.data).unwrap())
        .unwrap();
        assert_eq!(d.shapes.len(), Shape::ALL.len());
        let learner = d.shape(Shape::Learner).unwrap();
        assert_eq!(learner.ran.len(), d.interpreters().len());
        for r in &learner.ran {
            assert_eq!(r.exception, Some(Exception::IndexError), "{r:?}");
            assert_eq!(r.exit, Exit::Code { code: 1 });
        }
        // Shapes with two arguments would open a socket: never run outside the local test.
        assert!(d.shape(Shape::BookWay).unwrap().ran.is_empty());
    }
}
