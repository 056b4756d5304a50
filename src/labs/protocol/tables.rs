//! Tables and notes: pure functions of the measured [`Data`].

use super::measure::{Attempt, Data, Outcome, Passes, Ping, Vantage, Who, PING_RANGE};
use super::names;
use super::STRINGS as S;
use crate::report::{yes_no, Call, Cell, Row, Table, Text};
use crate::sys::socket::Triple;
use crate::{row, t};

/// The default view shows the constants, the protocol-0 pivot, the ping sockets and the
/// database. Detail (`--detail`): `defaults` (one row per protocol-0 attempt: the pivot
/// shows it), `named` (the attempts that name a protocol, and AF_NETLINK: the findings
/// quote its telling rows) and, unless `--all` asked for it, the whole `matrix`.
pub fn tables(d: &Data) -> Vec<Table> {
    let mut defaults = defaults(d);
    defaults.detail = true;
    let mut named = named(d);
    named.detail = true;
    let mut matrix = matrix(d);
    matrix.detail = !d.all;
    let mut out = vec![constants(d), zero(d), defaults, named, matrix];
    if let Ok(p) = &d.ping {
        out.push(ping(d, p));
    }
    out.push(protocols(d));
    out
}

/// The report's notes: what could not be done, then as whom each column was measured.
pub fn notes(d: &Data) -> Vec<Text> {
    let mut out = Vec::new();
    match &d.ping {
        Err(why) => out.push(t!(S, "note.ping_unmeasured", why = why.text())),
        Ok(p) => {
            if let (Some(Call::Err(e)), Ok(found)) = (&p.restored, &d.ping_range) {
                out.push(t!(S, "note.not_restored", found = found, errno = e));
            }
            if p.widened.is_err() {
                out.push(t!(S, "note.not_widened"));
            }
        }
    }
    if let Call::Err(e) = &d.protocols.file {
        out.push(t!(S, "note.no_protocols_file", errno = e));
    }
    for w in Who::ALL {
        let header = header(&d.matrix.vantage, w);
        match d.matrix.column(w) {
            Some(Ok(_)) => out.push(t!(
                S,
                "note.column",
                header = header,
                how = how(&d.matrix.vantage, w)
            )),
            Some(Err(why)) => out.push(t!(S, "note.column", header = header, how = why.text())),
            None => {}
        }
    }
    out
}

fn vantage_key(v: &Vantage) -> (&'static str, u32, &str) {
    match v {
        Vantage::RealRoot { nobody } => ("real_root", *nobody, ""),
        Vantage::NamespaceRoot { outer, sandbox } => ("namespace_root", *outer, sandbox),
        Vantage::PlainUser { uid } => ("plain_user", *uid, ""),
    }
}

/// The header of a privilege column: who it was, as this run could reach them.
pub fn header(v: &Vantage, w: Who) -> Text {
    let (k, uid, _) = vantage_key(v);
    t!(S, &format!("col.{k}.{}", w.key()), uid = uid)
}

/// As whom a column was measured, for the report's notes.
fn how(v: &Vantage, w: Who) -> Text {
    let (k, uid, sandbox) = vantage_key(v);
    t!(S, &format!("how.{k}.{}", w.key()), uid = uid, sandbox = sandbox)
}

/// A socket() result as a cell's text: "ok", the errno, or "-" when not measured.
pub fn outcome(o: Option<&Outcome>) -> Text {
    match o {
        None => Text::same("-"),
        Some(o) => match (&o.socket, &o.back) {
            (Call::Ok, Some(Err(e))) => t!(S, "cell.unreadable_back", errno = e),
            (Call::Ok, _) => t!(S, "cell.ok"),
            (c, _) => Text::same(c.name()),
        },
    }
}

fn outcome_cell(t: &mut Table, o: Option<&Outcome>) -> Cell {
    match o {
        None => Cell::Null,
        o => t.label(outcome(o)),
    }
}

fn with_number(name: Text, n: i32) -> Text {
    t!(S, "cell.with_number", name = name, n = n)
}

fn constants(d: &Data) -> Table {
    let mut t = Table::from_catalogue(&S, "constants", &["value", "names", "meaning"]);
    let mut values: Vec<i32> = d.constants.iter().map(|c| c.1).collect();
    values.sort_unstable();
    values.dedup();
    for v in values {
        let group: Vec<&str> = d
            .constants
            .iter()
            .filter(|c| c.1 == v)
            .map(|c| c.0.as_str())
            .collect();
        let key = format!("meaning.{}", group[0]);
        let meaning = if S.has(&key) {
            t.label(S.text(&key, &[]))
        } else {
            Cell::Null
        };
        t.push(row! { "value" => v, "names" => group.join(" = "), "meaning" => meaning });
    }
    t.note_text(t!(S, "constants.note"));
    t
}

fn defaults(d: &Data) -> Table {
    let cols = [
        "domain",
        "type",
        "socket",
        "so_domain",
        "so_type",
        "so_protocol",
        "protocol_name",
    ];
    let mut t = Table::from_catalogue(&S, "defaults", &cols);
    let Some(who) = d.matrix.primary() else {
        t.note_text(t!(S, "defaults.note.none"));
        return t;
    };
    for (i, a) in d.attempts.iter().enumerate() {
        if a.protocol != 0 || a.domain == libc::AF_NETLINK {
            continue;
        }
        let Some(o) = d.matrix.get(who, i) else {
            continue;
        };
        let b = o.triple();
        let socket = outcome_cell(&mut t, Some(o));
        let so_domain = b.map(|b| t.label(with_number(names::family(b.domain), b.domain)));
        let so_type = b.map(|b| t.label(with_number(names::sock_type(b.ty), b.ty)));
        t.push(row! {
            "domain" => names::family(a.domain).en,
            "type" => names::sock_type(a.ty).en,
            "socket" => socket,
            "so_domain" => so_domain,
            "so_type" => so_type,
            "so_protocol" => b.map(|b| b.protocol),
            "protocol_name" => b.map(|b| names::protocol(b.domain, b.protocol)),
        });
    }
    t.note_text(t!(S, "defaults.note.as", header = header(&d.matrix.vantage, who)));
    t.note_text(t!(S, "defaults.note.netlink"));
    t
}

fn matrix(d: &Data) -> Table {
    let v = &d.matrix.vantage;
    let title = if d.all { "matrix.title_all" } else { "matrix.title" };
    let title = S.text(title, &[]);
    let mut cols: Vec<(&str, Text)> = ["domain", "type", "protocol", "asked"]
        .iter()
        .map(|k| (*k, S.text(&format!("matrix.col.{k}"), &[])))
        .collect();
    cols.extend(Who::ALL.iter().map(|w| (w.key(), header(v, *w))));
    cols.extend(
        ["read_back", "kernel"]
            .iter()
            .map(|k| (*k, S.text(&format!("matrix.col.{k}"), &[]))),
    );
    let mut t = Table::localized("matrix", title, &cols);
    for (i, a) in d.attempts.iter().enumerate() {
        let r = matrix_row(&mut t, i, a, &d.matrix);
        t.push(r);
    }
    t.note_text(t!(S, "matrix.note.read_back"));
    if d.all {
        shown_notes(&mut t, d);
    }
    t
}

/// The notes of the matrix that belong with whichever table the default view shows.
fn shown_notes(t: &mut Table, d: &Data) {
    if d.ping.is_err() {
        t.note_text(t!(
            S,
            "matrix.note.ping_range",
            name = PING_RANGE,
            range = range(&d.ping_range)
        ));
    }
    let modules = S.text(
        if d.sctp.modules {
            "matrix.note.modules_possible"
        } else {
            "matrix.note.modules_impossible"
        },
        &[],
    );
    t.note_text(t!(
        S,
        "matrix.note.sctp",
        before = yes_no(d.sctp.before),
        after = yes_no(d.sctp.after),
        modules = modules
    ));
}

/// A range read back, or a label saying it could not be read.
fn range(r: &Result<String, Call>) -> Text {
    match r {
        Ok(s) => Text::same(s),
        Err(_) => t!(S, "cell.unreadable"),
    }
}

/// The first read-back of attempt `i` over the columns, with the column that gave it.
pub fn read_backs(p: &Passes, i: usize) -> Vec<(Who, Triple)> {
    Who::ALL
        .iter()
        .filter_map(|w| p.get(*w, i).and_then(Outcome::triple).map(|b| (*w, b)))
        .collect()
}

/// What the kernel made of attempt `i`, by its first read-back, and what other columns
/// read back where they differ; None when no column created a socket.
fn kernel_text(i: usize, a: &Attempt, p: &Passes) -> Option<Text> {
    let backs = read_backs(p, i);
    let first = backs.first()?.1;
    let mut kernel = kernel_did(a, &first);
    for (w, b) in &backs[1..] {
        if *b != first {
            let also = t!(S, "kernel.as_column", who = who_name(*w), back = names::triple(b));
            kernel = Text::join(&[kernel, also], "; ", "；");
        }
    }
    Some(kernel)
}

/// The short name of a privilege column inside a sentence or a cell.
fn who_name(w: Who) -> Text {
    S.text(&format!("who.{}", w.key()), &[])
}

fn matrix_row(t: &mut Table, i: usize, a: &Attempt, p: &Passes) -> Row {
    let first = read_backs(p, i).first().map(|b| b.1);
    let read_back = first.map(|b| t.label(names::triple(&b)));
    let kernel = kernel_text(i, a, p).map(|k| t.label(k));
    let mut r = row! {
        "domain" => names::family(a.domain).en,
        "type" => names::sock_type(a.ty).en,
        "protocol" => a.protocol,
        "asked" => a.asked,
        "read_back" => read_back,
        "kernel" => kernel,
    };
    for w in Who::ALL {
        let cell = outcome_cell(t, p.get(w, i));
        r.insert(w.key().into(), cell);
    }
    r
}

/// The other measured columns whose socket() answer differs from `who`'s, as
/// "unprivileged: EPERM".
fn differing(p: &Passes, who: Who, i: usize) -> Vec<Text> {
    let base = outcome(p.get(who, i));
    p.measured()
        .into_iter()
        .filter(|w| *w != who)
        .map(|w| (w, outcome(p.get(w, i))))
        .filter(|(_, o)| *o != base)
        .map(|(w, o)| t!(S, "cell.as_who", who = who_name(w), result = o))
        .collect()
}

/// A family's column of the pivot: per type, the cell (None: not tried) and what the other
/// privilege levels answered where it differs.
type ZeroColumn = Vec<(Option<Text>, Vec<Text>)>;

/// Protocol 0 as a pivot: one row per type, one column per family (families whose
/// answers are all the same share a column; AF_NETLINK, where 0 is NETLINK_ROUTE itself,
/// is in the named-protocol table). A cell is the protocol SO_PROTOCOL read back, or the
/// error, as the first measured column; another column that answered otherwise is named
/// in the cell, or in the header when it answered so in every cell of that family.
fn zero(d: &Data) -> Table {
    let type_col = ("type", S.text("zero.col.type", &[]));
    let Some(who) = d.matrix.primary() else {
        let mut t = Table::localized("zero", S.text("zero.title", &[]), &[type_col]);
        t.note_text(t!(S, "defaults.note.none"));
        return t;
    };
    let zero_attempts = || {
        d.attempts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.protocol == 0 && a.domain != libc::AF_NETLINK)
    };
    let mut types: Vec<i32> = Vec::new();
    let mut families: Vec<i32> = Vec::new();
    for (_, a) in zero_attempts() {
        if !types.contains(&a.ty) {
            types.push(a.ty);
        }
        if !families.contains(&a.domain) {
            families.push(a.domain);
        }
    }
    // Per family: the cell of each type (what 0 became, and what others said).
    let column = |f: i32| -> ZeroColumn {
        types
            .iter()
            .map(
                |ty| match zero_attempts().find(|(_, a)| a.domain == f && a.ty == *ty) {
                    None => (None, Vec::new()),
                    Some((i, a)) => (Some(zero_cell(d, who, i, a)), differing(&d.matrix, who, i)),
                },
            )
            .collect()
    };
    let mut groups: Vec<(Vec<i32>, ZeroColumn)> = Vec::new();
    for f in families {
        let c = column(f);
        match groups.iter_mut().find(|g| g.1 == c) {
            Some(g) => g.0.push(f),
            None => groups.push((vec![f], c)),
        }
    }
    let mut cols: Vec<(String, Text)> = vec![(type_col.0.into(), type_col.1)];
    let mut cells: Vec<Vec<Option<Text>>> = Vec::new();
    for (fams, c) in &groups {
        let names: Vec<Text> = fams.iter().map(|f| names::family(*f)).collect();
        let mut header = Text::join(&names, ", ", "、");
        // The same other answers in every cell: said once, in the header.
        let tried: Vec<&Vec<Text>> = c.iter().filter(|x| x.0.is_some()).map(|x| &x.1).collect();
        let others = tried.first().copied().cloned().unwrap_or_default();
        let hoist = !others.is_empty() && tried.iter().all(|o| **o == others);
        if hoist {
            let also = Text::join(&others, "; ", "；");
            header = t!(S, "zero.header_also", families = header, also = also);
        }
        let col: Vec<Option<Text>> = c
            .iter()
            .map(|(cell, o)| {
                cell.clone().map(|cell| {
                    if hoist || o.is_empty() {
                        cell
                    } else {
                        let mut parts = vec![cell];
                        parts.extend(o.iter().cloned());
                        Text::join(&parts, "; ", "；")
                    }
                })
            })
            .collect();
        cols.push((names::family(fams[0]).en, header));
        cells.push(col);
    }
    let cols: Vec<(&str, Text)> = cols.iter().map(|(k, h)| (k.as_str(), h.clone())).collect();
    let mut t = Table::localized("zero", S.text("zero.title", &[]), &cols);
    for (r, ty) in types.iter().enumerate() {
        let mut row = row! { "type" => names::sock_type(*ty).en };
        for (g, (fams, _)) in groups.iter().enumerate() {
            let cell = match &cells[g][r] {
                Some(c) => t.label(c.clone()),
                None => Cell::Null,
            };
            row.insert(names::family(fams[0]).en, cell);
        }
        t.push(row);
    }
    t.note_text(t!(S, "zero.note.as", header = header(&d.matrix.vantage, who)));
    t
}

/// What protocol 0 became: the protocol's name and number ("IPPROTO_TCP (6)"), and the
/// type when the kernel changed it; or socket()'s error.
fn zero_cell(d: &Data, who: Who, i: usize, a: &Attempt) -> Text {
    let o = d.matrix.get(who, i);
    let Some(b) = o.and_then(Outcome::triple) else {
        return outcome(o);
    };
    let name = names::protocol(b.domain, b.protocol);
    let mut cell = if name == b.protocol.to_string() {
        Text::same(name)
    } else {
        with_number(Text::same(name), b.protocol)
    };
    if b.ty != a.ty {
        cell = t!(S, "zero.as_type", protocol = cell, ty = names::sock_type(b.ty));
    }
    if b.domain != a.domain {
        cell = t!(
            S,
            "zero.as_family",
            protocol = cell,
            family = names::family(b.domain)
        );
    }
    cell
}

/// The attempts that name their protocol (all but the plain 0s of the pivot), one line
/// each: the call, socket()'s answer (other columns named where they differ), and what
/// the kernel made of it.
fn named(d: &Data) -> Table {
    let mut t = Table::from_catalogue(&S, "named", &["call", "socket", "kernel"]);
    let who = d.matrix.primary();
    for (i, a) in d.attempts.iter().enumerate() {
        if a.asked == "0" {
            continue;
        }
        let call = format!(
            "{} {} {}",
            names::family(a.domain).en,
            names::sock_type(a.ty).en,
            a.asked
        );
        let socket = match who {
            Some(w) => {
                let parts = [vec![outcome(d.matrix.get(w, i))], differing(&d.matrix, w, i)].concat();
                t.label(Text::join(&parts, "; ", "；"))
            }
            None => Cell::Null,
        };
        let kernel = kernel_text(i, a, &d.matrix).map(|k| t.label(k));
        t.push(row! { "call" => call, "socket" => socket, "kernel" => kernel });
    }
    if !d.all {
        shown_notes(&mut t, d);
    }
    t
}

/// Compares what was asked with what SO_DOMAIN/SO_TYPE/SO_PROTOCOL say.
pub fn kernel_did(a: &Attempt, b: &Triple) -> Text {
    let mut parts = Vec::new();
    if b.domain != a.domain {
        parts.push(t!(S, "kernel.family", family = names::family(b.domain)));
    }
    if b.ty != a.ty {
        parts.push(t!(S, "kernel.type", ty = names::sock_type(b.ty)));
    }
    if b.protocol != a.protocol {
        if a.protocol == 0 {
            parts.push(t!(
                S,
                "kernel.resolved",
                name = names::protocol(b.domain, b.protocol)
            ));
        } else {
            parts.push(t!(S, "kernel.reads_back", asked = a.protocol, got = b.protocol));
        }
    } else if a.protocol != 0 && a.asked != names::protocol(a.domain, a.protocol) {
        parts.push(t!(
            S,
            "kernel.means",
            n = a.protocol,
            name = names::protocol(a.domain, a.protocol)
        ));
    }
    if parts.is_empty() {
        t!(S, "kernel.kept")
    } else {
        Text::join(&parts, "; ", "；")
    }
}

/// The call of a ping attempt as code: "socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)".
pub fn ping_call(a: &Attempt) -> String {
    format!("socket({}, SOCK_DGRAM, {})", names::family(a.domain).en, a.asked)
}

fn ping(d: &Data, p: &Ping) -> Table {
    let measured = p.found.measured();
    let mut cols = vec![
        ("range", Text::same(PING_RANGE)),
        ("call", Text::same("socket()")),
        ("protocol", S.text("ping.col.protocol", &[])),
    ];
    cols.extend(measured.iter().map(|w| (w.key(), header(&p.found.vantage, *w))));
    let mut t = Table::localized("ping", S.text("ping.title", &[]), &cols);
    let add = |t: &mut Table, range: Text, passes: &Passes| {
        let range = t.label(range);
        for (i, a) in p.attempts.iter().enumerate() {
            let mut r = row! { "range" => range, "call" => ping_call(a), "protocol" => a.asked };
            for w in &measured {
                let cell = outcome_cell(t, passes.get(*w, i));
                r.insert(w.key().into(), cell);
            }
            t.push(r);
        }
    };
    add(
        &mut t,
        t!(S, "ping.found", range = range(&d.ping_range)),
        &p.found,
    );
    if let Ok(w) = &p.widened {
        add(&mut t, t!(S, "ping.widened", range = range(&w.range)), &w.passes);
    }
    // The protocol names the call (ICMPV6 is AF_INET6's); the call itself is for --detail.
    t.detail(&["call"]);
    t.note_text(t!(S, "ping.note.groups"));
    if d.user_namespace {
        t.note_text(t!(S, "ping.note.overflow"));
    }
    t
}

fn protocols(d: &Data) -> Table {
    let cols = ["name", "constant", "getprotobyname", "aliases", "line"];
    let mut t = Table::from_catalogue(&S, "protocols", &cols);
    for e in &d.protocols.entries {
        let (number, aliases): (Cell, Cell) = match &e.lookup {
            Ok(Some((n, a))) => ((*n).into(), a.join(" ").into()),
            Ok(None) => (t.label(t!(S, "cell.not_found")), Cell::Null),
            Err(c) => (c.into(), Cell::Null),
        };
        t.push(row! {
            "name" => e.name, "constant" => format!("{} = {}", e.constant, e.value),
            "getprotobyname" => number, "aliases" => aliases, "line" => e.line,
        });
    }
    // The line repeats the number and aliases beside it; its comment is for --detail.
    t.detail(&["line"]);
    t.code(&["name", "line"]);
    t.note_text(t!(S, "protocols.note"));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Unmeasured;

    fn attempt(domain: i32, ty: i32, protocol: i32, asked: &str) -> Attempt {
        Attempt {
            domain,
            ty,
            protocol,
            asked: asked.into(),
        }
    }

    #[test]
    fn af_and_pf_are_grouped_by_value() {
        let d = Data {
            constants: names::CONSTANTS
                .iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect(),
            ..empty()
        };
        let t = constants(&d);
        let inet = t.rows.iter().find(|r| r["value"] == libc::AF_INET).unwrap();
        assert_eq!(inet["names"], "AF_INET = PF_INET");
        let unix = t.rows.iter().find(|r| r["value"] == libc::AF_UNIX).unwrap();
        assert_eq!(unix["names"], "AF_UNIX = AF_LOCAL = PF_UNIX = PF_LOCAL");
        assert!(t.labels_zh.contains_key(unix["meaning"].as_str().unwrap()));
    }

    #[test]
    fn the_kernel_column_says_what_changed() {
        let b = |domain, ty, protocol| Triple { domain, ty, protocol };
        let tcp0 = attempt(libc::AF_INET, libc::SOCK_STREAM, 0, "0");
        assert_eq!(kernel_did(&tcp0, &b(2, 1, 6)).en, "0 resolved to IPPROTO_TCP");
        let raw = attempt(libc::AF_UNIX, libc::SOCK_RAW, 0, "0");
        let k = kernel_did(&raw, &b(1, 2, 0));
        assert_eq!(k.en, "type became SOCK_DGRAM");
        assert_eq!(k.zh, "类型变成了 SOCK_DGRAM");
        let xfrm = attempt(libc::AF_NETLINK, libc::SOCK_RAW, 6, "IPPROTO_TCP");
        assert_eq!(kernel_did(&xfrm, &b(16, 3, 6)).en, "6 means NETLINK_XFRM here");
        let tcp = attempt(libc::AF_INET, libc::SOCK_STREAM, 6, "IPPROTO_TCP");
        assert_eq!(kernel_did(&tcp, &b(2, 1, 6)).en, "kept as asked");
    }

    #[test]
    fn a_column_not_measured_says_why_in_the_notes() {
        let mut d = empty();
        d.matrix.root = Some(Err(Unmeasured::Privilege { what: "root".into() }));
        let notes = notes(&d);
        assert!(notes[0].en.contains("not measured"), "{:?}", notes[0]);
        assert!(notes[0].zh.contains("未测量"), "{:?}", notes[0]);
        d.ping = Err(Unmeasured::NoSandbox);
        assert!(notes_of(&d).iter().any(|n| n.contains("ping_group_range")));
        assert!(tables(&d).iter().all(|t| t.id != "ping"));
    }

    #[test]
    fn the_zero_pivot_merges_equal_families_and_names_other_answers() {
        let ok = |d, t, p| Outcome {
            socket: Call::Ok,
            back: Some(Ok(Triple {
                domain: d,
                ty: t,
                protocol: p,
            })),
        };
        let err = |e: &str| Outcome {
            socket: Call::Err(e.into()),
            back: None,
        };
        let (inet, inet6, unix, packet) = (libc::AF_INET, libc::AF_INET6, libc::AF_UNIX, libc::AF_PACKET);
        let (stream, raw) = (libc::SOCK_STREAM, libc::SOCK_RAW);
        let mut d = empty();
        d.attempts = vec![
            attempt(inet, stream, 0, "0"),
            attempt(inet6, stream, 0, "0"),
            attempt(unix, raw, 0, "0"),
            attempt(packet, stream, 0, "0"),
            attempt(inet, stream, 17, "IPPROTO_UDP"),
        ];
        let root = vec![
            ok(inet, stream, 6),
            ok(inet6, stream, 6),
            ok(unix, libc::SOCK_DGRAM, 0),
            err("ESOCKTNOSUPPORT"),
            err("EPROTONOSUPPORT"),
        ];
        let mut unpriv = root.clone();
        unpriv[3] = err("EPERM");
        d.matrix.root = Some(Ok(root.clone()));
        d.matrix.userns = Some(Ok(root));
        d.matrix.unprivileged = Some(Ok(unpriv));
        let t = zero(&d);
        let headers: Vec<&str> = t.columns.iter().map(|c| c.header.as_str()).collect();
        assert_eq!(
            headers,
            [
                "type",
                "AF_INET, AF_INET6",
                "AF_UNIX",
                "AF_PACKET (unprivileged: EPERM)"
            ]
        );
        let stream_row = t.rows.iter().find(|r| r["type"] == "SOCK_STREAM").unwrap();
        assert_eq!(stream_row["AF_INET"], "IPPROTO_TCP (6)");
        assert_eq!(stream_row["AF_PACKET"], "ESOCKTNOSUPPORT");
        let raw_row = t.rows.iter().find(|r| r["type"] == "SOCK_RAW").unwrap();
        assert_eq!(raw_row["AF_UNIX"], "0, as SOCK_DGRAM");
        assert_eq!(t.labels_zh["0, as SOCK_DGRAM"], "0，类型成了 SOCK_DGRAM");
        // Only the attempts that name a protocol are in the named table.
        let n = named(&d);
        assert_eq!(n.rows.len(), 1);
        assert_eq!(n.rows[0]["call"], "AF_INET SOCK_STREAM IPPROTO_UDP");
        // The long tables are detail in the default view.
        let shown: Vec<String> = tables(&d)
            .into_iter()
            .filter(|t| !t.detail)
            .map(|t| t.id)
            .collect();
        assert!(shown.contains(&"zero".to_string()));
        assert!(!shown
            .iter()
            .any(|id| id == "matrix" || id == "defaults" || id == "named"));
    }

    fn notes_of(d: &Data) -> Vec<String> {
        notes(d).into_iter().map(|t| t.en).collect()
    }

    fn empty() -> Data {
        use super::super::measure::{Protocols, Sctp};
        let col = || Some(Ok(Vec::new()));
        Data {
            all: false,
            constants: Vec::new(),
            attempts: Vec::new(),
            matrix: Passes {
                vantage: Vantage::RealRoot { nobody: 65534 },
                root: col(),
                userns: col(),
                unprivileged: col(),
            },
            ping_range: Ok("1 0".into()),
            sctp: Sctp {
                before: false,
                after: false,
                modules: false,
            },
            ping: Err(Unmeasured::NoSandbox),
            protocols: Protocols {
                file: Call::Ok,
                entries: Vec::new(),
            },
            user_namespace: false,
        }
    }
}
