"""The namespace requests of issue 4 end to end on the wire (no CLI): rename, copy,
setrep, touch, update with chunk reuse (crc64 kept, shared chunks), search from metad's
index, and the trash (list, restore, empty, expiry releasing chunks), with their error
codes. Commits name allocated chunk ids without writing data: metad only keeps
metadata, which is what is checked here."""

import random
import time

import harness
import wire
from harness import check
from wire import msg

MiB = 1 << 20
W = wire


def ok(s, mtype, payload, what):
    err, text, rep = s.req(mtype, payload)
    check(err == 0, "%s: error %d %s" % (what, err, text))
    return rep


def fails(s, mtype, payload, code, what):
    err, text, _ = s.req(mtype, payload)
    check(err == code, "%s: expected error %d, got %d (%s)" % (what, code, err, text))
    check(text, "%s: no message with error %d" % (what, err))
    return text


def alloc(s, n):
    rep = ok(s, W.MSG_CLIENT_TO_META_ALLOC, msg((2, n), (3, 1)), "alloc")
    out = []
    for raw in rep.get(2, []):
        a = W.decode(raw)
        out.append((W.one(a, 1), W.one(a, 2)))
    check(len(out) == n, "alloc gave %d ids, not %d" % (len(out), n))
    return out


def chunk(cid, ver, length, crc32c, crc64, reuse=False):
    return msg((1, cid), (2, ver), (3, length), (4, crc32c), (6, reuse), (7, crc64))


def commit(s, path, chunks, size, overwrite=False, replicas=1):
    p = msg((2, path), (3, size), (4, replicas), (6, overwrite))
    for c in chunks:
        p += W.f_bytes(8, c)
    return s.req(W.MSG_CLIENT_TO_META_COMMIT, p)


def getfile(s, path):
    rep = ok(s, W.MSG_CLIENT_TO_META_GETFILE, msg((2, path)), "getfile " + path)
    return [{"id": W.one(l, 2), "crc64": W.one(l, 8), "goal": W.one(l, 9)}
            for l in (W.decode(r) for r in rep.get(3, []))]


def names(s, path):
    rep = ok(s, W.MSG_CLIENT_TO_META_LIST, msg((2, path)), "list " + path)
    return sorted(W.one(W.decode(e), 1, b"").decode() for e in rep.get(2, []))


def search(s, pattern, path="", glob=False, typ=0, limit=0, owner=""):
    rep = ok(s, W.MSG_CLIENT_TO_META_SEARCH,
             msg((2, pattern), (3, path), (4, glob), (5, owner), (10, typ), (11, limit)),
             "search " + pattern)
    hits = sorted(W.one(W.decode(h), 1, b"").decode() for h in rep.get(2, []))
    return hits, bool(W.one(rep, 3))


def trash_list(s):
    rep = ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 0)), "trash list")
    return [{"id": W.one(d, 1), "path": W.one(d, 2, b"").decode(),
             "name": W.one(W.decode(W.one(d, 5, b"")), 1, b"").decode()}
            for d in (W.decode(i) for i in rep.get(2, []))]


def test_rename_copy_touch(s):
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/d/sub"), (3, True)), "mkdir -p")
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/d/f1")), "touch new")
    ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/d/f1")), "touch existing")
    (a, va), (b, vb) = alloc(s, 2)
    err, text, _ = commit(s, "/d/big", [chunk(a, va, MiB, 11, 111), chunk(b, vb, 10, 22, 222)],
                          MiB + 10)
    check(err == 0, "commit: %d %s" % (err, text))
    locs = getfile(s, "/d/big")
    check([l["crc64"] for l in locs] == [111, 222], "crc64 not kept: %r" % locs)
    check(all(l["goal"] == 1 for l in locs), "goal not 1: %r" % locs)
    rep = ok(s, W.MSG_CLIENT_TO_META_COPY, msg((2, "/d/big"), (3, "/d/big2")), "copy")
    check(W.one(rep, 2) == 1 and W.one(rep, 3) == MiB + 10, "copy counts: %r" % rep)
    ok(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d/big2"), (3, "/d/sub/moved")), "rename")
    check(names(s, "/d/sub") == ["moved"], "rename target missing")
    check([l["id"] for l in getfile(s, "/d/sub/moved")] == [a, b], "copy does not share chunks")
    fails(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d"), (3, "/d/sub/x")), W.E_INVAL,
          "move a dir into itself")
    fails(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d/f1"), (3, "/d/sub/moved")), W.E_EXIST,
          "rename onto existing without overwrite")
    fails(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d/sub"), (3, "/d/f1"), (4, True)),
          W.E_NOTDIR, "rename a dir onto a file")
    fails(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/nope"), (3, "/x")), W.E_NOENT,
          "rename a missing entry")
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/full/x"), (3, True)), "mkdir /full/x")
    fails(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d"), (3, "/full"), (4, True)), W.E_NOTEMPTY,
          "rename onto a non-empty dir")
    ok(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d/f1"), (3, "/d/sub/moved"), (4, True)),
       "rename replacing a file")
    check(names(s, "/d") == ["big", "sub"], "after replace: %r" % names(s, "/d"))
    fails(s, W.MSG_CLIENT_TO_META_COPY, msg((2, "/d"), (3, "/d2")), W.E_ISDIR,
          "copy a dir without recursive")
    fails(s, W.MSG_CLIENT_TO_META_COPY, msg((2, "/d"), (3, "/d/sub/in"), (4, True)), W.E_INVAL,
          "copy a dir into itself")
    rep = ok(s, W.MSG_CLIENT_TO_META_COPY, msg((2, "/d"), (3, "/d2"), (4, True)), "copy -r")
    check(W.one(rep, 2) == 2 and W.one(rep, 3) == MiB + 10, "copy -r counts: %r" % rep)
    check(names(s, "/d2/sub") == ["moved"], "copy -r content")


def test_setrep_and_reuse(s):
    rep = ok(s, W.MSG_CLIENT_TO_META_SETREP, msg((2, "/d/big"), (3, 2)), "setrep")
    check(W.one(rep, 2) == 1, "setrep files")
    check(all(l["goal"] == 2 for l in getfile(s, "/d/big")), "goal not 2")
    fails(s, W.MSG_CLIENT_TO_META_SETREP, msg((2, "/d"), (3, 2)), W.E_ISDIR, "setrep on a dir")
    fails(s, W.MSG_CLIENT_TO_META_SETREP, msg((2, "/d/big"), (3, 0)), W.E_INVAL, "setrep 0")
    rep = ok(s, W.MSG_CLIENT_TO_META_SETREP, msg((2, "/d2"), (3, 3), (4, True)), "setrep -r")
    check(W.one(rep, 2) == 2, "setrep -r files: %r" % rep)
    old = getfile(s, "/d/big")
    a = old[0]["id"]
    (c, vc), = alloc(s, 1)
    va = 1
    err, text, _ = commit(s, "/d/big", [chunk(a, va, MiB, 11, 999, True), chunk(c, vc, 5, 3, 333)],
                          MiB + 5, overwrite=True)
    check(err == W.E_INVAL, "reuse with another crc64 accepted: %d %s" % (err, text))
    err, text, _ = commit(s, "/d/other", [chunk(a, va, MiB, 11, 111, True)], MiB)
    check(err == W.E_INVAL, "reuse of a chunk of another file accepted: %d %s" % (err, text))
    err, text, _ = commit(s, "/d/big", [chunk(a, va, MiB, 11, 111, True), chunk(c, vc, 5, 3, 333)],
                          MiB + 5, overwrite=True)
    check(err == 0, "update with reuse: %d %s" % (err, text))
    check([l["id"] for l in getfile(s, "/d/big")] == [a, c], "reused chunk list")
    check([l["id"] for l in getfile(s, "/d2/big")][0] == a, "shared chunk lost")


def test_search(s):
    for i in range(30):
        ok(s, W.MSG_CLIENT_TO_META_TOUCH, msg((2, "/d/sub/report-%02d.txt" % i)), "touch")
    hits, trunc = search(s, "report-1")
    check(hits == ["/d/sub/report-%02d.txt" % i for i in range(10, 20)] and not trunc,
          "substring search: %r" % hits)
    hits, _ = search(s, "report-?5.txt", glob=True)
    check(hits == ["/d/sub/report-05.txt", "/d/sub/report-15.txt", "/d/sub/report-25.txt"],
          "glob search: %r" % hits)
    hits, trunc = search(s, "report", limit=7)
    check(len(hits) == 7 and trunc, "limit/truncated: %d %r" % (len(hits), trunc))
    hits, _ = search(s, "sub", typ=2)
    check(hits == ["/d/sub", "/d2/sub"], "type=dirs: %r" % hits)
    hits, _ = search(s, "big", path="/d")
    check(hits == ["/d/big"], "search below /d: %r" % hits)
    ok(s, W.MSG_CLIENT_TO_META_RENAME, msg((2, "/d/sub/report-00.txt"), (3, "/d/renamed.dat")),
       "rename for search")
    hits, _ = search(s, "renamed")
    check(hits == ["/d/renamed.dat"], "renamed entry not found by its new name: %r" % hits)
    hits, _ = search(s, "report-00")
    check(hits == [], "old name still found: %r" % hits)
    fails(s, W.MSG_CLIENT_TO_META_SEARCH, msg((2, "x"), (3, "/d/big")), W.E_NOTDIR,
          "search below a file")


def test_trash(c, s):
    before = wire.cluster_overview(c.meta)["chunks"]
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/d2"), (3, True), (5, True)), "rm -r to trash")
    check("d2" not in names(s, "/"), "trashed dir still listed")
    check(search(s, "moved")[0] == ["/d/sub/moved"], "trashed entry still searchable")
    items = trash_list(s)
    check([(i["path"], i["name"]) for i in items] == [("/d2", "d2")], "trash list: %r" % items)
    ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 1), (3, items[0]["id"])), "restore")
    check(names(s, "/d2/sub") == ["moved"], "restored content")
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/d2"), (3, True), (5, True)), "rm again")
    item = trash_list(s)[0]["id"]
    ok(s, W.MSG_CLIENT_TO_META_MKDIR, msg((2, "/d2")), "mkdir over the old name")
    fails(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 1), (3, item)), W.E_EXIST, "restore onto existing")
    ok(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 1), (3, item), (4, "/d3")), "restore elsewhere")
    check(names(s, "/d3/sub") == ["moved"], "restore to another path")
    fails(s, W.MSG_CLIENT_TO_META_TRASH, msg((2, 2), (3, 9999)), W.E_NOENT, "empty a missing item")
    ok(s, W.MSG_CLIENT_TO_META_DELETE, msg((2, "/d/big"), (5, True)), "rm file to trash")
    check(wire.cluster_overview(c.meta)["chunks"] == before, "trash released chunks early")
    deadline = time.time() + 20
    while trash_list(s) and time.time() < deadline:
        time.sleep(0.2)
    check(not trash_list(s), "trash did not expire after trash.retention")
    after = wire.cluster_overview(c.meta)["chunks"]
    check(after == before - 1, "expiry did not release the unshared chunk: %d -> %d"
          % (before, after))


def test_odd_requests(c, s, seed):
    """Odd and garbage requests of the new types get an error reply, never a crash."""
    rng = random.Random(seed)
    print("odd requests: seed %d" % seed)
    types = [W.MSG_CLIENT_TO_META_RENAME, W.MSG_CLIENT_TO_META_COPY, W.MSG_CLIENT_TO_META_SETREP,
             W.MSG_CLIENT_TO_META_SEARCH, W.MSG_CLIENT_TO_META_TRASH, W.MSG_CLIENT_TO_META_TOUCH]
    for mtype in types:
        for payload in (b"", msg((2, "")), msg((2, "rel/path"), (3, "/x")), msg((2, "/"), (3, "/")),
                        msg((2, "/a//b"), (3, "/../x")), msg((2, "/" + "x" * 5000)),
                        msg((2, 9), (3, 2 ** 63), (4, True), (11, 2 ** 32 - 1))):
            with wire.connect(c.meta) as so:
                so.sendall(wire.frame(mtype, payload, req_id=4))
                rtype, _, _, rep, _ = wire.read_frame(so)
            check(rtype in (mtype + 1, wire.MSG_ERROR), "odd reply type %d" % rtype)
            err = wire.status_of(rep)[0] if rtype == mtype + 1 else -1
            check(err != 0 or mtype in (W.MSG_CLIENT_TO_META_SEARCH, W.MSG_CLIENT_TO_META_TRASH),
                  "type %d accepted %r" % (mtype, payload[:40]))
        for _ in range(20):
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
            with wire.connect(c.meta) as so:
                so.sendall(wire.frame(mtype, junk, req_id=5))
                rtype, _, _, _, _ = wire.read_frame(so)
                check(rtype in (mtype + 1, wire.MSG_ERROR), "odd reply type %d" % rtype)
    for pat in ("[", "[!", "\\", "*" * 200, "a" * 255):
        err, text, _ = s.req(W.MSG_CLIENT_TO_META_SEARCH, msg((2, pat), (4, True)))
        check(err == 0, "glob %r: %d %s" % (pat, err, text))
    err, _, _ = s.req(W.MSG_CLIENT_TO_META_SEARCH, msg((2, "a" * 300)))
    check(err == W.E_INVAL, "an over-long pattern is refused")
    err, _, _ = s.req(W.MSG_CLIENT_TO_META_TRASH, msg((2, 7)))
    check(err == W.E_INVAL, "unknown trash action refused")


def main(t):
    with t.cluster(chunkservers=1, name="meta-ns",
                   metad_args=("--set", "trash.retention=2s")) as c:
        s = wire.MetaSession(c.meta)
        try:
            t.case("rename, copy, touch and their errors", test_rename_copy_touch, s)
            t.case("setrep and update with chunk reuse", test_setrep_and_reuse, s)
            t.case("search: substring, glob, filters, limit, after rename", test_search, s)
            t.case("trash: list, restore, empty, expiry releases chunks", test_trash, c, s)
            t.case("odd and garbage requests get error replies", test_odd_requests, c, s,
                   int(time.time()))
        finally:
            s.close()


if __name__ == "__main__":
    harness.run(main)
