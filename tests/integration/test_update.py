"""Update through `dfs put` onto an existing file: the old chunk list is fetched, chunks
whose length, CRC32C and CRC-64 are unchanged are committed by reference (not sent), and
the CLI reports the bytes it sent. A 50 MiB file with one changed chunk sends 1 MiB and
reads back exactly; unchanged chunks keep their ids; a shorter or longer file, an
all-new file, --no-clobber (refused, old content intact) and cp-then-update (the copy
keeps the old content) are checked too."""

import json
import os
import re

import harness
from harness import MiB, check

SEED = int(os.environ.get("DFS_TEST_SEED", "7001"))
SIZE_MIB = 12 if harness.SANITIZED else 50


def chunk_ids(c, remote):
    info = json.loads(c.dfs_ok("info", "--json", remote))
    return [x["chunk_id"] for x in info.get("chunks_detail", [])]


def sent(out):
    m = re.search(r"sent ([\d.]+ \w+) of ([\d.]+ \w+) \((\d+) chunks? unchanged\)", out)
    check(m, "put output does not report the bytes sent: %r" % out)
    return m.group(1), m.group(2), int(m.group(3))


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def test_one_chunk(c):
    local = c.scratch("big")
    harness.make_file(local, SIZE_MIB * MiB, seed=SEED)
    c.dfs_ok("put", local, "/big")
    before = chunk_ids(c, "/big")
    check(len(before) == SIZE_MIB, "expected %d chunks, got %d" % (SIZE_MIB, len(before)))
    changed = SIZE_MIB // 2
    flip(local, changed * MiB + 12345)
    digest = harness.sha256_file(local)
    out = c.dfs_ok("put", local, "/big")
    s, total, unchanged = sent(out)
    check(s == "1.0 MiB", "one changed chunk should send 1.0 MiB, sent %s (%r)" % (s, out))
    check(total == "%d.0 MiB" % SIZE_MIB and unchanged == SIZE_MIB - 1,
          "total/unchanged wrong: %r" % out)
    c.get_check("/big", digest)
    after = chunk_ids(c, "/big")
    diff = [i for i in range(SIZE_MIB) if before[i] != after[i]]
    check(diff == [changed], "only chunk %d should be new, changed: %r" % (changed, diff))
    # unchanged again: nothing sent
    out = c.dfs_ok("put", local, "/big")
    s, _, unchanged = sent(out)
    check(s == "0 B" or s.startswith("0"), "unchanged file sent %s" % s)
    check(unchanged == SIZE_MIB, "all chunks unchanged: %r" % out)
    return digest


def test_shape_changes(c, digest):
    local = c.scratch("big")
    # cp shares chunks; updating the original never changes the copy
    c.dfs_ok("cp", "/big", "/big-copy")
    grow = c.scratch("grow")
    with open(local, "rb") as f, open(grow, "wb") as g:
        g.write(f.read())
        g.write(b"tail" * 1000)
    gd = harness.sha256_file(grow)
    out = c.dfs_ok("put", grow, "/big")
    s, _, unchanged = sent(out)
    check(unchanged == SIZE_MIB and s.endswith("KiB"), "append: %r" % out)
    c.get_check("/big", gd)
    c.get_check("/big-copy", digest)
    # shorter
    short = c.scratch("short")
    with open(local, "rb") as f, open(short, "wb") as g:
        g.write(f.read(3 * MiB + 10))
    sd = harness.sha256_file(short)
    out = c.dfs_ok("put", short, "/big")
    s, _, unchanged = sent(out)
    check(unchanged == 3, "truncate to 3 MiB+10: %r" % out)
    c.get_check("/big", sd)
    # all new content
    other = c.scratch("other")
    od = harness.make_file(other, 2 * MiB, seed=SEED + 1)
    out = c.dfs_ok("put", other, "/big")
    s, _, unchanged = sent(out)
    check(unchanged == 0 and s == "2.0 MiB", "new content: %r" % out)
    c.get_check("/big", od)
    c.get_check("/big-copy", digest)


def test_no_clobber(c):
    other = c.scratch("other")
    od = harness.sha256_file(other)
    small = c.scratch("tiny")
    harness.make_file(small, 1000, seed=SEED + 2)
    e = c.dfs_fails("put", small, "/big", "--no-clobber")
    check(e.startswith("dfs: put: ") and "exists" in e and "--no-clobber" in e,
          "--no-clobber message: %r" % e)
    c.get_check("/big", od)


def test_readers_never_mix(c):
    """Updates alternate between two versions that differ in every other chunk while a
    reader downloads in a loop: each download is exactly one version (or fails cleanly
    because its chunks were replaced under it), never a mix."""
    import subprocess
    import threading
    a, b = c.scratch("va"), c.scratch("vb")
    da = harness.make_file(a, 8 * MiB, seed=SEED + 10)
    with open(a, "rb") as f:
        data = bytearray(f.read())
    for i in range(0, 8, 2):
        data[i * MiB] ^= 0xFF
    with open(b, "wb") as f:
        f.write(data)
    db = harness.sha256_file(b)
    c.dfs_ok("put", a, "/mix")
    stop = threading.Event()
    seen = {"a": 0, "b": 0, "failed": 0, "mixed": 0}

    def reader():
        back = c.scratch("mix-back")
        while not stop.is_set():
            if os.path.exists(back):
                os.unlink(back)
            r = subprocess.run([os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "get",
                                "/mix", back], capture_output=True)
            if r.returncode != 0:
                seen["failed"] += 1
                continue
            d = harness.sha256_file(back)
            seen["a" if d == da else "b" if d == db else "mixed"] += 1
    th = threading.Thread(target=reader)
    th.start()
    try:
        for k in range(8):
            c.dfs_ok("put", b if k % 2 == 0 else a, "/mix")
    finally:
        stop.set()
        th.join()
    print("    downloads: %r" % seen)
    check(seen["mixed"] == 0, "a reader saw a mix of two versions: %r" % seen)
    check(seen["a"] + seen["b"] > 0, "no download completed: %r" % seen)


def main(t):
    print("seed %d" % SEED)
    with t.cluster(chunkservers=3, name="update") as c:
        d = [None]

        def one():
            d[0] = test_one_chunk(c)
        t.case("update of a %d MiB file with one changed chunk sends 1 MiB" % SIZE_MIB, one)
        t.case("append, truncate, all-new; a cp keeps the old content",
               test_shape_changes, c, d[0])
        t.case("--no-clobber refuses and keeps the old file", test_no_clobber, c)
        t.case("readers see one version, never a mix", test_readers_never_mix, c)


if __name__ == "__main__":
    harness.run(main)
