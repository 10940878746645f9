"""scripts/bench compare: issue 18's table, dfs against MooseFS on this machine in one run.

Medians of --runs rounds, with the ratio dfs / MooseFS of every figure next to the
issue's aim.

Both systems run side by side, 3 data servers each, 2 copies of every chunk:
  - dfs: scripts/cluster up (authd, 1 metad, 3 chunkd, dfsgw idle; authentication on) in
    a temp dir on free loopback ports, binaries from $DFS_BIN or build/bin, a registered
    and logged-in user `bench` (HOME and XDG_CONFIG_HOME in the temp dir; no DFS_*
    variable of the caller reaches the CLI); the CLI as a user runs it: `dfs put`,
    `dfs get`, `dfs put -r`, `dfs get -r`;
  - MooseFS 3.0.117 (Debian's moosefs-master, -chunkserver, -client, -cli; installed
    with apt-get when missing): mfsmaster and 3 mfschunkserver in a network namespace
    `dfscmp-PID` whose lo also has 10.231.0.1 (the master refuses 127/8), mfsmount in the
    host's mount namespace, goal 2 and trash time 0 on the mount's root, everything else
    as shipped (HDD_FSYNC_BEFORE_CLOSE=0, the daemons and the mount renice themselves to
    -19); --mfs-fsync 1 and --mfs-nice 0 give bench_mount's settings instead.
Figures (--only takes their names, comma-separated):
  put      1 GiB (--size) from a page-cached local file of random bytes: MooseFS
           `dd if=SRC of=MNT/f bs=1M conv=fsync`, dfs `dfs put SRC /f` (returns when both
           replicas have fsynced and metad has committed), MB/s;
  get      cold, to /dev/null: `dd if=MNT/f of=/dev/null bs=1M` / `dfs get /f -`, MB/s;
  getfile  cold, into a local file (no fsync, the page cache like dfs):
           `dd if=MNT/f of=LOCAL bs=1M` / `dfs get /f LOCAL`, MB/s;
  create   --files (1000) x --file-size (4096) B: one Python process writing the files
           on the mount (open/write/close each) / one `dfs put -r DIR /dst`, files/s;
  read     cold read-back of them: one Python process reading them from the mount /
           one `dfs get -r /dst LOCALDIR`, files/s;
  meta     empty-file creates with 16 clients, --meta-ops (2000) each in a directory of
           its own: 16 processes creating files on the mount / 16 wire clients of
           tests/bench/bench_meta.py (its `_client`, one CommitReq in flight each, with
           the administrator's token; /c00../c15), ops/s.
"Cold": `echo 3 > /proc/sys/vm/drop_caches` before each cold measurement and, for
MooseFS, its mount unmounted and mounted again (mfsmount keeps no data across it). The
order of the systems alternates between rounds. --tls also runs a second dfs cluster
with TLS on every link (scripts/cluster up --tls) and measures put and both cold gets
on it in the same rounds: "TLS cost: put -X %, get -Y %". Prints every round, then a
markdown table (figure | MooseFS | dfs | ratio | aim | rounds), the peak RSS of each
daemon; --json FILE writes every raw round, the medians and the settings.

  scripts/bench compare [--size MIB] [--files N] [--file-size B] [--runs R]
                        [--meta-ops N] [--only FIG[,FIG]] [--tls] [--json FILE]
                        [--mfs-fsync 0|1] [--mfs-nice N] [--dfs-only]"""

import argparse
import functools
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))  # wire.py
import benchlib  # noqa: E402
from benchlib import (BIN, ROOT, MiB, MooseFS, CREATE, READ, drop_caches,  # noqa: E402
                      free_base_port, log, moosefs_missing, peak_rss, py_timed, run, timed,
                      version)

benchlib.PREFIX = "bench compare"
USER, PASSWORD = "bench", "bench-compare-pw-1"
META_CLIENTS = 16

# name, label (formatted with the options), unit, aim: ("ratio", x) or ("abs", value)
FIGURES = [
    ("put", "put %(size)s", "MB/s", ("ratio", 3.0),
     "MooseFS `dd if=SRC of=MNT/f bs=1M conv=fsync`, dfs `dfs put SRC /f` (SRC page-cached)"),
    ("get", "cold get %(size)s to /dev/null", "MB/s", ("ratio", 2.5),
     "MooseFS `dd if=MNT/f of=/dev/null bs=1M`, dfs `dfs get /f - > /dev/null`"),
    ("getfile", "cold get %(size)s into a file", "MB/s", ("ratio", 2.5),
     "MooseFS `dd if=MNT/f of=LOCAL bs=1M`, dfs `dfs get /f LOCAL` (dfs fsyncs the file "
     "before it renames it into place, dd does not)"),
    ("create", "create %(files)d x %(fsize)s", "files/s", ("ratio", 10.0),
     "MooseFS one Python process (open/write/close each), dfs one `dfs put -r DIR /dst`"),
    ("read", "cold read %(files)d x %(fsize)s", "files/s", ("ratio", 5.0),
     "MooseFS one Python process reading them, dfs one `dfs get -r /dst LOCALDIR`"),
    ("meta", "metadata creates, 16 x %(metaops)d", "ops/s", ("abs", 20000),
     "16 processes creating empty files on the mount / 16 bench_meta wire clients"),
]
NAMES = [f[0] for f in FIGURES]
TLS_FIGURES = ("put", "get", "getfile")


def clean_env(**extra):
    """The caller's environment without any DFS_* variable (so neither the caller's
    cluster nor their session can leak in), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFS_")}
    env.update(extra)
    return env


def timed_quiet(argv, env=None, timeout=1800):
    """Seconds that argv took, its stdout to /dev/null (a 1 GiB `dfs get -` must not
    pass through Python)."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, argv[:6])), r.returncode,
                                                r.stderr.strip()[-800:]))
    return dt


def settle():
    """Writes back every dirty page first (untimed): MooseFS's chunkservers do not fsync
    (as shipped), so without this the next measurement, of either system, would pay for
    flushing the previous one's gigabyte."""
    os.sync()


def warm(path):
    """Reads path (a file or a directory's files) so that it is in the page cache."""
    paths = [path] if os.path.isfile(path) else [os.path.join(path, n) for n in os.listdir(path)]
    for p in paths:
        with open(p, "rb") as f:
            while f.read(MiB):
                pass


class DfsCluster:
    """scripts/cluster up with authentication (and TLS when tls) in tmp/NAME, the user
    `bench` registered and logged in (its session in tmp), the administrator logged in
    for the wire clients of the metadata figure."""

    def __init__(self, tmp, name, tls=False, start_port=23400):
        self.name = name
        self.tls = tls
        self.tmp = tmp
        self.cdir = os.path.join(tmp, name + "-cluster")
        self.port = free_base_port(start_port)
        self.meta = "127.0.0.1:%d" % self.port
        self.auth = "127.0.0.1:%d" % (self.port + 100)
        home = os.path.join(tmp, name + "-home")
        self.env = clean_env(DFS_BIN=BIN, HOME=home)
        self.cenv = clean_env(DFS_META=self.meta, DFS_AUTH=self.auth, HOME=home,
                              XDG_CONFIG_HOME=os.path.join(home, ".config"), USER=USER)
        if tls:
            self.cenv["DFS_TLS_CA"] = os.path.join(self.cdir, "tls", "ca.pem")
        self.home = "/home/" + USER
        self.up = False
        self.token = None

    def cluster(self, *args):
        return run([os.path.join(ROOT, "scripts", "cluster"), *args, "--dir", self.cdir],
                   env=self.env)

    def dfs_argv(self, *args):
        return [os.path.join(BIN, "dfs"), "-q"] + [str(a) for a in args]

    def dfs(self, *args, **kw):
        return run(self.dfs_argv(*args), self.cenv, **kw)

    def start(self):
        log("%s: scripts/cluster up%s (authd, metad, 3 chunkd) on 127.0.0.1:%d"
            % (self.name, " --tls" if self.tls else "", self.port))
        self.up = True
        self.cluster("up", "--chunkservers", "3", "--port", str(self.port),
                     "--log-level", "warn", *(["--tls"] if self.tls else []))
        os.makedirs(self.cenv["HOME"], exist_ok=True)
        self.dfs("register", USER, "--password-stdin", input=PASSWORD + "\n")
        self.dfs("login", USER, "--password-stdin", input=PASSWORD + "\n")

    def admin_token(self):
        """A session token of the administrator, logged in over the wire (authd)."""
        if self.token is None:
            import wire
            with open(os.path.join(self.cdir, "admin.password")) as f:
                pw = f.read().strip()
            _, _, _, rep, _ = wire.call(self.auth, 402, wire.f_bytes(1, "admin") +
                                        wire.f_bytes(2, pw), timeout=30)
            err, text = wire.status_of(rep)
            if err:
                raise RuntimeError("%s: admin login: %d %s" % (self.name, err, text))
            self.token = wire.one(wire.decode(rep), 2, b"").decode()
        return self.token

    def admin_req(self, mtype, payload):
        import wire
        s = wire.MetaSession(self.meta, timeout=60, token=self.admin_token())
        try:
            err, text, _ = s.req(mtype, payload)
        finally:
            s.close()
        return err, text

    def daemons_rss(self):
        out = {}
        piddir = os.path.join(self.cdir, "pids")
        for n in sorted(os.listdir(piddir), key=lambda n: (n != "metad.pid", n)):
            with open(os.path.join(piddir, n)) as f:
                out[n[:-4]] = peak_rss(int(f.read()))
        return out

    def close(self):
        if self.up:
            try:
                self.cluster("down", "--purge")
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log("%s: cluster down: %s" % (self.name, e))


# --- the metadata figure --------------------------------------------------------------

def _worker_init(token=None):
    """Pool initializer: the default signal handlers (ours turn SIGTERM into cleanup);
    with a token, bench_meta's clients (they open wire.MetaSession(addr, timeout=60))
    send it with every request, as this cluster needs."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    if token is None:
        return
    import wire
    wire.MetaSession = functools.partial(wire.MetaSession, token=token)


def _mfs_creates(args):
    d, n = args
    t = time.perf_counter()
    for i in range(n):
        os.close(os.open(os.path.join(d, "f%06d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o644))
    return n, time.perf_counter() - t


def meta_dfs(c, ops):
    """16 bench_meta clients creating `ops` empty files each in /c00../c15: ops/s over
    the wall time of all of them (the pool is started before the clock, as bench_meta
    does)."""
    import bench_meta
    import wire
    for cid in range(META_CLIENTS):
        err, text = c.admin_req(wire.MSG_CLIENT_TO_META_MKDIR, wire.msg((2, "/c%02d" % cid)))
        if err:
            raise RuntimeError("mkdir /c%02d: %d %s" % (cid, err, text))
    with multiprocessing.Pool(META_CLIENTS, initializer=_worker_init,
                              initargs=(c.admin_token(),)) as pool:
        t = time.perf_counter()
        res = pool.map(bench_meta._client, [(c.meta, cid, ops, "create")
                                            for cid in range(META_CLIENTS)])
        el = time.perf_counter() - t
    done = sum(r[0] for r in res)
    if done != META_CLIENTS * ops:
        raise RuntimeError("dfs: %d of %d metadata creates failed"
                           % (META_CLIENTS * ops - done, META_CLIENTS * ops))
    return done / el


def meta_dfs_cleanup(c):
    env = dict(c.cenv, XDG_CONFIG_HOME=os.path.join(c.tmp, c.name + "-admin"))
    with open(os.path.join(c.cdir, "admin.password")) as f:
        pw = f.read()
    run(c.dfs_argv("login", "admin", "--password-stdin"), env, input=pw)
    run(c.dfs_argv("rm", "-r", "--skip-trash", *["/c%02d" % i for i in range(META_CLIENTS)]),
        env)


def meta_mfs(m, r, ops):
    base = os.path.join(m.work, "meta-%d" % r)
    dirs = [os.path.join(base, "c%02d" % cid) for cid in range(META_CLIENTS)]
    for d in dirs:
        os.makedirs(d)
    with multiprocessing.Pool(META_CLIENTS, initializer=_worker_init) as pool:
        t = time.perf_counter()
        res = pool.map(_mfs_creates, [(d, ops) for d in dirs])
        el = time.perf_counter() - t
    return sum(x[0] for x in res) / el


# --- the run -------------------------------------------------------------------------

def human_size(b):
    if b % (1 << 30) == 0:
        return "%d GiB" % (b >> 30)
    if b % MiB == 0:
        return "%d MiB" % (b // MiB)
    if b % 1024 == 0:
        return "%d KiB" % (b // 1024)
    return "%d B" % b


def fmt(v):
    if v is None:
        return "-"
    return "{:,.0f}".format(v) if v >= 100 else "%.1f" % v


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/bench compare", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[1:]))
    p.add_argument("--size", type=int, default=1024, help="big file, MiB (1024)")
    p.add_argument("--files", type=int, default=1000, help="small files (1000)")
    p.add_argument("--file-size", type=int, default=4096, help="small file size, B (4096)")
    p.add_argument("--runs", type=int, default=3, help="rounds; medians are reported (3)")
    p.add_argument("--meta-ops", type=int, default=2000,
                   help="metadata creates per client, 16 clients (2000)")
    p.add_argument("--only", default=",".join(NAMES),
                   help="figures to measure, comma-separated: %s (all)" % ",".join(NAMES))
    p.add_argument("--tls", action="store_true",
                   help="also put/get on a second dfs cluster with TLS on every link")
    p.add_argument("--json", metavar="FILE", help="write every round and the medians here")
    p.add_argument("--mfs-fsync", type=int, choices=(0, 1), default=0,
                   help="MooseFS chunkservers' HDD_FSYNC_BEFORE_CLOSE (0: as shipped)")
    p.add_argument("--mfs-nice", type=int, default=None,
                   help="NICE_LEVEL of the MooseFS daemons and mfsnice of its mount "
                        "(default: as shipped, -19)")
    p.add_argument("--dfs-only", action="store_true", help="measure dfs alone")
    a = p.parse_args(argv)
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    bad = [x for x in only if x not in NAMES]
    if bad or not only:
        p.error("--only: unknown figure(s) %s; choose from %s" % (",".join(bad), ",".join(NAMES)))
    only = [n for n in NAMES if n in only]
    if min(a.size, a.files, a.file_size, a.runs, a.meta_ops) < 1:
        p.error("sizes and counts must be positive")
    for b in ("metad", "chunkd", "authd", "dfs", "dfsgw"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            sys.exit("bench compare: %s/%s not found; build first (or set DFS_BIN)" % (BIN, b))

    def interrupted(sig, _frame):  # SIGTERM/SIGHUP: clean up like ^C
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    mfs_error = "--dfs-only" if a.dfs_only else moosefs_missing()
    versions = {"dfs": version([os.path.join(BIN, "dfs"), "--version"]), "dfs_bin": BIN,
                "moosefs": version(["mfsmaster", "-v"]) if not mfs_error else None,
                "python": platform.python_version()}
    print(benchlib.machine_line())
    print("dfs: %s (binaries %s); MooseFS: %s; python %s"
          % (versions["dfs"], BIN, versions["moosefs"] or "-", versions["python"]), flush=True)
    names = {"size": human_size(a.size * MiB), "files": a.files,
             "fsize": human_size(a.file_size), "metaops": a.meta_ops}
    need_big = any(f in only for f in ("put", "get", "getfile"))
    need_small = any(f in only for f in ("create", "read"))

    tmp = tempfile.mkdtemp(prefix="dfs-bench-compare-", dir=os.environ.get("DFS_BENCH_TMP"))
    dfs = DfsCluster(tmp, "dfs")
    tls = None
    mfs = None
    res = {}
    try:
        dfs.start()
        systems = [dfs]
        if a.tls:
            tls = DfsCluster(tmp, "dfs-tls", tls=True, start_port=dfs.port + 300)
            tls.start()
            systems.append(tls)
        if mfs_error is None:
            mfs = MooseFS(tmp, a.mfs_fsync, nice=a.mfs_nice, nsprefix="dfscmp")
            try:
                mfs.start()
                systems.insert(0, mfs)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                mfs_error = "MooseFS did not start: %s" % e
                mfs.close()
                mfs = None
        if mfs_error:
            log("measuring dfs alone: " + mfs_error)
        cold_ok = drop_caches()
        if not cold_ok:
            log("NOT ROOT: cannot write /proc/sys/vm/drop_caches, so the 'cold' reads are "
                "not cold (the page cache keeps what was written)")

        big = os.path.join(tmp, "big.bin")
        small = os.path.join(tmp, "small")
        if need_big:
            log("writing a %d MiB local file of random bytes" % a.size)
            with open(big, "wb") as f:
                for _ in range(a.size):
                    f.write(os.urandom(MiB))
        if need_small:
            os.makedirs(small)
            for i in range(a.files):
                with open(os.path.join(small, "f%05d" % i), "wb") as f:
                    f.write(os.urandom(a.file_size))
        res = {f: {s.name: [] for s in systems} for f in only}
        size_b = a.size * MiB
        mb = size_b / 1e6

        def bigpath(s, r):
            return os.path.join(s.work, "big-%d" % r) if s is mfs else "%s/big-%d" % (s.home, r)

        def smallpath(s, r):
            return os.path.join(s.work, "small-%d" % r) if s is mfs else "%s/small-%d" % (s.home, r)

        def cold(s):
            if s is mfs:
                s.remount()
            if cold_ok:
                drop_caches()

        def applies(f, s):
            return s is not tls or f in TLS_FIGURES

        for r in range(1, a.runs + 1):
            order = systems if r % 2 else systems[::-1]
            back = os.path.join(tmp, "back.bin")
            # put (or, for the gets alone, the same file untimed)
            for s in order:
                if not need_big:
                    continue
                warm(big)
                settle()
                if s is mfs:
                    t = timed(["dd", "if=" + big, "of=" + bigpath(s, r), "bs=1M", "conv=fsync"])
                    out = s.check_copies(bigpath(s, r))
                    if "with 2 copies" not in out or "with 1 cop" in out or "with 0 cop" in out:
                        raise RuntimeError("MooseFS stored %s not at 2 copies: %s"
                                           % (bigpath(s, r), out))
                else:
                    t = timed_quiet(s.dfs_argv("put", big, bigpath(s, r), "--replicas", 2),
                                    s.cenv)
                if "put" in only:
                    res["put"][s.name].append(mb / t)
            # small creates
            for s in order:
                if not need_small or s is tls:
                    continue
                if s is mfs:
                    settle()
                    t = py_timed(CREATE, smallpath(s, r), a.files, a.file_size)
                else:
                    warm(small)
                    settle()
                    t = timed_quiet(s.dfs_argv("put", "-r", small, smallpath(s, r),
                                               "--replicas", 2), s.cenv)
                if "create" in only:
                    res["create"][s.name].append(a.files / t)
            # metadata creates, 16 clients
            if "meta" in only:
                for s in order:
                    if s is tls:
                        continue
                    res["meta"][s.name].append(meta_mfs(s, r, a.meta_ops) if s is mfs
                                               else meta_dfs(s, a.meta_ops))
            # cold reads
            for s in order:
                if "get" not in only or not applies("get", s):
                    continue
                cold(s)
                if s is mfs:
                    t = timed(["dd", "if=" + bigpath(s, r), "of=/dev/null", "bs=1M"])
                else:
                    t = timed_quiet(s.dfs_argv("get", bigpath(s, r), "-"), s.cenv)
                res["get"][s.name].append(mb / t)
            for s in order:
                if "getfile" not in only or not applies("getfile", s):
                    continue
                cold(s)
                if s is mfs:
                    t = timed(["dd", "if=" + bigpath(s, r), "of=" + back, "bs=1M"])
                else:
                    t = timed_quiet(s.dfs_argv("get", bigpath(s, r), back), s.cenv)
                res["getfile"][s.name].append(mb / t)
                if os.path.getsize(back) != size_b:
                    raise RuntimeError("%s: get returned %d bytes, expected %d"
                                       % (s.name, os.path.getsize(back), size_b))
                if r == 1:  # the bytes are right (not timed)
                    if run(["cmp", big, back], check=False, timeout=600) != "":
                        raise RuntimeError("%s: the file read back differs from the one "
                                           "written" % s.name)
                os.unlink(back)
            for s in order:
                if "read" not in only or s is tls:
                    continue
                cold(s)
                if s is mfs:
                    t = py_timed(READ, smallpath(s, r), a.files, a.file_size)
                else:
                    dst = os.path.join(tmp, "small-back")
                    t = timed_quiet(s.dfs_argv("get", "-r", smallpath(s, r), dst), s.cenv)
                    got = os.listdir(dst)
                    if len(got) != a.files or any(
                            os.path.getsize(os.path.join(dst, n)) != a.file_size for n in got):
                        raise RuntimeError("dfs get -r returned %d files of %d (or wrong sizes)"
                                           % (len(got), a.files))
                    shutil.rmtree(dst)
                res["read"][s.name].append(a.files / t)
            print("round %d: " % r + "; ".join(
                "%s %s" % (s.name, ", ".join("%s %s" % (f, fmt(res[f][s.name][-1]))
                                             for f in only if res[f][s.name]))
                for s in systems), flush=True)
            # keep the disk use to one round's worth (not timed)
            for s in systems:
                if s is mfs:
                    for d in ("big-%d", "small-%d", "meta-%d"):
                        pth = os.path.join(s.work, d % r)
                        if os.path.isdir(pth):
                            shutil.rmtree(pth)
                        elif os.path.exists(pth):
                            os.unlink(pth)
                else:
                    paths = ([bigpath(s, r)] if need_big else []) + \
                        ([smallpath(s, r)] if need_small and s is not tls else [])
                    if paths:
                        s.dfs("rm", "-r", "--skip-trash", *paths)
                    if "meta" in only and s is not tls:
                        meta_dfs_cleanup(s)

        rss = {s.name: s.daemons_rss() for s in systems}
        report(a, only, names, res, rss, mfs, tls, mfs_error, cold_ok, versions)
    except KeyboardInterrupt as e:
        log("interrupted (%s): cleaning up" % e)
        raise SystemExit(1)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("failed: %s" % e)
        for s in (dfs, tls):
            logs = os.path.join(s.cdir, "logs") if s else ""
            if s and os.path.isdir(logs):
                for n in sorted(os.listdir(logs)):
                    t = benchlib.tail(os.path.join(logs, n), 6)
                    if t:
                        print("--- %s %s:\n%s" % (s.name, n, t), file=sys.stderr)
        raise SystemExit(1)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            if mfs:
                mfs.close()
        finally:
            for s in (tls, dfs):
                if s:
                    s.close()
            shutil.rmtree(tmp, ignore_errors=True)


def report(a, only, names, res, rss, mfs, tls, mfs_error, cold_ok, versions):
    med = statistics.median
    rows = []
    for name, label, unit, (kind, aim), _ in FIGURES:
        if name not in only:
            continue
        d = med(res[name]["dfs"]) if res[name].get("dfs") else None
        m = med(res[name]["MooseFS"]) if mfs and res[name].get("MooseFS") else None
        ratio = d / m if d is not None and m else None
        if kind == "ratio":
            aim_s = ">= %gx" % aim
            met = ratio is not None and ratio >= aim
        else:
            aim_s = ">= {:,}/s (dfs)".format(aim)
            met = d is not None and d >= aim
        rows.append({"figure": name, "label": (label % names) + " (%s)" % unit, "unit": unit,
                     "moosefs": m, "dfs": d, "ratio": ratio, "aim": aim_s,
                     "aim_met": met if (ratio is not None or kind == "abs") else None,
                     "rounds": {k: v for k, v in res[name].items()}})
    print()
    print("dfs vs MooseFS (issue 18): 3 data servers each, 2 copies, medians of %d round(s); "
          "ratio = dfs / MooseFS (above 1: dfs faster)" % a.runs)
    print("MooseFS: %s; cold = %s" % (
        "HDD_FSYNC_BEFORE_CLOSE=%d, nice %s" % (a.mfs_fsync, "as shipped (-19)" if a.mfs_nice is None
                                                else a.mfs_nice) if mfs
        else "not measured (%s)" % mfs_error,
        "drop_caches + MooseFS remounted" if cold_ok else
        "NOT COLD: not root, drop_caches failed (MooseFS remounted only)"))
    print()
    print("| figure | MooseFS | dfs | ratio | aim | all rounds (MooseFS / dfs) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        ratio = "%.2fx" % row["ratio"] if row["ratio"] is not None else "-"
        aim = row["aim"] + ("" if row["aim_met"] is None else
                            (" met" if row["aim_met"] else " NOT met"))
        rounds = " / ".join(" ".join(fmt(v) for v in row["rounds"].get(k, []))
                            for k in ("MooseFS", "dfs") if row["rounds"].get(k))
        print("| %s | %s | %s | %s | %s | %s |" % (row["label"], fmt(row["moosefs"]),
                                                  fmt(row["dfs"]), ratio, aim, rounds))
    print()
    for name, label, _, _, how in FIGURES:
        if name in only:
            print("  %-8s %s" % (name + ":", how))
    tls_cost = {}
    if tls:
        print()
        print("| TLS (dfs, same rounds) | dfs | dfs TLS | cost | all rounds (dfs / dfs TLS) |")
        print("|---|---|---|---|---|")
        for name, label, unit, _, _ in FIGURES:
            if name not in only or name not in TLS_FIGURES:
                continue
            d, t = med(res[name]["dfs"]), med(res[name]["dfs-tls"])
            tls_cost[name] = (1 - t / d) * 100
            print("| %s | %s | %s | %+.1f %% | %s |" % (
                (label % names) + " (%s)" % unit, fmt(d), fmt(t), -tls_cost[name],
                " ".join(fmt(v) for v in res[name]["dfs"]) + " / " +
                " ".join(fmt(v) for v in res[name]["dfs-tls"])))
        parts = ["%s -%.1f %%" % (n, tls_cost[k]) for n, k in
                 (("put", "put"), ("get", "get"), ("get into a file", "getfile"))
                 if k in tls_cost]
        if parts:
            print("TLS cost: " + ", ".join(parts))
    print()
    for sname, r in rss.items():
        print("peak RSS (VmHWM) %s: %s" % (sname, ", ".join(
            "%s %s" % (n, "%.1f MiB" % (v / MiB) if v is not None else "?")
            for n, v in r.items())))
    if a.json:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": benchlib.machine_line(),
               "versions": versions,
               "options": {k: getattr(a, k) for k in ("size", "files", "file_size", "runs",
                                                      "meta_ops", "tls", "mfs_fsync",
                                                      "mfs_nice")},
               "figures": only, "cold": cold_ok, "moosefs_error": mfs_error,
               "rows": rows, "tls_cost_percent": tls_cost, "peak_rss_bytes": rss}
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print("raw rounds written to %s" % a.json)


if __name__ == "__main__":
    main(sys.argv[1:])
