"""Data integrity with real daemons: a corrupt replica (bytes flipped in the chunk file on
disk) is detected by CRC and the read goes to the good replica; with every replica of a
chunk corrupt, get fails with exit 1 and leaves no partial or temporary file; concurrent
clients; and metad recovery from snapshots plus log after kill -9 (tiny snapshot
threshold so the restart really loads a snapshot)."""

import concurrent.futures
import glob
import json
import os
import time

import harness
from harness import MiB, check


def chunk_files(d):
    """Chunk files of chunkd d: data.dir/chunks/XX/<016x id>.<version>."""
    data_dir = d.argv[d.argv.index("--dir") + 1]
    return sorted(p for p in glob.glob(os.path.join(data_dir, "chunks", "*", "*"))
                  if os.path.isfile(p))


def corrupt(path, offset=4096 + 1000):
    """Flips one byte of the chunk data (after the 4096-byte header)."""
    offset = max(4096, min(offset, os.path.getsize(path) - 1))
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        check(len(b) == 1, "chunk file %s too short to corrupt" % path)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def one_replica_corrupt(c):
    before = {d.name: set(chunk_files(d)) for d in c.chunkds}
    local = c.scratch("a")
    dig = harness.make_file(local, 5 * MiB + 3, seed=1100)
    c.dfs_ok("put", local, "/a", "--replicas", 2)
    new = [p for p in chunk_files(c.chunkds[0]) if p not in before[c.chunkds[0].name]]
    check(len(new) == 6, "expected 6 new chunk files on %s, found %d" % (c.chunkds[0].name,
                                                                        len(new)))
    for p in new:
        corrupt(p)
    c.get_check("/a", dig)          # every chunk: bad CRC on one replica, read the other
    c.get_check("/a", dig)


def settled(c, timeout=30):
    """Waits until metad repaired what the last case broke (no chunk under its goal, no
    copy job): copies still landing would count as this case's new chunk files."""
    deadline, calm_since = time.time() + timeout, None
    while True:
        s = json.loads(c.dfs_ok("admin", "status", "--json"))
        if (s["under_replicated"] == 0 and s["copy_jobs_running"] == 0
                and s["copy_jobs_queued"] == 0 and s["corrupt"] == 0):
            # and stays so for a second: a replica the last read found bad reaches metad
            # a heartbeat or two later (verify order, then the chunkserver's report)
            calm_since = calm_since or time.time()
            if time.time() - calm_since >= 1.0:
                return
        else:
            calm_since = None
        check(time.time() < deadline, "replication did not settle: %r" % s)
        time.sleep(0.1)


def all_replicas_corrupt(c):
    settled(c)
    before = {d.name: set(chunk_files(d)) for d in c.chunkds}
    local = c.scratch("b")
    harness.make_file(local, 5 * MiB + 3, seed=1200)
    c.dfs_ok("put", local, "/b", "--replicas", 2)
    for d in c.chunkds:
        new = [p for p in chunk_files(d) if p not in before[d.name]]
        check(len(new) == 6, "expected 6 new chunk files on %s, found %d" % (d.name, len(new)))
        corrupt(new[3], offset=4096 + 70000)   # the same chunk (same id) everywhere
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
