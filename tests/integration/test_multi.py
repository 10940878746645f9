"""Multi-file put and get in one process (`put F1 F2 DIR`, `put -r`, `get R1 R2 DIR`,
`get -r`) on a 3-chunkserver cluster: names and bytes (SHA-256) of nested trees with empty
files and empty directories, the cp -r naming rules, update of a tree (unchanged chunks
reused), many small files at once, and the failure rule: each file is committed on its
own, a failing file is named on stderr, the others still land, exit status 1."""

import hashlib
import os
import random

import harness
from harness import MiB, check

SEED = 20261122


def tree_digest(root):
    """{relative path: "dir" | sha256 hex} of a local tree (root itself excluded)."""
    out = {}
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in dirs:
            out[os.path.normpath(os.path.join(rel, n))] = "dir"
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                out[os.path.normpath(os.path.join(rel, n))] = hashlib.sha256(f.read()).hexdigest()
    return out


def make_tree(root, rng):
    """A nested tree: files of edge sizes (0 B, 1 B, 1 MiB+1, 3 MiB+7), 3 levels, an empty
    directory and names with spaces. Returns its digest."""
    layout = {
        "top.txt": 1000,
        "empty-file": 0,
        "one-byte": 1,
        "a/multi chunk.bin": MiB + 1,
        "a/b/deep.bin": 3 * MiB + 7,
        "a/b/c/leaf": 4096,
        "z/zz": 777,
    }
    for rel, size in layout.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(rng.randbytes(size))
    os.makedirs(os.path.join(root, "empty-dir"))
    os.makedirs(os.path.join(root, "a", "b", "empty-too"))
    return tree_digest(root)


def remote_tree(c, path):
    """{relative path: "dir" | "file"} from `dfs ls -R`."""
    out = {}
    cur = None
    for line in c.dfs_ok("ls", "-R", path).splitlines():
        if not line.strip():
            continue
        if line.endswith(":") and line.startswith("/"):
            cur = os.path.relpath(line[:-1], path)
            continue
        name = line.strip()
        kind = "dir" if name.endswith("/") else "file"
        out[os.path.normpath(os.path.join(cur, name.rstrip("/")))] = kind
    return out


def test_files_into_dir(c, rng):
    sizes = [0, 1, MiB - 1, MiB + 1, 3 * MiB + 7]
    locs, digs = [], {}
    for i, s in enumerate(sizes):
        p = c.scratch("multi-%d.bin" % i)
        digs[os.path.basename(p)] = harness.make_file(p, s, seed=SEED + i)
        locs.append(p)
    c.dfs_ok("mkdir", "/m")
    out = c.dfs_ok("put", *locs, "/m/")
    check("5 uploaded" in out, "put summary: %r" % out)
    names = sorted(l.strip() for l in c.dfs_ok("ls", "/m").splitlines() if l.strip())
    check(names == sorted(digs), "ls /m: %r, expected %r" % (names, sorted(digs)))
    back = c.scratch("multi-back")
    os.makedirs(back)
    c.dfs_ok("get", *["/m/" + n for n in digs], back)
    for n, d in digs.items():
        check(harness.sha256_file(os.path.join(back, n)) == d, "get of /m/%s: wrong bytes" % n)
    # no temp files left next to the downloads
    check(sorted(os.listdir(back)) == sorted(digs), "left in %s: %r" % (back, os.listdir(back)))


def test_tree(c, rng):
    src = c.scratch("tree")
    want = make_tree(src, rng)
    c.dfs_ok("mkdir", "/t")
    c.dfs_ok("put", "-r", src, "/t")           # existing dir: lands as /t/tree
    got = remote_tree(c, "/t/tree")
    check(set(got) == set(want), "remote tree differs: extra %r, missing %r" %
          (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    for k, v in want.items():
        check(got[k] == ("dir" if v == "dir" else "file"), "%s: %s remotely" % (k, got[k]))
    dst = c.scratch("tree-back")
    c.dfs_ok("get", "-r", "/t/tree", dst)       # missing local name: created as the copy
    check(tree_digest(dst) == want, "get -r: tree differs from the original")
    # a missing remote name is created as the copy (cp -r rule)
    c.dfs_ok("put", "-r", src, "/t/renamed")
    check(set(remote_tree(c, "/t/renamed")) == set(want), "put -r to a new name")
    # into an existing local directory: lands under its name
    into = c.scratch("into")
    os.makedirs(into)
    c.dfs_ok("get", "-r", "/t/renamed", into)
    check(tree_digest(os.path.join(into, "renamed")) == want, "get -r into a directory")


def test_tree_update(c, rng):
    src = c.scratch("upd")
    make_tree(src, rng)
    c.dfs_ok("put", "-r", src, "/")              # lands as /upd (the basename)
    # change one chunk of the big file and one small file, then put the tree again
    p = os.path.join(src, "a", "b", "deep.bin")
    with open(p, "r+b") as f:
        f.seek(2 * MiB + 5)
        f.write(b"changed!")
    with open(os.path.join(src, "top.txt"), "wb") as f:
        f.write(b"new top")
    with open(os.path.join(src, "empty-file"), "wb") as f:  # an empty file gets bytes
        f.write(b"no longer empty")
    want = tree_digest(src)
    out = c.dfs_ok("put", "-r", src, "/", "--parallel", "2")
    # deep.bin: 1 of 4 chunks sent; the other files are below 1 chunk and sent whole
    check("sent 2.0 MiB" in out or "sent 1.0 MiB" in out, "summary: %r" % out)
    dst = c.scratch("upd-back")
    c.dfs_ok("get", "-r", "/upd", dst)
    check(tree_digest(dst) == want, "updated tree differs after get -r")


def test_many_small(c, rng):
    src = c.scratch("small")
    os.makedirs(src)
    n = 60 if harness.SANITIZED else 300
    for i in range(n):
        with open(os.path.join(src, "s%04d" % i), "wb") as f:
            f.write(rng.randbytes(4096))
    want = tree_digest(src)
    c.dfs_ok("put", "-r", src, "/small", "--parallel", "16")
    names = [l for l in c.dfs_ok("ls", "/small").splitlines() if l.strip()]
    check(len(names) == n, "ls /small: %d names, expected %d" % (len(names), n))
    dst = c.scratch("small-back")
    c.dfs_ok("get", "-r", "/small", dst, "--parallel", "16")
    check(tree_digest(dst) == want, "small files differ after get -r")
    # >= 16 files into one directory: existence comes from one listing, same rules
    rc, _, err = c.dfs("put", "-r", src, "/", "--no-clobber")
    check(rc == 1 and err.count("already exists") == n and
          ("%d of %d files failed" % (n, n)) in err, "--no-clobber over a listing: %d %r" %
          (rc, err[-300:]))
    c.dfs_ok("mkdir", "-p", "/small2/small/s0003")
    rc, _, err = c.dfs("put", "-r", src, "/small2")  # an existing dir: /small2/small
    check(rc == 1 and "/small2/small/s0003: is a directory" in err and
          ("1 of %d files failed" % n) in err, "dir in the way: %d %r" % (rc, err))
    names = [l for l in c.dfs_ok("ls", "/small2/small").splitlines() if l.strip()]
    check(len(names) == n, "ls /small2/small: %d names, expected %d" % (len(names), n))


def test_interrupt(c, rng):
    """SIGINT during get -r: no temp file is left, every file that appeared is complete."""
    import signal
    import time
    src = c.scratch("small")
    want = tree_digest(src)
    dst = c.scratch("intr")
    p = c.popen_dfs("get", "-r", "/small", dst, "--parallel", "4")
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        if os.path.isdir(dst) and [n for n in os.listdir(dst) if "dfs-tmp" not in n]:
            break  # some files have landed, others are in flight
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    check(p.returncode in (0, -signal.SIGINT), "exit %r, stderr %r" % (p.returncode, err))
    check(harness.sanitizer_report(err.decode(errors="replace")) is None, "sanitizer: %r" % err)
    left = os.listdir(dst)
    check(not [n for n in left if "dfs-tmp" in n], "temp files left: %r" %
          [n for n in left if "dfs-tmp" in n])
    for n in left:
        check(tree_digest(dst)[n] == want[n], "%s is incomplete after the interrupt" % n)
    print("    interrupted after %d of %d files (exit %d)" % (len(left), len(want), p.returncode))


def test_partial_failure(c, rng):
    """Per-file commits: the bad ones are named, the good ones land, exit 1."""
    c.dfs_ok("mkdir", "-p", "/pf/taken")          # a directory where a file should go
    good = []
    for i in range(3):
        p = c.scratch("pf-good-%d" % i)
        harness.make_file(p, 1000 + i, seed=SEED + 100 + i)
        good.append(p)
    taken = c.scratch("taken")
    harness.make_file(taken, 10, seed=SEED + 200)
    missing = c.scratch("no-such-local-file")
    rc, out, err = c.dfs("put", good[0], taken, good[1], missing, good[2], "/pf")
    check(rc == 1, "exit %d, expected 1 (stderr %r)" % (rc, err))
    lines = [l for l in err.splitlines() if l.strip()]
    check(all(l.startswith("dfs: put: ") for l in lines), "stderr: %r" % lines)
    check(any("/pf/taken" in l and "directory" in l for l in lines),
          "the file blocked by a directory is not named: %r" % lines)
    check(any("no-such-local-file" in l for l in lines), "the missing file is not named: %r" % lines)
    check("2 of 5 files failed" in lines[-1], "last line should count the failures: %r" % lines[-1])
    names = [l.strip() for l in c.dfs_ok("ls", "/pf").splitlines() if l.strip()]
    for p in good:
        check(os.path.basename(p) in names, "%s was not committed: %r" % (p, names))
    # --no-clobber: every file is refused by name, nothing is replaced
    rc, _, err = c.dfs("put", *good, "/pf", "--no-clobber")
    check(rc == 1 and err.count("already exists") == 3, "--no-clobber: %d %r" % (rc, err))
    # a directory without -r, and a destination that is not a directory
    adir = c.scratch("pf-dir")
    os.makedirs(adir)
    rc, _, err = c.dfs("put", adir, good[0], "/pf")
    check(rc == 1 and "use -r to copy it recursively" in err and "1 of 2 files failed" in err,
          "directory without -r: %d %r" % (rc, err))
    line = c.dfs_fails("put", good[0], good[1], "/pf/" + os.path.basename(good[0]))
    check("not a directory" in line, "file as destination: %r" % line)
    line = c.dfs_fails("put", good[0], good[1], "/pf/missing-dir")
    check("mkdir" in line, "missing destination should say how to create it: %r" % line)
    line = c.dfs_fails("get", "/pf/x", "/pf/y", c.scratch("no-such-local-dir"))
    check("no such directory" in line, "get to a missing local dir: %r" % line)
    # get: the missing one is named, the others arrive
    back = c.scratch("pf-back")
    os.makedirs(back)
    rc, _, err = c.dfs("get", "/pf/" + os.path.basename(good[0]), "/pf/nope", back)
    check(rc == 1 and "/pf/nope" in err, "get with a missing file: %d %r" % (rc, err))
    check(os.listdir(back) == [os.path.basename(good[0])], "get: %r" % os.listdir(back))


def main(t):
    print("seed %d" % SEED, flush=True)
    rng = random.Random(SEED)
    with t.cluster(chunkservers=3, name="multi") as c:
        t.case("put F1..F5 DIR/ and get R1..R5 DIR: names and bytes", test_files_into_dir, c, rng)
        t.case("put -r / get -r of a nested tree (empty files and dirs)", test_tree, c, rng)
        t.case("put -r onto an existing tree updates it", test_tree_update, c, rng)
        t.case("many small files in one process", test_many_small, c, rng)
        t.case("SIGINT during get -r leaves no temp file", test_interrupt, c, rng)
        t.case("a failing file is named, the others land, exit 1", test_partial_failure, c, rng)


if __name__ == "__main__":
    harness.run(main)
