"""Metadata benchmarks of issue 4, run by `scripts/bench search` and `scripts/bench meta`
(stdlib only; requests go straight over the wire with many in flight, see wire.py).

  search: creates --files files (default 1,000,000, one chunk each, ids from AllocReq,
          no data written: metad keeps only metadata) in --dirs directories (10,000),
          pipelined; reports creation rate, metad RSS growth per file (and chunk), and the
          median / p90 latency of substring searches returning <= 100 results.
  meta:   create (CommitReq, empty file), stat, rename, delete: ops/s with 1 and 16
          concurrent clients (processes, one request in flight each), --ops per client.
The cluster (1 metad, 1 chunkd, no auth) is started by tests/integration/harness.py."""

import multiprocessing
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402
import wire  # noqa: E402
from wire import msg  # noqa: E402

MSG_STAT = 104


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Pipe:
    """One connection with up to `window` requests in flight."""

    def __init__(self, addr, window=512):
        self.s = wire.connect(addr, timeout=60)
        self.window = window
        self.out = []
        self.rid = 0
        self.errors = 0
        self.first_error = None

    def send(self, mtype, payload):
        self.rid += 1
        self.out.append(wire.frame(mtype, payload, req_id=self.rid))
        if len(self.out) >= self.window:
            self.flush()

    def flush(self):
        if not self.out:
            return
        self.s.sendall(b"".join(self.out))
        for _ in range(len(self.out)):
            _, _, _, rep, _ = wire.read_frame(self.s)
            err, text = wire.status_of(rep)
            if err:
                self.errors += 1
                self.first_error = self.first_error or "%d %s" % (err, text)
        self.out = []


def alloc_ids(addr, n):
    ids = []
    s = wire.MetaSession(addr, timeout=60)
    waits = 0
    while len(ids) < n:
        err, text, rep = s.req(wire.MSG_CLIENT_TO_META_ALLOC, msg((2, min(256, n - len(ids))),
                                                                   (3, 1)))
        if err == -16 and waits < 100:
            # metad counts 1 MiB of pending space per allocated chunk until the chunkserver
            # reports writes, or forgets it 10 s after the last allocation; nothing is
            # written here, so wait for that (the time is not part of any result)
            waits += 1
            time.sleep(11)
            continue
        if err:
            raise RuntimeError("alloc: %d %s" % (err, text))
        for raw in rep.get(2, []):
            a = wire.decode(raw)
            ids.append((wire.one(a, 1), wire.one(a, 2)))
    s.close()
    return ids


def bench_search(c, files, dirs, searches, seed):
    rng = random.Random(seed)
    print("search bench: %d files in %d directories (seed %d)" % (files, dirs, seed))
    pid = c.metad.pid
    rss0 = rss_kib(pid)
    p = Pipe(c.meta)
    t0 = time.time()
    for d in range(dirs):
        p.send(wire.MSG_CLIENT_TO_META_MKDIR, msg((2, "/d%05d" % d)))
    p.flush()
    t1 = time.time()
    ids = alloc_ids(c.meta, files)
    t2 = time.time()
    for i in range(files):
        cid, ver = ids[i]
        ch = msg((1, cid), (2, ver), (3, 4096), (4, 1), (7, i + 1))
        p.send(wire.MSG_CLIENT_TO_META_COMMIT,
               msg((2, "/d%05d/file-%07d.dat" % (i % dirs, i)), (3, 4096), (4, 1)) +
               wire.f_bytes(8, ch))
    p.flush()
    t3 = time.time()
    if p.errors:
        raise RuntimeError("%d creates failed, first: %s" % (p.errors, p.first_error))
    time.sleep(1.0)
    rss1 = rss_kib(pid)
    print("  mkdir %d dirs: %.1f s; alloc %d ids: %.1f s (incl. waits for metad to forget pending space); create %d files: %.1f s (%.0f files/s)"
          % (dirs, t1 - t0, files, t2 - t1, files, t3 - t2, files / max(t3 - t2, 1e-9)))
    print("  metad RSS %.1f MiB -> %.1f MiB: %.0f bytes per file (each file has 1 chunk)"
          % (rss0 / 1024, rss1 / 1024, (rss1 - rss0) * 1024.0 / files))
    s = wire.MetaSession(c.meta, timeout=60)
    lat, counts = [], []
    for _ in range(searches):
        k = rng.randrange(files // 100)
        pat = "file-%05d" % k  # matches file-KKKKK00..99: 100 names
        t = time.perf_counter()
        err, text, rep = s.req(wire.MSG_CLIENT_TO_META_SEARCH, msg((2, pat), (11, 1000)))
        lat.append((time.perf_counter() - t) * 1000)
        if err:
            raise RuntimeError("search: %d %s" % (err, text))
        counts.append(len(rep.get(2, [])))
    lat.sort()
    print("  substring search (%d queries, %d..%d results each): median %.2f ms, p90 %.2f ms"
          % (searches, min(counts), max(counts), statistics.median(lat),
             lat[int(len(lat) * 0.9)]))
    t = time.perf_counter()
    err, text, rep = s.req(wire.MSG_CLIENT_TO_META_SEARCH, msg((2, "file-*7.dat"), (4, True),
                                                            (11, 100)))
    print("  glob search 'file-*7.dat' (limit 100): %.2f ms, %d hits, scanned %d"
          % ((time.perf_counter() - t) * 1000, len(rep.get(2, [])), wire.one(rep, 4)))
    s.close()


def _client(args):
    addr, cid, ops, kind = args
    s = wire.MetaSession(addr, timeout=60)
    base = "/c%02d" % cid
    n = 0
    t = time.perf_counter()
    for i in range(ops):
        if kind == "create":
            r = s.req(wire.MSG_CLIENT_TO_META_COMMIT, msg((2, "%s/f%06d" % (base, i)), (4, 1)))
        elif kind == "stat":
            r = s.req(MSG_STAT, msg((2, "%s/f%06d" % (base, i))))
        elif kind == "rename":
            r = s.req(wire.MSG_CLIENT_TO_META_RENAME, msg((2, "%s/f%06d" % (base, i)),
                                                          (3, "%s/g%06d" % (base, i))))
        else:
            r = s.req(wire.MSG_CLIENT_TO_META_DELETE, msg((2, "%s/g%06d" % (base, i))))
        n += r[0] == 0
    el = time.perf_counter() - t
    s.close()
    return n, el


def bench_meta(c, ops):
    print("metadata ops/s (one request in flight per client, %d ops per client)" % ops)
    s = wire.MetaSession(c.meta)
    for cid in range(16):
        s.req(wire.MSG_CLIENT_TO_META_MKDIR, msg((2, "/c%02d" % cid)))
    s.close()
    for clients in (1, 16):
        line = []
        for kind in ("create", "stat", "rename", "delete"):
            with multiprocessing.Pool(clients) as pool:
                t = time.perf_counter()
                res = pool.map(_client, [(c.meta, cid, ops, kind) for cid in range(clients)])
                el = time.perf_counter() - t
            done = sum(r[0] for r in res)
            if done != clients * ops:
                raise RuntimeError("%s: %d of %d ops failed" % (kind, clients * ops - done,
                                                                  clients * ops))
            line.append("%s %.0f" % (kind, done / el))
        print("  %2d client%s: %s ops/s" % (clients, "s" if clients > 1 else " ", ", ".join(line)))


def main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="scripts/bench search|meta")
    p.add_argument("what", choices=("search", "meta"))
    p.add_argument("--files", type=int, default=1000000)
    p.add_argument("--dirs", type=int, default=10000)
    p.add_argument("--searches", type=int, default=50)
    p.add_argument("--ops", type=int, default=2000, help="meta: ops per client and kind")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra metad config (e.g. raft.snapshot_trailing=64)")
    a = p.parse_args(argv)
    if a.files < 100 or a.dirs < 1 or a.searches < 1 or a.ops < 1:
        p.error("--files >= 100, --dirs, --searches and --ops >= 1")
    with harness.Cluster(chunkservers=1, name="bench-" + a.what,
                         metad_args=("--log-level", "warn",
                                     *[x for kv in a.set for x in ("--set", kv)])) as c:
        if a.what == "search":
            bench_search(c, a.files, a.dirs, a.searches, a.seed)
        else:
            bench_meta(c, a.ops)


if __name__ == "__main__":
    main(sys.argv[1:])
