#!/usr/bin/env python3
"""The zone data of scripts/interop-octodns.sh, and its checks.

Run with the venv's python (dnspython and PyYAML come with octoDNS):

  zonedata.py zone                  the zone's name (example.test)
  zonedata.py initial FILE          the zone file zonewright starts with
  zonedata.py yaml STEP FILE        octoDNS's YAML source for step 1 or 2;
                                    step 4: step 2's and a PTR, a type the
                                    key's grant leaves out
  zonedata.py diff YAML AXFR        what octoDNS should plan, from the zone
                                    as transferred (dig AXFR output) to the
                                    YAML: prints "creates=C updates=U
                                    deletes=D added=A removed=R" (RRsets and
                                    RRs), then one line per differing RRset

The YAML is turned into records here, without octoDNS (its types A, AAAA,
CNAME, MX, TXT, SRV, CAA, NS only), so that the served zone is compared with
what the YAML says, not with what octoDNS made of it. The served zone is
parsed from dig's output with dnspython; RDATA on both sides goes through
dnspython's canonical text form. SOA and TSIG are left out, as octoDNS
leaves them out (the SOA is zonewright's).
"""

import sys

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import yaml

# --- the data ----------------------------------------------------------------

ZONE = "example.test"

# Apex NS: the same in the initial zone and in both steps. octoDNS manages
# root NS (Rfc2136Provider: SUPPORTS_ROOT_NS) but refuses to change it without
# --force (RootNsChange), and its "replace" (delete RRset + add) cannot remove
# an apex NS: RFC 2136 3.4.2.3 ignores deleting the apex NS RRset.
APEX_NS = ["ns1", "ns2"]


def records(step):
    """{name: [record dict, ...]} of octoDNS YAML for step 1 or 2."""
    z = {}

    def put(name, rtype, ttl, values):
        rec = {"type": rtype, "ttl": ttl}
        if rtype == "CNAME":
            rec["value"] = values
        else:
            rec["values"] = list(values)
        z.setdefault(name, []).append(rec)

    def drop(name, rtype=None):
        z[name] = [r for r in z.get(name, []) if rtype and r["type"] != rtype]
        if not z[name]:
            del z[name]

    def mx(pref, host):
        return {"preference": pref, "exchange": host}

    def srv(prio, weight, port, target):
        return {"priority": prio, "weight": weight, "port": port, "target": target}

    def caa(tag, value, flags=0):
        return {"flags": flags, "tag": tag, "value": value}

    ttls = [300, 600, 3600, 86400]
    # Apex.
    put("", "NS", 3600, [f"{n}.example.test." for n in APEX_NS])
    put("", "MX", 3600, [mx(10, "mx1.example.test."), mx(20, "mx2.example.test.")])
    put("", "TXT", 3600, ["v=spf1 ip4:192.0.2.0/24 -all", "site-verification=abc123"])
    put("", "CAA", 3600, [caa("issue", "letsencrypt.org"), caa("issuewild", "pki.goog"),
                          caa("iodef", "mailto:security@example.test")])
    put("ns1", "A", 3600, ["192.0.2.1"])
    put("ns2", "A", 3600, ["192.0.2.2"])
    for i in (1, 2):
        put(f"mx{i}", "A", 600, [f"192.0.2.{24 + i}"])
        put(f"mx{i}", "AAAA", 600, [f"2001:db8::25:{i}"])
    # 80 hosts: A (every third with two addresses), every second AAAA too.
    for i in range(1, 81):
        addrs = [f"198.51.100.{i}"] + ([f"203.0.113.{i}"] if i % 3 == 0 else [])
        put(f"host{i:03d}", "A", ttls[i % 3], addrs)
        if i % 2 == 0:
            put(f"host{i:03d}", "AAAA", ttls[i % 3], [f"2001:db8:1::{i:x}"])
    # 30 aliases: into the zone, a few out of it.
    for i in range(1, 31):
        target = f"host{i:03d}.example.test." if i % 10 else f"www{i}.example.org."
        put(f"alias{i:02d}", "CNAME", 300, target)
    # 20 TXT: spaces, semicolons (octoDNS escapes them as \;), several
    # values, one longer than 255 characters (two character-strings).
    for i in range(1, 21):
        vals = [f"txt record {i}"]
        if i % 4 == 0:
            vals.append(f"v=DKIM1\\; k=rsa\\; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GN{i}")
        if i % 7 == 0:
            vals.append(f"second value {i}")
        if i == 5:
            vals = ["long-" + "x" * 290 + "-end"]
        put(f"txt{i:02d}", "TXT", ttls[i % 4], vals)
    # 10 SRV, two targets each.
    for i in range(1, 11):
        put(f"_svc{i:02d}._tcp", "SRV", 600,
            [srv(10, 60, 5000 + i, f"host{i:03d}.example.test."),
             srv(20, 40, 5000 + i, f"host{i + 10:03d}.example.test.")])
    # 10 mail domains.
    for i in range(1, 11):
        put(f"m{i:02d}", "MX", 3600, [mx(10, "mx1.example.test."), mx(50, "mx2.example.test.")])
    # 5 CAA.
    for i in range(1, 6):
        put(f"caa{i}", "CAA", 3600, [caa("issue", f"ca{i}.example.net"),
                                      caa("issue", "letsencrypt.org", 128 if i == 3 else 0)])
    # Delegations: child1 with glue below it, child2 to out-of-zone servers.
    put("child1", "NS", 86400, ["ns-a.child1.example.test.", "ns-b.child1.example.test."])
    put("ns-a.child1", "A", 86400, ["192.0.2.101"])
    put("ns-b.child1", "A", 86400, ["192.0.2.102"])
    put("child2", "NS", 86400, ["ns1.example.net.", "ns2.example.net."])
    # A wildcard owner.
    put("*.wild", "A", 300, ["192.0.2.200"])
    put("*.wild", "TXT", 300, ["wildcard"])
    if step == 1:
        return z

    def change(name, rtype, ttl=None, values=None):
        for r in z[name]:
            if r["type"] == rtype:
                if ttl is not None:
                    r["ttl"] = ttl
                if values is not None:
                    if rtype == "CNAME":
                        r["value"] = values
                    else:
                        r["values"] = list(values)
                return
        raise KeyError((name, rtype))

    # Step 2. Adds: 12 hosts, 3 aliases, an SRV, a TXT, a delegation with glue.
    for i in range(1, 13):
        put(f"new{i:02d}", "A", 300, [f"192.0.2.{150 + i}"])
    for i in range(1, 4):
        put(f"newalias{i}", "CNAME", 600, f"new{i:02d}.example.test.")
    put("_new._udp", "SRV", 300, [srv(0, 0, 53, "new01.example.test.")])
    put("newtxt", "TXT", 300, ["added in step 2\\; with a semicolon"])
    put("child3", "NS", 3600, ["ns.child3.example.test."])
    put("ns.child3", "AAAA", 3600, ["2001:db8:3::53"])
    # Changed values (same TTL): 10 hosts' A, TXTs, an MX, an alias, an SRV,
    # a CAA, the apex MX and TXT, glue below a delegation.
    for i in range(1, 11):
        change(f"host{i:03d}", "A", values=[f"198.51.100.{200 + i}"])
    change("txt01", "TXT", values=["changed value 1"])
    change("txt04", "TXT", values=["txt record 4", "v=DKIM1\\; k=rsa\\; p=NEWKEY"])
    change("txt05", "TXT", values=["long-" + "y" * 300 + "-end"])
    change("m01", "MX", values=[mx(5, "mx2.example.test.")])
    change("alias01", "CNAME", values="host050.example.test.")
    change("_svc01._tcp", "SRV", values=[srv(10, 60, 6001, "host001.example.test.")])
    change("caa1", "CAA", values=[caa("issue", "ca1.example.net"), caa("issue", "sectigo.com")])
    change("", "MX", values=[mx(10, "mx1.example.test."), mx(30, "mx3.example.org.")])
    change("", "TXT", values=["v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"])
    change("ns-a.child1", "A", values=["192.0.2.111"])
    # TTLs only: 8 hosts (their AAAA too where they have one), a mail domain,
    # the wildcard.
    for i in range(20, 28):
        for r in z[f"host{i:03d}"]:
            r["ttl"] = 7200
    change("m02", "MX", ttl=60)
    change("*.wild", "A", ttl=120)
    # Value and TTL at once.
    change("host040", "A", ttl=60, values=["198.51.100.240", "198.51.100.241"])
    # Type changes: an alias becomes an address, a host becomes an alias
    # (octoDNS sends the Delete before the Create in one UPDATE).
    drop("alias05")
    put("alias05", "A", 300, ["192.0.2.205"])
    drop("host031")
    put("host031", "CNAME", 300, "host032.example.test.")
    # Deletes: 11 hosts (A and AAAA), 6 aliases, 3 TXT, a delegation, an
    # SRV, one type of the wildcard, one of two values of an A.
    for i in range(70, 81):
        drop(f"host{i:03d}")
    for i in range(25, 31):
        drop(f"alias{i:02d}")
    for i in range(18, 21):
        drop(f"txt{i:02d}")
    drop("child2")
    drop("_svc10._tcp")
    drop("*.wild", "TXT")
    change("host030", "A", values=["198.51.100.30"])
    if step == 4:
        put("ptr", "PTR", 300, ["host001.example.test."])
    return z


def initial_zone(zone):
    """The zone file zonewright starts from: the apex NS and their addresses
    as in the YAML, one record the YAML changes (mx1 A) and one it lacks."""
    lines = [
        f"$ORIGIN {zone}.",
        "$TTL 3600",
        f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 1209600 60",
    ]
    lines += [f"@ IN NS {n}" for n in APEX_NS]
    lines += [
        "ns1 IN A 192.0.2.1",
        "ns2 IN A 192.0.2.2",
        "mx1 60 IN A 192.0.2.99",
        'legacy 300 IN TXT "not in the YAML: octoDNS deletes it"',
    ]
    return "\n".join(lines) + "\n"


# --- YAML to records, without octoDNS ----------------------------------------


def txt_rdata(value):
    """One octoDNS TXT value as presentation RDATA: \\; unescaped, split
    into 255-octet character-strings as octoDNS sends it."""
    raw = value.replace("\\;", ";").encode("ascii")
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    out = []
    for c in chunks:
        s = c.decode("ascii").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{s}"')
    return " ".join(out)


def value_rdata(rtype, v):
    if rtype in ("A", "AAAA", "CNAME", "NS", "PTR"):
        return str(v)
    if rtype == "MX":
        return f"{v['preference']} {v['exchange']}"
    if rtype == "SRV":
        return f"{v['priority']} {v['weight']} {v['port']} {v['target']}"
    if rtype == "CAA":
        return f"{v.get('flags', 0)} {v['tag']} \"{v['value']}\""
    if rtype == "TXT":
        return txt_rdata(v)
    raise SystemExit(f"zonedata: type {rtype} not handled")


def canon(rtype, text):
    rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), text,
                             origin=dns.name.root)
    return rd.to_text()


def from_yaml(zone, path):
    """{(owner, type): (ttl, frozenset(rdata))} of an octoDNS YAML file."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    out = {}
    for name, recs in data.items():
        owner = f"{name}.{zone}." if name else f"{zone}."
        if isinstance(recs, dict):
            recs = [recs]
        for r in recs:
            rtype = r["type"]
            vals = r["values"] if "values" in r else [r["value"]]
            rdata = frozenset(canon(rtype, value_rdata(rtype, v)) for v in vals)
            out[(owner.lower(), rtype)] = (int(r.get("ttl", 3600)), rdata)
    return out


def from_axfr(path):
    """{(owner, type): (ttl, frozenset(rdata))} of dig's AXFR output, SOA and
    TSIG left out. Exits 1 if it is not one whole transfer (SOA first and
    last) or an RRset has two TTLs."""
    rrs, soas = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            parts = line.split(None, 4)
            if len(parts) < 4:
                raise SystemExit(f"zonedata: cannot parse AXFR line: {line}")
            if len(parts) == 4:
                parts.append("")
            owner, ttl, cls, rtype, rdata = parts
            if rtype == "TSIG":
                continue
            if rtype == "SOA":
                soas += 1
                continue
            if cls != "IN":
                raise SystemExit(f"zonedata: class {cls} in AXFR line: {line}")
            rrs.append((owner.lower(), int(ttl), rtype, canon(rtype, rdata)))
    if soas < 2:
        raise SystemExit(f"zonedata: {path}: {soas} SOA records, not a whole transfer")
    out, ttls = {}, {}
    for owner, ttl, rtype, rdata in rrs:
        key = (owner, rtype)
        ttls.setdefault(key, set()).add(ttl)
        old = out.get(key, (ttl, frozenset()))[1]
        out[key] = (ttl, old | {rdata})
    bad = [k for k, t in ttls.items() if len(t) > 1]
    if bad:
        raise SystemExit(f"zonedata: RRsets with several TTLs: {bad}")
    return out


def diff(zone, yaml_path, axfr_path):
    want = from_yaml(zone, yaml_path)
    have = from_axfr(axfr_path)
    creates = sorted(k for k in want if k not in have)
    deletes = sorted(k for k in have if k not in want)
    updates = sorted(k for k in want if k in have and want[k] != have[k])

    def rrs(d):
        return {(k, d[k][0], r) for k in d for r in d[k][1]}

    added = rrs(want) - rrs(have)
    removed = rrs(have) - rrs(want)
    print(f"creates={len(creates)} updates={len(updates)} deletes={len(deletes)} "
          f"added={len(added)} removed={len(removed)} rrsets={len(want)} "
          f"rrs={len(rrs(want))}")

    def show(d, k):
        ttl, rd = d[k]
        return f"{ttl} {k[1]} {' | '.join(sorted(rd))}"

    for k in creates:
        print(f"  missing  {k[0]} {show(want, k)}")
    for k in deletes:
        print(f"  extra    {k[0]} {show(have, k)}")
    for k in updates:
        print(f"  differs  {k[0]} served: {show(have, k)}; YAML: {show(want, k)}")


def main(argv):
    if len(argv) == 2 and argv[1] == "zone":
        print(ZONE)
    elif len(argv) == 3 and argv[1] == "initial":
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(initial_zone(ZONE))
    elif len(argv) == 4 and argv[1] == "yaml" and argv[2] in ("1", "2", "4"):
        with open(argv[3], "w", encoding="utf-8") as f:
            yaml.safe_dump(records(int(argv[2])), f, default_flow_style=False, sort_keys=True)
    elif len(argv) == 4 and argv[1] == "diff":
        diff(ZONE, argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
