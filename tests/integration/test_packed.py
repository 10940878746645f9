#!/usr/bin/env python3
"""Small chunks packed into volume files (chunkd data.pack_max, src/chunkd/volumes.c) on
real daemons: the same guarantees as chunk files.

  - kill -9 during a batch of small puts: a chunkserver killed mid-batch and then every
    chunkserver killed at once; every file the batch acknowledged reads back byte-exact,
    and the replicas are whole again (no corrupt, none under goal);
  - a corrupt packed replica (a flipped byte in a volume) is found by the scrubber,
    quarantined, reported and re-replicated from the good copy;
  - deleted small files: their records die and a mostly-dead volume is compacted (its
    file deleted), the files that stay read back, also after a restart; also with
    scrubbing off;
  - a packed record damaged (its header wiped) in a sealed volume that is compacted
    before anything reads it (scrubbing off): the chunk is reported lost, not kept in
    the index pointing at a deleted volume, and metad copies it back from the good
    replica (a soak found it "not on this server" for good);
  - data.pack_max=0 stores a file per chunk, as before packing."""

import json
import os
import subprocess
import time

import harness
from harness import check

SCRUB = ("--set", "scrub.interval=1s", "--set", "scrub.bytes_per_s=64M")


def replicas(d):
    return harness.chunk_replicas(harness.chunkd_data_dir(d))


def make_tree(c, name, n, seed):
    """n files of 0..60 KiB in a local directory; returns (dir, {name: sha256})."""
    top = c.scratch(name)
    os.makedirs(top, exist_ok=True)
    digests = {}
    for i in range(n):
        size = (i * 7919 + seed) % (60 << 10) if i % 10 else i % 3
        digests["f%04d" % i] = harness.make_file(os.path.join(top, "f%04d" % i), size,
                                                 seed=seed * 1000 + i, quiet=True)
    return top, digests


def kill_during_batch(c):
    top, digests = make_tree(c, "batch", 3000, 5)
    c.dfs_ok("mkdir", "/batch")
    argv = [os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "put", "-r", top, "/batch/t"]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=c.user_env(None))
    victim = c.chunkds[0]
    deadline = time.time() + 60
    while True:  # kill once the batch is under way
        rc, out, _ = c.dfs("ls", "/batch/t")
        if rc == 0 and len(out.split()) >= 100:
            break
        check(p.poll() is None, "the batch finished before the kill (too fast?): %r" %
              (p.communicate(),))
        check(time.time() < deadline, "the batch never got going")
        time.sleep(0.01)
    victim.kill9()
    out, err = p.communicate(timeout=300)
    print("    batch: exit %d, %s" % (p.returncode, (out + err).strip().splitlines()[-1:]),
          flush=True)
    c.restart(victim)
    for d in c.chunkds:  # every chunkserver at once, as a power cut would (page cache aside)
        d.kill9()
    for d in c.chunkds:
        c.restart(d, wait=False)
    for d in c.chunkds:
        c.wait_alive(d)
    listed = set(x.rstrip("/") for x in c.dfs_ok("ls", "/batch/t").split())
    failed = set(l.split(":")[1].strip().split("/")[-1] for l in err.splitlines()
                 if l.startswith("dfs: put:") and "/batch/t/" in l)
    check(listed, "no file of the batch was committed")
    check(not (listed & failed), "files reported failed are listed: %s" % sorted(listed & failed)[:5])
    if p.returncode == 0:
        check(listed == set(digests), "exit 0 but %d of %d files listed" % (len(listed),
                                                                           len(digests)))
    back = c.scratch("batch-back")
    c.dfs_ok("get", "-r", "/batch/t", back)
    for name in listed:
        got = harness.sha256_file(os.path.join(back, name))
        check(got == digests[name], "%s: acknowledged file reads back wrong" % name)
    harness.wait_replication_settled(c, timeout=60)
    print("    %d files acknowledged and intact after kill -9 mid-batch and of every chunkd; "
          "%d failed and were reported" % (len(listed), len(failed)), flush=True)


def corrupt_packed_repaired(c):
    harness.wait_replication_settled(c, timeout=60)
    local = c.scratch("small")
    dig = harness.make_file(local, 3000, seed=77)
    before = {d.name: set(r.key for r in replicas(d)) for d in c.chunkds}
    c.dfs_ok("put", local, "/small", "--replicas", 2)
    holders = [(d, r) for d in c.chunkds for r in replicas(d) if r.key not in before[d.name]]
    check(all(r.packed and r.length == 3000 for _, r in holders),
          "the 3000-byte chunk should be packed: %r" % holders)
    check(len(holders) == 2, "expected 2 packed replicas of /small, found %r" % holders)
    d, r = holders[0]
    r.corrupt(offset=1234)
    deadline = time.time() + 30
    while "block CRC mismatch" not in d.log_text():
        check(time.time() < deadline, "the scrubber did not find the corrupt packed chunk")
        time.sleep(0.2)
    harness.wait_replication_settled(c, timeout=60)
    good = [x for dd in c.chunkds for x in replicas(dd) if x.id == r.id]
    check(len(good) == 2, "after repair %d replicas of the chunk, expected 2: %r" % (len(good), good))
    for x in good:
        with open(x.path, "rb") as f:
            f.seek(x.data_off)
            data = f.read(x.length)
        check(harness.wire.crc32c(data) == harness.wire.crc32c(open(local, "rb").read()),
              "replica %r does not hold the file's bytes" % x)
    c.get_check("/small", dig)
    print("    corrupt packed replica on %s found by the scrubber and re-replicated" % d.name)


def compaction(c):
    harness.wait_replication_settled(c, timeout=60)
    top, digests = make_tree(c, "compact", 400, 9)
    for d in c.chunkds:  # the files go to new volumes (a start opens one)...
        c.restart(d)
    c.dfs_ok("put", "-r", top, "/cmp")
    for d in c.chunkds:  # ...which are sealed by the next start
        c.restart(d)
    before = {d.name: set(os.listdir(os.path.join(harness.chunkd_data_dir(d), "vol")))
              for d in c.chunkds}
    keep = sorted(digests)[::5]
    for name in sorted(set(digests) - set(keep)):
        c.dfs_ok("rm", "--skip-trash", "/cmp/%s" % name)
    def vols(d):
        return set(os.listdir(os.path.join(harness.chunkd_data_dir(d), "vol")))

    deadline = time.time() + 60
    while not all(before[d.name] - vols(d) for d in c.chunkds):  # a sealed volume went
        check(time.time() < deadline, "no volume file deleted by compaction within 60 s: %s" % [
            (d.name, sorted(before[d.name]), sorted(vols(d))) for d in c.chunkds])
        time.sleep(0.3)
    for d in c.chunkds:
        check("compacted volume" in d.log_text(), "%s logged no compaction" % d.name)
    for round in range(2):
        back = c.scratch("compact-back-%d" % round)
        c.dfs_ok("get", "-r", "/cmp", back)
        got = sorted(os.listdir(back))
        check(got == keep, "after compaction %d files, expected %d" % (len(got), len(keep)))
        for name in keep:
            check(harness.sha256_file(os.path.join(back, name)) == digests[name],
                  "%s reads back wrong after compaction" % name)
        for d in c.chunkds:
            c.restart(d)
    harness.wait_replication_settled(c, timeout=60)
    print("    %d of %d files deleted, volumes compacted on every chunkserver, %d read back "
          "before and after a restart" % (len(digests) - len(keep), len(digests), len(keep)))


def damaged_then_compacted(c):
    harness.wait_replication_settled(c, timeout=60)
    top, digests = make_tree(c, "damage", 300, 5)
    for d in c.chunkds:  # the files go to new volumes...
        c.restart(d)
    c.dfs_ok("put", "-r", top, "/dmg", "--replicas", 2)
    for d in c.chunkds:  # ...which the next start seals
        c.restart(d)
    keep = sorted(digests)[::6]
    victim = next(n for n in keep if os.path.getsize(os.path.join(top, n)) > 1000)
    info = json.loads(c.dfs_ok("info", "--json", "/dmg/" + victim))
    cid = info["chunks_detail"][0]["chunk_id"]
    held = [(d, r) for d in c.chunkds for r in replicas(d) if r.id == cid]
    check(len(held) == 2 and all(r.packed for _, r in held),
          "%s's chunk should have 2 packed replicas: %r" % (victim, held))
    d, r = held[0]
    r.destroy()  # header wiped: the volume's walk can no longer read this record
    for name in sorted(set(digests) - set(keep)):
        c.dfs_ok("rm", "--skip-trash", "/dmg/%s" % name)
    deadline = time.time() + 60
    while os.path.exists(r.path):
        check(time.time() < deadline, "%s did not compact %s within 60 s" % (d.name, r.path))
        time.sleep(0.3)
    deadline = time.time() + 60
    while True:  # the record's gone with its volume: metad must learn it and copy it back
        now = [(dd.name, x) for dd in c.chunkds for x in replicas(dd) if x.id == cid]
        if len(now) == 2:
            break
        check(time.time() < deadline, "60 s after compaction %d replicas of the chunk on disk, "
              "expected 2 (the lost one copied back): %r" % (len(now), now))
        time.sleep(0.3)
    check("reporting the replica as lost" in d.log_text(), "%s did not log the lost record"
          % d.name)
    harness.wait_replication_settled(c, timeout=60)
    c.get_check("/dmg/" + victim, digests[victim])
    print("    a record wiped before its volume was compacted: %s reported it lost and it "
          "is back at 2 replicas" % d.name)


def pack_off(c):
    local = c.scratch("tiny")
    dig = harness.make_file(local, 100, seed=3)
    c.dfs_ok("put", local, "/tiny")
    reps = [r for d in c.chunkds for r in replicas(d)]
    check(reps and not any(r.packed for r in reps), "data.pack_max=0 still packed: %r" % reps)
    c.get_check("/tiny", dig)


def main(t):
    with t.cluster(chunkservers=3, name="packed", chunkd_args=SCRUB) as c:
        t.case("kill -9 during a batch of small puts loses no acknowledged file",
               kill_during_batch, c)
        t.case("a corrupt packed replica is found, quarantined and re-replicated",
               corrupt_packed_repaired, c)
        t.case("deleted small files: mostly-dead volumes compacted, the rest intact",
               compaction, c)
    with t.cluster(chunkservers=3, name="packed-noscrub",
                   chunkd_args=("--set", "scrub.bytes_per_s=0")) as c:
        t.case("scrubbing off (scrub.bytes_per_s=0): volumes are still compacted",
               compaction, c)
        t.case("a packed record damaged before its volume is compacted is reported lost "
               "and copied back", damaged_then_compacted, c)
    with t.cluster(chunkservers=2, name="unpacked",
                   chunkd_args=("--set", "data.pack_max=0")) as c:
        t.case("data.pack_max=0: a file per chunk", pack_off, c)


if __name__ == "__main__":
    harness.run(main)
