#!/usr/bin/env python3
"""The crash-on-replay attacks of issue 12 (findings 3 and 5) against 3 metad voters:
the deepest legal tree, copies and moves that would pass the depth limit, a 30 MiB junk
commit and a replayed request id go through the leader; then every voter is killed with
kill -9 at once and restarted, so each replays the whole log (and any snapshot). The
cluster must elect a leader again, hold the deep tree, have refused every attack, and
return every file byte for byte. (The cluster is tests/adversarial/test_raft.py's:
3 voters with a cluster secret, 3 chunkservers, no authd.)"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402
from test_raft import RaftCluster  # noqa: E402

MSG_MKDIR, MSG_COMMIT, MSG_RENAME, MSG_COPY, MSG_LIST = 100, 110, 120, 122, 102
EINVAL, EBADPATH = -1, -9
MiB = 1 << 20


def deep(root, levels):
    return root + "/d" * levels


def leader_session(c):
    i = c.leader()
    return wire.MetaSession(c.client[i], timeout=60)


def attacks(c, files):
    c.leader()  # a leader with every chunkserver registered
    for k in range(2):
        files["/keep-%d" % k] = c.put("/keep-%d" % k, MiB + 100 * k, seed=300 + k)
    s = leader_session(c)
    try:
        err, msg, _ = s.req(MSG_MKDIR, wire.msg((2, deep("/t1", 999)), (3, True)))
        check(err == 0, "mkdir -p to 1000 levels: %d %s" % (err, msg))
        err, msg, _ = s.req(MSG_MKDIR, wire.msg((2, deep("/t1", 1000)), (3, True)))
        check(err == EBADPATH, "mkdir -p to 1001 levels: %d %s" % (err, msg))
        err, msg, _ = s.req(MSG_MKDIR, wire.msg((2, deep("/t2", 500)), (3, True)))
        check(err == 0, "mkdir -p to 501 levels: %d %s" % (err, msg))
        for what, mtype, p in (("cp -r", MSG_COPY, wire.msg((2, "/t1"), (3, deep("/t2", 500) + "/x"),
                                                              (4, True), (6, 11))),
                               ("mv", MSG_RENAME, wire.msg((2, "/t1"), (3, deep("/t2", 500) + "/x"),
                                                           (5, 12)))):
            err, msg, _ = s.req(mtype, p)
            check(err == EINVAL and "deep" in msg, "%s of a deep tree under another: %d %r" %
                  (what, err, msg))
        # a huge commit of junk entries: refused before the log
        entry = wire.f_bytes(8, wire.msg((1, 1), (2, 1)))
        err, msg, _ = s.req(MSG_COMMIT, wire.msg((2, "/huge"), (7, 13)) + entry * (28 * MiB // len(entry)))
        check(err == EINVAL, "30 MiB junk commit: %d %r" % (err, msg))
        # a request id replayed with another body
        err, msg, _ = s.req(MSG_MKDIR, wire.msg((2, "/r1"), (5, 777)))
        check(err == 0, "mkdir /r1: %d %s" % (err, msg))
        err, msg, _ = s.req(MSG_MKDIR, wire.msg((2, "/r2"), (5, 777)))
        check(err == EINVAL and "request id" in msg, "replayed request id: %d %r" % (err, msg))
    finally:
        s.close()


def kill_all_and_replay(c, files):
    for d in c.metads:
        d.kill9()
    t0 = time.time()
    for d in c.metads:
        d.start()
    lead = c.leader(timeout=60)
    print("    all 3 voters killed and restarted: metad-%d leads after %.2f s" %
          (lead + 1, time.time() - t0), flush=True)
    for remote, dig in files.items():
        c.get_check(remote, dig)
    s = leader_session(c)
    try:
        err, msg, rep = s.req(MSG_LIST, wire.msg((2, deep("/t1", 998))))
        check(err == 0 and len(rep.get(2, [])) == 1, "the deep tree after replay: %d %r" %
              (err, msg))
        err, msg, rep = s.req(MSG_LIST, wire.msg((2, "/")))
        names = sorted(wire.decode(e).get(1, [b""])[0].decode() for e in rep.get(2, []))
        check(err == 0 and "r2" not in names and "huge" not in names,
              "a refused attack is in the namespace after replay: %r" % names)
    finally:
        s.close()
    files["/after"] = c.put("/after", MiB + 3, seed=310)
    c.get_check("/after", files["/after"])


def main(r):
    c = RaftCluster()
    r.clusters.append(c)
    files = {}
    try:
        if r.case("3 voters: deep trees, deep copies and moves, a huge commit and a replayed "
                  "request id", attacks, c, files):
            r.case("kill -9 of every voter at once: each replays the whole log, files intact",
                   kill_all_and_replay, c, files)
    finally:
        r.clusters.remove(c)
        problems = c.teardown()
        if problems:
            r.failed += 1
            print("FAIL cluster teardown: %s" % "; ".join(problems), flush=True)
        else:
            r.passed += 1
            print("PASS cluster teardown (clean shutdown, no sanitizer report)", flush=True)


if __name__ == "__main__":
    harness.run(main)
