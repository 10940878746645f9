#!/usr/bin/env python3
"""Identity (issue 12, finding 10): "admin" is a role, not a name anyone can take, and a
deleted user's name is never given to a new account (files and trash items belong to
the name, so a newcomer would inherit them). Each case checks the refusal is one clear
line, that the victim's files are intact and that authd keeps answering, also after
kill -9 and a restart (whose journal compaction rewrites the retired names)."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_REGISTER = 400
EEXIST, EPERM = -5, -20

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)
PW = {u: "%s-pw-%08x" % (u, rng.getrandbits(32)) for u in ("carol", "erin", "frank")}
FILES = {}


def register_wire(addr, user, pw):
    _, _, _, rep, _ = wire.call(addr, MSG_REGISTER, wire.msg((1, user), (2, pw)))
    return wire.status_of(rep)


def t_reserved_admin_name(c):
    """An authd whose administrator is called root: nobody may register 'admin', which
    owns / and /home; root (the role) still administers."""
    port = harness.free_port()
    d = harness.Daemon("authd-root", [
        os.path.join(harness.BIN, "authd"), "--listen", "127.0.0.1:%d" % port,
        "--dir", os.path.join(c.dir, "authd-root"), "--set", "bcrypt.cost=4",
        "--set", "admin.name=root"], os.path.join(c.dir, "logs", "authd-root.log"),
        env=dict(os.environ, DFS_ADMIN_PASSWORD="root-pw-%08x" % rng.getrandbits(32),
                 DFS_SERVICE_SECRET="x" * 32))
    d.start()
    try:
        addr = "127.0.0.1:%d" % port
        deadline = time.time() + 20
        while True:
            try:
                err, msg = register_wire(addr, "admin", "some-long-password-1")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        check(err == EPERM and "reserved" in msg, "register 'admin': %d %r" % (err, msg))
        err, msg = register_wire(addr, "zoe", "some-long-password-2")
        check(err == 0, "an ordinary registration beside it: %d %r" % (err, msg))
        check(d.running(), "authd died")
    finally:
        d.terminate()
        check(not d.new_sanitizer_report(), "authd printed a sanitizer report")
    # on the main cluster: / and /home belong to the name only the admin role can have
    # (as erin: carol was deleted by the case before, and her session with her)
    rc, out, _ = c.dfs_as("erin", "ls", "-l", "/")
    check(rc == 0 and " admin " in out, "ls -l / as erin: %d %r" % (rc, out))
    line = c.dfs_as_fails("erin", "mkdir", "/erin-was-here")
    check("permission denied" in line, "mkdir in / as erin: %r" % line)


def t_deleted_name_not_reused(c):
    for u in ("carol", "erin"):
        c.register(u, PW[u])
        c.login(u, PW[u])
    local = c.scratch("carol-secret")
    harness.make_file(local, 20000, rng.randrange(1 << 31))
    c.dfs_as_ok("carol", "put", local, "/home/carol/secret")
    FILES["/home/carol/secret"] = harness.sha256_file(local)
    c.dfs_ok("admin", "users", "delete", "carol")
    # the name is gone for good: the CLI and the raw protocol are refused
    line = c.dfs_as_fails("frank", "register", "carol", "--password-stdin",
                          input=PW["carol"] + "x\n")
    check("deleted user" in line and "never" in line, "re-register carol: %r" % line)
    err, msg = register_wire(c.auth_addr, "carol", "another-long-password")
    check(err == EEXIST and "deleted user" in msg, "re-register over the wire: %d %r" % (err, msg))
    # carol's files stay hers: nobody else reads them, the admin still does
    line = c.dfs_as_fails("erin", "get", "/home/carol/secret", c.scratch("erin-steal"))
    check("permission denied" in line, "erin reads carol's file: %r" % line)
    for path, digest in FILES.items():
        c.get_check(path, digest)


def t_retired_survives_restarts(c):
    for how in ("kill -9", "restart (journal compaction)"):
        if how == "kill -9":
            c.authd.kill9()
        else:
            c.authd.terminate()
        c.start_authd()
        err, msg = register_wire(c.auth_addr, "carol", "another-long-password")
        check(err == EEXIST and "deleted user" in msg,
              "after %s, carol could be registered again: %d %r" % (how, err, msg))
        err, msg = register_wire(c.auth_addr, "frank%d" % len(how), "frank-long-password")
        check(err == 0, "after %s, a new name is refused: %d %r" % (how, err, msg))
    for path, digest in FILES.items():
        c.get_check(path, digest)


def main(r):
    with r.cluster(chunkservers=2, name="adv-identity", auth=True) as c:
        if not r.case("a deleted user's name is never given out again", t_deleted_name_not_reused, c):
            return
        r.case("'admin' is reserved: the role administers, nobody takes the name",
               t_reserved_admin_name, c)
        r.case("retired names survive kill -9 and a compacting restart",
               t_retired_survives_restarts, c)


if __name__ == "__main__":
    harness.run(main)
