#!/usr/bin/env python3
"""fsx-style randomized tester: applies the same random file operations to a directory
under test and to a reference directory (a local file system), op by op, and compares
every result (return values, errnos, data read, st_size) as it goes and everything at the
end.

  python3 tests/mount/fsx.py TESTDIR REFDIR [--seed N] [--ops N] [--files K]
                             [--max-size BYTES] [--keep]

Works in fresh subdirectories fsx-SEED-PID of both. Ops: write at a random offset and
length (biased to the 1 MiB chunk boundaries of dfs, to the end of the file and past it),
append (O_APPEND), read-and-compare, truncate (by path or fd, grow and shrink), rename
(also over an existing file with an open fd), unlink (also of an open file: the fd lives
on as an orphan that is read and written later), create (O_TRUNC), fsync, close/reopen,
stat, readdir. The seed is printed at the start (`--seed N` replays a run); on a mismatch
it prints the seed, the op number and the tail of the op log and exits 1.
`--corrupt-at N` (self-test of the tester) flips a byte of a test file behind its back
after op N: the run must then fail."""

import argparse
import collections
import errno
import hashlib
import os
import random
import shutil
import sys
import time

MiB = 1 << 20


class Mismatch(Exception):
    pass


def errname(e):
    return errno.errorcode.get(e, str(e))


def describe(res):
    kind, val = res
    if kind == "err":
        return "error %s" % errname(val)
    if isinstance(val, (bytes, bytearray)):
        return "%d bytes (sha256 %s)" % (len(val), hashlib.sha256(val).hexdigest()[:16])
    return repr(val)


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


class Fsx:
    def __init__(self, test_dir, ref_dir, seed, nfiles, max_size, log_len=40):
        self.rng = random.Random(seed)
        self.seed = seed
        tag = "fsx-%d-%d" % (seed, os.getpid())
        self.dirs = (os.path.join(ref_dir, tag), os.path.join(test_dir, tag))  # 0 ref, 1 test
        for d in self.dirs:
            os.mkdir(d)
        self.names = ["f%d" % i for i in range(nfiles)]
        self.max_size = max_size
        self.fds = {}        # name -> [ref_fd, test_fd]
        self.orphans = []    # [ref_fd, test_fd, label] of unlinked or replaced files
        self.log = collections.deque(maxlen=log_len)
        self.opno = 0
        self.norphan = 0
        self.counts = collections.Counter()

    # -- helpers
    def path(self, side, name):
        return os.path.join(self.dirs[side], name)

    def exists(self, name):
        return os.path.lexists(self.path(0, name))

    def fail(self, msg):
        raise Mismatch(msg)

    def both(self, what, fn):
        """fn(side) on the reference (0) then the test dir (1); results must agree.
        Returns the common result ("ok", value) or ("err", errno)."""
        res = []
        for side in (0, 1):
            try:
                res.append(("ok", fn(side)))
            except OSError as e:
                res.append(("err", e.errno))
        if res[0] != res[1]:
            msg = "%s: reference gave %s, test dir gave %s" % (
                what, describe(res[0]), describe(res[1]))
            a, b = res[0][1], res[1][1]
            if res[0][0] == res[1][0] == "ok" and isinstance(a, bytes) and isinstance(b, bytes):
                i = first_diff(a, b)
                msg += "; first difference at byte %d: ref %r test %r" % (i, a[i:i + 8], b[i:i + 8])
            self.fail(msg)
        return res[0]

    def open_pair(self, name, flags, what):
        fds = [None, None]

        def op(s):
            fds[s] = os.open(self.path(s, name), flags, 0o644)
            return "fd"
        try:
            self.both(what, op)
        except Mismatch:
            for f in fds:
                if f is not None:
                    os.close(f)
            raise
        if fds[0] is None:
            return None
        return fds

    def get_fds(self, name, create=False):
        if name in self.fds:
            return self.fds[name]
        if not create and not self.exists(name):
            return None
        fds = self.open_pair(name, os.O_RDWR | (os.O_CREAT if create else 0),
                             "open %s%s" % (name, " (create)" if create else ""))
        if fds:
            self.fds[name] = fds
        return fds

    def close_pair(self, fds, what):
        self.both(what, lambda s: os.close(fds[s]))

    def compare_size(self, fds, what):
        self.both("fstat size (%s)" % what, lambda s: os.fstat(fds[s]).st_size)

    def compare_whole(self, fds, what):
        size = self.both("fstat size (%s)" % what, lambda s: os.fstat(fds[s]).st_size)[1]

        def rd(s):
            out = bytearray()
            while True:
                b = os.pread(fds[s], 4 * MiB, len(out))
                if not b:
                    return bytes(out)
                out += b
        data = self.both("read whole file (%s)" % what, rd)
        if data[0] == "ok" and len(data[1]) != size:
            self.fail("%s: read %d bytes, st_size %d" % (what, len(data[1]), size))

    def pick_offset(self, size):
        r = self.rng.random()
        if r < 0.25 and self.max_size > MiB:
            k = self.rng.randrange(1, max(2, self.max_size // MiB + 1))
            return max(0, k * MiB + self.rng.randrange(-4096, 4096))
        if r < 0.40:
            return size  # at the end
        if r < 0.50:
            return size + self.rng.randrange(1, 300000)  # past the end: a hole
        return self.rng.randrange(0, max(1, min(self.max_size, size + 1)))

    def pick_len(self):
        r = self.rng.random()
        if r < 0.6:
            return self.rng.randrange(1, 4096)
        if r < 0.9:
            return self.rng.randrange(4096, 131072)
        return self.rng.randrange(131072, 3 * MiB // 2)

    def cur_size(self, name):
        try:
            return os.stat(self.path(0, name)).st_size
        except OSError:
            return 0

    # -- ops (each logs itself first, then runs on both sides)
    def op_write(self):
        name = self.rng.choice(self.names)
        off = min(self.pick_offset(self.cur_size(name)), self.max_size)
        n = max(1, min(self.pick_len(), self.max_size + 4096 - off))
        data = self.rng.randbytes(n)
        self.note("write %s off=%d len=%d" % (name, off, n))
        fds = self.get_fds(name, create=True)
        self.both("pwrite %s" % name, lambda s: os.pwrite(fds[s], data, off))
        self.compare_size(fds, "after write")

    def op_append(self):
        name = self.rng.choice(self.names)
        n = self.pick_len() // 4 + 1
        data = self.rng.randbytes(n)
        self.note("append %s len=%d (own O_APPEND fd)" % (name, n))
        fds = self.open_pair(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "open O_APPEND")
        try:
            self.both("append write", lambda s: os.write(fds[s], data))
            self.both("append: fstat size", lambda s: os.fstat(fds[s]).st_size)
        finally:
            self.close_pair(fds, "close O_APPEND fd")

    def op_read(self):
        name = self.rng.choice(self.names)
        size = self.cur_size(name)
        off = self.rng.randrange(0, size + 2) if self.rng.random() < 0.8 else \
            self.pick_offset(size)
        n = self.pick_len()
        self.note("read %s off=%d len=%d (size %d)" % (name, off, n, size))
        fds = self.get_fds(name)
        if fds is None:
            self.both("open missing %s" % name,
                      lambda s: os.close(os.open(self.path(s, name), os.O_RDONLY)))
            return
        self.both("pread %s" % name, lambda s: os.pread(fds[s], n, off))
        self.compare_size(fds, "after read")
        self.both("stat %s size" % name, lambda s: os.stat(self.path(s, name)).st_size)

    def op_truncate(self):
        name = self.rng.choice(self.names)
        size = self.cur_size(name)
        r = self.rng.random()
        new = self.rng.randrange(0, size + 1) if r < 0.5 else \
            min(self.max_size, self.pick_offset(size))
        if name in self.fds and self.rng.random() < 0.5:
            self.note("ftruncate %s %d (was %d)" % (name, new, size))
            fds = self.fds[name]
            self.both("ftruncate", lambda s: os.ftruncate(fds[s], new))
            self.compare_size(fds, "after ftruncate")
        else:
            self.note("truncate %s %d (was %d)" % (name, new, size))
            self.both("truncate", lambda s: os.truncate(self.path(s, name), new))
        self.both("stat size after truncate",
                  lambda s: os.stat(self.path(s, name)).st_size)

    def op_rename(self):
        src, dst = self.rng.choice(self.names), self.rng.choice(self.names)
        if src == dst:
            return
        self.note("rename %s -> %s" % (src, dst))
        r = self.both("rename", lambda s: os.rename(self.path(s, src), self.path(s, dst)))
        if r[0] == "ok":
            if dst in self.fds:
                self.orphan(self.fds.pop(dst), "%s replaced by rename" % dst)
            if src in self.fds:
                self.fds[dst] = self.fds.pop(src)
        self.both("stat %s after rename" % src, lambda s: os.stat(self.path(s, src)).st_size)
        self.both("stat %s after rename" % dst, lambda s: os.stat(self.path(s, dst)).st_size)

    def op_unlink(self):
        name = self.rng.choice(self.names)
        self.note("unlink %s%s" % (name, " (open)" if name in self.fds else ""))
        r = self.both("unlink", lambda s: os.unlink(self.path(s, name)))
        if r[0] == "ok" and name in self.fds:
            self.orphan(self.fds.pop(name), "%s unlinked" % name)
        self.both("stat after unlink", lambda s: os.stat(self.path(s, name)).st_size)

    def orphan(self, fds, label):
        self.norphan += 1
        self.orphans.append([fds[0], fds[1], "orphan %d (%s)" % (self.norphan, label)])

    def op_orphan(self):
        if not self.orphans:
            return
        o = self.rng.choice(self.orphans)
        fds, label = o[:2], o[2]
        if self.rng.random() < 0.5:
            off, n = self.rng.randrange(0, 2 * MiB), self.rng.randrange(1, 70000)
            data = self.rng.randbytes(n)
            self.note("write %s off=%d len=%d" % (label, off, n))
            self.both("pwrite orphan", lambda s: os.pwrite(fds[s], data, off))
        self.note("read whole %s, close it" % label)
        self.compare_whole(fds, label)
        self.orphans.remove(o)
        self.close_pair(fds, "close " + label)

    def op_create(self):
        name = self.rng.choice(self.names)
        self.note("create %s O_CREAT|O_TRUNC%s" % (name, " (closing its fd)" if name in self.fds else ""))
        if name in self.fds:
            self.close_pair(self.fds.pop(name), "close before create")
        fds = self.open_pair(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, "create")
        self.fds[name] = fds
        self.compare_size(fds, "after create")

    def op_fsync(self):
        name = self.rng.choice(self.names)
        if name not in self.fds:
            return
        self.note("fsync %s" % name)
        fds = self.fds[name]
        self.both("fsync", lambda s: os.fsync(fds[s]))

    def op_close(self):
        name = self.rng.choice(self.names)
        if name not in self.fds:
            return
        self.note("close %s" % name)
        self.close_pair(self.fds.pop(name), "close")

    def op_stat(self):
        name = self.rng.choice(self.names)
        self.note("stat %s" % name)
        self.both("stat size", lambda s: os.stat(self.path(s, name)).st_size)
        self.both("stat type", lambda s: os.stat(self.path(s, name)).st_mode & 0o170000)

    def op_readdir(self):
        self.note("readdir")
        self.both("readdir", lambda s: sorted(os.listdir(self.dirs[s])))

    def op_reread(self):
        """Close, reopen and compare a whole file (what another program would see)."""
        name = self.rng.choice(self.names)
        self.note("reopen %s and compare it whole" % name)
        if name in self.fds:
            self.close_pair(self.fds.pop(name), "close before reopen")
        fds = self.get_fds(name)
        if fds is not None:
            self.compare_whole(fds, name)

    OPS = [("write", 28), ("append", 7), ("read", 24), ("truncate", 8), ("rename", 5),
           ("unlink", 3), ("orphan", 3), ("create", 3), ("fsync", 4), ("close", 7),
           ("stat", 3), ("readdir", 2), ("reread", 3)]

    def note(self, text):
        self.log.append("#%d %s" % (self.opno, text))

    def run(self, nops, corrupt_at=None):
        names, weights = zip(*self.OPS)
        for self.opno in range(1, nops + 1):
            op = self.rng.choices(names, weights)[0]
            self.counts[op] += 1
            getattr(self, "op_" + op)()
            if corrupt_at == self.opno:
                self.corrupt()
        self.opno = nops + 1
        self.note("final comparison")
        self.final()

    def corrupt(self):
        for name in self.names:
            p = self.path(1, name)
            if os.path.exists(p) and os.path.getsize(p) > 0:
                fd = os.open(p, os.O_RDWR)
                b = os.pread(fd, 1, 0)
                os.pwrite(fd, bytes([b[0] ^ 0x40]), 0)
                os.close(fd)
                self.note("(self-test: flipped byte 0 of %s in the test dir)" % name)
                return

    def final(self):
        for name in list(self.fds):
            self.close_pair(self.fds.pop(name), "final close " + name)
        for o in list(self.orphans):
            self.compare_whole(o[:2], o[2])
            self.close_pair(o[:2], "final close " + o[2])
        self.orphans = []
        self.both("final readdir", lambda s: sorted(os.listdir(self.dirs[s])))
        for name in self.names:
            self.both("final stat %s" % name, lambda s: os.stat(self.path(s, name)).st_size)

            def whole(s):
                with open(self.path(s, name), "rb") as f:
                    return f.read()
            self.both("final content of %s" % name, whole)

    def cleanup(self):
        for name in list(self.fds):
            for f in self.fds.pop(name):
                try:
                    os.close(f)
                except OSError:
                    pass
        for o in self.orphans:
            for f in o[:2]:
                try:
                    os.close(f)
                except OSError:
                    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("test_dir")
    ap.add_argument("ref_dir")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ops", type=int, default=1000)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--max-size", type=int, default=4 * MiB + 1000)
    ap.add_argument("--keep", action="store_true", help="keep the fsx-* directories")
    ap.add_argument("--corrupt-at", type=int, default=None, help=argparse.SUPPRESS)
    o = ap.parse_args()
    seed = o.seed if o.seed is not None else random.randrange(1 << 31)
    print("fsx: seed %d, %d ops, %d files, max size %d; test %s, reference %s" % (
        seed, o.ops, o.files, o.max_size, o.test_dir, o.ref_dir), flush=True)
    t0 = time.time()
    f = Fsx(o.test_dir, o.ref_dir, seed, o.files, o.max_size)
    try:
        f.run(o.ops, o.corrupt_at)
    except Mismatch as e:
        f.cleanup()
        print("fsx: MISMATCH at op %d (seed %d; replay with --seed %d --ops %d): %s" % (
            f.opno, seed, seed, o.ops, e), flush=True)
        print("fsx: last ops:\n" + "\n".join("    " + l for l in f.log), flush=True)
        print("fsx: directories kept: %s (test) %s (reference)" % (f.dirs[1], f.dirs[0]))
        return 1
    except Exception:  # an exception of the tester itself: still name seed and op
        f.cleanup()
        print("fsx: ERROR at op %d (seed %d); last ops:\n%s" % (
            f.opno, seed, "\n".join("    " + l for l in f.log)), flush=True)
        raise
    print("fsx: seed %d: %d ops OK in %.1f s (%s)" % (
        seed, o.ops, time.time() - t0,
        ", ".join("%s %d" % kv for kv in sorted(f.counts.items()))), flush=True)
    if not o.keep:
        for d in f.dirs:
            shutil.rmtree(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
