"""Integration-test harness (python3 stdlib only): starts a real local dfs cluster (one
metad, N chunkd) on free loopback ports with its data in a fresh temp dir, runs the `dfs`
CLI against it, kills/stops/restarts daemons by PID, and fails the test when a daemon
printed a sanitizer report or died unexpectedly. Also: seeded random files + SHA-256, and
a tiny case runner printing one line per case and `N passed, M failed` at the end.

Environment: DFS_BIN (dir with metad, chunkd, dfs; default <repo>/build/bin),
DFS_SANITIZED=1 (ASan/UBSan build: tests shrink big sizes), DFS_KEEP=1 (keep temp dirs).

Security (issue 3): `Cluster(auth=True)` also starts authd (on a free port, bcrypt cost 4
unless auth_args say otherwise) with a random service/cluster secret (c.secret, given to
every daemon through $DFS_SERVICE_SECRET / $DFS_CLUSTER_SECRET), metad with auth.address
(and auth.cache_ttl=1s) and an administrator "admin" with password c.admin_password.
`Cluster(tls=True)` makes a throwaway CA and certificate (scripts/tls-certs, in
c.dir/tls) and switches TLS on for every link (the CLI gets $DFS_TLS_CA; wire calls get
c.ssl_context()). Both are off by default; nothing changes for existing tests.
With auth on:
  c.register(user, pw)        `dfs register USER --password-stdin` (checks success)
  c.login(user, pw)           `dfs login`; returns the session token (also c.tokens[user])
  c.logout(user)              `dfs logout` for that user's session
  c.dfs_as(user, *args)       runs the CLI with that user's session: each user has their
                              own XDG_CONFIG_HOME/HOME (c.user_env(user)); returns
                              (rc, stdout, stderr). dfs_as_ok / dfs_as_fails as dfs_ok /
                              dfs_fails. user=None: no session at all (anonymous).
  c.dfs(...), dfs_ok, dfs_fails, roundtrip, get_check run as "admin" (logged in at start;
  c.admin_token), so existing helpers work on an auth cluster unchanged.
  c.overview() and wait_registered() send the admin token.

FUSE (`dfs mount`, tests/integration/test_mount*.py):
  require_fuse()              fails (TestFailure, never a skip) if /dev/fuse is missing or
                              cannot be opened, or fusermount3 is not installed
  c.mount(path, user=None, opts=(), foreground=False)
                              `dfs mount PATH [-o OPTS]` as user (None: as admin, like
                              c.dfs); checks it exits 0 with PATH mounted (foreground: waits
                              for the mount); returns a MountRec (rec.pid: the process that
                              serves it). Recorded: teardown unmounts every mount (`dfs
                              umount`, then `fusermount3 -u -z`, then `umount -l`) before it
                              stops the daemons, even after a failed case, and then checks
                              the mount process exited (else kills it by PID) without a
                              sanitizer report in its log (c.dir/logs/mount-N.log).
  c.umount(path, reap=True)   `dfs umount PATH` (exit 0 and PATH no longer a mount point);
                              reap: also wait until the mount process has exited with 0.
  c.reap_mount(rec)           that wait alone (after a lazy unmount, once files are closed).
  DFS_TEST_MOUNT_STANDIN=bindfs: c.mount bind-mounts one local directory (c.dir/standin-root,
  /home/USER made in it) with bindfs instead of running `dfs mount` and c.umount uses
  fusermount3: it checks the tests' own logic before `dfs mount` exists, not dfs."""

import atexit
import ctypes
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

SOURCE = os.environ.get("DFS_SOURCE") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("DFS_BIN") or os.path.join(SOURCE, "build", "bin")
SANITIZED = os.environ.get("DFS_SANITIZED", "0") == "1"
KEEP = os.environ.get("DFS_KEEP", "0") == "1"

MiB = 1 << 20
GiB = 1 << 30

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                     "SUMMARY: UndefinedBehaviorSanitizer", "ThreadSanitizer")

# Hermetic: nothing of the invoking user's reaches the daemons or the CLI. Every test
# process gets a HOME and XDG_CONFIG_HOME of its own (no ~/.config/dfs session of a
# `scripts/demo` run, say) and loses every DFS_* variable but the ones that steer the
# tests themselves (DFS_META, DFS_TOKEN, DFS_USER... would change what the CLI does).
TEST_ENV = ("DFS_BIN", "DFS_SOURCE", "DFS_SANITIZED", "DFS_KEEP")
TEST_ENV_PREFIXES = ("DFS_FAULT_", "DFS_TEST_", "DFS_SOAK_", "DFS_FUZZ_", "DFS_RAFT_TEST")
for _k in [k for k in os.environ if k.startswith("DFS_")]:
    if _k not in TEST_ENV and not _k.startswith(TEST_ENV_PREFIXES):
        del os.environ[_k]
_HOME = tempfile.mkdtemp(prefix="dfs-test-home-")
os.environ["HOME"] = _HOME
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, ".config")
atexit.register(shutil.rmtree, _HOME, True)

if SANITIZED:
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def sanitizer_report(text):
    return next((m for m in SANITIZER_MARKERS if m in text), None)


# --- ports ----------------------------------------------------------------------------

_used_ports = set()


def free_port():
    """A loopback TCP port nobody listens on right now (and not handed out before by
    this process)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


# --- files ----------------------------------------------------------------------------

def make_file(path, size, seed=None, quiet=False):
    """Writes `size` bytes of a seeded pseudo-random pattern to path; returns the sha256
    hex. The seed is printed so a failure can be reproduced. Big files reuse a random
    pool at random unaligned offsets so every 1 MiB chunk differs but generation runs at
    disk speed."""
    if seed is None:
        seed = random.randrange(1 << 31)
    if not quiet:
        print("    file %s: %d bytes, seed %d" % (os.path.basename(path), size, seed), flush=True)
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        if size <= 16 * MiB:
            data = rng.randbytes(size)
            f.write(data)
            h.update(data)
        else:
            pool = rng.randbytes(9 * MiB)
            left = size
            while left:
                n = min(left, MiB)
                off = rng.randrange(8 * MiB)
                piece = pool[off:off + n]
                f.write(piece)
                h.update(piece)
                left -= n
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def _die_with_parent():
    """In the child before exec: SIGKILL this daemon if the test process dies (e.g.
    killed by the ctest timeout), so no daemon outlives its test."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        pass


# --- daemons --------------------------------------------------------------------------

class Daemon:
    """One daemon process. `expect_running` is what the test believes; a mismatch with
    reality is an unexpected death."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.env = env  # None = inherit ours (secrets go here, never on the command line)
        self.proc = None
        self.expect_running = False
        self.exits = []       # (how, returncode) of finished runs
        self._log_scanned = 0

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "ab")
        log.write(("==== harness: start %s: %s\n" % (self.name, " ".join(self.argv))).encode())
        log.flush()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, start_new_session=True,
                                     preexec_fn=_die_with_parent, env=self.env)
        log.close()
        self.expect_running = True

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Sends sig to our own child by PID (never by name)."""
        check(self.running(), "%s is not running (cannot send signal %d)" % (self.name, sig))
        os.kill(self.proc.pid, sig)

    def kill9(self):
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.exits.append(("SIGKILL", self.proc.returncode))
        self.expect_running = False

    def stop(self):
        self.signal(signal.SIGSTOP)

    def cont(self):
        self.signal(signal.SIGCONT)

    def terminate(self, timeout=20):
        """SIGTERM and wait; returns None if it exited 0, else a problem string."""
        if not self.running():
            return None
        os.kill(self.proc.pid, signal.SIGCONT)
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.expect_running = False
            return "%s did not exit within %d s of SIGTERM (killed)" % (self.name, timeout)
        self.exits.append(("SIGTERM", rc))
        self.expect_running = False
        if rc != 0:
            return "%s exited with status %d after SIGTERM (expected 0)" % (self.name, rc)
        return None

    def died_unexpectedly(self):
        if self.expect_running and self.proc is not None and self.proc.poll() is not None:
            self.expect_running = False
            self.exits.append(("died", self.proc.returncode))
            return "%s (pid %d) died unexpectedly with status %d" % (
                self.name, self.proc.pid, self.proc.returncode)
        return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def new_sanitizer_report(self):
        """A sanitizer marker in the log since the last call, or None."""
        text = self.log_text()
        part = text[self._log_scanned:]
        self._log_scanned = len(text)
        return sanitizer_report(part)

    def log_tail(self, lines=15):
        return "\n".join("      | " + l for l in self.log_text().splitlines()[-lines:])

    def warnings_tail(self, lines=8):
        """The last warning and error lines of the log (for a failed case's report)."""
        hits = [l for l in self.log_text().splitlines() if " WARN " in l or " ERROR " in l]
        return "\n".join("      | " + l[:300] for l in hits[-lines:])


class Cluster:
    """A local cluster in a fresh temp dir. Use as a context manager; teardown raises
    TestFailure if any daemon printed a sanitizer report, died unexpectedly or did not
    shut down cleanly."""

    def __init__(self, chunkservers=3, name="dfs", heartbeat="300ms", dead_timeout="2s",
                 metad_args=(), chunkd_args=(), auth=False, tls=False, auth_args=(),
                 log_level=None, host="127.0.0.1", seed_dir=None, raft_port=None, metads=1):
        """seed_dir: a tree holding metad/ and chunkd-N/ data directories (a fixture),
        copied into the cluster's temp dir before anything starts, so the daemons open
        that data. raft_port: metad's raft port (default: a free one). metads: voters
        (3 or 5 for HA): c.metads[i] (metad-1..N, raft ids 1..N), c.meta_addrs[i] their
        client addresses, c.meta all of them comma-separated (what the CLI and chunkd
        take), c.leader() the index of the leader; c.metad is c.metads[0]."""
        for b in ("metad", "chunkd", "dfs") + (("authd",) if auth else ()):
            p = os.path.join(BIN, b)
            if not os.access(p, os.X_OK):
                raise TestFailure("binary %s not found (set DFS_BIN)" % p)
        self.dir = tempfile.mkdtemp(prefix="dfs-it-%s-" % name)
        os.makedirs(os.path.join(self.dir, "logs"))
        if seed_dir:
            for name in os.listdir(seed_dir):
                if name == "metad" or name.startswith("chunkd-"):
                    shutil.copytree(os.path.join(seed_dir, name), os.path.join(self.dir, name))
        self.meta_port, self.raft_port = free_port(), raft_port or free_port()
        # host: e.g. a veth address (netns tests)
        self.meta_addrs = ["%s:%d" % (host, self.meta_port)] + [
            "%s:%d" % (host, free_port()) for _ in range(metads - 1)]
        raft_addrs = ["%s:%d" % (host, self.raft_port)] + [
            "%s:%d" % (host, free_port()) for _ in range(metads - 1)]
        self.meta = ",".join(self.meta_addrs)
        self.problems = []
        self.mounts = []   # MountRec of every c.mount, unmounted by teardown at the latest
        self.auth, self.tls = auth, tls
        self.authd = None
        self.gateway = None
        self.gw_url = None
        self.admin_token = None
        self.tokens = {}
        self.secret = self.admin_password = None
        self.auth_addr = None
        self.tls_dir = None
        sec_metad, sec_chunkd, env = [], [], None
        if log_level:
            sec_metad += ["--log-level", log_level]
            sec_chunkd += ["--log-level", log_level]
        if tls:
            self.tls_dir = os.path.join(self.dir, "tls")
            r = subprocess.run([os.path.join(SOURCE, "scripts", "tls-certs"), self.tls_dir],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise TestFailure("scripts/tls-certs failed: " + r.stderr.strip())
            t = ["--set", "tls.ca=" + os.path.join(self.tls_dir, "ca.pem"),
                 "--set", "tls.cert=" + os.path.join(self.tls_dir, "node.pem"),
                 "--set", "tls.key=" + os.path.join(self.tls_dir, "node.key")]
            sec_metad += ["--set", "tls.enabled=true"] + t
            sec_chunkd += t
        if auth:
            self.secret = os.urandom(24).hex()
            self.admin_password = "adm-" + os.urandom(12).hex()
            env = dict(os.environ, DFS_CLUSTER_SECRET=self.secret)
            self.auth_addr = "127.0.0.1:%d" % free_port()
            aenv = dict(os.environ, DFS_SERVICE_SECRET=self.secret,
                        DFS_ADMIN_PASSWORD=self.admin_password)
            self.authd = Daemon("authd", [
                os.path.join(BIN, "authd"), "--listen", self.auth_addr,
                "--dir", os.path.join(self.dir, "authd"), "--set", "bcrypt.cost=4",
                *(["--log-level", log_level] if log_level else []),
                *(["--set", "tls.enabled=true"] + t if tls else []), *auth_args],
                os.path.join(self.dir, "logs", "authd.log"), env=aenv)
            sec_metad += ["--set", "auth.address=" + self.auth_addr,
                          "--set", "auth.cache_ttl=1s"]
        self.chunkd_env = env
        if not host.startswith("127."):
            # off loopback (netns tests) daemons want TLS and authentication unless told
            # `insecure` (issue 12's safe defaults); these tests choose plaintext on purpose
            sec_metad += ["--set", "insecure=true"]
            sec_chunkd += ["--set", "insecure=true"]
        metad_args = tuple(sec_metad) + tuple(metad_args)
        chunkd_args = tuple(sec_chunkd) + tuple(chunkd_args)
        peers = ",".join("%d@%s" % (i + 1, a) for i, a in enumerate(raft_addrs))
        self.metads = []
        for i in range(metads):
            name = "metad" if metads == 1 else "metad-%d" % (i + 1)
            voter = [] if metads == 1 else ["--raft-id", str(i + 1), "--set", "raft.peers=" + peers]
            self.metads.append(Daemon(name, [
                os.path.join(BIN, "metad"), "--listen", self.meta_addrs[i],
                "--raft-address", raft_addrs[i], *voter,
                "--dir", os.path.join(self.dir, name),
                "--set", "chunkservers.heartbeat_interval=" + heartbeat,
                "--set", "chunkservers.dead_timeout=" + dead_timeout, *metad_args],
                os.path.join(self.dir, "logs", name + ".log"), env=env))
        self.metad = self.metads[0]
        self.chunkd_args = list(chunkd_args)
        self.chunkds = []
        try:
            if self.authd:
                self.start_authd()
            for m in self.metads:
                m.start()
            for _ in range(chunkservers):
                self.add_chunkserver(wait=False)
            self.wait_registered(chunkservers)
        except BaseException:
            self.problems.append("cluster did not start")
            self.teardown()  # stop what was started; keeps the logs if something broke
            raise

    # -- lifecycle
    def add_chunkserver(self, wait=True, host="127.0.0.1", wrap=()):
        """host: the address it listens on; wrap: an argv prefix (e.g. ip netns exec NS)."""
        i = len(self.chunkds) + 1
        port = free_port()
        insecure = [] if host.startswith("127.") or "insecure=true" in self.chunkd_args \
            else ["--set", "insecure=true"]  # a netns chunkserver in plaintext, on purpose
        d = Daemon("chunkd-%d" % i, [*wrap,
            os.path.join(BIN, "chunkd"), "--listen", "%s:%d" % (host, port),
            "--dir", os.path.join(self.dir, "chunkd-%d" % i), "--meta", self.meta,
            *self.chunkd_args, *insecure], os.path.join(self.dir, "logs", "chunkd-%d.log" % i),
            env=self.chunkd_env)
        d.port = port
        d.addr = "%s:%d" % (host, port)
        self.chunkds.append(d)
        d.start()
        if wait:
            self.wait_registered(self.live_expected())
        return d

    def daemons(self):
        return ([self.authd] if self.authd else []) + self.metads + self.chunkds + \
            ([self.gateway] if self.gateway else [])

    def start_gateway(self, args=None, timeout=20):
        """Starts dfsgw (S3 and the web console) on a free port for this cluster, with
        the cluster's secret, and waits until it accepts connections: c.gw_url,
        c.gateway (a Daemon, stopped and checked with the others). args (a stopped
        gateway only): start it again with these instead (same port)."""
        if self.gateway and args is not None:
            check(not self.gateway.running(), "start_gateway(args) needs it stopped first")
            self.gateway.argv = self.gateway.base_argv + list(args)
        if not self.gateway:
            args = args or ()
            port = free_port()
            env = dict(os.environ, DFS_SERVICE_SECRET=self.secret) if self.secret else None
            tls = []
            if self.tls:
                tls = ["--set", "tls.enabled=true",
                       "--set", "tls.ca=" + os.path.join(self.tls_dir, "ca.pem"),
                       "--set", "tls.cert=" + os.path.join(self.tls_dir, "node.pem"),
                       "--set", "tls.key=" + os.path.join(self.tls_dir, "node.key")]
            self.gateway = Daemon("dfsgw", [
                os.path.join(BIN, "dfsgw"), "--listen", "127.0.0.1:%d" % port,
                "--meta", self.meta, "--auth", self.auth_addr or "127.0.0.1:1", *tls, *args],
                os.path.join(self.dir, "logs", "dfsgw.log"), env=env)
            self.gateway.port = port
            self.gateway.base_argv = self.gateway.argv[:len(self.gateway.argv) - len(args)]
            self.gw_url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", port)
        self.gateway.start()
        deadline = time.time() + timeout
        while True:
            self.check_daemons()
            try:
                socket.create_connection(("127.0.0.1", self.gateway.port), timeout=1).close()
                return self.gateway
            except OSError:
                if time.time() > deadline:
                    raise TestFailure("dfsgw not listening %d s after its start" % timeout)
                time.sleep(0.05)

    # -- security (auth=True / tls=True)
    def start_authd(self, timeout=20):
        """Starts authd, waits until it accepts connections, logs the admin in."""
        self.authd.start()
        host, port = self.auth_addr.rsplit(":", 1)
        deadline = time.time() + timeout
        while True:
            self.check_daemons()
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise TestFailure("authd not listening %d s after its start" % timeout)
                time.sleep(0.05)
        self.admin_token = self.login("admin", self.admin_password)

    def ssl_context(self):
        """An ssl.SSLContext trusting the cluster CA (tls=True), else None."""
        if not self.tls:
            return None
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(self.tls_dir, "ca.pem"))
        return ctx

    def user_dir(self, user):
        return os.path.join(self.dir, "users", user or "_anonymous")

    def user_env(self, user):
        """Environment for the CLI as `user` (None: no session): own XDG_CONFIG_HOME and
        HOME, authd address, TLS CA; no inherited DFS_TOKEN/DFS_USER/DFS_PASSWORD."""
        env = dict(os.environ)
        for k in ("DFS_TOKEN", "DFS_USER", "DFS_PASSWORD", "DFS_NEW_PASSWORD", "DFS_META"):
            env.pop(k, None)
        if self.auth or user:
            home = self.user_dir(user)
            os.makedirs(os.path.join(home, "config"), mode=0o700, exist_ok=True)
            env["HOME"] = home
            env["XDG_CONFIG_HOME"] = os.path.join(home, "config")
            env["USER"] = user or "nobody"
        if self.auth_addr:
            env["DFS_AUTH"] = self.auth_addr
        if self.tls:
            env["DFS_TLS_CA"] = os.path.join(self.tls_dir, "ca.pem")
        return env

    def session_path(self, user):
        return os.path.join(self.user_dir(user), "config", "dfs", "session")

    def session_token(self, user):
        """The token in user's session file, or None."""
        try:
            with open(self.session_path(user)) as f:
                for line in f:
                    if line.startswith("token "):
                        return line.split(" ", 1)[1].strip()
        except FileNotFoundError:
            return None
        return None

    def dfs_as(self, user, *args, timeout=300, input=None, env=None):
        """Runs the CLI as `user` (see user_env); input: text for stdin. (rc, out, err)."""
        e = self.user_env(user)
        if env:
            e.update(env)
        return self.dfs(*args, timeout=timeout, input=input, env=e)

    def dfs_as_ok(self, user, *args, timeout=300, input=None, env=None):
        rc, out, err = self.dfs_as(user, *args, timeout=timeout, input=input, env=env)
        check(rc == 0, "dfs %s (as %s): exit %d, stderr: %s" % (
            " ".join(map(str, args)), user, rc, err.strip()))
        return out

    def dfs_as_fails(self, user, *args, timeout=120, input=None, env=None):
        """Expects exit 1 with exactly one line `dfs: ...` on stderr; returns that line."""
        rc, out, err = self.dfs_as(user, *args, timeout=timeout, input=input, env=env)
        return _one_error_line("dfs %s (as %s)" % (" ".join(map(str, args)), user), rc, err)

    def register(self, user, password):
        self.dfs_as_ok(user, "register", user, "--password-stdin", input=password + "\n")

    def login(self, user, password):
        """Logs user in (session file in the user's own config dir); returns the token."""
        self.dfs_as_ok(user, "login", user, "--password-stdin", input=password + "\n")
        tok = self.session_token(user)
        check(tok, "dfs login %s: no token in %s" % (user, self.session_path(user)))
        self.tokens[user] = tok
        return tok

    def logout(self, user):
        self.dfs_as_ok(user, "logout")

    def live_expected(self):
        return sum(1 for d in self.chunkds if d.expect_running)

    def overview(self, timeout=5.0, i=None):
        """ClusterRep of metad i, or (i None) of the leader: with several voters the first
        that says it leads (else the last that answered)."""
        if i is not None:
            return self._overview_at(self.meta_addrs[i], timeout)
        last, err = None, None
        for a in self.meta_addrs:
            try:
                ov = self._overview_at(a, timeout)
            except (OSError, ValueError) as e:
                err = e
                continue
            if ov["is_leader"]:
                return ov
            last = ov
        if last is None:
            raise err
        return last

    def leader(self, timeout=20, exclude=()):
        """Index into c.metads of the voter that says it leads and sees every chunkserver
        that should be up."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_daemons()
            for i, d in enumerate(self.metads):
                if i in exclude or not d.running():
                    continue
                try:
                    ov = self._overview_at(self.meta_addrs[i], 2.0)
                except (OSError, ValueError):
                    continue
                if ov["is_leader"] and sum(s["alive"] for s in ov["servers"]) >= \
                        self.live_expected():
                    return i
            time.sleep(0.05)
        raise TestFailure("no metad leader with %d live chunkservers after %d s"
                          % (self.live_expected(), timeout))

    def _overview_at(self, addr, timeout):
        if self.auth or self.tls:
            try:
                return wire.cluster_overview(addr, timeout, token=self.admin_token,
                                             ssl_ctx=self.ssl_context())
            except ValueError as e:
                if not self.auth or "failed: -21 " not in str(e):
                    raise
                # the admin session expired (short sessions.ttl): log in again
                self.admin_token = self.login("admin", self.admin_password)
                return wire.cluster_overview(addr, timeout, token=self.admin_token,
                                             ssl_ctx=self.ssl_context())
        return wire.cluster_overview(addr, timeout)

    def alive_ports(self):
        return {s["port"] for s in self.overview()["servers"] if s["alive"]}

    def wait_registered(self, n, timeout=40):
        """Waits until metad reports at least n live chunkservers."""
        deadline, last = time.time() + timeout, None
        while time.time() < deadline:
            self.check_daemons()
            try:
                alive = sum(1 for s in self.overview()["servers"] if s["alive"])
                if alive >= n:
                    return
                last = "%d of %d chunkservers alive" % (alive, n)
            except (OSError, ValueError) as e:
                last = str(e)
            time.sleep(0.1)
        raise TestFailure("cluster not ready after %d s: %s" % (timeout, last))

    def wait_dead(self, chunkd, timeout=30):
        """Waits until metad no longer lists chunkd as alive."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if chunkd.port not in self.alive_ports():
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise TestFailure("metad still lists %s as alive after %d s" % (chunkd.name, timeout))

    def wait_alive(self, chunkd, timeout=40):
        """Waits until metad lists chunkd as alive, then a little longer so that its
        inventory (sent right after registering) has been taken in."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_daemons()
            try:
                if chunkd.port in self.alive_ports():
                    time.sleep(1.0)
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise TestFailure("%s not registered %d s after its start" % (chunkd.name, timeout))

    def restart(self, d, wait=True):
        """kill -9 (if running) and start again with the same data; waits until it is
        registered (a chunkd) or every expected chunkserver is back (metad)."""
        if d.running():
            d.kill9()
        if d is self.authd:
            self.start_authd()
            return
        if d is self.gateway:
            self.start_gateway()
            return
        d.start()
        if wait and d in self.metads:
            self.wait_registered(self.live_expected())
            time.sleep(1.0)  # inventories taken in
        elif wait:
            self.wait_alive(d)

    def ensure_running(self):
        """Starts again any daemon a previous (failed) case left dead or stopped, so
        that one failure does not cascade into the next case."""
        for d in self.daemons():
            if d.running():
                os.kill(d.pid, signal.SIGCONT)
            else:
                self.restart(d)

    def check_daemons(self):
        """Raises TestFailure at once if a daemon died or printed a sanitizer report."""
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                self.problems.append(p)
                raise TestFailure(p + "\n" + d.log_tail())
            m = d.new_sanitizer_report()
            if m:
                p = "%s printed a sanitizer report (%s); see %s" % (d.name, m, d.log_path)
                self.problems.append(p)
                raise TestFailure(p + "\n" + d.log_tail(40))

    def teardown(self):
        problems = list(self.problems)
        if getattr(self, "mounts", None):
            for d in self.daemons():  # a case may have left one stopped (SIGSTOP)
                if d.running():
                    os.kill(d.pid, signal.SIGCONT)
            problems += self.unmount_all()
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                problems.append(p)
        for d in reversed(self.daemons()):
            p = d.terminate()
            if p:
                problems.append(p)
        for d in self.daemons():
            m = sanitizer_report(d.log_text())
            if m:
                problems.append("%s printed a sanitizer report (%s)" % (d.name, m))
        # de-duplicate, keep order
        seen, uniq = set(), []
        for p in problems:
            if p not in seen:
                seen.add(p)
                uniq.append(p)
        if uniq:
            for d in self.daemons():
                print("    --- tail of %s:\n%s" % (d.log_path, d.log_tail(40)))
        if KEEP or uniq:
            if not KEEP:  # keep logs and metadata for the post-mortem, not gigabytes
                shutil.rmtree(os.path.join(self.dir, "scratch"), ignore_errors=True)
                for d in self.chunkds:
                    data = d.argv[d.argv.index("--dir") + 1]
                    if dir_size(data) > 256 * MiB:
                        shutil.rmtree(os.path.join(data, "chunks"), ignore_errors=True)
            print("    (cluster data and logs kept in %s)" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return uniq

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        problems = self.teardown()
        if problems and et is None:
            raise TestFailure("teardown: " + "; ".join(problems))
        return False

    # -- CLI
    def dfs(self, *args, timeout=300, meta=None, input=None, env=None):
        """Runs `dfs --meta ADDR ARGS...`; returns (rc, stdout, stderr) as text. Fails the
        test if the CLI printed a sanitizer report. On an auth/TLS cluster it runs as
        admin unless env (see user_env) is given; input: text for stdin."""
        argv = [os.path.join(BIN, "dfs"), "--meta", meta or self.meta] + [str(a) for a in args]
        if env is None and (self.auth or self.tls):
            env = self.user_env("admin" if self.auth else None)
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None,
                               input=None if input is None else input.encode(),
                               capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise TestFailure("`%s` did not finish within %d s" % (" ".join(argv[3:]), timeout))
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        m = sanitizer_report(err)
        if m:
            raise TestFailure("dfs %s: sanitizer report (%s):\n%s" % (" ".join(argv[3:]), m, err))
        return r.returncode, out, err

    def dfs_ok(self, *args, timeout=300):
        rc, out, err = self.dfs(*args, timeout=timeout)
        check(rc == 0, "dfs %s: exit %d, stderr: %s" % (" ".join(map(str, args)), rc,
                                                          err.strip()))
        return out

    def dfs_fails(self, *args, timeout=120):
        """Expects exit 1 with exactly one line `dfs: ...` on stderr; returns that line."""
        rc, out, err = self.dfs(*args, timeout=timeout)
        return _one_error_line("dfs %s" % " ".join(map(str, args)), rc, err)

    def popen_dfs(self, *args):
        argv = [os.path.join(BIN, "dfs"), "--meta", self.meta] + [str(a) for a in args]
        env = self.user_env("admin" if self.auth else None) if (self.auth or self.tls) else None
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)

    def scratch(self, name):
        """A path for local scratch files inside the cluster's temp dir."""
        d = os.path.join(self.dir, "scratch")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def roundtrip(self, size, remote, seed=None, replicas=None, extra=()):
        """put a seeded file of `size` bytes to remote, get it back, compare SHA-256."""
        local = self.scratch("up-" + remote.strip("/").replace("/", "_"))
        back = local + ".back"
        digest = make_file(local, size, seed)
        args = ["put", local, remote] + (["--replicas", replicas] if replicas else []) + list(extra)
        self.dfs_ok(*args)
        os.unlink(local)
        self.get_check(remote, digest, back)
        return digest

    def get_check(self, remote, digest, back=None, timeout=300):
        back = back or self.scratch("get-" + remote.strip("/").replace("/", "_"))
        if os.path.exists(back):
            os.unlink(back)
        self.dfs_ok("get", remote, back, timeout=timeout)
        got = sha256_file(back)
        os.unlink(back)
        check(got == digest, "%s: sha256 %s after get, expected %s" % (remote, got, digest))

    # -- FUSE: dfs mount
    def _mount_env(self, user):
        if user:
            return self.user_env(user)
        if self.auth or self.tls:
            return self.user_env("admin" if self.auth else None)
        return None

    def mount(self, path, user=None, opts=(), foreground=False, timeout=60):
        """`dfs mount PATH [--foreground] [-o OPT,...]` as user (None: admin); waits until
        PATH is a mount point; returns the MountRec (see the module docstring)."""
        require_fuse()
        path = os.path.abspath(path)
        os.makedirs(path, exist_ok=True)
        check(not os.path.ismount(path), "%s is already a mount point" % path)
        _become_subreaper()
        rec = MountRec(path, user, os.path.join(self.dir, "logs", "mount-%d.log" %
                                                 (len(self.mounts) + 1)))
        rec.env = self._mount_env(user)
        if STANDIN:
            root = os.path.join(self.dir, "standin-root")
            os.makedirs(os.path.join(root, "home", user or "admin"), exist_ok=True)
            # no kernel caching: two stand-in mounts of one directory must be coherent
            argv = ["bindfs", "--no-allow-other", "-o", "attr_timeout=0,entry_timeout=0,"
                    "negative_timeout=0,auto_cache", root, path]
            print("    STAND-IN: bindfs %s on %s instead of dfs mount (checks the test, not "
                  "dfs)" % (root, path), flush=True)
        else:
            # --log: the background mount's log (and its stderr: sanitizer reports)
            argv = [os.path.join(BIN, "dfs"), "--meta", self.meta, "mount", path] + \
                (["--foreground"] if foreground else ["--log", rec.log]) + \
                (["-o", ",".join(opts)] if opts else [])
        rec.argv = argv
        known = self._known_pids()
        log = open(rec.log, "ab")
        log.write(("==== harness: %s\n" % " ".join(argv)).encode())
        log.flush()
        self.mounts.append(rec)  # from now on teardown unmounts it, whatever happens
        t0 = time.time()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=rec.env,
                             start_new_session=True,
                             preexec_fn=_die_with_parent if foreground else None)
        log.close()
        if foreground:
            rec.proc, rec.pid = p, p.pid
            while not os.path.ismount(path):
                if p.poll() is not None:
                    raise TestFailure("dfs mount --foreground %s exited with %d before the "
                                      "mount was ready:\n%s" % (path, p.returncode, rec.log_tail()))
                if time.time() - t0 > timeout:
                    raise TestFailure("%s not mounted %d s after dfs mount --foreground:\n%s"
                                      % (path, timeout, rec.log_tail()))
                time.sleep(0.05)
        else:
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                raise TestFailure("dfs mount %s did not return within %d s (killed):\n%s"
                                  % (path, timeout, rec.log_tail()))
            rec.pid = self._new_child(known, p.pid)
            check(rc == 0, "dfs mount %s: exit %d\n%s" % (path, rc, rec.log_tail()))
            check(os.path.ismount(path), "dfs mount %s exited 0 but %s is not a mount point "
                  "(it must return once the mount is ready)\n%s" % (path, path, rec.log_tail()))
        rec.mounted = True
        print("    mounted %s as %s in %.1f s (pid %s)" % (
            path, user or "admin", time.time() - t0, rec.pid), flush=True)
        return rec

    def _known_pids(self):
        pids = {d.pid for d in self.daemons() if d.pid}
        return pids | {m.pid for m in self.mounts if m.pid}

    def _new_child(self, known, launcher, timeout=5):
        """The PID of the process the background `dfs mount` left serving the mount: with
        this process a child subreaper, the daemonized process is reparented to us; it is
        the child of ours that is neither a daemon nor an earlier mount."""
        deadline = time.time() + timeout
        while True:
            new = [p for p in _children_of(os.getpid()) if p not in known and p != launcher]
            fuse = [p for p in new if _holds_dev_fuse(p)]  # the one serving /dev/fuse
            if fuse or (new and time.time() > deadline):
                return (fuse or new)[0]
            if time.time() > deadline:
                return None  # ran in the foreground of the launcher itself? (not expected)
            time.sleep(0.02)

    def _rec(self, path):
        path = os.path.abspath(path)
        for rec in reversed(self.mounts):
            if rec.path == path and rec.mounted:
                return rec
        raise TestFailure("%s: no mount of this test there" % path)

    def umount(self, path, reap=True, timeout=60):
        """`dfs umount PATH`: exit 0 within timeout and PATH no longer a mount point;
        reap: wait until the mount process exited (status 0). Returns the MountRec."""
        rec = self._rec(path)
        argv = ["fusermount3", "-u", "-z", rec.path] if STANDIN else \
            [os.path.join(BIN, "dfs"), "--meta", self.meta, "umount", rec.path]
        t0 = time.time()
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=rec.env)
        except subprocess.TimeoutExpired:
            raise TestFailure("dfs umount %s did not return within %d s" % (rec.path, timeout))
        err = r.stderr.decode("utf-8", "replace")
        if err.strip():
            print("    dfs umount %s said: %s" % (rec.path, err.strip()[-500:]), flush=True)
        m = sanitizer_report(err)
        check(not m, "dfs umount %s: sanitizer report (%s):\n%s" % (rec.path, m, err))
        check(r.returncode == 0, "dfs umount %s: exit %d, stderr: %s" % (
            rec.path, r.returncode, err.strip()))
        check(not os.path.ismount(rec.path), "dfs umount %s exited 0 but it is still "
              "mounted" % rec.path)
        rec.mounted = False
        rec.umount_seconds = time.time() - t0
        if reap:
            p = self.reap_mount(rec)
            check(p is None, p)
        return rec

    def reap_mount(self, rec, timeout=30):
        """Waits until the process serving rec (unmounted) has exited; kills it by PID if it
        has not after timeout. Returns None or a problem string."""
        if rec.reaped or rec.pid is None:
            rec.reaped = True
            return self._mount_log_problem(rec)
        deadline, status = time.time() + timeout, None
        while status is None:
            if rec.proc is not None:
                status = rec.proc.poll()
                status = None if status is None else (status if status >= 0 else 128 - status)
            else:
                try:
                    pid, st = os.waitpid(rec.pid, os.WNOHANG)
                    if pid:
                        status = os.waitstatus_to_exitcode(st)
                        status = status if status >= 0 else 128 - status
                except ChildProcessError:  # not our child (no subreaper): watch /proc
                    if not os.path.exists("/proc/%d" % rec.pid):
                        status = "unknown"
            if status is None:
                if time.time() > deadline:
                    stacks = ""
                    if shutil.which("gdb"):  # where it is stuck, for the report
                        try:
                            stacks = subprocess.run(
                                ["gdb", "-p", str(rec.pid), "-batch", "-ex",
                                 "thread apply all bt 12"], capture_output=True, text=True,
                                timeout=60).stdout
                            stacks = "\n".join(l[:160] for l in stacks.splitlines()
                                               if l.startswith(("#", "Thread")))
                        except (OSError, subprocess.TimeoutExpired):
                            pass
                    try:
                        os.kill(rec.pid, signal.SIGKILL)
                        if rec.proc is not None:
                            rec.proc.wait(10)
                        else:
                            os.waitpid(rec.pid, 0)
                    except (OSError, ChildProcessError, subprocess.TimeoutExpired):
                        pass
                    rec.reaped = True
                    return "mount process %d (%s) still running %d s after the unmount " \
                        "(killed)%s" % (rec.pid, rec.path, timeout,
                                        "; its threads:\n" + stacks[-30000:] if stacks else "")
                time.sleep(0.05)
        rec.reaped = True
        rec.exit_status = status
        if status not in (0, "unknown"):
            return "mount process %d (%s) exited with status %s after the unmount\n%s" % (
                rec.pid, rec.path, status, rec.log_tail())
        return self._mount_log_problem(rec)

    def _mount_log_problem(self, rec):
        m = sanitizer_report(rec.log_text())
        if m:
            return "the mount process of %s printed a sanitizer report (%s); see %s\n%s" % (
                rec.path, m, rec.log, rec.log_tail(40))
        return None

    def unmount_all(self):
        """teardown: unmounts what is still mounted (dfs umount, fusermount3 -u -z,
        umount -l, in that order, each with a timeout) and reaps every mount process.
        Returns problems."""
        problems = []
        for rec in reversed(self.mounts):
            if rec.mounted or os.path.ismount(rec.path):
                how = _force_unmount(self, rec)
                rec.mounted = False
                if how is None:
                    problems.append("could not unmount %s (dfs umount, fusermount3 -u -z and "
                                    "umount -l all failed)" % rec.path)
                    continue
                if how != "dfs umount":
                    print("    teardown: %s unmounted with %s" % (rec.path, how), flush=True)
            if not rec.reaped:
                p = self.reap_mount(rec)
                if p:
                    problems.append(p)
        return problems


class MountRec:
    """One c.mount: path, user, log (its output), pid (the process serving the mount),
    proc (the Popen, foreground mounts), mounted, reaped, exit_status."""

    def __init__(self, path, user, log):
        self.path, self.user, self.log = path, user, log
        self.pid = self.proc = self.env = self.argv = self.exit_status = None
        self.mounted = self.reaped = False
        self.umount_seconds = None

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=15):
        return "\n".join("      | " + l for l in self.log_text().splitlines()[-lines:])


STANDIN = os.environ.get("DFS_TEST_MOUNT_STANDIN", "") == "bindfs"


def require_fuse():
    """Fails the test (TestFailure: a failure, never a skip) when FUSE cannot work here."""
    problems = []
    if not os.path.exists("/dev/fuse"):
        problems.append("/dev/fuse is missing (modprobe fuse; in a container give it "
                        "--device /dev/fuse)")
    else:
        try:
            os.close(os.open("/dev/fuse", os.O_RDWR))
        except OSError as e:
            problems.append("/dev/fuse cannot be opened: %s" % e)
    if not shutil.which("fusermount3"):
        problems.append("fusermount3 is not installed (apt-get install fuse3)")
    if STANDIN and not shutil.which("bindfs"):
        problems.append("DFS_TEST_MOUNT_STANDIN=bindfs but bindfs is not installed")
    if problems:
        raise TestFailure("FUSE is not usable here: " + "; ".join(problems))


_subreaper = False


def _become_subreaper():
    """PR_SET_CHILD_SUBREAPER: a background `dfs mount` (it forks and its parent exits)
    is reparented to this process, so the harness knows the PID serving the mount and
    can wait for it (and kill that PID, never a name)."""
    global _subreaper
    if not _subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        _subreaper = True


def _children_of(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out.append(int(name))
    return out


def _holds_dev_fuse(pid):
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "/dev/fuse":
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def _force_unmount(c, rec):
    """Unmounts rec.path by the first way that works; returns its name or None."""
    tries = []
    if not STANDIN:
        tries.append(("dfs umount", [os.path.join(BIN, "dfs"), "--meta", c.meta, "umount",
                                     rec.path], rec.env))
    tries += [("fusermount3 -u -z", ["fusermount3", "-u", "-z", rec.path], None),
              ("umount -l", ["umount", "-l", rec.path], None)]
    for how, argv, env in tries:
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           env=env)
        except (subprocess.TimeoutExpired, OSError):
            continue
        if not os.path.ismount(rec.path):
            return how
    return None


def _one_error_line(what, rc, err):
    check(rc == 1, "%s: expected exit 1, got %d (stderr: %r)" % (what, rc, err))
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, err))
    check(lines[0].startswith("dfs: "), "%s: stderr should start with 'dfs: ': %r" %
          (what, lines[0]))
    return lines[0]


# --- runner ---------------------------------------------------------------------------

class Runner:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.clusters = []

    def case(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
            for c in self.clusters:
                c.check_daemons()
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            self.failed += 1
            detail = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
            print("FAIL %s (%.1f s): %s" % (name, time.time() - t0, detail), flush=True)
            for c in self.clusters:  # what the daemons complained about, for the post-mortem
                for d in c.daemons():
                    w = d.warnings_tail()
                    if w:
                        print("    --- last warnings of %s:\n%s" % (d.name, w), flush=True)
            return False
        self.passed += 1
        print("PASS %s (%.1f s)" % (name, time.time() - t0), flush=True)
        return True

    def cluster(self, *args, **kw):
        """A Cluster whose teardown result is counted as a case of its own."""
        runner = self

        class _Ctx:
            def __enter__(self):
                try:
                    self.c = Cluster(*args, **kw)
                except TestFailure as e:  # e.g. a port taken between pick and bind
                    print("    cluster start failed (%s); retrying once on new ports"
                          % str(e).splitlines()[0], flush=True)
                    self.c = Cluster(*args, **kw)
                runner.clusters.append(self.c)
                return self.c

            def __exit__(self, et, ev, tb):
                runner.clusters.remove(self.c)
                problems = self.c.teardown()
                if problems:
                    runner.failed += 1
                    print("FAIL cluster teardown: %s" % "; ".join(problems), flush=True)
                else:
                    runner.passed += 1
                    print("PASS cluster teardown (clean shutdown, no sanitizer report)",
                          flush=True)
                return False
        return _Ctx()


def run(main):
    """Runs main(runner); an exception escaping main counts as one failed case."""
    name = os.path.basename(sys.argv[0])
    r = Runner(name)
    print("%s: DFS_BIN=%s%s" % (name, BIN, " (sanitized)" if SANITIZED else ""), flush=True)
    t0 = time.time()
    # SIGTERM (e.g. from a test driver) unwinds normally, so every cluster is torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated by SIGTERM"))
    try:
        main(r)
    except Exception as e:  # noqa: BLE001
        r.failed += 1
        detail = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
        print("FAIL %s: %s" % ("setup" if not r.passed else "aborted", detail), flush=True)
    print("(%.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (r.passed, r.failed), flush=True)
    sys.exit(1 if r.failed else 0)


# --- fault hooks (chunkd built with -DDFS_FAULT_HOOKS=ON; docs/internals.md "Fault hooks")

def chunkd_data_dir(d):
    """The data directory of chunkd Daemon d (its --dir argument)."""
    return d.argv[d.argv.index("--dir") + 1]


def wait_replication_settled(c, timeout=30):
    """Waits until metad repaired what the last case broke: no chunk under its goal, none
    corrupt, no copy job, and so for a second (a replica a read found bad reaches metad a
    heartbeat or two later: verify order, then the chunkserver's report; copies still
    landing would count as the next case's new replicas). Returns the last status."""
    deadline, calm_since = time.time() + timeout, None
    while True:
        s = json.loads(c.dfs_ok("admin", "status", "--json"))
        if (s["under_replicated"] == 0 and s["copy_jobs_running"] == 0
                and s["copy_jobs_queued"] == 0 and s["corrupt"] == 0):
            calm_since = calm_since or time.time()
            if time.time() - calm_since >= 1.0:
                return s
        else:
            calm_since = None
        check(time.time() < deadline, "replication did not settle: %r" % s)
        time.sleep(0.1)


# --- chunk replicas on a chunkserver's disk -------------------------------------------------

CHUNK_FILE_HDR = 4096   # chunks/XX/<016x id>.<version>: header, then the data
VOL_REC_HDR = 64        # vol/<seq>.vol records (src/chunkd/volumes.h), 64-byte aligned


class Replica:
    """One stored copy of a chunk on a chunkd's disk: a file of its own, or (chunks of at
    most data.pack_max bytes) a record in a volume file. Tests damage it through here."""

    def __init__(self, cid, version, path, data_off, length, packed):
        self.id, self.version, self.path = cid, version, path
        self.data_off, self.length, self.packed = data_off, length, packed

    @property
    def key(self):
        return (self.path, self.data_off)

    def __repr__(self):
        return "%016x.%d in %s at %d" % (self.id, self.version, self.path, self.data_off)

    def corrupt(self, offset=1000, mask=0x5A):
        """Flips bits of one data byte (offset clamped into the chunk)."""
        check(self.length > 0, "cannot corrupt the empty chunk %r" % self)
        at = self.data_off + max(0, min(offset, self.length - 1))
        with open(self.path, "r+b") as f:
            f.seek(at)
            b = f.read(1)
            check(len(b) == 1, "replica %r too short to corrupt" % self)
            f.seek(at)
            f.write(bytes([b[0] ^ mask]))

    def destroy(self):
        """The replica is gone: its file unlinked, or its record's header wiped."""
        if not self.packed:
            os.unlink(self.path)
            return
        with open(self.path, "r+b") as f:
            f.seek(self.data_off - VOL_REC_HDR)
            f.write(bytes(VOL_REC_HDR))


def _volume_records(path):
    """(type, id, version, length, data offset) of each valid record in one volume."""
    with open(path, "rb") as f:
        buf = f.read()
    off, out = 0, []
    while off + VOL_REC_HDR <= len(buf):
        h = buf[off:off + VOL_REC_HDR]
        if h[:8] != b"DFSVOLR1" or wire.crc32c(h[:60]) != int.from_bytes(h[60:64], "little"):
            off += 64
            continue
        cid = int.from_bytes(h[8:16], "little")
        ver = int.from_bytes(h[16:24], "little")
        typ = int.from_bytes(h[32:36], "little")
        length = int.from_bytes(h[36:40], "little")
        size = (VOL_REC_HDR + length + 63) // 64 * 64
        if off + size > len(buf):
            break
        out.append((typ, cid, ver, length, off + VOL_REC_HDR))
        off += size
    return out


def chunk_replicas(data_dir):
    """Every chunk replica chunkd would index in data_dir, as Replica objects sorted by
    (id, version): chunk files, then volume records in order (later records and delete
    records applied, as chunkd's start-up scan does)."""
    found = {}
    for p in glob.glob(os.path.join(data_dir, "chunks", "*", "*")):
        name = os.path.basename(p)
        if len(name) < 18 or name[16] != "." or not os.path.isfile(p):
            continue
        cid, ver = int(name[:16], 16), int(name[17:])
        size = os.path.getsize(p)
        if cid not in found or found[cid].version < ver:
            found[cid] = Replica(cid, ver, p, CHUNK_FILE_HDR, size - CHUNK_FILE_HDR, False)
    for p in sorted(glob.glob(os.path.join(data_dir, "vol", "*.vol"))):
        for typ, cid, ver, length, doff in _volume_records(p):
            if typ == 2:
                if cid in found and found[cid].version == ver:
                    del found[cid]
            elif cid not in found or found[cid].version <= ver:
                found[cid] = Replica(cid, ver, p, doff, length, True)
    return sorted(found.values(), key=lambda r: (r.id, r.version))


def set_fault(d, text, timeout=10):
    """Replaces the fault settings of the running chunkd d with `text` ("key=value" lines,
    "" = all off) through data.dir/fault, and waits until d has applied them."""
    path = os.path.join(chunkd_data_dir(d), "fault")
    before = d.log_text().count("fault hooks reloaded")
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.rename(path + ".tmp", path)
    deadline = time.time() + timeout
    while d.log_text().count("fault hooks reloaded") <= before:
        check(d.running(), "%s is not running (cannot set faults)" % d.name)
        check(time.time() < deadline, "%s did not reload %s within %d s" % (d.name, path, timeout))
        time.sleep(0.05)
