#!/usr/bin/python3
"""Writes frames.txt: one frame per line, "name hex", built by scapy as Linux would send them.
Regenerate with: /usr/bin/python3 gen_frames.py > frames.txt (Debian's python3-scapy)."""
from scapy.all import ARP, ICMP, IP, TCP, Ether, Raw

A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"
eth = Ether(src=A, dst=B)
frames = {
    "arp_request": Ether(src=A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=A, psrc="10.0.0.1", pdst="10.0.0.2"),
    "arp_reply": eth / ARP(op=2, hwsrc=A, psrc="10.0.0.1", hwdst=B, pdst="10.0.0.2"),
    "icmp_echo_request": eth / IP(src="10.0.0.1", dst="10.0.0.2", id=7) / ICMP(type=8, id=0x1234, seq=9) / Raw(b"ping-payload-0123456789"),
    "ipv4_with_options": eth / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x94\x04\x00\x00") / ICMP(type=8, id=1, seq=1),
    "ipv4_fragment": eth / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", id=99) / Raw(b"A" * 32),
    "tcp_syn_linux": eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="S", seq=123456789, window=64240,
        options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1111, 0)), ("NOP", None), ("WScale", 7)]),
    "tcp_ack_sack_ts": eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="A", seq=1000, ack=2000, window=501,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (2222, 3333)), ("NOP", None), ("NOP", None), ("SAck", (3000, 4000, 5000, 6000))]),
    "tcp_unknown_option": eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="A", seq=1, ack=1,
        options=[(253, b"\x01\x02"), ("NOP", None), ("NOP", None), ("MSS", 1400)]),
    "tcp_data": eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="PA", seq=77, ack=88) / Raw(b"GET / HTTP/1.1\r\n\r\n"),
}
for name, pkt in frames.items():
    print(name, bytes(pkt).hex())
