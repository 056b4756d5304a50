//! Hand-built data as this kernel gives it, for the unit tests of tables and findings.

use super::data::*;
use crate::report::Unmeasured;
use std::collections::BTreeMap;

/// One client of the main run, connected at `connected_ms` with `retries` SYN retries.
pub fn client(index: usize, connected_ms: Option<f64>, retries: usize, side: Option<ServerSide>) -> Client {
    let mut c = Client {
        index,
        port: 40000 + index as u16,
        started_ms: 0.1 * index as f64,
        connected_ms,
        syn_retries_ms: (1..=retries).map(|k| 1011.0 * k as f64).collect(),
        rto_ms: (1..=retries).map(|k| (k == 1).then_some(1000)).collect(),
        retrans_at_end: Some(retries as u32),
        at_window_end: if connected_ms.is_some_and(|t| t <= 1200.0) {
            WindowState::Connected
        } else {
            WindowState::Waiting
        },
        server_side: side,
        accepted_ms: None,
        delivered_ms: None,
        error: None,
        fate: Fate::StillWaiting,
    };
    c.fate = Fate::of(&c, 1200.0);
    c
}

fn accepted(mut c: Client, at: f64) -> Client {
    c.accepted_ms = Some(at);
    c.delivered_ms = Some(at);
    c.fate = Fate::of(&c, 1200.0);
    c
}

/// listen(1) against 20 clients: 2 in the queue at once, 18 retry; of those, 2 are
/// accepted, 16 become phantoms (2 of them accepted late).
pub fn main_run() -> MainRun {
    let mut clients = Vec::new();
    for i in 0..20 {
        let c = match i {
            0 | 1 => accepted(client(i, Some(2.5), 0, Some(ServerSide::Established)), 1203.0),
            2 | 3 => accepted(client(i, Some(2032.0), 2, Some(ServerSide::Established)), 2032.0),
            18 | 19 => accepted(client(i, Some(2032.0), 2, Some(ServerSide::Nothing)), 2247.8),
            _ => {
                let mut c = client(i, Some(2032.0), 2, Some(ServerSide::Nothing));
                c.retrans_at_end = Some(5);
                c
            }
        };
        clients.push(c);
    }
    let counter = |name: &str, window, after| CounterDelta {
        name: name.into(),
        window: Some(window),
        after: Some(after),
    };
    MainRun {
        backlog: 1,
        window_ms: 1200.0,
        drain_ms: 1200.0,
        ended_ms: 2400.0,
        isolated: true,
        clients,
        window: ListenerView {
            limit: Some(1),
            queue_max: 2,
            queue_now: 2,
            syn_recv_max: 0,
            samples: 49,
        },
        after: ListenerView {
            limit: Some(1),
            queue_max: 2,
            queue_now: 0,
            syn_recv_max: 0,
            samples: 53,
        },
        counters: vec![
            counter("TcpExtListenOverflows", 36, 46),
            counter("TcpExtListenDrops", 36, 46),
            counter("TcpExtTCPSynRetrans", 18, 18),
        ],
        syn_retries: Some("6".into()),
        syn_linear_timeouts: Some("4".into()),
        abort_on_overflow: Some("0".into()),
    }
}

pub fn batch(syncookies: u8, abort: u8) -> BatchRun {
    let b = Batch {
        retried: 8,
        in_queue: 1,
        phantoms_request: usize::from(abort == 0),
        phantoms_cookie: if syncookies == 1 { 6 } else { 0 },
        reset: usize::from(abort == 1),
        waiting: if syncookies == 0 { 6 } else { 0 },
        counters: BTreeMap::from([("TcpExtListenDrops".to_string(), 15)]),
        cookie_ports: Vec::new(),
    };
    BatchRun {
        syncookies,
        abort_on_overflow: abort,
        result: Ok(b),
    }
}

pub fn sweep() -> Sweep {
    let rows = [0, 1, 2, 5, 10, 128]
        .iter()
        .map(|&b: &i32| {
            let fit = (b as usize + 1).min(20);
            SweepRow {
                backlog: b,
                first: FirstSyn {
                    limit: Some(b as u32),
                    connected: fit,
                    pending: 20 - fit,
                    failed: 0,
                    queue_max: fit as u32,
                    overflows: Some(20 - fit as i64),
                },
                isolated: true,
            }
        })
        .collect();
    Sweep {
        clients: 20,
        window_ms: 150.0,
        rows,
    }
}

pub fn stores() -> Stores {
    let cases = StoreCase::ALL
        .iter()
        .map(|&case| {
            let (b, smc) = case.call();
            let smc = smc.unwrap_or(4096);
            let limit = (b as u32).min(smc);
            StoreRun {
                case,
                result: Ok(Stored {
                    somaxconn: Some(smc.to_string()),
                    first: FirstSyn {
                        limit: Some(limit),
                        connected: (limit as usize + 1).min(20),
                        ..FirstSyn::default()
                    },
                }),
            }
        })
        .collect();
    Stores {
        cases,
        python: PythonListen {
            somaxconn: Some("4096".into()),
            limit: Err(Unmeasured::Missing {
                program: "python3".into(),
            }),
        },
    }
}

pub fn data() -> Data {
    Data {
        main: Some(main_run()),
        refused: Vec::new(),
        sweep: Some(sweep()),
        stores: Some(stores()),
        batches: Some(vec![batch(1, 0), batch(0, 0), batch(1, 1), batch(0, 1)]),
        wire: Ok(Vec::new()),
    }
}
