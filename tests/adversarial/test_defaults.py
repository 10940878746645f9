#!/usr/bin/env python3
"""Safe defaults (issue 12, finding 14): a daemon listening on an address other machines
can reach (0.0.0.0 here) refuses to start without TLS and authentication, with one line
naming what is missing and how to turn it on; `insecure: true` starts it with one loud
warning; loopback needs nothing (every other test); a fully secured daemon starts on
0.0.0.0 without a warning."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402

TMP = tempfile.mkdtemp(prefix="dfs-adv-defaults-")


def run_for(argv, seconds=2.0, env=None):
    """Runs argv for up to `seconds`; returns (exit code or None if still running, stderr)."""
    log = open(os.path.join(TMP, "log-%d" % time.monotonic_ns()), "w+")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, env=env,
                         preexec_fn=harness._die_with_parent)
    try:
        rc = p.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        rc = None
        p.terminate()
        p.wait(timeout=20)
    log.seek(0)
    return rc, log.read()


def daemons(port):
    b = harness.BIN
    return {
        "metad": [os.path.join(b, "metad"), "--listen", "0.0.0.0:%d" % port,
                  "--raft-address", "127.0.0.1:%d" % harness.free_port(),
                  "--dir", os.path.join(TMP, "metad-%d" % port)],
        "chunkd": [os.path.join(b, "chunkd"), "--listen", "0.0.0.0:%d" % port,
                   "--set", "advertise=127.0.0.1:%d" % port, "--meta", "127.0.0.1:1",
                   "--dir", os.path.join(TMP, "chunkd-%d" % port)],
        "authd": [os.path.join(b, "authd"), "--listen", "0.0.0.0:%d" % port,
                  "--dir", os.path.join(TMP, "authd-%d" % port), "--set", "bcrypt.cost=4"],
    }


def t_refused_without_tls_and_auth():
    for name, argv in daemons(harness.free_port()).items():
        rc, err = run_for(argv, 10)
        lines = [l for l in err.splitlines() if l.strip() and "INFO" not in l]
        check(rc == 2, "%s on 0.0.0.0 without TLS/auth: exit %r, stderr %r" % (name, rc, err))
        check(len(lines) == 1 and "refusing to listen on 0.0.0.0" in lines[0] and "TLS" in lines[0]
              and "insecure=true" in lines[0], "%s: not one clear line: %r" % (name, lines))
    # metad's raft address counts too: without the cluster secret raft is open
    argv = [os.path.join(harness.BIN, "metad"), "--listen", "127.0.0.1:%d" % harness.free_port(),
            "--raft-address", "0.0.0.0:%d" % harness.free_port(), "--dir",
            os.path.join(TMP, "metad-raft")]
    rc, err = run_for(argv, 10)
    check(rc == 2 and "cluster secret" in err, "metad with raft on 0.0.0.0: %r %r" % (rc, err))


def t_insecure_flag_warns():
    for name, argv in daemons(harness.free_port()).items():
        rc, err = run_for(argv + ["--set", "insecure=true"], 2.5)
        check(rc is None, "%s with insecure=true did not keep running: %r %r" % (name, rc, err))
        check("INSECURE" in err and "WARN" in err, "%s: no loud warning: %r" % (name, err))


def t_secured_starts():
    tls = os.path.join(TMP, "tls")
    subprocess.run([os.path.join(harness.SOURCE, "scripts", "tls-certs"), tls], check=True)
    t = ["--set", "tls.ca=%s/ca.pem" % tls, "--set", "tls.cert=%s/node.pem" % tls,
         "--set", "tls.key=%s/node.key" % tls]
    env = dict(os.environ, DFS_CLUSTER_SECRET="s" * 32, DFS_SERVICE_SECRET="s" * 32)
    d = daemons(harness.free_port())
    extra = {"metad": ["--set", "tls.enabled=true", "--set", "auth.address=127.0.0.1:1"] + t,
             "chunkd": t, "authd": ["--set", "tls.enabled=true"] + t}
    for name, argv in d.items():
        rc, err = run_for(argv + extra[name], 2.5, env=env)
        check(rc is None, "secured %s on 0.0.0.0 did not start: %r %r" % (name, rc, err))
        check("INSECURE" not in err and "refusing" not in err, "%s: %r" % (name, err))


def main(r):
    r.case("off loopback without TLS and auth: refused with one line", t_refused_without_tls_and_auth)
    r.case("insecure=true: starts, one loud warning", t_insecure_flag_warns)
    r.case("TLS and auth on: starts on 0.0.0.0 quietly", t_secured_starts)
    if not harness.KEEP:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    harness.run(main)
