#!/usr/bin/env python3
"""Connections that hold a chunkserver without using it (issue 12, finding 9): a client
connection silent for chunkd's connections.idle_timeout (1 s here, 5 min by default) is
closed, whether it never sent a byte or went quiet after a request; a half-sent frame
is closed after the frame timeout like any; and ordinary work (puts and gets of big and
many small files, whose pooled connections may idle between uses) goes on unharmed."""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_READ = 302
SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)


def closed_after(s, limit):
    """Seconds until the peer closes s (EOF or reset); fails after limit."""
    t0 = time.time()
    s.settimeout(limit)
    try:
        while True:
            if not s.recv(4096):
                break
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise harness.TestFailure("still open after %.1f s" % limit)
    return time.time() - t0


def t_idle_closed(c):
    host, port = c.chunkds[0].addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    took = closed_after(s, 6)
    s.close()
    print("    a silent connection closed after %.2f s" % took)
    check(0.9 <= took <= 3.0, "closed after %.2f s, expected about 1 s" % took)
    # quiet after a request: answered, then closed
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(wire.frame(MSG_READ, wire.msg((2, 12345), (3, 1)), req_id=7))
    mt, _, rid, rep, _ = wire.read_frame(s)
    err, msg = wire.status_of(rep)
    check(rid == 7 and err != 0 and msg, "the request was not answered: %d %r" % (err, msg))
    took = closed_after(s, 6)
    s.close()
    check(0.9 <= took <= 3.0, "closed %.2f s after the reply, expected about 1 s" % took)
    for d in c.chunkds:
        check(d.running(), "%s died" % d.name)


def t_work_goes_on(c):
    big = c.scratch("big")
    dig = harness.make_file(big, 5 * (1 << 20) + 3, rng.randrange(1 << 31))
    c.dfs_ok("put", big, "/big", "--replicas", "2")
    tree = c.scratch("tree")
    os.makedirs(tree)
    digs = {}
    for k in range(30):
        p = os.path.join(tree, "f%02d" % k)
        digs["f%02d" % k] = harness.make_file(p, 1000 + 97 * k, rng.randrange(1 << 31), quiet=True)
    c.dfs_ok("put", "-r", tree, "/tree")
    time.sleep(2.5)  # every connection chunkd had is now closed as idle
    c.get_check("/big", dig)
    for k in range(3):  # chain links between chunkservers were closed too: they reconnect
        c.dfs_ok("put", big, "/big-again-%d" % k, "--replicas", "3")
        c.get_check("/big-again-%d" % k, dig)
        time.sleep(1.2)
    back = c.scratch("back")
    c.dfs_ok("get", "-r", "/tree", back)
    for name, d in digs.items():
        got = harness.sha256_file(os.path.join(back, "tree", name)) \
            if os.path.isdir(os.path.join(back, "tree")) else harness.sha256_file(os.path.join(back, name))
        check(got == d, "%s came back with other bytes" % name)


def main(r):
    with r.cluster(chunkservers=3, name="adv-idle", auth=True,
                   chunkd_args=("--set", "connections.idle_timeout=1s")) as c:
        r.case("a silent chunkd connection is closed after connections.idle_timeout",
               t_idle_closed, c)
        r.case("puts and gets go on with a 1 s idle timeout (chain links reconnect)",
               t_work_goes_on, c)


if __name__ == "__main__":
    harness.run(main)
