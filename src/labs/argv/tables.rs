//! Tables and notes: pure functions of the measured [`Data`].

use super::derive::{self, LabRead};
use super::measure::{Data, Exit, Interpreter, LoopbackRun, Major, NoPython, Program, Run, ServerRead};
use super::STRINGS as S;
use crate::gopher::bytes::quoted;
use crate::labs::wire::table as wire_table;
use crate::report::{Cell, Table, Text};
use crate::{row, t};

pub fn tables(d: &Data) -> Vec<Table> {
    let mut v = vec![shapes(d)];
    if let Some(Ok(runs)) = &d.loopback {
        v.push(loopback(d, runs));
        v.extend(ladder(d, runs));
    }
    v
}

pub fn notes(d: &Data) -> Vec<Text> {
    let mut v = Vec::new();
    match &d.loopback {
        Some(Err(_)) => v.push(t!(S, "note.loopback_on_host")),
        Some(Ok(_)) => {
            if let Err(why) = &d.wire {
                v.push(t!(crate::report::COMMON, "wire.note.off", why = why.text()));
            }
        }
        None => {}
    }
    v
}

/// The packets of each local run, a detail table: what went on the wire when the program
/// was called the book's way.
fn ladder(d: &Data, runs: &[LoopbackRun]) -> Vec<Table> {
    let Ok(wires) = &d.wire else {
        return Vec::new();
    };
    let named: Vec<wire_table::Named> = runs
        .iter()
        .filter_map(|r| {
            let wire = wires.iter().find(|w| w.scenario == r.scenario())?;
            let name = t!(
                S,
                "ladder.scenario",
                program = program_name(d, r),
                argv = typed(&r.argv)
            );
            Some(wire_table::Named { wire, name })
        })
        .collect();
    if named.is_empty() {
        return Vec::new();
    }
    let mut v = wire_table::ladders("ladder", t!(S, "ladder.title"), &named);
    for t in &mut v {
        t.detail = true;
    }
    v
}

fn program_name(d: &Data, r: &LoopbackRun) -> Text {
    let python = name(d, r.run.python);
    match r.program {
        Program::Book => t!(S, "loopback.program.book", python = python),
        Program::Py3Port => t!(S, "loopback.program.port", python = python),
    }
}

/// The command line as a user would type it in a POSIX shell.
pub fn typed(argv: &[String]) -> String {
    let mut s = String::from("gopherclient.py");
    for a in argv {
        s.push(' ');
        if a.contains('\t') {
            s.push_str(&format!("$'{}'", a.replace('\t', "\\t")));
        } else if a.is_empty() || a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(a);
        }
    }
    s
}

/// The name of the interpreter that made a run ("Python 2.7").
fn name(d: &Data, m: Major) -> String {
    d.interpreter(m).map_or_else(
        || match m {
            Major::Python2 => "Python 2".into(),
            Major::Python3 => "Python 3".into(),
        },
        Interpreter::name,
    )
}

/// What one run did: "exit 0, printed 78 bytes", or the traceback's last line and the status.
pub fn result(r: &Run) -> Text {
    let last = &r.last_line;
    match &r.exit {
        Exit::Code { code: 0 } => t!(S, "run.ok", bytes = r.stdout_bytes),
        Exit::Code { code } => t!(S, "run.failed", last = last, code = code),
        Exit::Signal => t!(S, "run.signal", last = last),
        Exit::Killed => t!(S, "run.killed"),
        Exit::NotStarted { error } => t!(S, "run.not_started", error = error),
    }
}

/// "Python 2.7: …; Python 3.11: …" for the runs of one shape.
pub fn ran(d: &Data, runs: &[Run]) -> Text {
    let parts: Vec<Text> = runs
        .iter()
        .map(|r| t!(S, "run.by", python = name(d, r.python), result = result(r)))
        .collect();
    Text::join(&parts, "; ", "；")
}

/// What the book's program does, in a few words: the default view's cell.
fn short_book(d: &derive::Derived) -> Text {
    use derive::Outcome;
    let main = match &d.outcome {
        Outcome::IndexError { index } => t!(S, "short.index_error", index = index),
        Outcome::NoSuchName { .. } => t!(S, "short.no_such_name"),
        Outcome::WrongFamily { .. } => t!(S, "short.wrong_family"),
        Outcome::Sends { request, .. } => t!(S, "short.sends", request = request.escape_ascii()),
        Outcome::TypeError { .. } => t!(S, "short.type_error"),
    };
    if d.ignored == 0 {
        main
    } else {
        t!(S, "short.ignores", outcome = main, n = d.ignored)
    }
}

/// Whether lab gopher takes the words: the default view's cell.
fn short_lab(read: &LabRead) -> Text {
    match read {
        LabRead::NoTarget => t!(S, "short.lab.no_target"),
        LabRead::Target(t) if t.notes.is_empty() => t!(S, "short.lab.ok"),
        LabRead::Target(_) => t!(S, "short.lab.note"),
        LabRead::Error(_) => t!(S, "short.lab.error"),
    }
}

fn shapes(d: &Data) -> Table {
    let ran_here = !d.interpreters().is_empty();
    let mut cols = vec!["shape", "argv", "book", "gopher", "python2", "python3"];
    if ran_here {
        cols.push("ran");
    }
    cols.extend(["host", "port", "type", "selector", "search", "lab"]);
    let mut t = Table::from_catalogue(&S, "shapes", &cols);
    for s in &d.shapes {
        let name = t.label(S.text(&format!("shape.{}", s.shape.key()), &[]));
        let py2 = t.label(derive::book(&s.argv, Major::Python2).text());
        let py3 = t.label(derive::book(&s.argv, Major::Python3).text());
        let read = derive::lab(&s.argv);
        let says = t.label(read.says(&s.argv));
        let book = t.label(short_book(&derive::book(&s.argv, Major::Python2)));
        let gopher = t.label(short_lab(&read));
        let mut r = row! {
            "shape" => name, "argv" => typed(&s.argv), "book" => book, "gopher" => gopher,
            "python2" => py2, "python3" => py3, "lab" => says,
            "host" => Cell::Null, "port" => Cell::Null, "type" => Cell::Null,
            "selector" => Cell::Null, "search" => Cell::Null,
        };
        if let LabRead::Target(target) = &read {
            let ty = match target.item_type {
                Some(c) => Cell::from(c.to_string()),
                None => t.label(t!(S, "shapes.type_guessed")),
            };
            r.insert("host".into(), target.host.clone().into());
            r.insert("port".into(), target.port.into());
            r.insert("type".into(), ty);
            r.insert("selector".into(), quoted(&target.selector).into());
            r.insert("search".into(), target.search.as_deref().map(quoted).into());
        }
        if ran_here {
            let cell = if s.ran.is_empty() {
                Cell::Null
            } else {
                t.label(ran(d, &s.ran))
            };
            r.insert("ran".into(), cell);
        }
        t.push(r);
    }
    // The default view: the command line, what the book's program does, whether lab gopher
    // takes it; the long wording, Python 3 (the findings give it), the runs (they agree with
    // the derivation) and lab gopher's reading are detail.
    let long = [
        "shape", "python2", "python3", "ran", "host", "port", "type", "selector",
    ];
    t.detail(&long);
    t.detail(&["search", "lab"]);
    t.code(&["argv", "selector", "search"]);
    t.note_text(t!(S, "shapes.note.reads"));
    t.note_text(t!(S, "shapes.note.as_typed"));
    match d.no_python {
        None => {
            let list: Vec<Text> = d
                .pythons
                .iter()
                .map(|p| t!(S, "shapes.note.interpreter", name = p.name(), path = p.path))
                .collect();
            let list = Text::join(&list, ", ", "，");
            t.note_text(t!(S, "shapes.note.interpreters", list = list));
        }
        Some(NoPython::Asked | NoPython::NoneFound) => t.note_text(t!(S, "shapes.note.no_python")),
    }
    t
}

fn loopback(d: &Data, runs: &[LoopbackRun]) -> Table {
    let mut t = Table::from_catalogue(&S, "loopback", &["program", "argv", "result", "server_read"]);
    for r in runs {
        let program = t.label(program_name(d, r));
        let result = t.label(result(&r.run));
        let read = match &r.server_read {
            ServerRead::Read { bytes } => quoted(bytes).into(),
            ServerRead::NoConnection => t.label(t!(S, "loopback.no_connection")),
            ServerRead::Failed { errno } => errno.into(),
        };
        t.push(row! { "program" => program, "argv" => typed(&r.argv), "result" => result, "server_read" => read });
    }
    t.code(&["argv"]);
    t.note_text(t!(S, "loopback.note"));
    t
}

#[cfg(test)]
mod tests {
    use super::super::findings::tests::sample;
    use super::super::measure::Shape;
    use super::*;

    #[test]
    fn cells_name_interpreters_and_one_note_gives_their_paths() {
        let d = sample();
        let t = tables(&d);
        let shapes = &t[0];
        assert_eq!(shapes.rows.len(), Shape::ALL.len());
        let path = "/root/.pyenv/versions/2.7.18/bin/python2";
        for table in &t {
            for r in &table.rows {
                assert!(r.values().all(|c| !c.to_string().contains(path)), "{r:?}");
            }
        }
        assert_eq!(shapes.notes.iter().filter(|n| n.contains(path)).count(), 1);
        let learner = &shapes.rows[3];
        assert_eq!(
            learner["ran"],
            "Python 2.7: IndexError: list index out of range (exit 1); \
             Python 3.11: IndexError: list index out of range (exit 1)"
        );
        assert_eq!(t[1].rows[0]["program"], "the book as written, Python 2.7");
        assert_eq!(
            t[1].label_zh("the book as written, Python 2.7"),
            "书中原样的程序，Python 2.7"
        );
    }

    #[test]
    fn the_next_try_row_quotes_pythons_gaierror_and_lab_refuses_it() {
        let t = tables(&sample());
        let row = t[0]
            .rows
            .iter()
            .find(|r| r["argv"] == "gopherclient.py quux.org/ /")
            .unwrap();
        let py2 = row["python2"].as_str().unwrap();
        assert!(
            py2.starts_with("socket.gaierror: [Errno -2] Name or service not known"),
            "{py2}"
        );
        assert!(row["lab"].as_str().unwrap().starts_with("error: "));
        assert!(t[0]
            .label_zh(row["lab"].as_str().unwrap())
            .starts_with("错误：主机名"));
    }

    #[test]
    fn the_default_view_is_command_line_book_and_lab_gopher_in_a_few_words() {
        let t = tables(&sample());
        let shown: Vec<&str> = t[0]
            .columns
            .iter()
            .filter(|c| !c.detail)
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(shown, ["argv", "book", "gopher"]);
        let next = t[0]
            .rows
            .iter()
            .find(|r| r["argv"] == "gopherclient.py quux.org/ /")
            .unwrap();
        assert_eq!(next["book"], "gaierror: no such host");
        assert_eq!(next["gopher"], "refused");
        assert_eq!(t[0].label_zh("refused"), "拒绝");
        let code: Vec<&str> = t[1]
            .columns
            .iter()
            .filter(|c| c.code)
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(code, ["argv"]);
    }
}
