"""Remote globs (issue 15), driven as typed with the pattern quoted so the local shell
leaves it alone: get, rm, ls, cp and mv expand * ? [...] against the cluster's listings
(fnmatch with FNM_PATHNAME|FNM_PERIOD: * never crosses '/', dot files need an explicit
'.'), in any component ('a/*/x.txt'), results sorted; a pattern matching nothing is
"no match for 'PAT'" with status 1 and nothing done; a backslash makes * literal; rm -r
of a pattern goes to the trash; several cp/mv sources need an existing directory; the
dfs shell expands its unquoted words the same way; the expansion is bounded (directory
reads, matches) with a clear error."""

import json
import os

import harness
from harness import check


def lines(out):
    return [l for l in out.splitlines() if l.strip()]


def one_line(c, status, *args):
    rc, out, err = c.dfs(*args)
    errl = lines(err)
    check(rc == status, "dfs %s: exit %d, expected %d (stderr %r)" % (" ".join(args), rc,
                                                                     status, err))
    check(len(errl) == 1 and errl[0].startswith("dfs: "),
          "dfs %s: expected one 'dfs: ...' line on stderr, got %r" % (" ".join(args), err))
    return errl[0]


def ls(c, *args):
    return lines(c.dfs_ok("ls", *args))


def setup(c):
    payload = {}
    for i, name in enumerate(("photos/a.jpg", "photos/b.jpg", "photos/c.png",
                              "photos/.hidden.jpg", "photos/10.jpg",
                              "a/d1/x.txt", "a/d2/x.txt", "a/d3/y.txt", "a/f.txt",
                              "lit/*", "lit/ab", "lit/a?")):
        local = c.scratch("src-%d" % i)
        harness.make_file(local, 1000 + i, seed=100 + i, quiet=True)
        c.dfs_ok("mkdir", "-p", "/" + os.path.dirname(name))
        c.dfs_ok("put", local, "/" + name)
        with open(local, "rb") as f:
            payload["/" + name] = f.read()
    for d in ("2026-01", "2026-02", "2025-12"):
        c.dfs_ok("mkdir", "-p", "/logs/" + d)
        c.dfs_ok("touch", "/logs/%s/app.log" % d)
    return payload


def test_ls(c):
    check(ls(c, "/photos/*.jpg") == ["/photos/10.jpg", "/photos/a.jpg", "/photos/b.jpg"],
          "ls *.jpg (sorted, no dot file): %r" % ls(c, "/photos/*.jpg"))
    check(ls(c, "/photos/.*") == ["/photos/.hidden.jpg"], "ls .*: %r" % ls(c, "/photos/.*"))
    check(ls(c, "/photos/[ab].jpg") == ["/photos/a.jpg", "/photos/b.jpg"], "bracket")
    check(ls(c, "/photos/[!a]*") == ["/photos/10.jpg", "/photos/b.jpg", "/photos/c.png"],
          "negated bracket: %r" % ls(c, "/photos/[!a]*"))
    check(ls(c, "/photos/?.png") == ["/photos/c.png"], "?: %r" % ls(c, "/photos/?.png"))
    # a component in the middle; d3 has no x.txt, f.txt is a file (not listed)
    check(ls(c, "/a/*/x.txt") == ["/a/d1/x.txt", "/a/d2/x.txt"],
          "nested component: %r" % ls(c, "/a/*/x.txt"))
    check(ls(c, "/*/d?/*.txt") == ["/a/d1/x.txt", "/a/d2/x.txt", "/a/d3/y.txt"],
          "two components: %r" % ls(c, "/*/d?/*.txt"))
    # * does not cross '/'
    line = one_line(c, 1, "ls", "/*.txt")
    check(line == "dfs: ls: no match for '/*.txt': nothing was done (see what is there with "
          "'dfs ls'; a backslash makes * ? [ literal)", "no match: %r" % line)
    # directories matched: each under a header, files first
    out = ls(c, "/logs/2026-*", "/a/f.txt")
    check(out == ["/a/f.txt", "/logs/2026-01:", "app.log", "/logs/2026-02:", "app.log"],
          "ls of dirs and a file: %r" % out)
    doc = json.loads(c.dfs_ok("ls", "--json", "/logs/2026-*"))
    check([d["path"] for d in doc["dirs"]] == ["/logs/2026-01", "/logs/2026-02"],
          "ls --json of a pattern: %r" % doc)
    # the escape: \* is the file named '*', \? the file named 'a?'
    check(ls(c, "/lit/\\*") == ["/lit/*"], "escape: %r" % ls(c, "/lit/\\*"))
    check(ls(c, "/lit/a\\?") == ["/lit/a?"], "escaped ?: %r" % ls(c, "/lit/a\\?"))
    check(ls(c, "/lit/a?") == ["/lit/a?", "/lit/ab"], "a? matches both: %r" % ls(c, "/lit/a?"))
    # a relative pattern (not logged in: relative to /)
    check(ls(c, "photos/*.png") == ["/photos/c.png"], "relative pattern")


def test_get(c, payload):
    out = c.scratch("got")
    os.makedirs(out)
    c.dfs_ok("get", "photos/*.jpg", out + "/")
    check(sorted(os.listdir(out)) == ["10.jpg", "a.jpg", "b.jpg"], "get *.jpg: %r" %
          sorted(os.listdir(out)))
    for n in ("a.jpg", "b.jpg", "10.jpg"):
        with open(os.path.join(out, n), "rb") as f:
            check(f.read() == payload["/photos/" + n], "%s content differs" % n)
    # one match behaves like a single get (may name the file)
    one = c.scratch("one.png")
    c.dfs_ok("get", "/photos/*.png", one)
    with open(one, "rb") as f:
        check(f.read() == payload["/photos/c.png"], "single-match get")
    # no match: nothing is downloaded, not even the other argument's file
    empty = c.scratch("empty")
    os.makedirs(empty)
    line = one_line(c, 1, "get", "/photos/a.jpg", "photos/*.gif", empty)
    check(line.startswith("dfs: get: no match for 'photos/*.gif'"), "get no match: %r" % line)
    check(os.listdir(empty) == [], "get with a no-match pattern downloaded %r" %
          os.listdir(empty))
    # several matches need an existing local directory
    line = one_line(c, 1, "get", "/photos/*.jpg", c.scratch("nodir"))
    check("no such directory" in line, "several into a missing dir: %r" % line)
    # nested component + -r of matched directories
    nest = c.scratch("nest")
    os.makedirs(nest)
    c.dfs_ok("get", "-r", "/logs/2026-*", nest)
    check(sorted(os.listdir(nest)) == ["2026-01", "2026-02"], "get -r of a pattern: %r" %
          sorted(os.listdir(nest)))


def test_cp_mv(c, payload):
    c.dfs_ok("mkdir", "/backup")
    c.dfs_ok("cp", "/photos/*.jpg", "/backup")
    check(ls(c, "/backup") == ["10.jpg", "a.jpg", "b.jpg"], "cp glob: %r" % ls(c, "/backup"))
    line = one_line(c, 1, "cp", "/photos/*.jpg", "/nowhere")
    check("target '/nowhere' does not exist" in line and "mkdir" in line, "cp to missing: %r" % line)
    line = one_line(c, 1, "cp", "/photos/*.jpg", "/backup/a.jpg")
    check("target '/backup/a.jpg' is not a directory" in line, "cp onto a file: %r" % line)
    line = one_line(c, 1, "cp", "/photos/*.gif", "/backup")
    check(line.startswith("dfs: cp: no match for '/photos/*.gif'"), "cp no match: %r" % line)
    c.dfs_ok("mkdir", "/moved")
    c.dfs_ok("mv", "/backup/[ab].jpg", "/moved/")
    check(ls(c, "/moved") == ["a.jpg", "b.jpg"] and ls(c, "/backup") == ["10.jpg"],
          "mv glob: %r %r" % (ls(c, "/moved"), ls(c, "/backup")))
    line = one_line(c, 1, "mv", "/backup/*.gif", "/moved")
    check(line.startswith("dfs: mv: no match for '/backup/*.gif'"), "mv no match: %r" % line)
    # several literal sources work the same way
    c.dfs_ok("mv", "/moved/a.jpg", "/moved/b.jpg", "/backup")
    check(ls(c, "/backup") == ["10.jpg", "a.jpg", "b.jpg"], "mv of two: %r" % ls(c, "/backup"))


def test_rm(c):
    # a pattern that matches nothing: nothing is removed, not even the other argument
    line = one_line(c, 1, "rm", "-r", "/logs/2025-12", "/logs/2027-*")
    check(line.startswith("dfs: rm: no match for '/logs/2027-*'"), "rm no match: %r" % line)
    check(ls(c, "/logs") == ["2025-12/", "2026-01/", "2026-02/"], "rm no match removed")
    c.dfs_ok("rm", "-r", "/logs/2026-*")
    check(ls(c, "/logs") == ["2025-12/"], "rm -r glob: %r" % ls(c, "/logs"))
    trash = c.dfs_ok("trash", "ls")
    check("/logs/2026-01" in trash and "/logs/2026-02" in trash, "rm -r glob to trash: %r" % trash)
    # the escape removes only the file named '*'
    c.dfs_ok("rm", "/lit/\\*")
    check(ls(c, "/lit") == ["a?", "ab"], "rm \\*: %r" % ls(c, "/lit"))
    c.dfs_ok("rm", "/photos/.*")
    check(ls(c, "/photos") == ["10.jpg", "a.jpg", "b.jpg", "c.png"], "rm .*: %r" % ls(c, "/photos"))


def test_shell(c):
    rc, out, err = c.dfs("shell", input="cd /photos\nls *.jpg\nls [c]*\nls *.gif\n")
    got = lines(out)
    check("/photos/a.jpg" in got and "/photos/c.png" in got and "/photos/.hidden.jpg" not in got,
          "shell globs: %r" % out)
    check("no match for '*.gif'" in err, "shell no match: %r" % err)


def test_bounds(c):
    """10001 directories: a pattern needing a stat in each passes the bound on directory
    reads; ten patterns of 10001 matches each pass the bound on matches. Both: one line,
    status 1, nothing done."""
    c.dfs_ok("mkdir", "/many")
    script = "".join("mkdir /many/d%05d\n" % i for i in range(10001))
    rc, _, err = c.dfs("-q", "shell", input=script, timeout=600)
    check(rc == 0, "creating 10001 directories: %d %r" % (rc, err[-300:]))
    line = one_line(c, 1, "rm", "-r", "/many/*/x")
    check(line == "dfs: rm: '/many/*/x' needs more than 10000 directory reads: narrow the "
          "pattern (nothing was done)", "read bound: %r" % line)
    line = one_line(c, 1, "rm", "-r", *(["/many/*"] * 10))
    check(line == "dfs: rm: '/many/*' matches more than 100000 paths: narrow the pattern "
          "(nothing was done)", "match bound: %r" % line)
    check(len(ls(c, "/many")) == 10001, "a refused rm removed something")


def test_logged_in(t):
    """Logged in: a relative pattern and '~/...' resolve against the home directory; a
    directory the user may not read: the no-match line says so."""
    with t.cluster(chunkservers=1, name="glob-auth", auth=True) as c:
        c.dfs_ok("mkdir", "-p", "/home")
        for u in ("alice", "bob"):
            c.register(u, "pw-" + u + "-secret")
            c.login(u, "pw-" + u + "-secret")
        for name in ("a.jpg", "b.jpg", "c.png"):
            c.dfs_as_ok("alice", "mkdir", "-p", "~/photos")
            c.dfs_as_ok("alice", "touch", "~/photos/" + name)
        c.dfs_as_ok("alice", "mkdir", "-p", "~/private")
        c.dfs_as_ok("alice", "touch", "~/private/secret.txt")
        c.dfs_as_ok("alice", "chmod", "700", "~/private")

        def relative():
            out = lines(c.dfs_as_ok("alice", "ls", "photos/*.jpg"))
            check(out == ["/home/alice/photos/a.jpg", "/home/alice/photos/b.jpg"],
                  "relative pattern when logged in: %r" % out)
            c.dfs_as_ok("alice", "rm", "~/photos/*.png")
            check(lines(c.dfs_as_ok("alice", "ls", "~/photos")) == ["a.jpg", "b.jpg"],
                  "rm '~/photos/*.png'")
            rc, _, err = c.dfs_as("bob", "ls", "~alice/private/*")
            errl = lines(err)
            check(rc == 1 and len(errl) == 1 and
                  errl[0].startswith("dfs: ls: no match for '~alice/private/*' (") and
                  "permission denied" in errl[0].lower(), "unreadable directory: %d %r" %
                  (rc, err))
        t.case("logged in: relative and ~ patterns, an unreadable directory", relative)


def main(t):
    with t.cluster(chunkservers=2, name="glob") as c:
        payload = {}

        def do_setup():
            payload.update(setup(c))
        t.case("setup", do_setup)
        t.case("ls: *, ?, [..], [!..], nested, no match, dirs, --json, escape", test_ls, c)
        t.case("get: several into a dir, one match, no match does nothing, -r", test_get, c,
               payload)
        t.case("cp/mv: several sources need a directory, no match", test_cp_mv, c, payload)
        t.case("rm: no match does nothing, -r to the trash, escape, dot files", test_rm, c)
        t.case("the dfs shell expands its words the same way", test_shell, c)
        t.case("bounds: 10000 directory reads, 100000 matches", test_bounds, c)
    test_logged_in(t)


if __name__ == "__main__":
    harness.run(main)
