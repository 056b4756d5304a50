//! Load client and bare server for tests/bench/serve.sh (std only; the script builds it
//! with `rustc -O`). Not part of `lab`.
//!
//!   serve_load client PORT CONNECTIONS THREADS [LEN]   full exchanges with a line of LEN
//!                                                      characters (default: "hello"), prints figures
//!   serve_load bare                              a bare accept-answer-close loop on 127.0.0.1:0

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const PROMPT: &[u8] = b"Please enter a string:";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("client") if args.len() == 5 || args.len() == 6 => {
            let port: u16 = args[2].parse().expect("PORT");
            let conns: usize = args[3].parse().expect("CONNECTIONS");
            let threads: usize = args[4].parse::<usize>().expect("THREADS").max(1);
            let line = match args.get(5) {
                Some(n) => "x".repeat(n.parse().expect("LEN")),
                None => "hello".to_string(),
            };
            client(port, conns, threads, &line);
        }
        Some("bare") => bare(),
        _ => {
            eprintln!("usage: serve_load client PORT CONNECTIONS THREADS [LEN] | serve_load bare");
            std::process::exit(2);
        }
    }
}

/// One exchange as the learner does it with nc: wait for the prompt, send a line,
/// read to the server's close. True if the answer was right.
fn exchange(port: u16, line: &str, answer: &[u8]) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(128);
    let mut b = [0u8; 256];
    while !buf.ends_with(PROMPT) {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
    if s.write_all(format!("{line}\n").as_bytes()).is_err() {
        return false;
    }
    buf.clear();
    if s.read_to_end(&mut buf).is_err() {
        return false;
    }
    buf == answer
}

fn client(port: u16, conns: usize, threads: usize, line: &str) {
    let answer = format!("You entered {} characters.\n", line.len());
    let answer = answer.as_bytes();
    let started = Instant::now();
    let ok: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let n = conns / threads + usize::from(t < conns % threads);
                s.spawn(move || (0..n).filter(|_| exchange(port, line, answer)).count())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = started.elapsed().as_secs_f64();
    println!("connections={conns} ok={ok} threads={threads} seconds={secs:.3} rate={:.0}", conns as f64 / secs);
}

/// The least a server can do: accept, greet, read a line, answer, close. No limits,
/// no timeouts, no logging, no counting beyond len().
fn bare() {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = l.local_addr().expect("addr").port();
    println!("Server is running on port {port}; press Ctrl-C to terminate.");
    let _ = std::io::stdout().flush();
    for s in l.incoming() {
        let Ok(mut s) = s else { continue };
        let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let _ = s.write_all(format!("welcome, {peer}\nPlease enter a string:").as_bytes());
        let mut line = Vec::new();
        let mut b = [0u8; 512];
        while !line.contains(&b'\n') {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => line.extend_from_slice(&b[..n]),
            }
        }
        let n = line.trim_ascii().len();
        let _ = s.write_all(format!("You entered {n} characters.\n").as_bytes());
        let _ = s.shutdown(Shutdown::Both);
    }
}
