"""Data integrity with real daemons: a corrupt replica (bytes flipped in the chunk file on
disk) is detected by CRC and the read goes to the good replica; with every replica of a
chunk corrupt, get fails with exit 1 and leaves no partial or temporary file; concurrent
clients; and metad recovery from snapshots plus log after kill -9 (tiny snapshot
threshold so the restart really loads a snapshot)."""

import concurrent.futures
import os
import time

import harness
from harness import MiB, check


def replicas(d):
    """Chunk replicas of chunkd d (files, and small chunks packed in volume files)."""
    return harness.chunk_replicas(harness.chunkd_data_dir(d))


def new_replicas(d, before):
    return [r for r in replicas(d) if r.key not in before[d.name]]


def one_replica_corrupt(c):
    before = {d.name: set(r.key for r in replicas(d)) for d in c.chunkds}
    local = c.scratch("a")
    dig = harness.make_file(local, 5 * MiB + 3, seed=1100)
    c.dfs_ok("put", local, "/a", "--replicas", 2)
    new = new_replicas(c.chunkds[0], before)
    check(len(new) == 6, "expected 6 new chunk replicas on %s, found %d" % (c.chunkds[0].name,
                                                                           len(new)))
    check(sum(r.packed for r in new) == 1, "the 3-byte last chunk should be packed: %r" % new)
    for r in new:
        r.corrupt()         # the packed 3-byte chunk too
    c.get_check("/a", dig)          # every chunk: bad CRC on one replica, read the other
    c.get_check("/a", dig)


def all_replicas_corrupt(c):
    harness.wait_replication_settled(c)
    before = {d.name: set(r.key for r in replicas(d)) for d in c.chunkds}
    local = c.scratch("b")
    harness.make_file(local, 5 * MiB + 3, seed=1200)
    c.dfs_ok("put", local, "/b", "--replicas", 2)
    for d in c.chunkds:
        new = new_replicas(d, before)
        check(len(new) == 6, "expected 6 new chunk replicas on %s, found %d" % (d.name, len(new)))
        new[3].corrupt(offset=70000)   # the same chunk (same id) everywhere
    out_dir = c.scratch("getdir")
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, "b.out")
    line = c.dfs_fails("get", "/b", target)
    left = os.listdir(out_dir)
    check(not left, "a failed get left files behind: %r" % left)
    print("    get failed as it should: %s" % line)


def concurrent_clients(c):
    def one(i):
        local = c.scratch("cc-%d" % i)
        dig = harness.make_file(local, 3 * MiB + i, seed=1300 + i, quiet=True)
        c.dfs_ok("put", local, "/cc-%d" % i)
        os.unlink(local)
        c.get_check("/cc-%d" % i, dig, back=c.scratch("cc-%d.back" % i))
        return i

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        done = list(ex.map(one, range(16)))
    check(len(done) == 16, "only %d of 16 clients finished" % len(done))


def snapshot_recovery(c):
    c.dfs_ok("mkdir", "/s")
    n = 150 if harness.SANITIZED else 300
    for i in range(n):
        c.dfs_ok("mkdir", "/s/d%04d" % i)
    digests = {}
    for i in range(4):
        digests["/s/f%d" % i] = c.roundtrip(MiB * i + 11, "/s/f%d" % i, seed=1400 + i)
    c.dfs_ok("rm", "/s/d0000")

    def verify(when):
        names = set(x.rstrip("/") for x in c.dfs_ok("ls", "/s").split())
        want = set("d%04d" % i for i in range(1, n)) | set("f%d" % i for i in range(4))
        check(names == want, "%s: /s has %d entries, expected %d (missing %s, extra %s)" % (
            when, len(names), len(want), sorted(want - names)[:5], sorted(names - want)[:5]))
        for r, dig in digests.items():
            c.get_check(r, dig)

    c.restart(c.metad)                 # kill -9, start again on the same data
    verify("after kill -9")
    check(c.metad.terminate() is None, "metad did not stop cleanly on SIGTERM")
    c.metad.start()
    c.wait_registered(c.live_expected())
    time.sleep(1.0)
    verify("after SIGTERM and a restart")
    c.dfs_ok("mkdir", "/s/d0000")      # and it still takes writes
    c.restart(c.metad)
    check("d0000" in c.dfs_ok("ls", "/s").split() or "d0000/" in c.dfs_ok("ls", "/s").split(),
          "mkdir after recovery lost")


def main(t):
    with t.cluster(chunkservers=2, name="integrity") as c:
        t.case("one corrupt replica per chunk: CRC catches it, get is intact",
               one_replica_corrupt, c)
        t.case("every replica of a chunk corrupt: exit 1, no partial/temp file",
               all_replicas_corrupt, c)
        t.case("16 concurrent clients put and get", concurrent_clients, c)
    with t.cluster(chunkservers=3, name="snapshot",
                   metad_args=["--set", "raft.snapshot_threshold=64",
                               "--set", "raft.snapshot_trailing=32"]) as c:
        t.case("metad recovers from snapshot + log after kill -9 and after SIGTERM",
               snapshot_recovery, c)


if __name__ == "__main__":
    harness.run(main)
