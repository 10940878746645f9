#!/usr/bin/env python3
"""Space accounting after faults (issue 13): the causes the soak with seed 1970139676
found, as deterministic cases on a small cluster (3 chunkservers with 40M disks).
 1 a burst of uploads killed mid-way: the space metad promised them shows in
   `dfs admin status` (per server and in total), the next put succeeds at once (promised
   space ranks servers, it never makes them full), and every promise is gone within
   placement.promise_ttl plus a heartbeat (the stated bound);
 2 a cluster that is really full refuses a put with one line that says how many servers
   are full, draining and dead and what to do, and accepts puts again within a few
   heartbeats of space being freed;
 3 a draining server whose chunks have nowhere to go keeps them (readable, listed) and
   "no space" names the draining server; once it is back with a good disk, puts work;
 4 a file of more chunks than limits.allocs_in_flight uploads: chunks count as in flight
   until a chunkserver reports them written (within 500 ms of landing), not until the
   file's one commit, and the CLI waits for its own writes instead of failing;
 5 an upload slower than gc.orphan_grace keeps its first chunks (its upload id stays alive
   while it writes: gc.upload_lease) and reads back;
 6 an upload stalled (SIGSTOP) for longer than the lease and the grace has its chunks
   collected as garbage, and its commit is refused with a clear line, never acknowledged
   for chunks that are gone."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import check, MiB, harness  # noqa: E402

HB, DEAD = "200ms", "5s"
PROMISE_TTL = 4.0  # seconds (placement.promise_ttl below)
METAD_ARGS = ("--set", "placement.promise_ttl=4s", "--set", "gc.orphan_grace=3s",
              "--set", "gc.upload_lease=1s")
CHUNKD_ARGS = ("--set", "data.capacity=40M", "--set", "data.reserve=0",
               "--set", "scrub.interval=1h")


def status(c):
    rc, out, err = c.dfs("admin", "status", "--json")
    check(rc == 0, "dfs admin status --json: %s" % err.strip())
    return json.loads(out)


def promised(c):
    return {s["id"]: s["promised_bytes"] for s in status(c)["servers"]}


def put_local(c, name, size, remote, goal=2):
    local = c.scratch(name)
    harness.make_file(local, size, seed=len(name) + size)
    return local, c.dfs("put", local, remote, "--replicas", goal, timeout=120)


def case_killed_uploads(c):
    """Promises of uploads killed mid-way are visible, never block the next put and end
    within placement.promise_ttl + a heartbeat."""
    locals_ = []
    for i in range(3):  # 3 x 30 MiB at goal 2 = 60 MiB promised per 40M server
        p = c.scratch("big-%d" % i)
        harness.make_file(p, 30 * MiB, seed=i)
        locals_.append(p)
    c.dfs_ok("mkdir", "-p", "/burst")
    for d in c.chunkds:  # writes hang; metad still answers Alloc
        d.stop()
    procs = []
    try:
        # --parallel 1: each put allocates its whole file at once (all of it promised)
        # but has one chunk in flight. What a killed put had already sent sits in the
        # stopped chunkservers' socket buffers and lands when they resume (an orphan
        # until gc.orphan_grace); with the default 8 in flight that was up to 37 MiB of
        # each 40M server, really full, and the next put's failure would not be about
        # promises at all.
        procs = [c.popen_dfs("put", p, "/burst/f%d" % i, "--replicas", 2, "--parallel", 1)
                 for i, p in enumerate(locals_)]
        deadline = time.time() + 3  # well inside chunkservers.dead_timeout (5 s)
        total = 0
        while time.time() < deadline:
            total = sum(promised(c).values())
            if total >= 3 * 30 * 2 * MiB:
                break
            time.sleep(0.05)
        for p in procs:
            p.kill()
            p.wait(10)
    finally:
        for d in c.chunkds:
            d.cont()
    t_killed = time.time()
    check(total >= 3 * 30 * 2 * MiB, "admin status showed %d promised bytes after 3 puts of "
          "30 MiB at goal 2 were allocated; want %d" % (total, 3 * 30 * 2 * MiB))
    st = status(c)
    print("    promised after the burst: %s" % {s["id"]: "%d MiB / %d chunks" % (
        s["promised_bytes"] // MiB, s["promised_chunks"]) for s in st["servers"]}, flush=True)
    check(all(s["state"] == "alive" for s in st["servers"]),
          "a server is not 'alive' with only promised space on it: %s" % st["servers"])
    rc, out, err = c.dfs("admin", "status")
    check(rc == 0 and "promised" in out and "promised to uploads" in out,
          "dfs admin status shows no promised column/total: %s" % out)
    # the next put goes through at once, although every server is over-promised
    t0 = time.time()
    _, (rc, _, err) = put_local(c, "next", 3 * MiB + 7, "/burst/next")
    check(rc == 0, "the put after the killed burst failed: %s" % err.strip())
    print("    the next put succeeded %.2f s after the kills" % (time.time() - t0), flush=True)
    # every promise ends within the bound
    bound = PROMISE_TTL + 1.0 + (2.0 if harness.SANITIZED else 0.0)
    while True:
        left = sum(promised(c).values())
        if left == 0:
            break
        check(time.time() - t_killed < bound, "%d bytes still promised %.1f s after the "
              "uploads died (bound: placement.promise_ttl %.0f s + a heartbeat)" % (
                  left, time.time() - t_killed, PROMISE_TTL))
        time.sleep(0.1)
    print("    all promises released %.1f s after the kills (ttl %.0f s)" % (
        time.time() - t_killed, PROMISE_TTL), flush=True)
    c.dfs_ok("rm", "-r", "--skip-trash", "/burst")


def wait_space_settled(c, calm=1.5, timeout=20):
    """Waits until no server's reported free space changed for `calm` seconds."""
    deadline, last, since = time.time() + timeout, None, time.time()
    while True:
        now = {s["id"]: s["free_bytes"] for s in status(c)["servers"]}
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= calm:
            return
        check(time.time() < deadline, "free space still changing after %d s: %s"
              % (timeout, now))
        time.sleep(0.2)


def fill(c, prefix):
    """Puts 8 MiB files at goal 3 until one is refused, then 1 MiB files at goal 1 until
    metad itself says every server is full. Returns (the number of 8 MiB files, the first
    refusal's stderr)."""
    c.dfs_ok("mkdir", "-p", prefix)
    first = None
    for i in range(20):
        _, (rc, _, err) = put_local(c, "fill-%d" % i, 8 * MiB, "%s/f%02d" % (prefix, i), 3)
        if rc != 0:
            first = (i, err)
            break
    check(first is not None, "20 x 8 MiB at goal 3 fit on 3 x 40M disks")
    # the refused put's chunks that were written are orphans: gone after gc.orphan_grace
    # (3 s here, then a log entry and a heartbeat), and their space with them; top up
    # once every server's free space has stopped changing
    time.sleep(3)
    wait_space_settled(c)
    for k in range(120):
        _, (rc, _, err) = put_local(c, "top-%d" % k, MiB, "%s/top%03d" % (prefix, k), 1)
        if rc != 0 and "chunkserver(s) full" in err:
            return first
    raise harness.TestFailure("120 more 1 MiB files and metad never said every server is "
                              "full: %s" % err.strip())


def case_really_full(c):
    """A full cluster refuses with a clear line; freed space is usable within seconds."""
    n, err = fill(c, "/full")
    line = err.strip()
    print("    refused after %d files: %s" % (n, line), flush=True)
    check(line.startswith("dfs: put: ") and "\n" not in line, "not one error line: %r" % err)
    check("space" in line, "the refusal does not say it is about space: %s" % line)
    st = status(c)
    check(any(s["state"] == "full" for s in st["servers"]),
          "no server shows 'full' in dfs admin status: %s" % st["servers"])
    # metad's own refusal (every server full) names the counts and the way out
    _, (rc, _, err) = put_local(c, "more", 2 * MiB, "/full/more", 3)
    check(rc != 0 and "3 chunkserver(s) full, 0 draining" in err and "dfs rm" in err
          and "add chunkservers" in err, "a put into the full cluster: %s" % err.strip())
    t0 = time.time()
    c.dfs_ok("rm", "-r", "--skip-trash", "/full")
    while True:
        _, (rc, _, err) = put_local(c, "after", 4 * MiB, "/after-free", 3)
        if rc == 0:
            break
        check(time.time() - t0 < 10, "puts still refused 10 s after the space was freed: %s"
              % err.strip())
        time.sleep(0.2)
    print("    a put succeeded %.1f s after the space was freed" % (time.time() - t0),
          flush=True)
    c.dfs_ok("rm", "--skip-trash", "/after-free")


def case_drain_without_room(c):
    """A server drains (its disk fails every read) while the others have no room for its
    chunks: they stay where they are, listed; puts say which servers are draining; with a
    good disk again, everything is placeable."""
    victim = c.chunkds[0]
    if not fl.hooks_compiled(victim):
        raise harness.TestFailure("this case needs a build with -DDFS_FAULT_HOOKS=ON "
                                  "(scripts/fault and scripts/test build one)")
    deadline = time.time() + 15  # the earlier cases' deletes reach the disks first
    while min(s["free_bytes"] for s in status(c)["servers"]) < 30 * MiB:
        check(time.time() < deadline, "space of deleted files not back within 15 s: %s"
              % status(c)["servers"])
        time.sleep(0.2)
    n, _ = fill(c, "/drain")
    check(n >= 1, "not even one 8 MiB file fit before the drain")
    fl.set_faults(victim, disk_read_eio=1)
    try:
        held = [ch for i in range(n) for ch in fl.get_file(c, "/drain/f%02d" % i)[1]
                if any(x["port"] == victim.port for x in ch["replicas"])]
        before = {i: fl.get_file(c, "/drain/f%02d" % i)[1] for i in range(n)}
        check(held, "%s holds no chunk of the files" % victim.name)
        for _ in range(6):  # data.max_io_errors (5): the disk counts as failing
            fl.read_chunk(victim.addr, held[0]["id"], held[0]["version"])
        deadline = time.time() + 15
        while not any(s["port"] == victim.port and s["state"] == "draining"
                      for s in fl.health(c)["servers"]):
            check(time.time() < deadline, "%s not draining after its EIOs" % victim.name)
            time.sleep(0.2)
        time.sleep(2)  # scans and heartbeats: nothing may be deleted from it
        _, (rc, _, err) = put_local(c, "during", 2 * MiB, "/drain/during", 3)
        check(rc != 0 and "1 draining" in err, "a put while one server drains and the "
              "others are full: want a refusal naming the draining server, got rc %d %s"
              % (rc, err.strip()))
        for i in range(n):  # nowhere to copy them: the draining server keeps its replicas
            for was, now in zip(before[i], fl.get_file(c, "/drain/f%02d" % i)[1]):
                check(len(now["replicas"]) == len(was["replicas"]),
                      "/drain/f%02d chunk %d went from %d to %d replicas while %s drained "
                      "with no room elsewhere" % (i, now["index"], len(was["replicas"]),
                                                  len(now["replicas"]), victim.name))
    finally:
        fl.clear_faults(victim)
    c.restart(victim)  # a good disk: the error count starts over
    c.dfs_ok("rm", "-r", "--skip-trash", "/drain")
    t0 = time.time()
    while True:
        _, (rc, _, err) = put_local(c, "after-drain", 4 * MiB, "/after-drain", 3)
        if rc == 0:
            break
        check(time.time() - t0 < 15, "puts refused 15 s after the drained server came back "
              "and space was freed: %s" % err.strip())
        time.sleep(0.3)


def case_bigger_than_inflight_limit(c):
    """Case 4 (limits.allocs_in_flight=32): a 100-chunk file goes up and reads back; an
    honest upload of any size is paced, never refused."""
    local = c.scratch("hundred")
    digest = harness.make_file(local, 100 * MiB + 5, seed=100)
    t0 = time.time()
    c.dfs_ok("put", local, "/hundred", "--replicas", 1)
    print("    100 chunks through an in-flight limit of 32 in %.1f s" % (time.time() - t0),
          flush=True)
    c.get_check("/hundred", digest)


SLOW_WRITE = "300:300"  # chunkd holds every WriteChunk request 300 ms (delay_msg hook)


def slow_writes(c, on):
    for d in c.chunkds:
        if on:
            fl.set_faults(d, delay_msg=SLOW_WRITE)
        else:
            fl.clear_faults(d)


def case_slow_upload_kept(c):
    """Case 5: 12 chunks at 300 ms each (3.6 s) with gc.orphan_grace 2 s."""
    if not fl.hooks_compiled(c.chunkds[0]):
        raise harness.TestFailure("needs -DDFS_FAULT_HOOKS=ON (scripts/fault builds it)")
    local = c.scratch("slow")
    digest = harness.make_file(local, 12 * MiB, seed=12)
    slow_writes(c, True)
    try:
        t0 = time.time()
        c.dfs_ok("put", local, "/slow", "--replicas", 1, "--parallel", 1)
        took = time.time() - t0
    finally:
        slow_writes(c, False)
    print("    the upload took %.1f s (gc.orphan_grace 2 s)" % took, flush=True)
    check(took > 3, "the upload took only %.1f s: the case needs it slower than the grace"
          % took)
    time.sleep(3)  # past every grace: nothing of it may be collected now either
    c.get_check("/slow", digest)


def case_stalled_upload_refused(c):
    """Case 6: the put is stopped mid-way for 6 s (lease 1 s + grace 2 s + margin)."""
    local = c.scratch("stalled")
    harness.make_file(local, 12 * MiB, seed=13)
    slow_writes(c, True)
    try:
        p = c.popen_dfs("put", local, "/stalled", "--replicas", 1, "--parallel", 1)
        time.sleep(1.2)  # a few chunks written
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(6)
        os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=120)
    finally:
        slow_writes(c, False)
    err = err.decode().strip()
    print("    stalled put: exit %d: %s" % (p.returncode, err), flush=True)
    check(p.returncode != 0, "a put whose first chunks were collected was acknowledged")
    check(err.startswith("dfs: put: ") and "\n" not in err and "collected as garbage" in err
          and "upload the file again" in err, "not one clear line: %r" % err)
    rc, _, _ = c.dfs("stat", "/stalled")
    check(rc != 0, "/stalled is visible after its commit was refused")


def main(r):
    with r.cluster(chunkservers=3, name="space", heartbeat=HB, dead_timeout=DEAD,
                   metad_args=METAD_ARGS, chunkd_args=CHUNKD_ARGS) as c:
        r.case("killed uploads: promised space shown, next put at once, released in bound",
               case_killed_uploads, c)
        c.ensure_running()
        r.case("a really full cluster: one clear line, usable again once freed",
               case_really_full, c)
        c.ensure_running()
        r.case("draining with no room elsewhere: chunks kept, refusal names it",
               case_drain_without_room, c)
    with r.cluster(chunkservers=2, name="space-inflight",
                   metad_args=("--set", "limits.allocs_in_flight=32")) as c:
        r.case("a file of more chunks than limits.allocs_in_flight uploads",
               case_bigger_than_inflight_limit, c)
    with r.cluster(chunkservers=2, name="space-uploads", heartbeat=HB,
                   metad_args=("--set", "gc.orphan_grace=2s",
                               "--set", "gc.upload_lease=1s")) as c:
        r.case("an upload slower than gc.orphan_grace keeps its chunks",
               case_slow_upload_kept, c)
        r.case("an upload stalled past lease and grace: commit refused, nothing lost silently",
               case_stalled_upload_refused, c)


if __name__ == "__main__":
    harness.run(main)
