"""What a person sees of dfs on a terminal, through a pseudo-terminal of a set width
(TIOCSWINSZ). Colour: directories blue-bold in ls/tree, server states in admin status, only on a
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
    screen = b""
    deadline = time.time() + timeout
    try:
        while True:
            left = deadline - time.time()
            check(left > 0, "dfs %s did not finish on the pty; screen %r" % (args, screen[-800:]))
            r, _, _ = select.select([master], [], [], min(left, 0.2))
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the slave side is gone
                    data = b""
                if not data:
                    break
                screen += data
            elif p.poll() is not None and not (stdout_pty or stderr_pty):
                break
        piped = b""
        if not stdout_pty:
            piped += p.stdout.read()
        if not stderr_pty:
            piped += p.stderr.read()
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
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
        t.case("ls -l: a directory's size is '-'", test_ls_dirs, c)
        t.case("colour on a terminal only (NO_COLOR, --color)", test_colour, c)


if __name__ == "__main__":
    harness.run(main)
