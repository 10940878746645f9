"""metad high availability: three metad voters (libraft) and three chunkservers given
every metad address, the CLI given all three (`--meta A,B,C`). Puts and gets work through
any address (followers redirect); kill -9 of the leader elects another within seconds and
every acknowledged file still reads back, also for puts racing the kill; the old leader
rejoins as a follower and catches up; with two of three metads down metadata writes fail
with one clear line (no quorum) and work again once one returns."""

import os
import threading
import time

import harness
from harness import MiB, check

N_METAD = 3
ELECTION = ["--set", "raft.election_timeout=300ms", "--set", "raft.heartbeat_timeout=50ms"]


def overview(c, i):
    """ClusterRep of metad i, or None while it is down or electing."""
    try:
        return c.overview(i=i, timeout=2.0)
    except (OSError, ValueError):
        return None


def put(c, remote, size, seed):
    local = c.scratch("src-" + remote.strip("/").replace("/", "_"))
    dig = harness.make_file(local, size, seed=seed, quiet=True)
    c.dfs_ok("put", local, remote, "--replicas", 2)
    os.unlink(local)
    return dig


def through_any_address(c, files):
    lead = c.leader()
    print("    metad-%d is the leader" % (lead + 1), flush=True)
    for i in range(N_METAD):  # each address first: followers redirect to the leader
        one = [c.meta_addrs[(i + k) % N_METAD] for k in range(N_METAD)]
        local = c.scratch("any")
        dig = harness.make_file(local, MiB + i, seed=70 + i, quiet=True)
        rc, _, err = c.dfs("put", local, "/any%d" % i, meta=",".join(one))
        check(rc == 0, "put via %s first: %s" % (one[0], err))
        files["/any%d" % i] = dig
    for i in range(3):
        files["/f%d" % i] = put(c, "/f%d" % i, 3 * MiB + 7 * i, seed=80 + i)
    for remote, dig in files.items():
        c.get_check(remote, dig)


def kill_leader(c, files):
    lead = c.leader()
    t0 = time.time()
    c.metads[lead].kill9()
    # at once, before anything has settled: the new leader tells the client to retry
    # while the chunkservers re-register with it, so the read just takes a little longer
    c.get_check("/f1", files["/f1"])
    print("    get right after the kill: %.2f s" % (time.time() - t0), flush=True)
    new = c.leader(exclude=(lead,))
    took = time.time() - t0
    print("    killed metad-%d; metad-%d leads %.2f s later" % (lead + 1, new + 1, took),
          flush=True)
    check(took < 15, "failover took %.1f s" % took)
    for remote, dig in files.items():
        c.get_check(remote, dig)
    files["/after-kill"] = put(c, "/after-kill", 2 * MiB + 1, seed=90)
    c.get_check("/after-kill", files["/after-kill"])
    c.metads[lead].start()  # back as a follower: catches up from the log
    deadline = time.time() + 20
    want = overview(c, new)["files"]
    while True:
        ov = overview(c, lead)
        if ov and not ov["is_leader"] and ov["files"] == want:
            break
        check(time.time() < deadline, "restarted metad-%d did not catch up (%r, leader has %d "
              "files)" % (lead + 1, ov, want))
        time.sleep(0.1)
    print("    metad-%d rejoined as a follower with all %d files" % (lead + 1, want), flush=True)


def puts_racing_a_kill(c, files):
    """A stream of small puts and mkdirs while the leader is killed: every one that
    reported success is there afterwards (others may or may not be)."""
    lead = c.leader()
    acked, stop = [], threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            local = c.scratch("race%d" % (i % 4))
            with open(local, "wb") as f:
                f.write(b"race %d\n" % i)
            rc, _, _ = c.dfs("put", local, "/race%d" % i, "--replicas", 2, timeout=60)
            if rc == 0:
                acked.append(i)
            i += 1
    th = threading.Thread(target=writer)
    th.start()
    time.sleep(1.0)
    c.metads[lead].kill9()
    time.sleep(3.0)
    stop.set()
    th.join(120)
    check(len(acked) >= 5, "only %d puts succeeded around the kill" % len(acked))
    for i in acked:
        out = c.dfs_ok("cat", "/race%d" % i)
        check(out == "race %d\n" % i, "/race%d holds %r" % (i, out))
    print("    %d puts acknowledged around the kill of metad-%d, all intact"
          % (len(acked), lead + 1), flush=True)
    c.metads[lead].start()
    c.leader()


def no_quorum(c, files):
    lead = c.leader()
    others = [i for i in range(N_METAD) if i != lead]
    c.metads[others[0]].kill9()
    c.metads[lead].kill9()  # one of three left: no majority
    t0 = time.time()
    rc, _, err = c.dfs("mkdir", "/no-quorum", timeout=120)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 1 and len(lines) == 1, "mkdir without a quorum: exit %d, %r" % (rc, err))
    print("    without a quorum (%.1f s): %s" % (time.time() - t0, lines[0]), flush=True)
    c.metads[lead].start()
    c.leader()
    c.dfs_ok("mkdir", "/quorum-back")
    for remote, dig in files.items():
        c.get_check(remote, dig)
    c.metads[others[0]].start()


def main(r):
    with r.cluster(metads=N_METAD, chunkservers=3, name="ha", heartbeat="300ms",
                   dead_timeout="2s", metad_args=ELECTION) as c:
        files = {}
        r.case("put and get through any metad address (followers redirect)",
               through_any_address, c, files)
        r.case("kill -9 of the leader: a new one, every file intact, the old one rejoins",
               kill_leader, c, files)
        r.case("puts racing a leader kill: every acknowledged one survives",
               puts_racing_a_kill, c, files)
        r.case("two of three metads down: one clear error, then work again",
               no_quorum, c, files)


if __name__ == "__main__":
    harness.run(main)
