#!/usr/bin/env python3
"""Fault-injection suite of issue 5: a real cluster, files made from a seeded pattern, then
faults (kill -9 also mid-upload, SIGSTOP past the dead timeout, bit flips and truncation in
chunk files, a deleted file's chunk file put back, a goal-1 file's only server away and
back, EIO/ENOSPC from the disk via the fault hooks, kill -9 of copy sources and
destinations mid-copy (copies held back by the delay_msg hook), heartbeat replies dropped
(drop_msg hook) until the server is declared dead, the only replica of a goal-1 file on a
drained server, a new empty chunkserver, a chunkserver cut off in a network namespace)
while checking the four invariants:
 1 every acknowledged file reads back byte-identical or fails with an error;
 2 after the faults stop every chunk reaches its goal within a bounded time (endangered
   chunks first), and every replica metad lists serves the right bytes;
 3 stale copies are never served, deleted files stay deleted, the last replica is kept;
 4 metad and the chunkds answer a probe every 200 ms throughout.
DFS_FAULT_SEED replays a run; DFS_FAULT_SOAK=1 (or scripts/fault --soak) runs random fault
schedules for DFS_FAULT_MINUTES (default 10) instead. Needs -DDFS_FAULT_HOOKS=ON for the
EIO/ENOSPC cases (they fail with a clear message otherwise)."""

import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as fl  # noqa: E402
from faultlib import check, MiB, harness  # noqa: E402

SEED = fl.seed_from_env()
RNG = random.Random(SEED)
# DFS_FAULT_CASES=kill,stale: only the cases whose function name contains one of these
ONLY = [x for x in os.environ.get("DFS_FAULT_CASES", "").split(",") if x]
SOAK = os.environ.get("DFS_FAULT_SOAK", "0") == "1"
RECOVERY = fl.scale(60, 150)  # seconds allowed to restore the goal after faults stop
HB, DEAD = "200ms", "1500ms"
MSG_READ_REP, MSG_HEARTBEAT_REP = 303, 205  # ReadChunk and Heartbeat replies (fault hooks)
METAD_ARGS = ("--set", "replication.job_timeout=5s", "--set", "gc.orphan_grace=2s",
              "--set", "gc.upload_lease=1s",
              "--set", "replication.scan_interval=500ms", "--set", "rebalance.threshold=1")
CHUNKD_ARGS = ("--set", "scrub.interval=2s", "--set", "scrub.rate=64M",
               "--set", "copy.max_bytes_per_s=0", "--set", "data.reserve=0",
               "--set", "data.capacity=192M")  # small disks: rebalancing sees the imbalance


def sizes():
    """A seeded mix of file sizes: empty-ish, sub-chunk, exact chunk, multi-chunk."""
    n = fl.scale(10, 5)
    big = fl.scale(5 * MiB + 12345, 2 * MiB + 77)
    pool = [1, 4096, MiB - 1, MiB, MiB + 1, 2 * MiB + 333, big]
    return [RNG.choice(pool) for _ in range(n)]


def write_set(c, files, prefix):
    c.dfs_ok("mkdir", "-p", prefix)
    for i, size in enumerate(sizes()):
        goal = RNG.choice((2, 3))
        m, rc, err = fl.put_file(c, RNG, "%s/f%02d" % (prefix, i), size, goal)
        check(m is not None, "put %s/f%02d: %s" % (prefix, i, err.strip()))
        files[m.path] = m


def settle(c, files, exact=False, what="replication"):
    t = fl.wait_healthy(c, files, RECOVERY, exact, what)
    print("    %s healthy after %.1f s" % (what, t), flush=True)
    return t


# --- the cases ---------------------------------------------------------------------------------

def case_kill_mid_upload(c, files, pr):
    """kill -9 the first chunkserver of a chain while a multi-chunk put streams; the put
    either succeeds (then the file reads back) or fails and leaves nothing visible."""
    victim = RNG.choice([d for d in c.chunkds if d.running()])
    size = fl.scale(12 * MiB + 5, 4 * MiB + 5)
    m = fl.FileModel("/mid/upload-%08x" % RNG.randrange(1 << 32), size,
                     RNG.randrange(1 << 31), 2)
    local = c.scratch("mid")
    with open(local, "wb") as f:
        f.write(m.data)
    c.dfs_ok("mkdir", "-p", "/mid")
    p = c.popen_dfs("put", local, m.path, "--replicas", 2)
    time.sleep(RNG.uniform(0.05, 0.4))
    pr.mark_down(victim)
    victim.kill9()
    out, err = p.communicate(timeout=120)
    print("    put during kill -9 of %s: exit %d %s" % (victim.name, p.returncode,
                                                       err.decode().strip()), flush=True)
    if p.returncode == 0:
        files[m.path] = m
        check(fl.read_back(c, m), "%s acknowledged but unreadable" % m.path)
    else:
        rc, _, _ = c.dfs("stat", m.path)
        check(rc != 0, "a failed put left %s visible" % m.path)
    c.restart(victim)
    pr.mark_up(victim)


def case_kill_and_rereplicate(c, files, pr):
    """kill -9 a chunkserver and keep it down: reads keep working from the other replicas
    and the lost replicas are re-created elsewhere (invariant 2); then it comes back and the
    extra replicas are trimmed to the goal."""
    victim = RNG.choice(c.chunkds)
    pr.mark_down(victim)
    victim.kill9()
    c.wait_dead(victim)
    fl.verify_all(c, files)
    settle(c, files, what="re-replication after kill -9 of %s" % victim.name)
    c.restart(victim)
    pr.mark_up(victim)
    settle(c, files, exact=True, what="trimming after %s returned" % victim.name)


def chunk_lives(c, files):
    """{chunk id: (live replicas, goal)} from GetFile only (no reads: fast sampling)."""
    out = {}
    for m in files.values():
        err, chunks = fl.get_file(c, m.path)
        if err:
            continue
        for ch in chunks:
            out[ch["id"]] = (len(ch["replicas"]), ch["goal"] or m.goal)
    return out


def case_endangered_first(c, files, pr):
    """Two of the servers die at once: chunks left with one copy (endangered) must reach
    safety first. Copies are slowed down (delay_msg on the survivors' ReadChunk replies) so
    that their order shows. Checked: every endangered chunk is safe (2 live copies) no
    later than the last merely under-replicated one reaches its goal, and the median
    endangered chunk is safe no later than the median under-replicated one is repaired.
    (A stricter "no under-replicated chunk before any endangered one" does not hold: metad
    sees the two deaths a heartbeat apart, and copies queued after the first one may run.)"""
    victims = RNG.sample(c.chunkds, 2)
    survivors = [d for d in c.chunkds if d not in victims]
    for d in survivors:
        fl.set_faults(d, delay_msg="%d:%d" % (MSG_READ_REP, fl.scale(300, 500)))
    try:
        for v in victims:
            pr.mark_down(v)
            v.kill9()
        for v in victims:
            c.wait_dead(v)
        t0 = time.time()
        start = chunk_lives(c, files)
        endangered = {k for k, (live, goal) in start.items() if live == 1 and goal >= 2}
        under = {k for k, (live, goal) in start.items() if 2 <= live < goal}
        missing = {k for k, (live, goal) in start.items() if live == 0}
        safe_at, done_at = {}, {}
        while True:
            now = chunk_lives(c, files)
            t = time.time() - t0
            for k in endangered - set(safe_at):
                if now.get(k, (0, 0))[0] >= 2:
                    safe_at[k] = t
            for k in under - set(done_at):
                if k in now and now[k][0] >= now[k][1]:
                    done_at[k] = t
            if all(now.get(k, (0, 0))[0] >= now[k][1] for k in now if k not in missing):
                break
            if t > RECOVERY:
                problems, _ = fl.replica_state(c, files)
                raise fl.TestFailure("INVARIANT 2 VIOLATED: chunks still under-replicated %d s "
                                     "after %s died (e.g. %s)" % (
                                         RECOVERY, " and ".join(v.name for v in victims),
                                         "; ".join(problems[:4])))
            time.sleep(0.05)
    finally:
        for d in survivors:
            fl.clear_faults(d)

    TIE_S = 0.5  # completions this close together are one round of concurrent copies

    def median(v):
        v = sorted(v)
        return v[len(v) // 2] if v else None

    e_last, u_last = max(safe_at.values(), default=0), max(done_at.values(), default=None)
    e_med, u_med = median(safe_at.values()), median(done_at.values())
    print("    %d endangered chunks: median safe after %s s, all after %.1f s; %d under-"
          "replicated: median at goal after %s s, all after %s s; everything repairable at "
          "goal after %.1f s (%d chunks unavailable until the servers return)" % (
              len(endangered), "%.1f" % e_med if e_med is not None else "-", e_last,
              len(under), "%.1f" % u_med if u_med is not None else "-",
              "%.1f" % u_last if u_last is not None else "-", t, len(missing)), flush=True)
    if endangered and under:
        # copies run concurrently: endangered chunks are scheduled first, but the last of
        # them may land a poll after the last under-replicated one (seen under ASan)
        check(e_last <= u_last + TIE_S, "ENDANGERED FIRST VIOLATED: the last endangered chunk "
              "was safe after %.1f s, more than %.1f s after every under-replicated one "
              "(%.1f s)" % (e_last, TIE_S, u_last))
        # the same for the medians: copies queued after the first death (a heartbeat before
        # the second is seen) may land within one round of the endangered ones (seen in a
        # soak once small chunks were packed and their copies got faster)
        check(e_med <= u_med + TIE_S, "ENDANGERED FIRST VIOLATED: median endangered chunk "
              "safe after %.1f s, more than %.1f s after the median under-replicated one "
              "reached its goal (%.1f s)" % (e_med, TIE_S, u_med))
    for v in victims:
        c.restart(v)
        pr.mark_up(v)
    settle(c, files, exact=True, what="trimming after two servers returned")


def case_sigstop(c, files, pr):
    """SIGSTOP a chunkserver longer than the dead timeout, read everything meanwhile,
    SIGCONT: it is taken back (reconciled) and nothing wrong is ever served."""
    victim = RNG.choice(c.chunkds)
    pr.mark_down(victim)
    victim.stop()
    try:
        c.wait_dead(victim)
        fl.verify_all(c, files)
    finally:
        victim.cont()
    c.wait_alive(victim)
    pr.mark_up(victim)
    fl.verify_all(c, files)
    settle(c, files, exact=True, what="after SIGSTOP/SIGCONT of %s" % victim.name)


def case_disk_damage(c, files, pr):
    """Bit flips and truncation in chunk files and packed records on disk: reads fall back
    to good replicas, and the damaged replicas are found (read/scrubber) and replaced."""
    damaged = []
    for m in RNG.sample(list(files.values()), min(4, len(files))):
        chunks = fl.servers_of(c, m)
        ch = RNG.choice(chunks)
        if len(ch["replicas"]) < 2:
            continue
        r = RNG.choice(ch["replicas"])
        d = fl.by_port(c, r["port"])
        rep = fl.replica(d, ch["id"], ch["version"])
        if rep is None:
            continue
        how = RNG.choice(("flip", "truncate"))
        where = fl.damage(rep, how, RNG)
        damaged.append("%s %s chunk %d on %s at %d%s" % (how, m.path, ch["index"], d.name,
                                                         where, " (packed)" * rep.packed))
    print("    damaged: %s" % "; ".join(damaged), flush=True)
    check(damaged, "found no chunk file to damage")
    fl.verify_all(c, files)  # every file still has a good replica
    settle(c, files, what="repair of damaged replicas")


def case_stale_copy(c, files, pr):
    """A deleted file's chunk file is put back on a chunkserver (and it restarts): the file
    stays deleted, the stale chunk is collected; a goal-1 file whose only server is away
    and back is never collected (last replica)."""
    c.dfs_ok("mkdir", "-p", "/stale")
    m, _, err = fl.put_file(c, RNG, "/stale/gone-%08x" % RNG.randrange(1 << 32), 2 * MiB + 10, 2)
    check(m is not None, "put: %s" % err)
    chunks = fl.servers_of(c, m)
    saved, packed = [], []
    for ch in chunks:
        for r in ch["replicas"]:
            d = fl.by_port(c, r["port"])
            p = fl.chunk_path(d, ch["id"], ch["version"])
            if not os.path.exists(p):  # the 10-byte last chunk is packed in a volume file
                check(fl.replica(d, ch["id"], ch["version"]) is not None,
                      "chunk %d of %s is on %s neither as a file nor packed" % (
                          ch["index"], m.path, d.name))
                packed.append((d, ch["id"], ch["version"]))
                continue
            keep = c.scratch("saved-%d-%d" % (ch["id"], d.port))
            shutil.copy2(p, keep)
            saved.append((d, p, keep))
    c.dfs_ok("rm", "--skip-trash", m.path)
    deadline = time.time() + RECOVERY
    while (any(os.path.exists(p) for _, p, _ in saved)
           or any(fl.replica(d, i, v) for d, i, v in packed)):
        check(time.time() < deadline, "chunks of a deleted file still on disk")
        time.sleep(0.3)
    d, p, keep = RNG.choice(saved)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    shutil.copy2(keep, p)
    c.restart(d)
    rc, _, _ = c.dfs("stat", m.path)
    check(rc != 0, "INVARIANT 3 VIOLATED: deleted %s is back" % m.path)
    deadline = time.time() + RECOVERY
    while os.path.exists(p):
        check(time.time() < deadline, "INVARIANT 3: the restored chunk file %s of a deleted "
              "file was not collected within %d s" % (p, RECOVERY))
        time.sleep(0.3)
    # the last replica: a goal-1 file whose only server is away for longer than the
    # dead timeout and the orphan grace
    one, _, err = fl.put_file(c, RNG, "/stale/single-%08x" % RNG.randrange(1 << 32), MiB + 3, 1)
    check(one is not None, "put: %s" % err)
    holder = fl.by_port(c, fl.servers_of(c, one)[0]["replicas"][0]["port"])
    pr.mark_down(holder)
    holder.kill9()
    c.wait_dead(holder)
    check(not fl.read_back(c, one), "a goal-1 file read back with its only server dead?")
    time.sleep(3)  # > gc.orphan_grace
    c.restart(holder)
    pr.mark_up(holder)
    time.sleep(3)
    check(fl.read_back(c, one), "INVARIANT 3 VIOLATED: the only replica of %s was collected"
          % one.path)
    # goal 1 is not kept in the set: a later disk fault on its server may lose it for good
    # (allowed by invariant 1), which would also hold up rebalancing
    c.dfs_ok("rm", "--skip-trash", one.path)


def case_disk_errors(c, files, pr):
    """EIO on reads, then EIO and ENOSPC on writes, on one chunkserver (fault hooks):
    reads fall back, puts succeed elsewhere or fail with an error, nothing wrong is served;
    after max_io_errors the server is drained (state draining, chunks moved off)."""
    victim = RNG.choice(c.chunkds)
    check(fl.hooks_compiled(victim), "chunkd was built without -DDFS_FAULT_HOOKS=ON: the "
          "EIO/ENOSPC cases need it (scripts/test and build-*-fault builds set it)")
    other = RNG.choice([d for d in c.chunkds if d is not victim])
    fl.set_faults(other, corrupt_read=1)  # every block it reads gets a bit flipped
    fl.verify_all(c, files)
    fl.clear_faults(other)
    for key in ("disk_write_enospc", "disk_write_eio"):
        fl.set_faults(victim, **{key: 1})
        for i in range(3):
            m, rc, err = fl.put_file(c, RNG, "/hooks/%s-%d-%08x" % (key, i, RNG.randrange(1 << 32)),
                                     RNG.choice((MiB, 3 * MiB + 7)), 2)
            if m:
                files[m.path] = m
                check(fl.read_back(c, m), "%s acknowledged but unreadable" % m.path)
            else:
                check(err.strip().startswith("dfs: "), "put failed without an error line")
    fl.set_faults(victim, disk_read_eio=1)
    fl.verify_all(c, files)
    # hit the failing disk directly until it counts max_io_errors (5) EIOs
    held = []
    for m in files.values():
        for ch in fl.servers_of(c, m):
            if any(r["port"] == victim.port for r in ch["replicas"]):
                held.append(ch)
    for ch in held[:6] * (6 // max(1, len(held[:6])) + 1):
        e, got = fl.read_chunk(victim.addr, ch["id"], ch["version"])
        check(e != 0, "a read with disk_read_eio on answered data")
    deadline = time.time() + 15
    while True:
        st = [s for s in fl.health(c)["servers"] if s["port"] == victim.port]
        if st and st[0]["state"] == "draining":
            break
        check(time.time() < deadline, "%s had >= 5 EIOs but metad does not show it draining "
              "(state %r)" % (victim.name, st[0]["state"] if st else None))
        time.sleep(0.2)
    fl.verify_all(c, files)
    settle(c, files, what="draining of %s" % victim.name)
    fl.clear_faults(victim)
    pr.mark_down(victim)
    c.restart(victim)  # a fresh process: the error count starts over
    pr.mark_up(victim)
    settle(c, files, exact=True, what="after %s came back healthy" % victim.name)


def case_last_replica_draining(c, files, pr):
    """The last replica is never deleted, even on a drained server: a goal-1 file's only
    replica sits on a server whose disk fails every read (EIO, fault hook) until metad
    drains it; the file fails to read cleanly meanwhile, its chunk file stays on disk,
    and once the server restarts with a good disk the file reads back."""
    c.dfs_ok("mkdir", "-p", "/last")
    one, _, err = fl.put_file(c, RNG, "/last/single-%08x" % RNG.randrange(1 << 32), MiB + 3, 1)
    check(one is not None, "put: %s" % err)
    chunks = fl.servers_of(c, one)
    print("    %s: %s" % (one.path, ["chunk %d on %s" % (x["index"], [r["port"] for r in
                                                               x["replicas"]]) for x in chunks]),
          flush=True)
    ch = chunks[0]
    check(len(ch["replicas"]) == 1, "a goal-1 chunk with %d replicas" % len(ch["replicas"]))
    holder = fl.by_port(c, ch["replicas"][0]["port"])
    path = fl.chunk_path(holder, ch["id"], ch["version"])
    check(os.path.exists(path), "chunk file %s not found" % path)
    fl.set_faults(holder, disk_read_eio=1)
    check(not fl.read_back(c, one), "%s read back with every disk read failing" % one.path)
    for _ in range(6):  # max_io_errors (5) EIOs: the disk counts as failing
        fl.read_chunk(holder.addr, ch["id"], ch["version"])
    deadline = time.time() + 15
    while True:
        st = [s for s in fl.health(c)["servers"] if s["port"] == holder.port]
        if st and st[0]["state"] == "draining":
            break
        check(time.time() < deadline, "%s not draining after its EIOs" % holder.name)
        time.sleep(0.2)
    fl.verify_all(c, files)
    settle(c, files, what="draining of %s" % holder.name)
    t_end = time.time() + 3  # a few scans and heartbeats: no delete order may come
    while time.time() < t_end:
        check(os.path.exists(path), "INVARIANT 3 VIOLATED: the only replica of %s (%s) was "
              "deleted while its server drained" % (one.path, path))
        time.sleep(0.2)
    fl.clear_faults(holder)
    pr.mark_down(holder)
    c.restart(holder)  # a fresh process: the error count starts over
    pr.mark_up(holder)
    deadline = time.time() + 15
    while not fl.read_back(c, one):
        check(time.time() < deadline, "INVARIANT 3 VIOLATED: %s unreadable 15 s after its "
              "server came back with a good disk" % one.path)
        time.sleep(0.5)
    settle(c, files, exact=True, what="after %s came back" % holder.name)
    c.dfs_ok("rm", "--skip-trash", one.path)


def case_kill_mid_copy(c, files, pr):
    """kill -9 in the middle of copy jobs: every chunkd holds back the replies to its copy
    reads (delay_msg hook on ReadChunk replies, so copies stay in flight for seconds), a
    server is killed so that copies start, then a second one is killed while they run
    (it is a source and a destination of them). Afterwards everything reaches its goal
    and is trimmed back to it, and no half-copied replica is ever listed or served."""
    counts = {s["port"]: s["count"] for s in fl.health(c)["servers"] if s["alive"]}
    up = [d for d in c.chunkds if d.port in counts]
    first = max(up, key=lambda d: (counts[d.port], d.port))  # the most copies to make
    second = RNG.choice([d for d in up if d is not first])
    rest = [d for d in c.chunkds if d is not first]
    for d in rest:
        fl.set_faults(d, delay_msg="%d:%d" % (MSG_READ_REP, fl.scale(1500, 2500)))
    try:
        pr.mark_down(first)
        first.kill9()
        c.wait_dead(first)
        deadline = time.time() + 20
        while fl.health(c)["running"] == 0:
            check(time.time() < deadline, "no copy job started after %s died" % first.name)
            time.sleep(0.05)
        pr.mark_down(second)
        second.kill9()
        print("    killed %s, then %s with %d copy job(s) running" % (
            first.name, second.name, fl.health(c)["running"]), flush=True)
    finally:
        for d in rest:
            if d.running():
                fl.clear_faults(d)
            elif os.path.exists(os.path.join(fl.data_dir(d), "fault")):
                os.unlink(os.path.join(fl.data_dir(d), "fault"))  # restarts without it
    c.wait_dead(second)
    fl.verify_all(c, files, must_read=False)  # right bytes or a clean error
    for d in (first, second):
        c.restart(d)
        pr.mark_up(d)
    fl.verify_all(c, files)
    settle(c, files, exact=True, what="after kill -9 mid-copy of %s" % second.name)


def case_heartbeats_dropped(c, files, pr):
    """A chunkserver whose heartbeat replies are dropped (drop_msg hook) stops heartbeating
    (its call waits for the reply), is declared dead and its chunks re-replicated while it
    keeps serving reads; once the hook is off it comes back on its own, is reconciled and
    the extra replicas are trimmed."""
    victim = RNG.choice(c.chunkds)
    fl.set_faults(victim, drop_msg=MSG_HEARTBEAT_REP)
    try:
        c.wait_dead(victim)
        fl.verify_all(c, files)
        settle(c, files, what="re-replication while %s's heartbeats were lost" % victim.name)
    finally:
        fl.clear_faults(victim)
    c.wait_alive(victim, timeout=40)  # its heartbeat call times out (10 s), it registers again
    fl.verify_all(c, files)
    settle(c, files, exact=True, what="after %s's heartbeats came through again" % victim.name)


def case_new_server(c, files, pr):
    """A new empty chunkserver is filled by rebalancing; everything stays readable."""
    # enough data that an empty server is beyond rebalance.threshold (1 %) below the mean:
    # a sanitized run writes less (sizes()), and with it the mean could stay under 1 % of
    # the 192M disks, so no move was ever due (seed 1893630057)
    for k in range(fl.scale(0, 3)):
        m, _, err = fl.put_file(c, RNG, "/rebalance-fill-%d" % k, 4 * MiB + k, 2)
        check(m is not None, "put: %s" % err)
        files[m.path] = m
    d = c.add_chunkserver()
    deadline = time.time() + RECOVERY
    while True:
        st = [s for s in fl.health(c)["servers"] if s["port"] == d.port]
        if st and st[0]["count"] > 0:
            break
        check(time.time() < deadline, "the new chunkserver %s got no chunks within %d s "
              "(rebalancing)" % (d.name, RECOVERY))
        time.sleep(0.5)
    fl.verify_all(c, files)
    settle(c, files, exact=True, what="after rebalancing onto %s" % d.name)


def fsck_ok(c):
    rc, out, err = c.dfs("admin", "fsck", "/")
    check(rc == 0, "dfs admin fsck / exit %d after recovery: %s %s" % (
        rc, err.strip(), out.strip()[-300:]))


# --- network namespace partition ----------------------------------------------------------------

def netns_available():
    if os.geteuid() != 0 or not shutil.which("ip"):
        return "not root or no `ip` command"
    r = subprocess.run(["ip", "netns", "add", "dfsprobe%d" % os.getpid()],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr.strip()
    subprocess.run(["ip", "netns", "del", "dfsprobe%d" % os.getpid()], capture_output=True)
    return None


class Netns:
    """A namespace with a veth pair: host side 10.x.y.1, namespace side 10.x.y.2."""

    def __init__(self):
        n = os.getpid() & 0xFFFF
        self.name = "dfsft%d" % n
        self.host_if, self.ns_if = "dfh%d" % n, "dfn%d" % n
        b = 64 + (n % 128)
        self.host_ip, self.ns_ip = "10.%d.%d.1" % (b, n >> 8), "10.%d.%d.2" % (b, n >> 8)

    def sh(self, *cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        check(r.returncode == 0, "%s: %s" % (" ".join(cmd), r.stderr.strip()))

    def __enter__(self):
        self.sh("ip", "netns", "add", self.name)
        try:
            self.sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            self.sh("ip", "link", "set", self.ns_if, "netns", self.name)
            self.sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
            self.sh("ip", "link", "set", self.host_if, "up")
            self.sh("ip", "netns", "exec", self.name, "ip", "addr", "add", self.ns_ip + "/30",
                    "dev", self.ns_if)
            self.sh("ip", "netns", "exec", self.name, "ip", "link", "set", self.ns_if, "up")
            self.sh("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def cut(self):
        self.sh("ip", "link", "set", self.host_if, "down")

    def heal(self):
        self.sh("ip", "link", "set", self.host_if, "up")

    def __exit__(self, *a):
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        return False


def case_partition(r):
    why = netns_available()
    if why:  # a failure, not a skip: the partition case must run wherever the suite does
        r.case("netns partition", check, False,
               "network namespaces are unavailable (%s): run the suite as root with `ip` "
               "(iproute2)" % why)
        return
    with Netns() as ns:
        with r.cluster(chunkservers=0, name="fault-netns", heartbeat=HB, dead_timeout=DEAD,
                       metad_args=METAD_ARGS, chunkd_args=CHUNKD_ARGS,
                       host=ns.host_ip) as c:
            for _ in range(3):
                c.add_chunkserver(wait=False, host=ns.host_ip)
            cut = c.add_chunkserver(wait=False, host=ns.ns_ip,
                                    wrap=("ip", "netns", "exec", ns.name))
            c.wait_registered(4)
            files = {}
            with fl.Prober(c) as pr:
                def run():
                    write_set(c, files, "/ns")
                    pr.mark_down(cut)
                    ns.cut()
                    c.wait_dead(cut)
                    fl.verify_all(c, files)
                    settle(c, files, what="re-replication while %s is cut off" % cut.name)
                    ns.heal()
                    c.wait_alive(cut)
                    pr.mark_up(cut)
                    fl.verify_all(c, files)
                    settle(c, files, exact=True, what="after the partition healed")
                    pr.check()
                try:
                    r.case("netns partition of a chunkserver, then healed", run)
                finally:
                    ns.heal()


# --- soak: random schedules ------------------------------------------------------------------------

SOAK_BUDGET = 0.35  # replicated bytes kept at most this share of the cluster's capacity


def stored_bytes(files):
    return sum(m.size * m.goal for m in files.values())


def trim_to_budget(c, files, sets, capacity):
    """Deletes the oldest soak sets while the files' replicated bytes exceed SOAK_BUDGET of
    the capacity. Without it the soak's data only grows: seed 1970139676 filled the 192M
    disks after ~50 steps, so a drained server's chunks had nowhere to go and every put was
    refused for want of space, which was true. The budget leaves room for the chunks of
    two dead servers (5 servers at 35 %% put 58 %% on the 3 that are left)."""
    while len(sets) > 1 and stored_bytes(files) > SOAK_BUDGET * capacity:
        prefix = sets.pop(0)
        c.dfs_ok("rm", "-r", "--skip-trash", prefix)
        for path in [p for p in files if p.startswith(prefix + "/")]:
            del files[path]
        print("    deleted %s: %.0f MiB stored at the goals now" % (
            prefix, stored_bytes(files) / MiB), flush=True)


def after_failure(c, pr):
    """A failed case must not poison the next one: daemons it left dead or stopped run
    again and no fault hook it set stays on (seed 1970139676: a case that failed while
    chunkd-3's disk failed every read left the hook on, so the server drained again after
    every restart)."""
    c.ensure_running()
    for d in c.chunkds:
        fl.clear_faults(d)
        pr.mark_up(d)


def soak(r, minutes):
    deadline = time.time() + minutes * 60
    with r.cluster(chunkservers=5, name="fault-soak", heartbeat=HB, dead_timeout=DEAD,
                   metad_args=METAD_ARGS, chunkd_args=CHUNKD_ARGS) as c:
        files, sets = {}, ["/soak/s0"]
        capacity = 5 * 192 * MiB  # CHUNKD_ARGS' data.capacity on each of the 5
        with fl.Prober(c) as pr:
            r.case("write the initial files", write_set, c, files, "/soak/s0")
            actions = [case_kill_mid_upload, case_kill_and_rereplicate, case_sigstop,
                       case_disk_damage, case_endangered_first, case_disk_errors,
                       case_stale_copy, case_kill_mid_copy, case_heartbeats_dropped,
                       case_last_replica_draining]
            step = 0
            while time.time() < deadline:
                step += 1
                act = RNG.choice(actions)
                ok = r.case("soak step %d: %s" % (step, act.__name__), act, c, files, pr)
                if not ok:
                    after_failure(c, pr)
                if RNG.random() < 0.3:
                    r.case("soak step %d: fewer files" % step, trim_to_budget, c, files,
                           sets, capacity)
                    sets.append("/soak/s%d" % step)
                    r.case("soak step %d: more files" % step, write_set, c, files,
                           "/soak/s%d" % step)
            r.case("final: all files read back", fl.verify_all, c, files)
            r.case("final: goal reached, replicas good", settle, c, files, True, "final")
            r.case("daemons answered every probe", pr.check)
            fl.print_recovery_times()


def main(r):
    if SOAK:
        soak(r, float(os.environ.get("DFS_FAULT_MINUTES", "10")))
        return
    with r.cluster(chunkservers=5, name="fault", heartbeat=HB, dead_timeout=DEAD,
                   metad_args=METAD_ARGS, chunkd_args=CHUNKD_ARGS) as c:
        files = {}
        with fl.Prober(c) as pr:
            if not r.case("write seeded files", write_set, c, files, "/data"):
                return
            for name, fn in (("kill -9 mid-upload", case_kill_mid_upload),
                             ("kill -9, re-replication, trimming", case_kill_and_rereplicate),
                             ("two servers die: endangered first", case_endangered_first),
                             ("SIGSTOP past the dead timeout, SIGCONT", case_sigstop),
                             ("kill -9 of copy sources/destinations mid-copy",
                              case_kill_mid_copy),
                             ("heartbeat replies dropped: dead, re-replicated, back",
                              case_heartbeats_dropped),
                             ("bit flips and truncation on disk", case_disk_damage),
                             ("stale copy put back, last replica kept", case_stale_copy),
                             ("EIO and ENOSPC from the disk", case_disk_errors),
                             ("last replica on a drained server is kept",
                              case_last_replica_draining),
                             ("new empty chunkserver", case_new_server)):
                if ONLY and not any(o in fn.__name__ for o in ONLY):
                    continue
                if not r.case(name, fn, c, files, pr):
                    after_failure(c, pr)
            r.case("final: every acknowledged file reads back", fl.verify_all, c, files)
            r.case("final: every chunk at its goal, all replicas good", settle, c, files,
                   True, "final state")
            r.case("final: dfs admin fsck / reports every file healthy", fsck_ok, c)
            r.case("daemons answered every probe (invariant 4)", pr.check)
            fl.print_recovery_times()
    if not ONLY or any(o in "case_partition" for o in ONLY):
        case_partition(r)


if __name__ == "__main__":
    harness.run(main)
