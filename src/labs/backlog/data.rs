//! The typed measurements of `lab backlog`: what each client and the listener did.
//! No display text: tables and findings turn these into words.

use crate::labs::wire::Wire;
use crate::report::{Measured, Unmeasured};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// The main run: one listen(backlog), every client watched (None for a sweep of backlogs).
    pub main: Option<MainRun>,
    /// Sysctls the options asked for that could not be written.
    pub refused: Vec<SettingRefused>,
    pub sweep: Option<Sweep>,
    pub stores: Option<Stores>,
    /// Which settings make phantoms (None for a sweep of backlogs).
    pub batches: Option<Vec<BatchRun>>,
    /// Every scenario's packets (main, sweep_*, listen_*, cookies_*_abort_*), or why none.
    pub wire: Measured<Vec<Wire>>,
}

/// A sysctl the options asked for, not written, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingRefused {
    pub name: String,
    pub value: String,
    pub why: Unmeasured,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MainRun {
    pub backlog: i32,
    pub window_ms: f64,
    /// How long after the window the server kept accepting, at most.
    pub drain_ms: f64,
    /// When the lab stopped watching (ms since the first connect).
    pub ended_ms: f64,
    /// False when the run shared a namespace with other sockets.
    pub isolated: bool,
    pub clients: Vec<Client>,
    pub window: ListenerView,
    pub after: ListenerView,
    /// Counter increases (/proc/net/netstat, /proc/net/snmp), by the kernel's name.
    pub counters: Vec<CounterDelta>,
    /// Sysctls read inside the run's namespace (None: unreadable).
    pub syn_retries: Option<String>,
    pub syn_linear_timeouts: Option<String>,
    pub abort_on_overflow: Option<String>,
}

impl MainRun {
    /// SYNs the clients sent as TCP_INFO counted them: one each, plus every retry.
    /// A packet capture of the run should show exactly this many.
    pub fn syns_sent(&self) -> usize {
        self.clients.iter().map(|c| 1 + c.syn_retries()).sum()
    }
}

/// One client's life as both sides saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub index: usize,
    /// The client's own port (a packet capture finds its SYNs by it).
    pub port: u16,
    pub started_ms: f64,
    pub connected_ms: Option<f64>,
    /// When each SYN retransmission was seen (TCP_INFO total_retrans rose while connecting).
    pub syn_retries_ms: Vec<f64>,
    /// The retransmission timeout in force at each retry (None once connected).
    pub rto_ms: Vec<Option<u32>>,
    /// TCP_INFO total_retrans when watching stopped; minus the SYN retries, the data resent.
    pub retrans_at_end: Option<u32>,
    pub at_window_end: WindowState,
    /// What the server held for this client when its connect() completed.
    pub server_side: Option<ServerSide>,
    pub accepted_ms: Option<f64>,
    pub delivered_ms: Option<f64>,
    pub error: Option<ClientError>,
    pub fate: Fate,
}

impl Client {
    pub fn syn_retries(&self) -> usize {
        self.syn_retries_ms.len()
    }
    /// Connected while the server held no established connection for it.
    pub fn phantom(&self) -> bool {
        self.connected_ms.is_some() && self.server_side.is_some_and(|s| s != ServerSide::Established)
    }
    /// Data segments resent after the handshake (its line), when TCP_INFO was read.
    pub fn data_resent(&self) -> Option<u32> {
        self.retrans_at_end
            .map(|r| r.saturating_sub(self.syn_retries() as u32))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowState {
    Connected,
    /// Still in SYN-SENT.
    Waiting,
    Failed(ClientError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerSide {
    /// An established connection (in the accept queue).
    Established,
    /// Only a SYN-RECV request: the final ACK was dropped.
    SynRecv,
    /// Nothing at all (a SYN cookie): the final ACK was dropped.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientError {
    /// The socket's error (SO_ERROR) or a failed call: the errno name.
    Errno(String),
    /// Read 0 bytes: the server closed it.
    ClosedByServer,
    /// poll(2) gave these revents without POLLOUT and no error.
    Revents(i16),
}

/// What became of a client by the time the lab stopped watching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fate")]
pub enum Fate {
    /// Connected within the window, accepted, its line delivered.
    Accepted,
    /// Connected after the window on a SYN retry (seen in TCP_INFO), accepted.
    RetriedThenAccepted,
    /// Connected after the window with no SYN retry seen, accepted.
    LateAccepted,
    /// Accepted, but its line did not arrive before watching stopped.
    AcceptedLineLost,
    /// Thought it was connected while the server had nothing; accepted later.
    PhantomAcceptedLate,
    PhantomAcceptedLateLineLost,
    /// Thinks it is connected; the server had not accepted it when watching stopped.
    Phantom,
    /// Connected (the server had it), never accepted before watching stopped.
    ConnectedNotAccepted,
    /// Connected, then an error (a reset: ECONNRESET; or EOF).
    ConnectedThenFailed {
        phantom: bool,
        error: ClientError,
    },
    ConnectFailed {
        error: ClientError,
    },
    /// Still in SYN-SENT when watching stopped.
    StillWaiting,
}

impl Fate {
    /// The fate of a client from what was seen of it; `window_ms` ends the window.
    pub fn of(c: &Client, window_ms: f64) -> Fate {
        let late = c.connected_ms.is_some_and(|t| t > window_ms);
        let phantom = c.phantom();
        match (&c.error, c.accepted_ms, c.delivered_ms) {
            (Some(e), _, _) if c.connected_ms.is_some() => Fate::ConnectedThenFailed {
                phantom,
                error: e.clone(),
            },
            (Some(e), _, _) => Fate::ConnectFailed { error: e.clone() },
            (None, Some(_), Some(_)) if phantom => Fate::PhantomAcceptedLate,
            (None, Some(_), None) if phantom => Fate::PhantomAcceptedLateLineLost,
            (None, None, _) if phantom => Fate::Phantom,
            // "retried" only when TCP_INFO saw a SYN retransmission, not merely because it was late.
            (None, Some(_), Some(_)) if late && c.syn_retries() > 0 => Fate::RetriedThenAccepted,
            (None, Some(_), Some(_)) if late => Fate::LateAccepted,
            (None, Some(_), Some(_)) => Fate::Accepted,
            (None, Some(_), None) => Fate::AcceptedLineLost,
            (None, None, _) if c.connected_ms.is_some() => Fate::ConnectedNotAccepted,
            (None, None, _) => Fate::StillWaiting,
        }
    }

    pub fn is_phantom(&self) -> bool {
        matches!(
            self,
            Fate::Phantom
                | Fate::PhantomAcceptedLate
                | Fate::PhantomAcceptedLateLineLost
                | Fate::ConnectedThenFailed { phantom: true, .. }
        )
    }
}

/// What the listener looked like, from sock_diag samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenerView {
    /// The accept-queue limit (ss Send-Q); None: never seen.
    pub limit: Option<u32>,
    pub queue_max: u32,
    pub queue_now: u32,
    pub syn_recv_max: usize,
    pub samples: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterDelta {
    /// The kernel's name, e.g. "TcpExtListenOverflows".
    pub name: String,
    pub window: Option<i64>,
    pub after: Option<i64>,
}

/// The first SYNs against listen(B) for each B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub clients: usize,
    pub window_ms: f64,
    pub rows: Vec<SweepRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRow {
    pub backlog: i32,
    pub first: FirstSyn,
    /// Ran in its own namespace (its counters are its own).
    pub isolated: bool,
}

/// What a short no-accept window shows for one listen() call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstSyn {
    pub limit: Option<u32>,
    pub connected: usize,
    pub pending: usize,
    pub failed: usize,
    pub queue_max: u32,
    pub overflows: Option<i64>,
}

/// The listen() calls whose stored limit is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreCase {
    Zero,
    One,
    MinusOne,
    Big,
    Clamped,
    ZeroNoRoom,
}

impl StoreCase {
    pub const ALL: [StoreCase; 6] = [
        StoreCase::Zero,
        StoreCase::One,
        StoreCase::MinusOne,
        StoreCase::Big,
        StoreCase::Clamped,
        StoreCase::ZeroNoRoom,
    ];
    /// The backlog passed, and the somaxconn set first (None: left as it is).
    pub fn call(self) -> (i32, Option<u32>) {
        match self {
            StoreCase::Zero => (0, None),
            StoreCase::One => (1, None),
            StoreCase::MinusOne => (-1, None),
            StoreCase::Big => (5000, None),
            StoreCase::Clamped => (128, Some(4)),
            StoreCase::ZeroNoRoom => (0, Some(0)),
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            StoreCase::Zero => "zero",
            StoreCase::One => "one",
            StoreCase::MinusOne => "minus_one",
            StoreCase::Big => "big",
            StoreCase::Clamped => "clamped",
            StoreCase::ZeroNoRoom => "zero_no_room",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stores {
    pub cases: Vec<StoreRun>,
    pub python: PythonListen,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreRun {
    pub case: StoreCase,
    pub result: Result<Stored, SettingRefused>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// net.core.somaxconn as read in that namespace (None: unreadable).
    pub somaxconn: Option<String>,
    pub first: FirstSyn,
}

/// Python's `s.listen(-1)`, run by python3 here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PythonListen {
    pub somaxconn: Option<String>,
    pub limit: Measured<u32>,
}

/// One setting of the retry-batch experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRun {
    pub syncookies: u8,
    pub abort_on_overflow: u8,
    pub result: Result<Batch, Unmeasured>,
}

/// What the retried clients of one batch became.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub retried: usize,
    pub in_queue: usize,
    pub phantoms_request: usize,
    pub phantoms_cookie: usize,
    pub reset: usize,
    pub waiting: usize,
    /// Counter increases by the kernel's name.
    pub counters: BTreeMap<String, i64>,
    /// The ports of the clients that are phantoms of a SYN cookie (the server has no trace).
    #[serde(default)]
    pub cookie_ports: Vec<u16>,
}

/// The capture's name of each scenario (its pcap file has dashes for underscores).
pub mod key {
    use super::StoreCase;
    pub const MAIN: &str = "main";
    pub fn sweep(backlog: i32) -> String {
        if backlog < 0 {
            format!("sweep_minus_{}", backlog.unsigned_abs())
        } else {
            format!("sweep_{backlog}")
        }
    }
    pub fn store(case: StoreCase) -> String {
        format!("listen_{}", case.key())
    }
    pub fn batch(cookies: u8, abort: u8) -> String {
        format!("cookies_{cookies}_abort_{abort}")
    }
}
