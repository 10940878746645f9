"""The mistakes a new user made in half an hour (issue 15), each driven through the CLI
as a person would: the exact exit status (2 usage, 1 failure), one line on stderr that
says what went wrong and what to do, and no local or remote data lost. Covered here:
typos and `hdfs dfs` habits (suggestions, --version), reports that were wrong (trash
restore's path, trash empty's count), silent nonsense (setrep above the live servers),
inconsistencies (touch's replicas, put -q, setrep -R wording, mkdir's hint, a closed
pipe), a too-short password asked again at once on a terminal, and a disabled user's
sessions ending at once. Globs, get's overwrite and cp/mv of a file onto itself are in
test_globs.py; the progress line, shell and colour in test_shell.py / test_terminal.py."""

import os
import pty
import re
import select
import subprocess
import time

import harness
import wire
from harness import check

BIN = harness.BIN
FORGET_SESSIONS = 136  # MSG_CLIENT_TO_META_FORGET_SESSIONS (proto/common.proto)


def one_line(what, rc, err, status):
    """err is one 'dfs: ...' line (a command's usage error may add its usage line and a
    `dfs help` pointer) and rc == status; returns the line."""
    lines = err.strip().splitlines()
    check(rc == status, "%s: exit %d, want %d (stderr %r)" % (what, rc, status, err))
    extra = lines[1:]
    usage_tail = status == 2 and len(extra) == 2 and extra[0].startswith("usage: dfs ") \
        and extra[1].startswith("(see `dfs help")
    check(lines and lines[0].startswith("dfs") and (not extra or usage_tail),
          "%s: want one 'dfs: ...' line on stderr, got %r" % (what, err))
    return lines[0]


def typos(c):
    for args, want in ((["lss", "/"], "did you mean 'dfs ls'?"),
                       (["sl", "/"], "did you mean 'dfs ls'?"),
                       (["tuch", "/x"], "did you mean 'dfs touch'?"),
                       (["-ls", "/"], "did you mean 'dfs ls'?"),
                       (["-put", "a", "b"], "did you mean 'dfs put'?"),
                       (["-copyToLocal", "a", "b"], "did you mean 'dfs get'?"),
                       (["-touchz", "/x"], "did you mean 'dfs touch'?"),
                       (["help", "lss"], "did you mean 'ls'?")):
        rc, out, err = c.dfs(*args)
        line = one_line("dfs %s" % " ".join(args), rc, err, 2)
        check(want in line, "dfs %s: %r does not suggest %r" % (" ".join(args), line, want))
    rc, _, err = c.dfs("frobnicate")
    line = one_line("dfs frobnicate", rc, err, 2)
    check("dfs help" in line and "did you mean" not in line, "no help hint: %r" % line)
    rc, _, err = c.dfs("--frob")
    one_line("dfs --frob", rc, err, 2)
    for prog in ("dfs", "metad", "chunkd", "authd"):
        r = subprocess.run([os.path.join(BIN, prog), "--version"], capture_output=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        out = r.stdout.decode()
        check(r.returncode == 0 and re.match(r"^%s( \(dfs\))? \d+\.\d+\.\d+\n$" % prog, out),
              "%s --version: exit %d, %r" % (prog, r.returncode, out))


def shell_mistakes(c):
    """The shell gives the same suggestion and takes -q after a command too."""
    local = c.scratch("sh1")
    harness.make_file(local, 2000, seed=8, quiet=True)
    rc, out, err = c.dfs("shell", input="lss /\nput -q %s /shq\nstat /shq\n" % local)
    check("did you mean 'ls'?" in err, "the shell does not suggest: %r" % err)
    check("put " not in out and "/shq" in out, "shell put -q printed its summary: %r" % out)
    check(rc == 0, "the script's last command succeeded but the shell exited %d" % rc)


def reports(c):
    local = c.scratch("r1")
    harness.make_file(local, 70000, seed=5, quiet=True)
    digest = harness.sha256_file(local)
    c.dfs_ok("mkdir", "-p", "/rep/dir")
    c.dfs_ok("put", local, "/rep/dir/f")
    c.dfs_ok("put", local, "/rep/g")
    c.dfs_ok("rm", "-r", "/rep/dir")
    c.dfs_ok("rm", "/rep/g")
    items = {}
    for ln in c.dfs_ok("trash", "ls").splitlines()[1:]:
        f = ln.split()
        items[f[-1]] = f[0]
    check("/rep/dir/" in items and "/rep/g" in items, "trash ls: %r" % items)
    out = c.dfs_ok("trash", "restore", items["/rep/dir/"])
    check(out.strip() == "restored trash item %s to /rep/dir" % items["/rep/dir/"],
          "restore of a directory says %r" % out)
    c.get_check("/rep/dir/f", digest)
    out = c.dfs_ok("trash", "restore", items["/rep/g"], "/rep/g2")
    check(out.strip() == "restored trash item %s to /rep/g2" % items["/rep/g"], repr(out))
    c.get_check("/rep/g2", digest)
    for i in range(3):
        c.dfs_ok("touch", "/rep/t%d" % i)
        c.dfs_ok("rm", "/rep/t%d" % i)
    one = c.dfs_ok("trash", "ls").splitlines()[1].split()[0]
    out = c.dfs_ok("trash", "empty", one)
    check(out.strip() == "removed 1 item from the trash", "trash empty ID says %r" % out)
    out = c.dfs_ok("trash", "empty")
    check(out.strip() == "removed 2 items from the trash", "trash empty says %r" % out)
    out = c.dfs_ok("trash", "empty")
    check(out.strip() == "removed 0 items from the trash", "empty trash: %r" % out)


def silent_nonsense(c):
    local = c.scratch("s1")
    harness.make_file(local, 5000, seed=6, quiet=True)
    c.dfs_ok("put", local, "/sn")
    rc, out, err = c.dfs("setrep", "/sn", "10")
    line = one_line("setrep /sn 10", rc, err, 0)
    check("warning" in line and "only 3 chunkservers" in line and "under-replicated" in line,
          "setrep above the live servers: %r" % line)
    check("goal 10 on 1 file" in out, "setrep's report: %r" % out)
    rc, out, err = c.dfs("setrep", "/sn", "3")
    check(rc == 0 and err == "", "setrep within the live servers warns: %r" % err)


def inconsistencies(c):
    local = c.scratch("i1")
    harness.make_file(local, 3000, seed=7, quiet=True)
    digest = harness.sha256_file(local)
    # touch makes what put makes: 2 replicas; --replicas like put
    c.dfs_ok("touch", "/touched")
    check("replicas: 2" in c.dfs_ok("stat", "/touched"), "touch's default goal is not 2")
    c.dfs_ok("touch", "--replicas", "1", "/touched1")
    check("replicas: 1" in c.dfs_ok("stat", "/touched1"), "touch --replicas 1 not applied")
    rc, _, err = c.dfs("touch", "--replicas", "17", "/t17")
    one_line("touch --replicas 17", rc, err, 2)
    # -q after the command, as before it
    rc, out, err = c.dfs("put", "-q", local, "/quiet")
    check(rc == 0 and out == "" and err == "", "put -q: %d %r %r" % (rc, out, err))
    c.get_check("/quiet", digest)
    rc, out, err = c.dfs("put", local, "/quiet2", "--quiet")
    check(rc == 0 and out == "" and err == "", "put --quiet: %d %r %r" % (rc, out, err))
    # a file really named -q is still reachable after --
    c.dfs_ok("mkdir", "/dash")
    rc, _, err = c.dfs("touch", "--", "/dash/-q")
    check(rc == 0, "touch -- /dash/-q: %s" % err)
    check("-q" in c.dfs_ok("ls", "/dash"), "the file -q was not created")
    # setrep on a directory names the flag
    c.dfs_ok("mkdir", "/srdir")
    rc, _, err = c.dfs("setrep", "/srdir", "2")
    line = one_line("setrep DIR", rc, err, 1)
    check("setrep -R" in line, "setrep on a directory: %r" % line)
    # mkdir a/b/c: the hint that works
    rc, _, err = c.dfs("mkdir", "/m1/m2/m3")
    line = one_line("mkdir /m1/m2/m3", rc, err, 1)
    check("'dfs mkdir -p /m1/m2/m3'" in line, "mkdir's hint: %r" % line)
    c.dfs_ok("mkdir", "-p", "/m1/m2/m3")
    # put into a missing directory: the hint creates every missing level
    rc, _, err = c.dfs("put", local, "/p1/p2/file")
    line = one_line("put into a missing dir", rc, err, 1)
    check("'dfs mkdir -p /p1/p2'" in line, "put's hint: %r" % line)
    # a reader that stops early is not an error
    p = subprocess.Popen([os.path.join(BIN, "dfs"), "--meta", c.meta, "info", "/quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    p.stdout.close()  # `| head -0`
    err = p.stderr.read().decode()
    rc = p.wait(30)
    check(rc == 0 and err == "", "dfs info | (closed pipe): exit %d, %r" % (rc, err))
    r = subprocess.run("'%s' --meta %s ls -l / | head -1" % (os.path.join(BIN, "dfs"), c.meta),
                       shell=True, capture_output=True, timeout=30)
    check(r.returncode == 0 and r.stderr == b"", "ls | head: %r" % r.stderr)


def pty_run(argv, env, script, timeout=20):
    """Runs argv on a new pseudo-terminal (its controlling terminal, so /dev/tty works);
    script: (regex to wait for, text to type) pairs. Returns (status, screen)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    screen = ""
    try:
        for pattern, answer in script + [(None, None)]:
            deadline = time.time() + timeout
            while pattern is None or not re.search(pattern, screen):
                left = deadline - time.time()
                if left <= 0:
                    raise harness.TestFailure("%r not seen; screen: %r" % (pattern, screen))
                r, _, _ = select.select([fd], [], [], left)
                if not r:
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""
                if not data:
                    if pattern is None:
                        break
                    raise harness.TestFailure("%r not seen before exit; screen: %r" %
                                              (pattern, screen))
                screen += data.decode(errors="replace")
            if pattern is None:
                break
            # the pattern matched: consume it so that the same prompt again must be new
            screen = screen[re.search(pattern, screen).end():] if answer is not None else screen
            os.write(fd, answer.encode())
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), screen


def short_password_on_tty(c):
    env = c.user_env("tina")
    argv = [os.path.join(BIN, "dfs"), "--meta", c.meta, "register", "tina"]
    rc, screen = pty_run(argv, env, [
        (r"new password for tina: ", "short\n"),
        (r"a password has 8 to 72 bytes \(got 5\); try again", ""),
        (r"new password for tina: ", "long-enough-1\n"),
        (r"again: ", "long-enough-1\n")])
    check(rc == 0, "register after one short password: exit %d, screen %r" % (rc, screen))
    c.login("tina", "long-enough-1")
    # three refusals in a row end it with one line and status 1, nothing registered
    argv = [os.path.join(BIN, "dfs"), "--meta", c.meta, "register", "tony"]
    rc, screen = pty_run(argv, c.user_env("tony"), [
        (r"new password for tony: ", "a\n"), (r"new password for tony: ", "b\n"),
        (r"new password for tony: ", "c\n")])
    check(rc == 1 and "again:" not in screen, "three short passwords: exit %d %r" % (rc, screen))
    rc, _, err = c.dfs_as("tony", "login", "tony", "--password-stdin", input="c\n")
    check(rc != 0, "tony was registered although every password was refused")


def disabled_user_at_once(c):
    c.register("dora", "dora-password-1")
    c.login("dora", "dora-password-1")
    c.dfs_as_ok("dora", "ls", "/home/dora")
    c.dfs_as_ok("dora", "ls", "/home/dora")  # her token is in metad's cache now
    t0 = time.time()
    c.dfs_ok("admin", "users", "disable", "dora")
    rc, _, err = c.dfs_as("dora", "ls", "/home/dora")
    check(rc == 1, "a disabled user could still list her home %.2f s after the disable "
          "(exit %d, %r)" % (time.time() - t0, rc, err))
    c.dfs_ok("admin", "users", "enable", "dora")
    c.login("dora", "dora-password-1")
    c.dfs_as_ok("dora", "ls", "/home/dora")
    # only an administrator may make metad forget sessions (raw request, any user name)
    c.register("eve", "eve-password-1")
    c.login("eve", "eve-password-1")
    s = wire.MetaSession(c.meta, token=c.session_token("eve"))
    try:
        err, text, _ = s.req(FORGET_SESSIONS, wire.msg((2, "dora")))
        check(err != 0 and "administrator" in text, "a user made metad forget another's "
              "sessions: error %d %r" % (err, text))
        err, text, _ = s.req(FORGET_SESSIONS, wire.msg((2, "x" * 5000)))
        check(err != 0, "forget of a 5000-byte name by a user: %d %r" % (err, text))
    finally:
        s.close()
    c.dfs_as_ok("dora", "ls", "/home/dora")


def main(t):
    with t.cluster(chunkservers=3, name="mistakes") as c:
        t.case("typos and hdfs habits: one line with the suggestion; --version", typos, c)
        t.case("the shell suggests and takes -q after the command", shell_mistakes, c)
        t.case("trash restore names the path, trash empty counts", reports, c)
        t.case("setrep above the live servers warns", silent_nonsense, c)
        t.case("touch/put/-q/setrep -R/mkdir -p/closed pipe are consistent",
               inconsistencies, c)
    with t.cluster(chunkservers=2, name="mistakes-auth", auth=True) as c:
        t.case("a too-short password is refused before it is confirmed, and asked again",
               short_password_on_tty, c)
        t.case("disabling a user ends her sessions at once", disabled_user_at_once, c)


if __name__ == "__main__":
    harness.run(main)
