use super::super::fixture;
use super::*;

fn table<'a>(ts: &'a [Table], id: &str) -> &'a Table {
    ts.iter().find(|t| t.id == id).unwrap()
}

#[test]
fn the_phantom_cell_says_how_long_was_watched_and_what_comes_after() {
    let mut m = fixture::main_run();
    let c = m.clients[4].clone();
    assert_eq!(c.fate, Fate::Phantom);
    let t = fate(&c, &m);
    assert!(t.en.starts_with("PHANTOM: thinks it is connected"), "{}", t.en);
    assert!(t.en.contains("the 1200 ms watched after the window"), "{}", t.en);
    assert!(
        t.en.contains("resent 3 times") && t.en.contains("tcp_retries2"),
        "{}",
        t.en
    );
    assert!(!t.en.contains("never"), "{}", t.en);
    assert!(t.zh.contains("1200 毫秒") && t.zh.contains("3 次"), "{}", t.zh);
    // Watched longer: the cell follows the data.
    m.ended_ms = 5200.0;
    assert!(fate(&c, &m).en.contains("the 4000 ms watched"));
    let mut quiet = c.clone();
    quiet.retrans_at_end = Some(2);
    assert!(fate(&quiet, &m).en.contains("waits to be resent"));
}

#[test]
fn the_drops_note_follows_the_counters() {
    let mut m = fixture::main_run();
    let n = drops_note(&m);
    assert!(
        n.en.contains("rose exactly with ListenOverflows (+36 during the window, +46 after it)"),
        "{}",
        n.en
    );
    assert!(
        n.en.contains("final ACKs") && n.en.contains("16 phantoms"),
        "{}",
        n.en
    );
    assert!(!n.en.contains("every SYN"), "{}", n.en);
    assert!(n.zh.contains("+46") && n.zh.contains("16 个幽灵连接"), "{}", n.zh);
    m.counters[1].after = Some(50);
    let n = drops_note(&m);
    assert!(
        n.en.contains("+50 after it, against ListenOverflows +36 and +46"),
        "{}",
        n.en
    );
    for c in &mut m.clients {
        c.fate = Fate::Accepted;
    }
    assert!(!drops_note(&m).en.contains("phantoms"));
    m.counters.clear();
    assert!(drops_note(&m).en.contains("not both read"));
}

#[test]
fn tables_read_typed_data_and_label_every_text_cell_in_chinese() {
    let ts = tables(&fixture::data());
    let ids: Vec<&str> = ts.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "clients",
            "listener",
            "counters",
            "retries",
            "sweep",
            "listen_stores",
            "phantoms",
            "phantom_counters"
        ]
    );
    let clients = table(&ts, "clients");
    assert_eq!(
        clients.title,
        "Each client of listen(1) — the server accepts nothing for 1200 ms"
    );
    assert_eq!(clients.rows[2]["window_end"], "waiting (SYN-SENT)");
    assert_eq!(
        clients.rows[2]["outcome"],
        "SYN retried, then connected and accepted"
    );
    assert_eq!(
        clients.rows[19]["outcome"],
        "PHANTOM: connected while not in the queue; accepted late"
    );
    for t in &ts {
        for r in &t.rows {
            for (k, v) in r {
                if let Some(s) = v.as_str() {
                    let plain = s.chars().all(|c| !c.is_alphabetic() || c.is_ascii_uppercase())
                        || s.starts_with("listen(")
                        || s.starts_with("Tcp")
                        || s.starts_with("tcp_")
                        || s.contains(" +")
                        || s.chars().all(|c| c.is_ascii_digit());
                    assert!(
                        t.labels_zh.contains_key(s) || plain,
                        "{} {k}: {s:?} has no Chinese",
                        t.id
                    );
                }
            }
        }
    }
    // The default view: the clients by fate, the setting runs pivoted; the tables the
    // findings quote are detail.
    let shown: Vec<&str> = ts.iter().filter(|t| !t.detail).map(|t| t.id.as_str()).collect();
    assert_eq!(shown, ["clients", "phantoms"]);
    let phantoms = table(&ts, "phantoms");
    assert_eq!(phantoms.columns.len(), 1 + fixture::data().batches.unwrap().len());
    assert_eq!(phantoms.rows[0]["what"], "tcp_syncookies");
    let listener = table(&ts, "listener");
    assert_eq!(listener.rows[2]["what"], "accept-queue length, max (ss Recv-Q)");
    assert_eq!(listener.rows[2]["window"], 2);
    let stores = table(&ts, "listen_stores");
    assert_eq!(stores.columns[3].header, "connected of 20");
    assert_eq!(
        stores.rows[6]["somaxconn"],
        "not measured: python3 is not installed"
    );
}

#[test]
fn retry_schedule_groups_by_retry_number() {
    let c = |r: &[f64]| Client {
        syn_retries_ms: r.to_vec(),
        rto_ms: vec![Some(1000); r.len()],
        ..fixture::client(0, None, 0, None)
    };
    let s = retry_schedule(&[c(&[1000.0, 2000.0]), c(&[1004.0]), c(&[])]);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].clients, s[0].first_ms, s[0].last_ms), (2, 1000.0, 1004.0));
    assert_eq!((s[1].clients, s[1].gap_ms), (1, 1000.0));
}

#[test]
fn fates_name_phantoms_plainly() {
    let mut c = fixture::client(0, Some(2000.0), 1, Some(ServerSide::Nothing));
    assert_eq!(Fate::of(&c, 1200.0), Fate::Phantom);
    c.server_side = Some(ServerSide::Established);
    c.accepted_ms = Some(2000.0);
    c.delivered_ms = Some(2000.0);
    assert_eq!(Fate::of(&c, 1200.0), Fate::RetriedThenAccepted);
    c.syn_retries_ms.clear();
    assert_eq!(
        Fate::of(&c, 1200.0),
        Fate::LateAccepted,
        "no SYN retry seen, none claimed"
    );
    c.server_side = Some(ServerSide::SynRecv);
    c.delivered_ms = None;
    assert_eq!(Fate::of(&c, 1200.0), Fate::PhantomAcceptedLateLineLost);
    c.error = Some(ClientError::Errno("ECONNRESET".into()));
    let f = Fate::of(&c, 1200.0);
    assert!(f.is_phantom() && matches!(f, Fate::ConnectedThenFailed { phantom: true, .. }));
    assert_eq!(
        Fate::of(&fixture::client(1, None, 0, None), 1200.0),
        Fate::StillWaiting
    );
}

#[test]
fn refused_settings_become_notes_in_both_languages() {
    let mut d = fixture::data();
    d.refused.push(SettingRefused {
        name: "net.core.somaxconn".into(),
        value: "4".into(),
        why: crate::report::Unmeasured::NoSandbox,
    });
    d.main.as_mut().unwrap().isolated = false;
    let n = notes(&d);
    assert_eq!(n.len(), 2);
    assert!(n[1].en.starts_with("net.core.somaxconn=4 not set"), "{}", n[1].en);
    assert!(n[1].zh.contains("未设置"), "{}", n[1].zh);
}

#[test]
fn syns_sent_counts_one_per_client_plus_its_retries() {
    let mut m = fixture::main_run();
    assert_eq!(m.syns_sent(), 20 + 18 * 2);
    m.clients[0].syn_retries_ms.push(1011.0);
    assert_eq!(m.syns_sent(), 20 + 18 * 2 + 1);
}
