//! Menus: the item type of a file, one menu line, the generated listing of a directory,
//! and the hand-written `gophermap` file.
//!
//! A menu line (RFC 1436 section 3.8): TYPE DISPLAY TAB SELECTOR TAB HOST TAB PORT CRLF; the
//! menu ends with a line holding a lone ".".
//!
//! The gophermap format accepted (one file named `gophermap` in a directory replaces the
//! generated menu of that directory):
//! - `TDisplay<TAB>selector[<TAB>host[<TAB>port]]`: an item of type T. A selector not starting
//!   with "/" (and not "URL:...") is relative to the directory; host and port default to this
//!   server's.
//! - a line without a TAB: an information line (type `i`, a common extension to RFC 1436).
//! - `*` alone: the generated listing of the directory goes here.
//! - `#...`: a comment, not sent. `.` alone: the end; the rest of the file is ignored.

use super::select::{selector_for, Root};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The file name of a hand-written menu.
pub const GOPHERMAP: &str = "gophermap";
/// At most this many entries of one directory are listed.
pub const MAX_ENTRIES: usize = 10_000;
/// A gophermap larger than this is not read.
pub const MAX_GOPHERMAP: u64 = 1 << 20;

/// One menu item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: u8,
    pub display: Vec<u8>,
    pub selector: Vec<u8>,
    pub host: String,
    pub port: u16,
}

/// Where this server is, as menus must name it.
#[derive(Debug, Clone)]
pub struct Here {
    pub host: String,
    pub port: u16,
}

impl Item {
    fn info(text: &[u8], here: &Here) -> Item {
        Item {
            kind: b'i',
            display: text.to_vec(),
            selector: Vec::new(),
            host: here.host.clone(),
            port: here.port,
        }
    }

    /// The item as one menu line, CRLF included. TAB, CR and LF cannot appear inside a field,
    /// so they become spaces in the display text (selectors never contain them: see `listing`).
    pub fn line(&self) -> Vec<u8> {
        let clean = |b: &u8| {
            if matches!(b, b'\t' | b'\r' | b'\n') {
                b' '
            } else {
                *b
            }
        };
        let mut l = vec![self.kind];
        l.extend(self.display.iter().map(clean));
        l.push(b'\t');
        l.extend(self.selector.iter().map(clean));
        l.extend_from_slice(format!("\t{}\t{}\r\n", self.host, self.port).as_bytes());
        l
    }
}

/// A whole menu: the lines, then the lone "." line.
pub fn menu_bytes(items: &[Item]) -> Vec<u8> {
    let mut out: Vec<u8> = items.iter().flat_map(Item::line).collect();
    out.extend_from_slice(b".\r\n");
    out
}

/// The item type for a file name, when its extension decides it.
fn type_by_extension(name: &OsStr) -> Option<u8> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    let t = match ext.as_str() {
        "txt" | "text" | "md" | "markdown" | "rst" | "log" | "csv" | "tsv" | "json" | "toml" | "yaml"
        | "yml" | "ini" | "conf" | "cfg" | "rs" | "c" | "h" | "py" | "sh" | "go" | "js" | "css" | "xml"
        | "tex" | "diff" | "patch" | "asc" => b'0',
        "gif" => b'g',
        "png" | "jpg" | "jpeg" | "bmp" | "webp" | "ico" | "tif" | "tiff" | "svg" => b'I',
        "html" | "htm" | "xhtml" => b'h',
        "wav" | "mp3" | "ogg" | "flac" | "au" | "aiff" => b's',
        "hqx" => b'4',
        "uu" | "uue" => b'6',
        "zip" | "gz" | "tgz" | "bz2" | "xz" | "zst" | "tar" | "7z" | "bin" | "exe" | "iso" | "deb"
        | "rpm" | "pdf" | "so" | "o" => b'9',
        _ => return None,
    };
    Some(t)
}

/// Text (`0`) when the first bytes are UTF-8 without NUL, else binary (`9`).
pub fn type_by_content(head: &[u8]) -> u8 {
    if head.contains(&0) {
        return b'9';
    }
    match std::str::from_utf8(head) {
        Ok(_) => b'0',
        // A multi-byte character cut by the sample's end is still text.
        Err(e) if e.error_len().is_none() => b'0',
        Err(_) => b'9',
    }
}

/// The item type of a regular file: its extension, else a look at its first KiB.
pub fn file_type(name: &OsStr, file: &mut impl Read) -> u8 {
    if let Some(t) = type_by_extension(name) {
        return t;
    }
    let mut head = Vec::with_capacity(1024);
    match file.take(1024).read_to_end(&mut head) {
        Ok(_) => type_by_content(&head),
        Err(_) => b'9',
    }
}

/// The generated listing of the directory `rel` (relative to the root), sorted by name.
/// Hidden names, the gophermap, names a menu line cannot carry, and symlinks leading out of
/// the root are left out.
pub fn listing(root: &Root, rel: &Path, here: &Here) -> Vec<Item> {
    let Ok(dir) = std::fs::read_dir(root.path.join(rel)) else {
        return Vec::new();
    };
    let mut items: Vec<Item> = dir
        .filter_map(Result::ok)
        .take(MAX_ENTRIES)
        .filter_map(|e| entry_item(root, rel, &e.file_name(), here))
        .collect();
    items.sort_by(|a, b| a.display.cmp(&b.display));
    items
}

fn entry_item(root: &Root, rel: &Path, name: &OsStr, here: &Here) -> Option<Item> {
    let bytes = name.as_bytes();
    if bytes.starts_with(b".")
        || name == GOPHERMAP
        || bytes.iter().any(|b| matches!(b, b'\t' | b'\r' | b'\n'))
    {
        return None;
    }
    let canonical = root.path.join(rel).join(name).canonicalize().ok()?;
    root.relative(&canonical)?;
    let mut file = root.open_beneath(&rel.join(name)).ok()?;
    let meta = file.metadata().ok()?;
    let kind = if meta.is_dir() {
        b'1'
    } else if meta.is_file() {
        file_type(name, &mut file)
    } else {
        return None;
    };
    Some(Item {
        kind,
        display: bytes.to_vec(),
        selector: selector_for(&rel.join(name), meta.is_dir()),
        host: here.host.clone(),
        port: here.port,
    })
}

/// The menu of directory `rel`: its gophermap when it has one, else the generated listing.
pub fn directory_menu(root: &Root, rel: &Path, here: &Here) -> Vec<Item> {
    match read_gophermap(root, rel) {
        Some(text) => parse_gophermap(&text, &selector_for(rel, true), here, || listing(root, rel, here)),
        None => listing(root, rel, here),
    }
}

fn read_gophermap(root: &Root, rel: &Path) -> Option<Vec<u8>> {
    let file = root.open_beneath(&rel.join(GOPHERMAP)).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_GOPHERMAP {
        return None;
    }
    let mut text = Vec::new();
    file.take(MAX_GOPHERMAP).read_to_end(&mut text).ok()?;
    Some(text)
}

/// Parses a gophermap (format in the module comment). `dir` is the directory's selector,
/// ending in "/"; `listing` is called for each `*` line.
pub fn parse_gophermap(text: &[u8], dir: &[u8], here: &Here, listing: impl Fn() -> Vec<Item>) -> Vec<Item> {
    let mut items = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line {
            b"." => break,
            b"*" => items.extend(listing()),
            l if l.starts_with(b"#") => {}
            l if !l.contains(&b'\t') => items.push(Item::info(l, here)),
            l => items.push(map_item(l, dir, here)),
        }
    }
    // A trailing newline leaves one empty piece: not an information line.
    if text.ends_with(b"\n")
        && items
            .last()
            .is_some_and(|i| i.kind == b'i' && i.display.is_empty())
    {
        items.pop();
    }
    items
}

fn map_item(line: &[u8], dir: &[u8], here: &Here) -> Item {
    let mut fields = line.split(|&b| b == b'\t');
    let first = fields.next().unwrap_or_default();
    let (kind, display) = match first.split_first() {
        Some((k, d)) => (*k, d.to_vec()),
        None => (b'i', Vec::new()),
    };
    let selector = fields.next().unwrap_or_default();
    let host = fields
        .next()
        .filter(|h| !h.is_empty())
        .map(|h| String::from_utf8_lossy(h).into_owned());
    let port = fields
        .next()
        .and_then(|p| std::str::from_utf8(p).ok()?.trim().parse().ok());
    let ours = host.is_none();
    let selector =
        if ours && !selector.is_empty() && !selector.starts_with(b"/") && !selector.starts_with(b"URL:") {
            [dir, selector].concat()
        } else {
            selector.to_vec()
        };
    Item {
        kind,
        display,
        selector,
        host: host.unwrap_or_else(|| here.host.clone()),
        port: port.unwrap_or(here.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Here {
        Here {
            host: "127.0.0.1".into(),
            port: 7070,
        }
    }

    #[test]
    fn menu_line_is_rfc_1436() {
        let it = Item {
            kind: b'0',
            display: b"a\tb".to_vec(),
            selector: b"/a.txt".to_vec(),
            host: "h".into(),
            port: 70,
        };
        assert_eq!(it.line(), b"0a b\t/a.txt\th\t70\r\n");
        assert_eq!(menu_bytes(&[]), b".\r\n");
    }

    #[test]
    fn types_from_names_and_content() {
        let mut empty: &[u8] = b"";
        assert_eq!(file_type(OsStr::new("x.gif"), &mut empty), b'g');
        assert_eq!(file_type(OsStr::new("X.PNG"), &mut empty), b'I');
        assert_eq!(file_type(OsStr::new("a.md"), &mut empty), b'0');
        assert_eq!(type_by_content(b"plain words\n"), b'0');
        assert_eq!(type_by_content(b"\x7fELF\x02\x01\x00"), b'9');
        assert_eq!(type_by_content(b"caf\xc3"), b'0', "cut multi-byte char");
        assert_eq!(type_by_content(b"\xff\xfe"), b'9');
    }

    #[test]
    fn gophermap_lines() {
        let text = b"# comment\nWelcome\n0About\tabout.txt\n1Far\t/x\texample.org\t71\n*\n.\nignored\n";
        let listed = || {
            vec![Item {
                kind: b'9',
                display: b"f.bin".to_vec(),
                selector: b"/d/f.bin".to_vec(),
                host: "127.0.0.1".into(),
                port: 7070,
            }]
        };
        let items = parse_gophermap(text, b"/d/", &here(), listed);
        let lines: Vec<String> = items
            .iter()
            .map(|i| String::from_utf8(i.line()).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "iWelcome\t\t127.0.0.1\t7070\r\n",
                "0About\t/d/about.txt\t127.0.0.1\t7070\r\n",
                "1Far\t/x\texample.org\t71\r\n",
                "9f.bin\t/d/f.bin\t127.0.0.1\t7070\r\n",
            ]
        );
    }
}
