"""`dfs mount` (FUSE) end to end on an authenticated cluster, as an ordinary user (alice,
writing in /home/alice): the mount shows the whole namespace and agrees with the CLI
(content, owner, mode); tests/mount/posix_suite.py and tests/mount/fsx.py (a few seeds,
about 2000 ops) pass on it; two mounts see each other's closed files and never read
stale content after an open; df shows a size; dfs umount works, also with a file open
(lazily) and right after a write (the data is in dfs); kill -9 of a chunkserver while a
big file is written and another read through the mount: the programs see no error and
the data is right; with metad stopped (SIGSTOP) a stat fails with EIO within 60 s instead
of hanging, and the mount works again once metad continues.

FUSE must work here (/dev/fuse, fusermount3): otherwise the test fails, it never skips.
DFS_TEST_MOUNT_STANDIN=bindfs runs it on a bindfs of a local directory (harness.py): a
check of the test itself, where the dfs-only cases (CLI agreement, EIO) must fail."""

import errno
import os
import random
import re
import subprocess
import sys
import time

import harness
from harness import MiB, check

MOUNT_TESTS = os.path.join(harness.SOURCE, "tests", "mount")
USER, PW = "alice", "alice-mount-pw-1"
SMALL = harness.SANITIZED
OPTS = ("attr_timeout=1", "entry_timeout=1", "watch_ms=200", "timeout=5")  # timeout: a silent metad is EIO in 2 x 5 s


def mnt(c, name):
    return os.path.join(c.dir, "mnt", name)


def home(m):
    return os.path.join(m, "home", USER)


def run_script(argv, timeout):
    """Runs a tests/mount script; prints its output indented; (rc, output)."""
    t0 = time.time()
    try:
        r = subprocess.run([sys.executable] + argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        print("\n".join("    | " + l for l in out.splitlines()), flush=True)
        raise harness.TestFailure("%s did not finish within %d s" % (
            os.path.basename(argv[0]), timeout))
    out = r.stdout.decode("utf-8", "replace")
    print("\n".join("    | " + l for l in out.splitlines()), flush=True)
    print("    (%s: exit %d in %.1f s)" % (os.path.basename(argv[0]), r.returncode,
                                          time.time() - t0), flush=True)
    return r.returncode, out


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def in_child(code, timeout, *args):
    """Runs python code in a child (a hung FUSE call must not hang the test):
    (rc, stdout, seconds); rc None on timeout (the child is killed)."""
    t0 = time.time()
    try:
        r = subprocess.run([sys.executable, "-c", code] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", time.time() - t0
    return r.returncode, r.stdout.decode() + r.stderr.decode(), time.time() - t0


def check_in_dfs(c, remote, digest):
    """remote (a dfs path) has this sha256 by `dfs get` (stand-in: in its local root)."""
    if harness.STANDIN:
        got = harness.sha256_file(os.path.join(c.dir, "standin-root", remote.lstrip("/")))
        check(got == digest, "%s: sha256 %s, expected %s" % (remote, got, digest))
    else:
        c.get_check(remote, digest)


def wait_for(what, fn, timeout=10):
    deadline = time.time() + timeout
    while True:
        try:
            if fn():
                return
        except OSError:
            pass
        check(time.time() < deadline, "%s: not within %d s" % (what, timeout))
        time.sleep(0.05)


# --- cases ------------------------------------------------------------------------------

def t_mount(c, st):
    a = mnt(c, "a")
    st["a"] = c.mount(a, USER, OPTS)
    check(os.path.isdir(os.path.join(a, "home")), "no /home in the mount: %r" % os.listdir(a))
    check(os.path.isdir(home(a)), "no /home/%s in the mount" % USER)
    check(USER in os.listdir(os.path.join(a, "home")), "readdir /home: %r" %
          os.listdir(os.path.join(a, "home")))
    # what the CLI put is read through the mount
    local = c.scratch("cli-put")
    digest = harness.make_file(local, 2 * MiB + 77)
    c.dfs_as_ok(USER, "put", local, "/home/%s/cli.bin" % USER)
    c.dfs_as_ok(USER, "chmod", "640", "/home/%s/cli.bin" % USER)
    p = os.path.join(home(a), "cli.bin")
    wait_for("the CLI's file in the mount", lambda: os.path.exists(p))
    check(harness.sha256_file(p) == digest, "a file put with the CLI reads differently "
          "through the mount")
    check(os.stat(p).st_size == 2 * MiB + 77, "st_size %d" % os.stat(p).st_size)
    check(os.stat(p).st_mode & 0o777 == 0o640, "mode %o, the CLI set 640" % (
        os.stat(p).st_mode & 0o777))
    # what is written through the mount is read by the CLI, owned by alice, its mode kept
    q = os.path.join(home(a), "from-mount.bin")
    data = os.urandom(MiB + 5)
    write_bytes(q, data)
    os.chmod(q, 0o600)
    check_in_dfs(c, "/home/%s/from-mount.bin" % USER, harness.hashlib.sha256(data).hexdigest())
    out = c.dfs_as_ok(USER, "stat", "/home/%s/from-mount.bin" % USER)
    check(re.search(r"^owner:\s+%s$" % USER, out, re.M), "dfs stat: the owner of a file "
          "written through the mount is not %s: %r" % (USER, out))
    check("(0600)" in out, "dfs stat: mode is not 0600 after chmod through the mount: %r" % out)
    os.mkdir(os.path.join(home(a), "made-in-mount"))
    out = c.dfs_as_ok(USER, "ls", "/home/%s" % USER)
    check("made-in-mount" in out and "from-mount.bin" in out, "dfs ls: %r" % out)


def t_posix(c, st):
    rc, out = run_script([os.path.join(MOUNT_TESTS, "posix_suite.py"), home(mnt(c, "a"))] +
                         (["--large-mib", "6"] if SMALL else []), timeout=900)
    check(rc == 0, "posix_suite.py failed on the mount (see its FAIL lines above)")
    check("0 failed" in out, "posix_suite.py printed no clean summary")


def t_fsx(c, st):
    ref = c.scratch("fsx-ref")
    os.makedirs(ref, exist_ok=True)
    ops = (400, 300, 300) if SMALL else (800, 600, 600)
    for n in ops:
        seed = random.randrange(1 << 31)
        print("    fsx seed %d, %d ops" % (seed, n), flush=True)
        rc, out = run_script([os.path.join(MOUNT_TESTS, "fsx.py"), home(mnt(c, "a")), ref,
                              "--seed", str(seed), "--ops", str(n)], timeout=900)
        check(rc == 0, "fsx.py seed %d failed on the mount (replay: python3 tests/mount/"
              "fsx.py DIR REF --seed %d --ops %d)" % (seed, seed, n))


def t_two_mounts(c, st):
    a, b = mnt(c, "a"), mnt(c, "b")
    st["b"] = c.mount(b, USER, OPTS)
    da, db = os.path.join(home(a), "shared"), os.path.join(home(b), "shared")
    os.mkdir(da)
    wait_for("a directory made in A seen in B", lambda: os.path.isdir(db))
    rng = random.Random()
    sizes = [10, 5000, 5000, MiB + 3, 100, 100, 2 * MiB, 0, 7, 7, 64 * 1024, 3 * MiB + 1,
             1, 1, 4096, 4096, 999999, 20, 20, MiB]
    check(len(sizes) == 20, "20 rounds")
    for i, n in enumerate(sizes):
        w, r = (da, db) if i % 2 == 0 else (db, da)
        data = bytes([i]) + rng.randbytes(max(0, n - 1)) if n else b""
        write_bytes(os.path.join(w, "f"), data)  # open O_TRUNC, write, close
        got = read_bytes(os.path.join(r, "f"))   # open + read at once in the other mount
        check(got == data, "round %d (%d bytes, written in %s): the other mount read %d "
              "bytes%s" % (i, n, "A" if w == da else "B", len(got),
                           " with other content" if len(got) == n else ""))
        check(os.stat(os.path.join(r, "f")).st_size == n, "round %d: st_size %d in the "
              "other mount, expected %d" % (i, os.stat(os.path.join(r, "f")).st_size, n))
    # a file kept open in B across a rewrite in A: a new open in B gets the new content
    fd = os.open(os.path.join(db, "f"), os.O_RDONLY)
    try:
        new = os.urandom(300000)
        write_bytes(os.path.join(da, "f"), new)
        check(read_bytes(os.path.join(db, "f")) == new, "a new open in B while an old fd is "
              "open read stale content")
    finally:
        os.close(fd)
    # a name B looked up while missing appears after A creates it; renames; unlinks
    pb = os.path.join(db, "late")
    check(not os.path.exists(pb), "late exists already")
    write_bytes(os.path.join(da, "late"), b"late content")
    wait_for("a file created in A visible in B (after B cached its absence)",
             lambda: read_bytes(pb) == b"late content")
    os.rename(os.path.join(da, "late"), os.path.join(da, "renamed"))
    wait_for("rename in A seen in B", lambda: not os.path.exists(pb) and
             read_bytes(os.path.join(db, "renamed")) == b"late content")
    os.unlink(os.path.join(da, "renamed"))
    wait_for("unlink in A seen in B", lambda: not os.path.exists(os.path.join(db, "renamed")))
    check(sorted(os.listdir(db)) == ["f"], "B's listing: %r" % sorted(os.listdir(db)))


def t_df(c, st):
    a = mnt(c, "a")
    r = subprocess.run(["df", "-P", "-B1", a], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "df: exit %d: %s" % (r.returncode, r.stderr))
    f = r.stdout.splitlines()[-1].split()
    check(f[-1] == a, "df shows the file system mounted on %r, not the mount %r" % (f[-1], a))
    check(int(f[1]) > 0, "df size %s" % f[1])
    print("    df: %s" % r.stdout.splitlines()[-1], flush=True)


def t_umount(c, st):
    u = mnt(c, "u")
    c.mount(u, USER, OPTS)
    # written, closed, unmounted at once: the data is in dfs
    data = os.urandom(3 * MiB + 1234)
    write_bytes(os.path.join(home(u), "at-umount.bin"), data)
    rec = c.umount(u)
    print("    dfs umount right after a write: %.2f s" % rec.umount_seconds, flush=True)
    check_in_dfs(c, "/home/%s/at-umount.bin" % USER, harness.hashlib.sha256(data).hexdigest())
    # mount again at the same place; unmount with a file open: must return (lazily)
    rec = c.mount(u, USER, OPTS)
    fd = os.open(os.path.join(home(u), "at-umount.bin"), os.O_RDONLY)
    try:
        check(os.pread(fd, 100, 0) == data[:100], "read before the umount")
        rec = c.umount(u, reap=False, timeout=60)
        print("    dfs umount with a file open: %.2f s" % rec.umount_seconds, flush=True)
        check(not os.path.ismount(u), "still mounted")
    finally:
        os.close(fd)
    p = c.reap_mount(rec)
    check(p is None, p)
    # and again, a clean mount and unmount with nothing open
    c.mount(u, USER, OPTS)
    check(read_bytes(os.path.join(home(u), "at-umount.bin")) == data, "after the remount")
    c.umount(u)


WRITER = r"""
import os, random, sys, hashlib
path, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng, h = random.Random(seed), hashlib.sha256()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
done = 0
while done < size:
    b = rng.randbytes(min(1 << 20, size - done))
    view = memoryview(b)
    while view:
        view = view[os.write(fd, view):]
    h.update(b)
    done += len(b)
    print("progress", done, flush=True)
os.fsync(fd)
os.close(fd)
print("sha", h.hexdigest(), flush=True)
"""

READER = r"""
import sys, hashlib, time
path, rounds = sys.argv[1], int(sys.argv[2])
for i in range(rounds):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            time.sleep(0.01)
    print("sha", h.hexdigest(), flush=True)
"""


def t_kill_chunkserver(c, st):
    a = mnt(c, "a")
    size = (12 if SMALL else 40) * MiB
    rpath = os.path.join(home(a), "read-me.bin")
    rdigest = harness.make_file(rpath, size)
    wpath = os.path.join(home(a), "written.bin")
    seed = random.randrange(1 << 31)
    print("    writer seed %d, %d MiB" % (seed, size // MiB), flush=True)
    w = subprocess.Popen([sys.executable, "-c", WRITER, wpath, str(size), str(seed)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    r = subprocess.Popen([sys.executable, "-c", READER, rpath, "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = c.chunkds[1]
    lines = []
    try:
        for line in w.stdout:
            lines.append(line.strip())
            if line.startswith("progress") and int(line.split()[1]) >= size // 3:
                print("    kill -9 %s (pid %d) at %s" % (victim.name, victim.pid, line.strip()),
                      flush=True)
                victim.kill9()
                break
        out_w, _ = w.communicate(timeout=600)
        out_r, _ = r.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        w.kill()
        r.kill()
        w.wait()
        r.wait()
        raise harness.TestFailure("the writer or reader hung after the chunkserver died")
    lines += out_w.splitlines()
    check(w.returncode == 0, "the writer got an error after kill -9 of %s:\n%s" % (
        victim.name, "\n".join(lines[-10:])))
    check(r.returncode == 0, "the reader got an error after kill -9 of %s:\n%s" % (
        victim.name, out_r))
    want_w = harness.hashlib.sha256()
    rng = random.Random(seed)
    done = 0
    while done < size:
        b = rng.randbytes(min(MiB, size - done))
        want_w.update(b)
        done += len(b)
    want_w = want_w.hexdigest()
    check(lines[-1] == "sha " + want_w, "writer output: %r" % lines[-3:])
    shas = [l.split()[1] for l in out_r.splitlines() if l.startswith("sha ")]
    check(shas == [rdigest, rdigest], "the reader read %r, expected %s twice" % (shas, rdigest))
    # what was written is right: through the mount (a fresh open), the other mount, the CLI
    check(harness.sha256_file(wpath) == want_w, "written file reads back differently")
    check(harness.sha256_file(os.path.join(home(mnt(c, "b")), "written.bin")) == want_w,
          "written file reads differently in the other mount")
    check_in_dfs(c, "/home/%s/written.bin" % USER, want_w)
    c.restart(victim)
    os.unlink(wpath)
    os.unlink(rpath)


STAT = r"""
import os, sys, time
t0 = time.time()
try:
    os.stat(sys.argv[1])
    print("ok %.1f" % (time.time() - t0))
except OSError as e:
    print("errno %d %.1f" % (e.errno, time.time() - t0))
"""


def t_metad_stopped(c, st):
    a = mnt(c, "a")
    existing = os.path.join(home(a), "exists.txt")
    write_bytes(existing, b"still here")
    time.sleep(1.5)  # past attr_timeout/entry_timeout
    c.metad.stop()
    try:
        rc, out, secs = in_child(STAT, 90, os.path.join(home(a), "never-existed-%d" %
                                                         random.randrange(1 << 30)))
        print("    stat of a new name with metad stopped: %s after %.1f s" % (
            out.strip() or "no answer", secs), flush=True)
        check(rc is not None, "stat hung for 90 s with metad stopped (expected EIO "
              "within 60 s)")
        check(out.startswith("errno %d " % errno.EIO), "stat with metad stopped: %r, "
              "expected EIO" % out.strip())
        check(secs <= 60, "EIO only after %.1f s (bound: 60 s)" % secs)
        rc, out, secs = in_child(STAT, 90, existing)
        print("    stat of an existing file with metad stopped: %s after %.1f s" % (
            out.strip() or "no answer", secs), flush=True)
        check(rc is not None and secs <= 60, "stat of a known file hung with metad stopped")
        check(out.startswith("ok ") or out.startswith("errno %d " % errno.EIO),
              "stat of a known file with metad stopped: %r" % out.strip())
    finally:
        c.metad.cont()
    # works again once metad is back
    wait_for("the mount answers after metad continued", lambda: read_bytes(existing) ==
             b"still here", timeout=60)
    p = os.path.join(home(a), "after-stop.txt")
    write_bytes(p, b"after")
    check(read_bytes(os.path.join(home(mnt(c, "b")), "after-stop.txt")) == b"after",
          "a file written after metad continued, read in the other mount")


def t_umount_all(c, st):
    for name in ("b", "a"):
        rec = c.umount(mnt(c, name))
        print("    dfs umount %s: %.2f s, mount process exit %s" % (
            name, rec.umount_seconds, rec.exit_status), flush=True)


def main(t):
    harness.require_fuse()  # fails (not skips) without /dev/fuse or fusermount3
    st = {}
    with t.cluster(chunkservers=3, name="mount", auth=True) as c:
        c.register(USER, PW)
        c.login(USER, PW)
        c.dfs_as_ok(USER, "stat", "~")  # the first request makes /home/alice
        if not t.case("dfs mount as %s: the namespace, agreeing with the CLI" % USER,
                      t_mount, c, st):
            if "a" not in st:
                return  # nothing else can run without the mount
        t.case("posix_suite.py on the mount", t_posix, c, st)
        t.case("fsx.py on the mount (3 seeds)", t_fsx, c, st)
        t.case("two mounts: closed files seen, never stale after open", t_two_mounts, c, st)
        t.case("df on the mount shows a size", t_df, c, st)
        t.case("dfs umount after a write, with a file open, remount", t_umount, c, st)
        t.case("kill -9 of a chunkserver during a write and a read through the mount",
               t_kill_chunkserver, c, st)
        c.ensure_running()
        t.case("metad stopped: stat fails with EIO within 60 s, then works again",
               t_metad_stopped, c, st)
        t.case("dfs umount of both mounts", t_umount_all, c, st)


if __name__ == "__main__":
    harness.run(main)
