"""What a person sees of dfs on a terminal, through a pseudo-terminal of a set width
(TIOCSWINSZ): the put/get progress line fits the width (80 and 60 columns: never
wrapped, redrawn in place), shows the file name (cut in the middle when narrow), the
percentage and binary units, and is kept at 100% when done; several files give one
line per file and a running total; $COLUMNS when the terminal has no size; nothing
with -q, when stderr is not a terminal, or between the bytes of cat on a terminal.
Colour: directories blue-bold in ls/tree, server states in admin status, only on a
terminal, never in a pipe, never with NO_COLOR, forced by --color=always. ls -l shows a
directory's size as "-" (not its entry count as bytes)."""

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import harness
from harness import check, MiB

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DIR_SGR = "\x1b[01;34m"


def run_on_pty(c, args, cols, env_extra=None, stdout_pty=True, stderr_pty=True,
               timeout=120, cwd=None):
    """Runs `dfs ARGS` (in cwd) with a pty of `cols` columns as its terminal (stdin, and
    stdout / stderr unless told otherwise, which then go to a pipe). Returns (rc, what
    the terminal received, what the pipe received)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    env = c.user_env(None)
    env["TERM"] = "xterm"
    for k in ("COLUMNS", "NO_COLOR", "LINES"):
        env.pop(k, None)
    env.update(env_extra or {})
    argv = [os.path.join(harness.BIN, "dfs"), "--meta", c.meta] + [str(a) for a in args]
    p = subprocess.Popen(argv, stdin=slave,
                         stdout=slave if stdout_pty else subprocess.PIPE,
                         stderr=slave if stderr_pty else subprocess.PIPE,
                         env=env, start_new_session=True, close_fds=True, cwd=cwd)
    os.close(slave)
    screen, piped = b"", b""
    pipes = [f.fileno() for f in (p.stdout, p.stderr) if f is not None]
    open_fds = [master] + pipes
    deadline = time.time() + timeout
    try:
        while open_fds:  # read everything as it comes (a full pipe would block dfs)
            left = deadline - time.time()
            check(left > 0, "dfs %s did not finish on the pty; screen %r" % (args, screen[-800:]))
            r, _, _ = select.select(open_fds, [], [], min(left, 0.2))
            for fd in r:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: every writer of the slave side is gone
                    data = b""
                if not data:
                    open_fds.remove(fd)
                elif fd == master:
                    screen += data
                else:
                    piped += data
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        for f in (p.stdout, p.stderr):
            if f is not None:
                f.close()
    text = screen.decode("utf-8", "replace")
    m = harness.sanitizer_report(text + piped.decode("utf-8", "replace"))
    check(not m, "dfs %s: sanitizer report: %s" % (args, text[-2000:]))
    return rc, text, piped.decode("utf-8", "replace")


def render(text, cols):
    """The rows a terminal of `cols` columns shows for text (\\r, \\n, CSI K honoured),
    and how many times a row was wrapped (a character written past the last column)."""
    rows, col, wraps = [[]], 0, 0
    i = 0
    while i < len(text):
        m = CSI.match(text, i)
        if m:
            if m.group().endswith("K"):
                del rows[-1][col:]
            i = m.end()
            continue
        ch = text[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            rows.append([])
            col = 0
        else:
            if col >= cols:
                wraps += 1
                rows.append([])
                col = 0
            row = rows[-1]
            while len(row) < col:
                row.append(" ")
            if col < len(row):
                row[col] = ch
            else:
                row.append(ch)
            col += 1
    return ["".join(r).rstrip() for r in rows], wraps


def check_fits(text, cols, what):
    """No piece of output written from the first column reaches the last column."""
    rows, wraps = render(text, cols)
    check(wraps == 0, "%s: %d row(s) wrapped at %d columns: %r" % (what, wraps, cols, rows))
    for seg in re.split(r"[\r\n]", CSI.sub("", text)):
        check(len(seg) <= cols - 1, "%s: a line of %d characters on %d columns: %r" %
              (what, len(seg), cols, seg))
    return rows


def progress_rows(rows):
    return [r for r in rows if re.search(r"\d%", r)]


def test_progress_one_file(c):
    # 80 columns, a short name: the whole name, a bar, the units, one row at the end.
    # stdout (the summary line, which may be long) goes to a pipe: the progress is stderr.
    scratch = os.path.dirname(c.scratch("x"))
    local = c.scratch("big-80.bin")
    digest = harness.make_file(local, 40 * MiB, seed=80)
    rc, text, out = run_on_pty(c, ["put", "big-80.bin", "/big-80.bin"], 80, stdout_pty=False,
                               cwd=scratch)
    check(rc == 0, "put on a pty: exit %d: %r" % (rc, text[-800:]))
    rows = check_fits(text, 80, "put at 80 columns")
    prog = progress_rows(rows)
    check(len(prog) == 1, "put: one progress row expected (redrawn in place), got %r" % rows)
    check(re.search(r"^big-80\.bin \[#+\] +100% +40\.0/40\.0 MiB +\d+\.\d MiB/s +in \d+:\d\d$",
                    prog[0]), "put: final progress row %r" % prog[0])
    draws = [s for s in re.split(r"\r", text) if "big-80.bin" in s and "%" in s]
    check(len(draws) >= 2, "put: the line should be redrawn (>= 2 draws), got %r" % draws)
    check(any(re.search(r"ETA (\d+:\d\d|-:--)", d) for d in draws), "no ETA drawn: %r" % draws)
    check(out.startswith("put big-80.bin -> /big-80.bin: "), "put summary: %r" % out)
    c.get_check("/big-80.bin", digest)
    # both on the terminal, as a person runs it: the progress row, then the summary
    rc, text, _ = run_on_pty(c, ["put", "big-80.bin", "/big-80b.bin"], 80, cwd=scratch)
    rows, _ = render(text, 80)
    check(rc == 0 and len(progress_rows(rows)) == 1 and
          rows[rows.index(progress_rows(rows)[0]) + 1].startswith("put big-80.bin -> "),
          "put on a pty: the progress row then the summary: %r" % rows)

    # 60 columns, a long name: cut in the middle, the end kept, still one row
    name = "a-file-with-a-rather-long-name-for-a-narrow-terminal-0060.bin"
    back = c.scratch(name)
    rc, text, _ = run_on_pty(c, ["get", "/big-80.bin", name], 60, stdout_pty=False, cwd=scratch)
    check(rc == 0, "get on a pty: exit %d: %r" % (rc, text[-800:]))
    rows = check_fits(text, 60, "get at 60 columns")
    prog = progress_rows(rows)
    check(len(prog) == 1, "get: one progress row expected, got %r" % rows)
    check(re.search(r"^/big-80\.bin .*100% +40\.0/40\.0 MiB", prog[0]),
          "get: final progress row %r" % prog[0])
    check(harness.sha256_file(back) == digest, "get on a pty: content differs")
    rc, text, _ = run_on_pty(c, ["put", name, "/" + name], 60, stdout_pty=False, cwd=scratch)
    check(rc == 0, "put (long name) on a pty: exit %d: %r" % (rc, text[-800:]))
    rows = check_fits(text, 60, "put of a long name at 60 columns")
    prog = progress_rows(rows)
    check(len(prog) == 1 and re.search(r"^a-file-\S*\.\.\.\S*-0060\.bin .*100%", prog[0]),
          "put: the long name cut in the middle, its end kept: %r" % prog)
    c.get_check("/" + name, digest)

    # a terminal that does not know its size (0 columns): $COLUMNS decides
    rc, text, _ = run_on_pty(c, ["put", name, "/cols-50.bin"], 0, stdout_pty=False,
                             cwd=scratch, env_extra={"COLUMNS": "50"})
    check(rc == 0, "put with COLUMNS=50: exit %d: %r" % (rc, text[-800:]))
    prog = progress_rows(check_fits(text, 50, "put with COLUMNS=50 on a 0-column pty"))
    check(len(prog) == 1 and "100%" in prog[0], "put with COLUMNS=50: %r" % prog)

    # -q: no progress; stderr not a terminal: none either (and no \r)
    rc, text, _ = run_on_pty(c, ["-q", "put", local, "/big-q.bin"], 80)
    check(rc == 0 and "%" not in text and "\r" not in text.replace("\r\n", "\n"),
          "put -q on a pty printed progress: %r" % text)
    rc, text, piped = run_on_pty(c, ["put", local, "/big-pipe.bin"], 80, stderr_pty=False)
    check(rc == 0 and "%" not in piped and "\r" not in piped,
          "put with stderr in a pipe printed progress: %r" % piped)
    check("%" not in text, "put with stderr in a pipe: progress on the terminal %r" % text)
    os.unlink(local)
    os.unlink(back)

    # cat (get to stdout) on the terminal: no progress between the bytes; stdout in a
    # pipe (get R - > file): the progress on the terminal
    plain = c.scratch("plain-9m.txt")
    with open(plain, "wb") as f:
        f.write(b"x" * (9 * MiB - 1) + b"\n")
    c.dfs_ok("put", plain, "/plain-9m.txt")
    rc, text, _ = run_on_pty(c, ["cat", "/plain-9m.txt"], 80)
    check(rc == 0 and text.count("x") == 9 * MiB - 1 and "MiB" not in text,
          "cat on a terminal: %d, %d x, %r" % (rc, text.count("x"), text[-300:]))
    rc, text, out = run_on_pty(c, ["get", "/plain-9m.txt", "-"], 80, stdout_pty=False)
    check(rc == 0 and len(out) == 9 * MiB and "100%  9.0/9.0 MiB" in text,
          "get - with stdout in a pipe: %d, %d bytes, %r" % (rc, len(out), text[-300:]))
    os.unlink(plain)


def test_progress_many_files(c):
    scratch = os.path.dirname(c.scratch("x"))
    src = c.scratch("tree-up")
    os.makedirs(os.path.join(src, "sub"))
    digests = {}
    for rel, seed in (("one.bin", 1), ("two.bin", 2), ("sub/three.bin", 3)):
        digests[rel] = harness.make_file(os.path.join(src, rel), 4 * MiB, seed=seed)
    rc, text, _ = run_on_pty(c, ["put", "-r", "tree-up", "/many"], 80, stdout_pty=False,
                             cwd=scratch)
    check(rc == 0, "put -r on a pty: exit %d: %r" % (rc, text[-800:]))
    rows = check_fits(text, 80, "put -r at 80 columns")
    for rel in digests:
        hit = [r for r in rows if r == "tree-up/%s  4.0 MiB" % rel]
        check(len(hit) == 1, "put -r: one row for %s expected: %r" % (rel, rows))
    prog = progress_rows(rows)
    check(len(prog) == 1 and re.search(r"^put 3/3 files .*100% +12\.0/12\.0 MiB", prog[0]),
          "put -r: one running total row at 100%%: %r" % rows)
    rc, text, _ = run_on_pty(c, ["get", "-r", "/many", "tree-down"], 60, stdout_pty=False,
                             cwd=scratch)
    check(rc == 0, "get -r on a pty: exit %d: %r" % (rc, text[-800:]))
    rows = check_fits(text, 60, "get -r at 60 columns")
    prog = progress_rows(rows)
    check(len(prog) == 1 and re.search(r"^get 3/3 files .*100%", prog[0]),
          "get -r: one running total row at 100%%: %r" % rows)
    check(len([r for r in rows if re.search(r"^/many/\S+  4\.0 MiB$", r)]) == 3,
          "get -r: a row per file: %r" % rows)
    for rel, d in digests.items():
        check(harness.sha256_file(os.path.join(scratch, "tree-down", rel)) == d,
              "get -r: %s differs" % rel)


def test_colour(c):
    c.dfs_ok("mkdir", "-p", "/colour/sub/deeper")
    c.dfs_ok("touch", "/colour/file.txt")
    rc, text, _ = run_on_pty(c, ["ls", "/colour"], 80)
    check(rc == 0 and DIR_SGR + "sub\x1b[0m/" in text, "ls on a pty: no colour: %r" % text)
    check(re.search(r"(^|\n)file\.txt\r?\n", text), "ls: a file is not coloured: %r" % text)
    rc, text, _ = run_on_pty(c, ["ls", "-l", "/colour"], 80)
    check(rc == 0 and DIR_SGR + "sub\x1b[0m/" in text, "ls -l on a pty: no colour: %r" % text)
    rc, text, _ = run_on_pty(c, ["tree", "/colour"], 80)
    check(rc == 0 and DIR_SGR + "deeper\x1b[0m/" in text and DIR_SGR + "/colour\x1b[0m" in text,
          "tree on a pty: no colour: %r" % text)
    for args in (["ls", "/colour"], ["ls", "-l", "/colour"], ["tree", "/colour"],
                 ["admin", "status"]):
        out = c.dfs_ok(*args)
        check("\x1b" not in out, "dfs %s in a pipe: escape codes %r" % (" ".join(args), out))
        for v in ("1", ""):
            rc, text, _ = run_on_pty(c, args, 80, env_extra={"NO_COLOR": v})
            check(rc == 0 and "\x1b[0m" not in text and "\x1b[3" not in text,
                  "dfs %s with NO_COLOR=%r: colour %r" % (" ".join(args), v, text))
        rc, text, _ = run_on_pty(c, ["--color=never"] + args, 80)
        check(rc == 0 and "\x1b[0m" not in text, "--color=never %s: %r" % (args, text))
    out = c.dfs_ok("--color=always", "ls", "/colour")
    check(DIR_SGR + "sub\x1b[0m/" in out, "--color=always in a pipe: %r" % out)
    rc, _, err = c.dfs("--color=sometimes", "ls", "/")
    check(rc == 2 and "--color" in err, "--color=sometimes: %d %r" % (rc, err))
    # admin status: alive green, a dead server red
    rc, text, _ = run_on_pty(c, ["admin", "status"], 120)
    check(rc == 0 and "\x1b[32malive   \x1b[0m" in text, "admin status on a pty: %r" % text)
    victim = c.chunkds[-1]
    victim.kill9()
    c.wait_dead(victim)
    rc, text, _ = run_on_pty(c, ["admin", "status"], 120)
    check(rc == 0 and "\x1b[31mdead    \x1b[0m" in text, "admin status, dead server: %r" % text)
    c.restart(victim)
    c.wait_alive(victim)


def test_ls_dirs(c):
    c.dfs_ok("mkdir", "-p", "/sizes/d")
    for i in range(3):
        c.dfs_ok("touch", "/sizes/d/f%d" % i)
    c.dfs_ok("touch", "/sizes/empty")
    for flags in (["-l"], ["-lh"], ["-l", "-h"]):
        out = c.dfs_ok("ls", *flags, "/sizes")
        d = [l for l in out.splitlines() if l.endswith(" d/")]
        check(len(d) == 1 and re.match(r"drwx\S+ +\S+ +- +- +\d{4}-\d\d-\d\d ", d[0]),
              "ls %s: a directory's size should be '-': %r" % (" ".join(flags), out))
        f = [l for l in out.splitlines() if l.endswith(" empty")]
        check(len(f) == 1 and re.match(r"-rw\S+ +\S+ +0( B)? +\d+ ", f[0]),
              "ls %s: a file's size: %r" % (" ".join(flags), out))
    rc, text, _ = run_on_pty(c, ["ls", "-l", "/sizes"], 80)
    check(rc == 0 and re.search(r"drwx\S+ +\S+ +- +- +\d{4}-", text) and " 3 B " not in text,
          "ls -l on a pty: %r" % text)


def main(t):
    with t.cluster(chunkservers=2, name="terminal") as c:
        t.case("progress of one file at 80 and 60 columns, -q, stderr in a pipe",
               test_progress_one_file, c)
        t.case("progress of several files: a row per file and a running total",
               test_progress_many_files, c)
        t.case("ls -l: a directory's size is '-'", test_ls_dirs, c)
        t.case("colour on a terminal only (NO_COLOR, --color)", test_colour, c)


if __name__ == "__main__":
    harness.run(main)
