#!/usr/bin/env python3
"""Hostile clients against chunkd (issue 12, findings 9, 11 and 12): an ordinary
self-registered account (mallory) that speaks the raw protocol with the capabilities
metad gave her. A read capability works only on the server it names and inside its byte
range; a write goes only along the chain metad signed into the write capability, and
chunkd dials nothing else (a listening socket the test owns sees no connection
attempt); a WriteChunk with a bad capability is refused before its 1 MiB of bulk is
sent. Every case checks that bob's files (the victim) come back byte for byte and that
every daemon keeps answering (the runner checks the daemons after each case)."""

import hashlib
import os
import random
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_ALLOC, MSG_COMMIT, MSG_GETFILE = 108, 110, 112
MSG_WRITE, MSG_WRITE_REP, MSG_READ, MSG_READ_REP = 300, 301, 302, 303
EINVAL, EPERM = -1, -20

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)
PW = {u: "%s-pw-%08x" % (u, rng.getrandbits(32)) for u in ("bob", "mallory")}
MiB = 1 << 20


# --- raw protocol helpers -------------------------------------------------------------

def session(c, user):
    return wire.MetaSession(c.meta, token=c.tokens[user])


def alloc(s, replicas=2):
    err, msg, rep = s.req(MSG_ALLOC, wire.msg((2, 1), (3, replicas)))
    check(err == 0, "alloc: %d %s" % (err, msg))
    a = wire.decode(rep[2][0])
    chain = []
    for r in a.get(3, []):
        r = wire.decode(r)
        chain.append((wire.one(r, 1), wire.one(r, 2, b"").decode(), wire.one(r, 3)))
    return {"id": wire.one(a, 1), "version": wire.one(a, 2), "chain": chain,
            "cap": wire.one(a, 4, b""), "grant": wire.one(a, 5, b"")}


def write_payload(a, data, chain=None, cap=None):
    """A WriteChunkReq for data as chunk a, with downstream `chain` (default: the rest of
    a's chain) and capability `cap` (default: a's)."""
    blocks = [wire.crc32c(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    p = wire.msg((1, a["cap"] if cap is None else cap), (2, a["id"]), (3, a["version"]),
                 (4, len(data)), (5, wire.crc32c(data)))
    for b in blocks:
        p += wire.f_varint(6, b)
    for sid, host, port in (a["chain"][1:] if chain is None else chain):
        p += wire.f_bytes(7, wire.msg((1, sid), (2, host), (3, port)))
    return p


def addr_of(entry):
    return "%s:%d" % (entry[1], entry[2])


def write(a, data, chain=None, cap=None, to=None):
    """Sends the write to `to` (default: a's head); (err, msg, stored_on, receipt)."""
    _, _, _, rep, _ = wire.call(to or addr_of(a["chain"][0]), MSG_WRITE,
                                write_payload(a, data, chain, cap), bulk=data, timeout=20)
    err, msg = wire.status_of(rep)
    d = wire.decode(rep)
    stored = []
    for item in d.get(2, []):  # packed varints
        if isinstance(item, int):
            stored.append(item)
            continue
        v = shift = 0
        for b in item:
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                stored.append(v)
                v = shift = 0
    return err, msg, stored, wire.one(d, 4, b"")


def commit(s, path, a, data, stored, receipt, replicas=2):
    ci = wire.msg((1, a["id"]), (2, a["version"]), (3, len(data)), (4, wire.crc32c(data)),
                  (8, a["grant"]), (9, receipt))
    for sid in stored:
        ci += wire.f_varint(5, sid)
    p = wire.msg((2, path), (3, len(data)), (4, replicas), (7, rng.getrandbits(62) + 1))
    p += wire.f_bytes(8, ci)
    err, msg, _ = s.req(MSG_COMMIT, p)
    return err, msg


def getfile(s, path):
    """[{id, version, length, replicas: [(server_id, addr, cap)]}] of path's chunks."""
    err, msg, rep = s.req(MSG_GETFILE, wire.msg((2, path)))
    check(err == 0, "GetFile %s: %d %s" % (path, err, msg))
    out = []
    for raw in rep.get(3, []):
        cl = wire.decode(raw)
        reps = []
        for r in cl.get(6, []):
            r = wire.decode(r)
            reps.append((wire.one(r, 1), "%s:%d" % (wire.one(r, 2, b"").decode(), wire.one(r, 3)),
                         wire.one(r, 4, b"")))
        out.append({"id": wire.one(cl, 2), "version": wire.one(cl, 3),
                    "length": wire.one(cl, 4), "replicas": reps})
    return out


def read(addr, cap, ch, offset=0, length=0):
    p = wire.msg((1, cap), (2, ch["id"]), (3, ch["version"]), (4, offset), (5, length))
    _, _, _, rep, bulk = wire.call(addr, MSG_READ, p)
    err, msg = wire.status_of(rep)
    return err, msg, bulk


def refused(what, err, msg, codes, words=()):
    check(err in codes, "%s: expected one of %r, got %d %r" % (what, codes, err, msg))
    check(msg and "\n" not in msg, "%s: no clear one-line message: %r" % (what, msg))
    for w in words:
        check(w in msg, "%s: the message does not say %r: %r" % (what, w, msg))


def chunk_files(c, chunk_id):
    """Stored replicas of chunk_id on every chunkserver (chunk files and packed records)."""
    return [r for d in c.chunkds for r in harness.chunk_replicas(harness.chunkd_data_dir(d))
            if r.id == chunk_id]


class Trap:
    """A listening socket on 127.0.0.1 that the test owns: chunkd must never dial it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def dialled(self, wait=0.5):
        """How many connections arrived (waits up to `wait` s for a first one)."""
        n = 0
        r, _, _ = select.select([self.sock], [], [], wait)
        while r:
            conn, _ = self.sock.accept()
            conn.close()
            n += 1
            r, _, _ = select.select([self.sock], [], [], 0)
        return n

    def close(self):
        self.sock.close()


# --- the victim ---------------------------------------------------------------------

VICTIM = {}  # remote path -> sha256


def victim_intact(c):
    for path, digest in VICTIM.items():
        c.get_check(path, digest)


def t_setup(c):
    for u in ("bob", "mallory"):
        c.register(u, PW[u])
        c.login(u, PW[u])
    for name, size in (("small", 300 * 1024), ("big", 3 * MiB + 17)):
        local = c.scratch("bob-" + name)
        harness.make_file(local, size, rng.randrange(1 << 31))
        c.dfs_as_ok("bob", "put", "--replicas", "2", "--mode", "600", local, "/home/bob/" + name)
        VICTIM["/home/bob/" + name] = harness.sha256_file(local)
    # mallory's own two-replica file: her capabilities are the attack material
    local = c.scratch("mallory-own")
    harness.make_file(local, 200 * 1024, rng.randrange(1 << 31))
    c.dfs_as_ok("mallory", "put", "--replicas", "2", local, "/home/mallory/own")
    victim_intact(c)


def t_read_cap_other_server(c):
    """Finding 11: a read capability works on the one server it names."""
    s = session(c, "mallory")
    try:
        ch = getfile(s, "/home/mallory/own")[0]
    finally:
        s.close()
    check(len(ch["replicas"]) == 2, "mallory's chunk has %d replicas" % len(ch["replicas"]))
    (id_a, addr_a, cap_a), (id_b, addr_b, cap_b) = ch["replicas"]
    check(cap_a and cap_b and cap_a != cap_b, "GetFile did not give each replica its own capability")
    for addr, cap in ((addr_a, cap_a), (addr_b, cap_b)):  # control: each on its own server
        err, msg, bulk = read(addr, cap, ch)
        check(err == 0 and len(bulk) == ch["length"], "read with %s's own capability: %d %s"
              % (addr, err, msg))
    for what, addr, cap in (("A's capability on B", addr_b, cap_a), ("B's capability on A", addr_a, cap_b)):
        err, msg, bulk = read(addr, cap, ch)
        refused("read with " + what, err, msg, (EPERM,), ("another chunkserver",))
        check(not bulk, "read with %s returned %d bytes" % (what, len(bulk)))
    # and on a server that holds no replica
    others = [x for x in c.overview()["servers"] if x["id"] not in (id_a, id_b)]
    check(others, "no third chunkserver in this cluster")
    err, msg, _ = read("%s:%d" % (others[0]["host"], others[0]["port"]), cap_a, ch)
    refused("read on a server without the replica", err, msg, (EPERM,), ("another chunkserver",))
    victim_intact(c)


def t_read_outside_range(c):
    """Finding 11: reads stay inside the range the capability grants (metad grants the
    whole chunk; a narrower one, signed as metad would, is enforced by chunkd)."""
    s = session(c, "mallory")
    try:
        ch = getfile(s, "/home/mallory/own")[0]
    finally:
        s.close()
    sid, addr, cap = ch["replicas"][0]
    L = ch["length"]
    err, msg, bulk = read(addr, cap, ch, offset=L - 100, length=100)
    check(err == 0 and len(bulk) == 100, "read of the last 100 bytes: %d %s" % (err, msg))
    for what, off, ln in (("past the end", L - 100, 200), ("starting at the end", L, 1),
                          ("far beyond", 512 * 1024, 4096)):
        err, msg, bulk = read(addr, cap, ch, offset=off, length=ln)
        refused("read %s of the granted range" % what, err, msg, (EPERM,), ("range",))
        check(not bulk, "read %s: %d bytes" % (what, len(bulk)))
    now = int(time.time() * 1000)
    narrow = wire.sign_read_cap(c.secret, ch["id"], ch["version"], sid, 4096, 4096, now + 60000)
    err, msg, bulk = read(addr, narrow, ch, offset=4096, length=4096)
    check(err == 0 and len(bulk) == 4096, "read inside a narrow capability: %d %s" % (err, msg))
    for off, ln in ((0, 4096), (4095, 2), (8191, 2), (0, 0)):
        err, msg, bulk = read(addr, narrow, ch, offset=off, length=ln)
        refused("read [%d, +%d) with a capability for [4096, 8192)" % (off, ln), err, msg, (EPERM,),
                ("range",))
    # length 0 ("to the end") ends at the end of the granted range
    err, msg, bulk = read(addr, narrow, ch, offset=4096, length=0)
    check(err == 0 and len(bulk) == 4096, "to-the-end read in a narrow capability: %d %s (%d bytes)"
          % (err, msg, len(bulk)))
    victim_intact(c)


def t_write_chain(c):
    """Finding 12: the write goes only along the chain metad signed; chunkd dials
    nothing a client typed."""
    s = session(c, "mallory")
    trap = Trap()
    servers = {x["id"]: (x["id"], x["host"], x["port"]) for x in c.overview()["servers"]}
    data = os.urandom(70000)
    try:
        a = alloc(s, 2)
        check(len(a["chain"]) == 2, "alloc gave a chain of %d" % len(a["chain"]))
        head, nxt = a["chain"]
        third = [v for k, v in servers.items() if k not in (head[0], nxt[0])][0]
        fresh = max(servers) + 1000
        cases = [
            ("an extra server after the signed chain", [nxt, third], (EPERM,), ("chain",)),
            ("the next server moved to the test's port", [(nxt[0], "127.0.0.1", trap.port)],
             (EPERM,), ("signed",)),
            ("the next server renamed to localhost", [(nxt[0], "localhost", trap.port)],
             (EPERM,), ("signed",)),
            ("a foreign server at 127.0.0.1:1", [(fresh, "127.0.0.1", 1)], (EPERM,), ("signed",)),
            ("a foreign server by name", [(fresh, "localhost", trap.port)], (EPERM,), ("signed",)),
            ("another registered server instead", [third], (EPERM,), ("signed",)),
            ("no downstream at all", [], (EPERM,), ("chain",)),
            ("the receiving server itself", [head], (EINVAL,), ("itself",)),
            ("the receiving server itself, then the next", [head, nxt], (EINVAL,), ("itself",)),
            ("the next server twice", [nxt, nxt], (EINVAL,), ("twice",)),
            ("the trap twice", [(fresh, "127.0.0.1", trap.port)] * 2, (EINVAL,), ("twice",)),
        ]
        for what, chain, codes, words in cases:
            err, msg, stored, _ = write(a, data, chain=chain)
            refused("write with " + what, err, msg, codes, words)
            check(not stored, "write with %s: stored on %r" % (what, stored))
        # the head's capability presented to the next server as if it were the head
        err, msg, _, _ = write(a, data, chain=[], to=addr_of(nxt))
        refused("the head's write capability on the next server", err, msg, (EPERM,),
                ("not the head",))
        err, msg, _, _ = write(a, data, chain=[nxt], to=addr_of(nxt))
        refused("the head's write capability on the next server, chain naming it", err, msg,
                (EINVAL,), ("itself",))
        # ... and a forged capability signing the trap (without the secret) is no better
        err, msg, _, _ = write(a, data, chain=[(fresh, "127.0.0.1", trap.port)],
                               cap=a["cap"][:-32] + os.urandom(32))
        refused("a forged capability for the trap's chain", err, msg, (EPERM,), ("signature",))
        n = trap.dialled()
        check(n == 0, "chunkd dialled the test's socket %d time(s)" % n)
        check(not chunk_files(c, a["id"]), "a refused write left a chunk file")
        # control: the signed chain works, is stored on exactly the two, and commits
        err, msg, stored, receipt = write(a, data)
        check(err == 0 and stored == [head[0], nxt[0]], "the signed chain: %d %s %r" % (err, msg, stored))
        err, msg = commit(s, "/home/mallory/chained", a, data, stored, receipt)
        check(err == 0, "commit of the signed write: %d %s" % (err, msg))
        check(trap.dialled(0) == 0, "chunkd dialled the test's socket")
    finally:
        trap.close()
        s.close()
    back = c.scratch("mallory-chained")
    c.dfs_as_ok("mallory", "get", "/home/mallory/chained", back)
    check(harness.sha256_file(back) == hashlib.sha256(data).hexdigest(), "mallory's file differs")
    victim_intact(c)


def t_bulk_refused_early(c):
    """Finding 9: a 1 MiB write with a bad capability is refused before its bulk is
    sent; the connection then skips the bulk and keeps working."""
    s = session(c, "mallory")
    try:
        a = alloc(s, 1)
        mine = getfile(s, "/home/mallory/own")[0]
    finally:
        s.close()
    data = os.urandom(MiB)
    head = addr_of(a["chain"][0])
    own = [r for r in mine["replicas"] if r[1] == head]
    for what, cap in (("no capability", b""), ("a random capability", os.urandom(len(a["cap"]))),
                      ("a capability signed with another key", wire.sign_write_cap(
                          "not-the-secret", a["id"], 1, a["chain"], int(time.time() * 1000) + 60000)),
                      ("a tampered capability", a["cap"][:-1] + bytes([a["cap"][-1] ^ 1]))):
        p = write_payload(a, data, cap=cap)
        with wire.connect(head, timeout=5) as sock:
            sock.sendall(wire.header(MSG_WRITE, len(p), len(data), req_id=11) + p)
            try:
                mt, _, rid, rep, bulk = wire.read_frame(sock)  # the bulk was never sent
            except socket.timeout:
                raise harness.TestFailure("write with %s: no refusal before the bulk" % what)
            check(mt == MSG_WRITE_REP and rid == 11, "write with %s: reply type %d id %d" % (what, mt, rid))
            err, msg = wire.status_of(rep)
            refused("1 MiB write with " + what + " (before the bulk)", err, msg, (EPERM,))
            # the connection skips the bulk when it does come, and answers the next request
            sock.sendall(data)
            if own:
                p = wire.msg((1, own[0][2]), (2, mine["id"]), (3, mine["version"]))
                sock.sendall(wire.frame(MSG_READ, p, req_id=12))
                mt, _, rid, rep, bulk = wire.read_frame(sock)
                err, msg = wire.status_of(rep)
                check(mt == MSG_READ_REP and rid == 12 and err == 0 and len(bulk) == mine["length"],
                      "read after a refused write on the same connection: type %d id %d %d %s"
                      % (mt, rid, err, msg))
    check(not chunk_files(c, a["id"]), "a refused write left a chunk file")
    # control: with the right capability chunkd waits for the bulk before it answers
    p = write_payload(a, data)
    with wire.connect(head, timeout=1.0) as sock:
        sock.sendall(wire.header(MSG_WRITE, len(p), len(data), req_id=13) + p)
        r, _, _ = select.select([sock], [], [], 1.0)
        check(not r, "chunkd answered a valid write before its bulk arrived")
        sock.settimeout(20)
        sock.sendall(data)
        mt, _, rid, rep, _ = wire.read_frame(sock)
        err, msg = wire.status_of(rep)
        check(mt == MSG_WRITE_REP and err == 0, "the valid 1 MiB write: %d %s" % (err, msg))
    victim_intact(c)


def t_copy_jobs(c):
    """Copy jobs read with one capability per source (each names its server): raising
    the goal still makes a third replica."""
    c.dfs_as_ok("mallory", "setrep", "/home/mallory/own", "3")
    deadline = time.time() + 30
    while True:
        s = session(c, "mallory")
        try:
            reps = getfile(s, "/home/mallory/own")[0]["replicas"]
        finally:
            s.close()
        if len(reps) == 3:
            break
        check(time.time() < deadline, "no third replica after 30 s (%d)" % len(reps))
        time.sleep(0.3)
    victim_intact(c)


def main(r):
    with r.cluster(chunkservers=3, name="adv-chunkd", auth=True) as c:
        if not r.case("setup: bob's files, mallory's own file", t_setup, c):
            return
        r.case("11: a read capability replayed on another server", t_read_cap_other_server, c)
        r.case("11: a read outside the granted range", t_read_outside_range, c)
        r.case("12: write chains other than the signed one; nothing dialled", t_write_chain, c)
        r.case("9: a 1 MiB write with a bad capability refused before its bulk",
               t_bulk_refused_early, c)
        r.case("copy jobs with per-source capabilities", t_copy_jobs, c)


if __name__ == "__main__":
    harness.run(main)
