#!/usr/bin/python3
"""Replays libdns/rfc2136's pattern (what Caddy's caddy-dns/rfc2136 sends)
against a server, with dnspython:

  1. SetRecords: one UPDATE over TCP, TSIG-signed, deleting the TXT RRset at
     NAME and adding VALUE (delete RRset + add);
  2. GetRecords: a TSIG-signed AXFR of the zone over TCP, which must hold
     NAME TXT VALUE (so the key needs allow_transfer = ["key:NAME"]);
  3. DeleteRecords: one UPDATE over TCP deleting that one TXT value
     (class NONE);
  4. GetRecords again: NAME TXT VALUE is gone.

Every response must be NOERROR and carry a TSIG that dnspython verified.
Prints one line per step; exit 1 on the first failure.

Usage: acme_libdns.py --port P --zone Z --key-name K --algorithm hmac-sha256
                      --secret B64 --name FQDN --value TOKEN
"""

import argparse
import sys

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.zone

TIMEOUT = 5


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--key-name", required=True)
    p.add_argument("--algorithm", default="hmac-sha256")
    p.add_argument("--secret", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--value", required=True)
    a = p.parse_args()

    keyring = dns.tsigkeyring.from_text({a.key_name: a.secret})
    alg = dns.name.from_text(a.algorithm)
    zone = dns.name.from_text(a.zone)
    name = dns.name.from_text(a.name)

    def update(build, what):
        u = dns.update.UpdateMessage(zone, keyring=keyring, keyname=a.key_name, keyalgorithm=alg)
        build(u)
        r = dns.query.tcp(u, a.server, timeout=TIMEOUT, port=a.port)
        rcode = dns.rcode.to_text(r.rcode())
        signed = r.had_tsig
        print(f"{what}: {rcode}, signed response: {signed}")
        if r.rcode() != dns.rcode.NOERROR or not signed:
            sys.exit(1)

    def txt_values():
        q = dns.message.make_query(zone, dns.rdatatype.AXFR)
        q.use_tsig(keyring, keyname=a.key_name, algorithm=alg)
        values = []
        records = 0
        # dns.query.xfr verifies the TSIG of every message of the transfer.
        for msg in dns.query.xfr(
            a.server, zone, port=a.port, timeout=TIMEOUT, keyring=keyring,
            keyname=a.key_name, keyalgorithm=alg, lifetime=TIMEOUT * 2, relativize=False,
        ):
            if msg.rcode() != dns.rcode.NOERROR:
                print(f"AXFR: {dns.rcode.to_text(msg.rcode())}")
                sys.exit(1)
            for rrset in msg.answer:
                records += len(rrset)
                if rrset.name == name and rrset.rdtype == dns.rdatatype.TXT:
                    values += [b"".join(r.strings).decode() for r in rrset]
        return values, records

    update(
        lambda u: (u.delete(name, dns.rdatatype.TXT), u.add(name, 60, dns.rdatatype.TXT, f'"{a.value}"')),
        "SetRecords (TCP UPDATE: delete RRset + add)",
    )
    values, records = txt_values()
    print(f"GetRecords (signed AXFR, {records} records): {name} TXT {values}")
    if values != [a.value]:
        sys.exit(1)
    update(
        lambda u: u.delete(name, dns.rdatatype.TXT, f'"{a.value}"'),
        "DeleteRecords (TCP UPDATE: delete one TXT)",
    )
    values, records = txt_values()
    print(f"GetRecords (signed AXFR, {records} records): {name} TXT {values}")
    if values:
        sys.exit(1)


if __name__ == "__main__":
    main()
