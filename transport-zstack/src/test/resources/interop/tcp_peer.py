#!/usr/bin/python3
"""Kernel-side TCP peer for ZStack's interop tests (runs inside the test's network namespace).

  tcp_peer.py client HOST PORT BYTES SEED   connect, send BYTES of a seeded stream while reading the echo,
                                            print "sent <sha256> received <sha256> <bytes>"
  tcp_peer.py echo-server HOST PORT         accept one connection, echo everything until EOF, print the byte count
  tcp_peer.py paced HOST PORT COUNT SIZE GAP  connect, send COUNT writes of SIZE bytes GAP seconds apart (the
                                            connection idle between them), shut down, print "paced <bytes>"
  tcp_peer.py echo-many HOST PORT N         accept N connections, echo each on its own thread until EOF, then
                                            print "echoed <connections> <bytes>"
"""
import hashlib
import random
import socket
import sys
import threading
import time


def client(host, port, total, seed):
    rng = random.Random(seed)
    sock = socket.create_connection((host, port), timeout=60)
    sock.settimeout(120)
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()
    received = [0]

    def reader():
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            recv_hash.update(data)
            received[0] += len(data)

    t = threading.Thread(target=reader)
    t.start()
    left = total
    while left > 0:
        n = min(left, 64 * 1024)
        chunk = rng.randbytes(n)
        sent_hash.update(chunk)
        sock.sendall(chunk)
        left -= n
    sock.shutdown(socket.SHUT_WR)
    t.join(180)
    sock.close()
    print("sent %s received %s %d" % (sent_hash.hexdigest(), recv_hash.hexdigest(), received[0]), flush=True)


def echo_server(host, port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    print("listening", flush=True)
    srv.settimeout(60)
    conn, _ = srv.accept()
    print("echoed %d" % echo_connection(conn, 120), flush=True)


def echo_connection(conn, timeout):
    """Echoes what the connection sends until its end, then ends ours; returns the bytes echoed."""
    conn.settimeout(timeout)
    total = 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        conn.sendall(data)
        total += len(data)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
    return total


def echo_many(host, port, count):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(count)
    print("listening", flush=True)
    srv.settimeout(60)
    totals = []
    threads = []

    def echo(conn):
        totals.append(echo_connection(conn, 60))

    for _ in range(count):
        conn, _ = srv.accept()
        t = threading.Thread(target=echo, args=(conn,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(120)
    print("echoed %d %d" % (len(totals), sum(totals)), flush=True)


def paced(host, port, count, size, gap):
    sock = socket.create_connection((host, port), timeout=60)
    for _ in range(count):
        sock.sendall(b"z" * size)
        time.sleep(gap)
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(1 << 16):
        pass
    sock.close()
    print("paced %d" % (count * size), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "echo-many":
        echo_many(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "paced":
        paced(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    elif sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        echo_server(sys.argv[2], int(sys.argv[3]))
