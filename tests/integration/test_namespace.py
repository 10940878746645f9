"""Every namespace command of the CLI on a real cluster: mkdir -p, rmdir, rm (to the
trash, -r, --skip-trash), ls -l/-R/--json, tree, touch, cat, stat/info (--json, per-chunk
servers), mv (across directories, onto an existing name, -n, into itself), cp -r of a
deep tree (shared chunks, independent afterwards), chmod, setrep, search (substring,
glob, filters, --json), trash ls/restore/empty, 8 concurrent clients creating in one
directory, help texts, and every error path (not found, exists, not a directory, not
empty, permission denied) with one `dfs: CMD: ...` line and exit 1 (usage: exit 2)."""

import json
import os
import random
import subprocess
import threading

import harness
from harness import MiB, check

SEED = int(os.environ.get("DFS_TEST_SEED", "4242"))


def lines(out):
    return [l for l in out.splitlines() if l.strip()]


def usage_fails(c, *args):
    rc, out, err = c.dfs(*args)
    check(rc == 2, "dfs %s: expected exit 2 (usage), got %d: %r" % (" ".join(args), rc, err))
    check(err.startswith("dfs: "), "usage error should start with 'dfs: ': %r" % err)


def test_dirs(c):
    c.dfs_ok("mkdir", "-p", "/a/b/c/d")
    check(lines(c.dfs_ok("ls", "/a/b")) == ["c/"], "ls /a/b after mkdir -p")
    c.dfs_ok("mkdir", "-p", "/a/b/c/d")  # -p accepts an existing directory
    e = c.dfs_fails("mkdir", "/a/b")
    check("exist" in e and e.startswith("dfs: mkdir: "), "mkdir existing: %r" % e)
    e = c.dfs_fails("mkdir", "/nope/x")
    check("nope" in e and ("exist" in e or "not found" in e), "mkdir without parent: %r" % e)
    e = c.dfs_fails("rmdir", "/a/b")
    check("not empty" in e and e.startswith("dfs: rmdir: "), "rmdir non-empty: %r" % e)
    c.dfs_ok("rmdir", "/a/b/c/d")
    check(lines(c.dfs_ok("ls", "/a/b/c")) == [], "rmdir left d")
    c.dfs_ok("touch", "/a/f")
    e = c.dfs_fails("rmdir", "/a/f")
    check("not a directory" in e, "rmdir of a file: %r" % e)
    e = c.dfs_fails("rmdir", "/missing")
    check("missing" in e and ("not found" in e or "exist" in e), "rmdir missing: %r" % e)
    e = c.dfs_fails("mkdir", "/a/f/sub")
    check("not a directory" in e, "mkdir under a file: %r" % e)
    e = c.dfs_fails("ls", "/a/f/x")
    check("not a directory" in e or "not found" in e, "ls below a file: %r" % e)
    # a bad path says which rule it broke
    e = c.dfs_fails("mkdir", "/a/" + "n" * 256)
    check("invalid path: path component longer than 255 bytes" in e, "long name: %r" % e)
    e = c.dfs_fails("mkdir", "/a/b\x01c")
    check("control characters" in e, "control character: %r" % e)
    e = c.dfs_fails("mkdir", "/" + "d/" * 2100)
    check("longer than 4096 bytes" in e, "long path: %r" % e)


def test_files(c):
    c.dfs_ok("touch", "/t1", "/t2")
    st = json.loads(c.dfs_ok("stat", "--json", "/t1"))
    check(st["type"] == "file" and st["size"] == 0 and st["path"] == "/t1", "stat --json %r" % st)
    local = c.scratch("small")
    digest = harness.make_file(local, 3 * MiB + 5, seed=SEED)
    c.dfs_ok("put", local, "/small")
    rc, out, err = c.dfs("cat", "/small")
    check(rc == 0, "cat: %s" % err)
    with open(local, "rb") as f:
        want = f.read()
    r = subprocess.run([os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "cat", "/small"],
                       capture_output=True)
    check(r.returncode == 0 and r.stdout == want, "cat content differs")
    info = json.loads(c.dfs_ok("info", "--json", "/small"))
    check(info["size"] == 3 * MiB + 5 and info["chunks"] == 4, "info size/chunks %r" % info)
    ch = info["chunks_detail"]
    check(len(ch) == 4 and [x["index"] for x in ch] == [0, 1, 2, 3], "info chunks %r" % ch)
    check(all(len(x["servers"]) == 2 and all(":" in s for s in x["servers"]) for x in ch),
          "each chunk on 2 servers host:port: %r" % ch)
    check(ch[3]["size"] == 5 and len(ch[0]["crc32c"]) == 8, "chunk size/crc %r" % ch[3])
    text = c.dfs_ok("info", "/small")
    for word in ("size:", "owner:", "mode:", "mtime:", "goal:", "crc32c", "servers"):
        check(word in text, "info text lacks %r: %s" % (word, text))
    e = c.dfs_fails("info", "/nothing")
    check(e.startswith("dfs: info: ") and "nothing" in e, "info missing: %r" % e)
    e = c.dfs_fails("cat", "/a")
    check("director" in e, "cat of a directory: %r" % e)
    # chmod, ls -l, --json
    c.dfs_ok("chmod", "600", "/small")
    ent = json.loads(c.dfs_ok("ls", "--json", "/"))
    names = {x["name"]: x for x in ent["entries"]}
    check(names["small"]["mode"] == "0600" and names["a"]["type"] == "dir", "ls --json %r" % ent)
    rl = json.loads(c.dfs_ok("ls", "-R", "--json", "/a"))
    check([d["path"] for d in rl["dirs"]] == ["/a", "/a/b", "/a/b/c"], "ls -R --json %r" % rl)
    out = lines(c.dfs_ok("ls", "-l", "/"))
    col = [l.index("small") for l in out if l.endswith("small")] + \
          [l.index("t1") for l in out if l.endswith("t1")]
    check(len(col) == 2 and col[0] == col[1], "ls -l columns not aligned: %r" % out)
    # setrep
    out = c.dfs_ok("setrep", "/small", "3")
    check("3" in out, "setrep output %r" % out)
    info = json.loads(c.dfs_ok("info", "--json", "/small"))
    check(info["replicas"] == 3 and all(x["goal"] == 3 for x in info["chunks_detail"]),
          "setrep goal not 3: %r" % info)
    usage_fails(c, "setrep", "/small", "zero")
    return digest


def test_tree(c):
    out = c.dfs_ok("tree", "/a")
    check("└── " in out or "├── " in out, "tree has no box characters: %r" % out)
    check("b/" in out and "c/" in out and "f" in out, "tree misses entries: %r" % out)
    check("directories" in out or "directory" in out, "tree lacks the count: %r" % out)


def make_deep(c, root, depth, digest_local):
    path = root
    for i in range(depth):
        path += "/d%d" % i
    c.dfs_ok("mkdir", "-p", path)
    c.dfs_ok("put", digest_local, path + "/leaf")
    c.dfs_ok("touch", root + "/d0/top")
    return path


def test_mv_cp_rm(c, digest):
    local = c.scratch("small")
    deep = make_deep(c, "/deep", 12, local)
    # cp -r of a deep tree: metadata only; then independent
    out = c.dfs_ok("cp", "-r", "/deep", "/deep2")
    check("2 files" in out, "cp -r reports files: %r" % out)
    leaf2 = deep.replace("/deep", "/deep2", 1) + "/leaf"
    c.get_check(leaf2, digest)
    other = c.scratch("other")
    d2 = harness.make_file(other, 2 * MiB, seed=SEED + 1)
    c.dfs_ok("put", other, leaf2)
    c.get_check(leaf2, d2)
    c.get_check(deep + "/leaf", digest)  # the original is unchanged
    e = c.dfs_fails("cp", "/deep", "/deep3")
    check("director" in e and "-r" in e, "cp of a dir without -r: %r" % e)
    e = c.dfs_fails("cp", "-n", "/small", "/t1")
    check("exist" in e, "cp -n onto existing: %r" % e)
    # mv of a deep tree, across directories, into a directory
    c.dfs_ok("mkdir", "/moved")
    c.dfs_ok("mv", "/deep", "/moved/")
    check(lines(c.dfs_ok("ls", "/moved")) == ["deep/"], "mv into dir")
    c.get_check("/moved" + deep + "/leaf", digest)
    e = c.dfs_fails("mv", "/moved", "/moved/deep/d0/inner")
    check("itself" in e or "inside" in e or "below" in e or "into" in e, "mv into itself: %r" % e)
    # rename onto an existing name: replaced atomically; -n refuses
    c.dfs_ok("mv", "/t2", "/t1")
    check("t2" not in lines(c.dfs_ok("ls", "/")), "t2 still there")
    c.dfs_ok("touch", "/t3")
    e = c.dfs_fails("mv", "-n", "/t3", "/t1")
    check("exist" in e and e.startswith("dfs: mv: "), "mv -n onto existing: %r" % e)
    e = c.dfs_fails("mv", "/none", "/x")
    check("none" in e, "mv missing: %r" % e)
    # rm of a deep tree goes to the trash; restore brings it back
    e = c.dfs_fails("rm", "/moved")
    check("not empty" in e and "-r" in e, "rm of non-empty dir: %r" % e)
    c.dfs_ok("rm", "-r", "/moved")
    check("moved" not in c.dfs_ok("ls", "/"), "rm -r left /moved")
    tl = json.loads(c.dfs_ok("trash", "ls", "--json"))
    item = [i for i in tl["items"] if i["original_path"] == "/moved"]
    check(len(item) == 1, "trash ls --json lacks /moved: %r" % tl)
    text = c.dfs_ok("trash", "ls")
    check("/moved" in text and str(item[0]["id"]) in text, "trash ls text: %r" % text)
    c.dfs_ok("trash", "restore", str(item[0]["id"]))
    c.get_check("/moved" + deep + "/leaf", digest)
    e = c.dfs_fails("trash", "restore", "999999")
    check(e.startswith("dfs: trash: ") and "999999" in e, "restore unknown id: %r" % e)
    # restore to another path
    c.dfs_ok("rm", "/t3")
    tl = json.loads(c.dfs_ok("trash", "ls", "--json"))
    tid = [i["id"] for i in tl["items"] if i["original_path"] == "/t3"][0]
    c.dfs_ok("trash", "restore", str(tid), "/t3-back")
    check("t3-back" in c.dfs_ok("ls", "/"), "restore to a new path")
    # --skip-trash and empty
    c.dfs_ok("rm", "-r", "--skip-trash", "/deep2")
    tl = json.loads(c.dfs_ok("trash", "ls", "--json"))
    check(not [i for i in tl["items"] if i["original_path"] == "/deep2"], "--skip-trash went to trash")
    c.dfs_ok("rm", "/t3-back")
    out = c.dfs_ok("trash", "empty")
    check("removed" in out, "trash empty output %r" % out)
    check(json.loads(c.dfs_ok("trash", "ls", "--json"))["items"] == [], "trash not empty")
    e = c.dfs_fails("rm", "/gone")
    check("gone" in e and e.startswith("dfs: rm: "), "rm missing: %r" % e)


def test_search(c):
    c.dfs_ok("mkdir", "-p", "/s/x/y")
    for n in ("report-2026.txt", "x/report-old.txt", "x/y/notes.md", "x/y/report.md"):
        c.dfs_ok("touch", "/s/" + n)
    out = lines(c.dfs_ok("search", "report", "/s"))
    check(sorted(out) == ["/s/report-2026.txt", "/s/x/report-old.txt", "/s/x/y/report.md"],
          "substring search: %r" % out)
    out = lines(c.dfs_ok("search", "--glob", "*.md", "/s"))
    check(sorted(out) == ["/s/x/y/notes.md", "/s/x/y/report.md"], "glob search: %r" % out)
    out = lines(c.dfs_ok("search", "", "/s", "--type", "d"))
    check(sorted(out) == ["/s/x/", "/s/x/y/"], "type d: %r" % out)
    j = json.loads(c.dfs_ok("search", "report", "/s", "--json", "--limit", "2"))
    check(len(j["hits"]) == 2 and j["truncated"] is True, "search --json limit: %r" % j)
    out = lines(c.dfs_ok("search", "report", "/s", "--older", "1d"))
    check(out == [], "--older 1d found new files: %r" % out)
    out = lines(c.dfs_ok("search", "small", "/", "--min-size", "1M"))
    check(out == ["/small"], "--min-size: %r" % out)
    usage_fails(c, "search", "x", "--type", "q")
    usage_fails(c, "search", "x", "--min-size", "lots")


def test_concurrent(c):
    c.dfs_ok("mkdir", "/conc")
    errors = []

    def worker(k):
        for i in range(10):
            rc, _, err = c.dfs("touch", "/conc/w%d-%d" % (k, i))
            if rc:
                errors.append(err)
    th = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    check(not errors, "concurrent touch failed: %r" % errors[:3])
    names = lines(c.dfs_ok("ls", "/conc"))
    check(len(names) == 80 and len(set(names)) == 80, "8 clients x 10 creates: %d names" % len(names))


def test_help(c):
    out = c.dfs_ok("help")
    for cmd in ("mkdir", "rmdir", "mv", "cp", "info", "search", "trash", "shell", "tree", "setrep"):
        check(cmd in out, "dfs help lacks %s" % cmd)
    for cmd in ("mv", "search", "trash", "info"):
        a, b = c.dfs_ok("help", cmd), c.dfs_ok(cmd, "--help")
        check(a == b and "usage: dfs " + cmd in a and "example:" in a, "help %s differs" % cmd)
    usage_fails(c, "mv", "/onlyone")
    usage_fails(c, "frobnicate")


def test_permission(t):
    if "auth" not in harness.Cluster.__init__.__code__.co_varnames:
        print("    (no auth support in harness; permission test skipped)")
        return
    with t.cluster(chunkservers=2, name="ns-auth", auth=True) as c:
        c.dfs_ok("mkdir", "-p", "/home")
        for u in ("alice", "bob"):
            c.register(u, "pw-" + u + "-secret")
            c.login(u, "pw-" + u + "-secret")
        c.dfs_as_ok("alice", "mkdir", "-p", "~/private")
        c.dfs_as_ok("alice", "touch", "~/private/secret.txt")
        c.dfs_as_ok("alice", "chmod", "700", "~/private")

        def denied():
            for args in (("ls", "~alice/private"), ("rm", "~alice/private/secret.txt"),
                         ("mv", "~alice/private/secret.txt", "~/stolen"),
                         ("touch", "~alice/private/new")):
                e = c.dfs_as_fails("bob", *args)
                check("permission denied" in e.lower() or "not allowed" in e.lower(),
                      "bob %s: %r" % (" ".join(args), e))
        t.case("permission denied: ls, rm, mv, touch of another's private dir", denied)


def main(t):
    random.seed(SEED)
    print("seed %d" % SEED)
    with t.cluster(chunkservers=3, name="namespace") as c:
        t.case("mkdir -p, rmdir, errors", test_dirs, c)
        digest = [None]

        def files():
            digest[0] = test_files(c)
        t.case("touch, cat, stat/info --json, chmod, ls -l/--json, setrep", files)
        t.case("tree", test_tree, c)
        t.case("mv/cp/rm of a deep tree, rename onto a name, trash restore/empty",
               test_mv_cp_rm, c, digest[0])
        t.case("search: substring, glob, type, size, time, limit, --json", test_search, c)
        t.case("8 concurrent clients create in one directory", test_concurrent, c)
        t.case("help texts and usage errors", test_help, c)
    test_permission(t)


if __name__ == "__main__":
    harness.run(main)
