use super::super::fixture::{self, client};
use super::*;

fn find(d: &Data, id: &str) -> Finding {
    findings(d)
        .into_iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

fn verdict(d: &Data, id: &str) -> Verdict {
    find(d, id).verdict
}

fn main_mut(d: &mut Data) -> &mut MainRun {
    d.main.as_mut().unwrap()
}

#[test]
fn at_most_backlog_is_refused_by_limit_plus_one() {
    let mut d = fixture::data();
    assert_eq!(verdict(&d, "at_most_backlog"), Verdict::Refuted);
    let f = find(&d, "at_most_backlog");
    assert!(
        f.evidence.contains("held up to 2") && f.evidence.contains("+36"),
        "{}",
        f.evidence
    );
    main_mut(&mut d).window.queue_max = 1;
    assert_eq!(verdict(&d, "at_most_backlog"), Verdict::Confirmed);
    main_mut(&mut d).window.queue_max = 5;
    assert_eq!(verdict(&d, "at_most_backlog"), Verdict::Depends);
    let f = find(&d, "at_most_backlog");
    assert!(f.evidence.contains("peaked at 5"), "{}", f.evidence);
}

#[test]
fn at_most_backlog_depends_when_all_fit_or_no_limit_was_seen() {
    let mut d = fixture::data();
    main_mut(&mut d).window.queue_max = 20;
    assert_eq!(verdict(&d, "at_most_backlog"), Verdict::Depends);
    let mut d = fixture::data();
    main_mut(&mut d).window.limit = None;
    assert_eq!(verdict(&d, "at_most_backlog"), Verdict::Depends);
}

#[test]
fn beyond_queue_refused_is_refuted_by_waiting_clients_and_confirmed_by_refusals() {
    let mut d = fixture::data();
    assert_eq!(verdict(&d, "beyond_queue_refused"), Verdict::Refuted);
    let f = find(&d, "beyond_queue_refused");
    assert!(
        f.evidence.starts_with("18 clients were still waiting"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("1011.0 ms (gap 1010.0 ms)"), "{}", f.evidence);
    let zh = f.zh.unwrap().evidence;
    assert!(zh.contains("1011.0 毫秒（间隔 1010.0 毫秒）"), "{zh}");
    assert!(!zh.contains("gap") && !zh.contains(" ms"), "no English in {zh}");
    for c in &mut main_mut(&mut d).clients {
        if c.at_window_end == WindowState::Waiting {
            c.at_window_end = WindowState::Failed(ClientError::Errno("ECONNREFUSED".into()));
        }
    }
    assert_eq!(verdict(&d, "beyond_queue_refused"), Verdict::Confirmed);
    for c in &mut main_mut(&mut d).clients {
        c.at_window_end = WindowState::Connected;
    }
    assert_eq!(verdict(&d, "beyond_queue_refused"), Verdict::Depends);
    let f = find(&d, "beyond_queue_refused");
    assert!(f.evidence.contains("of 20, 20 were connected"), "{}", f.evidence);
}

#[test]
fn connected_means_queued_is_refuted_by_phantoms_and_depends_without_any() {
    let mut d = fixture::data();
    assert_eq!(verdict(&d, "connected_means_queued"), Verdict::Refuted);
    let f = find(&d, "connected_means_queued");
    assert!(
        f.evidence.starts_with("16 clients") && f.evidence.contains("2 of them were accepted late"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.contains("14 were not accepted"), "{}", f.evidence);
    assert!(f
        .evidence
        .contains("syncookies=0 abort_on_overflow=1: phantoms 0, resets 1"));
    // No phantom in the main run, but the batches still made some.
    let m = main_mut(&mut d);
    m.clients = (0..4)
        .map(|i| client(i, Some(1.0), 0, Some(ServerSide::Established)))
        .collect();
    assert_eq!(verdict(&d, "connected_means_queued"), Verdict::Refuted);
    assert!(find(&d, "connected_means_queued")
        .evidence
        .starts_with("in the main run no client"));
    for b in d.batches.as_mut().unwrap() {
        b.result = Err(crate::report::Unmeasured::NoSandbox);
    }
    assert_eq!(verdict(&d, "connected_means_queued"), Verdict::Depends);
    assert!(find(&d, "connected_means_queued")
        .evidence
        .contains("Settings could not be varied here."));
}

#[test]
fn backlog_plus_one_is_confirmed_by_the_sweep_and_refuted_by_one_miss() {
    let mut d = fixture::data();
    assert_eq!(verdict(&d, "backlog_plus_one"), Verdict::Confirmed);
    let f = find(&d, "backlog_plus_one");
    assert!(f.evidence.contains("B=1 → 2, B=2 → 3") && f.evidence.ends_with("B=128 → 20"));
    d.sweep.as_mut().unwrap().rows[1].first.connected = 1;
    assert_eq!(verdict(&d, "backlog_plus_one"), Verdict::Refuted);
    for r in &mut d.sweep.as_mut().unwrap().rows {
        r.first.limit = None;
    }
    assert_eq!(verdict(&d, "backlog_plus_one"), Verdict::Depends);
}

#[test]
fn stores_given_number_is_refuted_by_a_clamp_and_confirmed_when_all_equal() {
    let mut d = fixture::data();
    assert_eq!(verdict(&d, "stores_given_number"), Verdict::Refuted);
    let f = find(&d, "stores_given_number");
    assert_eq!(
        f.evidence,
        "listen(0) stored 0; listen(-1) stored 4096 (somaxconn 4096); listen(128) with somaxconn 4 stored 4"
    );
    for r in &mut d.stores.as_mut().unwrap().cases {
        if let Ok(s) = &mut r.result {
            s.first.limit = Some(r.case.call().0 as u32);
        }
    }
    // -1 read back as u32 is not -1: still refuted; make it unmeasured and the rest equal.
    assert_eq!(verdict(&d, "stores_given_number"), Verdict::Refuted);
    let minus = d
        .stores
        .as_mut()
        .unwrap()
        .cases
        .iter_mut()
        .find(|r| r.case == StoreCase::MinusOne)
        .unwrap();
    if let Ok(s) = &mut minus.result {
        s.first.limit = None;
    }
    assert_eq!(verdict(&d, "stores_given_number"), Verdict::Depends);
}

#[test]
fn a_sweep_run_has_only_the_sweep_finding() {
    let d = Data {
        main: None,
        refused: Vec::new(),
        sweep: Some(fixture::sweep()),
        stores: None,
        batches: None,
        wire: Err(crate::report::Unmeasured::NoSandbox),
    };
    let ids: Vec<String> = findings(&d).into_iter().map(|f| f.id).collect();
    assert_eq!(ids, ["backlog_plus_one"]);
}

#[test]
fn every_finding_has_chinese_with_the_same_numbers() {
    for f in findings(&fixture::data()) {
        let zh = f.zh.as_ref().unwrap();
        let digits = |s: &str| {
            s.split(|c: char| !c.is_ascii_digit())
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(digits(&f.evidence), digits(&zh.evidence), "{}", f.id);
    }
}
