//! One shape for "not measured, and why", shared by every lab: an expected refusal is a
//! result, stored as data, and explained in both languages.

use super::text::{Catalogue, Text};
use crate::t;
use serde::{Deserialize, Serialize};

/// Strings every lab shares (yes/no, the reasons below).
pub static COMMON: Catalogue = Catalogue::new("common", include_str!("common.toml"));

/// Why something was not measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Unmeasured {
    /// The step needs privilege this run lacks (e.g. CAP_NET_RAW, CAP_NET_ADMIN).
    Privilege { what: String },
    /// The step needs a private namespace, and this run is on the host.
    NoSandbox,
    /// The kernel refused or lacks it (errno name, or a short reason).
    Kernel { errno: String },
    /// A sysctl could not be written in this namespace.
    SysctlRefused { name: String, errno: String },
    /// An outside program is not installed.
    Missing { program: String },
    /// An earlier step failed, so this one was not tried.
    Skipped { after: String },
    /// The command line turned it off (the flag).
    TurnedOff { by: String },
}

/// A measurement, or why there is none.
pub type Measured<T> = Result<T, Unmeasured>;

impl Unmeasured {
    pub fn text(&self) -> Text {
        match self {
            Unmeasured::Privilege { what } => t!(COMMON, "unmeasured.privilege", what = what),
            Unmeasured::NoSandbox => t!(COMMON, "unmeasured.no_sandbox"),
            Unmeasured::Kernel { errno } => t!(COMMON, "unmeasured.kernel", errno = errno),
            Unmeasured::SysctlRefused { name, errno } => {
                t!(COMMON, "unmeasured.sysctl", name = name, errno = errno)
            }
            Unmeasured::Missing { program } => t!(COMMON, "unmeasured.missing", program = program),
            Unmeasured::Skipped { after } => t!(COMMON, "unmeasured.skipped", after = after),
            Unmeasured::TurnedOff { by } => t!(COMMON, "unmeasured.turned_off", by = by),
        }
    }
}

/// "yes"/"no" in both languages.
pub fn yes_no(b: bool) -> Text {
    COMMON.text(if b { "yes" } else { "no" }, &[])
}
