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
from harness import MiB, check, free_port
import wire

N_METAD = 3
ELECTION = ["--set", "raft.election_timeout=300ms", "--set", "raft.heartbeat_timeout=50ms"]


class HaCluster:
    def __init__(self):
        self.dir = harness.tempfile.mkdtemp(prefix="dfs-it-ha-")
        os.makedirs(os.path.join(self.dir, "logs"))
        self.client = ["127.0.0.1:%d" % free_port() for _ in range(N_METAD)]
        raft = ["127.0.0.1:%d" % free_port() for _ in range(N_METAD)]
        peers = ",".join("%d@%s" % (i + 1, raft[i]) for i in range(N_METAD))
        self.metads = []
        for i in range(N_METAD):
            self.metads.append(harness.Daemon("metad-%d" % (i + 1), [
                os.path.join(harness.BIN, "metad"), "--listen", self.client[i],
                "--raft-address", raft[i], "--raft-id", str(i + 1),
                "--set", "raft.peers=" + peers,
                "--dir", os.path.join(self.dir, "metad-%d" % (i + 1)),
                "--set", "chunkservers.heartbeat_interval=300ms",
                "--set", "chunkservers.dead_timeout=2s", *ELECTION],
                os.path.join(self.dir, "logs", "metad-%d.log" % (i + 1))))
        self.meta = ",".join(self.client)
        self.chunkds = []
        for i in range(3):
            port = free_port()
            self.chunkds.append(harness.Daemon("chunkd-%d" % (i + 1), [
                os.path.join(harness.BIN, "chunkd"), "--listen", "127.0.0.1:%d" % port,
                "--dir", os.path.join(self.dir, "chunkd-%d" % (i + 1)), "--meta", self.meta],
                os.path.join(self.dir, "logs", "chunkd-%d.log" % (i + 1))))
        self.problems = []
        for d in self.metads + self.chunkds:
            d.start()

    def daemons(self):
        return self.metads + self.chunkds

    def check_daemons(self):
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                raise harness.TestFailure(p + "\n" + d.log_tail())
            m = d.new_sanitizer_report()
            if m:
                raise harness.TestFailure("%s printed a sanitizer report (%s)\n%s"
                                          % (d.name, m, d.log_tail(40)))

    def overview(self, i):
        try:
            return wire.cluster_overview(self.client[i], 2.0)
        except Exception:  # noqa: BLE001 - down or electing: no answer
            return None

    def leader(self, timeout=20, exclude=()):
        """Index of the metad that says it is the leader (and sees 3 live chunkservers)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_daemons()
            for i, d in enumerate(self.metads):
                if i in exclude or not d.running():
                    continue
                ov = self.overview(i)
                if ov and ov["is_leader"] and sum(s["alive"] for s in ov["servers"]) == 3:
                    return i
            time.sleep(0.05)
        raise harness.TestFailure("no metad leader with 3 live chunkservers after %d s" % timeout)

    def dfs(self, *args, timeout=120):
        r = harness.subprocess.run([os.path.join(harness.BIN, "dfs"), "-q", "--meta", self.meta,
                                    *map(str, args)], capture_output=True, text=True,
                                   timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def dfs_ok(self, *args):
        rc, out, err = self.dfs(*args)
        check(rc == 0, "dfs %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
        return out

    def scratch(self, name):
        d = os.path.join(self.dir, "scratch")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def put(self, remote, size, seed):
        local = self.scratch("src-" + remote.strip("/").replace("/", "_"))
        dig = harness.make_file(local, size, seed=seed, quiet=True)
        self.dfs_ok("put", local, remote, "--replicas", 2)
        os.unlink(local)
        return dig

    def get_check(self, remote, dig):
        back = self.scratch("back")
        self.dfs_ok("get", remote, back)
        got = harness.sha256_file(back)
        os.unlink(back)
        check(got == dig, "%s read back with other bytes" % remote)

    def teardown(self):
        problems = []
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                problems.append(p)
        for d in reversed(self.daemons()):
            p = d.terminate()
            if p:
                problems.append(p)
        for d in self.daemons():
            m = harness.sanitizer_report(d.log_text())
            if m:
                problems.append("%s printed a sanitizer report (%s)" % (d.name, m))
        if problems or harness.KEEP:
            for d in self.daemons():
                print("    --- tail of %s:\n%s" % (d.log_path, d.log_tail(25)))
            print("    (kept in %s)" % self.dir)
        else:
            harness.shutil.rmtree(self.dir, ignore_errors=True)
        return problems


def through_any_address(c, files):
    lead = c.leader()
    print("    metad-%d is the leader" % (lead + 1), flush=True)
    for i in range(N_METAD):  # each address first: followers redirect to the leader
        one = [c.client[(i + k) % N_METAD] for k in range(N_METAD)]
        local = c.scratch("any")
        dig = harness.make_file(local, MiB + i, seed=70 + i, quiet=True)
        rc, _, err = c.dfs("--meta", ",".join(one), "put", local, "/any%d" % i)
        check(rc == 0, "put via %s first: %s" % (one[0], err))
        files["/any%d" % i] = dig
    for i in range(3):
        files["/f%d" % i] = c.put("/f%d" % i, 3 * MiB + 7 * i, seed=80 + i)
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
    files["/after-kill"] = c.put("/after-kill", 2 * MiB + 1, seed=90)
    c.get_check("/after-kill", files["/after-kill"])
    c.metads[lead].start()  # back as a follower: catches up from the log
    deadline = time.time() + 20
    want = c.overview(new)["files"]
    while True:
        ov = c.overview(lead)
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
    c = HaCluster()
    r.clusters.append(c)  # its daemons are checked after every case
    files = {}
    try:
        r.case("put and get through any metad address (followers redirect)",
               through_any_address, c, files)
        r.case("kill -9 of the leader: a new one, every file intact, the old one rejoins",
               kill_leader, c, files)
        r.case("puts racing a leader kill: every acknowledged one survives",
               puts_racing_a_kill, c, files)
        r.case("two of three metads down: one clear error, then work again",
               no_quorum, c, files)
    finally:
        r.clusters.remove(c)
        problems = c.teardown()
        if problems:
            r.failed += 1
            print("FAIL cluster teardown: %s" % "; ".join(problems), flush=True)
        else:
            r.passed += 1
            print("PASS cluster teardown (clean shutdown, no sanitizer report)", flush=True)


if __name__ == "__main__":
    harness.run(main)
