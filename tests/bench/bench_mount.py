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
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import (BIN, ROOT, MiB, MooseFS, EMPTY, CREATE, READ, drop_caches,  # noqa: E402,F401
                      free_base_port, log, moosefs_missing, py_timed, run, stop_proc,
                      timed, version, wait_mounted)

benchlib.PREFIX = "bench mount"
USER, PASSWORD = "bench", "bench-mount-pw-1"


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

    mfs_error = "--dfs-only" if a.dfs_only else moosefs_missing()

    print(benchlib.machine_line())
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
