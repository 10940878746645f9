"""Upgrade (issue 12): data directories written by an older build still load. The
fixture tests/fixtures/olddata-v2 (see its README) holds the metad and chunkd data of a
one-node cluster run by commit 03bd142: a raft snapshot in fsm format version 2 with log
entries after it (entries of that build: no results digest). The current metad and
chunkd start on a copy of it; every file reads back byte for byte (sha256 stored in the
fixture), the namespace includes what only the log after the snapshot holds, new puts
work, and after a new snapshot (the current format, FSM_VERSION) metad restarts and
loads it. (Version 3 snapshots, which files without client attributes were written in
before v4, are loaded by tests/unit/test_file_attrs.c from a hand-built one.)

metad's raft configuration names the old raft address (127.0.0.1 and the port of that
run); the new metad is started with the same raft id on a free port: a single voter
needs nobody to reach the old address (libraft binds the address it is started with)."""

import json
import os
import struct
import time

import harness
from harness import check

FIX = os.path.join(harness.SOURCE, "tests", "fixtures", "olddata-v2")
SNAP_MAGIC = b"MSN1"  # fsm.c's SNAP_MAGIC as written (little-endian u32)
FSM_VERSION = 5       # fsm.c's SNAP_VERSION: what the current metad writes (5: symbolic links)


def snapshots(c):
    d = os.path.join(c.dir, "metad")
    return sorted((n for n in os.listdir(d) if n.startswith("snapshot-") and not n.endswith(".meta")),
                  key=lambda n: int(n.split("-")[2]))


def fsm_version(path):
    """The fsm format version inside a raft snapshot file (after libraft's header)."""
    with open(path, "rb") as f:
        data = f.read()
    off = data.find(SNAP_MAGIC)
    return struct.unpack_from("<I", data, off + 4)[0] if off >= 0 else None


def check_files(c, files):
    for remote, digest in sorted(files.items()):
        c.get_check(remote, digest)


def test_old_files(c, meta):
    check_files(c, meta["files"])
    out = c.dfs_ok("ls", "/fx")
    check("gone" not in out, "/fx/gone was deleted before the upgrade, yet: %r" % out)
    for d in meta["dirs_in_namespace"]:  # made after the snapshot: only in the old log
        c.dfs_ok("stat", d)


def test_new_put(c, meta):
    meta["files"]["/fx/new-after-upgrade"] = c.roundtrip(6000, "/fx/new-after-upgrade", seed=21)
    c.dfs_ok("mv", "/fx/sub/late", "/fx/late-moved")
    meta["files"]["/fx/late-moved"] = meta["files"].pop("/fx/sub/late")
    c.dfs_ok("rm", "/fx/sub/a-copy")
    del meta["files"]["/fx/sub/a-copy"]
    check_files(c, meta["files"])


def test_new_snapshot_restart(c, meta):
    old = snapshots(c)
    old_idx = max(int(n.split("-")[2]) for n in old)
    deadline = time.time() + 60
    i = 0
    while max(int(n.split("-")[2]) for n in snapshots(c)) <= old_idx:
        check(time.time() < deadline, "metad took no new snapshot (still %s)" % snapshots(c))
        c.dfs_ok("mkdir", "-p", "/fx/pad/%d" % i)
        i += 1
    new = snapshots(c)[-1]
    v = fsm_version(os.path.join(c.dir, "metad", new))
    check(v == FSM_VERSION, "the new snapshot %s holds fsm format version %r, expected %d"
          % (new, v, FSM_VERSION))
    c.dfs_ok("mkdir", "/fx/after-new-snapshot")  # and an entry after it
    check(c.metad.terminate() is None, "metad did not stop cleanly")
    c.metad.start()
    c.wait_registered(c.live_expected())
    check_files(c, meta["files"])
    c.dfs_ok("stat", "/fx/after-new-snapshot")
    c.restart(c.metad)  # kill -9 this time
    check_files(c, meta["files"])


def main(r):
    with open(os.path.join(FIX, "fixture.json")) as f:
        meta = json.load(f)
    snaps = [n for n in os.listdir(os.path.join(FIX, "metad"))
             if n.startswith("snapshot-") and not n.endswith(".meta")]
    check(len(snaps) == 1 and fsm_version(os.path.join(FIX, "metad", snaps[0])) == 2,
          "the fixture should hold one snapshot of fsm format version 2: %s" % snaps)
    with r.cluster(chunkservers=len(meta["dirs"]) - 1, name="upgrade", seed_dir=FIX,
                   metad_args=("--set", "raft.snapshot_threshold=16",
                               "--set", "raft.snapshot_trailing=16")) as c:
        r.case("files written by the old build read back byte for byte", test_old_files, c, meta)
        r.case("new puts, moves and deletes on the old data", test_new_put, c, meta)
        r.case("a new snapshot (format %d) and restarts load" % FSM_VERSION, test_new_snapshot_restart, c, meta)


if __name__ == "__main__":
    harness.run(main)
