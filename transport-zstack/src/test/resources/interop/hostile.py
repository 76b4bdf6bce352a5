#!/usr/bin/python3
"""Hostile input against a live ZStack connection (runs in the test's namespace, on the tap's kernel side).

  hostile.py IFACE STACK_MAC LOCAL_IP STACK_IP PORT

Opens a connection by hand (the kernel's RSTs for it are dropped by the test), then sends malformed, truncated,
bad-checksum, wrong-length, fragmented, random-flag and out-of-window frames at it, and finally valid data: prints
"echo <bytes>" with what the stack echoed back, and "sent <n>" with the number of hostile frames.
"""
import sys

from scapy.all import IP, TCP, Ether, Raw, conf, get_if_hwaddr, sendp, sniff, srp1

conf.verb = 0
iface, stack_mac, local_ip, stack_ip, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
eth = Ether(src=get_if_hwaddr(iface), dst=stack_mac)
sport = 45678

synack = srp1(eth / IP(src=local_ip, dst=stack_ip) / TCP(sport=sport, dport=port, flags="S", seq=1000,
                                                           options=[("MSS", 1460)]), iface=iface, timeout=3)
if synack is None or (synack[TCP].flags & 0x12) != 0x12:
    print("no SYN-ACK")
    sys.exit(1)
ack = synack[TCP].seq + 1
seq = 1001


def seg(flags="A", s=None, a=None, payload=b"", ip_kw=None, tcp_kw=None):
    return (eth / IP(src=local_ip, dst=stack_ip, **(ip_kw or {}))
            / TCP(sport=sport, dport=port, flags=flags, seq=seq if s is None else s, ack=ack if a is None else a,
                  window=65535, **(tcp_kw or {})) / Raw(payload))


sendp(seg(), iface=iface)  # completes the handshake

good = bytes(seg("PA", payload=b"hello"))
hostile = []
hostile.append(good[:24])                                    # IPv4 header cut short
b = bytearray(good); b[14] = 0x65; hostile.append(bytes(b))  # version 6 in an IPv4 frame
b = bytearray(good); b[14] = 0x43; hostile.append(bytes(b))  # IHL 3
b = bytearray(good); b[14] = 0x4f; hostile.append(bytes(b))  # IHL 15: header runs past the packet
hostile.append(bytes(seg("PA", payload=b"x" * 20, ip_kw={"len": 1400})))       # total length beyond the frame
hostile.append(bytes(seg("PA", payload=b"x" * 20, ip_kw={"len": 30})))         # leaves TCP 10 bytes: too short
hostile.append(bytes(seg("PA", payload=b"bad ip sum", ip_kw={"chksum": 0x1234})))
hostile.append(bytes(seg("PA", payload=b"bad tcp sum", tcp_kw={"chksum": 0x1234})))
hostile.append(bytes(seg("PA", payload=b"tiny offset", tcp_kw={"dataofs": 3})))
hostile.append(bytes(seg("PA", payload=b"", tcp_kw={"dataofs": 15})))          # header past the segment
hostile.append(bytes(seg("PA", payload=b"frag", ip_kw={"flags": "MF"})))        # a fragment
hostile.append(bytes(seg("PA", payload=b"frag2", ip_kw={"frag": 100})))
hostile.append(bytes(seg("PA", payload=b"opt", tcp_kw={"options": [(2, b"")]})))               # MSS option, length 2
hostile.append(bytes(seg("PA", payload=b"opt", tcp_kw={"options": [(8, b"\x00\x00")]})))       # timestamp, length 4
hostile.append(bytes(seg("PA", payload=b"opt", tcp_kw={"options": [(5, b"\x00\x00\x00")]})))   # SACK, length 5
hostile.append(bytes(seg("PA", s=seq + 10_000_000, payload=b"out of window")))
hostile.append(bytes(seg("A", a=ack + 1_000_000)))                                  # acknowledges unsent data
hostile.append(bytes(seg("R", s=seq + 50_000)))                                     # in-window RST, not exact
hostile.append(bytes(seg("R", s=seq + 2_000_000_000)))                              # RST far out of window
hostile.append(bytes(seg("S", s=seq + 10)))                                         # SYN on the connection
hostile.append(bytes(seg("SF", s=seq + 3_000_000)))                                # SYN+FIN out of window
hostile.append(bytes(seg("", payload=b"no flags")))                                 # no ACK
hostile.append(bytes(seg("UP", payload=b"urgent, no ack")))
hostile.append(bytes(seg("AEC")))                                                   # ECE+CWR+ACK
for frame in hostile:
    sendp(frame, iface=iface)

sendp(seg("PA", payload=b"still alive"), iface=iface)
replies = sniff(iface=iface, timeout=3, count=1,
                lfilter=lambda p: TCP in p and p[TCP].sport == port and Raw in p)
print("echo %r" % (bytes(replies[0][Raw]) if replies else None), flush=True)
print("sent %d" % len(hostile), flush=True)
