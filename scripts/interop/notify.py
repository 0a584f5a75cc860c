#!/usr/bin/python3
"""Send one TSIG-signed NOTIFY (RFC 1996) for a zone to each target, as a
primary would, and print each answer's rcode ("port rcode", or "port
timeout"/"port error: ..."). Exit status 1 unless every target answered
NOERROR with a valid signature.

Used by scripts/interop-secondaries.sh --self-notify to check that the
secondaries accept NOTIFY signed with the transfer key before zonewright
sends NOTIFY itself.

Usage: notify.py --zone Z --key-name K --secret B64 [--serial N] PORT...
"""
import argparse
import sys

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zone", required=True)
    ap.add_argument("--key-name", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("ports", nargs="+", type=int)
    a = ap.parse_args()
    keyring = dns.tsigkeyring.from_text({a.key_name: a.secret})
    ok = True
    for port in a.ports:
        m = dns.message.make_query(a.zone, dns.rdatatype.SOA, dns.rdataclass.IN)
        # The opcode lives in m.flags: set the bits, do not assign.
        m.flags &= ~dns.flags.RD
        m.flags |= dns.flags.AA
        m.set_opcode(dns.opcode.NOTIFY)
        m.use_tsig(keyring, keyname=a.key_name, algorithm=dns.tsig.HMAC_SHA256)
        try:
            r = dns.query.udp(m, a.host, port=port, timeout=a.timeout)
        except dns.exception.Timeout:
            print(f"{port} timeout")
            ok = False
            continue
        except Exception as e:  # a bad signature, a socket error: report it
            print(f"{port} error: {e}")
            ok = False
            continue
        rc = dns.rcode.to_text(r.rcode())
        print(f"{port} {rc}")
        ok = ok and r.rcode() == dns.rcode.NOERROR
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
