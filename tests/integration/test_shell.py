"""`dfs shell` driven as a person uses it, through a pseudo-terminal (python's pty, the
shell's controlling terminal): the prompt shows user and cwd, help / help CMD, Tab
completion of a command and of a remote path (unique and ambiguous) and of the local
path of put/get, cd / pwd / relative paths, history with the up arrow and between
sessions (a 0600 file, bounded), errors staying in the shell, Ctrl-C on a half-typed
line and during a command, exit [N] and Ctrl-D; then the same shell reading a script
from a non-terminal stdin (errors with line numbers, the last command's status), and a
logged-in user's prompt starting at home."""

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time

import harness
from harness import check

TIMEOUT = 20


def home_env(c, home):
    """The CLI's environment with a HOME (and XDG_CONFIG_HOME) of the test's own."""
    e = c.user_env(None)
    home = os.path.join(c.dir, home)
    os.makedirs(os.path.join(home, "config"), mode=0o700, exist_ok=True)
    e["HOME"], e["XDG_CONFIG_HOME"] = home, os.path.join(home, "config")
    return e


class Pty:
    """A dfs shell on a pty; expect() reads until a regex matches the new output."""

    def __init__(self, c, env=None, home="shell-home", cwd=None):
        self.master, slave = pty.openpty()
        # never the invoking user's session (~/.config/dfs, e.g. scripts/demo's login):
        # a home of the test's own, no session unless the caller passes one
        e = env
        if e is None:
            e = home_env(c, home)
        e = dict(e)
        e["TERM"] = "xterm"
        e.pop("DFS_META", None)
        argv = [os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "shell"]
        # the pty as the controlling terminal of a session of its own, as in a terminal
        # window: Ctrl-C (\x03) becomes SIGINT to its foreground process group
        self.p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=e,
                                  start_new_session=True, close_fds=True, cwd=cwd,
                                  preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.buf = ""
        self.pos = 0  # everything before pos has been matched already

    def send(self, s):
        os.write(self.master, s.encode())

    def expect(self, pattern, what):
        rx = re.compile(pattern)
        deadline = time.time() + TIMEOUT
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = deadline - time.time()
            if left <= 0:
                raise harness.TestFailure("%s: %r not seen; screen so far: %r" %
                                          (what, pattern, self.buf[self.pos:][-600:]))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise harness.TestFailure("%s: shell ended; output: %r" %
                                              (what, self.buf[self.pos:][-600:]))
                self.buf += data.decode("utf-8", "replace")

    def wait_exit(self, what):
        """The shell's exit status; fails (with the screen) if it does not end."""
        deadline = time.time() + TIMEOUT
        while self.p.poll() is None:
            if time.time() > deadline:
                self.drain()
                raise harness.TestFailure("%s: the shell did not end; screen: %r" %
                                          (what, self.buf[-800:]))
            self.drain(0.1)
        self.drain()
        return self.p.returncode

    def drain(self, wait=0.5):
        """Reads what is left after the shell ended (e.g. a sanitizer report)."""
        while True:
            r, _, _ = select.select([self.master], [], [], wait)
            if not r:
                return
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.buf += data.decode("utf-8", "replace")

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        os.close(self.master)
        m = harness.sanitizer_report(self.buf)
        check(not m, "dfs shell: sanitizer report: %s" % self.buf[-2000:])


def test_interactive(c):
    sh = Pty(c)
    try:
        sh.expect(r"anonymous@dfs:/> ", "first prompt")
        sh.send("help\r")
        sh.expect(r"mkdir .*\n(.|\n)*cd +change the current directory", "help lists commands")
        sh.expect(r"anonymous@dfs:/> ", "prompt after help")
        sh.send("help mv\r")
        sh.expect(r"usage: dfs mv \[-n\] SRC\.\.\. DST(.|\n)*example:", "help mv")
        sh.expect(r"@dfs:/> ", "prompt after help mv")
        # completion of a command: "mkd" + Tab -> "mkdir "
        sh.send("mkd\t")
        sh.expect(r"ir ", "Tab completes the command mkdir (inserts 'ir ')")
        sh.send("-p projects/alpha\r")
        sh.expect(r"@dfs:/> ", "prompt after mkdir")
        sh.send("touch projects/alpha/readme.txt projects/beta.txt\r")
        sh.expect(r"@dfs:/> ", "prompt after touch")
        # completion of a remote path: unique ("proj" -> "projects/"), then ambiguous
        sh.send("cd proj\t")
        sh.expect(r"ects/", "Tab completes a remote directory (inserts 'ects/')")
        sh.send("al\t")
        sh.expect(r"pha/", "Tab completes a nested remote directory (inserts 'pha/')")
        sh.send("\r")
        sh.expect(r"anonymous@dfs:/projects/alpha> ", "prompt shows the new cwd")
        sh.send("pwd\r")
        sh.expect(r"\r\n/projects/alpha\r\n", "pwd")
        sh.send("ls -l\r")
        sh.expect(r"-rw-r--r-- +- +0 B +\d+ +\S+ \S+ +readme\.txt",
                  "ls -l relative to the cwd, human sizes on a terminal")
        sh.send("cd ..\r")
        sh.expect(r"@dfs:/projects> ", "cd ..")
        sh.send("ls \t")  # two candidates: both listed
        sh.expect(r"alpha/ +beta\.txt", "ambiguous Tab lists the candidates")
        sh.send("\r")
        sh.expect(r"@dfs:/projects> ", "prompt after ls")
        # history: the up arrow brings back the last command
        sh.send("pwd\r")
        sh.expect(r"\r\n/projects\r\n", "pwd")
        sh.expect(r"@dfs:/projects> ", "prompt after pwd")
        sh.send("\x1b[A")
        sh.expect(r"pwd", "up arrow recalls pwd")
        sh.send("\r")
        sh.expect(r"\r\n/projects\r\n", "recalled pwd ran")
        # errors stay in the shell
        sh.send("cd beta.txt\r")
        sh.expect(r"dfs: cd: /projects/beta\.txt: not a directory", "cd onto a file")
        sh.send("frob\r")
        sh.expect(r"dfs: frob: unknown command \(type 'help'", "unknown command")
        sh.expect(r"@dfs:/projects> ", "prompt after errors")
        sh.send("exit\r")
        rc = sh.wait_exit("exit")
        check(rc == 2, "exit should end the shell with the last status (2, unknown "
              "command), got %d: %r" % (rc, sh.buf[-1500:]))
    finally:
        sh.close()
    check(c.dfs_ok("ls", "/projects/alpha").split() == ["readme.txt"], "shell mkdir/touch")
    # Ctrl-D leaves too
    sh = Pty(c)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        sh.send("cd /projects\r")
        sh.expect(r"@dfs:/projects> ", "prompt after cd")
        sh.send("\x04")
        rc = sh.wait_exit("Ctrl-D")
        check(rc == 0, "Ctrl-D should end the shell with status 0, got %d" % rc)
    finally:
        sh.close()
    # typed ahead: Ctrl-D right as the first prompt shows (the tty must already be raw)
    sh = Pty(c)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        sh.send("\x04")
        rc = sh.wait_exit("Ctrl-D at the first prompt")
        check(rc == 0, "Ctrl-D at once: status %d" % rc)
    finally:
        sh.close()


def children(pid):
    """The pids of pid's child processes (Linux /proc)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_ctrl_c(c):
    sh = Pty(c)
    try:
        sh.expect(r"anonymous@dfs:/> ", "first prompt")
        # a half-typed line: Ctrl-C drops it and gives a fresh prompt; the shell lives
        sh.send("mkdir /half-typed")
        sh.expect(r"half-typed", "echo of the typed text")
        sh.send("\x03")
        sh.expect(r"\^C\r\nanonymous@dfs:/> ", "Ctrl-C on a half-typed line: a fresh prompt")
        sh.send("pwd\r")
        sh.expect(r"\r\n/\r\nanonymous@dfs:/> ", "pwd after Ctrl-C (nothing of the old line)")
        check(sh.p.poll() is None, "the shell ended on Ctrl-C")
        # Ctrl-C during a command (put - reads the terminal until its end): the command
        # stops, nothing is committed, the prompt comes back
        sh.send("put - /from-the-terminal.txt\r")
        deadline = time.time() + TIMEOUT
        while not children(sh.p.pid):
            check(time.time() < deadline, "put - did not start: %r" % sh.buf[-400:])
            time.sleep(0.05)
        time.sleep(0.5)  # reading the terminal
        sh.send("some text\r")
        time.sleep(0.2)
        sh.send("\x03")
        sh.expect(r"\^C\r\n+anonymous@dfs:/> ", "Ctrl-C during put -: back at the prompt")
        check(sh.p.poll() is None, "the shell ended on Ctrl-C during a command")
        sh.send("pwd\r")
        sh.expect(r"\r\n/\r\nanonymous@dfs:/> ", "the shell still runs commands")
        sh.send("exit\r")
        rc = sh.wait_exit("exit")
        check(rc == 0, "exit after pwd: status %d" % rc)
    finally:
        sh.close()
    check(c.dfs("stat", "/from-the-terminal.txt")[0] == 1, "an interrupted put committed a file")
    check(c.dfs("stat", "/half-typed")[0] == 1, "the half-typed mkdir ran")
    # the status of a command stopped by Ctrl-C is 130, as in sh
    sh = Pty(c)
    try:
        sh.expect(r"anonymous@dfs:/> ", "prompt")
        sh.send("put - /x.txt\r")
        deadline = time.time() + TIMEOUT
        while not children(sh.p.pid):
            check(time.time() < deadline, "put - did not start")
            time.sleep(0.05)
        time.sleep(0.5)
        sh.send("\x03")
        sh.expect(r"anonymous@dfs:/> ", "prompt after Ctrl-C")
        sh.send("exit\r")
        rc = sh.wait_exit("exit")
        check(rc == 130, "exit after a command stopped by Ctrl-C: status %d, not 130" % rc)
    finally:
        sh.close()


def history_entries(path):
    with open(path) as f:
        lines = f.read().splitlines()
    check(lines and lines[0] == "_HiStOrY_V2_", "history file format: %r" % lines[:3])
    return [l.replace("\\040", " ") for l in lines[1:]]


def test_history(c):
    env = home_env(c, "history-home")
    path = os.path.join(env["XDG_CONFIG_HOME"], "dfs", "history")
    check(not os.path.exists(path), "a history file before any shell")
    sh = Pty(c, env=env)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        sh.send("help mv\r")
        sh.expect(r"usage: dfs mv(.|\n)*@dfs:/> ", "help mv")
        sh.send("pwd\r")
        sh.expect(r"\r\n/\r\n", "pwd")
        sh.send("exit\r")
        check(sh.wait_exit("exit") == 0, "exit status")
    finally:
        sh.close()
    check(os.path.exists(path), "no history file at %s" % path)
    check(os.stat(path).st_mode & 0o777 == 0o600, "history mode %o" % (os.stat(path).st_mode & 0o777))
    check(history_entries(path) == ["help mv", "pwd", "exit"], "history %r" % history_entries(path))
    # the next session recalls the previous one's commands (up arrow)
    os.chmod(path, 0o644)
    sh = Pty(c, env=env)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        sh.send("\x1b[A\x1b[A")
        sh.expect(r"pwd", "up arrow recalls pwd of the last session")
        sh.send("\r")
        sh.expect(r"\r\n/\r\n", "the recalled pwd ran")
        sh.send("exit 3\r")
        check(sh.wait_exit("exit 3") == 3, "exit 3: status")
    finally:
        sh.close()
    check(os.stat(path).st_mode & 0o777 == 0o600, "history mode after a save %o" %
          (os.stat(path).st_mode & 0o777))
    # bounded: 1500 old entries, the newest 1000 are kept
    with open(path, "w") as f:
        f.write("_HiStOrY_V2_\n" + "".join("cmd%04d\n" % i for i in range(1500)))
    sh = Pty(c, env=env)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        sh.send("exit\r")
        sh.wait_exit("exit")
    finally:
        sh.close()
    h = history_entries(path)
    check(len(h) == 1000 and h[-1] == "exit" and h[-2] == "cmd1499" and h[0] == "cmd0501",
          "history not bounded to the newest 1000: %d entries, %r ... %r" % (len(h), h[:2], h[-2:]))
    # a script (stdin not a terminal) neither reads nor writes it
    before = open(path).read()
    rc, out, _ = c.dfs("shell", input="pwd\n", env=env)
    check(rc == 0 and out == "/\n" and open(path).read() == before, "a script changed the history")
    env2 = home_env(c, "history-home-script")
    rc, _, _ = c.dfs("shell", input="pwd\n", env=env2)
    check(not os.path.exists(os.path.join(env2["XDG_CONFIG_HOME"], "dfs", "history")),
          "a script wrote a history file")


def test_local_completion(c):
    local = c.scratch("complete-here")
    os.makedirs(os.path.join(local, "docs"))
    for n in ("photo-2025.jpg", "photo-2026.jpg", "notes.txt", ".hidden"):
        with open(os.path.join(local, n), "w") as f:
            f.write(n + "\n")
    c.dfs_ok("mkdir", "-p", "/lc")
    c.dfs_ok("touch", "/lc/remote-only.txt")
    sh = Pty(c, cwd=local)
    try:
        sh.expect(r"@dfs:/> ", "prompt")
        # put's first argument: the local disk
        sh.send("put no\t")
        sh.expect(r"tes\.txt ", "put: Tab completes a local file (inserts 'tes.txt ')")
        sh.send("/lc/notes.txt\r")
        sh.expect(r"put notes\.txt -> /lc/notes\.txt", "put of the completed name")
        sh.expect(r"@dfs:/> ", "prompt after put")
        sh.send("put pho\t")
        sh.expect(r"to-202", "put: Tab completes the common prefix of two local files")
        sh.send("\t")
        sh.expect(r"photo-2025\.jpg +photo-2026\.jpg\r\n", "put: ambiguous Tab lists local files")
        sh.send("\x03")
        sh.expect(r"@dfs:/> ", "prompt after Ctrl-C")
        sh.send("put d\t")
        sh.expect(r"ocs/", "put: Tab completes a local directory (inserts 'ocs/')")
        sh.send("\x03")
        sh.expect(r"@dfs:/> ", "prompt after Ctrl-C")
        # put's second argument and get's first: remote
        sh.send("put notes.txt /lc/rem\t")
        sh.expect(r"ote-only\.txt ", "put: the destination completes remotely")
        sh.send("\x03")
        sh.expect(r"@dfs:/> ", "prompt after Ctrl-C")
        sh.send("get /lc/no\t")
        sh.expect(r"tes\.txt ", "get: the source completes remotely")
        # get's second argument: local
        sh.send("do\t")
        sh.expect(r"cs/", "get: Tab completes the local destination directory")
        sh.send("\r")
        sh.expect(r"@dfs:/> ", "prompt after get")
        sh.send("exit\r")
        check(sh.wait_exit("exit") == 0, "exit status: %r" % sh.buf[-800:])
    finally:
        sh.close()
    with open(os.path.join(local, "docs", "notes.txt")) as f:
        check(f.read() == "notes.txt\n", "get into the completed local directory")


HINT = " (check the name with 'dfs ls' of the directory above it)"


def test_script(c):
    c.dfs_ok("mkdir", "-p", "/projects")
    script = "cd /projects\nmkdir gamma\ncd gamma\ntouch 'a file.txt'\npwd\nls\ncd /nope\n"
    rc, out, err = c.dfs("shell", input=script)
    check(out.splitlines() == ["/projects/gamma", "a file.txt"], "script output: %r" % out)
    check(err == "dfs: line 7: cd: /nope does not exist%s\n" % HINT, "script err %r" % err)
    check(rc == 1, "a script ending with a failed command exits 1, got %d" % rc)
    # the status is the last command's (as sh); exit N ends with N
    for script, want_rc, want_out, want_err in (
            ("cd /nope\n# a comment\n\npwd\n", 0, "/\n", "dfs: line 1: cd: /nope does not exist%s\n" % HINT),
            ("pwd\nexit 7\npwd\n", 7, "/\n", ""),
            ("cd /nope\nexit\n", 1, "", "dfs: line 1: cd: /nope does not exist%s\n" % HINT),
            ("pwd\n\nfrob\n", 2, "/\n", "dfs: line 3: frob: unknown command (type 'help' for the list)\n"),
            ("exit many\npwd\n", 2, "", "dfs: line 1: exit: many: not a status (exit [N], N in 0..255)\n"),
            ("exit 256\n", 2, "", "dfs: line 1: exit: 256: not a status (exit [N], N in 0..255)\n"),
            ("exit 0\n", 0, "", "")):
        rc, out, err = c.dfs("shell", input=script)
        check((rc, out, err) == (want_rc, want_out, want_err),
              "script %r: got %r, expected %r" % (script, (rc, out, err), (want_rc, want_out, want_err)))


def test_logged_in(t):
    with t.cluster(chunkservers=1, name="shell-auth", auth=True) as c:
        c.dfs_ok("mkdir", "-p", "/home")
        c.register("carol", "carol-password-1")
        c.login("carol", "carol-password-1")
        c.dfs_as_ok("carol", "mkdir", "-p", "~/docs")
        sh = Pty(c, env=c.user_env("carol"))
        try:
            sh.expect(r"carol@dfs:/home/carol> ", "prompt of a logged-in user at home")
            sh.send("cd do\t")
            sh.expect(r"cs/", "completion below home (inserts 'cs/')")
            sh.send("\r")
            sh.expect(r"carol@dfs:/home/carol/docs> ", "cd into docs")
            sh.send("cd\r")
            sh.expect(r"carol@dfs:/home/carol> ", "cd alone goes home")
            sh.send("exit\r")
            rc = sh.wait_exit("exit")
            check(rc == 0, "exit after successful commands: status %d" % rc)
        finally:
            sh.close()


def main(t):
    with t.cluster(chunkservers=1, name="shell") as c:
        t.case("shell on a pty: prompt, help, Tab completion, cd/pwd, history, errors",
               test_interactive, c)
        t.case("shell reading a script from stdin: line numbers, exit status, exit N",
               test_script, c)
        t.case("Ctrl-C: a half-typed line, a running command", test_ctrl_c, c)
        t.case("history between sessions: file, mode 0600, bounded, not from scripts",
               test_history, c)
        t.case("Tab completes local paths for put's source and get's destination",
               test_local_completion, c)
    t.case("logged-in prompt at home", test_logged_in, t)


if __name__ == "__main__":
    harness.run(main)
