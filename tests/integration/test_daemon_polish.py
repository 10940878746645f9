#!/usr/bin/env python3
"""Daemon hardening (issues 3/4 leftovers):
- the shared command line of metad, chunkd and authd (src/common/daemon.c): --help exits
  0, every usage/config error exits 2 with one line, the config file is the base and
  the command line wins (authd used to drop --set keys it did not know when --config was
  given), SIGTERM is a clean exit 0;
- fault.drop_msg works in metad and authd too (test builds with -DDFS_FAULT_HOOKS=ON;
  otherwise both refuse fault.* keys with exit 2);
- an idle cluster expires its trash: the leader checks on its poll timer, not only when a
  client request arrives (no request is sent while waiting)."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import check
import wire

MSG_STAT = wire.MSG_CLIENT_TO_META_STAT
MSG_AUTH_WHOAMI, MSG_AUTH_USERS = 406, 410


def run(argv, timeout=15):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    check(not harness.sanitizer_report(r.stderr), "%s: sanitizer report:\n%s" % (argv[0], r.stderr))
    return r


def hooks_compiled(tmp):
    """Whether metad takes fault.* keys; either way a bad value must be refused."""
    try:
        r = run([os.path.join(harness.BIN, "metad"), "--dir", os.path.join(tmp, "probe"),
                 "--listen", "127.0.0.1:%d" % harness.free_port(),
                 "--raft-address", "127.0.0.1:%d" % harness.free_port(),
                 "--set", "fault.drop_msg=notanumber"])
    except subprocess.TimeoutExpired:
        raise harness.TestFailure("metad started with fault.drop_msg=notanumber (fault.* ignored)")
    check(r.returncode == 2, "metad with a bad fault.drop_msg: exit %d" % r.returncode)
    return "not compiled in" not in r.stderr


def one_line(what, r, code, word):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(r.returncode == code and len(lines) == 1 and word in lines[0],
          "%s: exit %d (want %d), stderr %r (want one line with %r)" %
          (what, r.returncode, code, r.stderr, word))


def t_usage_errors(tmp):
    for d in ("metad", "chunkd", "authd"):
        b = os.path.join(harness.BIN, d)
        r = run([b, "--help"])
        check(r.returncode == 0 and r.stdout.startswith("usage: " + d), "%s --help: %r" % (d, r))
        # a case that wrongly starts the daemon must not take a default port
        d_dir = ["--dir", os.path.join(tmp, d + "-never"), "--listen",
                 "127.0.0.1:%d" % harness.free_port()]
        if d == "metad":
            d_dir += ["--raft-address", "127.0.0.1:%d" % harness.free_port()]
        one_line(d + " --bogus", run([b, "--bogus"]), 2, "unknown argument '--bogus'")
        one_line(d + " --listen", run([b, "--listen"]), 2, "--listen needs a value")
        one_line(d + " --set x", run([b] + d_dir + ["--set", "novalue"]), 2, "expected key=value")
        one_line(d + " --log-level loud", run([b] + d_dir + ["--log-level", "loud"]), 2,
                 "unknown level 'loud'")
        one_line(d + " --config missing", run([b, "--config", os.path.join(tmp, "none.yaml")]), 2,
                 "none.yaml")
        one_line(d + " fault.x", run([b] + d_dir + ["--set", "fault.drop_msg=notanumber"]), 2,
                 "drop_msg")
        for x in ("--raft-id", "--meta", "--capacity"):  # shortcuts of the other daemons only
            known = {"metad": ("--raft-id",), "chunkd": ("--meta", "--capacity"), "authd": ()}[d]
            if x not in known:
                one_line("%s %s" % (d, x), run([b, x, "1"]), 2, "unknown argument")


def wait_listening(addr, proc, timeout=20):
    host, port = addr.rsplit(":", 1)
    deadline = time.time() + timeout
    while True:
        check(proc.poll() is None, "%s exited with %s before listening" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            check(time.time() < deadline, "%s not listening on %s after %d s" % (proc.args[0], addr, timeout))
            time.sleep(0.05)


def t_file_then_command_line(tmp, hooks):
    """A config file with a bad listen address and log level; the command line fixes
    both, so the daemon starts; SIGTERM stops it with exit 0."""
    cfg = os.path.join(tmp, "bad.yaml")
    with open(cfg, "w") as f:
        f.write("listen: not-an-address\nlog:\n  level: loud\n")
    for d in ("metad", "chunkd", "authd"):
        addr = "127.0.0.1:%d" % harness.free_port()
        argv = [os.path.join(harness.BIN, d), "--log-level", "info", "--config", cfg,
                "--listen", addr, "--dir", os.path.join(tmp, d + "-data")]
        if d == "metad":
            argv += ["--raft-address", "127.0.0.1:%d" % harness.free_port()]
        if d == "chunkd":
            argv += ["--meta", "127.0.0.1:%d" % harness.free_port()]
        if d == "authd" and hooks:  # a fault key given with --config reaches authd too
            argv += ["--set", "fault.drop_msg=%d" % MSG_AUTH_WHOAMI]
        log = os.path.join(tmp, d + ".log")
        with open(log, "w") as lf:
            p = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_listening(addr, p)
            if d == "authd" and hooks:
                check(no_reply(addr, MSG_AUTH_WHOAMI), "authd answered a whoami it had to drop "
                      "(--set fault.drop_msg lost next to --config?)")
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        text = open(log).read()
        check(rc == 0 and "shutting down" in text, "%s: exit %d after SIGTERM:\n%s" % (d, rc, text[-2000:]))
        check(not harness.sanitizer_report(text), "%s: sanitizer report:\n%s" % (d, text))


def no_reply(addr, mtype, wait=1.5):
    """True if a frame of mtype gets no reply within `wait` seconds (the connection stays
    open); False if anything comes back."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(wire.frame(mtype, b""))
        try:
            return not s.recv(64)
        except socket.timeout:
            return True


def t_fault_hooks(c, hooks):
    # the control: other types are answered (with an error, no token: still a reply)
    check(not no_reply(c.meta, wire.MSG_CLIENT_TO_META_LIST), "metad did not answer a LIST")
    check(not no_reply(c.auth_addr, MSG_AUTH_USERS), "authd did not answer USERS")
    if not hooks:
        print("    fault hooks not compiled in: only the refusal was checked", flush=True)
        return
    check(no_reply(c.meta, MSG_STAT), "metad answered a STAT with fault.drop_msg=%d" % MSG_STAT)
    check(no_reply(c.auth_addr, MSG_AUTH_WHOAMI), "authd answered a WHOAMI with fault.drop_msg")


def t_idle_trash_expiry(c):
    c.dfs_ok("mkdir", "/tdir")
    c.dfs_ok("rm", "-r", "/tdir")  # to the trash, retention 1 s
    t0 = time.time()
    # no client request from here on: only the leader's own timer can expire it
    deadline = t0 + 20
    while "trash: 1 expired item removed" not in c.metad.log_text():
        c.check_daemons()
        check(time.time() < deadline, "metad did not expire the trash of an idle cluster in 20 s")
        time.sleep(0.1)
    print("    expired %.1f s after rm (retention 1 s, check every 1 s)" % (time.time() - t0), flush=True)
    out = c.dfs_ok("trash", "ls", "--json")
    check('"items":[]' in out.replace(" ", ""), "trash ls after expiry: %r" % out)


def main(r):
    tmp = tempfile.mkdtemp(prefix="dfs-polish-")
    hooks = hooks_compiled(tmp)
    print("    fault hooks %scompiled in" % ("" if hooks else "not "), flush=True)
    r.case("usage and config errors: exit 2, one line (metad, chunkd, authd)", t_usage_errors, tmp)
    r.case("config file first, command line wins; SIGTERM exits 0", t_file_then_command_line,
           tmp, hooks)
    margs = ["--set", "trash.retention=1s"]
    aargs = []
    if hooks:
        margs += ["--set", "fault.drop_msg=%d" % MSG_STAT]
        aargs += ["--set", "fault.drop_msg=%d" % MSG_AUTH_WHOAMI]
    with r.cluster(chunkservers=0, name="polish", auth=True, metad_args=margs,
                   auth_args=aargs) as c:
        r.case("fault.drop_msg in metad and authd", t_fault_hooks, c, hooks)
        r.case("an idle cluster expires its trash", t_idle_trash_expiry, c)


if __name__ == "__main__":
    harness.run(main)
