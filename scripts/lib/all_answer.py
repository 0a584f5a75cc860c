#!/usr/bin/python3
"""Waits until every zone of scripts/lib/gen_zones.py's set answers its SOA.

Usage: all_answer.py PORT ZONE_COUNT TIMEOUT_S

Sends SOA queries for z00000.bench. .. z{N-1}.bench. to 127.0.0.1:PORT over
one non-blocking UDP socket, at most 500 outstanding at a time. A zone has
answered when a response is NOERROR, has the AA bit and an SOA in the
answer section; anything else (no answer yet, REFUSED while the server is
still loading, SERVFAIL, ...) is asked again about every 200 ms.
Exits 0, printing nothing, as soon as every zone has answered; exits 1
after TIMEOUT_S seconds, printing how many answered. Used by
scripts/bench-zones.sh, which measures the time around it.

Needs dnspython (Debian: python3-dnspython); run with /usr/bin/python3.
"""

import select
import socket
import sys
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

WINDOW = 500          # queries outstanding at most
RESEND = 0.2          # seconds before an unanswered query is sent again


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    port, count, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if not 1 <= count <= 1_000_000 or not 0 < timeout <= 3600:
        sys.exit("all_answer.py: ZONE_COUNT 1..1000000, TIMEOUT_S (0, 3600]")
    start = time.monotonic()
    deadline = start + timeout

    # One query per zone, built once; the message ID is the zone's index
    # modulo 65536, and the question name tells zones with the same ID apart.
    names = [dns.name.from_text("z%05d.bench." % i) for i in range(count)]
    wires = []
    for i, name in enumerate(names):
        q = dns.message.make_query(name, dns.rdatatype.SOA)
        q.flags &= ~dns.flags.RD
        q.id = i & 0xFFFF
        wires.append(q.to_wire())
    index = {name: i for i, name in enumerate(names)}

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    except OSError:
        pass
    sock.connect(("127.0.0.1", port))

    answered = [False] * count
    left = count
    sent_at = {}                  # index -> monotonic time of its last send
    pending = list(range(count - 1, -1, -1))    # a stack, popped from the end

    while left and time.monotonic() < deadline:
        now = time.monotonic()
        # Queries outstanding too long go back to be sent again.
        if len(sent_at) >= WINDOW or not pending:
            for i in [i for i, t in sent_at.items() if now - t >= RESEND]:
                del sent_at[i]
                pending.append(i)
        while pending and len(sent_at) < WINDOW:
            i = pending.pop()
            if answered[i]:
                continue
            try:
                sock.send(wires[i])
            except (BlockingIOError, InterruptedError):
                pending.append(i)
                break
            except ConnectionRefusedError:      # nothing listening yet (ICMP)
                pending.append(i)
                break
            sent_at[i] = now
        wait = min(RESEND / 4, max(0.0, deadline - time.monotonic()))
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            if not sent_at and pending:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            continue
        # Everything that arrived, at most a few thousand datagrams per pass.
        for _ in range(4 * WINDOW):
            try:
                wire = sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                # The server is not up yet: wait a little before sending more.
                time.sleep(0.05)
                break
            try:
                r = dns.message.from_wire(wire)
            except Exception:
                continue
            if not r.question:
                continue
            i = index.get(r.question[0].name)
            if i is None or answered[i] or r.id != (i & 0xFFFF):
                continue
            ok = (r.rcode() == dns.rcode.NOERROR
                  and r.flags & dns.flags.AA
                  and any(rr.rdtype == dns.rdatatype.SOA and rr.name == names[i]
                          for rr in r.answer))
            if ok:
                answered[i] = True
                left -= 1
                sent_at.pop(i, None)
            else:
                # Answered, but not yet with the zone: ask again after RESEND.
                pass

    sock.close()
    if left:
        print("all_answer.py: %d of %d zones answered SOA with AA on 127.0.0.1:%d in %.0f s"
              % (count - left, count, port, timeout))
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
