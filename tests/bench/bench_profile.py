"""scripts/bench profile: where the CPU goes in dfs's data path (issue 18).

Starts a local cluster the way scripts/bench does (tests/bench/profile_cluster.py: 1 metad,
3 chunkd, no authd, loopback, temp dir) and profiles four workloads, each with
`perf record -a --call-graph dwarf` (every CPU, every process) enabled for exactly the
workload's duration (perf starts with its events off, --control fifo enables them
right before the dfs command starts and disables them when it has exited):
  put        `dfs put` of one --size MiB (1024) file of random bytes, 2 replicas, MB/s;
  get        cold `dfs get` of it into a local file (sync + drop_caches first when root);
  put-small  `dfs put -r` of a directory of --files (1000) x 4 KiB files, 2 replicas, files/s;
  get-small  cold `dfs get -r` of that directory, files/s.
Before each profiled run the same command runs once without perf (--no-baseline: not),
so the report shows the figure both ways (dwarf stack copies cost CPU on 2 cores).

For each workload, in --out DIR (default ./bench-profile-YYYYMMDD-HHMMSS):
  profile-WORKLOAD.txt   the machine state, wall time and figure, CPU seconds per process
                         and per thread (utime+stime from /proc/PID/stat before/after; the
                         client's from wait4), context switches, disk traffic, perf's
                         samples per process, the hot spots per process (self time by leaf
                         symbol, with the innermost dfs function on the stack) and per dfs
                         function, then `perf report --no-children --sort comm,dso,sym`;
  flame-WORKLOAD.html    `perf script report flamegraph` with d3-flame-graph's template
                         (fetched once with `npm pack d3-flame-graph@4.1.3` into DIR, or
                         --template PATH); without npm, one line says so and only the text
                         report is written;
  WORKLOAD/perf.data     kept with --keep-data (a few hundred MB for the 1 GiB put).
Why dwarf call graphs: the RelWithDebInfo binaries (-O2) and Debian's libc/libuv have no
frame pointers, so -g stops at the libc function (writev, read, pread) and never shows
which dfs function called it; dwarf unwinding shows chunk_store_write -> writev, etc.

  scripts/bench profile [--out DIR] [--size MIB] [--files N] [--only W[,W]]
                        [--freq HZ] [--no-baseline] [--keep-data] [--template PATH]"""

import argparse
import collections
import datetime
import os
import platform
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_cluster  # noqa: E402
from benchlib import drop_caches  # noqa: E402

ROOT, BIN = profile_cluster.ROOT, profile_cluster.BIN
MiB = 1 << 20
WORKLOADS = ["put", "get", "put-small", "get-small"]
DFS_DSOS = {"dfs", "chunkd", "metad", "dfsgw", "authd"}
TEMPLATE_PKG = "d3-flame-graph@4.1.3"
TEMPLATE_NAME = "d3-flamegraph-base.html"
CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench profile: " + msg, flush=True)


# ---- /proc readings -------------------------------------------------------------------

def proc_stat(path):
    """(utime, stime) seconds and comm from a /proc/.../stat file, or None if gone."""
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) / CLK, int(rest[12]) / CLK, comm


def ctx_switches(pid):
    out = [0, 0]
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    out[0] = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    out[1] = int(line.split()[1])
    except OSError:
        pass
    return out


def snapshot(pids):
    """Per process: (user, sys, vol cs, invol cs, {tid: (user, sys, comm)})."""
    out = {}
    for role, pid in pids.items():
        st = proc_stat("/proc/%d/stat" % pid)
        if st is None:
            continue
        threads = {}
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                t = proc_stat("/proc/%d/task/%s/stat" % (pid, tid))
                if t:
                    threads[int(tid)] = t
        except OSError:
            pass
        cs = ctx_switches(pid)
        out[role] = (st[0], st[1], cs[0], cs[1], threads)
    return out


def machine_cpu():
    """/proc/stat's cpu line in seconds: busy (user+nice+system+irq+softirq+steal),
    iowait, idle, steal (time the hypervisor gave this VM's CPUs to others)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return {"busy": (user + nice + system + irq + softirq + steal) / CLK,
            "iowait": iowait / CLK, "idle": idle / CLK,
            "user": (user + nice) / CLK, "system": (system + irq + softirq) / CLK,
            "steal": steal / CLK}


def disks():
    """{dev: (sectors read, sectors written, ms writing)} for whole disks."""
    out = {}
    try:
        names = set(os.listdir("/sys/block"))
    except OSError:
        names = set()
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if p[2] in names and not p[2].startswith(("loop", "ram", "zram")):
                out[p[2]] = (int(p[5]), int(p[9]), int(p[10]))
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---- perf -----------------------------------------------------------------------------

class PerfRecord:
    """`perf record -a` started with its events off; on()/off() through a control fifo,
    so the samples cover exactly the time between them."""

    def __init__(self, workdir, freq, stack):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.ctl_path = os.path.join(workdir, "ctl.fifo")
        self.ack_path = os.path.join(workdir, "ack.fifo")
        for p in (self.ctl_path, self.ack_path):
            if os.path.exists(p):
                os.unlink(p)
            os.mkfifo(p, 0o600)
        # O_RDWR on a fifo never blocks: neither side waits for the other to open it
        self.ctl = os.open(self.ctl_path, os.O_RDWR)
        self.ack = os.open(self.ack_path, os.O_RDWR)
        self.argv = ["perf", "record", "-a", "--call-graph", "dwarf,%d" % stack, "-F", str(freq),
                     "-m", "16M", "-D", "-1",
                     "--control", "fifo:%s,%s" % (self.ctl_path, self.ack_path),
                     "-o", os.path.join(workdir, "perf.data")]
        self.log_path = os.path.join(workdir, "perf-record.log")
        self.logf = open(self.log_path, "w")
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, cwd=workdir)

    def command(self, cmd, timeout=120):
        os.write(self.ctl, (cmd + "\n").encode())
        deadline, got = time.time() + timeout, b""
        while b"ack" not in got:
            if self.p.poll() is not None:
                raise RuntimeError("perf record exited (%d): %s" % (self.p.returncode,
                                                                     self.log_tail()))
            r, _, _ = select.select([self.ack], [], [], 0.5)
            if r:
                got += os.read(self.ack, 64)
            if time.time() > deadline:
                raise RuntimeError("perf record did not acknowledge '%s'" % cmd)

    def on(self):
        self.command("enable")

    def off(self):
        self.command("disable")

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(600)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()
        for fd in (self.ctl, self.ack):
            os.close(fd)
        for p in (self.ctl_path, self.ack_path):
            os.unlink(p)
        if not os.path.exists(os.path.join(self.workdir, "perf.data")):
            raise RuntimeError("perf record wrote no data: " + self.log_tail())

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read().strip()[-600:]
        except OSError:
            return "?"


SAMPLE_RE = re.compile(r"^(.*?)\s+(-?\d+)/(-?\d+)\s+(\d+)\s*$")
FRAME_RE = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")


def parse_script(workdir):
    """Samples from `perf script` (dwarf stacks): yields (comm, pid, tid, period ns,
    frames [(sym, dso basename)], leaf first)."""
    p = subprocess.Popen(["perf", "script", "--no-inline", "-F", "comm,pid,tid,period,ip,sym,dso"],
                         cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, errors="replace")
    cur = None
    for line in p.stdout:
        if not line.strip():
            if cur:
                yield cur
            cur = None
            continue
        if not line[0].isspace():
            if cur:
                yield cur
            m = SAMPLE_RE.match(line.rstrip("\n"))
            cur = (m.group(1).strip(), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                   []) if m else None
            continue
        m = FRAME_RE.match(line.rstrip("\n"))
        if m and cur:
            sym, dso = m.group(2), os.path.basename(m.group(3))
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            cur[4].append((sym, dso))
    if cur:
        yield cur
    p.wait()


def resolve_inlined(frames):
    """An inlined frame belongs to the binary of the next real frame further out (the
    function it was inlined into): give it that dso."""
    out, dso = [], None
    for sym, d in reversed(frames):
        if d == "inlined":
            d = dso or d
        else:
            dso = d
        out.append((sym, d))
    out.reverse()
    return out


def perf_report(workdir, args):
    r = subprocess.run(["perf", "report", "--stdio", "--no-children"] + args, cwd=workdir,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       errors="replace")
    return r.stdout if r.returncode == 0 else "perf report failed: " + r.stderr.strip()[-400:]


# ---- the report -----------------------------------------------------------------------

def role_of(pid, comm, roles):
    if pid in roles:
        return roles[pid]
    if pid == 0:
        return "idle (swapper)"
    return "other: " + comm


def group_of(role):
    return "chunkd (all 3)" if role.startswith("chunkd-") else role


def analyse(workdir, roles):
    """Sample times per role, and per group of our processes: leaf symbols (with the
    innermost dfs function and the first user-space frame seen on their stacks) and
    time per innermost dfs function."""
    per_role = collections.Counter()
    leaf = collections.defaultdict(collections.Counter)
    leaf_via = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    by_fn = collections.defaultdict(collections.Counter)
    total = 0
    for comm, pid, tid, period, frames in parse_script(workdir):
        total += period
        role = role_of(pid, comm, roles)
        per_role[role] += period
        if pid not in roles:
            continue
        g = group_of(role)
        if frames:
            sym, dso = frames[0]
        else:
            sym, dso = "[unknown]", "?"
        frames = resolve_inlined(frames)
        if frames:
            dso = frames[0][1]
        key = (dso, sym)
        leaf[g][key] += period
        chain = []  # the innermost dfs functions, up to 3, innermost first
        for s, d in frames:
            if d in DFS_DSOS and not s.startswith("[") and s not in chain:
                chain.append(s)
                if len(chain) == 3:
                    break
        dfs_fn = " < ".join(chain) if chain else None
        user = next((s for s, d in frames if not d.startswith("[kernel") and d != "?"
                     and not s.startswith("[")), None)
        if user:  # the libraries further out (libuv's frames have no symbols)
            libs = []
            for s, d in frames:
                if not d.startswith("[kernel") and d not in ("?", "[unknown]") and \
                        d not in libs and not d.startswith("libc.so"):
                    libs.append(d)
            user += "".join(" < " + d for d in libs[:2])
        via = dfs_fn or (("lib: " + user) if user else "-")
        leaf_via[g][key][via] += period
        by_fn[g][dfs_fn or ("(no dfs frame) " + (user or sym))] += period
    return total, per_role, leaf, leaf_via, by_fn


def fmt_s(x):
    return "%.2f" % x


class Profiler:
    def __init__(self, a):
        self.a = a
        self.out = os.path.abspath(a.out)
        os.makedirs(self.out, exist_ok=True)
        self.cl = None
        self.template = None
        self.template_note = ""
        self.summary = []
        self.git = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %cd",
                                   "--date=short"], capture_output=True, text=True
                                  ).stdout.strip() or "?"

    # -- the flame graph template
    def fetch_template(self):
        if self.a.template:
            self.template = os.path.abspath(self.a.template)
            return
        cached = os.path.join(self.out, TEMPLATE_NAME)
        if os.path.isfile(cached):
            self.template = cached
            return
        if not shutil.which("npm"):
            self.template_note = "no flame graphs: npm not found (give --template PATH)"
            return
        tmp = tempfile.mkdtemp(prefix="npm-pack-", dir=self.out)
        try:
            r = subprocess.run(["npm", "pack", TEMPLATE_PKG, "--pack-destination", tmp],
                               cwd=tmp, capture_output=True, text=True, timeout=180,
                               stdin=subprocess.DEVNULL)
            tgz = [n for n in os.listdir(tmp) if n.endswith(".tgz")]
            if r.returncode != 0 or not tgz:
                errs = [ln for ln in (r.stderr or r.stdout).splitlines()
                        if ln.strip() and "complete log" not in ln]
                self.template_note = ("no flame graphs: `npm pack %s` failed (registry "
                                      "unreachable?): %s" % (TEMPLATE_PKG, errs[0].strip()
                                                             if errs else "exit %d" %
                                                             r.returncode))
                return
            with tarfile.open(os.path.join(tmp, tgz[0])) as t:
                m = t.getmember("package/dist/templates/" + TEMPLATE_NAME)
                with t.extractfile(m) as src, open(cached, "wb") as dst:
                    dst.write(src.read())
            self.template = cached
        except (OSError, KeyError, tarfile.TarError, subprocess.TimeoutExpired) as e:
            self.template_note = "no flame graphs: could not get %s: %s" % (TEMPLATE_PKG, e)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # -- one command, timed, with the client's CPU from wait4
    def run_cmd(self, argv, logname):
        with open(os.path.join(self.cl.tmp, logname), "w") as lf:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            with open(os.path.join(self.cl.tmp, logname), errors="replace") as f:
                raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                        f.read().strip()[-600:]))
        return wall, ru, p.pid

    def prepare(self, w, tag):
        """Work before a run (not measured): cold caches for the gets, an empty
        destination."""
        if w in ("get", "get-small"):
            for p in (self.big_back, self.small_back):
                if os.path.isdir(p):
                    shutil.rmtree(p)
                elif os.path.exists(p):
                    os.unlink(p)
            self.cold = drop_caches()

    def argv_of(self, w, tag):
        d = self.cl.dfs_argv
        if w == "put":
            return d + ["put", self.big, "/%s/big" % tag, "--replicas", "2"]
        if w == "get":
            return d + ["get", "/prof/big", self.big_back]
        if w == "put-small":
            return d + ["put", "-r", self.small, "/%s/small" % tag, "--replicas", "2"]
        return d + ["get", "-r", "/prof/small", self.small_back]

    def figure(self, w, wall):
        if w in ("put", "get"):
            return self.a.size * MiB / 1e6 / wall, "MB/s"
        return self.a.files / wall, "files/s"

    def check(self, w):
        if w == "get" and os.path.getsize(self.big_back) != self.a.size * MiB:
            raise RuntimeError("get returned %d bytes" % os.path.getsize(self.big_back))
        if w == "get-small" and len(os.listdir(self.small_back)) != self.a.files:
            raise RuntimeError("get -r returned %d files" % len(os.listdir(self.small_back)))

    def ensure_source(self, w):
        """--only get / get-small: the file(s) must be in dfs first (unprofiled put)."""
        need = {"get": "/prof/big", "get-small": "/prof/small"}.get(w)
        if not need:
            return
        try:
            self.cl.dfs("stat", need)
        except RuntimeError:
            src = "put" if w == "get" else "put-small"
            log("putting %s first (not profiled)" % need)
            self.run_cmd(self.argv_of(src, "prof"), "setup.log")

    def workload(self, w):
        a = self.a
        self.ensure_source(w)
        base = None
        if not a.no_baseline:
            self.prepare(w, "base")
            wall, _, _ = self.run_cmd(self.argv_of(w, "base"), w + "-base.log")
            self.check(w)
            base = (wall,) + self.figure(w, wall)
            log("%s without perf: %.2f s, %.1f %s" % (w, wall, base[1], base[2]))
        self.prepare(w, "prof")
        workdir = os.path.join(self.out, w)
        if os.path.isdir(workdir):
            shutil.rmtree(workdir)
        pr = PerfRecord(workdir, a.freq, a.stack)
        try:
            pr.command("disable")  # returns once perf is up and listening
            daemons = self.cl.pids()
            load0 = loadavg()
            argv = self.argv_of(w, "prof")
            pr.on()
            s0, m0, d0, pf0 = snapshot(daemons), machine_cpu(), disks(), proc_stat(
                "/proc/%d/stat" % pr.p.pid)
            wall, ru, cpid = self.run_cmd(argv, w + "-prof.log")
            s1, m1, d1, pf1 = snapshot(daemons), machine_cpu(), disks(), proc_stat(
                "/proc/%d/stat" % pr.p.pid)
            pr.off()
            load1 = loadavg()
        finally:
            pr.stop()
        self.check(w)
        fig = self.figure(w, wall)
        log("%s under perf: %.2f s, %.1f %s; analysing" % (w, wall, fig[0], fig[1]))
        roles = {pid: role for role, pid in daemons.items()}
        roles[cpid] = "dfs (client)"
        roles[pr.p.pid] = "perf"
        cpu = []  # (role, user, sys, vol, invol, threads [(label, user, sys)])
        for role, pid in daemons.items():
            if role in s0 and role in s1:
                u, s = s1[role][0] - s0[role][0], s1[role][1] - s0[role][1]
                th = []
                for tid, t in s1[role][4].items():
                    b = s0[role][4].get(tid, (0, 0, t[2]))
                    tu, ts = t[0] - b[0], t[1] - b[1]
                    if tu + ts > 0:
                        th.append(("%s %s%d" % (t[2], "main " if tid == pid else "", tid),
                                   tu, ts))
                cpu.append((role, u, s, s1[role][2] - s0[role][2], s1[role][3] - s0[role][3],
                            sorted(th, key=lambda x: -(x[1] + x[2]))))
        cpu.append(("dfs (client)", ru.ru_utime, ru.ru_stime, ru.ru_nvcsw, ru.ru_nivcsw, []))
        if pf0 and pf1:
            cpu.append(("perf", pf1[0] - pf0[0], pf1[1] - pf0[1], 0, 0, []))
        mach = {k: m1[k] - m0[k] for k in m0}
        disk = {k: (d1[k][0] - d0[k][0], d1[k][1] - d0[k][1], d1[k][2] - d0[k][2])
                for k in d1 if k in d0}
        total, per_role, leaf, leaf_via, by_fn = analyse(workdir, roles)
        flame = self.flame(w, workdir)
        raw = perf_report(workdir, ["--pid", ",".join(str(p) for p in roles),
                                    "--sort", "comm,dso,sym", "-g", "none",
                                    "--percentage", "absolute", "--percent-limit", "0.3"])
        ctx = dict(w=w, argv=argv, wall=wall, fig=fig, base=base, load0=load0, load1=load1,
                   cpu=cpu, mach=mach, disk=disk, total=total, per_role=per_role,
                   leaf=leaf, leaf_via=leaf_via, by_fn=by_fn, flame=flame, raw=raw,
                   daemons=daemons, cpid=cpid, perfpid=pr.p.pid)
        text = self.render(ctx)
        path = os.path.join(self.out, "profile-%s.txt" % w)
        with open(path, "w") as f:
            f.write(text)
        if not a.keep_data:
            shutil.rmtree(workdir, ignore_errors=True)
        self.summary.append(self.summarise(ctx, path))

    def flame(self, w, workdir):
        if not self.template:
            return self.template_note
        out = os.path.join(self.out, "flame-%s.html" % w)
        r = subprocess.run(["perf", "script", "report", "flamegraph", "--template",
                            self.template, "-o", out], cwd=workdir, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0 or not os.path.exists(out):
            return "flame graph failed: " + (r.stderr or r.stdout).strip()[-300:]
        return "%s (%.0f KB)" % (out, os.path.getsize(out) / 1024)

    def describe(self, w):
        a = self.a
        return {"put": "`dfs put` of one %d MiB file of random bytes, 2 replicas" % a.size,
                "get": "cold `dfs get` of that file into a local file",
                "put-small": "`dfs put -r` of %d x %d B files, 2 replicas" % (a.files,
                                                                             a.file_size),
                "get-small": "cold `dfs get -r` of those %d files" % a.files}[w]

    def render(self, c):
        a, L = self.a, []
        ms = lambda ns: ns / 1e6  # noqa: E731
        L.append("dfs profile: %s (issue 18, scripts/bench profile)" % c["w"])
        L.append("workload: %s" % self.describe(c["w"]))
        L.append("command:  %s" % " ".join(c["argv"]))
        L.append("date: %s; machine: %d CPUs, kernel %s; dfs %s (binaries %s, %s)" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            os.cpu_count(), platform.release(), self.git, BIN, self.build_type))
        L.append("load average (1, 5, 15 min) before: %s; after: %s" % (c["load0"],
                                                                         c["load1"]))
        if c["w"] in ("get", "get-small"):
            L.append("cold: %s" % ("sync + echo 3 > /proc/sys/vm/drop_caches before each run"
                                   if self.cold else "NOT cold (not root: drop_caches refused)"))
        L.append("perf: perf record -a --call-graph dwarf,%d -F %d -m 16M" % (a.stack, a.freq) +
                 ", events on only while the command ran (--control fifo)")
        L.append("")
        if c["base"]:
            L.append("without perf: %.2f s wall, %.1f %s" % c["base"])
        L.append("under perf:   %.2f s wall, %.1f %s" % ((c["wall"],) + c["fig"]))
        L.append("")
        L.append("CPU seconds during the profiled run (utime+stime from /proc/PID/stat before "
                 "and after; the client's from wait4):")
        L.append("  %-16s %7s %7s %7s %6s %9s %9s" % ("process", "user", "sys", "total",
                                                     "%wall", "vol cs", "invol cs"))
        ours = 0.0
        for role, u, s, vcs, ics, th in c["cpu"]:
            if role != "perf":
                ours += u + s
            L.append("  %-16s %7.2f %7.2f %7.2f %5.0f%% %9d %9d" % (
                role, u, s, u + s, 100 * (u + s) / c["wall"], vcs, ics))
        m = c["mach"]
        cap = (os.cpu_count() or 1) * c["wall"]
        L.append("  dfs processes together: %.2f CPU s = %.0f%% of one CPU over the run"
                 % (ours, 100 * ours / c["wall"]))
        L.append("  machine (/proc/stat): busy %.2f s (user %.2f, system+irq %.2f, steal %.2f) "
                 "of %.2f CPU s available, iowait %.2f s, idle %.2f s; user+system outside "
                 "the dfs processes and perf: %.2f s (kernel threads, other users)" % (
                     m["busy"], m["user"], m["system"], m["steal"], cap, m["iowait"],
                     m["idle"], max(0.0, m["user"] + m["system"] - ours - sum(
                         u + s for r, u, s, *_ in c["cpu"] if r == "perf"))))
        if c["disk"]:
            L.append("  disk: " + "; ".join(
                "%s read %.0f MB, wrote %.0f MB, %.1f s busy writing" % (
                    k, v[0] * 512 / 1e6, v[1] * 512 / 1e6, v[2] / 1000)
                for k, v in c["disk"].items() if v[0] or v[1]))
        L.append("")
        L.append("threads (CPU s, user+sys) of the daemons:")
        for role, u, s, vcs, ics, th in c["cpu"]:
            if th:
                L.append("  %-10s " % role + ", ".join("%s %.2f" % (lbl, tu + ts)
                                                      for lbl, tu, ts in th[:8]))
        L.append("")
        tot = c["total"] or 1
        L.append("perf samples per process (cpu-clock, all CPUs, whole machine; %.2f CPU s "
                 "sampled incl. idle):" % (tot / 1e9))
        pids = {v: k for k, v in c["daemons"].items()}
        pids.update({"dfs (client)": c["cpid"], "perf": c["perfpid"]})
        for role, ns in c["per_role"].most_common(14):
            L.append("  %-34s %8.0f ms %5.1f%%%s" % (role, ms(ns), 100 * ns / tot,
                                                   "   (flame graph: pid %d)" % pids[role]
                                                   if role in pids else ""))
        L.append("")
        L.append("hot spots per process (self time: the sampled function; 'via' = the "
                 "innermost dfs functions on its stack, up to 3, innermost first, or the\n"
                 "library function when the stack has none; libuv's frames have no symbols):")
        groups = sorted(c["leaf"], key=lambda g: -sum(c["leaf"][g].values()))
        for g in groups:
            gt = sum(c["leaf"][g].values())
            L.append("")
            L.append("== %s: %.0f ms sampled" % (g, ms(gt)))
            for (dso, sym), ns in c["leaf"][g].most_common(a.top):
                vias = c["leaf_via"][g][(dso, sym)].most_common(2)
                via = ", ".join("%s %.0f%%" % (v, 100 * n / ns) for v, n in vias)
                L.append("  %7.0f ms %5.1f%%  %-36s %-17s via %s" % (
                    ms(ns), 100 * ns / gt, sym[:36], dso[:17], via))
            L.append("  -- by the innermost dfs functions on the stack (up to 3, innermost "
                     "first; inclusive of the libraries and kernel below them):")
            for fn, ns in c["by_fn"][g].most_common(max(8, a.top // 2)):
                L.append("  %7.0f ms %5.1f%%  %s" % (ms(ns), 100 * ns / gt, fn[:100]))
        L.append("")
        L.append("flame graph: %s" % c["flame"])
        L.append("")
        L.append("perf report --no-children --sort comm,dso,sym -g none --percentage absolute "
                 "--pid <the dfs processes above> --percent-limit 0.3:")
        L.append(c["raw"].rstrip())
        return "\n".join(L) + "\n"

    def summarise(self, c, path):
        s = ["%s: %.1f %s under perf in %.2f s%s; load %s" % (
            c["w"], c["fig"][0], c["fig"][1], c["wall"],
            " (%.1f without perf)" % c["base"][1] if c["base"] else "", c["load0"])]
        s.append("  CPU s: " + ", ".join("%s %.2f" % (r, u + sy)
                                        for r, u, sy, *_ in c["cpu"]))
        for g in sorted(c["leaf"], key=lambda g: -sum(c["leaf"][g].values()))[:3]:
            gt = sum(c["leaf"][g].values()) or 1
            s.append("  %s: " % g + "; ".join(
                "%s %.0f%%" % (sym, 100 * ns / gt)
                for (dso, sym), ns in c["leaf"][g].most_common(4)))
        s.append("  report: " + path)
        return "\n".join(s)

    def run(self):
        a = self.a
        try:
            with open(os.path.join(os.path.dirname(BIN), "CMakeCache.txt")) as f:
                bt = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
                self.build_type = (bt.group(1) or "no build type") if bt else "?"
        except OSError:
            self.build_type = "build type ?"
        self.fetch_template()
        if self.template_note:
            log(self.template_note)
        self.cl = profile_cluster.Cluster(3)
        log("starting a local cluster (1 metad, 3 chunkd) on 127.0.0.1:%d, data in %s"
            % (self.cl.port, self.cl.cdir))
        self.cl.up()
        for d in ("/base", "/prof"):
            self.cl.dfs("mkdir", "-p", d)
        self.big = os.path.join(self.cl.tmp, "big.bin")
        self.big_back = os.path.join(self.cl.tmp, "big.back")
        self.small = os.path.join(self.cl.tmp, "small")
        self.small_back = os.path.join(self.cl.tmp, "small-back")
        self.cold = False
        todo = [w for w in WORKLOADS if w in a.only]
        if {"put", "get"} & set(todo):
            log("writing a %d MiB local file of random bytes" % a.size)
            with open(self.big, "wb") as f:
                for _ in range(a.size):
                    f.write(os.urandom(MiB))
        if {"put-small", "get-small"} & set(todo):
            os.makedirs(self.small)
            for i in range(a.files):
                with open(os.path.join(self.small, "f%05d" % i), "wb") as f:
                    f.write(os.urandom(a.file_size))
        for w in todo:
            log("%s: %s" % (w, self.describe(w)))
            self.workload(w)
        print()
        print("\n".join(self.summary))
        print("(reports and flame graphs in %s)" % self.out)

    def close(self):
        if self.cl:
            self.cl.close()


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/bench profile", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[1:]))
    p.add_argument("--out", default="bench-profile-" +
                   datetime.datetime.now().strftime("%Y%m%d-%H%M%S"),
                   help="output directory (./bench-profile-DATE)")
    p.add_argument("--size", type=int, default=1024, help="big file size in MiB (1024)")
    p.add_argument("--files", type=int, default=1000, help="number of small files (1000)")
    p.add_argument("--file-size", type=int, default=4096, help="small file size (4096)")
    p.add_argument("--only", default=",".join(WORKLOADS),
                   help="workloads, comma-separated, of: " + ", ".join(WORKLOADS))
    p.add_argument("--freq", type=int, default=999, help="perf sampling rate in Hz (999)")
    p.add_argument("--stack", type=int, default=32768,
                   help="user stack bytes copied per sample for dwarf unwinding (32768: the "
                        "CLI has frames with two 4 KiB paths, which 8192 cuts off)")
    p.add_argument("--top", type=int, default=14, help="hot spots listed per process (14)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the run without perf before each profiled run")
    p.add_argument("--keep-data", action="store_true", help="keep DIR/WORKLOAD/perf.data")
    p.add_argument("--template", help="d3-flame-graph template (instead of npm pack)")
    a = p.parse_args(argv)
    a.only = [w.strip() for w in a.only.split(",") if w.strip()]
    bad = [w for w in a.only if w not in WORKLOADS]
    if bad or not a.only:
        p.error("--only: unknown workload %s (of %s)" % (",".join(bad), ", ".join(WORKLOADS)))
    if a.size < 1 or a.files < 1 or a.file_size < 0 or a.freq < 1:
        p.error("sizes and counts must be positive")
    if not shutil.which("perf"):
        sys.exit("bench profile: perf not found (Debian: apt-get install linux-perf)")
    if os.geteuid() != 0:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            if int(f.read()) > -1:
                sys.exit("bench profile: perf record -a needs root or "
                         "kernel.perf_event_paranoid=-1")
    for b in ("metad", "chunkd", "dfs"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            sys.exit("bench profile: %s/%s not found; build first (or set DFS_BIN)" % (BIN, b))
    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    pr, ok = Profiler(a), False
    try:
        pr.run()
        ok = True
    except (RuntimeError, OSError, KeyboardInterrupt) as e:
        try:  # stderr may be a closed pipe: the cluster is stopped whatever happens
            print("bench profile: failed: %s" % e, file=sys.stderr)
            if pr.cl:
                print(pr.cl.logs_tail(), file=sys.stderr)
        except OSError:
            pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        pr.close()
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
