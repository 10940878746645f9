"""Real programs on a `dfs mount` (FUSE) of an authenticated cluster, as an ordinary user
in /home/alice: git (init, add, commit, a local clone on the mount, gc, fsck), tar x of a
generated C source tree and make with cc there (the binary runs; a second make has
nothing to do, a touched source is rebuilt: mtimes are right), sqlite3 (3000 transactions,
PRAGMA integrity_check), rsync -a of a generated tree (nested dirs, symlinks, files of
1-3 MiB) in and back out with the sha256 of every file, modes and mtimes identical, and
fio with verify=crc32c (sequential 64 MiB with 1 MiB blocks, random 32 MiB with 4 KiB
blocks). DFS_SANITIZED=1 uses smaller sizes. FUSE must work here (never a skip);
DFS_TEST_MOUNT_STANDIN=bindfs runs it on a local stand-in (harness.py)."""

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tarfile
import time

import harness
from harness import MiB, check

USER, PW = "alice", "alice-prog-pw-1"
SMALL = harness.SANITIZED


def home(c):
    return os.path.join(c.dir, "mnt", "m", "home", USER)


def sh(argv, cwd=None, timeout=300, env=None, ok=True):
    """Runs a program; checks exit 0 (ok); returns (rc, output)."""
    t0 = time.time()
    try:
        r = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise harness.TestFailure("`%s` did not finish within %d s" % (" ".join(argv), timeout))
    out = r.stdout.decode("utf-8", "replace")
    if ok:
        check(r.returncode == 0, "`%s` (in %s): exit %d after %.1f s:\n%s" % (
            " ".join(argv), cwd, r.returncode, time.time() - t0, out[-3000:]))
    return r.returncode, out


GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="Alice", GIT_AUTHOR_EMAIL="alice@example.org",
               GIT_COMMITTER_NAME="Alice", GIT_COMMITTER_EMAIL="alice@example.org",
               GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               # the mount shows dfs owners, maybe not our uid: no "dubious ownership"
               GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")


def git(*args, cwd, ok=True):
    return sh(["git"] + list(args), cwd=cwd, env=GIT_ENV, ok=ok)


def t_git(c):
    repo = os.path.join(home(c), "repo")
    os.mkdir(repo)
    git("init", "-q", "-b", "main", cwd=repo)
    rng = random.Random()
    files = {}
    for i in range(20):
        rel = os.path.join("src" if i % 2 else "doc", "sub%d" % (i % 3), "f%02d.txt" % i)
        files[rel] = ("line %d of %s\n" % (i, rel) * rng.randrange(1, 400)).encode()
    files["blob.bin"] = rng.randbytes((1 if SMALL else 3) * MiB)
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(repo, rel)) or repo, exist_ok=True)
        with open(os.path.join(repo, rel), "wb") as f:
            f.write(data)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    files["doc/sub0/f00.txt"] = b"changed\n"
    with open(os.path.join(repo, "doc/sub0/f00.txt"), "wb") as f:
        f.write(files["doc/sub0/f00.txt"])
    os.rename(os.path.join(repo, "src/sub1/f01.txt"), os.path.join(repo, "src/moved.txt"))
    files["src/moved.txt"] = files.pop("src/sub1/f01.txt")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "second", cwd=repo)
    _, st = git("status", "--porcelain", cwd=repo)
    check(st.strip() == "", "git status after commit not clean: %r" % st[:500])
    git("gc", "-q", cwd=repo)  # packs: temp files, renames, mmap reads
    git("fsck", "--full", "--strict", cwd=repo)
    clone = os.path.join(home(c), "clone")
    git("clone", "-q", repo, clone, cwd=home(c))
    git("fsck", "--full", "--strict", cwd=clone)
    _, log1 = git("log", "--format=%H %s", cwd=repo)
    _, log2 = git("log", "--format=%H %s", cwd=clone)
    check(log1 == log2 and len(log1.splitlines()) == 2, "logs differ: %r vs %r" % (log1, log2))
    for rel, data in files.items():
        with open(os.path.join(clone, rel), "rb") as f:
            check(f.read() == data, "clone: %s differs" % rel)
    _, st = git("status", "--porcelain", cwd=clone)
    check(st.strip() == "", "git status of the clone not clean: %r" % st[:500])
    _, diff = git("diff", "HEAD~1", "--stat", cwd=clone)
    check("moved.txt" in diff and "f00.txt" in diff, "diff of the clone: %r" % diff)


MAIN_C = r'''#include <stdio.h>
#include "util.h"
int main(void) { printf("sum=%ld msg=%s\n", sum_to(1000), greeting()); return 0; }
'''
UTIL_H = "long sum_to(long n);\nconst char *greeting(void);\n"
UTIL_C = r'''#include "util.h"
long sum_to(long n) { long s = 0; for (long i = 1; i <= n; i++) s += i; return s; }
const char *greeting(void) { return "GREETING"; }
'''
MAKEFILE = "CC ?= cc\nall: prog\nprog: main.o util.o\n\t$(CC) -o $@ main.o util.o\n" \
    "%.o: %.c util.h\n\t$(CC) -O1 -c -o $@ $<\nclean:\n\trm -f prog *.o\n"


def t_tar_make(c):
    src = c.scratch("srctree/proj")
    os.makedirs(src)
    for name, text in (("main.c", MAIN_C), ("util.h", UTIL_H), ("util.c", UTIL_C),
                       ("Makefile", MAKEFILE)):
        with open(os.path.join(src, name), "w") as f:
            f.write(text)
    for i in range(30):  # some bulk, in subdirectories
        os.makedirs(os.path.join(src, "extra", "d%d" % (i % 4)), exist_ok=True)
        with open(os.path.join(src, "extra", "d%d" % (i % 4), "x%d.c" % i), "w") as f:
            f.write("int x%d(void) { return %d; }\n" % (i, i) * 50)
    for dirpath, _, names in os.walk(src):  # old mtimes: tar x must set them (utimensat)
        for i, name in enumerate(names):
            os.utime(os.path.join(dirpath, name), (1500000000, 1500000000 + 60 * i))
    tgz = c.scratch("proj.tar.gz")
    with tarfile.open(tgz, "w:gz") as t:
        t.add(src, arcname="proj")
    dst = os.path.join(home(c), "build")
    os.mkdir(dst)
    sh(["tar", "--no-same-owner", "-xzf", tgz, "-C", dst])  # files get dfs owners
    proj = os.path.join(dst, "proj")
    for name in ("main.c", "util.c", "Makefile", "extra/d1/x5.c"):
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(proj, name), "rb") as b:
            check(a.read() == b.read(), "tar x: %s differs" % name)
        check(int(os.stat(os.path.join(proj, name)).st_mtime) ==
              int(os.stat(os.path.join(src, name)).st_mtime), "tar x kept no mtime of %s: %r, "
              "expected %r" % (name, os.stat(os.path.join(proj, name)).st_mtime,
                               os.stat(os.path.join(src, name)).st_mtime))
    sh(["make", "-j2"], cwd=proj)
    _, out = sh([os.path.join(proj, "prog")])
    check(out.strip() == "sum=500500 msg=GREETING", "the built program printed %r" % out)
    rc, out = sh(["make", "-q"], cwd=proj, ok=False)
    check(rc == 0, "make -q after a build: exit %d (make thinks something is out of date: "
          "mtimes?)" % rc)
    time.sleep(1.1)
    with open(os.path.join(proj, "util.c"), "a") as f:
        f.write("/* touched */\n")
    _, out = sh(["make"], cwd=proj)
    check("-c -o util.o" in out and "-c -o main.o" not in out and "-o prog" in out,
          "make after touching util.c should rebuild util.o and prog only: %r" % out)
    sh(["make", "clean"], cwd=proj)
    check(not os.path.exists(os.path.join(proj, "prog")), "make clean left prog")


def t_sqlite(c):
    n = 600 if SMALL else 3000
    db = os.path.join(home(c), "test.db")
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)")
        con.execute("CREATE INDEX t_v ON t (v)")
        rng = random.Random()
        total = 0
        t0 = time.time()
        for i in range(n):
            try:
                con.execute("BEGIN")
                con.execute("INSERT INTO t (v, b) VALUES (?, ?)",
                            ("value-%d" % i, rng.randbytes(rng.randrange(10, 3000))))
                if i % 7 == 3:
                    con.execute("UPDATE t SET v = v || '-u' WHERE id = ?", (i // 2 + 1,))
                if i % 50 == 49:
                    con.execute("DELETE FROM t WHERE id = ?", (i - 10 + 1,))
                    total -= 1
                con.execute("COMMIT")
            except sqlite3.Error as e:
                raise harness.TestFailure("sqlite3: transaction %d of %d failed after %.1f s: "
                                          "%s" % (i + 1, n, time.time() - t0, e))
            total += 1
        print("    %d transactions in %.1f s" % (n, time.time() - t0), flush=True)
        check(con.execute("PRAGMA integrity_check").fetchall() == [("ok",)],
              "integrity_check (python) not ok")
        check(con.execute("SELECT count(*) FROM t").fetchone()[0] == total, "row count")
    finally:
        con.close()
    check(not os.path.exists(db + "-journal"), "a leftover rollback journal")
    if shutil.which("sqlite3"):
        _, out = sh(["sqlite3", db, "PRAGMA integrity_check; SELECT count(*) FROM t;"])
        check(out.split() == ["ok", str(total)], "sqlite3 CLI: %r" % out)


def make_tree(root, rng):
    """A few hundred files in nested dirs, some of 1-3 MiB, a few symlinks; returns
    {relative path: sha256} of the regular files."""
    digests = {}
    nfiles = 120 if SMALL else 300
    for i in range(nfiles):
        depth = rng.randrange(0, 4)
        parts = ["d%d" % rng.randrange(0, 5) for _ in range(depth)]
        rel = os.path.join(*(parts + ["file-%03d.dat" % i]))
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        big = i % (40 if SMALL else 30) == 0
        n = rng.randrange(MiB, 3 * MiB) if big else rng.choice((0, 1, 100, 4096, 20000, 70000))
        data = rng.randbytes(n)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, rng.choice((0o644, 0o600, 0o755, 0o640)))
        os.utime(p, (1600000000 + i, 1600000000 + i * 7))
        digests[rel] = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(root, "empty", "dir"))
    os.symlink("file-000.dat", os.path.join(root, "link-rel"))
    os.symlink("d1", os.path.join(root, "link-dir"))
    os.symlink("/nonexistent/target", os.path.join(root, "link-dangling"))
    return digests


def tree_state(root):
    """{rel: (kind, mode, mtime, sha256 or link target)} of everything under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", st.st_mode & 0o7777)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, int(st.st_mtime), st.st_size,
                            harness.sha256_file(p))
    return out


def t_rsync(c):
    src = c.scratch("rsync-src")
    back = c.scratch("rsync-back")
    os.makedirs(src)
    rng = random.Random()
    digests = make_tree(src, rng)
    dst = os.path.join(home(c), "rsynced")
    t0 = time.time()
    # -a without owner/group (-o -g): as root rsync would chown; files get dfs owners
    sh(["rsync", "-a", "--no-o", "--no-g", src + "/", dst + "/"], timeout=600)
    sh(["rsync", "-a", "--no-o", "--no-g", dst + "/", back + "/"], timeout=600)
    print("    rsync of %d files in and out: %.1f s" % (len(digests), time.time() - t0),
          flush=True)
    want = tree_state(src)
    for where, root in (("on the mount", dst), ("copied back out", back)):
        got = tree_state(root)
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        check(not missing and not extra, "%s: missing %r, extra %r" % (where, missing[:5], extra[:5]))
        bad = [r for r in want if want[r] != got[r]]
        check(not bad, "%s: %d entries differ, e.g. %s: %r vs %r" % (
            where, len(bad), bad[0], want[bad[0]], got[bad[0]]) if bad else "")
        for rel, d in digests.items():
            check(got[rel][4] == d, "%s: sha256 of %s" % (where, rel))
    # rsync itself finds nothing to transfer (content checksums, not just size+mtime)
    _, out = sh(["rsync", "-a", "--no-o", "--no-g", "--checksum", "--dry-run", "-i",
                 src + "/", dst + "/"], timeout=600)
    check(out.strip() == "", "rsync --checksum finds differences: %r" % out[:500])


def fio(c, name, rw, bs, size, extra=()):
    d = os.path.join(home(c), "fio-" + name)
    os.mkdir(d)
    argv = ["fio", "--name=" + name, "--directory=" + d, "--rw=" + rw, "--bs=" + bs,
            "--size=" + size, "--ioengine=psync", "--verify=crc32c", "--do_verify=1",
            "--verify_fatal=1", "--verify_state_save=0", "--end_fsync=1", "--numjobs=1",
            "--randrepeat=0"] + list(extra)
    t0 = time.time()
    rc, out = sh(argv, timeout=600, ok=False)
    check(rc == 0, "fio %s: exit %d:\n%s" % (name, rc, out[-3000:]))
    check("err= 0" in out, "fio %s reports an error:\n%s" % (name, out[-3000:]))
    for bad in ("verify failed", "bad magic", "bad header", "crc32c: verify"):
        check(bad not in out, "fio %s: %r in its output:\n%s" % (name, bad, out[-3000:]))
    print("    fio %s (%s, bs %s, %s): %.1f s" % (name, rw, bs, size, time.time() - t0),
          flush=True)
    shutil.rmtree(d)


def t_fio_seq(c):
    fio(c, "seqwrite", "write", "1M", "16M" if SMALL else "64M")


def t_fio_rand(c):
    fio(c, "randwrite", "randwrite", "4k", "8M" if SMALL else "32M")


def main(t):
    harness.require_fuse()
    for prog in ("git", "tar", "make", "cc", "rsync", "fio", "sqlite3"):
        check(shutil.which(prog), "%s is not installed (scripts/setup installs it)" % prog)
    with t.cluster(chunkservers=3, name="mountprog", auth=True) as c:
        c.register(USER, PW)
        c.login(USER, PW)
        c.dfs_as_ok(USER, "stat", "~")  # the first request makes /home/alice
        if not t.case("dfs mount", lambda: c.mount(os.path.join(c.dir, "mnt", "m"), USER)):
            return
        t.case("git init, commit, gc, clone on the mount, fsck", t_git, c)
        t.case("tar x of a C tree, make with cc, run it; make -q; rebuild", t_tar_make, c)
        t.case("sqlite3: transactions, integrity_check ok", t_sqlite, c)
        t.case("rsync -a in and back out: every file identical", t_rsync, c)
        t.case("fio sequential write, verify=crc32c", t_fio_seq, c)
        t.case("fio random 4k write, verify=crc32c", t_fio_rand, c)
        t.case("dfs umount", lambda: c.umount(os.path.join(c.dir, "mnt", "m")))


if __name__ == "__main__":
    harness.run(main)
