//! Why `lab serve` could not bind: EADDRINUSE explained from the socket table.
//! The learner's restart (`--reuseaddr 0`, one client, Ctrl-C, start again) meets it.

use super::STRINGS as S;
use crate::report::Text;
use crate::sys::diag;
use crate::t;

/// What holds the port, as sock_diag shows it in this namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Listener,
    TimeWait { left_ms: u32 },
    Other,
}

fn holders(port: u16) -> Vec<Holder> {
    let socks = diag::tcp_sockets_on_port(port).unwrap_or_default();
    socks
        .iter()
        .map(|s| match s.state {
            "LISTEN" => Holder::Listener,
            "TIME-WAIT" => Holder::TimeWait {
                left_ms: s.expires_ms,
            },
            _ => Holder::Other,
        })
        .collect()
}

fn in_use(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.raw_os_error() == Some(libc::EADDRINUSE))
}

/// The error, with an explanation after it when the port was in use.
pub fn explain(e: anyhow::Error, port: u16, reuseaddr: i32) -> anyhow::Error {
    if !in_use(&e) {
        return e;
    }
    let hint = hint(port, reuseaddr, &holders(port));
    // One line, as every `lab: error:` is.
    anyhow::anyhow!("{e:#}; {}", hint.en)
}

/// What to tell the learner, from what holds the port.
pub fn hint(port: u16, reuseaddr: i32, holders: &[Holder]) -> Text {
    if holders.contains(&Holder::Listener) {
        return t!(S, "bind.listener", port = port);
    }
    let left = holders
        .iter()
        .filter_map(|h| match h {
            Holder::TimeWait { left_ms } => Some(*left_ms),
            _ => None,
        })
        .max();
    let Some(left) = left else {
        return t!(S, "bind.nothing", port = port);
    };
    let secs = left.div_ceil(1000);
    let this = if reuseaddr == 0 {
        t!(S, "bind.this_off")
    } else {
        t!(S, "bind.this_on", v = reuseaddr)
    };
    t!(S, "bind.time_wait", secs = secs, this = this)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_wait_with_the_option_off_says_to_set_it() {
        let h = hint(51423, 0, &[Holder::TimeWait { left_ms: 58_100 }]);
        assert!(h.en.contains("TIME-WAIT (59 s left)"), "{}", h.en);
        assert!(
            h.en.contains("--reuseaddr 1") && h.en.contains("lab reuseaddr"),
            "{}",
            h.en
        );
        assert!(h.zh.contains("59"), "{}", h.zh);
    }

    #[test]
    fn time_wait_with_the_option_on_blames_the_previous_run() {
        let h = hint(51423, 1, &[Holder::TimeWait { left_ms: 1 }, Holder::Other]);
        assert!(h.en.contains("previous run had it off"), "{}", h.en);
    }

    #[test]
    fn a_listener_or_nothing_is_said_so() {
        let l = hint(7, 1, &[Holder::TimeWait { left_ms: 1 }, Holder::Listener]);
        assert!(l.en.contains("listening on port 7"), "{}", l.en);
        let n = hint(7, 1, &[]);
        assert!(n.en.contains("lab reuseaddr"), "{}", n.en);
    }

    #[test]
    fn only_eaddrinuse_is_explained() {
        let e = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(
            format!("{:#}", explain(e, 1, 0)),
            format!(
                "{:#}",
                anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EACCES))
            )
        );
        let busy = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EADDRINUSE))
            .context("bind 127.0.0.1:1");
        assert!(in_use(&busy));
    }
}
