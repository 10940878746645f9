"""The transfer mistakes a person makes, driven through the CLI as typed (issue 15): each
is refused with the exact exit status (1: runtime, 2: usage) and ONE line on stderr that
names what went wrong and what to do, and no local or remote data is lost.
- get onto an existing local file: refused with one line unless -f/--force (then
  replaced only by a complete download, never truncated first), also in a multi-file
  get; a failed get leaves the old file alone.
- put DIR / get DIR / cp DIR without -r: "X is a directory: use -r to copy it
  recursively", status 1 for all three.
- put -r / get -r behave like cp -r: an existing destination directory receives
  DEST/NAME, a missing one is created as the copy; the help says exactly that.
- cp a a, mv a a (also spelled a, ./a, /a; a directory too): "'a' and 'a' are the
  same file", status 1; a directory cannot move into itself."""

import os

import harness
from harness import check


def lines(out):
    return [l for l in out.splitlines() if l.strip()]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_line(c, status, *args):
    """Runs dfs ARGS, expects exit `status` and exactly one stderr line; returns it."""
    rc, out, err = c.dfs(*args)
    errl = lines(err)
    check(rc == status, "dfs %s: exit %d, expected %d (stderr %r)" % (" ".join(args), rc,
                                                                     status, err))
    check(len(errl) == 1 and errl[0].startswith("dfs: "),
          "dfs %s: expected one 'dfs: ...' line on stderr, got %r" % (" ".join(args), err))
    return errl[0]


def no_temp_files(d):
    left = [n for n in os.listdir(d) if ".dfs-tmp-" in n]
    check(not left, "temporary files left in %s: %r" % (d, left))


def test_get_existing(c):
    src = c.scratch("remote-version")
    harness.make_file(src, 300000, seed=7)
    want = read(src)
    c.dfs_ok("put", src, "/doc.txt")
    d = c.scratch("getdir")
    os.makedirs(d)
    local = os.path.join(d, "doc.txt")
    # the default: an existing local file is kept (it may be the only copy), one line
    for flags in ((), ("-n",), ("--no-clobber",)):
        with open(local, "wb") as f:
            f.write(b"my local edits")
        line = one_line(c, 1, "get", *(flags + ("/doc.txt", local)))
        check(line == "dfs: get: %s: already exists (dfs get -f replaces it, or give another "
              "LOCAL)" % local, "get %s onto an existing file: %r" % (flags, line))
        check(read(local) == b"my local edits", "get %s changed the local file" % (flags,))
    # into a directory holding the name
    line = one_line(c, 1, "get", "/doc.txt", d + "/")
    check("already exists" in line and local in line, "get into a dir: %r" % line)
    # a new name is fine
    c.dfs_ok("get", "/doc.txt", os.path.join(d, "new.txt"))
    check(read(os.path.join(d, "new.txt")) == want, "get to a new name")
    # several files: the existing one is named and kept, the other lands
    c.dfs_ok("put", src, "/doc2.txt")
    rc, _, err = c.dfs("get", "/doc.txt", "/doc2.txt", d)
    check(rc == 1 and "%s: already exists" % local in err and "1 of 2 files failed" in err,
          "multi-file get onto an existing file: %d %r" % (rc, err))
    check(read(local) == b"my local edits", "multi-file get replaced the local file")
    check(read(os.path.join(d, "doc2.txt")) == want, "multi-file get: the other file")
    # a failed get never touches the file it would replace, even with -f
    line = one_line(c, 1, "get", "-f", "/missing.txt", local)
    check("missing.txt" in line, "get of a missing file: %r" % line)
    check(read(local) == b"my local edits", "a failed get changed the local file")
    c.dfs_ok("mkdir", "/adir")
    one_line(c, 1, "get", "-f", "/adir", local)
    check(read(local) == b"my local edits", "get of a directory changed the local file")
    # -f / --force replace it, by a complete download
    for flag in ("-f", "--force"):
        with open(local, "wb") as f:
            f.write(b"my local edits")
        c.dfs_ok("get", flag, "/doc.txt", local)
        check(read(local) == want, "get %s onto an existing file should replace it" % flag)
    rc, _, err = c.dfs("get", "-n", "-f", "/doc.txt", local)
    check(rc == 2 and "contradict" in err, "get -n -f: %d %r" % (rc, err))
    no_temp_files(d)
    h = c.dfs_ok("help", "get")
    check("-f/--force" in h and "not replaced" in h, "get help should say: %r" % h)


def test_failed_download_keeps_file(c):
    """The download starts (metad answered, the temp file exists) and then fails: the
    existing local file is what it was, and no temp file is left."""
    src = c.scratch("big")
    harness.make_file(src, 3 * 1024 * 1024 + 7, seed=9)
    c.dfs_ok("put", src, "/big")
    d = c.scratch("keep")
    os.makedirs(d)
    local = os.path.join(d, "big")
    with open(local, "wb") as f:
        f.write(b"precious local bytes")
    for cd in c.chunkds:
        cd.kill9()
    try:
        line = one_line(c, 1, "get", "-f", "/big", local)
        check("no live replica" in line, "get with every chunkserver down: %r" % line)
    finally:
        for cd in c.chunkds:
            c.restart(cd)
    check(read(local) == b"precious local bytes", "a failed download changed the local file")
    no_temp_files(d)


def test_dir_without_r(c):
    album = c.scratch("album")
    os.makedirs(album)
    harness.make_file(os.path.join(album, "1.jpg"), 1000, seed=1)
    line = one_line(c, 1, "put", album, "/x")
    check(line == "dfs: put: %s is a directory: use -r to copy it recursively" % album,
          "put DIR: %r" % line)
    line = one_line(c, 1, "put", album)
    check(line.endswith("is a directory: use -r to copy it recursively"), "put DIR: %r" % line)
    c.dfs_ok("mkdir", "-p", "/rdir/sub")
    out = c.scratch("rdir-out")
    line = one_line(c, 1, "get", "/rdir", out)
    check(line == "dfs: get: /rdir is a directory: use -r to copy it recursively",
          "get DIR: %r" % line)
    check(not os.path.exists(out), "get DIR created %s" % out)
    line = one_line(c, 1, "cp", "/rdir", "/rdir2")
    check(line == "dfs: cp: /rdir is a directory: use -r to copy it recursively",
          "cp DIR: %r" % line)
    check(c.dfs("stat", "/rdir2")[0] == 1, "cp DIR without -r created /rdir2")


def tree(root):
    out = []
    for dp, dn, fn in os.walk(root):
        for n in fn:
            out.append(os.path.relpath(os.path.join(dp, n), root))
    return sorted(out)


def test_recursive_like_cp(c):
    album = c.scratch("ralbum")
    os.makedirs(os.path.join(album, "sub"))
    harness.make_file(os.path.join(album, "1.jpg"), 1000, seed=2)
    harness.make_file(os.path.join(album, "sub", "2.jpg"), 2000, seed=3)
    # an existing directory receives DEST/NAME
    c.dfs_ok("mkdir", "/photos")
    c.dfs_ok("put", "-r", album, "/photos/")
    check(lines(c.dfs_ok("ls", "-R", "/photos")) ==
          ["/photos:", "ralbum/", "/photos/ralbum:", "1.jpg", "sub/",
           "/photos/ralbum/sub:", "2.jpg"], "put -r into an existing dir: %r" %
          lines(c.dfs_ok("ls", "-R", "/photos")))
    # a missing destination is created as the copy (with or without the trailing '/')
    for dest in ("/newphotos/", "/newphotos2"):
        c.dfs_ok("put", "-r", album, dest)
        got = lines(c.dfs_ok("ls", "-R", dest.rstrip("/")))
        check(got == [dest.rstrip("/") + ":", "1.jpg", "sub/", dest.rstrip("/") + "/sub:",
                      "2.jpg"], "put -r to a new name %s: %r" % (dest, got))
    # get -r: the same two cases, locally
    have = c.scratch("have")
    os.makedirs(have)
    c.dfs_ok("get", "-r", "/photos/ralbum", have + "/")
    check(tree(have) == ["ralbum/1.jpg", "ralbum/sub/2.jpg"], "get -r into a dir: %r" % tree(have))
    fresh = c.scratch("fresh")
    c.dfs_ok("get", "-r", "/photos/ralbum", fresh + "/")
    check(tree(fresh) == ["1.jpg", "sub/2.jpg"], "get -r to a new name: %r" % tree(fresh))
    for cmd in ("put", "get"):
        h = c.dfs_ok("help", cmd)
        check("exists" in h and "created as the copy" in h and "cp -r" in h,
              "%s help should say how -r names the copy: %r" % (cmd, h))


def test_same_file(c):
    src = c.scratch("same")
    harness.make_file(src, 5000, seed=4)
    c.dfs_ok("put", src, "/a")
    for cmd in ("cp", "mv"):
        for s, d in (("a", "a"), ("a", "./a"), ("/a", "a"), ("a", "/")):
            line = one_line(c, 1, cmd, s, d)
            want_d = "/a" if d == "/" else d
            check(line == "dfs: %s: '%s' and '%s' are the same file" % (cmd, s, want_d),
                  "%s %s %s: %r" % (cmd, s, d, line))
    back = c.scratch("same.back")
    c.dfs_ok("get", "/a", back)
    check(read(back) == read(src), "the file changed after cp/mv onto itself")
    c.dfs_ok("mkdir", "-p", "/d/sub")
    c.dfs_ok("put", src, "/d/f")
    line = one_line(c, 1, "cp", "/d/f", "/d")
    check(line == "dfs: cp: '/d/f' and '/d/f' are the same file", "cp d/f d: %r" % line)
    line = one_line(c, 1, "mv", "/d", "/d")
    check(line == "dfs: mv: '/d' and '/d' are the same file", "mv d d: %r" % line)
    line = one_line(c, 1, "mv", "/d", "/d/sub")
    check("into itself" in line, "mv d d/sub: %r" % line)
    line = one_line(c, 1, "cp", "-r", "/d", "/d/sub")
    check("into itself" in line, "cp -r d d/sub: %r" % line)
    check(lines(c.dfs_ok("ls", "/d")) == ["f", "sub/"], "d changed: %r" % c.dfs_ok("ls", "/d"))


def main(t):
    with t.cluster(chunkservers=2, name="mistakes") as c:
        t.case("get onto an existing local file: kept unless -f, one line, no loss",
               test_get_existing, c)
        t.case("a download that fails midway leaves the local file alone",
               test_failed_download_keeps_file, c)
        t.case("put/get/cp of a directory without -r: one line, status 1", test_dir_without_r, c)
        t.case("put -r / get -r name the copy like cp -r", test_recursive_like_cp, c)
        t.case("cp/mv onto itself: 'a' and 'a' are the same file", test_same_file, c)


if __name__ == "__main__":
    harness.run(main)
