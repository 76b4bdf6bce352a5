#!/usr/bin/env python3
"""The kernel's TCP as sender with a chosen congestion control, for bench/loss.py: answers GET /size/N with the first N
bytes of a pattern file (sendfile, so the application costs next to nothing), one connection at a time.

A network namespace other than the initial one may only make the host's allowed congestion controls its default
(net.ipv4.tcp_allowed_congestion_control), but a privileged socket may pick any available one with TCP_CONGESTION;
accepted connections inherit the listener's. Usage: loss-sender.py ADDRESS PORT CONGESTION PATTERN_FILE"""
import os
import socket
import sys


def serve(address, port, congestion, pattern):
    size = os.path.getsize(pattern)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion.encode())
    listener.bind((address, port))
    listener.listen(16)
    print(f"serving {size} bytes on {address}:{port} with {congestion}", flush=True)
    with open(pattern, "rb") as f:
        while True:
            c, _ = listener.accept()
            try:
                answer(c, f, size)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went (loss.py's readiness probe gives up after 2 s, which 5 % loss can take)
            finally:
                c.close()


def answer(c, f, size):
    """Reads one request and sends GET /size/N's N bytes of the pattern (sendfile), or a 404."""
    request = b""
    while b"\r\n\r\n" not in request:
        data = c.recv(4096)
        if not data:
            break
        request += data
    words = request.split(b" ")
    try:
        n = int(words[1].rsplit(b"/", 1)[1]) if len(words) > 1 and words[1].startswith(b"/size/") else -1
    except ValueError:
        n = -1
    if not 0 <= n <= size:
        c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
    sent = 0
    while sent < n:
        sent += os.sendfile(c.fileno(), f.fileno(), sent, n - sent)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
