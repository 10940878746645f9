"""Round trips and the namespace through the real CLI on a 3-chunkserver cluster:
put/get of edge sizes compared by SHA-256, ls / ls -l names and exact sizes, rm, mkdir
and nested puts, overwrite, and the error paths (exit 1, one line on stderr)."""

import hashlib
import json
import os
import random
import subprocess
import time

import harness
from harness import MiB, check

SIZES = [("0 B", 0), ("1 B", 1), ("1 MiB-1", MiB - 1), ("1 MiB", MiB), ("1 MiB+1", MiB + 1),
         ("3 MiB+7 (4 chunks)", 3 * MiB + 7),
         ("50 MiB+123", (12 if harness.SANITIZED else 50) * MiB + 123)]


def ls_entries(c, path, long=False):
    out = c.dfs_ok("ls", *(["-l"] if long else []), path)
    return [l for l in out.splitlines() if l.strip()]


def test_sizes(t, c, digests):
    for i, (label, size) in enumerate(SIZES):
        remote = "/size-%d" % size

        def one(remote=remote, size=size, i=i):
            digests[remote] = (size, c.roundtrip(size, remote, seed=1000 + i))
        t.case("round trip %s" % label, one)


def test_ls(c, digests):
    names = ls_entries(c, "/")
    for remote in digests:
        check(remote[1:] in names, "ls / does not show %s: %r" % (remote[1:], names))
    long = ls_entries(c, "/", long=True)
    for remote, (size, _) in digests.items():
        line = [l for l in long if l.split() and l.split()[-1] == remote[1:]]
        check(len(line) == 1, "ls -l /: no single line for %s in %r" % (remote[1:], long))
        check(str(size) in line[0].split()[:-1],
              "ls -l: size %d of %s not shown exactly: %r" % (size, remote, line[0]))
    # a file argument shows that file
    one = ls_entries(c, "/size-1", long=True)
    check(len(one) == 1 and one[0].split()[-1].endswith("size-1") and "1" in one[0].split(),
          "ls -l /size-1: %r" % one)


def test_mkdir_nested(c):
    c.dfs_ok("mkdir", "/a")
    c.dfs_ok("mkdir", "-p", "/a/b/c/d")
    c.dfs_ok("mkdir", "-p", "/a/b")  # existing dirs are fine with -p
    d1 = c.roundtrip(4096 + 5, "/a/b/c/d/deep.bin", seed=7)
    d2 = c.roundtrip(MiB + 9, "/a/b/mid.bin", seed=8)
    check("deep.bin" in ls_entries(c, "/a/b/c/d"), "ls /a/b/c/d misses deep.bin")
    names = ls_entries(c, "/a/b")
    check("mid.bin" in names and any(n.rstrip("/") == "c" for n in names),
          "ls /a/b: %r" % names)
    check(any(n.rstrip("/") == "a" for n in ls_entries(c, "/")), "ls / misses a/")
    # put into an existing directory with a trailing slash keeps the local name
    local = c.scratch("named.txt")
    dig = harness.make_file(local, 100, seed=9)
    c.dfs_ok("put", local, "/a/")
    c.get_check("/a/named.txt", dig)
    c.get_check("/a/b/c/d/deep.bin", d1)
    c.get_check("/a/b/mid.bin", d2)


def test_overwrite(c):
    local = c.scratch("ow")
    harness.make_file(local, 2 * MiB + 1, seed=11)
    c.dfs_ok("put", local, "/ow")
    dig = harness.make_file(local, 1000, seed=12)
    c.dfs_ok("put", local, "/ow")
    c.get_check("/ow", dig)
    line = c.dfs_fails("put", local, "/ow", "--no-clobber")
    c.get_check("/ow", dig)
    return line


def test_rm(c):
    dig = c.roundtrip(MiB + 3, "/to-remove", seed=21)
    c.dfs_ok("rm", "/to-remove")
    check("to-remove" not in ls_entries(c, "/"), "ls / still shows a removed file")
    c.dfs_fails("get", "/to-remove", c.scratch("gone"))
    check(not os.path.exists(c.scratch("gone")), "a failed get left a local file")
    # the name can be reused
    c.roundtrip(10, "/to-remove", seed=22)
    c.dfs_ok("rm", "/to-remove")
    # directories: non-empty needs -r
    c.dfs_ok("mkdir", "-p", "/rmdir/sub")
    c.roundtrip(5, "/rmdir/sub/f", seed=23)
    c.dfs_fails("rm", "/rmdir")
    c.dfs_ok("rm", "-r", "/rmdir")
    c.dfs_fails("ls", "/rmdir")
    return dig


def test_errors(c):
    local = c.scratch("err-src")
    harness.make_file(local, 1234, seed=31)
    dst = c.scratch("err-dst")
    c.dfs_fails("get", "/does-not-exist", dst)
    check(not os.path.exists(dst), "failed get left %s behind" % dst)
    c.dfs_fails("put", local, "/no-such-dir/x")
    c.dfs_ok("mkdir", "-p", "/isdir")
    # put over a directory: either refused, or stored as /isdir/err-src; never replaces it
    rc, out, err = c.dfs("put", local, "/isdir")
    if rc == 0:
        check("err-src" in ls_entries(c, "/isdir"),
              "put onto a directory succeeded but the file is not inside it")
    else:
        check(rc == 1 and len(err.strip().splitlines()) == 1,
              "put onto a directory: exit %d, stderr %r" % (rc, err))
    check(any(n.rstrip("/") == "isdir" for n in ls_entries(c, "/")), "directory vanished")
    c.dfs_fails("put", c.scratch("no-such-local-file"), "/x")
    c.dfs_fails("get", "/isdir", c.scratch("dir-as-file"))
    c.dfs_fails("mkdir", "/isdir")            # exists, no -p
    c.dfs_fails("mkdir", "/missing/parent/x")  # no -p
    c.dfs_fails("rm", "/nothing-here")
    c.dfs_fails("ls", "/nothing-here")
    # a file as a directory component
    c.roundtrip(3, "/plainfile", seed=32)
    c.dfs_fails("put", local, "/plainfile/child")
    # bad usage is exit 2
    rc, _, _ = c.dfs("put")
    check(rc == 2, "dfs put without arguments: exit %d, expected 2" % rc)
    rc, _, _ = c.dfs("no-such-command")
    check(rc == 2, "unknown command: exit %d, expected 2" % rc)


def test_replicas(c):
    c.roundtrip(MiB + 77, "/rep1", seed=41, replicas=1)
    c.roundtrip(2 * MiB + 77, "/rep3", seed=42, replicas=3)
    # more replicas than servers: metad hands out min(replicas, live servers); the put
    # succeeds and says, in one warning line, that the file starts under its goal
    local = c.scratch("rep5")
    dig = harness.make_file(local, MiB + 5, seed=43)
    rc, out, err = c.dfs("put", local, "/rep5", "--replicas", 5)
    lines = [l for l in err.splitlines() if l.strip()]
    check(rc == 0 and len(lines) == 1 and "warning" in lines[0] and "3 of its 5" in lines[0],
          "put with a goal above the 3 servers: exit %d, stderr %r" % (rc, err))
    c.get_check("/rep5", dig)


def test_stdout_get(c):
    local = c.scratch("stdout-src")
    dig = harness.make_file(local, 300000, seed=51)
    c.dfs_ok("put", local, "/stdout-src")
    r = subprocess.run([os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "get",
                        "/stdout-src", "-"], capture_output=True, timeout=60)
    check(r.returncode == 0, "get to stdout: exit %d %r" % (r.returncode, r.stderr))
    check(hashlib.sha256(r.stdout).hexdigest() == dig, "get to stdout: wrong bytes")


def test_stdin_put(c):
    """dfs put - REMOTE: standard input of any size (not known up front), through a pipe;
    a put killed mid-stream leaves nothing; REMOTE is required."""
    dfs = os.path.join(harness.BIN, "dfs")
    for size in (0, 1, MiB, 5 * MiB + 3):
        data = random.Random(size).randbytes(size)
        p = subprocess.Popen([dfs, "--meta", c.meta, "put", "-", "/stdin-%d" % size],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        for k in range(0, size, 65537):  # in pieces, as a pipe delivers them
            p.stdin.write(data[k:k + 65537])
        p.stdin.close()
        err = p.stderr.read()
        p.stdout.read()
        p.wait(120)
        check(p.returncode == 0, "put - of %d bytes: exit %d %r" % (size, p.returncode, err))
        c.get_check("/stdin-%d" % size, hashlib.sha256(data).hexdigest())
        st = json.loads(c.dfs_ok("stat", "--json", "/stdin-%d" % size))
        check(st["size"] == size, "stat size %r, want %d" % (st["size"], size))
    # --no-clobber, into a directory, and no REMOTE
    rc, _, err = c.dfs("put", "-", "/stdin-1", "--no-clobber", input="x")
    check(rc == 1 and "already exists" in err, "put - --no-clobber: %d %r" % (rc, err))
    c.dfs_ok("mkdir", "/stdin-dir")
    rc, _, err = c.dfs("put", "-", "/stdin-dir/", input="hello")
    check(rc == 0, "put - into a directory: %d %r" % (rc, err))
    check(c.dfs_ok("cat", "/stdin-dir/stdin") == "hello", "put - into a directory: content")
    rc, _, err = c.dfs("put", "-")  # a usage error: exit 2, the line then the usage
    check(rc == 2 and "REMOTE" in err.splitlines()[0], "put - without REMOTE: %d %r"
          % (rc, err))
    # killed while the producer still writes: nothing appears
    p = subprocess.Popen([dfs, "--meta", c.meta, "put", "-", "/stdin-killed"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(random.Random(7).randbytes(3 * MiB))
    p.stdin.flush()
    time.sleep(0.5)
    p.kill()
    p.wait(30)
    rc, _, _ = c.dfs("stat", "/stdin-killed")
    check(rc != 0, "a killed put - left /stdin-killed visible")


def main(t):
    with t.cluster(chunkservers=3, name="roundtrip") as c:
        digests = {}
        test_sizes(t, c, digests)
        t.case("ls and ls -l show names and exact sizes", test_ls, c, digests)
        t.case("mkdir, mkdir -p and nested puts", test_mkdir_nested, c)
        t.case("overwrite replaces atomically; --no-clobber refuses", test_overwrite, c)
        t.case("rm removes (get then fails, exit 1)", test_rm, c)
        t.case("error paths: exit 1 and one line on stderr", test_errors, c)
        t.case("replicas 1, 3 and 5 (above the servers: a warning)", test_replicas, c)
        t.case("get to stdout", test_stdout_get, c)
        t.case("put from standard input (dfs put - REMOTE)", test_stdin_put, c)
        t.case("every file still intact at the end", lambda: [
            c.get_check(r, d) for r, (_, d) in digests.items()])


if __name__ == "__main__":
    harness.run(main)
