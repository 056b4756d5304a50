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
//!
//! A response is a list of parts written to a non-blocking socket by [`Response::pump`], so one
//! thread can serve every client: a client that stops reading only stops its own response, and
//! the caller's deadline (no progress for the write time-out) ends it, on the sendfile path too.

use crate::sys::fileio;
use std::fs::File;
use std::io::{self, Read, Seek};
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

/// Bytes read from a file per copy step: small, since every client sending by copy holds one.
const CHUNK: usize = 16 * 1024;
/// Bytes per sendfile call: large enough to keep the socket full.
const SENDFILE_CHUNK: usize = 8 << 20;
/// Bytes one client may send before the others get their turn.
const TURN: u64 = 16 << 20;

/// One piece of a response, sent in order.
enum Part {
    /// Bytes in memory (menus, error items, the text terminator).
    Bytes { data: Vec<u8>, at: usize },
    /// A file range, with sendfile(2).
    File { file: File, offset: i64, end: i64 },
    /// A file read through a buffer; with `stuff`, a "." doubled at each line start.
    Copy {
        file: File,
        left: u64,
        buf: Vec<u8>,
        at: usize,
        stuff: Option<bool>,
    },
}

/// A response being written to a non-blocking socket, step by step.
pub struct Response {
    parts: std::collections::VecDeque<Part>,
    pub method: Method,
    /// Bytes written so far.
    pub sent: u64,
}

/// What one [`Response::pump`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pump {
    /// Everything is written.
    Done,
    /// The socket is full: wait until it is writable again.
    Blocked,
    /// This client had its turn; more can be written at once.
    Turn,
}

impl Response {
    /// Bytes built in memory.
    pub fn memory(data: Vec<u8>) -> Response {
        Response::of(vec![Part::Bytes { data, at: 0 }], Method::Memory)
    }

    fn of(parts: Vec<Part>, method: Method) -> Response {
        Response {
            parts: parts.into(),
            method,
            sent: 0,
        }
    }

    /// Writes until done, until the socket would block, or for one turn. Errors are the socket's.
    pub fn pump(&mut self, sock: &TcpStream) -> io::Result<Pump> {
        let start = self.sent;
        while let Some(part) = self.parts.front_mut() {
            if self.sent - start >= TURN {
                return Ok(Pump::Turn);
            }
            match step(part, sock)? {
                Step::Wrote(n) => self.sent += n as u64,
                Step::Finished => {
                    self.parts.pop_front();
                }
                Step::Blocked => return Ok(Pump::Blocked),
                Step::NoSendfile => self.fall_back_to_copy()?,
            }
        }
        Ok(Pump::Done)
    }
}

enum Step {
    Wrote(usize),
    Finished,
    Blocked,
    /// The kernel refused sendfile for this file before any byte went out.
    NoSendfile,
}

impl Response {
    fn fall_back_to_copy(&mut self) -> io::Result<()> {
        if let Some(Part::File { mut file, end, .. }) = self.parts.pop_front() {
            file.rewind()?;
            self.parts.push_front(copy_part(file, end as u64, None));
            self.method = Method::Copy;
        }
        Ok(())
    }
}

/// One system call's worth of progress on a part.
fn step(part: &mut Part, sock: &TcpStream) -> io::Result<Step> {
    let r = match part {
        Part::Bytes { data, at } if *at >= data.len() => return Ok(Step::Finished),
        Part::Bytes { data, at } => send(sock, &data[*at..]).inspect(|&n| *at += n),
        Part::File { offset, end, .. } if *offset >= *end => return Ok(Step::Finished),
        Part::File { file, offset, end } => {
            let want = ((*end - *offset) as usize).min(SENDFILE_CHUNK);
            match fileio::sendfile(sock.as_fd(), file.as_fd(), offset, want) {
                // The file shrank: end the part where the file ends.
                Ok(0) => return Ok(Step::Finished),
                Err(e) if *offset == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    return Ok(Step::NoSendfile)
                }
                r => r,
            }
        }
        Part::Copy {
            file,
            left,
            buf,
            at,
            stuff,
        } => {
            if *at >= buf.len() {
                if !refill(file, left, buf, stuff)? {
                    return Ok(Step::Finished);
                }
                *at = 0;
            }
            send(sock, &buf[*at..]).inspect(|&n| *at += n)
        }
    };
    match r {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        Ok(n) => Ok(Step::Wrote(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Step::Wrote(0)),
        Err(e) => Err(e),
    }
}

/// write(2) that never raises SIGPIPE on a closed peer.
fn send(sock: &TcpStream, data: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(sock).send_with_flags(data, libc::MSG_NOSIGNAL)
}

/// The next chunk of a copied file into `buf`; false at its end.
fn refill(file: &mut File, left: &mut u64, buf: &mut Vec<u8>, stuff: &mut Option<bool>) -> io::Result<bool> {
    let mut chunk = [0u8; CHUNK];
    let want = (*left).min(CHUNK as u64) as usize;
    let n = loop {
        match file.read(&mut chunk[..want]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r?,
        }
    };
    *left -= n as u64;
    buf.clear();
    match stuff {
        Some(at_line_start) => dot_stuff(&chunk[..n], at_line_start, buf),
        None => buf.extend_from_slice(&chunk[..n]),
    }
    Ok(n > 0)
}

/// The bytes of `file` as a binary item: with sendfile unless `zero_copy` is false.
pub fn raw(file: File, len: u64, zero_copy: bool) -> io::Result<Response> {
    let (part, method) = file_part(file, len, zero_copy)?;
    Ok(Response::of(vec![part], method))
}

fn file_part(mut file: File, len: u64, zero_copy: bool) -> io::Result<(Part, Method)> {
    if zero_copy && can_sendfile(&file) {
        let end = len.min(i64::MAX as u64) as i64;
        return Ok((Part::File { file, offset: 0, end }, Method::Sendfile));
    }
    // The type sniffing read the file's head: start over.
    file.rewind()?;
    Ok((copy_part(file, len, None), Method::Copy))
}

fn copy_part(file: File, left: u64, stuff: Option<bool>) -> Part {
    Part::Copy {
        file,
        left,
        buf: Vec::new(),
        at: 0,
        stuff,
    }
}

/// sendfile(2) takes a file it can map page by page: a regular file. Anything else is copied.
fn can_sendfile(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.file_type().is_file())
}

/// What a scan of a text file found.
struct Scan {
    needs_stuffing: bool,
    ends_with_newline: bool,
}

fn scan(file: &mut File, len: u64) -> io::Result<Scan> {
    file.rewind()?;
    let mut buf = vec![0u8; 64 * 1024];
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

/// A text file the RFC 1436 way (see the module comment). The scan reads the file once.
pub fn text(mut file: File, len: u64, zero_copy: bool) -> io::Result<Response> {
    let s = scan(&mut file, len)?;
    let (body, method) = if s.needs_stuffing {
        (copy_part(file, len, Some(true)), Method::Copy)
    } else {
        file_part(file, len, zero_copy)?
    };
    let mut tail = Vec::new();
    if !s.ends_with_newline {
        tail.extend_from_slice(b"\r\n");
    }
    tail.extend_from_slice(b".\r\n");
    Ok(Response::of(
        vec![body, Part::Bytes { data: tail, at: 0 }],
        method,
    ))
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
