//! The menu-line parser and the text filter: any bytes, any chunking, no panic, and
//! a well-formed item survives format → parse.
#![no_main]
use lab::gopher::menu::{self, Line, MenuParser, TextFilter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |&b| (b as usize % 64) + 1);
    let mut p = MenuParser::new();
    let mut lines = Vec::new();
    for c in data.chunks(split) {
        p.feed(c, &mut |l| lines.push(l));
    }
    p.finish(&mut |l| lines.push(l));
    for l in &lines {
        if let Line::Item(i) = l {
            if !i.display.contains(['\t', '\r', '\n']) && !i.selector.contains(['\t', '\r', '\n']) {
                let again = menu::parse_line(menu::format_item(i).as_bytes());
                assert_eq!(&again, l);
            }
        }
    }
    let mut whole = Vec::new();
    let mut f = TextFilter::new();
    f.feed(data, &mut whole).unwrap();
    f.finish(&mut whole).unwrap();
    let mut parts = Vec::new();
    let mut g = TextFilter::new();
    for c in data.chunks(split) {
        g.feed(c, &mut parts).unwrap();
    }
    g.finish(&mut parts).unwrap();
    assert_eq!(whole, parts, "chunking changed the text");
    assert!(whole.len() <= data.len());
});
