#!/usr/bin/env python3
"""POSIX behaviour suite for a mounted file system (written for `dfs mount`, runs on any
directory): `python3 tests/mount/posix_suite.py DIR [--large-mib N] [--only SUBSTR]
[--keep]`. Every case works in its own fresh directory under DIR/posix-suite-PID-T and
checks what programs rely on, with plain os.* calls: reads and writes at offsets (also
across the 1 MiB chunk boundaries of dfs), O_APPEND (also two processes at once),
truncate grow/shrink, sparse files, rename (atomic, over an open file), unlink while
open, mkdir/rmdir/readdir, chmod, utime, statvfs, fsync, symlinks, link (EPERM or
success), O_EXCL, ENOENT, a large write (sha256), close-then-reopen, mmap reads.

Prints one line per case (PASS/FAIL name) and `N passed, M failed`; exits 1 if any case
failed. python3 stdlib only; it must pass on a local ext4/tmpfs directory."""

import argparse
import errno
import hashlib
import mmap
import os
import random
import re
import shutil
import stat
import sys
import time
import traceback

MiB = 1 << 20


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def expect_errno(want, fn, *args, what=None):
    """fn(*args) must raise OSError with errno in want (an int or a tuple)."""
    want = (want,) if isinstance(want, int) else tuple(want)
    names = "/".join(errno.errorcode.get(w, str(w)) for w in want)
    try:
        r = fn(*args)
    except OSError as e:
        check(e.errno in want, "%s: errno %s (%s), expected %s" % (
            what or fn.__name__, errno.errorcode.get(e.errno, e.errno), e.strerror, names))
        return e
    if isinstance(r, int) and fn is os.open:
        os.close(r)
    raise Failure("%s: succeeded, expected %s" % (what or fn.__name__, names))


def rbytes(rng, n):
    return rng.randbytes(n)


def write_file(path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(path, flags, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:4 * MiB])
            check(n > 0, "write returned %d" % n)
            view = view[n:]
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_all(fd, size, piece=1 << 17):
    """Reads size bytes from offset 0 with pread pieces; checks no short read before
    EOF and that reading at EOF returns nothing."""
    out = bytearray()
    while len(out) < size:
        b = os.pread(fd, min(piece, size - len(out)), len(out))
        check(b, "pread at %d returned nothing, size %d" % (len(out), size))
        out += b
    check(os.pread(fd, 10, size) == b"", "pread at EOF (%d) returned data" % size)
    return bytes(out)


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n if len(a) != len(b) else -1


def same(got, want, what):
    if got != want:
        i = first_diff(got, want)
        raise Failure("%s: content differs (got %d bytes, want %d; first difference at "
                      "offset %d: got %r want %r)" % (what, len(got), len(want), i,
                                                      got[i:i + 8], want[i:i + 8]))


def size_is(path, n, what=None):
    st = os.stat(path)
    check(st.st_size == n, "%s: st_size %d, expected %d" % (what or path, st.st_size, n))


# --- cases ----------------------------------------------------------------------------
# Each case: fn(d, rng, opts) with d a fresh empty directory.

def c_create_read_write(d, rng, o):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        check(os.fstat(fd).st_size == 0, "new file: size %d" % os.fstat(fd).st_size)
        check(os.write(fd, b"hello, world\n") == 13, "short write")
        check(os.pread(fd, 100, 0) == b"hello, world\n", "read back through the same fd")
        os.lseek(fd, 7, os.SEEK_SET)
        os.write(fd, b"WORLD")
        check(os.lseek(fd, 0, os.SEEK_CUR) == 12, "file offset after write")
        os.lseek(fd, 0, os.SEEK_SET)
        check(os.read(fd, 100) == b"hello, WORLD\n", "read after overwrite at offset 7")
        check(os.read(fd, 100) == b"", "read at EOF returned data")
    finally:
        os.close(fd)
    check(stat.S_ISREG(os.stat(p).st_mode), "not a regular file")
    size_is(p, 13)
    same(read_file(p), b"hello, WORLD\n", "after reopen")


def c_write_offsets(d, rng, o):
    p = os.path.join(d, "f")
    model = bytearray()
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for i in range(60):
            off = rng.randrange(0, 300 * 1024)
            data = rbytes(rng, rng.randrange(1, 20000))
            check(os.pwrite(fd, data, off) == len(data), "short pwrite")
            if off > len(model):
                model += bytes(off - len(model))
            model[off:off + len(data)] = data
            if i % 10 == 9:
                same(pread_all(fd, len(model)), bytes(model), "after %d pwrites" % (i + 1))
                check(os.fstat(fd).st_size == len(model), "fstat size %d, model %d" % (
                    os.fstat(fd).st_size, len(model)))
    finally:
        os.close(fd)
    size_is(p, len(model))
    same(read_file(p), bytes(model), "after reopen")


def c_chunk_boundaries(d, rng, o):
    """A 3 MiB + 123 byte file; writes straddling the 1 MiB and 2 MiB boundaries of an
    existing file (read-modify-write inside a chunk), one at exactly 1 MiB, one
    extending the last partial chunk; reads straddling boundaries."""
    p = os.path.join(d, "f")
    model = bytearray(rbytes(rng, 3 * MiB + 123))
    write_file(p, model)
    size_is(p, len(model))
    writes = [(MiB - 100, 300), (2 * MiB - 5000, 70000), (MiB, 4096), (MiB - 1, 2),
              (2 * MiB - 1, 1), (3 * MiB + 100, 200), (0, 1), (MiB - 65536, 2 * 65536 + 7)]
    fd = os.open(p, os.O_RDWR)
    try:
        for off, n in writes:
            data = rbytes(rng, n)
            check(os.pwrite(fd, data, off) == n, "short pwrite at %d" % off)
            end = off + n
            if end > len(model):
                model += bytes(end - len(model))
            model[off:end] = data
        check(os.fstat(fd).st_size == 3 * MiB + 300, "size after writes: %d" % os.fstat(fd).st_size)
        for off, n in [(MiB - 10, 20), (2 * MiB - 65536, 131072), (0, 3 * MiB + 300),
                       (3 * MiB - 1, 1000)]:
            got = os.pread(fd, n, off)
            want = bytes(model[off:off + n])
            same(got, want, "pread(%d, %d) before close" % (off, n))
    finally:
        os.close(fd)
    size_is(p, len(model))
    same(read_file(p), bytes(model), "after reopen")
    fd = os.open(p, os.O_RDONLY)
    try:
        for off, n in [(MiB - 150, 400), (2 * MiB - 6000, 80000), (3 * MiB - 5, 500)]:
            same(os.pread(fd, n, off), bytes(model[off:off + n]), "pread(%d, %d)" % (off, n))
    finally:
        os.close(fd)


def c_append(d, rng, o):
    p = os.path.join(d, "f")
    write_file(p, b"start\n")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"one\n")
        os.lseek(fd, 2, os.SEEK_SET)
        os.write(fd, b"two\n")
    finally:
        os.close(fd)
    same(read_file(p), b"start\none\ntwo\n", "O_APPEND after lseek")
    fd = os.open(p, os.O_RDWR | os.O_APPEND)
    try:
        big = rbytes(rng, MiB + 777)  # an append crossing the first chunk boundary
        os.write(fd, big)
        check(os.fstat(fd).st_size == 14 + len(big), "size after a big append")
    finally:
        os.close(fd)
    same(read_file(p), b"start\none\ntwo\n" + big, "after a big append")


def _appender(path, tag, n, go_r):
    os.read(go_r, 1)  # start together
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        for i in range(n):
            line = ("%s %04d %s\n" % (tag, i, tag * 30)).encode()
            w = os.write(fd, line)
            if w != len(line):
                sys.stderr.write("    appender %s: short write %d of %d at line %d\n" % (
                    tag, w, len(line), i))
                os._exit(3)
        os.close(fd)
    except OSError as e:
        sys.stderr.write("    appender %s: %s\n" % (tag, e))
        sys.stderr.flush()
        os._exit(4)
    os._exit(0)


def c_append_two_processes(d, rng, o):
    p = os.path.join(d, "log")
    write_file(p, b"")
    go_r, go_w = os.pipe()
    pids = []
    for tag in ("A", "B"):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(go_w)
                _appender(p, tag, 200, go_r)
            finally:
                os._exit(2)
        pids.append(pid)
    os.close(go_r)
    os.write(go_w, b"xx")
    os.close(go_w)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
              "appender child failed (wait status %d; its error is printed above)" % status)
    data = read_file(p)
    lines = data.split(b"\n")
    check(lines[-1] == b"", "the file does not end in a newline (torn last line)")
    lines = lines[:-1]
    check(len(lines) == 400, "%d lines, expected 400 (lost or torn appends)" % len(lines))
    seen = {"A": [], "B": []}
    pat = re.compile(rb"^([AB]) (\d{4}) ([AB]{30})$")
    for i, l in enumerate(lines):
        m = pat.match(l)
        check(m and m.group(3) == m.group(1) * 30, "line %d torn: %r" % (i, l[:80]))
        seen[m.group(1).decode()].append(int(m.group(2)))
    for tag in seen:
        check(seen[tag] == list(range(200)), "lines of %s out of order or missing" % tag)
    size_is(p, len(data))


def _zeros(got, what):
    if got.count(0) != len(got):
        i = next(i for i, b in enumerate(got) if b != 0)
        raise Failure("%s: byte %d is %d, expected zero" % (what, i, got[i]))


def c_ftruncate(d, rng, o):
    p = os.path.join(d, "f")
    head = rbytes(rng, 1000)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, head)
        os.ftruncate(fd, 5000)
        check(os.fstat(fd).st_size == 5000, "fstat after grow: %d" % os.fstat(fd).st_size)
        got = os.pread(fd, 10000, 0)
        check(len(got) == 5000, "read %d bytes after grow to 5000" % len(got))
        same(got[:1000], head, "data before the grown part")
        _zeros(got[1000:], "grown part")
        os.ftruncate(fd, 300)
        check(os.fstat(fd).st_size == 300, "fstat after shrink: %d" % os.fstat(fd).st_size)
        same(os.pread(fd, 10000, 0), head[:300], "after shrink to 300")
        os.ftruncate(fd, 2 * MiB + 7)  # grow across two chunk boundaries
        got = pread_all(fd, 2 * MiB + 7)
        same(got[:300], head[:300], "after grow to 2 MiB + 7")
        _zeros(got[300:], "grown part up to 2 MiB + 7 (old bytes 300..1000 must not return)")
        os.pwrite(fd, b"tail", 2 * MiB + 7)
        check(os.fstat(fd).st_size == 2 * MiB + 11, "size after write at the end")
    finally:
        os.close(fd)
    size_is(p, 2 * MiB + 11)
    got = read_file(p)
    same(got[:300], head[:300], "reopen head")
    _zeros(got[300:2 * MiB + 7], "reopen grown part")
    same(got[2 * MiB + 7:], b"tail", "reopen tail")
    os.truncate(p, 0)
    size_is(p, 0)
    check(read_file(p) == b"", "not empty after truncate to 0")


def c_truncate_path(d, rng, o):
    """truncate(2) by path: shrink into the middle of a chunk of a 3 MiB file, grow again:
    the cut-off bytes must read as zeros, not come back."""
    p = os.path.join(d, "f")
    data = rbytes(rng, 3 * MiB)
    write_file(p, data)
    cut = MiB + MiB // 2 + 3
    os.truncate(p, cut)
    size_is(p, cut, "after truncate to 1.5 MiB")
    same(read_file(p), data[:cut], "after shrink")
    os.truncate(p, 3 * MiB + 5)
    size_is(p, 3 * MiB + 5, "after grow to 3 MiB + 5")
    got = read_file(p)
    check(len(got) == 3 * MiB + 5, "read %d bytes after grow" % len(got))
    same(got[:cut], data[:cut], "kept part after grow")
    _zeros(got[cut:], "grown part after shrink+grow")
    fd = os.open(p, os.O_RDWR)  # truncate by path while a fd is open
    try:
        os.truncate(p, 100)
        check(os.fstat(fd).st_size == 100, "fstat of an open fd after truncate(path): %d"
              % os.fstat(fd).st_size)
        same(os.pread(fd, 1000, 0), data[:100], "read through the open fd after truncate")
    finally:
        os.close(fd)
    expect_errno(errno.ENOENT, os.truncate, os.path.join(d, "missing"), 10,
                 what="truncate of a missing file")


def c_sparse(d, rng, o):
    p = os.path.join(d, "sparse")
    hole = 5 * MiB + 17
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"head")
        check(os.lseek(fd, hole, os.SEEK_SET) == hole, "lseek past the end")
        os.write(fd, b"end")
        check(os.fstat(fd).st_size == hole + 3, "fstat size %d, expected %d" % (
            os.fstat(fd).st_size, hole + 3))
    finally:
        os.close(fd)
    size_is(p, hole + 3)
    got = read_file(p)
    check(len(got) == hole + 3, "read %d bytes, expected %d" % (len(got), hole + 3))
    same(got[:4], b"head", "head")
    _zeros(got[4:hole], "the hole")
    same(got[hole:], b"end", "after the hole")
    # a write far past the end of a second file with pwrite, then fill a piece of the hole
    q = os.path.join(d, "sparse2")
    fd = os.open(q, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"Z" * 10, 3 * MiB - 5)
        os.pwrite(fd, b"m" * 100, MiB + 50)
        got = pread_all(fd, 3 * MiB + 5)
    finally:
        os.close(fd)
    _zeros(got[:MiB + 50], "hole before the middle write")
    same(got[MiB + 50:MiB + 150], b"m" * 100, "middle write")
    _zeros(got[MiB + 150:3 * MiB - 5], "hole after the middle write")
    same(got[3 * MiB - 5:], b"Z" * 10, "last write")
    size_is(q, 3 * MiB + 5)


def c_rename_over(d, rng, o):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    write_file(a, b"new content A")
    write_file(b, b"old content B, longer")
    os.rename(a, b)
    expect_errno(errno.ENOENT, os.stat, a, what="stat of the renamed-away name")
    same(read_file(b), b"new content A", "target after rename over it")
    size_is(b, 13)
    check(sorted(os.listdir(d)) == ["b"], "listing after rename: %r" % sorted(os.listdir(d)))
    # atomic: a reader opening the target by name never gets ENOENT nor a mixed file
    write_file(b, b"version 1000 ")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        bad = 0
        deadline = time.time() + 60
        for i in range(4000):
            try:
                with open(b, "rb") as f:
                    c = f.read()
                if not re.fullmatch(rb"(version \d+ )\1*", c):
                    bad = 1
                    sys.stderr.write("    reader saw %r\n" % c[:100])
            except OSError as e:
                sys.stderr.write("    reader: %s\n" % e)
                bad = 2
            if bad or time.time() > deadline:
                break
        os.write(w, b"%d" % bad)
        os._exit(0)
    os.close(w)
    tmp = os.path.join(d, "tmp")
    for i in range(60):
        write_file(tmp, b"version %d " % i * (1 + i % 7))
        os.rename(tmp, b)
    res = os.read(r, 10)
    os.close(r)
    os.waitpid(pid, 0)
    check(res == b"0", {b"1": "a reader saw a partial/mixed file during renames",
                        b"2": "a reader got an error opening the target during renames"}.get(
        res, "reader child: %r" % res))
    same(read_file(b), b"version 59 " * (1 + 59 % 7), "last rename")
    # directory rename with contents; rename into a subdirectory
    os.makedirs(os.path.join(d, "d1", "sub"))
    write_file(os.path.join(d, "d1", "sub", "x"), b"x-data")
    os.rename(os.path.join(d, "d1"), os.path.join(d, "d2"))
    same(read_file(os.path.join(d, "d2", "sub", "x")), b"x-data", "file in renamed dir")
    expect_errno(errno.ENOENT, os.stat, os.path.join(d, "d1"), what="stat old dir name")
    os.rename(b, os.path.join(d, "d2", "sub", "moved"))
    same(read_file(os.path.join(d, "d2", "sub", "moved")), b"version 59 " * 4,
         "file moved into a subdirectory")
    check(sorted(os.listdir(os.path.join(d, "d2", "sub"))) == ["moved", "x"],
          "listing of the target dir: %r" % os.listdir(os.path.join(d, "d2", "sub")))
    # rename of a file over a non-empty directory fails; of a dir over a file too
    os.mkdir(os.path.join(d, "e"))
    expect_errno(errno.EISDIR, os.rename, os.path.join(d, "d2", "sub", "x"),
                 os.path.join(d, "e"), what="rename a file over a directory")
    expect_errno(errno.ENOTDIR, os.rename, os.path.join(d, "e"),
                 os.path.join(d, "d2", "sub", "x"), what="rename a dir over a file")
    expect_errno((errno.ENOTEMPTY, errno.EEXIST), os.rename, os.path.join(d, "e"),
                 os.path.join(d, "d2"), what="rename dir over a non-empty dir")


def c_rename_over_open(d, rng, o):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    old = rbytes(rng, 200000)
    new = rbytes(rng, 1234)
    write_file(b, old)
    write_file(a, new)
    fd = os.open(b, os.O_RDONLY)
    try:
        os.rename(a, b)
        same(read_file(b), new, "new open of the target")
        same(pread_all(fd, len(old)), old, "the fd opened before the rename")
        check(os.fstat(fd).st_size == len(old), "fstat of the old fd: %d" % os.fstat(fd).st_size)
    finally:
        os.close(fd)
    same(read_file(b), new, "target after closing the old fd")
    check(sorted(os.listdir(d)) == ["b"], "listing: %r" % sorted(os.listdir(d)))


def c_unlink_open(d, rng, o):
    p = os.path.join(d, "victim")
    data = rbytes(rng, MiB + 4321)
    write_file(p, data)
    fd = os.open(p, os.O_RDWR)
    try:
        os.unlink(p)
        expect_errno(errno.ENOENT, os.stat, p, what="stat after unlink")
        expect_errno(errno.ENOENT, os.open, p, os.O_RDONLY, what="open after unlink")
        check(os.listdir(d) == [], "directory not empty after unlinking its only file "
              "(a hidden placeholder?): %r" % os.listdir(d))
        same(pread_all(fd, len(data)), data, "read through the fd after unlink")
        more = rbytes(rng, 70000)
        os.pwrite(fd, more, MiB - 1000)
        model = bytearray(data)
        model[MiB - 1000:MiB - 1000 + len(more)] = more
        check(os.fstat(fd).st_size == len(model), "fstat after unlink+write")
        same(pread_all(fd, len(model)), bytes(model), "read back a write after unlink")
        # the name can be used again at once for a new, independent file
        write_file(p, b"reborn")
        same(read_file(p), b"reborn", "new file under the unlinked name")
        same(os.pread(fd, 10, 0), bytes(model[:10]), "old fd after the name was reused")
    finally:
        os.close(fd)
    check(os.listdir(d) == ["victim"], "listing after close: %r" % os.listdir(d))
    same(read_file(p), b"reborn", "new file after the old fd closed")
    os.unlink(p)
    check(os.listdir(d) == [], "listing after the last unlink: %r" % os.listdir(d))
    expect_errno(errno.ENOENT, os.unlink, p, what="unlink of a missing file")


def c_dirs(d, rng, o):
    t = os.path.join(d, "t")
    os.mkdir(t, 0o755)
    check(stat.S_ISDIR(os.stat(t).st_mode), "mkdir did not make a directory")
    expect_errno(errno.EEXIST, os.mkdir, t, what="mkdir of an existing dir")
    names = {"file-%03d" % i for i in range(300)}  # more than one readdir page
    for n in names:
        write_file(os.path.join(t, n), n.encode())
    os.mkdir(os.path.join(t, "sub"))
    names.add("sub")
    got = os.listdir(t)
    check(len(got) == len(set(got)), "readdir returned duplicates")
    check(set(got) == names, "readdir: missing %r, extra %r" % (
        sorted(names - set(got))[:5], sorted(set(got) - names)[:5]))
    with os.scandir(t) as it:
        kinds = {e.name: e.is_dir(follow_symlinks=False) for e in it}
    check(kinds["sub"] and not kinds["file-007"], "scandir d_type wrong")
    expect_errno(errno.ENOTEMPTY, os.rmdir, t, what="rmdir of a non-empty dir")
    expect_errno(errno.ENOTDIR, os.rmdir, os.path.join(t, "file-001"), what="rmdir of a file")
    expect_errno(errno.ENOTDIR, os.listdir, os.path.join(t, "file-001"),
                 what="listdir of a file")
    expect_errno(errno.EISDIR, os.unlink, os.path.join(t, "sub"), what="unlink of a dir")
    expect_errno(errno.ENOENT, os.mkdir, os.path.join(d, "no", "such"),
                 what="mkdir in a missing dir")
    for n in names - {"sub"}:
        os.unlink(os.path.join(t, n))
    check(os.listdir(t) == ["sub"], "after unlinking the files: %r" % os.listdir(t)[:5])
    os.rmdir(os.path.join(t, "sub"))
    os.rmdir(t)
    expect_errno(errno.ENOENT, os.stat, t, what="stat of the removed dir")
    check(os.listdir(d) == [], "parent listing after rmdir: %r" % os.listdir(d))
    os.makedirs(os.path.join(d, "a", "b", "c", "d"))
    write_file(os.path.join(d, "a", "b", "c", "d", "deep"), b"deep")
    same(read_file(os.path.join(d, "a", "b", "c", "d", "deep")), b"deep", "deep file")


def c_chmod(d, rng, o):
    p = os.path.join(d, "f")
    write_file(p, b"x", mode=0o644)
    for m in (0o600, 0o755, 0o640, 0o400, 0o644):
        os.chmod(p, m)
        st = os.stat(p)
        check(stat.S_IMODE(st.st_mode) == m, "chmod %o: st_mode %o" % (m, stat.S_IMODE(st.st_mode)))
        check(stat.S_ISREG(st.st_mode), "chmod changed the file type")
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fchmod(fd, 0o664)
        check(stat.S_IMODE(os.fstat(fd).st_mode) == 0o664, "fchmod 664")
    finally:
        os.close(fd)
    check(stat.S_IMODE(os.stat(p).st_mode) == 0o664, "fchmod 664 by path")
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    os.chmod(sub, 0o700)
    st = os.stat(sub)
    check(stat.S_IMODE(st.st_mode) == 0o700 and stat.S_ISDIR(st.st_mode), "chmod dir 700")
    os.chmod(sub, 0o755)
    check(stat.S_IMODE(os.stat(sub).st_mode) == 0o755, "chmod dir 755")
    q = os.path.join(d, "exe")
    fd = os.open(q, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    os.close(fd)
    um = os.umask(0)
    os.umask(um)
    check(stat.S_IMODE(os.stat(q).st_mode) == 0o700 & ~um, "create mode 0700: %o" %
          stat.S_IMODE(os.stat(q).st_mode))
    expect_errno(errno.ENOENT, os.chmod, os.path.join(d, "missing"), 0o600,
                 what="chmod of a missing file")


def c_utime(d, rng, o):
    p = os.path.join(d, "f")
    write_file(p, b"x")
    os.utime(p, (1500000000, 1600000123))
    st = os.stat(p)
    check(int(st.st_mtime) == 1600000123, "utime: st_mtime %r, expected 1600000123" % st.st_mtime)
    os.utime(p, ns=(1500000000_000000000, 1234567890_987654321))
    st = os.stat(p)
    check(st.st_mtime_ns // 10**9 == 1234567890, "utimensat: st_mtime_ns %d" % st.st_mtime_ns)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.utime(fd, (1000000000, 1000000001))  # futimens
        check(int(os.fstat(fd).st_mtime) == 1000000001, "futimens: %r" % os.fstat(fd).st_mtime)
    finally:
        os.close(fd)
    check(int(os.stat(p).st_mtime) == 1000000001, "futimens by path: %r" % os.stat(p).st_mtime)
    before = time.time()
    os.utime(p)  # now
    m = os.stat(p).st_mtime
    check(before - 5 <= m <= time.time() + 5, "utime(now): mtime %r, now %r" % (m, time.time()))
    # a write moves mtime to now
    os.utime(p, (1000000000, 1000000000))
    with open(p, "ab") as f:
        f.write(b"more")
    m = os.stat(p).st_mtime
    check(m > time.time() - 120, "mtime after a write is %r, not about now" % m)
    # directories too
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    os.utime(sub, (1400000000, 1400000042))
    check(int(os.stat(sub).st_mtime) == 1400000042, "dir utime: %r" % os.stat(sub).st_mtime)


def c_statvfs(d, rng, o):
    sv = os.statvfs(d)
    check(sv.f_blocks > 0, "f_blocks %d" % sv.f_blocks)
    check(sv.f_frsize > 0 or sv.f_bsize > 0, "block size 0")
    check(sv.f_bfree <= sv.f_blocks and sv.f_bavail <= sv.f_blocks,
          "free > total: %r" % (sv,))
    check(sv.f_namemax >= 255, "f_namemax %d" % sv.f_namemax)
    p = os.path.join(d, "f")
    write_file(p, b"x")
    fd = os.open(p, os.O_RDONLY)
    try:
        sv2 = os.fstatvfs(fd)
        check(sv2.f_blocks > 0, "fstatvfs f_blocks %d" % sv2.f_blocks)
    finally:
        os.close(fd)


def c_fsync(d, rng, o):
    p = os.path.join(d, "f")
    data = rbytes(rng, 3 * MiB // 2)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.fdatasync(fd)
        # after fsync another open of the same file sees everything (before our close)
        same(read_file(p), data, "read by another open after fsync")
        size_is(p, len(data), "stat after fsync")
        os.pwrite(fd, b"patch", 10)
        os.fsync(fd)
        same(read_file(p)[:20], data[:10] + b"patch" + data[15:20], "after second fsync")
    finally:
        os.close(fd)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            os.fsync(dfd)
        except OSError as e:  # fsync of a directory: EINVAL is allowed by POSIX
            check(e.errno == errno.EINVAL, "fsync of a directory: %s" % e)
    finally:
        os.close(dfd)


def c_symlink(d, rng, o):
    t = os.path.join(d, "target")
    write_file(t, b"target data")
    ln = os.path.join(d, "link")
    os.symlink("target", ln)
    check(os.readlink(ln) == "target", "readlink: %r" % os.readlink(ln))
    lst = os.lstat(ln)
    check(stat.S_ISLNK(lst.st_mode), "lstat: not a symlink (mode %o)" % lst.st_mode)
    check(lst.st_size == len("target"), "lstat st_size %d, expected 6" % lst.st_size)
    st = os.stat(ln)
    check(stat.S_ISREG(st.st_mode) and st.st_size == 11, "stat through the link")
    same(read_file(ln), b"target data", "open through the link")
    with open(ln, "ab") as f:
        f.write(b"+")
    same(read_file(t), b"target data+", "write through the link")
    check(sorted(os.listdir(d)) == ["link", "target"], "listing %r" % os.listdir(d))
    with os.scandir(d) as it:
        for e in it:
            if e.name == "link":
                check(e.is_symlink(), "scandir: link is not a symlink")
    expect_errno(errno.EEXIST, os.symlink, "x", ln, what="symlink over an existing name")
    dang = os.path.join(d, "dangling")
    os.symlink("no/such/file", dang)
    expect_errno(errno.ENOENT, os.stat, dang, what="stat of a dangling link")
    check(stat.S_ISLNK(os.lstat(dang).st_mode), "lstat of a dangling link")
    long_target = "/" + "/".join("component%03d" % i for i in range(30))  # 420 chars
    lt = os.path.join(d, "long")
    os.symlink(long_target, lt)
    check(os.readlink(lt) == long_target, "long readlink differs")
    os.mkdir(os.path.join(d, "dir"))
    write_file(os.path.join(d, "dir", "in"), b"in dir")
    os.symlink("dir", os.path.join(d, "dirlink"))
    same(read_file(os.path.join(d, "dirlink", "in")), b"in dir", "path through a dir link")
    check(os.listdir(os.path.join(d, "dirlink")) == ["in"], "listdir through a dir link")
    abs_ln = os.path.join(d, "abs")
    os.symlink(os.path.abspath(t), abs_ln)
    same(read_file(abs_ln), b"target data+", "absolute symlink")
    os.rename(ln, os.path.join(d, "link2"))
    check(os.readlink(os.path.join(d, "link2")) == "target", "readlink after rename")
    os.unlink(os.path.join(d, "link2"))
    same(read_file(t), b"target data+", "target after unlinking the link")
    expect_errno(errno.EINVAL, os.readlink, t, what="readlink of a regular file")


def c_link(d, rng, o):
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    write_file(a, b"linked")
    try:
        os.link(a, b)
    except OSError as e:
        check(e.errno == errno.EPERM, "link failed with %s (%s), expected EPERM" % (
            errno.errorcode.get(e.errno, e.errno), e.strerror))
        check(os.listdir(d) == ["a"], "a failed link left %r" % os.listdir(d))
        same(read_file(a), b"linked", "source after a failed link")
        print("    (link: EPERM)")
        return
    print("    (link: supported)")
    check(os.stat(a).st_nlink == 2 and os.stat(b).st_nlink == 2, "st_nlink after link")
    check(os.stat(a).st_ino == os.stat(b).st_ino, "a hard link has another inode")
    with open(b, "ab") as f:
        f.write(b"!")
    same(read_file(a), b"linked!", "write through the second name")


def c_excl_and_missing(d, rng, o):
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"first")
    os.close(fd)
    expect_errno(errno.EEXIST, os.open, p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644,
                 what="O_CREAT|O_EXCL of an existing file")
    same(read_file(p), b"first", "after the failed O_EXCL")
    expect_errno(errno.EEXIST, os.open, d, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644,
                 what="O_EXCL of an existing directory")
    m = os.path.join(d, "missing")
    expect_errno(errno.ENOENT, os.open, m, os.O_RDONLY, what="open of a missing file")
    expect_errno(errno.ENOENT, os.open, m, os.O_RDWR, what="open O_RDWR of a missing file")
    expect_errno(errno.ENOENT, os.stat, m, what="stat of a missing file")
    expect_errno(errno.ENOENT, os.open, os.path.join(d, "nodir", "x"),
                 os.O_WRONLY | os.O_CREAT, 0o644, what="create in a missing directory")
    expect_errno(errno.ENOTDIR, os.open, os.path.join(p, "x"), os.O_WRONLY | os.O_CREAT,
                 0o644, what="create under a regular file")
    expect_errno(errno.EISDIR, os.open, d, os.O_WRONLY, what="open a directory for writing")
    check(sorted(os.listdir(d)) == ["f"], "listing: %r" % os.listdir(d))


def c_large(d, rng, o):
    n = o.large_mib * MiB + 12345
    p = os.path.join(d, "large")
    h = hashlib.sha256()
    seed_block = rbytes(rng, 4 * MiB + 4096)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left, i = n, 0
        while left:
            # unaligned write sizes, every block different
            k = min(left, rng.choice((MiB, 3 * MiB + 17, 65536 + 1, 777777)))
            off = rng.randrange(len(seed_block) - k) if k < len(seed_block) else 0
            piece = bytes([i & 0xFF]) + seed_block[off:off + k - 1]
            check(os.write(fd, piece) == k, "short write")
            h.update(piece)
            left -= k
            i += 1
    finally:
        os.close(fd)
    want = h.hexdigest()
    size_is(p, n)
    for bs in (MiB, 131072 + 3):
        h2 = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while True:
                b = f.read(bs)
                if not b:
                    break
                h2.update(b)
        check(h2.hexdigest() == want, "sha256 of the %d MiB file read back with %d-byte "
              "reads differs" % (o.large_mib, bs))


def c_reopen(d, rng, o):
    p = os.path.join(d, "f")
    for i in range(5):
        data = rbytes(rng, rng.choice((0, 1, 4096, 100000, MiB + 1)))
        write_file(p, data)
        size_is(p, len(data), "round %d" % i)
        same(read_file(p), data, "round %d after reopen" % i)
    # O_TRUNC of an existing file; writing less over more without O_TRUNC
    write_file(p, b"0123456789")
    fd = os.open(p, os.O_WRONLY)
    os.write(fd, b"abc")
    os.close(fd)
    same(read_file(p), b"abc3456789", "overwrite of the start without O_TRUNC")
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    size_is(p, 0, "after O_TRUNC")
    # two fds of one file: a write through one is read through the other
    fa = os.open(p, os.O_RDWR)
    fb = os.open(p, os.O_RDWR)
    try:
        os.pwrite(fa, b"through A", 0)
        check(os.pread(fb, 100, 0) == b"through A", "second fd does not see the write")
        os.pwrite(fb, b"B", 0)
        check(os.pread(fa, 100, 0) == b"Bhrough A", "first fd does not see the write")
    finally:
        os.close(fa)
        os.close(fb)
    same(read_file(p), b"Bhrough A", "after both closed")
    fd = os.open(p, os.O_RDONLY)
    try:
        expect_errno(errno.EBADF, os.write, fd, b"x", what="write to an O_RDONLY fd")
    finally:
        os.close(fd)


def c_mmap_read(d, rng, o):
    p = os.path.join(d, "f")
    data = rbytes(rng, 2 * MiB + 999)
    write_file(p, data)
    with open(p, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            check(len(m) == len(data), "mmap length %d" % len(m))
            same(m[MiB - 10:MiB + 10], data[MiB - 10:MiB + 10], "mmap across 1 MiB")
            same(m[:], data, "whole mmap")
        finally:
            m.close()
    # a write through write(2) is seen by a new mapping
    with open(p, "r+b") as f:
        f.seek(MiB)
        f.write(b"NEW")
    with open(p, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            same(m[MiB:MiB + 3], b"NEW", "mmap after a write")
        finally:
            m.close()


CASES = [
    ("create, write at offsets, read back", c_create_read_write),
    ("random pwrite offsets vs a model", c_write_offsets),
    ("writes straddling 1 MiB and 2 MiB chunk boundaries of a 3 MiB file", c_chunk_boundaries),
    ("O_APPEND", c_append),
    ("O_APPEND from two processes: 400 intact lines", c_append_two_processes),
    ("ftruncate grow (zeros) and shrink", c_ftruncate),
    ("truncate by path: shrink then grow reads zeros", c_truncate_path),
    ("sparse file: seek past the end and write", c_sparse),
    ("rename over an existing file is atomic; dir rename", c_rename_over),
    ("rename over a file another fd has open", c_rename_over_open),
    ("unlink while open", c_unlink_open),
    ("mkdir, rmdir (ENOTEMPTY), readdir of 301 entries", c_dirs),
    ("chmod and fchmod: st_mode", c_chmod),
    ("utime/utimensat/futimens: st_mtime", c_utime),
    ("statvfs: f_blocks > 0", c_statvfs),
    ("fsync/fdatasync", c_fsync),
    ("symlink, readlink, lstat", c_symlink),
    ("link: EPERM or a real hard link", c_link),
    ("O_EXCL of an existing file (EEXIST), missing files (ENOENT)", c_excl_and_missing),
    ("large write read back identical (sha256)", c_large),
    ("close then reopen sees the data; O_TRUNC; two fds", c_reopen),
    ("mmap read", c_mmap_read),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--large-mib", type=int, default=20, help="size of the large write")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the case directories")
    o = ap.parse_args()
    seed = o.seed if o.seed is not None else random.randrange(1 << 31)
    base = os.path.join(o.dir, "posix-suite-%d-%d-%d" % (os.getpid(), int(time.time()),
                                                          random.randrange(1 << 20)))
    os.mkdir(base)
    print("posix_suite: %s (seed %d)" % (base, seed), flush=True)
    passed = failed = 0
    for i, (name, fn) in enumerate(CASES):
        if o.only and o.only not in name:
            continue
        d = os.path.join(base, "case-%02d" % i)
        t0 = time.time()
        try:
            os.mkdir(d)
            fn(d, random.Random(seed + i), o)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            detail = str(e) if isinstance(e, Failure) else traceback.format_exc().rstrip()
            print("FAIL %s (%.1f s): %s" % (name, time.time() - t0, detail), flush=True)
            continue
        passed += 1
        print("PASS %s (%.1f s)" % (name, time.time() - t0), flush=True)
    if not o.keep:
        try:
            shutil.rmtree(base)
            check(not os.path.exists(base), "still there")
        except Exception as e:  # noqa: BLE001
            failed += 1
            print("FAIL removing %s: %s" % (base, e), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
