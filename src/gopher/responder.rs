//! A small Gopher responder for the labs' experiments: a fixed menu long enough to need
//! several recv(2048) calls and one text file with a doubled dot. It records what it read
//! from each client: the evidence for what went on the wire. Every wait is bounded.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Enough note lines that the menu needs more than one recv(2048).
pub const DEMO_NOTES: usize = 24;

/// The text item at `/about.txt`: one line starts with a dot, so it is sent doubled.
pub const DEMO_TEXT: &[u8] =
    b"This is about.txt.\r\n..hidden: this line starts with a dot\r\nThe last line.\r\n.\r\n";

/// The reply for the root selector, with items pointing at 127.0.0.1:`port`.
pub fn demo_menu(port: u16) -> Vec<u8> {
    let mut m = Vec::new();
    let item = |t: char, d: &str, s: &str| format!("{t}{d}\t{s}\t127.0.0.1\t{port}\r\n");
    m.extend_from_slice(b"iA local Gopher server for the lab\tfake\t(NULL)\t0\r\n");
    m.extend_from_slice(item('0', "About this server", "/about.txt").as_bytes());
    m.extend_from_slice(item('1', "Chapter notes", "/notes").as_bytes());
    m.extend_from_slice(item('9', "A binary file", "/blob.bin").as_bytes());
    m.extend_from_slice(item('7', "Search the notes", "/search").as_bytes());
    for i in 1..=DEMO_NOTES {
        let display = format!("Note {i:02}: what the client sends, and what recv(2048) brings back");
        m.extend_from_slice(item('0', &display, &format!("/notes/{i:02}.txt")).as_bytes());
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// What the responder read from each client, in order.
pub type Received = Vec<Vec<u8>>;

/// Answers `n` requests on `l` (menu for "", text for /about.txt, an error item otherwise),
/// then returns what it read.
pub fn responder(l: TcpListener, n: usize) -> JoinHandle<io::Result<Received>> {
    std::thread::spawn(move || {
        let port = l.local_addr()?.port();
        let mut got = Vec::new();
        for _ in 0..n {
            let (mut s, _) = accept_bounded(&l)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let req = read_request(&mut s)?;
            let reply = match req.as_slice() {
                b"\r\n" => demo_menu(port),
                b"/about.txt\r\n" => DEMO_TEXT.to_vec(),
                _ => b"3Not found\terror\terror.host\t1\r\n.\r\n".to_vec(),
            };
            got.push(req);
            s.write_all(&reply)?;
            // Dropping the stream closes it: the client's recv returns 0.
        }
        Ok(got)
    })
}

/// Serves one request (the text for `/about.txt`, the menu otherwise) if a client comes
/// before `stop` is set; returns what it read, or None when nobody connected.
pub fn responder_once(l: TcpListener, stop: Arc<AtomicBool>) -> JoinHandle<io::Result<Option<Vec<u8>>>> {
    std::thread::spawn(move || {
        let port = l.local_addr()?.port();
        l.set_nonblocking(true)?;
        // Bounded by `stop` (set once the client process ended) and by 10 s.
        for _ in 0..1000 {
            let stopping = stop.load(Ordering::SeqCst);
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    let req = read_request(&mut s)?;
                    let reply = if req.starts_with(b"/about.txt") {
                        DEMO_TEXT.to_vec()
                    } else {
                        demo_menu(port)
                    };
                    let _ = s.write_all(&reply);
                    return Ok(Some(req));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && stopping => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    })
}

/// accept(2) for at most 5 s.
pub fn accept_bounded(l: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    l.set_nonblocking(true)?;
    for _ in 0..500 {
        match l.accept() {
            Ok((s, a)) => {
                s.set_nonblocking(false)?;
                return Ok((s, a));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no client within 5 s"))
}

/// Reads up to and including the first LF (at most 1 KiB).
pub fn read_request(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut req = Vec::new();
    let mut b = [0u8; 256];
    while !req.contains(&b'\n') && req.len() < 1024 {
        let n = s.read(&mut b)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&b[..n]);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn answers_the_menu_and_the_text_and_records_the_requests() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        let h = responder(l, 2);
        let mut replies = Vec::new();
        for req in [&b"\r\n"[..], b"/about.txt\r\n"] {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(req).unwrap();
            let mut r = Vec::new();
            s.read_to_end(&mut r).unwrap();
            replies.push(r);
        }
        let got = h.join().unwrap().unwrap();
        assert_eq!(got, [b"\r\n".to_vec(), b"/about.txt\r\n".to_vec()]);
        assert_eq!(replies[0], demo_menu(addr.port()));
        assert!(replies[0].len() > 2048, "the menu needs several recv(2048)");
        assert_eq!(replies[1], DEMO_TEXT);
    }
}
