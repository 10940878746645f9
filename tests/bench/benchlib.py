"""Pieces shared by the benchmarks that run dfs next to MooseFS (bench_mount.py,
bench_compare.py): running commands, free loopback ports, dropping the page cache,
timing helpers, the child-process workloads on a mount, and MooseFS itself (master and
3 chunkservers in a network namespace of their own, mfsmount in the host's mount
namespace). Stdlib only."""

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DFS_BIN") or os.path.join(ROOT, "build", "bin")
MiB = 1 << 20
MFS_PKGS = ["moosefs-master", "moosefs-chunkserver", "moosefs-client", "moosefs-cli"]
MFS_IP = "10.231.0.1"
MFS_PORTS = {"ml": 9419, "cs": 9420, "cl": 9421}  # inside the namespace: no clash

# what log() prints before each line; each bench sets its own ("bench mount", ...)
PREFIX = "bench"


def log(msg):
    print("%s: %s" % (PREFIX, msg), flush=True)


def run(argv, env=None, timeout=1800, input=None, check=True):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, argv[:5])), r.returncode,
                                                (r.stderr or r.stdout).strip()[-800:]))
    return r.stdout


def free_base_port(start=23400):
    """A base port P for scripts/cluster --port P: P, P+1, P+10..P+19, P+100 (authd) and
    P+200 (dfsgw) all free on loopback."""
    for base in range(start, 60000, 97):
        ok = True
        for p in [base, base + 1, base + 100, base + 200] + list(range(base + 10, base + 20)):
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
    """sync + echo 3 > drop_caches; False when not allowed (not root)."""
    os.sync()
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


def peak_rss(pid):
    """VmHWM of a process in bytes, or None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def version(argv):
    try:
        return run(argv, check=False).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def machine_line():
    return "machine: %s, %d cores, kernel %s, load %s" % (
        platform.node(), os.cpu_count(), platform.release(),
        " ".join(open("/proc/loadavg").read().split()[:3]))


def moosefs_missing():
    """None when MooseFS can run here (root, installed or installed now with apt-get),
    else why not."""
    if os.geteuid() != 0:
        return "not root (MooseFS needs a network namespace and mounts as root)"
    if os.access("/usr/sbin/mfsmaster", os.X_OK) and os.access("/usr/bin/mfsmount", os.X_OK):
        return None
    log("MooseFS is not installed: apt-get install %s (Debian 12: 3.0.117; "
        "DFS_SETUP_BENCH_PEERS=1 scripts/setup does the same)" % " ".join(MFS_PKGS))
    r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] +
                       MFS_PKGS, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if r.returncode != 0:
        return "apt-get install %s failed: %s" % (" ".join(MFS_PKGS), r.stderr.strip()[-300:])
    return None


class MooseFS:
    """mfsmaster and 3 mfschunkserver in a network namespace NSPREFIX-PID whose lo also
    has MFS_IP (the master refuses 127/8), mfsmount entered into that network namespace
    only (nsenter --net) so that the mount is in the host's mount namespace; goal 2 and
    trash time 0 on the mount's root. fsync: HDD_FSYNC_BEFORE_CLOSE of the chunkservers
    (MooseFS's default is 0). nice: NICE_LEVEL of the daemons and -o mfsnice= of the
    mount, or None for MooseFS's own default (it renices itself to -19)."""
    name = "MooseFS"

    def __init__(self, tmp, fsync, nice=0, nsprefix="dfsbench"):
        self.tmp = os.path.join(tmp, "mfs")
        self.mnt = os.path.join(tmp, "mnt-mfs")
        self.ns = "%s-%d" % (nsprefix, os.getpid())
        self.fsync = fsync
        self.nice = nice
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
        common = "WORKING_USER = root\nWORKING_GROUP = root\n"
        if self.nice is not None:
            common += "NICE_LEVEL = %d\n" % self.nice
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
        opts = ["-o", "mfsnice=%d" % self.nice] if self.nice is not None else []
        self.proc = subprocess.Popen(self.nsenter() + ["mfsmount", self.mnt, "-f", "-H", MFS_IP,
                                                       "-P", str(MFS_PORTS["cl"])] + opts,
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

    def remount(self):
        self.umount()
        self.mount()

    def check_copies(self, path):
        return " ".join(run(self.nsenter() + ["mfscheckfile", path]).split())

    def daemons_rss(self):
        """Peak RSS of the master and the chunkservers (`ip netns exec` execs them: the
        pid we started is theirs)."""
        out = {"mfsmaster": peak_rss(self.master.pid) if self.master else None}
        for i, p in enumerate(self.chunkservers):
            out["mfschunkserver-%d" % (i + 1)] = peak_rss(p.pid)
        return out

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


# --- workloads on a mount (each a child process that times itself) ------------------------

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
