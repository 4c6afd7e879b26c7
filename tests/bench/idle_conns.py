#!/usr/bin/env python3
"""idle_conns.py -- opens N keep-alive connections to 127.0.0.1:PORT, sends one
request on each, reads each response completely, then holds every connection
open and idle until killed (or until stdin closes).

Prints "ready <connections that got a full response>" on stdout once all of
them are idle, so a caller can measure the server's memory at that moment.

usage: idle_conns.py PORT COUNT [PATH]
"""
import os
import selectors
import socket
import sys
import time

CONNECT_BATCH = 200        # connections in flight at once while opening
DEADLINE_S = 120           # give up on responses after this long


def response_complete(buf):
    """True when buf holds a whole response with a Content-Length body."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= head_end + 4 + length


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else "/"
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    sel = selectors.DefaultSelector()
    conns, pending, done = [], {}, 0
    deadline = time.monotonic() + DEADLINE_S

    while (len(conns) < count or pending) and time.monotonic() < deadline:
        while len(conns) < count and len(pending) < CONNECT_BATCH:
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            s.setblocking(False)
            conns.append(s)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                sel.unregister(s)
                del pending[s]
                continue
            pending[s] += data
            if response_complete(pending[s]):
                sel.unregister(s)
                del pending[s]
                done += 1
    print("ready %d" % done, flush=True)
    try:
        sys.stdin.read()   # hold the connections until the caller is done
    except KeyboardInterrupt:
        pass
    for s in conns:
        s.close()
    os._exit(0)


if __name__ == "__main__":
    main()
