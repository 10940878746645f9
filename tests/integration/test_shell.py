"""`dfs shell` driven as a person uses it, through a pseudo-terminal (python's pty):
the prompt shows user and cwd, help / help CMD, Tab completion of a command and of a
remote path (unique and ambiguous), cd / pwd / relative paths, history with the up
arrow, errors staying in the shell, exit and Ctrl-D; then the same shell reading a
script from a non-terminal stdin, and a logged-in user's prompt starting at home."""

import os
import pty
import re
import select
import signal
import subprocess
import time

import harness
from harness import check

TIMEOUT = 20


class Pty:
    """A dfs shell on a pty; expect() reads until a regex matches the new output."""

    def __init__(self, c, env=None):
        self.master, slave = pty.openpty()
        # never the invoking user's session (~/.config/dfs, e.g. scripts/demo's login):
        # a home of the test's own, no session unless the caller passes one
        e = env
        if e is None:
            e = c.user_env(None)
            home = os.path.join(c.dir, "shell-home")
            os.makedirs(os.path.join(home, "config"), mode=0o700, exist_ok=True)
            e["HOME"], e["XDG_CONFIG_HOME"] = home, os.path.join(home, "config")
        e = dict(e)
        e["TERM"] = "xterm"
        e.pop("DFS_META", None)
        argv = [os.path.join(harness.BIN, "dfs"), "--meta", c.meta, "shell"]
        self.p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=e,
                                  start_new_session=True, close_fds=True)
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


def test_script(c):
    c.dfs_ok("mkdir", "-p", "/projects")
    script = "cd /projects\nmkdir gamma\ncd gamma\ntouch 'a file.txt'\npwd\nls\ncd /nope\n"
    rc, out, err = c.dfs("shell", input=script)
    check(out.splitlines() == ["/projects/gamma", "a file.txt"], "script output: %r" % out)
    check(err.strip() == "dfs: cd: /nope does not exist" or "/nope" in err, "script err %r" % err)
    check(rc == 1, "a script ending with a failed command exits 1, got %d" % rc)


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
        t.case("shell reading a script from stdin", test_script, c)
    t.case("logged-in prompt at home", test_logged_in, t)


if __name__ == "__main__":
    harness.run(main)
