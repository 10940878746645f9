"""metad's support for dfs mount: symbolic links (SymlinkReq, ENTRY_SYMLINK), explicit
mtimes (TouchReq.mtime_ns) and the change feed (WatchReq), end to end on the wire and
with the CLI (dfs ln -s, ls -l, stat). Hostile cases: targets too long, empty or with a
NUL byte, a link over an existing path, a link in another user's directory, an explicit
mtime on another user's file, a negative mtime, Watch from far in the future (overflow),
Watch by a user who must not learn another user's private names. Links survive a
restart from a raft snapshot; the feed's epoch changes with the restart."""

import os
import time

import harness
import wire
from harness import check
from wire import msg

W = wire
MSG_SYMLINK = W.MSG_CLIENT_TO_META_SYMLINK
MSG_WATCH = W.MSG_CLIENT_TO_META_WATCH
PW = {"alice": "alice-pw-5eb1f00d", "bob": "bob-pw-0b0b0b0b"}


def ok(s, mtype, payload, what):
    err, text, rep = s.req(mtype, payload)
    check(err == 0, "%s: error %d %s" % (what, err, text))
    return rep


def symlink(s, path, target, rid=0):
    err, text, _ = s.req(MSG_SYMLINK, msg((2, path), (3, target), (4, rid)))
    return err, text


def stat(s, path):
    """The decoded Entry of path, or None if it does not exist."""
    err, text, rep = s.req(W.MSG_CLIENT_TO_META_STAT, msg((2, path)))
    if err == W.E_NOENT:
        return None
    check(err == 0, "stat %s: %d %s" % (path, err, text))
    return W.decode(W.one(rep, 2, b""))


def watch(s, since):
    """(epoch, next, [paths], overflow) of a WatchReq."""
    err, text, rep = s.req(MSG_WATCH, msg((2, since)))
    check(err == 0, "watch: %d %s" % (err, text))
    return (W.one(rep, 2), W.one(rep, 3), [p.decode() for p in rep.get(4, [])],
            bool(W.one(rep, 5)))


def symlinks(c, s):
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/l"), (3, True)), "mkdir /l")
    err, text = symlink(s, "/l/link", "../data/current")
    check(err == 0, "symlink: %d %s" % (err, text))
    e = stat(s, "/l/link")
    check(W.one(e, 2) == 2, "stat type %r, expected ENTRY_SYMLINK" % W.one(e, 2))
    check(W.one(e, 11, b"") == b"../data/current", "target %r" % W.one(e, 11, b""))
    check(W.one(e, 3) == len("../data/current"), "size %r" % W.one(e, 3))
    check(W.one(e, 5) == 0o777, "mode %o" % W.one(e, 5))
    # the CLI: ls -l, stat, ln -s
    out = c.dfs_ok("ls", "-l", "/l")
    check("link -> ../data/current" in out and out.lstrip().startswith("l"),
          "ls -l: %r" % out)
    out = c.dfs_ok("stat", "/l/link")
    check("symbolic link" in out and "../data/current" in out, "stat: %r" % out)
    c.dfs_ok("ln", "-s", "/abs/target with space", "/l/cli")
    check(W.one(stat(s, "/l/cli"), 11, b"") == b"/abs/target with space", "dfs ln -s target")
    line = c.dfs_fails("ln", "-s", "x", "/l/cli")
    check("exist" in line, "ln -s over an existing link: %r" % line)
    # GetFile: a clear refusal
    err, text, _ = s.req(W.MSG_CLIENT_TO_META_GETFILE, msg((2, "/l/link")))
    check(err == W.E_INVAL and "symbolic link" in text, "getfile: %d %s" % (err, text))
    line = c.dfs_fails("get", "/l/link", c.scratch("got"))
    check("symbolic link" in line, "dfs get of a link: %r" % line)
    rc, _, err = c.dfs("get", "-r", "/l", c.scratch("lget"))  # a directory: links skipped
    check(rc == 0 and "symbolic link, skipped" in err, "dfs get of a dir: %d %r" % (rc, err))
    # a link is not a directory on the way
    err, text, _ = s.req(W.MSG_CLIENT_TO_META_STAT, msg((2, "/l/link/x")))
    check(err == W.E_NOTDIR, "stat through a link: %d %s" % (err, text))
    # list, search, rename, copy, chmod, trash and restore, delete
    names = [W.one(W.decode(r), 1, b"").decode() for r in
             ok(s, W.MSG_CLIENT_TO_META_LIST, msg((2, "/l")), "list").get(2, [])]
    check(names == ["cli", "link"], "list: %r" % names)
    rep = ok(s, W.MSG_CLIENT_TO_META_SEARCH, msg((2, "link"), (3, "/l")), "search")
    check(len(rep.get(2, [])) == 1, "search hits: %r" % rep.get(2))
    ok(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/l/link"), (3, "/l/moved"), (5, 7001)), "mv")
    check(stat(s, "/l/link") is None and W.one(stat(s, "/l/moved"), 11, b"") ==
          b"../data/current", "rename moved the link")
    ok(s, W.MSG_CLIENT_TO_META_COPY, msg((2, "/l/moved"), (3, "/l/copy"), (6, 7002)), "cp")
    check(W.one(stat(s, "/l/copy"), 2) == 2, "the copy is a link")
    ok(s, W.MSG_CLIENT_TO_META_CHMOD, msg((2, "/l/copy"), (3, 0o700), (4, 7003)), "chmod")
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/l/copy"), (4, 7004), (5, True)), "rm to trash")
    check(stat(s, "/l/copy") is None, "trashed link still there")
    items = ok(s, W.MSG_CLIENT_TO_META_TRASH, b"", "trash ls").get(2, [])
    ids = [W.one(W.decode(i), 1) for i in items
           if W.one(W.decode(i), 2, b"") == b"/l/copy"]
    check(ids, "no trash item for /l/copy: %r" % items)
    ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 1), (3, ids[-1]), (5, 7005)), "trash restore")
    check(W.one(stat(s, "/l/copy"), 11, b"") == b"../data/current", "restored link")
    # commit with overwrite replaces a link like a file; without, EEXIST
    err, text, _ = s.req(W.MSG_CLIENT_TO_META_COMMIT, msg((2, "/l/copy"), (4, 1), (7, 7006)))
    check(err == W.E_EXIST, "commit over a link without overwrite: %d %s" % (err, text))
    ok(s, W.MSG_CLIENT_TO_META_COMMIT, msg((2, "/l/copy"), (4, 1), (6, True), (7, 7007)),
       "commit over a link")
    check(W.one(stat(s, "/l/copy"), 2) == 0, "the commit made a file")
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/l/d/e"), (3, True)), "mkdir")
    err, text = symlink(s, "/l/d/e/in", "t")
    check(err == 0, "symlink in a subdir: %d %s" % (err, text))
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/l/d"), (3, True), (4, 7008)), "rm -r")
    check(stat(s, "/l/d") is None, "rm -r left the dir")


def hostile_targets(c, s):
    before = stat(s, "/l")
    cases = [("too long", "x" * 4096), ("empty", ""), ("with a NUL", "a\x00b")]
    for what, target in cases:
        err, text, _ = s.req(MSG_SYMLINK, W.f_bytes(2, "/l/bad") + W.f_bytes(3, target))
        check(err == W.E_INVAL and text, "target %s: %d %s" % (what, err, text))
        check(stat(s, "/l/bad") is None, "target %s: a link was made" % what)
    err, text = symlink(s, "/l/" + "y" * 200, "z" * 4095)  # the longest allowed
    check(err == 0, "a 4095-byte target: %d %s" % (err, text))
    err, text = symlink(s, "/l/moved", "elsewhere")
    check(err == W.E_EXIST, "symlink over an existing link: %d %s" % (err, text))
    err, text = symlink(s, "/l", "elsewhere")
    check(err == W.E_EXIST, "symlink over a directory: %d %s" % (err, text))
    err, text = symlink(s, "/l/../x", "t")
    check(err != 0 and stat(s, "/x") is None, "a path with '..': %d %s" % (err, text))
    check(W.one(stat(s, "/l/moved"), 11, b"") == b"../data/current", "the link changed")
    check(W.one(stat(s, "/l"), 3) == W.one(before, 3) + 1, "entries in /l changed")


def explicit_mtime(c, s):
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/l/t1"), (6, 123456789)), "touch new with mtime")
    check(W.one(stat(s, "/l/t1"), 4) == 123456789, "a new file's mtime")
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/l/moved"), (6, 5 * 10**18)), "touch a link")
    check(W.one(stat(s, "/l/moved"), 4) == 5 * 10**18, "a link's mtime")
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/l"), (6, 42)), "touch a dir")
    check(W.one(stat(s, "/l"), 4) == 42, "a directory's mtime")
    t0 = time.time_ns()
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/l/t1")), "touch to now")
    check(W.one(stat(s, "/l/t1"), 4) >= t0 - 10**9, "touch without mtime: now")
    err, text, _ = s.req(W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/l/t1"), (6, -5)))
    check(err == W.E_INVAL and "negative" in text, "negative mtime: %d %s" % (err, text))


def watch_feed(c, s):
    epoch, nxt, paths, over = watch(s, 0)
    check(epoch != 0 and nxt >= 1 and paths == [] and not over, "first watch: %r" %
          ((epoch, nxt, paths, over),))
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/w/a/b"), (3, True)), "mkdir -p")
    err, _ = symlink(s, "/w/a/lnk", "t")
    check(err == 0, "symlink")
    ok(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/w/a/lnk"), (3, "/w/lnk2"), (5, 8001)), "mv")
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/w/f"), (4, 8002)), "touch")
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/w/a"), (3, True), (4, 8003)), "rm -r")
    e2, n2, paths, over = watch(s, nxt)
    check(e2 == epoch and not over, "epoch or overflow changed: %r" % ((e2, over),))
    check(paths == ["/w", "/w/a/lnk", "/w/a/lnk", "/w/lnk2", "/w/f", "/w/a"],
          "changes: %r" % paths)
    _, n3, paths, over = watch(s, n2)
    check(paths == [] and n3 == n2 and not over, "nothing new: %r" % ((n3, paths, over),))
    _, n4, paths, over = watch(s, n2 + 10**12)
    check(over and paths == [] and n4 == n2, "since far in the future: %r" %
          ((n4, paths, over),))
    _, _, paths, over = watch(s, 1)  # the ring still holds the start
    check(not over, "since = 1 overflowed on a young ring")
    # more than a reply's worth: 1024 per reply, the rest on the next call
    payload = b"".join(W.frame(W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/w/m%04d" % i), (5, 9000 + i)),
                               req_id=100000 + i) for i in range(1100))
    s.sock.sendall(payload)
    for i in range(1100):
        rtype, _, _, rep, _ = W.read_frame(s.sock)
        check(W.status_of(rep)[0] == 0, "pipelined mkdir %d: %r" % (i, W.status_of(rep)))
    _, n5, paths, over = watch(s, n3)
    check(len(paths) == 1024 and not over, "first page: %d paths" % len(paths))
    _, n6, paths2, over = watch(s, n5)
    check(len(paths2) == 76 and paths2[-1] == "/w/m1099", "second page: %d" % len(paths2))


def auth_cases(c):
    for u in ("alice", "bob"):
        c.register(u, PW[u])
        c.login(u, PW[u])
        c.dfs_as_ok(u, "stat", "~")  # the first request makes /home/<u>
    a = W.MetaSession(c.meta, token=c.tokens["alice"])
    b = W.MetaSession(c.meta, token=c.tokens["bob"])
    try:
        _, start, _, _ = watch(a, 0)
        # bob's home is private (0700, then 0711: alice may pass, not list), secret-plans
        # too (0700); pub is shared (0777)
        ok(b, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/home/bob/secret-plans"), (4, 0o700), (5, 1)),
           "mkdir")
        ok(b, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/home/bob/secret-plans/q3.txt"), (4, 2)),
           "touch")
        err, text = symlink(b, "/home/bob/hidden-link", "t", 3)
        check(err == 0, "bob's own symlink: %d %s" % (err, text))
        ok(b, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/home/bob/pub/doc"), (3, True), (5, 4)), "mkdir")
        ok(b, W.MSG_CLIENT_TO_META_CHMOD, msg((2, "/home/bob"), (3, 0o711), (4, 5)), "chmod")
        ok(b, W.MSG_CLIENT_TO_META_CHMOD, msg((2, "/home/bob/pub"), (3, 0o777), (4, 6)), "chmod")
        ok(b, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/home/bob/pub/f"), (3, 0o666), (4, 7)), "touch")
        # alice: a link in bob's directory, an explicit mtime on bob's file
        err, text = symlink(a, "/home/bob/evil", "t", 11)
        check(err == W.E_PERM, "alice's link in bob's home: %d %s" % (err, text))
        err, text = symlink(a, "/home/bob/secret-plans/evil", "t", 12)
        check(err == W.E_PERM, "alice's link in bob's private dir: %d %s" % (err, text))
        m0 = W.one(stat(b, "/home/bob/pub/f"), 4)
        err, text, _ = a.req(W.MSG_CLIENT_TO_META_TOUCH,
                             msg((2, "/home/bob/pub/f"), (4, 13), (6, 1000)))
        check(err == W.E_PERM and "owner" in text, "alice sets bob's mtime: %d %s" % (err, text))
        check(W.one(stat(b, "/home/bob/pub/f"), 4) == m0, "bob's mtime changed")
        # (touch to now keeps its rule: w on the file, and bob's dir is writable)
        ok(a, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/home/bob/pub/f"), (4, 14)), "touch to now")
        ok(b, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/home/bob/pub/f"), (4, 15), (6, 777)), "own")
        check(W.one(stat(b, "/home/bob/pub/f"), 4) == 777, "bob's explicit mtime")
        # alice's feed: the shared dir's changes, never the private names
        _, _, paths, over = watch(a, start)
        check(not over, "alice's watch overflowed")
        leaked = [p for p in paths if "secret" in p or "hidden" in p]
        check(not leaked, "alice learned bob's private names: %r" % leaked)
        check("/home/bob/pub/f" in paths, "alice's feed lacks the shared file: %r" % paths)
        # bob sees his own; the admin sees all
        _, _, paths, _ = watch(b, start)
        check("/home/bob/secret-plans/q3.txt" in paths and "/home/bob/hidden-link" in paths,
              "bob's feed: %r" % paths)
        adm = W.MetaSession(c.meta, token=c.admin_token)
        try:
            _, _, paths, _ = watch(adm, start)
            check("/home/bob/secret-plans" in paths, "admin's feed: %r" % paths)
        finally:
            adm.close()
    finally:
        a.close()
        b.close()


def snapshots_of(c):
    d = os.path.join(c.dir, "metad")
    return [n for n in os.listdir(d) if n.startswith("snapshot-") and not n.endswith(".meta")]


def survive_snapshot(c):
    s = W.MetaSession(c.meta)
    try:
        epoch, _, _, _ = watch(s, 0)
        err, text = symlink(s, "/l/snap", "kept/across/restarts")
        check(err == 0, "symlink: %d %s" % (err, text))
        before = snapshots_of(c)
        for i in range(150):  # > raft.snapshot_threshold entries after the link
            ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/s/d%03d" % i), (3, True)), "mkdir")
        deadline = time.time() + 10
        while snapshots_of(c) == before and time.time() < deadline:
            time.sleep(0.1)
        check(snapshots_of(c) != before, "no new raft snapshot after 150 entries")
    finally:
        s.close()
    c.restart(c.metad)  # loads the snapshot (the link is older than its index)
    s = W.MetaSession(c.meta)
    try:
        for path, target in (("/l/snap", b"kept/across/restarts"),
                             ("/l/moved", b"../data/current")):
            e = stat(s, path)
            check(e is not None and W.one(e, 2) == 2 and W.one(e, 11, b"") == target,
                  "after a snapshot restart: %s is %r" % (path, e))
        e2, _, _, _ = watch(s, 0)
        check(e2 != epoch, "the feed's epoch did not change with the restart")
    finally:
        s.close()


def main(t):
    with t.cluster(chunkservers=1, name="symlinks",
                   metad_args=["--set", "raft.snapshot_threshold=64",
                               "--set", "raft.snapshot_trailing=32"]) as c:
        s = W.MetaSession(c.meta)
        try:
            t.case("symlinks: make, stat, ls, get, mv, cp, trash, commit over", symlinks, c, s)
            t.case("hostile targets and paths refused, nothing changed", hostile_targets, c, s)
            t.case("touch with an explicit mtime", explicit_mtime, c, s)
            t.case("the change feed", watch_feed, c, s)
        finally:
            s.close()
        t.case("symlinks survive a restart from a raft snapshot", survive_snapshot, c)
    with t.cluster(chunkservers=1, name="symlinks-auth", auth=True) as c:
        t.case("permissions: links, mtimes and the feed between users", auth_cases, c)


if __name__ == "__main__":
    harness.run(main)
