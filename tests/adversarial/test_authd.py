#!/usr/bin/env python3
"""Hostile clients against authd (issue 12, findings 8 and authd's part of 9), raw wire
only. Each case asserts that the attack is refused with a clear error, that other users
keep working and that authd is still alive:
  - parallel password guessing from many connections and addresses: attempts beyond the
    per-user / per-address limit are refused without bcrypt (counted in authd's log: one
    "failed login for" line per bcrypt check that failed);
  - a register flood (per-address limit) and registration.enabled=false;
  - a login flood (bcrypt cost 10) while another user logs in: that login succeeds within
    a few seconds (the bounded, fair bcrypt queue);
  - a connection flood past the total and per-address caps;
  - an idle connection, a connection that never sends a frame and a half-sent frame are
    closed after their timeouts;
  - a journal with a corrupt middle record refuses to start with one clear line; one with
    a torn last record starts (and drops only that record).
Authd runs alone (no metad needed); client connections come from several loopback
source addresses (127.0.0.x: every one of them is loopback on Linux) so that per-address
limits can be told apart from per-user ones."""

import os
import shutil
import socket
import subprocess
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

MSG_REGISTER, MSG_LOGIN, MSG_WHOAMI = 400, 402, 406
EPERM, EAUTH, EBUSY, EEXIST = -20, -21, -25, -5
DIRS = []  # removed at the end unless a case failed or DFS_KEEP=1


class Authd:
    """One authd on a free port with its own data dir; stopped by PID."""

    def __init__(self, name, *args, data=None):
        self.dir = data or tempfile.mkdtemp(prefix="dfs-adv-authd-%s-" % name)
        if not data:
            DIRS.append(self.dir)
        self.port = harness.free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.admin_pw = "adm-" + os.urandom(8).hex()
        self.journal = os.path.join(self.dir, "data", "auth.journal")
        env = dict(os.environ, DFS_SERVICE_SECRET="s-" + os.urandom(8).hex(),
                   DFS_ADMIN_PASSWORD=self.admin_pw)
        argv = [os.path.join(harness.BIN, "authd"), "--listen", self.addr,
                "--dir", os.path.join(self.dir, "data"), "--set", "bcrypt.cost=4", *args]
        self.d = harness.Daemon("authd-" + name, argv, os.path.join(self.dir, "authd-%s.log" % name), env=env)

    def start(self, timeout=20):
        self.d.start()
        deadline = time.time() + timeout
        while True:
            check(self.d.running(), "authd exited at start:\n" + self.d.log_tail())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                check(time.time() < deadline, "authd not listening after %d s" % timeout)
                time.sleep(0.05)

    def alive(self):
        check(self.d.running(), "authd died:\n" + self.d.log_tail())
        rep = self.d.new_sanitizer_report()
        check(not rep, "sanitizer report in authd's log:\n" + str(rep))
        # it still answers: a whoami with a bogus token gets a clear "not logged in"
        err, msg, _ = whoami(self, "bogus-token")
        check(err == EAUTH and "not logged in" in msg, "whoami: %d %r" % (err, msg))

    def log_count(self, needle, also=None):
        """Lines of the log holding needle (and also, if given)."""
        return sum(1 for l in self.d.log_text().splitlines()
                   if needle in l and (also is None or also in l))

    def stop(self):
        problem = self.d.terminate()
        check(problem is None, problem or "")
        rep = self.d.new_sanitizer_report()
        check(not rep, "sanitizer report in authd's log:\n" + str(rep))


def conn(a, src="127.0.0.1", timeout=10.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", a.port))
    return s


def rpc(s, mtype, payload, req_id=1):
    s.sendall(wire.frame(mtype, payload, req_id=req_id))
    mt, _, rid, rep, _ = wire.read_frame(s)
    check(rid in (req_id, 0), "reply to request %d has id %d" % (req_id, rid))
    return mt, rep


def up(user, pw):
    return wire.f_bytes(1, user) + wire.f_bytes(2, pw)


def login(a, user, pw, src="127.0.0.1"):
    """(error, message, token, seconds)."""
    t0 = time.time()
    with conn(a, src) as s:
        _, rep = rpc(s, MSG_LOGIN, up(user, pw))
    err, msg = wire.status_of(rep)
    tok = wire.one(wire.decode(rep), 2, b"").decode()
    return err, msg, tok, time.time() - t0


def register(a, user, pw, src="127.0.0.1"):
    with conn(a, src) as s:
        _, rep = rpc(s, MSG_REGISTER, up(user, pw))
    return wire.status_of(rep)


def whoami(a, token, src="127.0.0.1"):
    with conn(a, src) as s:
        _, rep = rpc(s, MSG_WHOAMI, wire.f_bytes(1, token))
    err, msg = wire.status_of(rep)
    return err, msg, rep


def must_login(a, user, pw, src="127.0.0.1", within=5.0):
    err, msg, tok, took = login(a, user, pw, src)
    check(err == 0 and len(tok) == 64, "%s could not log in from %s: %d %r" % (user, src, err, msg))
    check(took < within, "%s's login took %.2f s (limit %.1f)" % (user, took, within))
    err, msg, _ = whoami(a, tok, src)
    check(err == 0, "%s's fresh token refused: %r" % (user, msg))
    return took


def parallel(n, fn):
    """Runs fn(i) for i in range(n) in n threads at once; returns the results in order."""
    out = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        try:
            gate.wait()
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[i] = e
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def closed_within(s, limit):
    """Seconds until the peer closes s (reads until EOF), failing past limit."""
    t0 = time.time()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        raise harness.TestFailure("connection still open after %.1f s" % limit)
    except ConnectionResetError:
        pass
    return time.time() - t0


# ---- cases ----------------------------------------------------------------------------

def t_parallel_guessing(a):
    """24 connections from 12 addresses (within the connection caps) guess victim's
    password at once: only login.max_failures_per_user (5) bcrypt checks happen, the
    rest are refused at once."""
    check(register(a, "victim", "victim-pw-123")[0] == 0, "register victim")
    check(register(a, "alice", "alice-pw-123")[0] == 0, "register alice")
    before = a.log_count("failed login for 'victim'")

    def guess(i):
        return login(a, "victim", "guess-%03d-xx" % i, src="127.0.0.%d" % (10 + i % 12))
    res = parallel(24, guess)
    for r in res:
        check(not isinstance(r, Exception), "a guess failed: %r" % (r,))
    wrong = [r for r in res if r[0] == EAUTH]
    refused = [r for r in res if r[0] == EBUSY]
    checked = a.log_count("failed login for 'victim'") - before
    print("    24 parallel guesses: %d checked with bcrypt (log: %d), %d refused; "
          "slowest refusal %.3f s" % (len(wrong), checked, len(refused),
                                      max(r[3] for r in refused)))
    check(len(wrong) + len(refused) == 24, "unexpected replies: %r" % [r[:2] for r in res])
    check(len(wrong) <= 5 and checked <= 5, "%d guesses were checked (limit 5)" % checked)
    check(all("too many failed logins for victim; try again in" in r[1] for r in refused),
          "refusal unclear: %r" % refused[0][1])
    # still locked for the next guess, even from a new address
    err, msg, _, took = login(a, "victim", "guess-again", src="127.0.0.99")
    check(err == EBUSY and "try again in" in msg, "25th guess: %d %r" % (err, msg))
    check(a.log_count("failed login for 'victim'") - before == checked, "25th guess ran bcrypt")
    # other users are unaffected, from any address
    must_login(a, "alice", "alice-pw-123", src="127.0.0.11")
    a.alive()


def t_address_guessing(a):
    """One address guesses many users' passwords: after max_failures_per_address (8)
    it is refused for every user, other addresses are not."""
    before = a.log_count("failed login for '", "from 127.0.0.77")
    res = [login(a, "user%02d" % i, "guess-%03d-xx" % i, src="127.0.0.77") for i in range(20)]
    wrong = [r for r in res if r[0] == EAUTH]
    refused = [r for r in res if r[0] == EBUSY]
    checked = a.log_count("failed login for '", "from 127.0.0.77") - before
    print("    20 guesses for 20 users from one address: %d checked, %d refused"
          % (len(wrong), len(refused)))
    check(len(wrong) == 8 and len(refused) == 12, "per-address limit: %r" % [r[:2] for r in res])
    check(checked == 8, "%d bcrypt checks logged for 127.0.0.77 (limit 8)" % checked)
    check(all("too many failed logins from 127.0.0.77; try again in" in r[1] for r in refused),
          "refusal unclear: %r" % refused[0][1])
    # even alice's right password is refused from that address, but works elsewhere
    err, msg, _, _ = login(a, "alice", "alice-pw-123", src="127.0.0.77")
    check(err == EBUSY, "alice from the locked address: %d %r" % (err, msg))
    must_login(a, "alice", "alice-pw-123", src="127.0.0.78")
    a.alive()


def t_register_flood(a):
    """10 parallel registrations from one address (its connection cap), then 10 more:
    registration.per_address (5) pass, the rest are refused with a clear line; another
    address registers fine."""
    res = parallel(10, lambda i: register(a, "flood%02d" % i, "flood-pw-123", src="127.0.0.30"))
    res += [register(a, "flood%02d" % i, "flood-pw-123", src="127.0.0.30") for i in range(10, 20)]
    ok = [r for r in res if r[0] == 0]
    refused = [r for r in res if r[0] == EBUSY]
    print("    20 registrations (10 parallel) from one address: %d accepted, %d refused"
          % (len(ok), len(refused)))
    check(len(ok) == 5 and len(refused) == 15, "register flood: %r" % res)
    check(all("too many registrations from 127.0.0.30; try again in" in r[1] for r in refused),
          "refusal unclear: %r" % sorted(set(r[1] for r in refused)))
    check(register(a, "carol", "carol-pw-123", src="127.0.0.31") == (0, ""), "carol's registration")
    must_login(a, "carol", "carol-pw-123", src="127.0.0.31")
    a.alive()


def t_registration_off():
    a = Authd("noreg", "--set", "registration.enabled=false").start()
    try:
        err, msg = register(a, "mallory", "mallory-pw-1")
        check(err == EPERM and "self-registration is turned off" in msg and
              "administrator" in msg, "registration.enabled=false: %d %r" % (err, msg))
        must_login(a, "admin", a.admin_pw)
        err, msg, _, _ = login(a, "mallory", "mallory-pw-1")
        check(err == EAUTH, "mallory exists after all")
        a.alive()
    finally:
        a.stop()


def t_login_flood():
    """8 addresses x 4 connections send logins non-stop at bcrypt cost 10 (one bcrypt
    thread) while alice logs in from another address: alice gets in within 3 s, and the
    flood is answered "busy" instead of queueing."""
    a = Authd("flood", "--set", "bcrypt.cost=10", "--set", "bcrypt.threads=1",
              "--set", "bcrypt.max_queued=16", "--set", "bcrypt.max_per_address=4",
              "--set", "login.max_failures_per_user=0",
              "--set", "login.max_failures_per_address=0").start()
    try:
        check(register(a, "alice", "alice-pw-123", src="127.0.0.200")[0] == 0, "register alice")
        quiet = must_login(a, "alice", "alice-pw-123", src="127.0.0.200")
        stop = threading.Event()
        counts = {"busy": 0, "checked": 0, "other": []}
        lock = threading.Lock()

        def flooder(i):
            src = "127.0.0.%d" % (100 + i % 8)
            n = 0
            while not stop.is_set():
                try:
                    with conn(a, src) as s:
                        while not stop.is_set():
                            n += 1
                            _, rep = rpc(s, MSG_LOGIN, up("nobody%d" % i, "guess-%d-xxxx" % n), n)
                            err, msg = wire.status_of(rep)
                            with lock:
                                if err == EBUSY:
                                    counts["busy"] += 1
                                elif err == EAUTH:
                                    counts["checked"] += 1
                                else:
                                    counts["other"].append((err, msg))
                except OSError:
                    time.sleep(0.01)
        ts = [threading.Thread(target=flooder, args=(i,)) for i in range(32)]
        for t in ts:
            t.start()
        time.sleep(1.5)  # the queue is full by now
        lat = [must_login(a, "alice", "alice-pw-123", src="127.0.0.200", within=3.0)
               for _ in range(3)]
        stop.set()
        for t in ts:
            t.join(30)
        print("    alice's login: %.3f s without a flood, %s s during it; flood: %d checked, "
              "%d answered busy" % (quiet, ", ".join("%.2f" % x for x in lat),
                                    counts["checked"], counts["busy"]))
        check(counts["busy"] > 0, "the flood was never answered busy")
        check(not counts["other"], "unexpected replies to the flood: %r" % counts["other"][:3])
        check(a.log_count("password check") > 0, "no refusal logged")
        a.alive()
    finally:
        a.stop()


def t_conn_flood(a):
    """connections.max_per_address (10) and connections.max (30): the next connection
    gets one clear error frame and is closed; others keep working."""
    held = [conn(a, "127.0.0.40") for _ in range(10)]
    try:
        s = conn(a, "127.0.0.40")
        mt, _, rid, rep, _ = wire.read_frame(s)
        err, msg = wire.status_of(rep)
        check(mt == wire.MSG_ERROR and err == EBUSY and
              "too many connections from 127.0.0.40 (limit 10)" in msg, "per address: %r" % msg)
        closed_within(s, 2)
        s.close()
        must_login(a, "alice", "alice-pw-123", src="127.0.0.41")  # another address: fine
        for i in range(20):
            held.append(conn(a, "127.0.0.%d" % (42 + i % 3)))
        s = conn(a, "127.0.0.50")
        mt, _, _, rep, _ = wire.read_frame(s)
        err, msg = wire.status_of(rep)
        check(err == EBUSY and "too many connections to this server (limit 30)" in msg,
              "total cap: %r" % msg)
        s.close()
        # the CLI shows that refusal as it is (not as a protocol error)
        home = tempfile.mkdtemp(prefix="dfs-adv-authd-cli-")
        DIRS.append(home)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "XDG_CONFIG_HOME": home,
               "DFS_AUTH": a.addr, "DFS_META": "127.0.0.1:1"}
        p = subprocess.run([os.path.join(harness.BIN, "dfs"), "login", "alice",
                            "--password-stdin"], input="alice-pw-123\n", capture_output=True,
                           text=True, env=env, timeout=30)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        check(p.returncode == 1 and len(lines) == 1 and "too many connections" in lines[0],
              "dfs login at the cap: %d %r" % (p.returncode, p.stderr))
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)  # authd sees the closes
    must_login(a, "alice", "alice-pw-123", src="127.0.0.50")
    a.alive()


def t_idle_closed(a):
    """A connection idle after one request is closed after connections.idle_timeout (1.5 s)."""
    s = conn(a, "127.0.0.60")
    rpc(s, MSG_WHOAMI, wire.f_bytes(1, "x"))
    took = closed_within(s, 5)
    s.close()
    print("    idle connection closed after %.2f s (idle_timeout 1.5 s)" % took)
    check(1.4 <= took <= 2.5, "closed after %.2f s, expected about 1.5 s" % took)
    a.alive()


def eof_watch(s):
    """A thread noting when the peer closes s: returns a dict with "t" once it did."""
    out = {}

    def run():
        s.settimeout(10)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        out["t"] = time.time()
    th = threading.Thread(target=run)
    th.start()
    out["thread"] = th
    return out


def t_half_frame(a):
    """No frame at all, half a header, and a login frame sent one byte per 100 ms
    (never the last byte): each is closed about connections.frame_timeout (1 s) after
    its start, even though bytes keep arriving; others log in meanwhile."""
    f = wire.frame(MSG_LOGIN, up("alice", "alice-pw-123"))
    t0 = time.time()
    silent, half, drip = conn(a, "127.0.0.61"), conn(a, "127.0.0.62"), conn(a, "127.0.0.63")
    half.sendall(f[:10])
    w = [eof_watch(x) for x in (silent, half, drip)]
    for i in range(len(f) - 1):
        if "t" in w[2] or time.time() - t0 > 5:
            break
        try:
            drip.sendall(f[i:i + 1])
        except OSError:
            break
        if i == 3:
            must_login(a, "alice", "alice-pw-123", src="127.0.0.64")
        time.sleep(0.1)
    for x in w:
        x["thread"].join(10)
    took = [x.get("t", t0 + 99) - t0 for x in w]
    print("    closed after: no frame %.2f s, half a header %.2f s, byte by byte %.2f s" % tuple(took))
    check(all(0.9 <= x <= 2.0 for x in took), "frame timeout 1 s not kept: %r" % took)
    for s in (silent, half, drip):
        s.close()
    check(a.log_count("no complete first frame within 1000 ms") >= 3, "no log line per connection")
    a.alive()


def journal_records(path):
    """[(offset, length)] of the records of an auth.journal."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 8 <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        out.append((off, n))
        off += 8 + n
    check(off == len(data), "journal does not parse")
    return out, data


def make_journal_dir():
    """A data dir with admin + 3 users (and sessions); returns (dir, admin password)."""
    a = Authd("jrnl").start()
    for u in ("ann", "ben", "cid"):
        check(register(a, u, u + "-pw-12345")[0] == 0, "register " + u)
        must_login(a, u, u + "-pw-12345")
    a.stop()
    return a.dir, a.admin_pw


def t_journal_corrupt_middle():
    d, _ = make_journal_dir()
    a = Authd("jrnl-mid", data=d)
    recs, data = journal_records(a.journal)
    check(len(recs) >= 5, "only %d records" % len(recs))
    off, n = recs[2]
    bad = bytearray(data)
    bad[off + 8 + n // 2] ^= 0xff
    open(a.journal, "wb").write(bytes(bad))
    a.d.start()
    try:
        a.d.proc.wait(10)
    except Exception:  # noqa: BLE001
        raise harness.TestFailure("authd kept running on a corrupt journal")
    a.d.expect_running = False
    rc = a.d.proc.returncode
    lines = [l for l in a.d.log_text().splitlines() if l.strip() and not l.startswith("==== harness")]
    print("    exit %d: %s" % (rc, lines[-1] if lines else "(nothing)"))
    check(rc != 0, "authd exited 0 on a corrupt journal")
    check(len(lines) == 1, "expected one line, got %r" % lines)
    ln = lines[0]
    check(a.journal in ln and "offset %d" % off in ln and "journal.repair" in ln and
          "backup" in ln, "the line does not name file, offset and what to do: %r" % ln)
    check(open(a.journal, "rb").read() == bytes(bad), "the corrupt journal was changed")
    # the way out it names works, keeping what came before
    a2 = Authd("jrnl-repair", "--set", "journal.repair=true", data=d).start()
    try:
        check(a2.log_count("journal.repair: dropping") == 1, "repair not logged")
        a2.alive()
    finally:
        a2.stop()


def t_journal_torn_tail():
    d, admin_pw = make_journal_dir()
    a = Authd("jrnl-tail", data=d)
    recs, data = journal_records(a.journal)
    off, n = recs[-1]
    open(a.journal, "wb").write(data[:off + 8 + n // 2])  # the last record cut in half
    a.admin_pw = admin_pw
    a.start()
    try:
        check(a.log_count("dropping a torn last record at offset %d" % off) == 1,
              "no warning about the torn record:\n" + a.d.log_tail())
        for u in ("ann", "ben", "cid"):  # users survive
            must_login(a, u, u + "-pw-12345")
        must_login(a, "admin", admin_pw)
        a.alive()
    finally:
        a.stop()


def main(r):
    a = Authd("main", "--set", "login.max_failures_per_user=5",
              "--set", "login.max_failures_per_address=8",
              "--set", "registration.per_address=5",
              "--set", "connections.max=30", "--set", "connections.max_per_address=10",
              "--set", "connections.idle_timeout=1500ms",
              "--set", "connections.frame_timeout=1s").start()
    try:
        r.case("parallel password guessing: beyond the per-user limit, no bcrypt", t_parallel_guessing, a)
        r.case("guessing from one address: per-address limit", t_address_guessing, a)
        r.case("register flood from one address", t_register_flood, a)
        r.case("connection flood past the per-address and total caps", t_conn_flood, a)
        r.case("idle connection closed", t_idle_closed, a)
        r.case("no frame, half a frame, a frame byte by byte: closed", t_half_frame, a)
    finally:
        r.case("authd stops cleanly", a.stop)
    r.case("registration.enabled=false", t_registration_off)
    r.case("login flood while another user logs in", t_login_flood)
    r.case("journal: corrupt middle record refuses to start", t_journal_corrupt_middle)
    r.case("journal: torn last record dropped, authd starts", t_journal_torn_tail)
    if not r.failed and not harness.KEEP:
        for d in DIRS:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    harness.run(main)
