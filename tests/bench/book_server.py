#!/usr/bin/env python3
"""THE COMPARISON for tests/bench/serve.sh — not part of `lab`.

The book's line server (Foundations of Python Network Programming, 1st ed., chapter 1),
ported to Python 3 by the lab's authors so the benchmark has something to compare
`lab serve` with. It keeps the book's shape: SO_REUSEADDR 1, listen(1), one client at
a time, an unbuffered file on the socket, readline().strip(), len(), close.

Two changes, both forced by Python 3: the file is binary ('rwb') because an unbuffered
file must be binary, so the count is len() of bytes, as the book's Python 2 str was;
and the port comes from argv (0 = any) and is printed as the kernel chose it.

Usage: book_server.py [PORT [BACKLOG]]     (BACKLOG defaults to the book's 1)
"""

import socket
import sys

host = "127.0.0.1"  # the book used '' (every interface); the benchmark stays on loopback
port = int(sys.argv[1]) if len(sys.argv) > 1 else 51423
backlog = int(sys.argv[2]) if len(sys.argv) > 2 else 1

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(backlog)

print("Server is running on port %d; press Ctrl-C to terminate." % s.getsockname()[1], flush=True)

try:
    while True:
        clientsock, clientaddr = s.accept()
        clientfile = clientsock.makefile("rwb", 0)
        clientfile.write(("welcome, " + str(clientaddr) + "\n").encode())
        clientfile.write(b"Please enter a string:")
        line = clientfile.readline().strip()
        clientfile.write(b"You entered %d characters.\n" % len(line))
        clientfile.close()
        clientsock.close()
except KeyboardInterrupt:
    pass
