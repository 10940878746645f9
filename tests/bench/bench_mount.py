"""scripts/bench mount: `dfs mount` against MooseFS's mfsmount on this machine (issue 17).

Both systems run side by side in the same run, 3 data servers each, 2 copies of every
chunk, each behind its FUSE mount with default mount options:
  - dfs: scripts/cluster up (authd, 1 metad, 3 chunkd; authentication on) in a temp dir on
    free loopback ports, a registered user `bench`, `dfs mount --foreground`, files under
    /home/bench;
  - MooseFS 3.0.117 (Debian's moosefs-master, -chunkserver, -client, -cli; installed with
    apt-get when missing, as root): its master refuses 127/8 addresses, so it runs with 3
    mfschunkserver processes in a network namespace `dfsbench-PID` whose lo also has
    10.231.0.1/32; mfsmount runs in that network namespace but in the host's mount
    namespace (nsenter --net), goal 2 and trash time 0 on the mount's root.
    Settings that differ from MooseFS's shipped ones, so that neither side is favoured:
    NICE_LEVEL=0 for the daemons and -o mfsnice=0 for the mount (MooseFS renices itself to
    -19 by default; every dfs process runs at 0) and HDD_FSYNC_BEFORE_CLOSE=1 on the
    chunkservers (dfs's chunkd fsyncs every chunk it stores; --mfs-fsync 0 gives
    MooseFS's default, no fsync).
Figures, each the median of --runs rounds (the order of the two systems alternates
between rounds); "cold" means both mounts unmounted and mounted again and
`echo 3 > /proc/sys/vm/drop_caches` before each system's measurement:
  1. sequential write of --size MiB (1024) of random bytes: dd bs=1M conv=fsync, MB/s;
  2. cold sequential read of it: dd of=/dev/null bs=1M, MB/s;
  3. --files (2000) x 4 KiB files created by one Python process (open/write/close), files/s;
  4. cold read of them by one Python process, files/s;
  5. `ls -l` of a directory of --entries (10000) empty files (made once), cold, entries/s;
  6. `tar xf` of a seeded source-like tree (--tree-files 3000 files in 150 directories,
     100 B..64 KiB, about 100 MiB, uncompressed tar made once), files/s.
Prints the machine and versions first, then every round and the medians, with the
ratio dfs / MooseFS (above 1: dfs is faster). If MooseFS cannot be started, it says
what failed and measures dfs alone (--dfs-only does that on purpose).

  scripts/bench mount [--size MIB] [--files N] [--entries N] [--tree-files N] [--runs R]
                      [--mfs-fsync 0|1] [--dfs-only]"""

import argparse
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DFS_BIN") or os.path.join(ROOT, "build", "bin")
MiB = 1 << 20
MFS_PKGS = ["moosefs-master", "moosefs-chunkserver", "moosefs-client", "moosefs-cli"]
MFS_IP = "10.231.0.1"
MFS_PORTS = {"ml": 9419, "cs": 9420, "cl": 9421}  # inside the namespace: no clash
USER, PASSWORD = "bench", "bench-mount-pw-1"


def log(msg):
    print("bench mount: " + msg, flush=True)


def run(argv, env=None, timeout=1800, input=None, check=True):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, argv[:5])), r.returncode,
                                                (r.stderr or r.stdout).strip()[-800:]))
    return r.stdout


def free_base_port():
    for base in range(23400, 60000, 97):
        ok = True
        for p in [base, base + 1, base + 100] + list(range(base + 10, base + 20)):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range found")


def drop_caches():
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def tail(path, n=8):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).strip()
    except OSError:
        return ""


def wait_mounted(path, proc, what, logpath, timeout=60):
    t0 = time.time()
    while not os.path.ismount(path):
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d before %s was mounted; its log:\n%s"
                               % (what, proc.returncode, path, tail(logpath)))
        if time.time() - t0 > timeout:
            raise RuntimeError("%s: %s not mounted within %d s; its log:\n%s"
                               % (what, path, timeout, tail(logpath)))
        time.sleep(0.05)


def stop_proc(p, name, timeout=60):
    """SIGTERM, wait up to timeout, then SIGKILL: only this process, by its pid."""
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) did not stop within %d s: SIGKILL" % (name, p.pid, timeout))
        p.kill()
        p.wait()


class Dfs:
    name = "dfs"

    def __init__(self, tmp):
        self.tmp = tmp
        self.cdir = os.path.join(tmp, "dfs-cluster")
        self.mnt = os.path.join(tmp, "mnt-dfs")
        self.port = free_base_port()
        self.env = dict(os.environ, DFS_BIN=BIN)
        self.cenv = dict(os.environ, DFS_META="127.0.0.1:%d" % self.port,
                         DFS_AUTH="127.0.0.1:%d" % (self.port + 100),
                         XDG_CONFIG_HOME=os.path.join(tmp, "dfs-client"),
                         HOME=os.path.join(tmp, "dfs-home"), USER=USER)
        for k in ("DFS_TOKEN", "DFS_USER", "DFS_PASSWORD"):
            self.cenv.pop(k, None)
        self.proc = None
        self.up = False
        self.nmount = 0

    def cluster(self, *args):
        return run([os.path.join(ROOT, "scripts", "cluster"), *args, "--dir", self.cdir],
                   env=self.env)

    def start(self):
        log("dfs: scripts/cluster up (authd, metad, 3 chunkd) on 127.0.0.1:%d" % self.port)
        self.up = True
        self.cluster("up", "--chunkservers", "3", "--port", str(self.port), "--log-level", "warn")
        dfs = [os.path.join(BIN, "dfs"), "-q"]
        os.makedirs(self.cenv["HOME"], exist_ok=True)
        run(dfs + ["register", USER, "--password-stdin"], self.cenv, input=PASSWORD + "\n")
        run(dfs + ["login", USER, "--password-stdin"], self.cenv, input=PASSWORD + "\n")
        os.makedirs(self.mnt)
        self.mount()
        self.work = os.path.join(self.mnt, "home", USER, "bench")
        os.makedirs(self.work)

    def mount(self):
        self.nmount += 1
        logpath = os.path.join(self.tmp, "dfs-mount-%d.log" % self.nmount)
        logf = open(logpath, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "dfs"), "mount", self.mnt,
                                      "--foreground"], env=self.cenv, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        wait_mounted(self.mnt, self.proc, "dfs mount", logpath)

    def umount(self):
        if self.proc is None:
            return
        if os.path.ismount(self.mnt):
            r = subprocess.run([os.path.join(BIN, "dfs"), "umount", self.mnt], env=self.cenv,
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                log("dfs umount: %s" % (r.stderr or r.stdout).strip())
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            stop_proc(self.proc, "dfs mount")
        self.proc = None

    def check_copies(self, path):
        rel = "/" + os.path.relpath(path, self.mnt)
        out = run([os.path.join(BIN, "dfs"), "info", rel], self.cenv)
        return " ".join(out.split())[:160]

    def close(self):
        try:
            self.umount()
        finally:
            if self.up:
                try:
                    self.cluster("down", "--purge")
                except Exception as e:  # noqa: BLE001 - cleanup goes on
                    log("dfs: cluster down: %s" % e)


class MooseFS:
    name = "MooseFS"

    def __init__(self, tmp, fsync):
        self.tmp = os.path.join(tmp, "mfs")
        self.mnt = os.path.join(tmp, "mnt-mfs")
        self.ns = "dfsbench-%d" % os.getpid()
        self.fsync = fsync
        self.ns_made = False
        self.master = None
        self.chunkservers = []
        self.proc = None
        self.nmount = 0

    def nsenter(self):
        return ["nsenter", "--net=/var/run/netns/" + self.ns]

    def daemon(self, argv, logname):
        logf = open(os.path.join(self.tmp, logname), "ab")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + argv, stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        return p

    def log_tail(self, logname, n=6):
        try:
            with open(os.path.join(self.tmp, logname), errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def start(self):
        os.makedirs(self.tmp)
        run(["ip", "netns", "add", self.ns])
        self.ns_made = True
        run(["ip", "-n", self.ns, "addr", "add", MFS_IP + "/32", "dev", "lo"])
        run(["ip", "-n", self.ns, "link", "set", "lo", "up"])
        md = os.path.join(self.tmp, "master")
        os.makedirs(md)
        shutil.copy("/var/lib/mfs/metadata.mfs.empty", os.path.join(md, "metadata.mfs"))
        with open(os.path.join(md, "mfsexports.cfg"), "w") as f:
            f.write("* / rw,alldirs,admin,maproot=0:0\n")
        open(os.path.join(md, "mfstopology.cfg"), "w").close()
        common = "WORKING_USER = root\nWORKING_GROUP = root\nNICE_LEVEL = 0\n"
        with open(os.path.join(md, "mfsmaster.cfg"), "w") as f:
            f.write(common + "DATA_PATH = %s\nEXPORTS_FILENAME = %s/mfsexports.cfg\n"
                    "TOPOLOGY_FILENAME = %s/mfstopology.cfg\n" % (md, md, md))
            for k, port in MFS_PORTS.items():
                f.write("MATO%s_LISTEN_HOST = %s\nMATO%s_LISTEN_PORT = %d\n"
                        % (k.upper(), MFS_IP, k.upper(), port))
        log("MooseFS: mfsmaster and 3 mfschunkserver in network namespace %s (%s), data in %s"
            % (self.ns, MFS_IP, self.tmp))
        self.master = self.daemon(["mfsmaster", "-c", os.path.join(md, "mfsmaster.cfg"), "-f"],
                                  "master.log")
        t0 = time.time()
        while "initialized properly" not in self.log_tail("master.log", 50):
            if self.master.poll() is not None or time.time() - t0 > 30:
                raise RuntimeError("mfsmaster did not start: %s" % self.log_tail("master.log"))
            time.sleep(0.1)
        for i in range(3):
            d = os.path.join(self.tmp, "cs%d" % i)
            os.makedirs(os.path.join(d, "hdd"))
            with open(os.path.join(d, "mfshdd.cfg"), "w") as f:
                f.write(os.path.join(d, "hdd") + "\n")
            with open(os.path.join(d, "mfschunkserver.cfg"), "w") as f:
                f.write(common + "DATA_PATH = %s\nHDD_CONF_FILENAME = %s/mfshdd.cfg\n"
                        "HDD_FSYNC_BEFORE_CLOSE = %d\nMASTER_HOST = %s\nMASTER_PORT = %d\n"
                        "BIND_HOST = %s\nCSSERV_LISTEN_HOST = %s\nCSSERV_LISTEN_PORT = %d\n"
                        % (d, d, self.fsync, MFS_IP, MFS_PORTS["cs"], MFS_IP, MFS_IP, 9422 + i))
            self.chunkservers.append(self.daemon(
                ["mfschunkserver", "-c", os.path.join(d, "mfschunkserver.cfg"), "-f"],
                "cs%d.log" % i))
        t0 = time.time()
        while not all("connected to Master" in self.log_tail("cs%d.log" % i, 50) for i in range(3)):
            for i, p in enumerate(self.chunkservers):
                if p.poll() is not None:
                    raise RuntimeError("mfschunkserver %d exited: %s" % (i, self.log_tail("cs%d.log" % i)))
            if time.time() - t0 > 30:
                raise RuntimeError("mfschunkservers not connected within 30 s")
            time.sleep(0.1)
        # the master learns each chunkserver's space a moment after it connects; a chunk
        # created before all 3 count gets fewer copies (replicated only after
        # REPLICATIONS_DELAY_INIT, 60 s): wait for all 3 with their space (mfscli -SCS)
        t0 = time.time()
        while True:
            out = run(self.nsenter() + ["mfscli", "-H", MFS_IP, "-P", str(MFS_PORTS["cl"]),
                                        "-SCS", "-s", "|"], check=False)
            rows = [l.split("|") for l in out.splitlines() if l.startswith("chunk servers:|")]
            ready = [r for r in rows if len(r) > 10 and r[10].isdigit() and int(r[10]) > 0]
            if len(ready) == 3:
                break
            if time.time() - t0 > 60:
                raise RuntimeError("the MooseFS master does not list 3 chunkservers with space "
                                   "within 60 s: mfscli -SCS says %r" % out.strip()[-400:])
            time.sleep(0.2)
        os.makedirs(self.mnt)
        self.mount()
        run(self.nsenter() + ["mfssetgoal", "-r", "2", self.mnt])
        run(self.nsenter() + ["mfssettrashtime", "-r", "0", self.mnt])
        self.work = os.path.join(self.mnt, "bench")
        os.makedirs(self.work)

    def mount(self):
        self.nmount += 1
        logpath = os.path.join(self.tmp, "mfsmount-%d.log" % self.nmount)
        logf = open(logpath, "ab")
        self.proc = subprocess.Popen(self.nsenter() + ["mfsmount", self.mnt, "-f", "-H", MFS_IP,
                                                       "-P", str(MFS_PORTS["cl"]), "-o", "mfsnice=0"],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        wait_mounted(self.mnt, self.proc, "mfsmount", logpath)

    def umount(self):
        if self.proc is None:
            return
        if os.path.ismount(self.mnt):
            r = subprocess.run(["umount", self.mnt], capture_output=True, text=True)
            if r.returncode != 0:
                log("umount %s: %s; lazy" % (self.mnt, r.stderr.strip()))
                subprocess.run(["umount", "-l", self.mnt])
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            stop_proc(self.proc, "mfsmount")
        self.proc = None

    def check_copies(self, path):
        return " ".join(run(self.nsenter() + ["mfscheckfile", path]).split())

    def close(self):
        try:
            self.umount()
        finally:
            for p in self.chunkservers:
                stop_proc(p, "mfschunkserver")
            stop_proc(self.master, "mfsmaster", timeout=120)
            if self.ns_made:
                r = subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, text=True)
                if r.returncode != 0:
                    log("ip netns del %s: %s" % (self.ns, r.stderr.strip()))


# --- the workloads (each a child process that times itself) ------------------------------

CREATE = r"""
import os, sys, time
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
data = [os.urandom(size) for _ in range(n)]
t0 = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(data[i])
print(time.perf_counter() - t0)
"""

READ = r"""
import os, sys, time
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "rb") as f:
        b = f.read()
    if len(b) != size:
        sys.exit("%s/f%05d: %d bytes, expected %d" % (d, i, len(b), size))
print(time.perf_counter() - t0)
"""

EMPTY = r"""
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d)
for i in range(n):
    open(os.path.join(d, "e%06d" % i), "wb").close()
"""


def py_timed(code, *args):
    return float(run([sys.executable, "-c", code] + [str(a) for a in args]).split()[-1])


def timed(argv, **kw):
    t0 = time.perf_counter()
    run(argv, **kw)
    return time.perf_counter() - t0


def make_tree_tar(path, nfiles, seed=17):
    """A source-like tree: nfiles in 150 directories (up to 3 deep), sizes 100 B..64 KiB
    (log-uniform, like source files), text-ish random bytes; old mtimes. Returns bytes."""
    rnd = random.Random(seed)
    dirs = ["src"]
    for i in range(149):
        parent = rnd.choice(dirs) if rnd.random() < 0.6 and dirs else "src"
        if parent.count("/") >= 3:
            parent = "src"
        dirs.append("%s/d%03d" % (parent, i))
    alphabet = b"abcdefghijklmnopqrstuvwxyz_(){};= \n\tABCDEFGHIJ0123456789"
    total = 0
    import io
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for d in dirs:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1600000000
            tf.addfile(ti)
        for i in range(nfiles):
            size = int(round(100 * (65536 / 100) ** rnd.random()))
            data = bytes(rnd.choice(alphabet) for _ in range(min(size, 512))) * (size // 512 + 1)
            data = data[:size]
            ti = tarfile.TarInfo("%s/file%04d.c" % (rnd.choice(dirs), i))
            ti.size, ti.mode, ti.mtime = size, 0o644, 1600000000 + i
            tf.addfile(ti, io.BytesIO(data))
            total += size
    return total


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/bench mount", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024, help="big file, MiB (1024)")
    p.add_argument("--files", type=int, default=2000, help="4 KiB files (2000)")
    p.add_argument("--entries", type=int, default=10000, help="entries for ls -l (10000)")
    p.add_argument("--tree-files", type=int, default=3000, help="files in the tarball (3000)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--mfs-fsync", type=int, choices=(0, 1), default=1,
                   help="MooseFS chunkservers' HDD_FSYNC_BEFORE_CLOSE (1, like dfs; 0 is "
                        "MooseFS's default)")
    p.add_argument("--dfs-only", action="store_true", help="measure dfs alone")
    a = p.parse_args(argv)
    if min(a.size, a.files, a.entries, a.tree_files, a.runs) < 1:
        p.error("sizes and counts must be positive")
    for b in ("metad", "chunkd", "authd", "dfs"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            sys.exit("bench mount: %s/%s not found; build first (or set DFS_BIN)" % (BIN, b))

    # SIGTERM/SIGHUP: clean up like ^C
    def interrupted(sig, _frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    mfs_error = None
    if a.dfs_only:
        mfs_error = "--dfs-only"
    elif os.geteuid() != 0:
        mfs_error = "not root (MooseFS needs a network namespace and mounts as root)"
    elif not os.access("/usr/sbin/mfsmaster", os.X_OK) or not os.access("/usr/bin/mfsmount", os.X_OK):
        log("MooseFS is not installed: apt-get install %s (Debian 12: 3.0.117; "
            "DFS_SETUP_BENCH_PEERS=1 scripts/setup does the same)" % " ".join(MFS_PKGS))
        r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] +
                           MFS_PKGS, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode != 0:
            mfs_error = "apt-get install %s failed: %s" % (" ".join(MFS_PKGS), r.stderr.strip()[-300:])

    def version(argv):
        try:
            return run(argv, check=False).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    print("machine: %s, %d cores, kernel %s, load %s" % (
        platform.node(), os.cpu_count(), platform.release(),
        " ".join(open("/proc/loadavg").read().split()[:3])))
    print("dfs: %s (binaries %s); MooseFS: %s; fuse: %s; python %s" % (
        version([os.path.join(BIN, "dfs"), "--version"]),
        BIN, version(["mfsmaster", "-v"]) if not mfs_error else "-",
        version(["fusermount3", "--version"]), platform.python_version()), flush=True)

    tmp = tempfile.mkdtemp(prefix="dfs-bench-mount-", dir=os.environ.get("DFS_BENCH_TMP"))
    systems = []
    dfs = Dfs(tmp)
    mfs = None
    try:
        dfs.start()
        systems.append(dfs)
        if mfs_error is None:
            mfs = MooseFS(tmp, a.mfs_fsync)
            try:
                mfs.start()
                systems.append(mfs)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                mfs_error = "MooseFS did not start: %s" % e
                mfs.close()
                mfs = None
        if mfs_error:
            log("measuring dfs alone: " + mfs_error)
        cold_ok = drop_caches()
        if not cold_ok:
            log("cannot write /proc/sys/vm/drop_caches (not root): cold reads only remount")

        big = os.path.join(tmp, "big.bin")
        log("writing a %d MiB local file of random bytes, a tarball and %d entries per system"
            % (a.size, a.entries))
        with open(big, "wb") as f:
            for _ in range(a.size):
                f.write(os.urandom(MiB))
        tarball = os.path.join(tmp, "tree.tar")
        tree_bytes = make_tree_tar(tarball, a.tree_files)
        for s in systems:
            t = timed([sys.executable, "-c", EMPTY, os.path.join(s.work, "ls"), str(a.entries)])
            log("%s: %d empty files made in %.1f s" % (s.name, a.entries, t))

        def remount():
            for s in systems:
                s.umount()
            for s in systems:
                s.mount()

        def cold(s):
            if cold_ok:
                drop_caches()

        keys = ("write", "read", "create", "readsmall", "ls", "tar")
        res = {s.name: {k: [] for k in keys} for s in systems}
        mb = a.size * MiB / 1e6
        for r in range(1, a.runs + 1):
            order = systems if r % 2 else systems[::-1]
            for s in order:
                f = os.path.join(s.work, "big-%d" % r)
                res[s.name]["write"].append(mb / timed(
                    ["dd", "if=" + big, "of=" + f, "bs=1M", "conv=fsync"]))
                if s is mfs:  # every chunk at goal 2 (never 1 copy, which writes half)
                    out = s.check_copies(f)
                    if r == 1:
                        log("%s: copies of the big file: %s" % (s.name, out))
                    if "with 2 copies" not in out or "with 1 cop" in out or "with 0 cop" in out:
                        raise RuntimeError("MooseFS stored %s not at 2 copies: %s" % (f, out))
                elif r == 1:
                    log("%s: the big file: %s" % (s.name, s.check_copies(f)))
            for s in order:
                t = py_timed(CREATE, os.path.join(s.work, "small-%d" % r), a.files, 4096)
                res[s.name]["create"].append(a.files / t)
            for s in order:
                t = timed(["tar", "xf", tarball, "-C", s.work], timeout=3600)
                res[s.name]["tar"].append(a.tree_files / t)
                shutil.move(os.path.join(s.work, "src"), os.path.join(s.work, "tree-%d" % r))
            remount()
            for s in order:
                cold(s)
                f = os.path.join(s.work, "big-%d" % r)
                if os.stat(f).st_size != a.size * MiB:
                    raise RuntimeError("%s: %s has %d bytes" % (s.name, f, os.stat(f).st_size))
                res[s.name]["read"].append(mb / timed(["dd", "if=" + f, "of=/dev/null", "bs=1M"]))
            for s in order:
                cold(s)
                t = py_timed(READ, os.path.join(s.work, "small-%d" % r), a.files, 4096)
                res[s.name]["readsmall"].append(a.files / t)
            for s in order:
                cold(s)
                t = timed(["sh", "-c", 'ls -l "$1" > /dev/null', "sh", os.path.join(s.work, "ls")])
                res[s.name]["ls"].append(a.entries / t)
            if r == 1:  # the read-back is right (not timed)
                want = run(["sha256sum", big]).split()[0]
                for s in systems:
                    got = run(["sha256sum", os.path.join(s.work, "big-1")]).split()[0]
                    if got != want:
                        raise RuntimeError("%s: big-1 reads back with sha256 %s, wrote %s"
                                           % (s.name, got, want))
                    n = int(run(["sh", "-c", 'find "$1" -type f | wc -l', "sh",
                                 os.path.join(s.work, "tree-1")]).strip())
                    if n != a.tree_files:
                        raise RuntimeError("%s: tar x made %d files of %d" % (s.name, n, a.tree_files))
            print("round %d: " % r + "; ".join(
                "%s write %.0f MB/s, read %.0f MB/s, create %.0f/s, read %.0f/s, ls -l %.0f/s, "
                "tar x %.0f files/s" % ((s.name,) + tuple(res[s.name][k][-1] for k in keys))
                for s in systems), flush=True)
            for s in systems:  # keep the disk use to one round's worth (not timed)
                os.unlink(os.path.join(s.work, "big-%d" % r))
                for d in ("small-%d", "tree-%d"):
                    shutil.rmtree(os.path.join(s.work, d % r))

        rows = [("write", "1. write %d MiB, dd conv=fsync" % a.size, "MB/s"),
                ("read", "2. cold read %d MiB, dd" % a.size, "MB/s"),
                ("create", "3. create %d x 4 KiB, 1 process" % a.files, "files/s"),
                ("readsmall", "4. cold read %d x 4 KiB" % a.files, "files/s"),
                ("ls", "5. cold ls -l, %d entries" % a.entries, "entries/s"),
                ("tar", "6. tar xf %d files (%.0f MiB)" % (a.tree_files, tree_bytes / MiB),
                 "files/s")]
        print()
        print("dfs mount vs MooseFS mount: 3 data servers each, 2 copies, median of %d "
              "round(s); MooseFS HDD_FSYNC_BEFORE_CLOSE=%d%s" % (
                  a.runs, a.mfs_fsync, "" if mfs else " (MooseFS not measured: %s)" % mfs_error))
        hdr = "%-36s %-10s %10s %10s %8s" % ("figure", "unit", "dfs", "MooseFS", "dfs/MFS")
        print(hdr + "\n" + "-" * len(hdr))
        for k, label, unit in rows:
            d = statistics.median(res["dfs"][k])
            if mfs:
                m = statistics.median(res["MooseFS"][k])
                print("%-36s %-10s %10.1f %10.1f %8.2f" % (label, unit, d, m, d / m))
            else:
                print("%-36s %-10s %10.1f %10s %8s" % (label, unit, d, "-", "-"))
        print("\nevery round (dfs | MooseFS):")
        for k, label, unit in rows:
            print("%-36s %s" % (label, " | ".join(
                " ".join("%.1f" % v for v in res[s.name][k]) for s in systems)))
    except KeyboardInterrupt as e:
        log("interrupted (%s): cleaning up" % e)
        raise SystemExit(1)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("failed: %s" % e)
        raise SystemExit(1)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if mfs:
            mfs.close()
        dfs.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
