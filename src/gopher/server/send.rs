//! Putting a file on the wire.
//!
//! - Binary and every non-text type: the file's bytes, unchanged, then the server closes the
//!   connection; the client reads to end-of-file. Sent with sendfile(2); if the kernel refuses
//!   it for this file (EINVAL, ENOSYS) the bytes are copied through a buffer instead.
//! - Text (type 0), as RFC 1436 asks: the file's bytes, a line break if the file did not end
//!   with one, then a line holding a lone "."; a line that starts with "." gets a second "."
//!   in front ("dot-stuffing") so it cannot be mistaken for the end. Line ends are sent as the
//!   file has them (LF in the lab's docs): every client tried (curl, lynx, the book's) takes
//!   LF. A text file with no line starting with "." still goes out with sendfile; one with
//!   such lines is copied, a "." added where needed.

use crate::sys::fileio;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

/// How a response was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// sendfile(2): the kernel moved the file's pages into the socket.
    Sendfile,
    /// read(2) then write(2) through a buffer in this program.
    Copy,
    /// Built in memory (menus, error items) and written.
    Memory,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sendfile => "sendfile",
            Method::Copy => "copy",
            Method::Memory => "write",
        }
    }
}

const CHUNK: usize = 64 * 1024;
/// Bytes per sendfile call: large enough to keep the socket full, small enough to notice a stop.
const SENDFILE_CHUNK: usize = 8 << 20;

/// Sends `len` bytes of `file` from its start, with sendfile unless `zero_copy` is false;
/// returns the bytes sent and how.
pub fn raw(sock: &mut TcpStream, file: &mut File, len: u64, zero_copy: bool) -> io::Result<(u64, Method)> {
    if !zero_copy {
        return copy(sock, file, len).map(|n| (n, Method::Copy));
    }
    let mut offset: i64 = 0;
    while (offset as u64) < len {
        let want = (len - offset as u64).min(SENDFILE_CHUNK as u64) as usize;
        match fileio::sendfile(sock.as_fd(), file.as_fd(), &mut offset, want) {
            Ok(0) => break, // the file shrank
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if offset == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) => {
                return copy(sock, file, len).map(|n| (n, Method::Copy));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((offset as u64, Method::Sendfile))
}

/// Copies `len` bytes of `file` from its start through a buffer.
fn copy(sock: &mut TcpStream, file: &mut File, len: u64) -> io::Result<u64> {
    file.rewind()?;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0u64;
    let mut src = file.take(len);
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(sent),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sock.write_all(&buf[..n])?;
        sent += n as u64;
    }
}

/// What a scan of a text file found.
struct Scan {
    needs_stuffing: bool,
    ends_with_newline: bool,
}

fn scan(file: &mut File, len: u64) -> io::Result<Scan> {
    file.rewind()?;
    let mut buf = vec![0u8; CHUNK];
    let mut at_line_start = true;
    let mut last = b'\n';
    let mut needs_stuffing = false;
    let mut src = file.take(len);
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            needs_stuffing |= at_line_start && b == b'.';
            at_line_start = b == b'\n';
            last = b;
        }
    }
    file.rewind()?;
    Ok(Scan {
        needs_stuffing,
        ends_with_newline: len == 0 || last == b'\n',
    })
}

/// Doubles a "." at the start of each line; `at_line_start` carries across chunks.
pub fn dot_stuff(chunk: &[u8], at_line_start: &mut bool, out: &mut Vec<u8>) {
    for &b in chunk {
        if *at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        *at_line_start = b == b'\n';
    }
}

/// Sends a text file the RFC 1436 way (see the module comment).
pub fn text(sock: &mut TcpStream, file: &mut File, len: u64, zero_copy: bool) -> io::Result<(u64, Method)> {
    let s = scan(file, len)?;
    let (mut sent, method) = if s.needs_stuffing {
        (stuffed(sock, file, len)?, Method::Copy)
    } else {
        raw(sock, file, len, zero_copy)?
    };
    let mut tail = Vec::new();
    if !s.ends_with_newline {
        tail.extend_from_slice(b"\r\n");
    }
    tail.extend_from_slice(b".\r\n");
    sock.write_all(&tail)?;
    sent += tail.len() as u64;
    Ok((sent, method))
}

fn stuffed(sock: &mut TcpStream, file: &mut File, len: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK * 2);
    let mut at_line_start = true;
    let mut sent = 0u64;
    let mut src = file.take(len);
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            return Ok(sent);
        }
        out.clear();
        dot_stuff(&buf[..n], &mut at_line_start, &mut out);
        sock.write_all(&out)?;
        sent += out.len() as u64;
    }
}

/// Undoes [`text`]: drops the final "." line and the doubled dots (for tests and the lab).
pub fn unstuff(body: &[u8]) -> Option<Vec<u8>> {
    let body = body.strip_suffix(b".\r\n")?;
    let mut out = Vec::with_capacity(body.len());
    let mut at_line_start = true;
    let mut skip_next_dot = false;
    for &b in body {
        if skip_next_dot {
            skip_next_dot = false;
            if b == b'.' {
                at_line_start = false;
                continue;
            }
        }
        if at_line_start && b == b'.' {
            skip_next_dot = true;
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_round_trips() {
        let text = b"a\n.b\n..c\n.\nend\n";
        let mut out = Vec::new();
        let mut start = true;
        // Split at an awkward place: the state must carry across chunks.
        dot_stuff(&text[..2], &mut start, &mut out);
        dot_stuff(&text[2..], &mut start, &mut out);
        assert_eq!(out, b"a\n..b\n...c\n..\nend\n");
        out.extend_from_slice(b".\r\n");
        assert_eq!(unstuff(&out).unwrap(), text);
    }
}
