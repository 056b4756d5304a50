//! The book's program, and the lab's two-line Python 3 port of it.

/// The book's program, as printed in the first edition (Python 2).
pub const BOOK_PROGRAM: &str = r#"#!/usr/bin/env python
# Simple Gopher Client - Chapter 1 - gopherclient.py
import socket, sys
port = 70
host = sys.argv[1]
filename = sys.argv[2]

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((host, port))
s.sendall(filename + "\r\n")

while 1:
    buf = s.recv(2048)
    if not len(buf):
        break
    sys.stdout.write(buf)
"#;

/// The lab's own Python 3 port: bytes on the wire, bytes to stdout, nothing else changed.
pub const PY3_PORT: &str = r#"import socket, sys
port = 70
host = sys.argv[1]
filename = sys.argv[2]

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.connect((host, port))
s.sendall((filename + "\r\n").encode())

while 1:
    buf = s.recv(2048)
    if not len(buf):
        break
    sys.stdout.buffer.write(buf)
"#;
