//! Findings: each a pure function of the measured [`Data`], with its tests beside it.
//! What the code implies comes from [`derive`]; what Python did here, from the runs.

use super::derive::{self, LabRead, Outcome};
use super::measure::{Data, Exception, Major, Program, Shape, ShapeRun};
use super::tables::{ran, result};
use super::STRINGS as S;
use crate::gopher::bytes::quoted;
use crate::report::{Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    [
        book_wrong(d),
        two_arguments(d),
        python3(d),
        lab_understands(d),
        next_try(d),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn derived(s: &ShapeRun, m: Major) -> derive::Derived {
    derive::book(&s.argv, m)
}

fn book_wrong(d: &Data) -> Option<Finding> {
    let s = d.shape(Shape::Learner)?;
    let learner = derived(s, Major::Python2);
    // A run, when there was one, must agree with what the code says.
    let agrees = s.ran.iter().all(|r| r.exception == Some(Exception::IndexError));
    let index_error = matches!(learner.outcome, Outcome::IndexError { index: 2 });
    let verdict = if index_error && agrees {
        Verdict::Refuted
    } else {
        Verdict::Depends
    };
    let run_here = if s.ran.is_empty() {
        Text::default()
    } else {
        t!(S, "finding.book_wrong.ran", ran = ran(d, &s.ran))
    };
    let evidence = t!(
        S,
        "finding.book_wrong.evidence",
        derived = learner.text(),
        run_here = run_here
    );
    Some(Finding::new(
        "book_wrong",
        t!(S, "finding.book_wrong.claim"),
        verdict,
        evidence,
    ))
}

fn two_arguments(d: &Data) -> Option<Finding> {
    let two = derived(d.shape(Shape::BookWay)?, Major::Python2);
    let empty = derived(d.shape(Shape::EmptySelector)?, Major::Python2);
    // The run against the local responder, when Python 2 was there, must agree with the code.
    let live = d.loopback_two_args(Program::Book, Major::Python2);
    let live_agrees = live.is_none_or(|r| r.run.succeeded());
    let sends = |o: &derive::Derived| matches!(o.outcome, Outcome::Sends { .. });
    let verdict = if sends(&two) && sends(&empty) && live_agrees {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let run_here = match (live, d.interpreter(Major::Python2)) {
        (Some(r), Some(p)) => t!(
            S,
            "finding.two_arguments.ran",
            python = p.name(),
            result = result(&r.run)
        ),
        _ => Text::default(),
    };
    let evidence = t!(
        S,
        "finding.two_arguments.evidence",
        two = two.text(),
        empty = empty.text(),
        run_here = run_here
    );
    Some(Finding::new(
        "two_arguments",
        t!(S, "finding.two_arguments.claim"),
        verdict,
        evidence,
    ))
}

fn python3(d: &Data) -> Option<Finding> {
    let py3 = derived(d.shape(Shape::BookWay)?, Major::Python3);
    let live = d.loopback_two_args(Program::Book, Major::Python3);
    // A run, when there was one, must show the TypeError the code predicts.
    let live_agrees = live.is_none_or(|r| r.run.exception == Some(Exception::TypeError));
    let verdict = if matches!(py3.outcome, Outcome::TypeError { .. }) && live_agrees {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let run_here = live.map_or_else(Text::default, |r| {
        t!(S, "finding.python3.ran", result = result(&r.run))
    });
    let evidence = t!(
        S,
        "finding.python3.evidence",
        derived = py3.text(),
        run_here = run_here
    );
    Some(Finding::new(
        "python3",
        t!(S, "finding.python3.claim"),
        verdict,
        evidence,
    ))
}

fn lab_understands(d: &Data) -> Option<Finding> {
    let argv = &d.shape(Shape::Learner)?.argv;
    let read = derive::lab(argv);
    let target = read.target();
    let understood = target.is_some_and(|t| t.host == "quux.org" && t.port == 70 && t.item_type == Some('1'));
    let verdict = if understood {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let none = || "-".to_string();
    let evidence = t!(
        S,
        "finding.lab_understands.evidence",
        host = target.map_or_else(none, |t| t.host.clone()),
        port = target.map_or_else(none, |t| t.port.to_string()),
        ty = target.and_then(|t| t.item_type).map_or_else(none, String::from),
        selector = target.map_or_else(none, |t| quoted(&t.selector)),
        says = read.says(argv)
    );
    Some(Finding::new(
        "lab_understands",
        t!(S, "finding.lab_understands.claim"),
        verdict,
        evidence,
    ))
}

/// The learner's most likely next try: the slash kept, a selector added.
fn next_try(d: &Data) -> Option<Finding> {
    let s = d.shape(Shape::LearnerNextTry)?;
    let py2 = derived(s, Major::Python2);
    let verdict = if py2.connects() {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let lab = derive::lab(&s.argv);
    let says = match &lab {
        LabRead::Target(_) => t!(S, "finding.next_try.lab_ok"),
        _ => t!(S, "finding.next_try.lab_error"),
    };
    let evidence = t!(S, "finding.next_try.evidence", derived = py2.text(), lab = says);
    Some(Finding::new(
        "next_try",
        t!(S, "finding.next_try.claim"),
        verdict,
        evidence,
    ))
}

#[cfg(test)]
pub mod tests {
    use super::super::measure::{Exit, Interpreter, LoopbackRun, NoPython, Run, ServerRead};
    use super::*;

    pub fn run(python: Major, code: i32, last: &str) -> Run {
        Run {
            python,
            exit: Exit::Code { code },
            last_line: last.into(),
            exception: Exception::of(last),
            stdout_bytes: if code == 0 { 78 } else { 0 },
        }
    }

    /// Data as this machine gives it: Python 2.7 and 3.11, the one-argument shapes run.
    pub fn sample() -> Data {
        let index = "IndexError: list index out of range";
        let shapes = Shape::ALL
            .iter()
            .map(|&shape| {
                let argv: Vec<String> = shape.argv().iter().map(|a| a.to_string()).collect();
                let ran = if argv.len() < 2 {
                    vec![run(Major::Python2, 1, index), run(Major::Python3, 1, index)]
                } else {
                    Vec::new()
                };
                ShapeRun { shape, argv, ran }
            })
            .collect();
        let two = |program, r: Run, read: &[u8]| LoopbackRun {
            program,
            argv: vec!["127.0.0.1".into(), "/about.txt".into()],
            run: r,
            server_read: ServerRead::Read { bytes: read.to_vec() },
        };
        let type_error = "TypeError: a bytes-like object is required, not 'str'";
        Data {
            no_python: None,
            pythons: vec![
                Interpreter {
                    major: Major::Python2,
                    version: "2.7".into(),
                    path: "/root/.pyenv/versions/2.7.18/bin/python2".into(),
                },
                Interpreter {
                    major: Major::Python3,
                    version: "3.11".into(),
                    path: "/usr/bin/python3".into(),
                },
            ],
            shapes,
            loopback: Some(Ok(vec![
                two(Program::Book, run(Major::Python2, 0, ""), b"/about.txt\r\n"),
                two(Program::Book, run(Major::Python3, 1, type_error), b""),
                two(Program::Py3Port, run(Major::Python3, 0, ""), b"/about.txt\r\n"),
            ])),
            wire: Err(crate::report::Unmeasured::NoSandbox),
        }
    }

    fn find(d: &Data, id: &str) -> Finding {
        findings(d).into_iter().find(|f| f.id == id).unwrap()
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        find(d, id).verdict
    }

    fn runs_mut(d: &mut Data) -> &mut Vec<LoopbackRun> {
        d.loopback.as_mut().unwrap().as_mut().unwrap()
    }

    #[test]
    fn book_wrong_is_refuted_by_index_error_and_depends_when_a_run_disagrees() {
        let mut d = sample();
        assert_eq!(verdict(&d, "book_wrong"), Verdict::Refuted);
        let i = d.shapes.iter().position(|s| s.shape == Shape::Learner).unwrap();
        d.shapes[i].ran[0] = run(Major::Python2, 0, "");
        assert_eq!(verdict(&d, "book_wrong"), Verdict::Depends);
    }

    #[test]
    fn two_arguments_is_confirmed_by_the_code_and_refuted_by_a_failed_run() {
        let mut d = sample();
        assert_eq!(verdict(&d, "two_arguments"), Verdict::Confirmed);
        runs_mut(&mut d)[0].run = run(Major::Python2, 1, "socket.error: [Errno 111] Connection refused");
        assert_eq!(verdict(&d, "two_arguments"), Verdict::Refuted);
    }

    #[test]
    fn python3_is_confirmed_by_type_error_and_refuted_when_the_run_succeeds() {
        let mut d = sample();
        assert_eq!(verdict(&d, "python3"), Verdict::Confirmed);
        runs_mut(&mut d)[1].run = run(Major::Python3, 0, "");
        assert_eq!(verdict(&d, "python3"), Verdict::Refuted);
    }

    #[test]
    fn lab_understands_is_confirmed_for_quux_org_slash_and_refuted_for_another_argv() {
        let mut d = sample();
        assert_eq!(verdict(&d, "lab_understands"), Verdict::Confirmed);
        let i = d.shapes.iter().position(|s| s.shape == Shape::Learner).unwrap();
        d.shapes[i].argv = vec!["quux.org:99999".into()];
        let f = find(&d, "lab_understands");
        assert_eq!(f.verdict, Verdict::Refuted);
        assert!(f.evidence.contains("host -"), "{}", f.evidence);
    }

    #[test]
    fn next_try_is_refuted_by_the_name_lookup_and_confirmed_if_it_would_connect() {
        let mut d = sample();
        let f = find(&d, "next_try");
        assert_eq!(f.verdict, Verdict::Refuted);
        assert!(
            f.evidence.contains("[Errno -2] Name or service not known"),
            "{}",
            f.evidence
        );
        let i = d
            .shapes
            .iter()
            .position(|s| s.shape == Shape::LearnerNextTry)
            .unwrap();
        d.shapes[i].argv = vec!["quux.org".into(), "/".into()];
        assert_eq!(verdict(&d, "next_try"), Verdict::Confirmed);
    }

    #[test]
    fn evidence_names_interpreters_not_paths_in_both_languages() {
        let d = sample();
        let f = find(&d, "book_wrong");
        assert!(f.evidence.contains("Python 2.7: IndexError"), "{}", f.evidence);
        assert!(!f.evidence.contains("/root/.pyenv"), "{}", f.evidence);
        let zh = f.zh.unwrap().evidence;
        assert!(zh.contains("Python 3.11：`IndexError"), "{zh}");
        let two = find(&d, "two_arguments");
        assert!(
            two.evidence.contains("with Python 2.7 against"),
            "{}",
            two.evidence
        );
    }

    #[test]
    fn without_python_the_findings_rest_on_the_code_alone() {
        let mut d = sample();
        d.pythons.clear();
        d.no_python = Some(NoPython::Asked);
        d.loopback = None;
        for s in &mut d.shapes {
            s.ran.clear();
        }
        let f = findings(&d);
        assert_eq!(f.len(), 5);
        assert!(f.iter().all(|f| f.verdict != Verdict::Depends), "{f:?}");
        assert!(!f[0].evidence.contains("run here"));
    }
}
