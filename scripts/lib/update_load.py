#!/usr/bin/python3
"""TSIG-signed RFC 2136 UPDATE load generator (used by scripts/bench-update.sh).

N worker threads each repeat one operation: UPDATE adding a TXT record at a
unique name, then UPDATE deleting that record (2 UPDATEs per operation).
Every UPDATE goes over UDP to 127.0.0.1:PORT, is signed with TSIG, and waits
for its answer (timeout per UPDATE); the answer must be NOERROR and its TSIG
must verify (dnspython checks it against the request MAC). Each worker stops
after DURATION seconds or COUNT operations, whichever comes first.

Prints one JSON line: updates (answered NOERROR), errors, rcodes, elapsed,
updates_per_s, p50_ms, p99_ms (over NOERROR updates), first_error.
Exit status: 0, or 1 with --check if any UPDATE failed.

Needs dnspython (Debian: python3-dnspython); run with /usr/bin/python3.
"""

import argparse
import json
import os
import random
import socket
import sys
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--zone", default="bench.test.")
    p.add_argument("--key-name", default="acme-key")
    p.add_argument("--secret", required=True, help="base64 TSIG secret")
    p.add_argument("--algorithm", default="hmac-sha256", choices=sorted(ALGORITHMS))
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--duration", type=float, default=None, help="seconds per worker")
    p.add_argument("--count", type=int, default=None, help="operations per worker")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per UPDATE")
    p.add_argument("--prefix", default=None,
                   help="label prefix for the record names (default: unique per run)")
    p.add_argument("--zones", type=int, default=None,
                   help="spread the operations over N zones named like scripts/lib/gen_zones.py's "
                        "(z00000.bench. ...), each to a random one, at _acme-challenge.<label>")
    p.add_argument("--check", action="store_true", help="exit 1 if any UPDATE failed")
    a = p.parse_args()
    if a.duration is None and a.count is None:
        p.error("give --duration and/or --count")
    if a.workers < 1 or a.workers > 256:
        p.error("--workers: 1..256")
    if a.duration is not None and not 0 < a.duration <= 3600:
        p.error("--duration: (0, 3600] seconds")
    if a.zones is not None and not 1 <= a.zones <= 1_000_000:
        p.error("--zones: 1..1000000")
    if a.count is not None and a.count < 1:
        p.error("--count: at least 1")
    if a.duration is None:
        a.duration = 3600.0          # a bound on every run, even with --count
    if a.prefix is None:
        a.prefix = "u%x%x" % (os.getpid(), int(time.time() * 1000) & 0xFFFFFF)
    return a


class Worker(threading.Thread):
    def __init__(self, args, index, keyring, deadline):
        super().__init__(daemon=True)
        self.a = args
        self.index = index
        self.keyring = keyring
        self.deadline = deadline
        self.latencies = []           # seconds, NOERROR updates only
        self.errors = 0
        self.rcodes = {}
        self.first_error = None

    def error(self, what):
        self.errors += 1
        if self.first_error is None:
            self.first_error = what

    def send(self, sock, msg):
        t0 = time.perf_counter()
        try:
            r = dns.query.udp(msg, self.a.server, port=self.a.port,
                              timeout=self.a.timeout, sock=sock,
                              ignore_unexpected=True)
        except dns.exception.Timeout:
            self.error("timeout after %.1fs" % self.a.timeout)
            return
        except Exception as e:        # bad TSIG on the answer, FORMERR parse, ...
            self.error("%s: %s" % (type(e).__name__, e))
            return
        dt = time.perf_counter() - t0
        name = dns.rcode.to_text(r.rcode())
        self.rcodes[name] = self.rcodes.get(name, 0) + 1
        if r.rcode() != dns.rcode.NOERROR:
            self.error("rcode %s" % name)
        elif r.had_tsig is False:
            self.error("NOERROR answer without TSIG")
        else:
            self.latencies.append(dt)

    def update(self, zone):
        return dns.update.UpdateMessage(zone, keyring=self.keyring,
                                        keyname=self.a.key_name,
                                        keyalgorithm=ALGORITHMS[self.a.algorithm])

    def run(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)       # dnspython waits with select on its own
        try:
            sock.bind((self.a.server, 0))
            i = 0
            rng = random.Random(self.index)
            while time.monotonic() < self.deadline and (self.a.count is None or i < self.a.count):
                owner = "%s-w%d-%d" % (self.a.prefix, self.index, i)
                zone = self.a.zone
                if self.a.zones is not None:
                    zone = "z%05d.bench." % rng.randrange(self.a.zones)
                    owner = "_acme-challenge." + owner
                value = '"bench %s %d"' % (self.a.prefix, i)
                add = self.update(zone)
                add.add(owner, 60, "TXT", value)
                self.send(sock, add)
                delete = self.update(zone)
                delete.delete(owner, "TXT", value)
                self.send(sock, delete)
                i += 1
        finally:
            sock.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def main():
    a = parse_args()
    keyring = dns.tsigkeyring.from_text({a.key_name: a.secret})
    start = time.monotonic()
    deadline = start + a.duration
    workers = [Worker(a, i, keyring, deadline) for i in range(a.workers)]
    for w in workers:
        w.start()
    # Each UPDATE is bounded by --timeout, so a worker ends at most
    # 2 * timeout after the deadline; give it a little more, then give up.
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()) + 2 * a.timeout + 5)
    elapsed = time.monotonic() - start
    stuck = sum(1 for w in workers if w.is_alive())

    lat = sorted(x for w in workers for x in w.latencies)
    errors = sum(w.errors for w in workers) + stuck
    rcodes = {}
    for w in workers:
        for k, v in w.rcodes.items():
            rcodes[k] = rcodes.get(k, 0) + v
    first = next((w.first_error for w in workers if w.first_error), None)
    if stuck and first is None:
        first = "%d worker(s) did not finish" % stuck
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    out = {
        "workers": a.workers,
        "updates": len(lat),
        "errors": errors,
        "rcodes": rcodes,
        "elapsed": round(elapsed, 3),
        "updates_per_s": round(len(lat) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(p50 * 1000, 3) if p50 is not None else None,
        "p99_ms": round(p99 * 1000, 3) if p99 is not None else None,
        "first_error": first,
        "prefix": a.prefix,
    }
    print(json.dumps(out), flush=True)
    status = 1 if a.check and errors else 0
    if stuck:                         # do not wait for stuck daemon threads
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    main()
