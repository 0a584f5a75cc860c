#!/usr/bin/python3
"""Replay Kubernetes external-dns's rfc2136 provider, with its TXT registry,
against a running zonewright on 127.0.0.1, message for message.

external-dns (Go) cannot run here, so this file ports what one sync of it
does, from kubernetes-sigs/external-dns at commit 2bf1bf8a (2026-08-22;
last changes: provider/rfc2136/rfc2136.go and registry/mapper/mapper.go
eca6bf78, registry/txt/registry.go 6a1faae9, endpoint/labels.go 5dc3ada2,
plan/plan.go 541bdf36, controller/controller.go 5dd6e933). Each step
names the Go file and function it follows. The provider is configured as its RFC2136
tutorial (docs/tutorials/rfc2136.md) does, plus TXT as a managed type:

    external-dns --provider=rfc2136 --registry=txt --txt-owner-id=k8s
      --rfc2136-host=127.0.0.1 --rfc2136-port=P
      --rfc2136-zone=example.test --rfc2136-zone=k8s.test
      --rfc2136-tsig-keyname=externaldns-key --rfc2136-tsig-secret=...
      --rfc2136-tsig-secret-alg=hmac-sha256 --rfc2136-axfr --policy=sync
      --managed-record-types=A,AAAA,CNAME,TXT
    (defaults kept: --rfc2136-batch-change-size=50, --rfc2136-min-ttl=0,
     no --txt-prefix/--txt-suffix, no encryption, no --domain-filter, so a
     name outside both zones reaches the provider and goes to zone ".")

One sync (controller/controller.go Controller.RunOnce):
  1. registry.Records: provider.Records -> List(): one TSIG-signed AXFR per
     zone over TCP (miekg/dns Transfer.In), then the TXT registry reads the
     ownership TXTs (registry/txt/registry.go TXTRegistry.Records);
  2. plan.Calculate (plan/plan.go) with the desired endpoints (what the
     Kubernetes sources would give; here a seeded model, below);
  3. if Changes.HasChanges(): TXTRegistry.ApplyChanges adds the ownership
     TXTs, rfc2136Provider.ApplyChanges sends creates, then updates, then
     deletes, in chunks of 50 endpoints, one UPDATE per zone per chunk, no
     prerequisites, uncompressed, TSIG-signed, each over a new TCP
     connection (makeClient: Net "tcp"; miekg Client.Exchange), with
     miekg's 2 s dial/read/write timeouts.
Then, as the test (not the provider): a signed AXFR of each zone must equal
the expected zone exactly (RRs, TTLs; the SOA aside), and equal what an
RFC 2136 server does with the messages sent (a small simulator, which also
says how many of them change the zone, i.e. how many commits zonewright
must make); the zone files at git HEAD must hold exactly what is served
(SOA included).

Subcommands:
  seed --zones-dir DIR         write the two zone files (NS, 800 hand-written
                               hosts and 150 DKIM keys, so example.test's
                               AXFR takes 2 messages; 5 records owned
                               through old-format TXTs; 3 records owned by
                               another external-dns)
  wait --port P [--tries N]    until the server answers a SOA query
  sync PHASE --port P --key-name K --secret B64 --zones-dir DIR
       [--noop] [--again]      one sync; the desired state is PHASE's:
    migrate  the 5 old-format records only: the registry adds their
             new-format TXTs (force-update: delete + add of each)
    create   + 300 endpoints (A, 2 of them wildcards, AAAA, A+AAAA pairs,
             CNAME, TXT) and one name owned by the other external-dns
             (must stay untouched)
    stray    + 2 names outside every zone (sent with zone ".", RFC 2136
             §3.1.1: NOTAUTH) and 1 new name in k8s.test
    settled  the strays dropped (nothing to send)
    update   100 endpoints changed (targets, TTLs, targets + owner
             resource, in example.test only: k8s.test's ownership TXT
             updates are then delete + re-add of the same RRs, NOERROR
             and no change), each as delete of the old RRs + add of the new
    delete   100 endpoints removed (98 new-format, 2 old-format: their
             old TXT stays, as external-dns leaves it)
    mixed    10 creates, 10 updates, 10 deletes, A -> CNAME and CNAME -> A
             at one name each (the add is sent first and RFC 2136 §3.4.2.2
             ignores it; --again: the next sync adds it)
  --noop: the same desired state again: no UPDATE may be sent.
  Prints the messages and checks, then one line
  "RESULT phase=... messages=N noerror=N notauth=N other=N changing=N
   slow=N axfr=MS ms=MS failures=N"; exit status 1 on any failure.
"""
import argparse
import base64
import hashlib
import ipaddress
import os
import random
import socket
import struct
import subprocess
import sys
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
import dns.zone

# --- the provider's configuration (pkg/apis/externaldns/types.go defaults) --
ZONES = ["example.test", "k8s.test"]   # --rfc2136-zone (twice)
OWNER = "k8s"                          # --txt-owner-id
FOREIGN = "other-cluster"              # another external-dns's owner id
BATCH = 50                             # RFC2136BatchChangeSize: 50
MIN_TTL = 0                            # RFC2136MinTTL: 0
MANAGED = ["A", "AAAA", "CNAME", "TXT"]  # --managed-record-types
CLOCK_SKEW = 300                       # rfc2136.go const clockSkew (TSIG fudge)
MIEKG_TIMEOUT = 2.0                    # miekg/dns client.go dnsTimeout (dial, read, write)
HARD_TIMEOUT = 30.0                    # ours: how long we wait to report a slow answer
HOST = "127.0.0.1"
SEED = 2136

# endpoint/labels.go
HERITAGE = "external-dns"
OWNER_LABEL = "owner"
RESOURCE_LABEL = "resource"
ENCRYPTION_NONCE = "txt-encryption-nonce"
FORCE_UPDATE = "txt/force-update"      # registry/txt/registry.go providerSpecificForceUpdate
# registry/mapper/mapper.go supportedRecords (order matters in ToEndpointName)
SUPPORTED = ["A", "AAAA", "CNAME", "NS", "MX", "PTR", "SRV", "NAPTR", "TXT", "DNAME"]

failures = []


def fail(msg):
    failures.append(msg)
    print(f"   FAIL: {msg}", flush=True)


# --- endpoints (endpoint/endpoint.go) ------------------------------------------
class Endpoint:
    def __init__(self, dns_name, record_type, targets, ttl=0, labels=None):
        # NewEndpointWithTTL: trailing dots trimmed from the name, and from the
        # targets except TXT/NAPTR/SRV.
        self.dns_name = dns_name[:-1] if dns_name.endswith(".") else dns_name
        if record_type in ("TXT", "NAPTR", "SRV"):
            self.targets = list(targets)
        else:
            self.targets = [t[:-1] if t.endswith(".") else t for t in targets]
        self.record_type = record_type
        self.ttl = ttl                  # RecordTTL; 0 = not configured
        self.labels = dict(labels or {})
        self.provider_specific = {}
        self.set_identifier = ""

    def __repr__(self):
        return f"{self.dns_name} {self.ttl} {self.record_type} {' '.join(self.targets)}"

    def copy(self):
        e = Endpoint(self.dns_name, self.record_type, self.targets, self.ttl, self.labels)
        e.provider_specific = dict(self.provider_specific)
        return e


def parse_ip(s):
    try:
        return ipaddress.ip_address(s)
    except ValueError:
        return None


def targets_same(t, o):
    """endpoint.go Targets.Same, its early return on the first differing
    pair of IP addresses included."""
    if len(t) != len(o):
        return False
    t, o = sorted(t, key=target_sort_key), sorted(o, key=target_sort_key)
    for a, b in zip(t, o):
        if a.lower() != b.lower():
            ia, ib = parse_ip(a), parse_ip(b)
            if ia is not None and ib is not None:
                return ia == ib
            return False
    return True


def target_sort_key(s):
    # endpoint.go Targets.Less: IPs by their canonical string, else the string.
    ip = parse_ip(s)
    return str(ip) if ip is not None else s


def targets_less(t, o):
    """endpoint.go Targets.IsLess."""
    if len(t) != len(o):
        return len(t) < len(o)
    t, o = sorted(t, key=target_sort_key), sorted(o, key=target_sort_key)
    for a, b in zip(t, o):
        if a != b:
            ia, ib = parse_ip(a), parse_ip(b)
            if ia is not None and ib is not None and ia.version == ib.version:
                return ia < ib
            if ia is not None and ib is None:
                return True
            if ia is None and ib is not None:
                return False
            return a < b
    return False


def filter_by_owner(owner, eps):
    """endpoint.go FilterEndpointsByOwnerID."""
    return [e for e in eps if e.labels.get(OWNER_LABEL) == owner]


# --- labels (endpoint/labels.go) -------------------------------------------------
class InvalidHeritage(Exception):
    pass


def labels_from_string(text):
    """NewLabelsFromStringPlain (no AES key configured)."""
    text = text.strip('"')
    labels = {}
    found = False
    for token in text.split(","):
        if "=" not in token:
            continue
        key, val = token.split("=", 1)
        if key == "heritage" and val != HERITAGE:
            raise InvalidHeritage()
        if key == "heritage":
            found = True
            continue
        if key.startswith(HERITAGE):
            labels[key[len(HERITAGE) + 1:] if key.startswith(HERITAGE + "/") else key] = val
    if not found:
        raise InvalidHeritage()
    return labels


def serialize_labels(labels, with_quotes=True):
    """Labels.SerializePlain (Serialize without encryption)."""
    tokens = [f"heritage={HERITAGE}"]
    for k in sorted(labels):
        if k == ENCRYPTION_NONCE:
            continue
        tokens.append(f"{HERITAGE}/{k}={labels[k]}")
    s = ",".join(tokens)
    return f'"{s}"' if with_quotes else s


# --- the TXT name mapper (registry/mapper/mapper.go, no prefix or suffix) ------
def to_txt_name(name, record_type):
    """AffixNameMapper.ToTXTName: "<type>-" before the first label."""
    parts = name.split(".", 1)
    parts[0] = record_type.lower() + "-" + parts[0]
    return parts[0] if len(parts) < 2 else parts[0] + "." + parts[1]


def to_endpoint_name(txt_name):
    """AffixNameMapper.ToEndpointName -> dropAffixExtractType ->
    extractRecordTypeDefaultPosition: ("name", "TYPE"), or ("name", "") for
    an old-format TXT (no type prefix)."""
    name = txt_name.lower()
    first = name.split("-")[0]
    for t in SUPPORTED:
        if first == t.lower():
            return name[len(first) + 1:], t
    return name, ""


# --- the provider: Records (provider/rfc2136/rfc2136.go) ------------------------
def miekg_txt(b):
    """How miekg/dns keeps a TXT character-string (TXT.Txt): \\" \\\\ and
    \\DDD escapes, no quotes."""
    out = []
    for c in b:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif c < 0x20 or c > 0x7E:
            out.append("\\%03d" % c)
        else:
            out.append(chr(c))
    return "".join(out)


def provider_records(rrs):
    """rfc2136Provider.Records: every IN RR of the AXFRs, CNAME, DNAME, A,
    AAAA, TXT, NS, PTR kept, merged by (name, type) in AXFR order; the TTL
    of the first RR."""
    eps = []
    index = {}
    for name, ttl, rdclass, rdtype, rd in rrs:
        if rdclass != dns.rdataclass.IN:
            continue
        t = dns.rdatatype.to_text(rdtype)
        if t in ("CNAME", "DNAME", "NS", "PTR"):
            values = [rd.target.to_text()]
        elif t == "A":
            values = [rd.address]
        elif t == "AAAA":
            values = [ipaddress.IPv6Address(rd.address).compressed]
        elif t == "TXT":
            values = [miekg_txt(s) for s in rd.strings]
        else:
            continue
        fqdn = name.to_text()
        key = (fqdn[:-1] if fqdn.endswith(".") else fqdn, t)
        if key in index:
            # appended as read: only NewEndpointWithTTL trims trailing dots
            index[key].targets.extend(values)
            continue
        ep = Endpoint(fqdn, t, values, ttl)
        index[key] = ep
        eps.append(ep)
    return eps


# --- the TXT registry (registry/txt/registry.go) ---------------------------------
class TXTRegistry:
    def __init__(self, owner):
        self.owner = owner
        self.existing = set()   # existingTXTs: (dnsName, setIdentifier)

    def records(self, provider_eps):
        """TXTRegistry.Records."""
        self.existing = set()
        endpoints = []
        label_map = {}
        txt_set = set()
        for r in provider_eps:
            if r.record_type != "TXT":
                endpoints.append(r)
                continue
            if not r.targets:
                continue
            try:
                labels = labels_from_string(r.targets[0])
            except InvalidHeritage:
                endpoints.append(r)
                continue
            ep_name, rtype = to_endpoint_name(r.dns_name)
            label_map[(ep_name, rtype, r.set_identifier)] = labels
            txt_set.add(r.dns_name)
            self.existing.add((r.dns_name, r.set_identifier))
        for ep in endpoints:
            key = (ep.dns_name, ep.record_type, ep.set_identifier)
            labels = label_map.get(key)
            # "Handle both new and old registry format with the preference for
            # the new one" (no old format for AAAA).
            if labels is None and ep.record_type != "AAAA":
                labels = label_map.get((ep.dns_name, "", ep.set_identifier))
            if labels is not None:
                ep.labels.update(labels)
            # Migration of records owned through the old format: a missing
            # new-format TXT forces an update.
            if txt_set and ep.labels.get(OWNER_LABEL) == self.owner and ep.record_type in MANAGED:
                for t in self.generate_txt(ep):
                    if t.dns_name not in txt_set:
                        ep.provider_specific[FORCE_UPDATE] = "true"
        return endpoints

    def generate_txt(self, r):
        """generateTXTRecord: the new format only, "<type>-<name>", value
        Labels.Serialize(true, ...), no TTL (0: not configured)."""
        txt = Endpoint(to_txt_name(r.dns_name, r.record_type), "TXT", [serialize_labels(r.labels)])
        txt.provider_specific = dict(r.provider_specific)
        return [txt]

    def apply_changes(self, ch):
        """TXTRegistry.ApplyChanges: creates get the owner label and, unless
        one already exists at that name, their TXT; deletes and both sides of
        updates get theirs, appended after the endpoints (so update pairs
        stay aligned by index)."""
        create = list(ch["create"])
        update_new = filter_by_owner(self.owner, ch["update_new"])
        update_old = filter_by_owner(self.owner, ch["update_old"])
        delete = filter_by_owner(self.owner, ch["delete"])
        for r in list(create):
            r.labels[OWNER_LABEL] = self.owner
            create += [t for t in self.generate_txt(r) if (t.dns_name, t.set_identifier) not in self.existing]
        for r in list(delete):
            delete += self.generate_txt(r)
        for r in list(update_old):
            update_old += self.generate_txt(r)
        for r in list(update_new):
            update_new += self.generate_txt(r)
        return {"create": create, "update_old": update_old, "update_new": update_new, "delete": delete}


# --- the plan (plan/plan.go, plan/conflict.go PerResource) -----------------------
def plan_calculate(current, desired, owner, rng):
    """Plan.Calculate with the sync policy (plan/policy.go SyncPolicy: all
    changes pass). Go iterates its planTable map in random order: so do we
    (seeded)."""
    rows = {}

    def row_for(e):
        key = (e.dns_name.lower().rstrip(".") + ".", e.set_identifier)  # idna.NormalizeDNSName
        row = rows.setdefault(key, {"current": [], "candidates": [], "records": {}})
        row["records"].setdefault(e.record_type, {"current": None, "candidates": []})
        return row

    for e in current:                       # filterRecordsForPlan: managed types only
        if e.record_type in MANAGED:
            row = row_for(e)
            row["current"].append(e)
            row["records"][e.record_type]["current"] = e
    for e in desired:
        if e.record_type in MANAGED:
            row = row_for(e)
            row["candidates"].append(e)
            row["records"][e.record_type]["candidates"].append(e)

    def resolve_record_types(row):
        # PerResource.ResolveRecordTypes: a CNAME candidate beside others is dropped.
        cands = row["candidates"]
        if len(cands) <= 1:
            return row["records"]
        types = {c.record_type for c in cands}
        if "CNAME" not in types or types == {"CNAME"}:
            return row["records"]
        out = {}
        for t, recs in row["records"].items():
            out[t] = {"current": recs["current"], "candidates": []} if t == "CNAME" else recs
        return out

    def resolve_create(cands):
        best = cands[0]
        for c in cands[1:]:
            if targets_less(c.targets, best.targets):
                best = c
        return best

    def resolve_update(cur, cands):
        for c in cands:
            if c.labels.get(RESOURCE_LABEL) == cur.labels.get(RESOURCE_LABEL):
                return c
        return resolve_create(cands)

    def ps_changed(d, c):
        return d.provider_specific != c.provider_specific

    ch = {"create": [], "update_old": [], "update_new": [], "delete": []}
    keys = list(rows)
    rng.shuffle(keys)
    for key in keys:
        row = rows[key]
        recs = resolve_record_types(row)
        types = list(recs)
        rng.shuffle(types)
        if not row["current"]:
            for t in types:
                if recs[t]["candidates"]:
                    ch["create"].append(resolve_create(recs[t]["candidates"]))
        elif not row["candidates"]:
            ch["delete"] += row["current"]
        else:
            creates = []
            for t in types:
                cur, cands = recs[t]["current"], recs[t]["candidates"]
                if cur is not None and not cands:
                    ch["delete"].append(cur)
                elif cur is None and cands:
                    creates.append(resolve_create(cands))
                elif cur is not None and cands:
                    upd = resolve_update(cur, cands)
                    ttl_changed = upd.ttl > 0 and upd.ttl != cur.ttl      # shouldUpdateTTL
                    if ttl_changed or not targets_same(upd.targets, cur.targets) or ps_changed(upd, cur):
                        upd = upd.copy()
                        upd.labels[OWNER_LABEL] = cur.labels.get(OWNER_LABEL, "")  # inheritOwner
                        ch["update_new"].append(upd)
                        ch["update_old"].append(cur)
            # creates only when this owner owns every current record of the name
            if creates and all(c.labels.get(OWNER_LABEL) == owner for c in row["current"]):
                ch["create"] += creates
    # filter out what this owner does not own (calculateChanges), RemoveDuplicates
    seen, dels = set(), []
    for e in filter_by_owner(owner, ch["delete"]):
        k = (e.dns_name, e.record_type, e.set_identifier)
        if k not in seen:
            seen.add(k)
            dels.append(e)
    ch["delete"] = dels
    ch["update_old"] = filter_by_owner(owner, ch["update_old"])
    ch["update_new"] = filter_by_owner(owner, ch["update_new"])
    return ch


def has_changes(ch):
    """Changes.HasChanges: any create or delete, or UpdateNew != UpdateOld
    (cmp.Equal over the exported fields: labels and provider-specific
    properties included)."""
    if ch["create"] or ch["delete"]:
        return True

    def fields(e):
        return (e.dns_name, e.record_type, e.targets, e.ttl, e.set_identifier,
                sorted(e.labels.items()), sorted(e.provider_specific.items()))
    return [fields(e) for e in ch["update_new"]] != [fields(e) for e in ch["update_old"]]


# --- the provider: ApplyChanges (provider/rfc2136/rfc2136.go) ------------------------
def zone_names_sorted():
    # newProvider: zones sorted by label count, most labels first.
    return sorted(ZONES, key=lambda z: len(z.split(".")), reverse=True)


def find_msg_zone(ep):
    """findMsgZone: the first zone the name ends with, as a string suffix;
    else the root zone "."."""
    for z in zone_names_sorted():
        if ep.dns_name.endswith(z):
            return z.rstrip(".") + "."
    return "."


def add_record(m, ep):
    """AddRecord: "<name> <ttl> <type> <target>" per target, through
    dns.NewRR, then Msg.Insert (class of the zone section: IN). The TTL is
    --rfc2136-min-ttl, or the endpoint's if configured and larger."""
    ttl = MIN_TTL
    if ep.ttl > 0 and ep.ttl > ttl:
        ttl = ep.ttl
    for t in ep.targets:
        m["updates"].append((ep.dns_name, ttl, dns.rdataclass.IN, ep.record_type, t))


def remove_record(m, ep):
    """RemoveRecord: the same RR through Msg.Remove: class NONE, TTL 0
    (delete one RR from an RRset, RFC 2136 §2.5.4)."""
    for t in ep.targets:
        m["updates"].append((ep.dns_name, 0, dns.rdataclass.NONE, ep.record_type, t))


def provider_apply_changes(ch, rng):
    """rfc2136Provider.ApplyChanges: creates, then updates (UpdateRecord:
    RemoveRecord(old) + AddRecord(new) in the same message), then deletes,
    each in chunks of BATCH endpoints (chunkBy); per chunk one message per
    zone (and one for "."), sent if it has any update RR, in Go map order
    (random). Returns the messages in sending order."""
    out = []

    def chunks(lst):
        return [lst[i:i + BATCH] for i in range(0, len(lst), BATCH)]

    def new_map():
        m = {".": {"zone": None, "updates": []}}
        for z in ZONES:
            m[z.rstrip(".") + "."] = {"zone": None, "updates": []}
        return m

    def flush(m, kind, c):
        zones = list(m)
        rng.shuffle(zones)
        for z in zones:
            if m[z]["updates"]:
                out.append({"zone": z, "kind": kind, "chunk": c, "updates": m[z]["updates"]})

    for c, chunk in enumerate(chunks(ch["create"])):
        m = new_map()
        for ep in chunk:
            z = find_msg_zone(ep)
            m[z]["zone"] = z          # SetUpdate(zone)
            add_record(m[z], ep)
        flush(m, "create", c)
    for c, chunk in enumerate(chunks(ch["update_new"])):
        m = new_map()
        for i, ep in enumerate(chunk):
            z = find_msg_zone(ep)
            m[z]["zone"] = z
            j = c * BATCH + i          # index into the unsplit UpdateOld
            remove_record(m[z], ch["update_old"][j])
            add_record(m[z], ep)
        flush(m, "update", c)
    for c, chunk in enumerate(chunks(ch["delete"])):
        m = new_map()
        for ep in chunk:
            z = find_msg_zone(ep)
            m[z]["zone"] = z
            remove_record(m[z], ep)
        flush(m, "delete", c)
    return out


# --- wire: what miekg/dns sends -------------------------------------------------------
def msg_id():
    return struct.unpack("!H", os.urandom(2))[0]   # dns.Id()


def rdata_of(rdtype_text, text):
    # dns.NewRR parses the target with origin "." (names absolute).
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype_text), text,
                               origin=dns.name.root, relativize=False)


def render(mid, flags, zone, qtype, updates):
    """A message as miekg/dns packs it with Compress = false (SetUpdate
    turns compression off; SetAxfr leaves new(dns.Msg)'s false): header,
    one question, no answer/prerequisite, the update RRs in order, nothing
    in the additional section yet."""
    out = [struct.pack("!HHHHHH", mid, flags, 1, 0, len(updates), 0)]
    out.append(dns.name.from_text(zone).to_wire())
    out.append(struct.pack("!HH", qtype, dns.rdataclass.IN))
    for name, ttl, rdclass, rdtype_text, target in updates:
        rd = rdata_of(rdtype_text, target).to_wire()
        out.append(dns.name.from_text(name).to_wire())
        out.append(struct.pack("!HHIH", dns.rdatatype.from_text(rdtype_text), rdclass, ttl, len(rd)))
        out.append(rd)
    return b"".join(out)


def sign(wire, key, mid):
    """Msg.SetTsig(keyname, alg, clockSkew, now): one TSIG RR (class ANY,
    TTL 0, original id = the message id) appended, ARCOUNT + 1. Returns the
    signed wire and its MAC (for the answer's check)."""
    template = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm,
                                         0, CLOCK_SKEW, b"", mid, 0, b"")
    tsig, _ = dns.tsig.sign(wire, key, template, int(time.time()), None)
    rd = tsig.to_wire()
    (ar,) = struct.unpack("!H", wire[10:12])
    signed = (wire[:10] + struct.pack("!H", ar + 1) + wire[12:] + key.name.to_wire()
              + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rd)) + rd)
    return signed, tsig.mac


def read_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        s.settimeout(left)
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf


def read_msg(s, deadline):
    (n,) = struct.unpack("!H", read_exact(s, 2, deadline))
    return read_exact(s, n, deadline)


def exchange_tcp(port, wire):
    """miekg Client.Exchange over TCP: dial, write the length-prefixed
    message, read one answer; a new connection each time. Returns (answer
    wire, seconds). The provider would give up after 2 s; we wait up to
    HARD_TIMEOUT to report how slow it was."""
    t0 = time.monotonic()
    with socket.create_connection((HOST, port), timeout=HARD_TIMEOUT) as s:
        s.settimeout(HARD_TIMEOUT)
        s.sendall(struct.pack("!H", len(wire)) + wire)
        ans = read_msg(s, time.monotonic() + HARD_TIMEOUT)
    return ans, time.monotonic() - t0


# --- AXFR (List -> IncomeTransfer -> miekg Transfer.In / inAxfr) ----------------------------
class AxfrError(Exception):
    pass


def axfr(port, zone, key, stats):
    """rfc2136Provider.List for one zone: m.SetAxfr(zone) (no RD),
    m.SetTsig(key, alg, 300, now), over TCP; every answer message must
    carry the same id and a valid TSIG chained to the previous one (RFC
    8945 §5.3.1); the first must be NOERROR and start with the SOA; the
    transfer ends with a message whose last RR is the SOA. Returns the RRs
    (SOAs included) as (Name, ttl, class, type, rdata), in order."""
    mid = msg_id()
    wire, mac = sign(render(mid, 0, zone + ".", dns.rdatatype.AXFR, []), key, mid)
    rrs = []
    t0 = time.monotonic()
    with socket.create_connection((HOST, port), timeout=HARD_TIMEOUT) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        ctx = None
        first = True
        for n in range(100000):
            t1 = time.monotonic()
            try:
                w = read_msg(s, t1 + HARD_TIMEOUT)
            except (socket.timeout, ConnectionError) as e:
                raise AxfrError(f"AXFR {zone}: message {n + 1}: {e}")
            if time.monotonic() - t1 > MIEKG_TIMEOUT:
                stats["slow"] += 1
                fail(f"AXFR {zone}: message {n + 1} took {time.monotonic() - t1:.2f} s "
                     f"(miekg's Transfer read timeout is {MIEKG_TIMEOUT:.0f} s)")
            try:
                r = dns.message.from_wire(w, keyring=key, request_mac=mac, xfr=True, tsig_ctx=ctx,
                                          multi=True, one_rr_per_rrset=True)
            except Exception as e:  # a bad MAC, a malformed message
                raise AxfrError(f"AXFR {zone}: message {n + 1} rejected: {type(e).__name__}: {e}")
            if r.id != mid:
                raise AxfrError(f"AXFR {zone}: answer id {r.id} != {mid} (miekg: ErrId)")
            if not r.had_tsig:
                raise AxfrError(f"AXFR {zone}: message {n + 1} is not signed (README: every "
                                "message of a signed transfer is signed)")
            ctx = r.tsig_ctx
            stats["axfr_msgs"] = n + 1
            if first and r.rcode() != dns.rcode.NOERROR:
                raise AxfrError(f"AXFR {zone}: {dns.rcode.to_text(r.rcode())} (the zone needs "
                                f"allow_transfer = [\"key:{key.name.to_text(True)}\"]); external-dns "
                                "logs it and syncs as if the zone were empty")
            msg_rrs = [(rr.name, rr.ttl, rr.rdclass, rr.rdtype, rd) for rr in r.answer for rd in rr]
            if first:
                if not msg_rrs or msg_rrs[0][3] != dns.rdatatype.SOA:
                    raise AxfrError(f"AXFR {zone}: first RR is not the SOA (miekg: ErrSoa)")
                first = False
                rrs += msg_rrs
                if len(msg_rrs) == 1:
                    continue
                if msg_rrs[-1][3] == dns.rdatatype.SOA:
                    break
                continue
            rrs += msg_rrs
            if msg_rrs and msg_rrs[-1][3] == dns.rdatatype.SOA:
                break
        else:
            raise AxfrError(f"AXFR {zone}: no final SOA after 100000 messages")
    stats["axfr_ms"] += int((time.monotonic() - t0) * 1000)
    return rrs


# --- zone contents as sets, the expected state and an RFC 2136 simulator ----------
def state_of(rrs, with_soa=False):
    """{(Name, type): (ttls, set(rdata))}; ttls is the set of TTLs seen (one
    if the RRset is consistent)."""
    st = {}
    for name, ttl, rdclass, rdtype, rd in rrs:
        if rdclass != dns.rdataclass.IN or (rdtype == dns.rdatatype.SOA and not with_soa):
            continue
        ttls, rds = st.setdefault((name, rdtype), (set(), set()))
        ttls.add(ttl)
        rds.add(rd)
    return st


def show_rr(key, ttls, rd):
    return f"{key[0]} {'/'.join(map(str, sorted(ttls)))} {dns.rdatatype.to_text(key[1])} {rd}"


def diff_states(label, got, want, limit=15):
    """Lines saying how got differs from want; empty if equal."""
    lines = []
    for key in sorted(set(got) | set(want), key=lambda k: (k[0].to_text(), k[1])):
        gt, gr = got.get(key, (set(), set()))
        wt, wr = want.get(key, (set(), set()))
        for rd in sorted(wr - gr, key=str):
            lines.append(f"{label}: missing  {show_rr(key, wt, rd)}")
        for rd in sorted(gr - wr, key=str):
            lines.append(f"{label}: extra    {show_rr(key, gt, rd)}")
        if gr & wr and gt != wt:
            lines.append(f"{label}: TTL      {key[0]} {dns.rdatatype.to_text(key[1])}: "
                         f"{sorted(gt)}, expected {sorted(wt)}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"{label}: ... {len(lines) - limit} more"]
    return lines


def simulate(st, msg):
    """RFC 2136 §3.4.2 for the two update forms the provider sends, on the
    zone state st (modified in place). Returns True if the zone changed.
    §3.4.2.2: a CNAME added to a name with other data, or other data added
    to a name with a CNAME, is ignored; an existing RR is replaced (its TTL
    too: the whole RRset takes the new TTL, RFC 2181 §5.2)."""
    before = {k: (set(v[0]), set(v[1])) for k, v in st.items()}
    for name, ttl, rdclass, rdtype_text, target in msg["updates"]:
        n = dns.name.from_text(name)
        t = dns.rdatatype.from_text(rdtype_text)
        rd = rdata_of(rdtype_text, target)
        types_here = {k[1] for k in st if k[0] == n and st[k][1]}
        if rdclass == dns.rdataclass.IN:
            if t == dns.rdatatype.CNAME and types_here - {dns.rdatatype.CNAME}:
                continue
            if t != dns.rdatatype.CNAME and dns.rdatatype.CNAME in types_here:
                continue
            if t == dns.rdatatype.CNAME:
                st[(n, t)] = ({ttl}, {rd})
                continue
            ttls, rds = st.setdefault((n, t), (set(), set()))
            rds.add(rd)
            ttls.clear()
            ttls.add(ttl)
        else:  # NONE: delete this RR
            if (n, t) in st:
                st[(n, t)][1].discard(rd)
                if not st[(n, t)][1]:
                    del st[(n, t)]
    after = {k: v for k, v in st.items() if v[1]}
    st.clear()
    st.update(after)
    return before != st


# --- the scenario: a seeded model of what the Kubernetes sources want -----------------
def static_rrs():
    """What no external-dns owns: apex SOA (in the file only), NS, the NS
    host's address, 800 hand-written hosts, 150 DKIM keys; old-format ownership TXTs (legacy, the TXT at the
    record's own name: external-dns reads but no longer writes or deletes
    them); records of another external-dns (owner other-cluster) with their
    new-format TXTs."""
    out = []
    for z in ZONES:
        out.append((z, 3600, "NS", f"ns.{z}."))
        out.append((f"ns.{z}", 3600, "A", "192.0.2.53" if z == ZONES[0] else "192.0.2.54"))
    # Hand-written hosts and DKIM keys that share example.test with
    # external-dns (no owner: the plan's deletes of them are filtered out);
    # they also make its AXFR span several messages, each signed and chained
    # to the previous one (RFC 8945 §5.3.1; miekg Transfer.In checks each).
    for n in range(800):
        out.append((f"host-{n}.{ZONES[0]}", 3600, "A", f"198.18.{n // 250}.{n % 250 + 1}"))
    for n in range(150):
        key = base64.b64encode(hashlib.sha512(b"%d" % n).digest() * 6).decode()
        out.append((f"s{n}._domainkey.{ZONES[0]}", 3600, "TXT", f'"v=DKIM1; k=rsa; p={key[:180]}" "{key[180:380]}"'))
    for ep in legacy_endpoints():
        out.append((ep.dns_name, 300, "TXT",
                    serialize_labels({OWNER_LABEL: OWNER, RESOURCE_LABEL: ep.labels[RESOURCE_LABEL]})))
    for k in range(3):
        name = f"other-{k}.{ZONES[0]}"
        out.append((name, 300, "A", f"192.0.2.{50 + k}"))
        out.append((to_txt_name(name, "A"), 300, "TXT",
                    serialize_labels({OWNER_LABEL: FOREIGN, RESOURCE_LABEL: f"ingress/other/other-{k}"})))
    return out


def legacy_endpoints():
    return [Endpoint(f"legacy-{k}.{ZONES[0]}", "A", [f"192.0.2.{10 + k}"], 300,
                     {RESOURCE_LABEL: f"service/default/legacy-{k}"}) for k in range(5)]


def build_model():
    """Every phase's desired endpoints, from one seeded generator (so each
    run of this script, whatever the phase, sees the same model)."""
    rng = random.Random(SEED)
    ttl_choices = [0, 0, 60, 300, 3600]

    def v4():
        return f"{rng.choice(['198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"

    def v6(i):
        return ipaddress.IPv6Address(f"2001:db8:{i:x}::{rng.randrange(1, 0xffff):x}").compressed

    def new_targets(ep):
        while True:
            if ep.record_type == "A":
                t = sorted({v4() for _ in range(rng.choice([1, 1, 2]))})
            elif ep.record_type == "AAAA":
                t = [v6(rng.randrange(0x10000))]
            elif ep.record_type == "CNAME":
                t = [f"lb-{rng.getrandbits(24):06x}.elb.example.net"]
            else:
                t = [f"token-{rng.getrandbits(32):08x}"]
            if not targets_same(t, ep.targets):
                return t

    E = []
    i = 0

    def add(name_fmt, rtype, targets, resource):
        nonlocal i
        z = ZONES[i % 2]
        ep = Endpoint(name_fmt.format(i=i, z=z), rtype, targets, rng.choice(ttl_choices),
                      {RESOURCE_LABEL: resource.format(i=i)})
        E.append(ep)
        i += 1
        return ep

    for k in range(110):
        # Two wildcard Ingress hosts: their TXT owner is "a-*.apps-N.<zone>".
        add("*.apps-{i}.{z}" if k < 2 else "web-{i}.{z}", "A",
            sorted({v4() for _ in range(rng.choice([1, 1, 1, 2]))}), "ingress/default/web-{i}")
    for _ in range(70):
        add("v6-{i}.{z}", "AAAA", [v6(i)], "service/default/v6-{i}")
    for k in range(20):
        a = add(f"dual-{k}" + ".{z}", "A", [v4()], f"service/default/dual-{k}")
        b = Endpoint(a.dns_name, "AAAA", [v6(1000 + k)], a.ttl, a.labels)
        E.append(b)
    for _ in range(50):
        if rng.random() < 0.5:
            tgt = f"web-{rng.randrange(110)}.{ZONES[rng.randrange(2)]}"
        else:
            tgt = f"lb-{rng.getrandbits(24):06x}.elb.example.net"
        add("alias-{i}.{z}", "CNAME", [tgt], "ingress/default/alias-{i}")
    for _ in range(30):
        add("note-{i}.{z}", "TXT", [f"token-{rng.getrandbits(32):08x}"], "crd/default/note-{i}")
    assert len(E) == 300, len(E)

    L = legacy_endpoints()
    claim = Endpoint(f"other-0.{ZONES[0]}", "A", ["203.0.113.250"], 300, {RESOURCE_LABEL: "ingress/default/claim"})
    stray = [Endpoint("stray-1.outside.invalid", "A", ["192.0.2.200"], 300, {RESOURCE_LABEL: "ingress/default/stray-1"}),
             Endpoint("www.not-served.example", "CNAME", [f"web-0.{ZONES[0]}"], 0,
                      {RESOURCE_LABEL: "ingress/default/stray-2"})]
    late = Endpoint(f"late-1.{ZONES[1]}", "A", ["198.51.100.77"], 120, {RESOURCE_LABEL: "ingress/default/late-1"})

    def clone(eps):
        return [e.copy() for e in eps]

    model = {}
    model["migrate"] = clone(L)
    model["create"] = clone(L) + clone(E) + [claim.copy()]
    model["stray"] = model["create"] + clone(stray) + [late.copy()]
    model["settled"] = clone(model["create"]) + [late.copy()]

    # update: 100 of the 300 changed
    upd = clone(model["settled"])
    by_key = {(e.dns_name, e.record_type): e for e in upd}
    chosen = rng.sample([(e.dns_name, e.record_type) for e in E], 100)
    for key in chosen:
        ep = by_key[key]
        kind = rng.choice(["targets", "targets", "ttl", "moved"])
        if kind == "moved" and not ep.dns_name.endswith("." + ZONES[0]):
            # Resources move in example.test only: the messages that carry
            # k8s.test's TXT updates then delete and re-add the same TXTs,
            # NOERROR with nothing changed (so no commit).
            kind = "targets"
        if kind == "ttl":
            ep.ttl = rng.choice([t for t in (120, 600, 1800) if t != ep.ttl])
        else:
            ep.targets = new_targets(ep)
            if kind == "moved":
                ep.labels[RESOURCE_LABEL] = ep.labels[RESOURCE_LABEL].replace("/default/", "/moved/")
    model["update"] = upd

    # delete: 98 of the 300 and 2 of the old-format ones
    gone = set(rng.sample([(e.dns_name, e.record_type) for e in E], 98))
    gone |= {(L[0].dns_name, "A"), (L[1].dns_name, "A")}
    model["delete"] = [e.copy() for e in upd if (e.dns_name, e.record_type) not in gone]

    # mixed: 10 creates, 10 updates, 10 deletes, A -> CNAME, CNAME -> A
    mixed = clone(model["delete"])
    names_types = {}
    for e in mixed:
        names_types.setdefault(e.dns_name, set()).add(e.record_type)
    ours = [e for e in mixed if e.dns_name.startswith(("web-", "v6-", "dual-", "alias-", "note-"))]
    single_a = [e for e in ours if e.record_type == "A" and names_types[e.dns_name] == {"A"}]
    cnames = [e for e in ours if e.record_type == "CNAME"]
    a_to_cname, cname_to_a = rng.choice(single_a), rng.choice(cnames)
    rest = [e for e in ours if e is not a_to_cname and e is not cname_to_a]
    picked = rng.sample(rest, 20)
    for ep in picked[:10]:
        ep.targets = new_targets(ep)
    dropped = {id(e) for e in picked[10:]}
    mixed = [e for e in mixed if id(e) not in dropped]
    for k, rtype in enumerate(["A", "AAAA", "CNAME", "TXT"] * 2 + ["A", "AAAA"]):
        e = Endpoint(f"mix-{k}.{ZONES[k % 2]}", rtype, [], rng.choice(ttl_choices),
                     {RESOURCE_LABEL: f"ingress/default/mix-{k}"})
        e.targets = new_targets(e)
        mixed.append(e)
    typechanged = []
    for old, rtype, targets in ((a_to_cname, "CNAME", [f"lb-{rng.getrandbits(24):06x}.elb.example.net"]),
                                (cname_to_a, "A", [v4()])):
        mixed.remove(old)
        new = Endpoint(old.dns_name, rtype, targets, old.ttl, old.labels)
        mixed.append(new)
        typechanged.append((new.dns_name, rtype))
    model["mixed"] = mixed
    model["_typechanged"] = typechanged
    model["_stray"] = [(e.dns_name, e.record_type) for e in stray]
    model["_claim"] = (claim.dns_name, claim.record_type)
    return model


def expected_state(model, phase, again):
    """The zone contents (all zones, no SOA) once PHASE's sync is done:
    the static records, each desired endpoint we may write (not the
    strays, not the name another owner holds) with the TTL AddRecord
    writes, and its new-format ownership TXT (TTL 0). After the first
    mixed sync the type-changed names hold only their new TXT."""
    rows = list(static_rrs())
    for ep in model[phase]:
        key = (ep.dns_name, ep.record_type)
        if key in model["_stray"] or key == model["_claim"]:
            continue
        txt_labels = {OWNER_LABEL: OWNER, RESOURCE_LABEL: ep.labels[RESOURCE_LABEL]}
        rows.append((to_txt_name(ep.dns_name, ep.record_type), 0, "TXT", serialize_labels(txt_labels)))
        if phase == "mixed" and not again and key in model["_typechanged"]:
            continue
        ttl = ep.ttl if ep.ttl > MIN_TTL else MIN_TTL
        for t in ep.targets:
            rows.append((ep.dns_name, ttl, ep.record_type, t))
    rrs = [(dns.name.from_text(n), ttl, dns.rdataclass.IN, dns.rdatatype.from_text(t), rdata_of(t, v))
           for n, ttl, t, v in rows]
    return state_of(rrs)


# --- subcommands ---------------------------------------------------------------------------
def cmd_seed(a):
    """The zone files before any sync: SOA, the static records and the 5
    records owned through old-format TXTs (their A records: the migrate
    phase's desired state)."""
    rows = static_rrs() + [(e.dns_name, e.ttl, "A", e.targets[0]) for e in legacy_endpoints()]
    for z in ZONES:
        lines = [f"$ORIGIN {z}.", "$TTL 3600",
                 f"@ 3600 IN SOA ns.{ZONES[0]}. hostmaster.{ZONES[0]}. 1 3600 600 1209600 60"]
        for n, ttl, t, v in rows:
            if n == z or n.endswith("." + z):
                lines.append(f"{n}. {ttl} IN {t} {v}")
        with open(os.path.join(a.zones_dir, f"{z}.zone"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


def cmd_wait(a):
    """A SOA query over UDP every 100 ms until any answer (at most --tries)."""
    q = dns.message.make_query(ZONES[0], dns.rdatatype.SOA)
    q.flags &= ~dns.flags.RD
    for _ in range(a.tries):
        try:
            dns.query.udp(q, HOST, port=a.port, timeout=0.5)
            return 0
        except (dns.exception.Timeout, OSError):
            time.sleep(0.1)
    print(f"no answer on {HOST}:{a.port} after {a.tries} tries", file=sys.stderr)
    return 1


def head_state(zones_dir):
    """The zone files at git HEAD, parsed (SOA included)."""
    rrs = []
    for z in ZONES:
        text = subprocess.run(["git", "--no-optional-locks", "-C", zones_dir, "show", f"HEAD:{z}.zone"],
                              check=True, capture_output=True, text=True, timeout=30).stdout
        zone = dns.zone.from_text(text, origin=z + ".", relativize=False, check_origin=False)
        for name, ttl, rd in zone.iterate_rdatas():
            rrs.append((name, ttl, rd.rdclass, rd.rdtype, rd))
    return state_of(rrs, with_soa=True)


def cmd_sync(a):
    key = dns.tsig.Key(a.key_name, a.secret, dns.tsig.HMAC_SHA256)
    model = build_model()
    if a.phase not in model or a.phase.startswith("_"):
        print(f"unknown phase {a.phase}", file=sys.stderr)
        return 2
    rng = random.Random(f"{SEED}/{a.phase}/{a.again}/{a.noop}")
    stats = {"messages": 0, "noerror": 0, "notauth": 0, "other": 0, "changing": 0, "slow": 0, "axfr_ms": 0, "axfr_msgs": 0}
    t_start = time.monotonic()
    label = a.phase + (" (again)" if a.again else "") + (" (no change)" if a.noop else "")
    print(f"== sync: {label}", flush=True)

    # 1. Records: AXFR every zone (List), then the TXT registry.
    try:
        before_rrs = []
        for z in zone_names_sorted():
            rrs = axfr(a.port, z, key, stats)
            print(f"   AXFR {z}: {len(rrs)} RRs in {stats['axfr_msgs']} message(s), each signed, NOERROR")
            before_rrs += rrs
    except (AxfrError, OSError) as e:
        fail(str(e))
        return finish(a, stats, t_start)
    registry = TXTRegistry(OWNER)
    current = registry.records(provider_records(before_rrs))

    # 2. the plan
    desired = [e.copy() for e in model[a.phase]]
    ch = plan_calculate(current, desired, OWNER, rng)
    print(f"   plan: create {len(ch['create'])}, update {len(ch['update_new'])}, delete {len(ch['delete'])}")
    msgs = []
    if has_changes(ch):
        ch = registry.apply_changes(ch)
        print(f"   with ownership TXTs: create {len(ch['create'])}, update {len(ch['update_new'])}, "
              f"delete {len(ch['delete'])}")
        msgs = provider_apply_changes(ch, rng)
    else:
        print("   All records are already up to date (no ApplyChanges)")

    # 3. send, as SendMessage does; simulate what each does to the zone.
    sim = state_of(before_rrs)
    served_zones = {z + "." for z in ZONES}
    order = {"create": 0, "update": 1, "delete": 2}
    last = -1
    for n, m in enumerate(msgs, 1):
        if order[m["kind"]] < last:
            fail(f"message {n}: {m['kind']} after a later kind (creates, updates, deletes)")
        last = order[m["kind"]]
        adds = sum(1 for u in m["updates"] if u[2] == dns.rdataclass.IN)
        dels = len(m["updates"]) - adds
        mid = msg_id()
        flags = dns.opcode.to_flags(dns.opcode.UPDATE)
        wire, mac = sign(render(mid, flags, m["zone"], dns.rdatatype.SOA, m["updates"]), key, mid)
        stats["messages"] += 1
        head = f"   UPDATE {n:2d} {m['kind']:6s} chunk {m['chunk']} zone {m['zone']:14s} +{adds:<3d} -{dels:<3d}"
        try:
            ans, secs = exchange_tcp(a.port, wire)
        except (OSError, socket.timeout) as e:
            stats["other"] += 1
            fail(f"{head.strip()}: no answer: {e}")
            continue
        try:
            r = dns.message.from_wire(ans, keyring=key, request_mac=mac)
        except Exception as e:
            stats["other"] += 1
            fail(f"{head.strip()}: answer rejected ({type(e).__name__}: {e}); miekg's Exchange "
                 "would return an error")
            continue
        rc = dns.rcode.to_text(r.rcode())
        changed = m["zone"] in served_zones and r.rcode() == dns.rcode.NOERROR and simulate(sim, m)
        note = ("changes the zone" if changed else "changes nothing") if m["zone"] in served_zones else ""
        print(f"{head} {rc:8s} {secs * 1000:6.0f} ms  {note}{'' if r.had_tsig else ' UNSIGNED'}",
              flush=True)
        if r.id != mid or not r.flags & dns.flags.QR or r.opcode() != dns.opcode.UPDATE:
            fail(f"message {n}: answer id {r.id} (sent {mid}), QR {bool(r.flags & dns.flags.QR)}, "
                 f"opcode {dns.opcode.to_text(r.opcode())}")
        if not r.had_tsig:
            fail(f"message {n}: answer to a signed UPDATE not signed (README: every answer to a "
                 "signed request is signed)")
        if secs > MIEKG_TIMEOUT:
            stats["slow"] += 1
            fail(f"message {n}: answered after {secs:.2f} s: external-dns (miekg read timeout "
                 f"{MIEKG_TIMEOUT:.0f} s) would have given up and counted the batch as failed")
        if m["zone"] in served_zones:
            if r.rcode() == dns.rcode.NOERROR:
                stats["noerror"] += 1
                stats["changing"] += int(changed)
            else:
                stats["other"] += 1
                fail(f"message {n} to zone {m['zone']}: {rc}, expected NOERROR "
                     f"(external-dns: \"bad return code: {rc}\")")
        else:
            if r.rcode() == dns.rcode.NOTAUTH:
                stats["notauth"] += 1
            else:
                stats["other"] += 1
                fail(f"message {n} to zone {m['zone']!r} (not served): {rc}, RFC 2136 §3.1.1 says NOTAUTH")

    # 4. the expectations of this phase
    if a.noop and msgs:
        fail(f"a repeated sync with no change sent {len(msgs)} UPDATE(s): the plan saw "
             f"create {[repr(e) for e in ch['create']][:3]} update "
             f"{[(repr(o), repr(n)) for o, n in zip(ch['update_old'], ch['update_new'])][:3]} "
             f"delete {[repr(e) for e in ch['delete']][:3]}")
    if a.phase == "stray" and not a.noop:
        # The names outside every zone stay desired: every sync sends them
        # again (and gets the same error) until they go from the sources.
        if not any(m["zone"] == "." for m in msgs):
            fail("no UPDATE was sent with zone \".\" for the names outside every zone")
        if a.again and any(m["zone"] != "." for m in msgs):
            fail("the repeated stray sync sent more than the zone \".\" message(s)")

    # 5. what is served now, against the model and the simulation; git HEAD.
    try:
        after_rrs = []
        for z in zone_names_sorted():
            after_rrs += axfr(a.port, z, key, stats)
    except (AxfrError, OSError) as e:
        fail(str(e))
        return finish(a, stats, t_start)
    served = state_of(after_rrs)
    want = expected_state(model, a.phase, a.again or a.noop)
    d1 = diff_states("served vs expected", served, want)
    d2 = diff_states("served vs RFC 2136 applied to the messages", served, sim)
    for line in d1 + d2:
        fail(line)
    inconsistent = [k for k, v in served.items() if len(v[0]) > 1]
    for k in inconsistent[:5]:
        fail(f"RRset {k[0]} {dns.rdatatype.to_text(k[1])} served with TTLs {sorted(served[k][0])}")
    if not d1:
        print(f"   served == expected: {sum(len(v[1]) for v in served.values())} RRs (SOA aside) in "
              f"{len(ZONES)} zones")
    if not d2:
        print(f"   served == RFC 2136 applied to the {len(msgs)} message(s) "
              f"({stats['changing']} change the zone)")
    try:
        head = head_state(a.zones_dir)
        d3 = diff_states("git HEAD vs served", head, state_of(after_rrs, with_soa=True))
        for line in d3:
            fail(line)
        if not d3:
            print("   git HEAD's zone files == served (SOA serial included)")
    except (subprocess.SubprocessError, dns.exception.DNSException, OSError) as e:
        fail(f"reading the zone files at git HEAD: {e}")
    return finish(a, stats, t_start)


def finish(a, stats, t_start):
    ms = int((time.monotonic() - t_start) * 1000)
    print(f"RESULT phase={a.phase} messages={stats['messages']} noerror={stats['noerror']} "
          f"notauth={stats['notauth']} other={stats['other']} changing={stats['changing']} "
          f"slow={stats['slow']} axfr={stats['axfr_ms']} ms={ms} failures={len(failures)}", flush=True)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--zones-dir", required=True)
    w = sub.add_parser("wait")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--tries", type=int, default=100)
    y = sub.add_parser("sync")
    y.add_argument("phase")
    y.add_argument("--port", type=int, required=True)
    y.add_argument("--key-name", required=True)
    y.add_argument("--secret", required=True)
    y.add_argument("--zones-dir", required=True)
    y.add_argument("--noop", action="store_true")
    y.add_argument("--again", action="store_true")
    a = ap.parse_args()
    return {"seed": cmd_seed, "wait": cmd_wait, "sync": cmd_sync}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
