//! /proc and sysctl access. Network paths go through /proc/thread-self so that a
//! thread inside a private namespace reads its own namespace, not the process's.

use std::collections::BTreeMap;
use std::io;

/// The sysctls that bear on the labs; recorded in every report.
pub const ENV_SYSCTLS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_child_ehash_entries",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_syn_linear_timeouts",
    "net.core.wmem_default",
    "net.core.wmem_max",
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_rmem",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.ping_group_range",
];

fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

/// Reads a sysctl by dotted name, trimmed; tabs between fields become spaces.
pub fn read_sysctl(name: &str) -> io::Result<String> {
    let s = std::fs::read_to_string(sysctl_path(name))?;
    Ok(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Reads an integer sysctl.
pub fn read_sysctl_int(name: &str) -> io::Result<i64> {
    read_sysctl(name)?
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}")))
}

/// Writes a sysctl. Only ever called inside a private network namespace.
pub fn write_sysctl(name: &str, value: &str) -> io::Result<()> {
    std::fs::write(sysctl_path(name), value)
}

/// Every sysctl in [`ENV_SYSCTLS`], "unreadable" for those this kernel lacks.
pub fn env_sysctls() -> BTreeMap<String, String> {
    ENV_SYSCTLS
        .iter()
        .map(|n| {
            let v = read_sysctl(n).unwrap_or_else(|_| "unreadable".into());
            (n.to_string(), v)
        })
        .collect()
}

/// Kernel counters of the calling thread's network namespace, from
/// /proc/thread-self/net/netstat and /snmp, keyed "TcpExtListenOverflows", "TcpOutRsts"...
pub fn net_counters() -> io::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for file in ["netstat", "snmp"] {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))?;
        parse_counter_pairs(&text, &mut out);
    }
    Ok(out)
}

/// The files come as pairs of lines: "TcpExt: Name1 Name2" then "TcpExt: 1 2".
fn parse_counter_pairs(text: &str, out: &mut BTreeMap<String, i64>) {
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((prefix, names)), Some((_, values))) = (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse() {
                out.insert(format!("{prefix}{n}"), v);
            }
        }
    }
}

/// The soft limit on open files (RLIMIT_NOFILE).
pub fn open_files_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_parse_in_pairs() {
        let mut m = BTreeMap::new();
        parse_counter_pairs(
            "TcpExt: ListenOverflows ListenDrops\nTcpExt: 3 4\nTcp: OutRsts\nTcp: 9\n",
            &mut m,
        );
        assert_eq!(m["TcpExtListenOverflows"], 3);
        assert_eq!(m["TcpExtListenDrops"], 4);
        assert_eq!(m["TcpOutRsts"], 9);
    }

    #[test]
    fn real_counters_include_listen_overflows() {
        let m = net_counters().unwrap();
        assert!(m.contains_key("TcpExtListenOverflows"));
        assert!(m.contains_key("TcpOutRsts"));
    }

    #[test]
    fn somaxconn_is_readable() {
        assert!(read_sysctl_int("net.core.somaxconn").unwrap() > 0);
    }
}
