#!/usr/bin/python3
"""Paced UPDATE latency probe (used by scripts/bench-hotadd.sh).

Every INTERVAL seconds, one TSIG-signed RFC 2136 UPDATE adding a TXT record
(a new value each time) at _acme-challenge.ZONE goes over UDP to
127.0.0.1:PORT; the probe waits for its answer (at most TIMEOUT seconds)
before the next is due, so a stalled server delays the next probe instead
of queueing more. Runs for DURATION seconds.

Prints one line per UPDATE, flushed: "t=<s since start> ms=<latency>
rcode=<NOERROR|...|TIMEOUT>"; then one JSON line: count, errors, p50_ms,
p99_ms, max_ms, max_at_s (when the slowest was sent), over_1s (how many
took more than a second or timed out).

Needs dnspython (Debian: python3-dnspython); run with /usr/bin/python3.
"""

import argparse
import json
import sys
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--key-name", default="acme-key")
    p.add_argument("--secret", required=True, help="base64 hmac-sha256 secret")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()
    keyring = dns.tsigkeyring.from_text({a.key_name: a.secret})
    start = time.monotonic()
    lat = []  # (sent at, ms, rcode)
    i = 0
    while time.monotonic() - start < a.duration:
        due = start + i * a.interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        msg = dns.update.UpdateMessage(a.zone, keyring=keyring,
                                       keyalgorithm="hmac-sha256")
        msg.add("_acme-challenge", 60, "TXT", '"probe-%d-%d"' % (int(time.time()), i))
        sent = time.monotonic()
        try:
            r = dns.query.udp(msg, "127.0.0.1", port=a.port, timeout=a.timeout)
            rcode = dns.rcode.to_text(r.rcode())
        except dns.exception.Timeout:
            rcode = "TIMEOUT"
        except (OSError, dns.exception.DNSException) as e:
            rcode = "ERROR:" + type(e).__name__
        ms = (time.monotonic() - sent) * 1000
        lat.append((sent - start, ms, rcode))
        print("t=%.2f ms=%.1f rcode=%s" % (sent - start, ms, rcode), flush=True)
        i += 1
        # A late answer pushes the schedule: the next is due now at the earliest.
        if time.monotonic() > start + i * a.interval:
            i = int((time.monotonic() - start) / a.interval) + 1
    ok = sorted(ms for _, ms, rc in lat if rc == "NOERROR")
    worst = max(lat, key=lambda x: x[1]) if lat else (0, 0, "")

    def pct(q):
        return round(ok[min(len(ok) - 1, int(q * len(ok)))], 1) if ok else None

    print(json.dumps({
        "count": len(lat),
        "errors": sum(1 for _, _, rc in lat if rc != "NOERROR"),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": round(worst[1], 1),
        "max_at_s": round(worst[0], 2),
        "over_1s": sum(1 for _, ms, rc in lat if ms > 1000 or rc != "NOERROR"),
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
