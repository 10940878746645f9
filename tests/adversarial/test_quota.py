#!/usr/bin/env python3
"""Per-user quotas (issue 12, "fair shares"): an administrator limits a user's bytes and
entries (files and directories, the trash included); put, cp, mkdir and touch beyond a
limit fail with one line saying what is used of what; the user sees their own use and
nobody else's; only administrators set quotas (also over the raw protocol); a limit
survives kill -9 of metad (it is in the log and the snapshot), and freeing space (rm,
trash empty) makes room again. Another user's work goes on unharmed throughout."""

import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_QUOTA = 134
EPERM, EQUOTA = -20, -28
MiB = 1 << 20
SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)
PW = {u: "%s-pw-%08x" % (u, rng.getrandbits(32)) for u in ("alice", "bob")}
BOB = {}


def quota_json(c, user, who="admin"):
    import json
    out = c.dfs_ok("quota", user, "--json") if who == "admin" else \
        c.dfs_as_ok(who, "quota", *([user] if user else []), "--json")
    return json.loads(out)


def put(c, user, name, size):
    local = c.scratch("%s-%s" % (user, name))
    harness.make_file(local, size, rng.randrange(1 << 31))
    return local, c.dfs_as(user, "put", local, "/home/%s/%s" % (user, name))


def t_setup(c):
    for u in PW:
        c.register(u, PW[u])
        c.login(u, PW[u])
    local, (rc, _, err) = put(c, "bob", "keep", 3 * MiB)
    check(rc == 0, "bob's put: %s" % err)
    BOB["/home/bob/keep"] = harness.sha256_file(local)


def t_limits_enforced(c):
    out = c.dfs_ok("quota", "set", "alice", "--bytes", "4M", "--files", "6")
    check("4.0 MiB" in out, "quota set output: %r" % out)
    q = quota_json(c, "", who="alice")
    check(q["user"] == "alice" and q["max_bytes"] == 4 * MiB and q["max_entries"] == 6,
          "alice's own quota: %r" % q)
    # bytes: 3 MiB fits, 2 MiB more does not
    local, (rc, _, err) = put(c, "alice", "a", 3 * MiB)
    check(rc == 0, "put within the quota: %s" % err)
    local, (rc, _, err) = put(c, "alice", "b", 2 * MiB)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 1 and len(lines) == 1 and "quota exceeded" in lines[0],
          "put past the byte quota: %d %r" % (rc, err))
    line = c.dfs_as_fails("alice", "cp", "/home/alice/a", "/home/alice/a2")
    check("quota exceeded" in line, "cp past the byte quota: %r" % line)
    # entries: home + a = 2; 4 more fit, the 5th does not (mkdir -p counts every level)
    c.dfs_as_ok("alice", "mkdir", "-p", "/home/alice/x/y")
    c.dfs_as_ok("alice", "touch", "/home/alice/t1", "/home/alice/t2")
    line = c.dfs_as_fails("alice", "touch", "/home/alice/t3")
    check("quota exceeded" in line and "files and directories" in line, "touch: %r" % line)
    line = c.dfs_as_fails("alice", "mkdir", "-p", "/home/alice/p/q")
    check("quota exceeded" in line, "mkdir -p past the entry quota: %r" % line)
    q = quota_json(c, "alice")
    check(q["used_entries"] == 6 and q["used_bytes"] == 3 * MiB, "usage: %r" % q)
    # bob is unaffected
    local, (rc, _, err) = put(c, "bob", "more", 5 * MiB)
    check(rc == 0, "bob's put during alice's full quota: %s" % err)
    BOB["/home/bob/more"] = harness.sha256_file(local)


def t_only_admin_sets(c):
    line = c.dfs_as_fails("alice", "quota", "set", "alice", "--bytes", "1T")
    check("only an administrator" in line, "alice raises her own quota: %r" % line)
    line = c.dfs_as_fails("alice", "quota", "bob")
    check("only an administrator" in line, "alice reads bob's quota: %r" % line)
    s = wire.MetaSession(c.meta, token=c.tokens["alice"])
    err, msg, _ = s.req(MSG_QUOTA, wire.msg((2, "alice"), (3, True), (4, 1 << 40),
                                            (6, rng.getrandbits(62) + 1)))
    s.close()
    check(err == EPERM and msg, "raw QuotaReq set by alice: %d %r" % (err, msg))
    check(quota_json(c, "alice")["max_bytes"] == 4 * MiB, "alice's quota changed")


def t_survives_restart_and_frees(c):
    c.metad.kill9()
    c.restart(c.metad)
    c.wait_registered(len(c.chunkds))
    q = quota_json(c, "alice")
    check(q["max_bytes"] == 4 * MiB and q["used_bytes"] == 3 * MiB and q["used_entries"] == 6,
          "after kill -9 of metad: %r" % q)
    # rm moves to the trash (still counted); emptying the trash frees it
    c.dfs_as_ok("alice", "rm", "/home/alice/a")
    check(quota_json(c, "alice")["used_bytes"] == 3 * MiB, "the trash stopped counting")
    c.dfs_as_ok("alice", "trash", "empty")
    check(quota_json(c, "alice")["used_bytes"] == 0, "emptying the trash freed nothing")
    local, (rc, _, err) = put(c, "alice", "b", 2 * MiB)
    check(rc == 0, "put after freeing space: %s" % err)
    c.get_check("/home/alice/b", harness.sha256_file(local))
    # a limit of 0 removes it
    c.dfs_ok("quota", "set", "alice", "--bytes", "0", "--files", "0")
    q = quota_json(c, "alice")
    check(q["max_bytes"] == 0 and q["max_entries"] == 0, "quota not removed: %r" % q)
    for path, digest in BOB.items():
        c.get_check(path, digest)


def main(r):
    with r.cluster(chunkservers=2, name="adv-quota", auth=True) as c:
        if not r.case("setup", t_setup, c):
            return
        r.case("byte and entry limits refuse put, cp, mkdir, touch with one line", t_limits_enforced, c)
        r.case("only an administrator sets or reads others' quotas", t_only_admin_sets, c)
        r.case("quotas survive kill -9; rm + trash empty make room", t_survives_restart_and_frees, c)


if __name__ == "__main__":
    harness.run(main)
