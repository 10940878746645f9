#!/usr/bin/env python3
"""Short-lived capabilities (issue 12, finding 11): with caps.ttl = 1 s and a chunkserver
that takes 0.6 s per request (a fault hook delays every ReadChunk / WriteChunk), a get
outlives the capabilities it started with and a put outlives its allocations. The get
renews them from metad (one GetFile for the chunk) and reads on; the put allocates
afresh. Both end byte-identical, chunkd did refuse the expired capabilities (so the
renewal was needed), and no replica was reported bad for it. Needs the fault hooks
(-DDFS_FAULT_HOOKS=ON, as scripts/test builds)."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402

MiB = 1 << 20
SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)


def expired_refusals(c):
    return sum(d.log_text().count("expired") for d in c.chunkds)


def t_get_renews(c):
    local = c.scratch("four")
    dig = harness.make_file(local, 4 * MiB + 5, rng.randrange(1 << 31))
    c.dfs_ok("put", local, "/four", "--replicas", "1")
    before = expired_refusals(c)
    harness.set_fault(c.chunkds[0], "delay_msg=302:600")
    try:
        t0 = time.time()
        back = c.scratch("four-back")
        c.dfs_ok("get", "--parallel", "1", "/four", back)
        took = time.time() - t0
    finally:
        harness.set_fault(c.chunkds[0], "")
    check(harness.sha256_file(back) == dig, "the slow get came back with other bytes")
    print("    get of 5 chunks at 0.6 s each took %.1f s with 1 s capabilities" % took)
    check(took > 2.0, "the get was not slow enough to outlive its capabilities (%.1f s)" % took)
    check(expired_refusals(c) > before, "chunkd never refused an expired capability: the "
          "renewal was not exercised")
    check("could not read chunk" not in c.metad.log_text(),
          "an expired capability was reported as a bad replica")


def t_put_reallocates(c):
    local = c.scratch("slow-put")
    dig = harness.make_file(local, 4 * MiB + 9, rng.randrange(1 << 31))
    harness.set_fault(c.chunkds[0], "delay_msg=300:600")
    try:
        c.dfs_ok("put", "--parallel", "1", local, "/slow-put", "--replicas", "1")
    finally:
        harness.set_fault(c.chunkds[0], "")
    c.get_check("/slow-put", dig)


def main(r):
    with r.cluster(chunkservers=1, name="adv-caps-ttl", auth=True,
                   metad_args=("--set", "caps.ttl=1s")) as c:
        r.case("a get longer than caps.ttl renews its read capabilities", t_get_renews, c)
        r.case("a put longer than caps.ttl allocates afresh", t_put_reallocates, c)


if __name__ == "__main__":
    harness.run(main)
