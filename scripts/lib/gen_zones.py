#!/usr/bin/env python3
"""Writes N small zones (24 records each) and a zonewright config for them.

Usage: gen_zones.py DIR N PORT

DIR/zones/zNNNNN.bench.zone for N zones (24 records: SOA, 2 NS, 21 more),
DIR/zonewright.toml serving them on 127.0.0.1:PORT with one TSIG key
(bench-key, hmac-sha256) granted TXT at _acme-challenge.** in every zone,
and DIR/names.txt: one query line per zone for dnsperf (www.<zone> A).
The serial is fixed (2026120101) so runs are repeatable.
"""
import base64
import os
import sys

SECRET = base64.b64encode(b"zonewright bench key, not secret").decode()


def zone_text(origin: str) -> str:
    lines = [
        f"$ORIGIN {origin}.",
        "$TTL 3600",
        f"@ IN SOA ns1.{origin}. hostmaster.{origin}. 2026120101 3600 900 604800 300",
        f"@ IN NS ns1.{origin}.",
        f"@ IN NS ns2.{origin}.",
        "ns1 IN A 192.0.2.1",
        "ns2 IN A 192.0.2.2",
        "@ IN A 192.0.2.10",
        "www IN A 192.0.2.11",
        "@ IN MX 10 mail",
        "mail IN A 192.0.2.12",
        '@ IN TXT "v=spf1 mx -all"',
    ]
    for i in range(14):
        lines.append(f"h{i} IN A 198.51.100.{i + 1}")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, count, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    zones = os.path.join(out, "zones")
    os.makedirs(zones, exist_ok=True)
    origins = [f"z{i:05d}.bench" for i in range(count)]
    for o in origins:
        with open(os.path.join(zones, f"{o}.zone"), "w") as f:
            f.write(zone_text(o))
    with open(os.path.join(out, "names.txt"), "w") as f:
        for o in origins:
            f.write(f"www.{o} A\n")
    grants = ",\n".join(
        f'  {{ zone = "{o}", names = ["_acme-challenge.**"], types = ["TXT"] }}' for o in origins
    )
    with open(os.path.join(out, "zonewright.toml"), "w") as f:
        f.write(
            f'listen = ["127.0.0.1:{port}"]\nzones_dir = "zones"\n\n'
            f'[[key]]\nname = "bench-key"\nalgorithm = "hmac-sha256"\n'
            f'secret = "{SECRET}"\nrate_limit = "off"\ngrant = [\n{grants}\n]\n'
        )


if __name__ == "__main__":
    main()
