//! The result of one system call as data: "ok" or the errno name.

use serde::{Deserialize, Serialize};
use std::io;

/// What a call returned. Serialised as "ok" or the errno name ("EADDRINUSE").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Call {
    Ok,
    Err(String),
}

impl Call {
    pub fn of<T>(r: &io::Result<T>) -> Call {
        match r {
            Ok(_) => Call::Ok,
            Err(e) => Call::Err(crate::sys::errno_name(e)),
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Call::Ok)
    }

    /// True when the call failed with exactly this errno name.
    pub fn is(&self, errno: &str) -> bool {
        matches!(self, Call::Err(e) if e == errno)
    }

    pub fn name(&self) -> &str {
        match self {
            Call::Ok => "ok",
            Call::Err(e) => e,
        }
    }
}

impl From<String> for Call {
    fn from(s: String) -> Self {
        if s == "ok" {
            Call::Ok
        } else {
            Call::Err(s)
        }
    }
}

impl From<Call> for String {
    fn from(c: Call) -> String {
        c.name().to_string()
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<&Call> for serde_json::Value {
    fn from(c: &Call) -> Self {
        serde_json::Value::from(c.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_the_errno_name() {
        let e: io::Result<()> = Err(io::Error::from_raw_os_error(libc::EADDRINUSE));
        let c = Call::of(&e);
        assert!(c.is("EADDRINUSE"));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"EADDRINUSE\"");
        assert_eq!(serde_json::from_str::<Call>("\"ok\"").unwrap(), Call::Ok);
    }
}
