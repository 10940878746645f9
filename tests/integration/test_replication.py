"""Re-replication with real daemons and sub-second heartbeats (issue 5, metad side):
a killed chunkserver's replicas are restored on the others within a bound, and trimmed
back to the goal when it returns; setrep up/down converges; a corrupt chunk file is
replaced; a new empty chunkserver is filled to near the mean use; a full cluster makes
put fail with the no-space error and leaves no file. Health is read with
`dfs admin status --json` and `dfs admin fsck --json` (which exits 1 while a file is
unreadable). Seeded: the seed is printed and DFS_TEST_SEED replays it."""

import json
import os
import random
import time

import harness
import wire
from harness import MiB, check

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 30)))
HB = ["--set", "replication.scan_interval=200ms", "--set", "replication.job_timeout=5s",
      "--set", "gc.orphan_grace=2s", "--set", "gc.upload_lease=1s"]
# the scrubber re-reads every chunk each second here, so a corrupt file is found soon
SCRUB = ["--set", "scrub.interval=1s", "--set", "scrub.bytes_per_s=256M"]
RESTORE_BOUND_S = 30


def status(c):
    return json.loads(c.dfs_ok("admin", "status", "--json"))


def fsck(c, path="/"):
    rc, out, err = c.dfs("admin", "fsck", path, "--json")
    check(rc in (0, 1), "admin fsck: exit %d: %s" % (rc, err.strip()))
    rep = json.loads(out)
    check((rc == 1) == (rep["unreadable"] > 0), "fsck exit %d with %d unreadable files"
          % (rc, rep["unreadable"]))
    return rep


def wait_for(what, cond, timeout):
    """Polls cond() (returns (done, detail)) until done; fails with the last detail."""
    t0 = time.time()
    detail = None
    while time.time() - t0 < timeout:
        done, detail = cond()
        if done:
            return time.time() - t0
        time.sleep(0.1)
    raise harness.TestFailure("%s not reached after %d s: %s" % (what, timeout, detail))


def converged(c, goal_total):
    """Healthy: nothing under/over-replicated, no job, every file healthy, and the
    chunk files on the live servers add up to goal_total replicas."""
    def cond():
        s = status(c)
        f = fsck(c)
        held = sum(x["chunk_count"] for x in s["servers"] if x["alive"])
        ok = (s["under_replicated"] == 0 and s["over_replicated"] == 0 and s["missing"] == 0
              and s["copy_jobs_running"] == 0 and s["copy_jobs_queued"] == 0
              and f["healthy"] == f["files_checked"] and held == goal_total)
        return ok, ("under %d over %d missing %d jobs %d/%d, fsck %d/%d healthy, %d replicas "
                    "held, want %d" % (s["under_replicated"], s["over_replicated"], s["missing"],
                                       s["copy_jobs_running"], s["copy_jobs_queued"],
                                       f["healthy"], f["files_checked"], held, goal_total))
    return cond


def put_files(c, files, replicas):
    digests = {}
    for i, (remote, size) in enumerate(files):
        local = c.scratch("src" + remote.replace("/", "_"))
        digests[remote] = harness.make_file(local, size, seed=SEED + i, quiet=True)
        c.dfs_ok("put", local, remote, "--replicas", replicas)
        os.unlink(local)
    return digests


def nchunks(size):
    return max(1, (size + MiB - 1) // MiB)


def replicas(d):
    """Chunk replicas on chunkd d's disk (files, and small chunks packed in volumes)."""
    return harness.chunk_replicas(harness.chunkd_data_dir(d))


def replica_keys(d):
    return set(r.key for r in replicas(d))


def kill_restore_trim(c):
    files = [("/k%d" % i, 3 * MiB + i * 777) for i in range(6)]
    digests = put_files(c, files, 2)
    total = sum(nchunks(s) for _, s in files) * 2
    wait_for("initial health", converged(c, total), 20)
    victim = max(c.chunkds, key=lambda d: len(replicas(d)))
    held = len(replicas(victim))
    victim.kill9()
    c.wait_dead(victim)
    t = wait_for("replicas restored after kill -9 of %s (%d replicas)" % (victim.name, held),
                 converged(c, total), RESTORE_BOUND_S)
    print("    %d replicas of %s restored %.1f s after metad declared it dead"
          % (held, victim.name, t), flush=True)
    s = status(c)
    check(s["copies_done"] >= held, "copies_done %d < %d replicas lost" % (s["copies_done"], held))
    for remote, dig in digests.items():
        c.get_check(remote, dig)
    # it comes back with its old replicas: the extras are trimmed, never below the goal
    c.restart(victim)
    t = wait_for("extra replicas trimmed after %s returned" % victim.name,
                 converged(c, total), RESTORE_BOUND_S)
    print("    extra replicas trimmed %.1f s after the restart" % t, flush=True)
    for remote, dig in digests.items():
        c.get_check(remote, dig)
    for remote, _ in files:
        c.dfs_ok("rm", "--skip-trash", remote)


def setrep(c, path, n):
    s = wire.MetaSession(c.meta)
    try:
        err, text, _ = s.req(wire.MSG_CLIENT_TO_META_SETREP,
                             wire.msg((2, path), (3, n), (5, random.randrange(1, 1 << 60))))
    finally:
        s.close()
    return err, text


def setrep_converges(c):
    digests = put_files(c, [("/sr", 4 * MiB + 5)], 2)
    n = nchunks(4 * MiB + 5)
    wait_for("initial health", converged(c, 2 * n), 20)
    err, text = setrep(c, "/sr", 3)
    check(err == 0, "setrep 3 failed: %d %s" % (err, text))
    wait_for("setrep 3", converged(c, 3 * n), 20)
    err, text = setrep(c, "/sr", 1)
    check(err == 0, "setrep 1 failed: %d %s" % (err, text))
    wait_for("setrep 1", converged(c, n), 20)
    c.get_check("/sr", digests["/sr"])
    c.dfs_ok("rm", "--skip-trash", "/sr")


def corrupt_replaced(c):
    before = {d.name: replica_keys(d) for d in c.chunkds}
    digests = put_files(c, [("/cr", 2 * MiB + 9)], 2)
    n = nchunks(2 * MiB + 9)
    wait_for("initial health", converged(c, 2 * n), 20)
    new = [(d, r) for d in c.chunkds for r in replicas(d) if r.key not in before[d.name]]
    check(len(new) == 2 * n, "expected %d new chunk replicas, found %r" % (2 * n, new))
    holder, bad = new[random.randrange(len(new))]  # a 1 MiB chunk file or the packed 9 bytes
    at = random.randrange(bad.length)
    with open(bad.path, "rb") as f:
        f.seek(bad.data_off + at)
        b = f.read(1)
    copies_before = status(c)["copies_done"]
    print("    corrupting %r at data byte %d" % (bad, at), flush=True)
    bad.corrupt(offset=at, mask=0xFF)
    # reads verify CRCs (the client falls back to the good replica and reports the bad
    # one) and the scrubber finds it too
    c.get_check("/cr", digests["/cr"])
    wait_for("a copy replacing the corrupt replica",
             lambda: (status(c)["copies_done"] > copies_before, status(c)), RESTORE_BOUND_S)
    wait_for("corrupt replica replaced", converged(c, 2 * n), RESTORE_BOUND_S)
    st = status(c)
    check(st["copies_done"] > copies_before, "no copy was made to replace the corrupt replica")
    for r in replicas(holder):  # still there: it must be a good copy again (same bytes)
        if r.id == bad.id:
            with open(r.path, "rb") as f:
                f.seek(r.data_off + at)
                check(f.read(1) == b, "the corrupt replica %r is still served" % r)
    c.get_check("/cr", digests["/cr"])
    c.dfs_ok("rm", "--skip-trash", "/cr")


CAP = 64 * MiB
SMALL = ["--capacity", str(CAP), "--set", "data.reserve=%d" % MiB]


def uses(c):
    return {x["id"]: 1.0 - x["free_bytes"] / x["capacity_bytes"]
            for x in status(c)["servers"] if x["alive"] and x["capacity_bytes"]}


def rebalance_new_server(c):
    files = [("/rb%d" % i, 5 * MiB + i) for i in range(6)]
    digests = put_files(c, files, 2)
    total = sum(nchunks(s) for _, s in files) * 2
    wait_for("initial health", converged(c, total), 20)
    new = c.add_chunkserver()
    new_id = max(status(c)["servers"], key=lambda x: x["id"])["id"]

    def balanced():
        u = uses(c)
        mean = sum(u.values()) / len(u)
        spread = max(abs(v - mean) for v in u.values())
        ok, detail = converged(c, total)()
        return ok and spread <= 0.06, "use %s, mean %.3f; %s" % (
            {k: round(v, 3) for k, v in u.items()}, mean, detail)
    done0 = status(c)["copies_done"]
    t = wait_for("new chunkserver filled to within 6% of the mean use", balanced, 40)
    u = uses(c)
    moved = status(c)["copies_done"] - done0
    print("    %s filled to %.1f%% (mean %.1f%%) in %.1f s with %d moves, holding %d chunks" % (
        new.name, 100 * u[new_id], 100 * sum(u.values()) / len(u), t, moved,
        [x for x in status(c)["servers"] if x["id"] == new_id][0]["chunk_count"]), flush=True)
    # settled: the rebalancer goes on to within half its threshold, then stops; no move
    # after that, and the cluster stays balanced (moves never overshoot and undo)
    def idle():
        s = status(c)
        return (not s["rebalancing"] and s["copy_jobs_running"] == 0
                and s["copy_jobs_queued"] == 0), s
    wait_for("rebalancing idle", idle, 30)
    done1 = status(c)["copies_done"]
    time.sleep(1.5)
    ok, detail = balanced()
    s = status(c)
    check(ok and s["copies_done"] == done1 and not s["rebalancing"]
          and done1 - done0 <= s["rebalance_moves"],
          "rebalancing did not settle: %s; %d copies when idle, %d after; status says "
          "rebalancing=%s after %d moves" % (detail, done1 - done0, s["copies_done"] - done0,
                                            s["rebalancing"], s["rebalance_moves"]))
    print("    idle after %d moves in all" % (done1 - done0), flush=True)
    for remote, dig in digests.items():
        c.get_check(remote, dig)
    return total


def full_cluster(c, held_before):
    free = sum(x["free_bytes"] for x in status(c)["servers"] if x["alive"])
    local = c.scratch("too-big")
    harness.make_file(local, free // 2 + 20 * MiB, seed=SEED + 99, quiet=True)
    rc, out, err = c.dfs("put", local, "/too-big", "--replicas", 2)
    os.unlink(local)
    check(rc == 1, "put into a full cluster: exit %d, stderr %r" % (rc, err))
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1 and "no space" in lines[0].lower(),
          "put into a full cluster: expected one 'no space' line, got %r" % err)
    print("    %s" % lines[0], flush=True)
    rc, out, err = c.dfs("ls", "/")
    check("too-big" not in out, "a half-written /too-big is visible: %r" % out)
    # the chunks it wrote are garbage: collected after gc.orphan_grace
    wait_for("orphan chunks of the failed put collected",
             converged(c, held_before), 30)
    c.roundtrip(2 * MiB + 1, "/after-full", seed=SEED + 100, replicas=2)


def fsck_unreadable(c):
    """A goal-1 file whose only holder is down: fsck says unreadable and exits 1; the
    holder returns: healthy again (exit 0)."""
    before = {d.name: replica_keys(d) for d in c.chunkds}
    digests = put_files(c, [("/lonely", MiB + 3)], 1)
    holders = [d for d in c.chunkds if replica_keys(d) - before[d.name]]
    check(len(holders) >= 1, "no chunkserver holds /lonely")
    for d in holders:
        d.kill9()
    for d in holders:
        c.wait_dead(d)
    rc, out, err = c.dfs("admin", "fsck", "/", "--json")
    rep = json.loads(out)
    check(rc == 1 and rep["unreadable"] >= 1, "fsck with a lost file: exit %d, %r" % (rc, rep))
    lone = [f for f in rep["files"] if f["path"] == "/lonely"]
    check(lone and lone[0]["state"] == "unreadable" and lone[0]["missing"] == 2,
          "fsck entry of /lonely: %r" % lone)
    rc, out, err = c.dfs("admin", "fsck", "/")
    check(rc == 1 and "unreadable" in out and len(err.strip().splitlines()) == 1,
          "fsck (text) with a lost file: exit %d, %r %r" % (rc, out, err))
    # admin status counts at the next scan (replication.scan_interval)
    wait_for("admin status counting 2 missing chunks",
             lambda: (status(c)["missing"] >= 2, status(c)), 5)
    for d in holders:
        c.restart(d)
    wait_for("/lonely readable again", lambda: (fsck(c)["unreadable"] == 0, fsck(c)), 20)
    c.get_check("/lonely", digests["/lonely"])
    c.dfs_ok("rm", "--skip-trash", "/lonely")


def main(t):
    print("seed %d (replay with DFS_TEST_SEED=%d)" % (SEED, SEED), flush=True)
    random.seed(SEED)
    with t.cluster(chunkservers=4, name="repl", heartbeat="200ms", dead_timeout="1500ms",
                   metad_args=HB, chunkd_args=SCRUB) as c:
        t.case("kill -9 a chunkserver: replicas restored, trimmed when it returns",
               kill_restore_trim, c)
        t.case("setrep up and down converges", setrep_converges, c)
        t.case("a corrupt chunk replica (file or packed) is replaced", corrupt_replaced, c)
        t.case("fsck: a file whose only replica is down is unreadable (exit 1)",
               fsck_unreadable, c)
    with t.cluster(chunkservers=3, name="repl-bal", heartbeat="200ms", dead_timeout="1500ms",
                   metad_args=HB, chunkd_args=SMALL) as c:
        held = []
        t.case("a new empty chunkserver is filled to near the mean use",
               lambda: held.append(rebalance_new_server(c)))
        if held:
            t.case("full cluster: put fails with the no-space error, no half file",
                   full_cluster, c, held[0])


if __name__ == "__main__":
    harness.run(main)
