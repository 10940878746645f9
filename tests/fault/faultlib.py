"""Fault-injection helpers (python3 stdlib, on top of tests/integration/harness.py): the
seed, seeded file models whose bytes can be recomputed, wire GetFile/ReadChunk/ClusterRep
health, chunk files on disk, the fault-hook file of a chunkd, a liveness prober and the
invariant checks of issue 5. Every random choice comes from one seed (DFS_FAULT_SEED)."""

import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
from harness import check, MiB, GiB, TestFailure  # noqa: E402,F401
import wire  # noqa: E402

MSG_GETFILE, MSG_GETFILE_REP = 112, 113
CHUNK = MiB
HDR = 4096  # chunk file header (docs/internals.md)
# wait_healthy gives up early when the number of problems has not dropped for this long
NO_PROGRESS = float(os.environ.get("DFS_FAULT_NO_PROGRESS", "25" if not harness.SANITIZED else "50"))


def seed_from_env():
    seed = int(os.environ.get("DFS_FAULT_SEED") or random.randrange(1 << 31))
    print("seed %d (DFS_FAULT_SEED=%d replays this run)" % (seed, seed), flush=True)
    return seed


def scale(release, sanitized):
    return sanitized if harness.SANITIZED else release


# --- the model of acknowledged files ------------------------------------------------------

class FileModel:
    """A file the cluster acknowledged: its path, goal and the bytes it must read back as
    (recomputed from `seed`)."""

    def __init__(self, path, size, seed, goal):
        self.path, self.size, self.seed, self.goal = path, size, seed, goal
        self.data = random.Random(seed).randbytes(size)


def put_file(c, rng, path, size, goal, extra=()):
    """Writes a seeded file through the CLI; returns (FileModel or None, rc, stderr)."""
    seed = rng.randrange(1 << 31)
    m = FileModel(path, size, seed, goal)
    local = c.scratch("put-%d" % seed)
    with open(local, "wb") as f:
        f.write(m.data)
    rc, _, err = c.dfs("put", local, path, "--replicas", goal, *extra, timeout=120)
    os.unlink(local)
    return (m if rc == 0 else None), rc, err


def read_back(c, m):
    """Invariant 1 for one file: `dfs get` either fails with an error or gives exactly the
    acknowledged bytes. Returns True if it read back, False if it failed cleanly."""
    back = c.scratch("get-%d" % m.seed)
    if os.path.exists(back):
        os.unlink(back)
    rc, _, err = c.dfs("get", m.path, back, timeout=120)
    if rc != 0:
        check(err.strip().startswith("dfs: "), "%s: get failed without an error line: %r"
              % (m.path, err))
        return False
    with open(back, "rb") as f:
        got = f.read()
    os.unlink(back)
    check(got == m.data, "INVARIANT 1 VIOLATED: %s read back %d bytes that differ from the "
          "%d acknowledged ones (seed %d)" % (m.path, len(got), m.size, m.seed))
    return True


def verify_all(c, files, must_read=True):
    """Reads every acknowledged file; wrong bytes always fail; with must_read also a
    failed read."""
    bad = [m.path for m in files.values() if not read_back(c, m)]
    check(not (must_read and bad), "unreadable after recovery: %s" % ", ".join(bad))
    return bad


# --- wire helpers -----------------------------------------------------------------------------

def _addr(raw):
    a = wire.decode(raw)
    return {"id": wire.one(a, 1), "host": wire.one(a, 2, b"").decode(), "port": wire.one(a, 3)}


def get_file(c, path):
    """GetFile over the wire: (error, [chunk dicts]) with id, version, length, crc,
    replicas (live, current: list of addr dicts), goal, all_replicas."""
    chunks, first = [], 0
    while True:
        req = wire.f_bytes(2, path) + wire.f_varint(3, first)
        mtype, _, _, payload, _ = wire.call(c.meta, MSG_GETFILE, req, timeout=10)
        err, msg = wire.status_of(payload)
        if err:
            return err, msg
        rep = wire.decode(payload)
        got = [wire.decode(r) for r in rep.get(3, [])]
        for ch in got:
            chunks.append({"index": wire.one(ch, 1), "id": wire.one(ch, 2),
                           "version": wire.one(ch, 3), "length": wire.one(ch, 4),
                           "crc": wire.one(ch, 5),
                           "replicas": [_addr(r) for r in ch.get(6, [])],
                           "goal": wire.one(ch, 9), "all": wire.one(ch, 10)})
        ent = wire.decode(wire.one(rep, 2, b""))
        size = wire.one(ent, 3) if ent else 0
        need = (size + CHUNK - 1) // CHUNK if size else 0
        if not got or len(chunks) >= need:
            return 0, chunks
        first = len(chunks)


def read_chunk(addr, cid, version, timeout=10):
    """(error, bytes) of a whole-chunk ReadChunk."""
    req = wire.f_varint(2, cid) + wire.f_varint(3, version)
    mtype, _, _, payload, bulk = wire.call(addr, wire.MSG_CLIENT_TO_CHUNK_READ, req,
                                           timeout=timeout)
    if mtype == wire.MSG_ERROR:
        return -10, b""
    return wire.status_of(payload)[0], bulk


def health(c):
    """ClusterRep health fields (0 when metad does not fill them) plus per-server info."""
    mtype, _, _, payload, _ = wire.call(c.meta, wire.MSG_CLIENT_TO_META_CLUSTER, b"",
                                        timeout=10)
    rep = wire.decode(payload)
    h = {k: wire.one(rep, f) for k, f in (
        ("under", 8), ("endangered", 9), ("missing", 10), ("corrupt", 11), ("over", 12),
        ("running", 13), ("queued", 14), ("done", 15), ("stolen", 16), ("chunks", 5))}
    h["servers"] = []
    for raw in rep.get(2, []):
        s = wire.decode(raw)
        a = _addr(wire.one(s, 1, b""))
        a.update(alive=bool(wire.one(s, 2)), free=wire.one(s, 4), count=wire.one(s, 5),
                 state=wire.one(s, 8, b"").decode())
        h["servers"].append(a)
    return h


# --- chunk files on disk ----------------------------------------------------------------------

def data_dir(d):
    return d.argv[d.argv.index("--dir") + 1]


def chunk_path(d, cid, version):
    return os.path.join(data_dir(d), "chunks", "%02x" % (cid & 0xFF),
                        "%016x.%d" % (cid, version))


def chunk_files(d, cid):
    """Every version of chunk cid stored on chunkd d."""
    sub = os.path.join(data_dir(d), "chunks", "%02x" % (cid & 0xFF))
    try:
        return [os.path.join(sub, n) for n in os.listdir(sub) if n.startswith("%016x." % cid)]
    except FileNotFoundError:
        return []


def replica(d, cid, version):
    """The harness.Replica of chunk cid at version on chunkd d (a chunk file, or a record
    in a volume file for chunks of at most data.pack_max bytes), or None."""
    for r in harness.chunk_replicas(data_dir(d)):
        if r.id == cid and r.version == version:
            return r
    return None


def damage(r, how, rng):
    """Damages replica r: "flip" flips one bit of its data, "truncate" cuts its file
    short (a packed record: its header is wiped instead, which loses the record the same
    way). Returns where (a byte offset in the file)."""
    if not r.packed:
        return flip_bit(r.path, rng) if how == "flip" else truncate(r.path, rng)
    if how == "flip" and r.length:
        at = rng.randrange(r.length)
        r.corrupt(offset=at, mask=1 << rng.randrange(8))
        return r.data_off + at
    r.destroy()
    return r.data_off - harness.VOL_REC_HDR


def flip_bit(path, rng):
    size = os.path.getsize(path)
    off = rng.randrange(HDR, size) if size > HDR else rng.randrange(size)
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)[0]
        f.seek(off)
        f.write(bytes([b ^ (1 << rng.randrange(8))]))
    return off


def truncate(path, rng):
    size = os.path.getsize(path)
    new = rng.randrange(HDR // 2, max(size - 1, HDR // 2 + 1))
    os.truncate(path, new)
    return new


def set_faults(d, **kv):
    """Writes the chunkd's run-time fault file (<data dir>/fault, polled every second)
    and waits until the daemon logged that it reloaded it."""
    path = os.path.join(data_dir(d), "fault")
    before = d.log_text().count("fault hooks reloaded")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in kv.items():
            f.write("%s=%s\n" % (k, v))
    os.replace(tmp, path)
    deadline = time.time() + 10
    while d.log_text().count("fault hooks reloaded") <= before:
        check(time.time() < deadline, "%s did not reload its fault file within 10 s (is it "
              "built with -DDFS_FAULT_HOOKS=ON?)" % d.name)
        time.sleep(0.1)


def clear_faults(d):
    set_faults(d)


def hooks_compiled(d):
    return "fault hooks compiled in" in d.log_text()


# --- invariant 4: daemons keep answering --------------------------------------------------

class Prober:
    """Every ~200 ms sends a cheap request to metad and to every chunkd that should be up
    (not in `down`) and counts the ones that got no answer within 3 s."""

    def __init__(self, c, period=0.2):
        self.c, self.period = c, period
        self.down = set()  # daemons deliberately killed, stopped or cut off
        self.lock = threading.Lock()
        self.sent = 0
        self.failures = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._first_seen = {}  # pid -> time: a just-started daemon may not listen yet

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join(10)
        return False

    def mark_down(self, d):
        with self.lock:
            self.down.add(d)

    def mark_up(self, d):
        with self.lock:
            self.down.discard(d)

    def _probe(self, d):
        if d is self.c.metad:
            wire.call(self.c.meta, wire.MSG_CLIENT_TO_META_CLUSTER, b"", timeout=3)
        else:
            read_chunk(d.addr, 1 << 62, 1, timeout=3)  # a chunk nobody has: an error reply

    def _run(self):
        while not self._stop.wait(self.period):
            with self.lock:
                targets = [d for d in self.c.daemons()
                           if d not in self.down and d.running()]
            for d in targets:
                t0 = time.time()
                if t0 - self._first_seen.setdefault(d.pid, t0) < 3.0:
                    continue
                try:
                    self._probe(d)
                except (OSError, ValueError) as e:
                    with self.lock:
                        if d in self.down or not d.running():
                            continue
                        self.failures.append("%s at %.1f: %s (after %.1f s)" % (
                            d.name, t0, e, time.time() - t0))
                with self.lock:
                    self.sent += 1

    def check(self):
        with self.lock:
            f = list(self.failures)
        print("    prober: %d probes, %d unanswered" % (self.sent, len(f)), flush=True)
        check(not f, "INVARIANT 4 VIOLATED: %d probes unanswered: %s" % (len(f), "; ".join(f[:5])))


# --- invariants 2 and 3: replication reaches the goal, replicas hold the right bytes ----------

def replica_state(c, files, exact=False):
    """One pass over every file: returns (problems, stats). Every replica metad lists is
    read back over the wire; wrong bytes raise at once (a stale or corrupt replica served),
    an error only counts as not-yet-healthy. exact: more replicas than the goal is a
    problem too (trimming)."""
    problems, under, one, missing = [], 0, 0, 0
    for m in files.values():
        err, chunks = get_file(c, m.path)
        if err:
            problems.append("%s: GetFile %d %s" % (m.path, err, chunks))
            continue
        for ch in chunks:
            goal = ch["goal"] or m.goal
            live = ch["replicas"]
            if len(live) < goal:
                under += 1
                one += len(live) <= 1
                missing += len(live) == 0
                problems.append("%s chunk %d: %d of %d replicas" % (
                    m.path, ch["index"], len(live), goal))
            elif exact and len(live) > goal:
                problems.append("%s chunk %d: %d replicas over goal %d" % (
                    m.path, ch["index"], len(live), goal))
            want = m.data[ch["index"] * CHUNK:ch["index"] * CHUNK + ch["length"]]
            for r in live:
                addr = "%s:%d" % (r["host"], r["port"])
                try:
                    e, got = read_chunk(addr, ch["id"], ch["version"])
                except (OSError, ValueError) as ex:
                    problems.append("%s chunk %d on %s: %s" % (m.path, ch["index"], addr, ex))
                    continue
                if e:
                    problems.append("%s chunk %d on %s: error %d" % (m.path, ch["index"], addr, e))
                    continue
                check(got == want, "INVARIANT 1/3 VIOLATED: %s chunk %d (id %d v%d) on %s "
                      "served %d wrong bytes" % (m.path, ch["index"], ch["id"], ch["version"],
                                                 addr, len(got)))
    return problems, {"under": under, "one": one, "missing": missing}


RECOVERY_TIMES = []  # seconds each wait_healthy took, for print_recovery_times


def print_recovery_times():
    """One line: how long the cluster took to be healthy again after each fault."""
    t = sorted(RECOVERY_TIMES)
    if not t:
        return
    print("recovery times: %d waits, median %.1f s, 90th percentile %.1f s, max %.1f s" % (
        len(t), t[len(t) // 2], t[min(len(t) - 1, int(len(t) * 0.9))], t[-1]), flush=True)


def wait_healthy(c, files, timeout, exact=False, what="replication"):
    """Invariant 2: every chunk of every file reaches its goal (and only good replicas are
    listed) within `timeout` seconds. Returns the seconds it took."""
    t0 = time.time()
    best, best_t = None, t0
    while True:
        c.check_daemons()
        problems, _ = replica_state(c, files, exact)
        if not problems:
            RECOVERY_TIMES.append(time.time() - t0)
            return time.time() - t0
        now = time.time()
        if best is None or len(problems) < best:
            best, best_t = len(problems), now
        stalled = now - best_t > NO_PROGRESS
        if now - t0 > timeout or stalled:
            raise TestFailure("INVARIANT 2 VIOLATED: %s not restored %s after the faults "
                              "stopped (%d problems, e.g. %s)" % (
                                  what, "and no progress for %d s" % NO_PROGRESS if stalled
                                  else "%d s" % timeout, len(problems), "; ".join(problems[:4])))
        time.sleep(0.5)


def servers_of(c, m):
    """Ports of the live replicas of every chunk of file m."""
    err, chunks = get_file(c, m.path)
    check(err == 0, "GetFile %s: %d %s" % (m.path, err, chunks))
    return chunks


def by_port(c, port):
    return next(d for d in c.chunkds if d.port == port)
