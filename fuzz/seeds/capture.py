#!/usr/bin/env python3
"""Captures the request seeds of fuzz/corpus/ from real clients: dig (a
query with EDNS, an AXFR request over TCP, an IXFR request) and ISC
nsupdate (an UPDATE signed with acme-key, hmac-sha256, the secret 0x01..0x20
that the tsig_verify target uses). Listens on 127.0.0.1 only; each capture
is bounded by the clients' own timeouts. Run from the repository root:

    python3 fuzz/seeds/capture.py

It writes fuzz/corpus/{request,tsig_verify,update_eval}/<name>.bin.
"""
import os
import socket
import subprocess
import threading

SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="


def capture_udp(run):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    port = s.getsockname()[1]
    got = []

    def recv():
        try:
            got.append(s.recvfrom(65535)[0])
        except socket.timeout:
            pass

    t = threading.Thread(target=recv)
    t.start()
    run(port)
    t.join()
    s.close()
    return got[0]


def capture_tcp(run):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.settimeout(10)
    port = s.getsockname()[1]
    got = []

    def recv():
        try:
            c, _ = s.accept()
            c.settimeout(10)
            n = int.from_bytes(c.recv(2, socket.MSG_WAITALL), "big")
            got.append(c.recv(n, socket.MSG_WAITALL))
            c.close()
        except socket.timeout:
            pass

    t = threading.Thread(target=recv)
    t.start()
    run(port)
    t.join()
    s.close()
    return got[0]


def dig(*args):
    return lambda port: subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=1", *args],
        capture_output=True, timeout=15)


def nsupdate(script):
    def run(port):
        subprocess.run(
            ["nsupdate", "-y", f"hmac-sha256:acme-key:{SECRET}", "-t", "2", "-u", "1", "-r", "0"],
            input=f"server 127.0.0.1 {port}\n{script}send\n", text=True,
            capture_output=True, timeout=15)
    return run


seeds = {
    "query": capture_udp(dig("www.example.com", "A", "+edns=0", "+bufsize=1232")),
    "axfr": capture_tcp(dig("example.com", "AXFR")),
    "ixfr": capture_udp(dig("example.com", "IXFR=2024010101", "+notcp")),
    "update-signed": capture_udp(nsupdate(
        "zone example.com\n"
        "prereq nxrrset _acme-challenge.example.com. TXT\n"
        "update add _acme-challenge.example.com. 60 TXT \"token-1\"\n")),
    "update-delete-signed": capture_udp(nsupdate(
        "zone example.com\n"
        "update delete _acme-challenge.example.com. TXT \"token-1\"\n"
        "update delete www.example.com. AAAA\n"
        "update add www.example.com. 300 A 192.0.2.9\n")),
}
for target, names in {
    "request": seeds,
    "tsig_verify": ["update-signed", "update-delete-signed", "query"],
    "update_eval": ["update-signed", "update-delete-signed"],
}.items():
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name in names:
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(seeds[name])
        print(target, name, len(seeds[name]))
