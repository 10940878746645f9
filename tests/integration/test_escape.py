#!/usr/bin/env python3
"""Terminal-escape safety of the dfs CLI (hardening, issues 3/4): names, owners, hosts and
error messages come from the server, and the CLI must never print their control bytes
(ESC, CR, NL, 0x01, 0x7f, UTF-8 C1 controls, invalid UTF-8) raw. Human output shows them
as \\xNN; --json escapes them as JSON does and round-trips the exact name.

A real metad refuses such names (checked over the wire first), so the CLI side is tested
against a hostile metad: a small in-process server speaking the dfs frame protocol
(tests/integration/wire.py) that answers stat/list/search/trash/getfile with evil names
and an error whose message carries escape sequences."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading

import harness
from harness import check
import wire

ESC_NAME = "a\x1b[2Jb\rc\nd\x01e\x7ff\u009bg"       # ESC[2J, CR, NL, ^A, DEL, CSI (C1)
OWNER = "own\x1b]0;pwned\x07er"                        # OSC title-setting sequence
HOST = "10.0.0.1\x1b[31m"
ERR_MSG = "no such \x1b[2Jthing\r\x1b[Kfaked"
BAD_BYTES = [b"\x1b", b"\r", b"\n", b"\x01", b"\x7f", b"\xc2\x9b", b"\x07"]

DIR, LIST, STAT, GETFILE, SEARCH, TRASH = 1, 102, 104, 112, 126, 128


def entry(name, is_dir, owner=OWNER):
    return wire.msg((1, name), (2, 1 if is_dir else 0), (3, 5), (4, 1700000000 * 10**9),
                    (5, 0o755), (6, owner), (7, 0 if is_dir else 2), (8, 0 if is_dir else 1),
                    (9, 7))


def reply_for(mtype, fields):
    path = fields.get(2, [b""])[0].decode("utf-8", "replace") if fields.get(2) else ""
    if mtype == STAT:
        if path == "/missing":
            return wire.msg((1, wire.msg((1, (4 << 1) - 1), (2, ERR_MSG))))  # error -4, zigzag
        name = path.rsplit("/", 1)[-1] or "/"
        return wire.f_bytes(2, entry(name, not path.endswith("/f")))
    if mtype == LIST:
        if path != "/d":
            return b""  # the evil subdirectory is empty
        return (wire.f_bytes(2, entry(ESC_NAME, False)) + wire.f_bytes(2, entry(ESC_NAME + "D", True))
                + wire.f_bytes(2, entry("plain", False, owner="bob")))
    if mtype == SEARCH:
        return wire.f_bytes(2, wire.msg((1, "/d/" + ESC_NAME)) + wire.f_bytes(2, entry(ESC_NAME, False)))
    if mtype == TRASH:
        item = wire.msg((1, 3), (2, "/d/" + ESC_NAME), (3, 1700000000 * 10**9),
                        (4, 1800000000 * 10**9)) + wire.f_bytes(5, entry(ESC_NAME, False))
        return wire.f_bytes(2, item)
    if mtype == GETFILE:
        if fields.get(3, [0])[0]:
            return b""  # past the only chunk
        loc = wire.msg((2, 42), (3, 1), (4, 5), (9, 2), (10, 1)) + wire.f_bytes(
            6, wire.msg((1, 1), (2, HOST), (3, 9411)))
        return wire.f_bytes(3, loc)
    return wire.msg((1, wire.msg((1, (22 << 1) - 1), (2, "not in this fake"))))


class HostileMetad:
    """Answers every frame on 127.0.0.1:<port> with reply_for(); one thread per client."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        with conn:
            while True:
                try:
                    mtype, _, rid, payload, _ = wire.read_frame(conn)
                except (OSError, ValueError, EOFError):
                    return
                self.requests.append(mtype)
                rep = reply_for(mtype, wire.decode(payload))
                conn.sendall(wire.frame(mtype + 1, rep, req_id=rid, flags=wire.FRAME_REPLY))

    def close(self):
        self.sock.close()


def run_dfs(env, meta, *args):
    argv = [os.path.join(harness.BIN, "dfs"), "--meta", meta] + list(args)
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=env)
    m = harness.sanitizer_report(r.stderr.decode("utf-8", "replace"))
    check(not m, "dfs %s: sanitizer report (%s)" % (" ".join(args), m))
    return r.returncode, r.stdout, r.stderr


def lines_ok(what, out, nlines):
    """No control byte but the line ends, and exactly nlines lines (an embedded NL or CR
    would add lines or overwrite them)."""
    body = out.replace(b"\n", b"")
    for b in BAD_BYTES:
        check(b not in body, "%s printed a raw %r:\n%r" % (what, b, out))
    check(out.count(b"\n") == nlines, "%s: %d lines, expected %d:\n%r" %
          (what, out.count(b"\n"), nlines, out))


def t_metad_refuses(c):
    s = wire.MetaSession(c.meta)
    try:
        for bad in (ESC_NAME, "x\x7fy", "x\ry"):
            err, text, _ = s.req(wire.MSG_CLIENT_TO_META_MKDIR, wire.msg((2, "/" + bad), (5, 99)))
            check(err == -9, "metad mkdir %r: error %d (%s), expected DFS_EBADPATH" % (bad, err, text))
    finally:
        s.close()


def t_human_output(env, fake):
    m = fake.addr
    esc = "a\\x1b[2Jb\\x0dc\\x0ad\\x01e\\x7ff\\xc2\\x9bg"
    rc, out, err = run_dfs(env, m, "ls", "/d")
    check(rc == 0, "ls: exit %d %r" % (rc, err))
    lines_ok("ls", out, 3)
    check(esc.encode() in out, "ls does not show the escaped name:\n%r" % out)
    rc, out, err = run_dfs(env, m, "ls", "-l", "/d")
    check(rc == 0, "ls -l: exit %d %r" % (rc, err))
    lines_ok("ls -l", out, 3)
    check(b"own\\x1b]0;pwned\\x07er" in out, "ls -l owner not escaped:\n%r" % out)
    # -R does not descend into a name no valid path can hold; it says so, escaped
    rc, out, err = run_dfs(env, m, "ls", "-R", "/d")
    check(rc == 1, "ls -R: exit %d %r" % (rc, err))
    lines_ok("ls -R", out, 4)  # "/d:" header and 3 names
    lines_ok("ls -R error", err, 1)
    check(("/d/" + esc + "D: invalid").encode() in err, "ls -R error not escaped:\n%r" % err)
    rc, out, err = run_dfs(env, m, "tree", "/d")
    check(rc in (0, 1), "tree: exit %d %r" % (rc, err))
    lines_ok("tree", out, 1 + 3 + 2)  # root, 3 entries, blank, counts
    check(esc.encode() in out, "tree: name not escaped:\n%r" % out)
    rc, out, err = run_dfs(env, m, "stat", "/d/f")
    check(rc == 0, "stat: exit %d %r" % (rc, err))
    lines_ok("stat", out, 9)  # path type size mode owner mtime replicas chunks inode
    check(b"own\\x1b]0;pwned\\x07er" in out, "stat owner not escaped:\n%r" % out)
    rc, out, err = run_dfs(env, m, "info", "/d/f")
    check(rc == 0, "info: exit %d %r" % (rc, err))
    lines_ok("info", out, 9 + 2)  # 9 as stat, the chunk table's header and one chunk
    check(b"10.0.0.1\\x1b[31m:9411" in out, "info hosts not escaped:\n%r" % out)
    for args in (("search", "x", "/d"), ("search", "-l", "x", "/d")):
        rc, out, err = run_dfs(env, m, *args)
        check(rc == 0, "%s: exit %d %r" % (" ".join(args), rc, err))
        lines_ok(" ".join(args), out, 1)
        check(esc.encode() in out, "%s: name not escaped:\n%r" % (" ".join(args), out))
    rc, out, err = run_dfs(env, m, "trash", "ls")
    check(rc == 0, "trash ls: exit %d %r" % (rc, err))
    lines_ok("trash ls", out, 2)
    check(esc.encode() in out, "trash ls: path not escaped:\n%r" % out)


def t_error_line(env, fake):
    rc, out, err = run_dfs(env, fake.addr, "stat", "/missing")
    check(rc == 1, "stat of the missing path: exit %d" % rc)
    lines_ok("the error line", err, 1)
    check(err.startswith(b"dfs: ") and b"\\x1b[2Jthing\\x0d\\x1b[Kfaked" in err,
          "error line not escaped: %r" % err)


def t_json(env, fake):
    rc, out, err = run_dfs(env, fake.addr, "ls", "--json", "/d")
    check(rc == 0, "ls --json: exit %d %r" % (rc, err))
    raw = [b for b in BAD_BYTES if b != b"\n" and b in out]
    check(not raw and out.count(b"\n") == 1,
          "ls --json printed raw control bytes %r: %r" % (raw, out))
    doc = json.loads(out.decode("utf-8"))
    names = [e["name"] for e in doc["entries"]]
    check(ESC_NAME in names and doc["entries"][0]["owner"] in (OWNER, "bob"),
          "ls --json does not round-trip the names: %r" % names)
    rc, out, err = run_dfs(env, fake.addr, "search", "--json", "x", "/d")
    check(rc == 0, "search --json: exit %d %r" % (rc, err))
    raw = [b for b in BAD_BYTES if b != b"\n" and b in out]
    check(not raw, "search --json printed raw control bytes %r: %r" % (raw, out))
    doc = json.loads(out.decode("utf-8"))
    check(doc["hits"][0]["path"] == "/d/" + ESC_NAME, "search --json: %r" % doc)


def main(r):
    home = tempfile.mkdtemp(prefix="dfs-escape-")
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
    for k in ("DFS_META", "DFS_AUTH", "DFS_TLS_CA"):
        env.pop(k, None)
    fake = HostileMetad()
    try:
        r.case("human output escapes names, owners, hosts (ls/-l/-R, tree, stat, info, "
               "search, trash ls)", t_human_output, env, fake)
        r.case("error lines escape the server's message", t_error_line, env, fake)
        r.case("--json escapes and round-trips the exact names", t_json, env, fake)
    finally:
        fake.close()
        shutil.rmtree(home, ignore_errors=True)
    with r.cluster(chunkservers=0, name="escape") as c:
        r.case("a real metad refuses control characters in names", t_metad_refuses, c)


if __name__ == "__main__":
    harness.run(main)
