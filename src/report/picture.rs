//! Pictures a lab draws from its data: what to draw, typed, in both languages. The SVG is
//! made by `lab docs` (src/render/svg.rs) for the web book; a report's JSON carries the
//! spec. Two kinds cover the lessons: a timeline (one lane per client, events on a time
//! axis) and a sequence diagram (two lifelines, arrows between them, states beside them).

use super::Text;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    /// The file's stem: docs/img/<lab>-<id>.svg.
    pub id: String,
    /// The caption and the image's alt text.
    pub title: Text,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Timeline(Timeline),
    Sequence(Sequence),
}

/// Lanes on one time axis (ms from the first event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The axis label ("ms since the first connect()").
    pub axis: Text,
    pub lanes: Vec<Lane>,
    /// What each mark means, in the order shown under the picture.
    pub legend: Vec<(Mark, Text)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    pub label: Text,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub t_ms: f64,
    pub mark: Mark,
}

/// How an event is drawn: each has its own shape and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// A start (connect() called, a SYN sent).
    Start,
    /// The same thing again (a SYN retry).
    Retry,
    /// Success (connected, a SYN-ACK).
    Ok,
    /// The server took it (accept()).
    Accepted,
    /// Lost on the way (a phantom: connected on one side only).
    Lost,
    /// An error or a reset.
    Failed,
}

/// Two lifelines and the messages between them, top to bottom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    pub left: Text,
    pub right: Text,
    pub steps: Vec<Step>,
}

/// One row of a sequence diagram: an arrow (or none), a label, the states after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// None: a row without an arrow (a call that sends nothing, like a failed bind()).
    pub arrow: Option<Arrow>,
    /// On the arrow ("FIN", "SYN") or, without one, across the middle.
    pub label: Text,
    /// The time at the left margin, ms.
    pub t_ms: Option<f64>,
    /// States written beside each lifeline after this step (e.g. "TIME-WAIT").
    pub left_state: Option<Text>,
    pub right_state: Option<Text>,
    /// Drawn in the error colour (a refused call, a reset).
    pub bad: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrow {
    LeftToRight,
    RightToLeft,
}
