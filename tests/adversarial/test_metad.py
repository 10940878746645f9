#!/usr/bin/env python3
"""Hostile clients against metad (issue 12): ordinary self-registered accounts that
speak the raw protocol (tests/integration/wire.py) with any field set to anything. One
case per finding of the review; each asserts that the attack is refused with a clear
error, that bob's files (the victim) are byte-identical afterwards with every replica
still known, and that every daemon keeps answering (the runner checks the daemons after
each case). The last case restarts metad with kill -9 so that the whole log, attacks
included, is replayed."""

import hashlib
import hmac
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_MKDIR, MSG_LIST, MSG_DELETE, MSG_ALLOC, MSG_COMMIT = 100, 102, 106, 108, 110
MSG_GETFILE, MSG_BAD_REPLICA, MSG_RENAME, MSG_COPY, MSG_SEARCH = 112, 116, 120, 122, 126
MSG_WRITE = 300
EINVAL, ENOENT, EEXIST, EBUSY, EBADPATH, EPERM = -1, -4, -5, -25, -9, -20

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)
PW = {u: "%s-pw-%08x" % (u, rng.getrandbits(32)) for u in ("alice", "bob", "mallory")}
MiB = 1 << 20


# --- raw protocol helpers -------------------------------------------------------------

class Session(wire.MetaSession):
    """A metad connection as one user, with the CLI's request-building left out."""

    def call(self, mtype, payload):
        return self.req(mtype, payload)


def alloc(s, count=1, replicas=2):
    err, msg, rep = s.call(MSG_ALLOC, wire.msg((2, count), (3, replicas)))
    if err:
        return err, msg, []
    out = []
    for raw in rep.get(2, []):
        a = wire.decode(raw)
        chain = []
        for r in a.get(3, []):
            r = wire.decode(r)
            chain.append((wire.one(r, 1), wire.one(r, 2, b"").decode(), wire.one(r, 3)))
        out.append({"id": wire.one(a, 1), "version": wire.one(a, 2), "chain": chain,
                    "cap": wire.one(a, 4, b""), "grant": wire.one(a, 5, b"")})
    return 0, "", out


def varints(raw):
    """A packed repeated varint field (bytes) or a list of ints -> list of ints."""
    out = []
    for item in raw:
        if isinstance(item, int):
            out.append(item)
            continue
        v = shift = 0
        for b in item:
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                out.append(v)
                v = shift = 0
    return out


def write(a, data):
    """Writes data as chunk a down its chain; (err, msg, stored_on, receipt)."""
    blocks = [wire.crc32c(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    p = wire.msg((1, a["cap"]), (2, a["id"]), (3, a["version"]), (4, len(data)),
                 (5, wire.crc32c(data)))
    for b in blocks:
        p += wire.f_varint(6, b)
    for sid, host, port in a["chain"][1:]:
        p += wire.f_bytes(7, wire.msg((1, sid), (2, host), (3, port)))
    head = "%s:%d" % (a["chain"][0][1], a["chain"][0][2])
    _, _, _, rep, _ = wire.call(head, MSG_WRITE, p, bulk=data)
    err, msg = wire.status_of(rep)
    d = wire.decode(rep)
    return err, msg, varints(d.get(2, [])), wire.one(d, 4, b"")


def chunk_info(a, data, stored, receipt, grant=None, servers=None, reuse=False):
    p = wire.msg((1, a["id"]), (2, a["version"]), (3, len(data)), (4, wire.crc32c(data)),
                 (6, reuse), (8, a["grant"] if grant is None else grant), (9, receipt))
    for sid in (stored if servers is None else servers):
        p += wire.f_varint(5, sid)
    return p


def commit(s, path, infos, size, rid=None, overwrite=False, replicas=2):
    p = wire.msg((2, path), (3, size), (4, replicas), (6, overwrite),
                 (7, rid or rng.getrandbits(63) + 1))
    for ci in infos:
        p += wire.f_bytes(8, ci)
    err, msg, _ = s.call(MSG_COMMIT, p)
    return err, msg


def getfile(s, path):
    err, msg, rep = s.call(MSG_GETFILE, wire.msg((2, path)))
    check(err == 0, "GetFile %s: %d %s" % (path, err, msg))
    out = []
    for raw in rep.get(3, []):
        cl = wire.decode(raw)
        out.append({"id": wire.one(cl, 2), "replicas": len(cl.get(6, [])),
                    "all": wire.one(cl, 10)})
    return out


def put_raw(s, path, data, replicas=2):
    """A whole upload done by hand (one chunk): alloc, write, commit. Returns the alloc."""
    err, msg, al = alloc(s, 1, replicas)
    check(err == 0, "alloc: %d %s" % (err, msg))
    a = al[0]
    err, msg, stored, receipt = write(a, data)
    check(err == 0 and len(stored) == replicas, "write: %d %s %r" % (err, msg, stored))
    check(len(receipt) == 32, "no write receipt from chunkd: %r" % receipt)
    err, msg = commit(s, path, [chunk_info(a, data, stored, receipt)], len(data),
                      replicas=replicas)
    check(err == 0, "commit %s: %d %s" % (path, err, msg))
    return a, stored, receipt


def refused(what, err, msg, codes):
    check(err in codes, "%s: expected one of %r, got %d %r" % (what, codes, err, msg))
    check(msg and "\n" not in msg, "%s: no clear one-line message: %r" % (what, msg))


# --- the victim ---------------------------------------------------------------------

VICTIM = {}  # remote path -> sha256


def victim_intact(c):
    """bob's files byte-identical, each chunk with its two replicas known and live."""
    for path, digest in VICTIM.items():
        c.get_check(path, digest)
        s = Session(c.meta, token=c.tokens["bob"])
        try:
            for ch in getfile(s, path):
                check(ch["replicas"] == 2 and ch["all"] == 2,
                      "%s chunk %d: %d live of %d known replicas (want 2)" %
                      (path, ch["id"], ch["replicas"], ch["all"]))
        finally:
            s.close()


def t_setup(c):
    for u in ("alice", "bob", "mallory"):
        c.register(u, PW[u])
        c.login(u, PW[u])
    for name, size in (("one", 300 * 1024), ("big", 3 * MiB + 17)):
        local = c.scratch("bob-" + name)
        harness.make_file(local, size, rng.randrange(1 << 31))
        c.dfs_as_ok("bob", "put", "--replicas", "2", local, "/home/bob/" + name)
        VICTIM["/home/bob/" + name] = harness.sha256_file(local)
    # a shared directory (like /tmp, without the sticky bit) for the rename case
    c.dfs_ok("mkdir", "/shared")
    c.dfs_ok("chmod", "777", "/shared")
    local = c.scratch("bob-shared")
    harness.make_file(local, 5000, rng.randrange(1 << 31))
    c.dfs_as_ok("bob", "put", "--replicas", "2", local, "/shared/bob.txt")
    c.dfs_as_ok("bob", "chmod", "644", "/shared/bob.txt")
    VICTIM["/shared/bob.txt"] = harness.sha256_file(local)
    victim_intact(c)


def t_commit_foreign_ids(c):
    """Finding 1: ids allocated to someone else, ids ahead of the pool, retired ids."""
    bob = Session(c.meta, token=c.tokens["bob"])
    mal = Session(c.meta, token=c.tokens["mallory"])
    data = os.urandom(70000)
    # bob allocates a chunk and writes it; mallory tries to commit that id first
    err, msg, al = alloc(bob, 1)
    a = al[0]
    check(len(a["grant"]) == 40, "no commit grant in AllocRep: %r" % a["grant"])
    err, msg, stored, receipt = write(a, data)
    check(err == 0, "bob's write: %d %s" % (err, msg))
    for what, grant in (("without a grant", b""), ("with bob's grant", a["grant"]),
                        ("with a forged grant", os.urandom(40)), ("with a short grant", b"x" * 8)):
        err, msg = commit(mal, "/home/mallory/stolen", [chunk_info(a, data, stored, receipt, grant)],
                          len(data))
        refused("mallory commits bob's chunk " + what, err, msg, (EPERM,))
    # bob's commit of his own chunk still works, and reads back
    err, msg = commit(bob, "/home/bob/mine", [chunk_info(a, data, stored, receipt)], len(data))
    check(err == 0, "bob's own commit after the attack: %d %s" % (err, msg))
    VICTIM["/home/bob/mine"] = hashlib.sha256(data).hexdigest()
    # ids ahead of the pool: the next ids the leader will hand out
    err, msg, mine = alloc(mal, 1)
    ahead = [mine[0]["id"] + k for k in range(1, 40)]
    for cid in ahead[:5]:
        fake = dict(mine[0], id=cid)
        err, msg = commit(mal, "/home/mallory/ahead-%d" % cid,
                          [chunk_info(fake, data, [], b"", grant=mine[0]["grant"])], len(data))
        refused("commit of id %d ahead of the pool" % cid, err, msg, (EPERM,))
    # bob's next uploads (which take those ids) work
    for k in range(3):
        local = c.scratch("bob-next-%d" % k)
        harness.make_file(local, 1000 + k, rng.randrange(1 << 31))
        c.dfs_as_ok("bob", "put", "--replicas", "2", local, "/home/bob/next-%d" % k)
        VICTIM["/home/bob/next-%d" % k] = harness.sha256_file(local)
    # a chunk of a deleted file cannot be committed again, not even by its owner
    data2 = os.urandom(5000)
    a2, stored2, receipt2 = put_raw(mal, "/home/mallory/gone", data2)
    err, msg, _ = mal.call(MSG_DELETE, wire.msg((2, "/home/mallory/gone"), (4, rng.getrandbits(62) + 1)))
    check(err == 0, "delete: %d %s" % (err, msg))
    err, msg = commit(mal, "/home/mallory/again", [chunk_info(a2, data2, stored2, receipt2)],
                      len(data2))
    refused("re-commit of a deleted file's chunk", err, msg, (EEXIST,))
    check("deleted" in msg, "re-commit refusal does not say why: %r" % msg)
    bob.close()
    mal.close()
    victim_intact(c)


def t_phantom_locations(c):
    """Finding 2: locations only from chunkservers; replayed request ids; bad replicas."""
    mal = Session(c.meta, token=c.tokens["mallory"])
    bob = Session(c.meta, token=c.tokens["bob"])
    servers = [s["id"] for s in c.overview()["servers"]]
    # a commit naming servers the receipt does not cover
    data = os.urandom(9000)
    err, msg, al = alloc(mal, 1)
    a = al[0]
    err, msg, stored, receipt = write(a, data)
    check(err == 0, "write: %d %s" % (err, msg))
    extra = [s for s in servers if s not in stored][:1] or [99]
    err, msg = commit(mal, "/home/mallory/phantom", [chunk_info(a, data, stored, receipt,
                                                               servers=stored + extra)], len(data))
    refused("commit with a server the receipt does not name", err, msg, (EPERM,))
    err, msg = commit(mal, "/home/mallory/phantom", [chunk_info(a, data, stored, os.urandom(32))],
                      len(data))
    refused("commit with a forged receipt", err, msg, (EPERM,))
    # the honest commit, then the same request id with another body
    rid = rng.getrandbits(62) + 1
    err, msg = commit(mal, "/home/mallory/real", [chunk_info(a, data, stored, receipt)], len(data),
                      rid=rid)
    check(err == 0, "honest commit: %d %s" % (err, msg))
    before = getfile(mal, "/home/mallory/real")
    err, msg = commit(mal, "/home/mallory/real2", [chunk_info(a, data, stored, receipt)],
                      len(data), rid=rid)
    refused("request id replayed with another body", err, msg, (EINVAL,))
    check("request id" in msg, "replay refusal does not say why: %r" % msg)
    # the same id sent by another user (even with the same body) is not a retry either
    err, msg = commit(bob, "/home/mallory/real", [chunk_info(a, data, stored, receipt)],
                      len(data), rid=rid)
    refused("request id replayed by another user", err, msg, (EINVAL,))
    # a true retry is answered as before
    err, msg = commit(mal, "/home/mallory/real", [chunk_info(a, data, stored, receipt)], len(data),
                      rid=rid)
    check(err == 0, "true retry: %d %s" % (err, msg))
    check(getfile(mal, "/home/mallory/real") == before, "a replay changed the locations")
    # bad replica reports against bob's chunks
    bob_chunk = getfile(bob, "/home/bob/one")[0]["id"]
    for sid in servers:
        for what, path, codes in (("without a path", "", (EINVAL,)),
                                  ("naming bob's file", "/home/bob/one", (EPERM,)),
                                  ("naming her own file", "/home/mallory/real", (ENOENT,))):
            err, msg, _ = mal.call(MSG_BAD_REPLICA, wire.msg((2, bob_chunk), (3, sid),
                                                             (4, "rotten\ninjected log line"),
                                                             (5, path)))
            refused("bad replica report %s" % what, err, msg, codes)
    # her own chunk, many times: accepted at a bounded rate, and only verified
    mine = getfile(mal, "/home/mallory/real")[0]
    sid = stored[0]
    ok = busy = 0
    for _ in range(80):
        err, msg, _ = mal.call(MSG_BAD_REPLICA, wire.msg(
            (2, mine["id"]), (3, sid), (4, "\x1b[31mFAKE ERROR\nmetad: forged line"),
            (5, "/home/mallory/real")))
        ok += err == 0
        busy += err == EBUSY
    check(ok >= 1 and busy >= 1 and ok + busy == 80,
          "80 reports: %d accepted, %d rate-limited (want both)" % (ok, busy))
    log = c.metad.log_text()
    check("metad: forged line" not in log.replace("\\x0ametad: forged line", ""),
          "a client's reason forged a line in metad's log")
    check("\x1b[31m" not in log, "a client's reason put a terminal escape into metad's log")
    time.sleep(1.5)  # the verify order goes out with the next heartbeat: the copy is good
    check(getfile(mal, "/home/mallory/real")[0]["all"] == 2,
          "a report of a good replica dropped it")
    mal.close()
    bob.close()
    victim_intact(c)


def deep_path(root, levels):
    return root + "".join("/d" for _ in range(levels))


def t_depth(c):
    """Finding 3: mkdir, copy and rename are bounded in depth; metad survives replay."""
    mal = Session(c.meta, token=c.tokens["mallory"])
    base = "/home/mallory"  # depth 2
    err, msg, _ = mal.call(MSG_MKDIR, wire.msg((2, deep_path(base + "/t1", 998)), (3, True)))
    refused("mkdir -p to 1001 levels", err, msg, (EBADPATH,))
    err, msg, _ = mal.call(MSG_MKDIR, wire.msg((2, deep_path(base + "/t1", 997)), (3, True)))
    check(err == 0, "mkdir -p to 1000 levels: %d %s" % (err, msg))
    err, msg, _ = mal.call(MSG_MKDIR, wire.msg((2, deep_path(base + "/t2", 500)), (3, True)))
    check(err == 0, "mkdir -p to 503 levels: %d %s" % (err, msg))
    for what, mtype, p in (
            ("cp -r of a 998-level tree under a 503-level one", MSG_COPY,
             wire.msg((2, base + "/t1"), (3, deep_path(base + "/t2", 500) + "/x"), (4, True))),
            ("mv of a 998-level tree under a 503-level one", MSG_RENAME,
             wire.msg((2, base + "/t1"), (3, deep_path(base + "/t2", 500) + "/x"))),
            ("cp -r of the tree one level deeper", MSG_COPY,
             wire.msg((2, base + "/t1"), (3, base + "/t3/t1"), (4, True)))):
        if "deeper" in what:
            mal.call(MSG_MKDIR, wire.msg((2, base + "/t3")))
        err, msg, _ = mal.call(mtype, p + wire.f_varint(6 if mtype == MSG_COPY else 5,
                                                         rng.getrandbits(62) + 1))
        refused(what, err, msg, (EINVAL,))
        check("deep" in msg, "%s: the refusal does not say why: %r" % (what, msg))
    # a copy that fits is done (the deepest legal tree, walked by copy and delete)
    err, msg, _ = mal.call(MSG_COPY, wire.msg((2, base + "/t1"), (3, base + "/t4"), (4, True),
                                              (6, rng.getrandbits(62) + 1)))
    check(err == 0, "cp -r of the 1000-level tree beside itself: %d %s" % (err, msg))
    err, msg, _ = mal.call(MSG_DELETE, wire.msg((2, base + "/t4"), (3, True),
                                                (4, rng.getrandbits(62) + 1)))
    check(err == 0, "rm -r of the copy: %d %s" % (err, msg))
    mal.close()
    victim_intact(c)


def t_huge_commit(c):
    """Finding 5: a 30 MiB commit of junk chunk entries is refused before the log."""
    raft_dir = harness.chunkd_data_dir(c.metad)
    before = harness.dir_size(raft_dir)
    mal = Session(c.meta, token=c.tokens["mallory"], timeout=60)
    entry = wire.f_bytes(8, wire.msg((1, 1), (2, 1)))  # chunk 1, version 1, length 0
    n = (30 * MiB) // len(entry)
    p = wire.msg((2, "/home/mallory/huge"), (3, 0), (7, rng.getrandbits(62) + 1)) + entry * n
    err, msg, _ = mal.call(MSG_LIST, wire.msg((2, "/home/mallory")))  # authenticates the
    check(err == 0, "list: %d %s" % (err, msg))  # connection (before it, frames are small)
    t0 = time.time()
    err, msg, _ = mal.call(MSG_COMMIT, p)
    took = time.time() - t0
    refused("30 MiB commit of %d empty chunks" % n, err, msg, (EINVAL,))
    grew = harness.dir_size(raft_dir) - before
    check(grew < 4 * MiB, "the refused commit still grew metad's log by %d bytes" % grew)
    check(took < 1.5, "refusing it took %.2f s of metad's loop" % took)
    print("    refused in %.2f s (%s); metad's data grew by %d bytes" % (took, msg, grew))
    # a commit just under the limit of entries but each entry junk: refused, not logged
    n = 200000
    p = wire.msg((2, "/home/mallory/huge2"), (3, 0), (7, rng.getrandbits(62) + 1)) + entry * n
    err, msg, _ = mal.call(MSG_COMMIT, p)
    refused("commit of %d empty chunks" % n, err, msg, (EINVAL,))
    check(harness.dir_size(raft_dir) - before < 4 * MiB, "a refused commit grew metad's log")
    c.wait_registered(len(c.chunkds))
    mal.close()
    victim_intact(c)


def t_alloc_flood(c):
    """Finding 6: one user's allocation flood does not starve the others."""
    mal = Session(c.meta, token=c.tokens["mallory"])
    got = 0
    for i in range(200):
        err, msg, al = alloc(mal, 256, 3)
        if err:
            refused("allocation flood", err, msg, (EBUSY,))
            break
        got += len(al)
    check(err == EBUSY, "200 x 256 allocations never refused (%d chunks)" % got)
    print("    mallory got %d chunks in flight before being refused: %s" % (got, msg))
    for k in range(2):
        local = c.scratch("bob-after-flood-%d" % k)
        harness.make_file(local, 2 * MiB + k, rng.randrange(1 << 31))
        c.dfs_as_ok("bob", "put", "--replicas", "2", local, "/home/bob/after-flood-%d" % k)
        VICTIM["/home/bob/after-flood-%d" % k] = harness.sha256_file(local)
    mal.close()
    victim_intact(c)


def t_search_leak(c):
    """Finding 7: search's scanned count covers only what the caller may see; floods are
    bounded."""
    c.dfs_as_ok("bob", "mkdir", "/home/bob/secret-project")
    for k in range(5):
        c.dfs_as_ok("bob", "touch", "/home/bob/secret-project/plan-%d" % k)
    mal = Session(c.meta, token=c.tokens["mallory"])
    err, msg, rep = mal.call(MSG_SEARCH, wire.msg((2, "plan"), (3, "/")))
    check(err == 0, "search: %d %s" % (err, msg))
    check(not rep.get(2) and wire.one(rep, 4) == 0,
          "search as mallory reveals bob's names: %d hits, scanned %d" %
          (len(rep.get(2, [])), wire.one(rep, 4)))
    # a search flood spends mallory's scan budget (limits.scan_rate=1000 names/s here)
    codes = []
    for _ in range(20):
        err, msg, _ = mal.call(MSG_SEARCH, wire.msg((2, "plan"), (3, "/")))
        codes.append(err)
        if err:
            refused("search flood", err, msg, (EBUSY,))
            check("retry in" in msg, "no retry time: %r" % msg)
            break
    check(EBUSY in codes, "20 whole-namespace searches in a row were never refused")
    # bob's searches are his own budget
    bob = Session(c.meta, token=c.tokens["bob"])
    err, msg, rep = bob.call(MSG_SEARCH, wire.msg((2, "plan"), (3, "/home/bob")))
    check(err == 0 and len(rep.get(2, [])) == 5, "bob's search during the flood: %d %s" % (err, msg))
    bob.close()
    mal.close()
    victim_intact(c)


def t_mv_over_foreign_file(c):
    """Finding 13: replacing a file by rename needs write permission on it."""
    local = c.scratch("mal-shared")
    harness.make_file(local, 100, 7)
    c.dfs_as_ok("mallory", "put", local, "/shared/mal.txt")
    mal = Session(c.meta, token=c.tokens["mallory"])
    err, msg, _ = mal.call(MSG_RENAME, wire.msg((2, "/shared/mal.txt"), (3, "/shared/bob.txt"),
                                                (4, True), (5, rng.getrandbits(62) + 1)))
    refused("mv over bob's read-only file", err, msg, (EPERM,))
    mal.close()
    victim_intact(c)


def t_chunk_files_private(c):
    """Finding 11 (disk side): chunk files, volume files of small chunks and their
    directories are not world- or group-readable."""
    n = 0
    for d in c.chunkds:
        for sub in ("chunks", "vol"):
            root = os.path.join(harness.chunkd_data_dir(d), sub)
            for dirpath, _, files in os.walk(root):
                check(os.stat(dirpath).st_mode & 0o077 == 0, "%s is open to others" % dirpath)
                for f in files:
                    m = os.stat(os.path.join(dirpath, f)).st_mode
                    check(m & 0o077 == 0, "chunk file %s has mode %o" % (f, m & 0o777))
                    n += 1
    check(n > 0, "no chunk files found")


def t_replay_after_crash(c):
    """Every attack above is in the log: kill -9 and restart replays it all."""
    c.metad.kill9()
    c.restart(c.metad)
    c.wait_registered(len(c.chunkds))
    deadline = time.time() + 30
    while True:  # locations come back with the chunkservers' inventories
        try:
            victim_intact(c)
            break
        except harness.TestFailure:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    rc, out, _ = c.dfs_as("mallory", "ls", "/home/mallory")
    check(rc == 0, "mallory's home after the restart: %d" % rc)


def main(r):
    with r.cluster(chunkservers=3, name="adv-metad", auth=True,
                   metad_args=("--set", "limits.allocs_in_flight=1024",
                               "--set", "limits.bad_replica_reports=20",
                               "--set", "limits.scan_rate=1000")) as c:
        if not r.case("setup: three users, bob's files", t_setup, c):
            return
        r.case("1: commit of ids not allocated to the caller, ahead of the pool, retired",
               t_commit_foreign_ids, c)
        r.case("2: phantom locations, replayed request ids, bad replica reports",
               t_phantom_locations, c)
        r.case("3: depth bounded on mkdir, copy, rename", t_depth, c)
        r.case("5: a huge junk commit is refused before the log", t_huge_commit, c)
        r.case("6: allocation flood", t_alloc_flood, c)
        r.case("7: search reveals nothing unreadable; search floods are bounded", t_search_leak, c)
        r.case("13: mv over another user's file", t_mv_over_foreign_file, c)
        r.case("11: chunk files are private to chunkd", t_chunk_files_private, c)
        r.case("kill -9 of metad replays every attack", t_replay_after_crash, c)


if __name__ == "__main__":
    harness.run(main)
