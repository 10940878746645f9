"""A file's client attributes (CommitReq.attrs -> Entry.attrs, issue 16) end to end on
the wire: there is no CLI flag for them (dfsgw sets them), so files are committed empty
(size 0, no chunks: no Alloc, no chunk writes) with raw CommitReqs. Checked: Stat, List,
GetFile, Search and trash items return the exact bytes; a commit without attrs replacing
the file leaves none; cp copies and mv keeps them; 2049 bytes are refused with
DFS_EINVAL and nothing changes; a directory whose listing with attrs would pass the
payload limit is DFS_ETOOBIG; they survive kill -9 (log replay), a restart from a raft
snapshot, and a failover to a follower of a 3-voter cluster."""

import os
import time

import harness
import wire
from harness import check
from wire import msg

W = wire
MAX = 2048


def ok(s, mtype, payload, what):
    err, text, rep = s.req(mtype, payload)
    check(err == 0, "%s: error %d %s" % (what, err, text))
    return rep


def commit_empty(s, path, attrs=b"", overwrite=False):
    """(error, message) of a CommitReq of an empty file at path with attrs."""
    err, text, _ = s.req(W.MSG_CLIENT_TO_META_COMMIT,
                         msg((2, path), (4, 1), (6, overwrite), (9, attrs)))
    return err, text


def entry_attrs(raw_entry):
    return W.one(W.decode(raw_entry), 10, b"")


def stat_attrs(s, path):
    rep = ok(s, W.MSG_CLIENT_TO_META_STAT, msg((2, path)), "stat " + path)
    return entry_attrs(W.one(rep, 2, b""))


def list_attrs(s, path):
    """{name: attrs} of a directory's List."""
    rep = ok(s, W.MSG_CLIENT_TO_META_LIST, msg((2, path)), "list " + path)
    out = {}
    for raw in rep.get(2, []):
        e = W.decode(raw)
        out[W.one(e, 1, b"").decode()] = W.one(e, 10, b"")
    return out


def attrs_bytes(tag, n):
    """n bytes naming tag, NULs and high bytes included (opaque to metad)."""
    base = tag.encode() + b"\x00\xff" + bytes(range(256))
    return (base * (n // len(base) + 1))[:n]


A = attrs_bytes("first", MAX)       # the largest allowed
B = b"\x00etag=\"abc\"\x00"         # small, NULs at both ends


def every_reader(c, s):
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/a"), (3, True)), "mkdir /a")
    err, text = commit_empty(s, "/a/obj", A)
    check(err == 0, "commit with %d bytes of attrs: %d %s" % (len(A), err, text))
    check(stat_attrs(s, "/a/obj") == A, "stat: attrs differ from what was committed")
    check(list_attrs(s, "/a") == {"obj": A}, "list: attrs differ")
    rep = ok(s, W.MSG_CLIENT_TO_META_GETFILE, msg((2, "/a/obj")), "getfile")
    check(entry_attrs(W.one(rep, 2, b"")) == A, "getfile's entry: attrs differ")
    rep = ok(s, W.MSG_CLIENT_TO_META_SEARCH, msg((2, "obj")), "search")
    hits = [W.decode(h) for h in rep.get(2, [])]
    check([W.one(h, 1, b"") for h in hits] == [b"/a/obj"], "search hits: %r" % hits)
    check(entry_attrs(W.one(hits[0], 2, b"")) == A, "search hit: attrs differ")
    # directories have none
    check(stat_attrs(s, "/a") == b"", "a directory has attrs")
    # the CLI shows such a file like any other
    check("obj" in c.dfs_ok("ls", "/a"), "dfs ls does not show /a/obj")


def replace_copy_move(c, s):
    err, text = commit_empty(s, "/a/obj", B, overwrite=True)
    check(err == 0, "replace with other attrs: %d %s" % (err, text))
    check(stat_attrs(s, "/a/obj") == B, "replaced file does not have the new attrs")
    err, text = commit_empty(s, "/a/obj", overwrite=True)
    check(err == 0, "replace without attrs: %d %s" % (err, text))
    check(stat_attrs(s, "/a/obj") == b"", "a commit without attrs left the old ones")
    err, text = commit_empty(s, "/a/obj", A, overwrite=True)
    check(err == 0, "replace with attrs again: %d %s" % (err, text))
    c.dfs_ok("cp", "/a/obj", "/a/copy")
    check(stat_attrs(s, "/a/copy") == A, "cp did not copy the attrs")
    c.dfs_ok("mv", "/a/copy", "/a/moved")
    check(stat_attrs(s, "/a/moved") == A, "mv did not keep the attrs")
    c.dfs_ok("mkdir", "/b")
    c.dfs_ok("cp", "-r", "/a", "/b/a")
    check(list_attrs(s, "/b/a") == {"obj": A, "moved": A}, "cp -r: %r" % {
        k: len(v) for k, v in list_attrs(s, "/b/a").items()})
    # trash: the item shows them, restore keeps them
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/a/moved"), (5, True)), "rm to trash")
    rep = ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 0)), "trash list")
    items = [W.decode(i) for i in rep.get(2, [])]
    mine = [i for i in items if W.one(i, 2, b"") == b"/a/moved"]
    check(len(mine) == 1, "trash list: %r" % items)
    check(entry_attrs(W.one(mine[0], 5, b"")) == A, "trash item: attrs differ")
    ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 1), (3, W.one(mine[0], 1))), "trash restore")
    check(stat_attrs(s, "/a/moved") == A, "restore from the trash lost the attrs")


def too_big_refused(c, s):
    before = list_attrs(s, "/a")
    files = c.overview()["files"]
    for path, ow in (("/a/obj", True), ("/a/new", False)):
        err, text = commit_empty(s, path, attrs_bytes("big", MAX + 1), overwrite=ow)
        check(err == W.E_INVAL, "2049 bytes of attrs: expected %d, got %d (%s)"
              % (W.E_INVAL, err, text))
        check("2048" in text and "attributes" in text, "refusal does not say why: " + text)
    check(list_attrs(s, "/a") == before, "a refused commit changed /a")
    check(c.overview()["files"] == files, "a refused commit created a file")


def big_listing(c, s):
    """300 files with the largest attrs (~630 KB of reply): List returns every byte."""
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/many"), (3, True)), "mkdir /many")
    want = {}
    for i in range(300):
        name = "o%03d" % i
        want[name] = attrs_bytes(name, MAX)
        err, text = commit_empty(s, "/many/" + name, want[name])
        check(err == 0, "commit %s: %d %s" % (name, err, text))
    got = list_attrs(s, "/many")
    check(got == want, "list of 300 files: %d entries, %d with the right attrs"
          % (len(got), sum(got.get(k) == v for k, v in want.items())))
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/many"), (3, True)), "rm -r /many")


def pipelined_commits(s, paths_attrs, batch=200):
    """Commits of empty files, `batch` in flight at a time on session s's socket."""
    items = list(paths_attrs)
    for k in range(0, len(items), batch):
        part = items[k:k + batch]
        for i, (path, attrs) in enumerate(part):
            s.sock.sendall(W.frame(W.MSG_CLIENT_TO_META_COMMIT,
                                   msg((2, path), (4, 1), (9, attrs)), req_id=10 ** 6 + k + i))
        for _ in part:
            rtype, _, rid, rep, _ = W.read_frame(s.sock)
            err, text = W.status_of(rep)
            check(rtype == W.MSG_CLIENT_TO_META_COMMIT + 1 and err == 0,
                  "pipelined commit %d: type %d error %d %s" % (rid, rtype, err, text))


def listing_budget(c):
    """Attrs count against List's payload budget: a directory whose entries with their
    attrs exceed 32 MiB is DFS_ETOOBIG with a message naming the attrs' share, never a
    reply past the limit; search stays within it (truncated)."""
    s = W.MetaSession(c.meta, timeout=60)
    try:
        ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/big"), (3, True)), "mkdir /big")
        n = 14800  # x (2048 attrs + 200 name + ~40) > 32 MiB
        pipelined_commits(s, (("/big/%05d%s" % (i, "n" * 195), attrs_bytes(str(i), MAX))
                              for i in range(n)))
        err, text, _ = s.req(W.MSG_CLIENT_TO_META_LIST, msg((2, "/big")))
        check(err == -11, "list of %d files with 2 KiB attrs: expected DFS_ETOOBIG, got %d %s"
              % (n, err, text))
        check("client attributes" in text and "%d entries" % n in text,
              "the refusal does not explain itself: " + text)
        rep = ok(s, W.MSG_CLIENT_TO_META_SEARCH, msg((2, "nnnn"), (11, 100000)), "search")
        hits = rep.get(2, [])
        check(0 < len(hits) < n and W.one(rep, 3), "search: %d hits, truncated %r"
              % (len(hits), W.one(rep, 3)))
        ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/big"), (3, True)), "rm -r /big")
    finally:
        s.close()


def survive_kill9(c, s):
    s.close()
    c.restart(c.metad)  # kill -9: the commits come back from the raft log
    s2 = W.MetaSession(c.meta)
    try:
        check(stat_attrs(s2, "/a/obj") == A, "after kill -9: attrs of /a/obj differ")
        check(list_attrs(s2, "/a") == {"obj": A, "moved": A}, "after kill -9: list differs")
    finally:
        s2.close()


def snapshots_of(c):
    d = os.path.join(c.dir, "metad")
    return [n for n in os.listdir(d) if n.startswith("snapshot-") and not n.endswith(".meta")]


def survive_snapshot(c):
    s = W.MetaSession(c.meta)
    try:
        err, text = commit_empty(s, "/a/snap", B)
        check(err == 0, "commit: %d %s" % (err, text))
        before = snapshots_of(c)
        for i in range(150):  # > raft.snapshot_threshold entries after the commit
            ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/s/d%03d" % i), (3, True)), "mkdir")
        deadline = time.time() + 10
        while snapshots_of(c) == before and time.time() < deadline:
            time.sleep(0.1)
        check(snapshots_of(c) != before, "no new raft snapshot after 150 entries")
    finally:
        s.close()
    c.restart(c.metad)  # loads the snapshot (the commit is older than its index)
    s = W.MetaSession(c.meta)
    try:
        check(stat_attrs(s, "/a/snap") == B, "after a snapshot restart: /a/snap differs")
        check(stat_attrs(s, "/a/obj") == A, "after a snapshot restart: /a/obj differs")
        check(stat_attrs(s, "/b/a/obj") == A, "after a snapshot restart: /b/a/obj differs")
    finally:
        s.close()


def failover(c):
    li = c.leader()
    s = W.MetaSession(c.meta_addrs[li])
    try:
        ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/ha"), (3, True)), "mkdir /ha")
        err, text = commit_empty(s, "/ha/obj", A)
        check(err == 0, "commit on the leader: %d %s" % (err, text))
    finally:
        s.close()
    c.metads[li].kill9()
    nl = c.leader(timeout=30, exclude=(li,))
    s = W.MetaSession(c.meta_addrs[nl])
    try:
        check(stat_attrs(s, "/ha/obj") == A, "the new leader does not have the attrs")
    finally:
        s.close()
    c.metads[li].start()  # back as a follower (teardown wants every daemon up, and its
    deadline = time.time() + 30  # signal handlers installed: wait until it answers)
    while True:
        try:
            c.overview(i=li, timeout=2.0)
            break
        except (OSError, ValueError):
            check(time.time() < deadline, "metad-%d did not come back" % (li + 1))
            time.sleep(0.1)
    c.leader(timeout=30)


def main(t):
    with t.cluster(chunkservers=1, name="attrs",
                   metad_args=["--set", "raft.snapshot_threshold=64",
                               "--set", "raft.snapshot_trailing=32"]) as c:
        s = W.MetaSession(c.meta)
        try:
            t.case("stat, list, getfile, search return the committed attrs", every_reader, c, s)
            t.case("replace, cp, mv, trash and restore", replace_copy_move, c, s)
            t.case("2049 bytes refused, nothing changed", too_big_refused, c, s)
            t.case("300 files with 2 KiB attrs list in full", big_listing, c, s)
        finally:
            s.close()
        s = W.MetaSession(c.meta)
        t.case("attrs survive kill -9 (log replay)", survive_kill9, c, s)
        t.case("attrs survive a restart from a raft snapshot", survive_snapshot, c)
    with t.cluster(chunkservers=1, name="attrs-list") as c:
        t.case("List counts attrs in its payload budget", listing_budget, c)
    with t.cluster(chunkservers=1, name="attrs-ha", metads=3,
                   metad_args=["--set", "raft.election_timeout=300ms",
                               "--set", "raft.heartbeat_timeout=50ms"]) as c:
        t.case("a follower that becomes leader has the attrs", failover, c)


if __name__ == "__main__":
    harness.run(main)
