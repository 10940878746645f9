"""The local cluster of `scripts/bench profile`, started the way scripts/bench starts one:
`scripts/cluster up --chunkservers 3 --no-auth --log-level warn` in a temp dir on free
loopback ports (1 metad, 3 chunkd; the bench's puts ask for 2 replicas), binaries from
build/bin or $DFS_BIN. scripts/bench's own Bench class does the same (free ports,
cluster, dfs); this is that part alone, importable, plus the daemons' PIDs by name."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_base_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DFS_BIN") or os.path.join(ROOT, "build", "bin")


def sh(argv, **kw):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, argv)), r.returncode,
                                                (r.stderr or r.stdout).strip()))
    return r.stdout


class Cluster:
    """1 metad + N chunkd (no authd) under a fresh temp dir; close() stops exactly the
    processes scripts/cluster recorded there (it signals PIDs from DIR/pids only)."""

    def __init__(self, chunkservers=3, prefix="dfs-profile-"):
        self.n = chunkservers
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.cdir = os.path.join(self.tmp, "cluster")
        self.port = free_base_port(19400)
        self.meta = "127.0.0.1:%d" % self.port
        self.env = dict(os.environ, DFS_BIN=BIN)
        self.dfs_argv = [os.path.join(BIN, "dfs"), "-q", "--meta", self.meta]

    def cluster(self, *args):
        argv = [os.path.join(ROOT, "scripts", "cluster"), *args, "--dir", self.cdir]
        return subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)

    def up(self):
        r = self.cluster("up", "--chunkservers", str(self.n), "--port", str(self.port),
                         "--log-level", "warn", "--no-auth")
        if r.returncode != 0:
            raise RuntimeError("cluster did not start:\n" + r.stdout + r.stderr)

    def dfs(self, *args):
        return sh(self.dfs_argv + list(map(str, args)))

    def pids(self):
        """{'metad': PID, 'chunkd-1': PID, ...} from DIR/pids (whatever `up` started)."""
        out = {}
        piddir = os.path.join(self.cdir, "pids")
        for name in sorted(os.listdir(piddir)):
            if name.endswith(".pid"):
                with open(os.path.join(piddir, name)) as f:
                    out[name[:-4]] = int(f.read().strip())
        return out

    def logs_tail(self, lines=10):
        logs, out = os.path.join(self.cdir, "logs"), []
        if os.path.isdir(logs):
            for n in sorted(os.listdir(logs)):
                with open(os.path.join(logs, n), errors="replace") as f:
                    out.append("--- %s:\n%s" % (n, "".join(f.readlines()[-lines:])))
        return "\n".join(out)

    def close(self):
        r = self.cluster("down", "--purge")
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)
