#!/usr/bin/env python3
"""Recovery measurements of issue 5 (run by `scripts/fault --measure`): on a local cluster
of 5 chunkservers with copy.max_bytes_per_s = THROTTLE:
 1 time to restore full replication after kill -9 of a chunkserver holding ~GIB GiB
   (goal-2 files, so every chunk it held is left with one copy: this is also the time to
   repair chunks left with one copy), measured from the kill (includes the dead timeout);
 2 the put throughput of a concurrent client during that re-replication vs. before it
   (medians of several puts; the ratio);
 3 scrubber throughput (from the chunkds' own per-pass log lines).
Env/args: --gib G (2), --throttle BYTES/s (64M), --seed N. Prints one line per number."""

import argparse
import os
import random
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import MiB, GiB, harness, check  # noqa: E402,F401


def under_counts(c, files):
    """(chunks below goal, chunks with <= 1 live replica) from GetFile only."""
    under = one = 0
    for path, goal in files.items():
        err, chunks = fl.get_file(c, path)
        check(err == 0, "GetFile %s: %s" % (path, chunks))
        for ch in chunks:
            n = len(ch["replicas"])
            under += n < (ch["goal"] or goal)
            one += n <= 1
    return under, one


def timed_put(c, local, remote):
    size = os.path.getsize(local)
    t0 = time.time()
    c.dfs_ok("put", local, remote, "--replicas", 2, timeout=900)
    return size / MiB / (time.time() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--throttle", default="64M")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("DFS_FAULT_SEED") or
                                                    random.randrange(1 << 31)))
    ap.add_argument("--put-mib", type=int, default=128)
    a = ap.parse_args()
    print("seed %d (--seed %d replays it); throttle copy.max_bytes_per_s=%s" % (
        a.seed, a.seed, a.throttle), flush=True)
    rng = random.Random(a.seed)
    servers = 5
    with harness.Cluster(chunkservers=servers, name="measure", heartbeat="200ms",
                         dead_timeout="1500ms",
                         metad_args=("--set", "replication.job_timeout=30s"),
                         chunkd_args=("--set", "copy.max_bytes_per_s=" + a.throttle,
                                      "--set", "scrub.interval=1s", "--set", "scrub.rate=100G",
                                      "--set", "data.reserve=0")) as c:
        # goal 2 over 5 servers: each holds 2/5 of the data; write enough for ~GIB on one
        total = int(a.gib * GiB * servers / 2)
        piece = 256 * MiB
        files = {}
        c.dfs_ok("mkdir", "-p", "/m")
        local = c.scratch("piece")
        i = 0
        t0 = time.time()
        while i * piece < total:
            harness.make_file(local, piece, rng.randrange(1 << 31), quiet=True)
            c.dfs_ok("put", local, "/m/p%03d" % i, "--replicas", 2, timeout=900)
            files["/m/p%03d" % i] = 2
            i += 1
        print("wrote %.2f GiB in %d files (%.0f MiB/s)" % (i * piece / GiB, i,
              i * piece / MiB / (time.time() - t0)), flush=True)
        put_local = c.scratch("client")
        harness.make_file(put_local, a.put_mib * MiB, rng.randrange(1 << 31), quiet=True)
        base = [timed_put(c, put_local, "/base%d" % k) for k in range(3)]
        for k in range(3):
            c.dfs_ok("rm", "/base%d" % k)
        # scrubber: at least one full pass has been logged by now on most servers
        time.sleep(3)
        rates = []
        for d in c.chunkds:
            for mo in re.finditer(r"([0-9.]+) MiB/s", d.log_text()):
                if "scrub" in d.log_text()[max(0, mo.start() - 200):mo.start()]:
                    rates.append(float(mo.group(1)))
        victim = max(c.chunkds, key=lambda d: harness.dir_size(fl.data_dir(d)))
        held = (harness.dir_size(os.path.join(fl.data_dir(victim), "chunks"))
                + harness.dir_size(os.path.join(fl.data_dir(victim), "vol")))
        under0 = None
        t_kill = time.time()
        victim.kill9()
        c.wait_dead(victim)
        during = []
        k = 0
        t_one = t_full = None
        while time.time() - t_kill < 3600:
            under, one = under_counts(c, files)
            under0 = under if under0 is None else under0
            now = time.time() - t_kill
            if one == 0 and t_one is None:
                t_one = now
            if under == 0:
                t_full = now
                break
            if len(during) < 3 and under > under0 // 4:
                during.append(timed_put(c, put_local, "/during%d" % k))
                k += 1
            time.sleep(0.5)
        print("victim %s held %.2f GiB (%d chunks below goal after the kill)" % (
            victim.name, held / GiB, under0 or 0))
        print("time to restore full replication: %s s (throttle %s/s per chunkserver)" % (
            "%.1f" % t_full if t_full else "NOT RESTORED", a.throttle))
        print("time to repair chunks left with one copy: %s s" % (
            "%.1f" % t_one if t_one else "NOT REPAIRED"))
        if t_full:
            print("re-replication rate: %.0f MiB/s" % (held / MiB / t_full))
        mb, md = statistics.median(base), (statistics.median(during) if during else None)
        print("client put throughput: %.0f MiB/s before, %s during re-replication%s" % (
            mb, "%.0f MiB/s" % md if md else "n/a",
            " (ratio %.2f)" % (md / mb) if md else ""))
        print("scrubber throughput: %s" % (
            "median %.0f MiB/s over %d passes" % (statistics.median(rates), len(rates))
            if rates else "no scrub pass logged"), flush=True)
        c.restart(victim)


if __name__ == "__main__":
    main()
