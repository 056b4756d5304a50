//! Findings: each a pure function of the measured [`Data`], with its tests beside it.

use super::measure::{Data, Ending};
use super::tables::{doubled_dots, filtered_text, flag, parsed_menu};
use super::STRINGS as S;
use crate::gopher::client::BOOK_CHUNK;
use crate::report::{yes_no, Finding, Verdict};
use crate::t;

pub fn findings(d: &Data) -> Vec<Finding> {
    vec![request(d), chunks(d), end(d), marks(d)]
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
        }
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
