"""dfs mount across a metad failover: three metad voters (libraft), the mount given all
three addresses (the CLI's --meta A,B,C). A program writes and reads small files through
the mount in a loop while the leader is killed with kill -9: no call fails, the longest
stall of one file's create+write+close+read stays within a few seconds (measured and
printed), and every file written reads back identical afterwards, also through a fresh
mount. Without a login on an authenticated cluster, dfs mount refuses with one line."""
import os
import threading
import time

import harness
from harness import check

ELECTION = ["--set", "raft.election_timeout=300ms", "--set", "raft.heartbeat_timeout=50ms"]
USER, PW = "carol", "carol-mount-pw-1"
STALL_LIMIT_S = 15.0  # "a few seconds": an election is ~1 s here; generous for ASan/2 cores


def writer(home, stop, out):
    """Writes f<i> (i*37 bytes) and reads it back until stop; records the slowest one."""
    i, worst = 0, 0.0
    try:
        while not stop.is_set():
            data = bytes([i % 251]) * (i * 37 % 9000 + 1)
            t0 = time.time()
            p = os.path.join(home, "ha", "f%d" % i)
            with open(p, "wb") as f:
                f.write(data)
            with open(p, "rb") as f:
                got = f.read()
            worst = max(worst, time.time() - t0)
            if got != data:
                out["error"] = "f%d read back %d bytes, wrote %d" % (i, len(got), len(data))
                return
            out.setdefault("files", {})[p] = data
            i += 1
    except OSError as e:
        out["error"] = "f%d: %s" % (i, e)
    finally:
        out["worst"] = worst
        out["count"] = i


def t_failover(c):
    m = os.path.join(c.dir, "mnt", "ha")
    os.makedirs(m)
    c.mount(m, user=USER)
    home = os.path.join(m, "home", USER)
    os.mkdir(os.path.join(home, "ha"))
    stop, out = threading.Event(), {}
    th = threading.Thread(target=writer, args=(home, stop, out))
    th.start()
    time.sleep(1.5)
    lead = c.leader()
    print("    kill -9 metad-%d (the leader) after %d files" % (lead + 1, len(out.get("files", {}))),
          flush=True)
    c.metads[lead].kill9()
    time.sleep(6)
    stop.set()
    th.join(120)
    check(not th.is_alive(), "the writer is stuck in the mount")
    check("error" not in out, "a call failed across the failover: %s" % out.get("error"))
    print("    %d files written and read during the failover; slowest %.2f s" % (
        out["count"], out["worst"]), flush=True)
    check(out["worst"] < STALL_LIMIT_S, "a file took %.1f s (limit %.0f s)" % (
        out["worst"], STALL_LIMIT_S))
    c.metads[lead].start()
    c.umount(m)
    # a fresh mount (the new leader's view) has every file
    c.mount(m, user=USER)
    for p, data in out["files"].items():
        with open(p, "rb") as f:
            check(f.read() == data, "%s differs after the failover" % p)
    c.umount(m)


def t_needs_login(c):
    m = os.path.join(c.dir, "mnt", "anon")
    os.makedirs(m)
    rc, out, err = c.dfs_as(None, "mount", m)
    lines = err.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and "dfs login" in lines[0],
          "dfs mount without a login: exit %d, %r" % (rc, err))
    check(not os.path.ismount(m), "mounted without a login")


def main(t):
    harness.require_fuse()
    with t.cluster(metads=3, chunkservers=3, name="mountha", auth=True,
                   metad_args=ELECTION) as c:
        c.register(USER, PW)
        c.login(USER, PW)
        c.dfs_as_ok(USER, "stat", "~")
        t.case("a leader kill -9 under a program writing through the mount", t_failover, c)
        t.case("dfs mount without a login is refused with one line", t_needs_login, c)


if __name__ == "__main__":
    harness.run(main)
