//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::measure::{Data, Ending};
use super::tables::{doubled_dots, filtered_text, flag, parsed_menu};
use super::STRINGS as S;
use crate::gopher::client::BOOK_CHUNK;
use crate::labs::wire::{self, Dir, Packet, Wire};
use crate::report::{yes_no, Finding, Text, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    let mut v = vec![request(d), chunks(d), end(d), marks(d)];
    v.extend(on_the_wire(d));
    v
}

/// One fetch as its packets tell it.
struct Told<'a> {
    request: Vec<&'a Packet>,
    answer: Vec<&'a Packet>,
    first_fin: Option<&'a Packet>,
}

impl Told<'_> {
    fn of(w: &Wire, flow: u32) -> Told<'_> {
        let mine = || w.packets.iter().filter(move |p| p.flow == flow);
        let data = |dir| mine().filter(|p| p.dir == dir && p.len > 0).collect();
        Told {
            request: data(Dir::ClientToServer),
            answer: data(Dir::ServerToClient),
            first_fin: mine().find(|p| wire::flag_bits(&p.flags) & wire::FIN != 0),
        }
    }
    /// The request is one segment holding `sent`, and the server's FIN, after its last
    /// data, is the first.
    fn as_the_book_says(&self, sent: &[u8]) -> bool {
        let last_answer = self.answer.last().map_or(0.0, |p| p.t_ms);
        matches!(self.request.as_slice(), [r] if r.len as usize == sent.len()
            && r.preview == wire::preview(sent))
            && self
                .first_fin
                .is_some_and(|f| f.dir == Dir::ServerToClient && f.t_ms >= last_answer)
    }
    fn who(&self) -> Text {
        match self.first_fin.map(|p| p.dir) {
            Some(Dir::ServerToClient) => t!(S, "role.server"),
            Some(Dir::ClientToServer) => t!(S, "role.client"),
            None => t!(S, "role.nobody"),
        }
    }
    fn fin_at(&self) -> String {
        self.first_fin.map_or("–".into(), |p| format!("{:.3}", p.t_ms))
    }
    fn req(&self) -> String {
        self.request.iter().map(|p| p.preview.as_str()).collect()
    }
    fn answer_bytes(&self) -> u32 {
        self.answer.iter().map(|p| p.len).sum()
    }
}

/// From the packets: the request line is one segment, selector and CRLF; the server closes
/// first, and that FIN is the end of the answer.
fn on_the_wire(d: &Data) -> Option<Finding> {
    let w = d.wire.as_ref().ok()?.iter().find(|w| w.scenario == "fetches")?;
    let (menu, text) = (Told::of(w, 1), Told::of(w, 2));
    let ok = menu.as_the_book_says(&d.menu.sent) && text.as_the_book_says(&d.text.sent);
    let verdict = if ok { Verdict::Confirmed } else { Verdict::Refuted };
    let evidence = t!(
        S,
        "finding.on_the_wire.evidence",
        menu_segs = menu.request.len(),
        menu_req = menu.req(),
        menu_bytes = menu.answer_bytes(),
        menu_who = menu.who(),
        menu_fin = menu.fin_at(),
        text_segs = text.request.len(),
        text_req = text.req(),
        text_bytes = text.answer_bytes(),
        text_who = text.who(),
        text_fin = text.fin_at()
    );
    Some(Finding::new(
        "on_the_wire",
        t!(S, "finding.on_the_wire.claim"),
        verdict,
        evidence,
    ))
}

fn request(d: &Data) -> Finding {
    // The evidence is what the server read, not what the client meant to send.
    let got = |k: usize| d.received.get(k).map_or(&[][..], |r| r.as_slice());
    let (r0, r1) = (got(0), got(1));
    let sent_ok = d.received.len() == 2 && r0 == d.menu.sent && r1 == d.text.sent;
    let verdict = if sent_ok && r0 == b"\r\n" && r1 == b"/about.txt\r\n" {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(
        S,
        "finding.request.evidence",
        n0 = r0.len(),
        s0 = r0.escape_ascii(),
        n1 = r1.len(),
        s1 = r1.escape_ascii()
    );
    Finding::new("request", t!(S, "finding.request.claim"), verdict, evidence)
}

fn chunks(d: &Data) -> Finding {
    let sizes = &d.menu.chunk_sizes;
    let list = sizes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
    let many = d.menu.chunks() > 1 && sizes.iter().all(|&n| n <= BOOK_CHUNK);
    let verdict = if many { Verdict::Refuted } else { Verdict::Depends };
    let evidence = t!(
        S,
        "finding.chunks.evidence",
        total = d.menu.total,
        chunks = d.menu.chunks(),
        list = list
    );
    Finding::new("chunks", t!(S, "finding.chunks.claim"), verdict, evidence)
}

fn end(d: &Data) -> Finding {
    let eof = d.menu.end == Ending::Eof && d.text.end == Ending::Eof;
    let how = |e: Ending| match e {
        Ending::Eof => t!(S, "finding.end.eof"),
        Ending::Cap => t!(S, "finding.end.cap"),
    };
    let (_, terminator) = parsed_menu(d);
    let evidence = t!(
        S,
        "finding.end.evidence",
        menu_end = how(d.menu.end),
        menu_bytes = d.menu.total,
        text_end = how(d.text.end),
        text_bytes = d.text.total,
        terminator = flag(terminator)
    );
    let verdict = if eof { Verdict::Confirmed } else { Verdict::Refuted };
    Finding::new("end", t!(S, "finding.end.claim"), verdict, evidence)
}

fn marks(d: &Data) -> Finding {
    let raw = &d.text.raw;
    let ends_dot = raw.ends_with(b"\n.\r\n");
    let doubled = doubled_dots(raw);
    let (_, stats) = filtered_text(d);
    let raw_has = ends_dot && doubled > 0;
    let verdict = if raw_has && stats.terminator && stats.unstuffed == doubled as u64 {
        Verdict::Confirmed
    } else {
        Verdict::Refuted
    };
    let evidence = t!(
        S,
        "finding.marks.evidence",
        bytes = raw.len(),
        ends_dot = yes_no(ends_dot),
        doubled = doubled,
        printed = stats.bytes_out,
        dropped = yes_no(stats.terminator),
        unstuffed = stats.unstuffed
    );
    Finding::new("marks", t!(S, "finding.marks.claim"), verdict, evidence)
}

#[cfg(test)]
pub mod tests {
    use super::super::measure::Fetched;
    use super::*;
    use crate::gopher::responder::{demo_menu, DEMO_TEXT};

    /// Data as this kernel gives it: the responder's menu in 2048-byte pieces, then EOF.
    pub fn sample() -> Data {
        let menu = demo_menu(7070);
        let mut sizes: Vec<usize> = menu.chunks(2048).map(|c| c.len()).collect();
        sizes.truncate(8);
        let fetched = |sent: &[u8], raw: &[u8], chunk_sizes: Vec<usize>| Fetched {
            peer: "127.0.0.1:7070".into(),
            sent: sent.to_vec(),
            chunk_sizes,
            total: raw.len() as u64,
            end: Ending::Eof,
            raw: raw.to_vec(),
        };
        Data {
            menu: fetched(b"\r\n", &menu, sizes),
            text: fetched(b"/about.txt\r\n", DEMO_TEXT, vec![DEMO_TEXT.len()]),
            received: vec![b"\r\n".to_vec(), b"/about.txt\r\n".to_vec()],
            wire: Ok(vec![fetches(true)]),
        }
    }

    /// The packets of both fetches: the request in one segment, the answer, then the FINs,
    /// the server's first when `server_first`.
    pub fn fetches(server_first: bool) -> Wire {
        use crate::labs::wire::{Cause, Dir::*};
        let mut packets = Vec::new();
        for (flow, sent) in [(1, &b"\r\n"[..]), (2, &b"/about.txt\r\n"[..])] {
            let t0 = flow as f64;
            let p = |t: f64, dir, flags: &str, cause, data: &[u8]| {
                let mut p = Packet::bare(t0 + t, dir, flags, cause);
                p.flow = flow;
                p.len = data.len() as u32;
                p.preview = wire::preview(data);
                p
            };
            let (first, second) = if server_first {
                (ServerToClient, ClientToServer)
            } else {
                (ClientToServer, ServerToClient)
            };
            packets.extend([
                p(0.0, ClientToServer, "SYN", Cause::Connect, b""),
                p(0.01, ServerToClient, "SYN,ACK", Cause::Listen, b""),
                p(0.02, ClientToServer, "ACK", Cause::Connect, b""),
                p(0.03, ClientToServer, "PSH,ACK", Cause::Send, sent),
                p(
                    0.04,
                    ServerToClient,
                    "PSH,ACK",
                    Cause::Send,
                    b"iWelcome\t\t\t\r\n",
                ),
                p(0.05, first, "FIN,ACK", Cause::Close, b""),
                p(0.06, second, "FIN,ACK", Cause::Close, b""),
            ]);
        }
        Wire::of("fetches", 7070, packets)
    }

    fn verdict(d: &Data, id: &str) -> Verdict {
        findings(d).into_iter().find(|f| f.id == id).unwrap().verdict
    }

    #[test]
    fn request_is_confirmed_by_what_the_server_read_and_refuted_by_anything_more() {
        let mut d = sample();
        assert_eq!(verdict(&d, "request"), Verdict::Confirmed);
        d.received[1] = b"GET /about.txt\r\n".to_vec();
        assert_eq!(verdict(&d, "request"), Verdict::Refuted);
    }

    #[test]
    fn on_the_wire_is_confirmed_by_the_packets_and_refuted_by_a_client_closing_first() {
        let mut d = sample();
        assert_eq!(verdict(&d, "on_the_wire"), Verdict::Confirmed);
        let f = findings(&d).into_iter().find(|f| f.id == "on_the_wire").unwrap();
        assert!(f.evidence.contains("`/about.txt\\r\\n` (1)"), "{}", f.evidence);
        d.wire = Ok(vec![fetches(false)]);
        assert_eq!(verdict(&d, "on_the_wire"), Verdict::Refuted);
        // A request in two segments is not the book's one sendall in one segment.
        let mut w = fetches(true);
        let i = w.packets.iter().position(|p| p.flow == 2 && p.len > 0).unwrap();
        let mut half = w.packets[i].clone();
        half.len = 2;
        half.preview = "\\r\\n".into();
        w.packets[i].len = 10;
        w.packets.insert(i + 1, half);
        d.wire = Ok(vec![w]);
        assert_eq!(verdict(&d, "on_the_wire"), Verdict::Refuted);
        d.wire = Err(crate::report::Unmeasured::NoSandbox);
        assert!(findings(&d).iter().all(|f| f.id != "on_the_wire"));
    }

    #[test]
    fn chunks_is_refuted_by_several_recvs_and_depends_on_one() {
        let mut d = sample();
        assert_eq!(verdict(&d, "chunks"), Verdict::Refuted);
        d.menu.chunk_sizes = vec![d.menu.total as usize];
        assert_eq!(verdict(&d, "chunks"), Verdict::Depends);
    }

    #[test]
    fn end_is_confirmed_by_eof_and_refuted_by_the_cap() {
        let mut d = sample();
        assert_eq!(verdict(&d, "end"), Verdict::Confirmed);
        d.text.end = Ending::Cap;
        assert_eq!(verdict(&d, "end"), Verdict::Refuted);
    }

    #[test]
    fn marks_is_confirmed_when_the_raw_text_carries_them_and_refuted_otherwise() {
        let mut d = sample();
        assert_eq!(verdict(&d, "marks"), Verdict::Confirmed);
        d.text.raw = b"plain text\r\n".to_vec();
        assert_eq!(verdict(&d, "marks"), Verdict::Refuted);
    }

    #[test]
    fn evidence_quotes_the_measurement_in_both_languages() {
        let f = findings(&sample());
        let c = f.iter().find(|f| f.id == "chunks").unwrap();
        assert!(c.evidence.contains("2048, "), "{}", c.evidence);
        assert!(c.zh.as_ref().unwrap().evidence.contains("2048, "));
        let m = f.iter().find(|f| f.id == "marks").unwrap();
        assert!(m.zh.as_ref().unwrap().evidence.contains("是"), "{:?}", m.zh);
        let e = f.iter().find(|f| f.id == "end").unwrap();
        assert!(e.evidence.contains("(present: true)"), "{}", e.evidence);
        assert!(e.zh.as_ref().unwrap().evidence.contains("（存在：是）"));
    }
}
