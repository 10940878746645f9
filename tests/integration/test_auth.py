#!/usr/bin/env python3
"""Users and security with real daemons (issue 3, "How it is judged"): logins (wrong
password, unknown user), tokens (expired, revoked by logout and by passwd, forged,
truncated), user A against user B's files for every operation metad serves (CLI and raw
wire; rename/copy/setrep/search/touch/trash are checked as soon as metad handles them),
the admin listing anyone's files, chunk capabilities (none, another chunk's, expired, the
wrong operation), a fake chunkserver without / with a wrong cluster secret, `..` and other
path tricks, odd names. Every refusal must come with a clear error AND leave the state as
it was (checked afterwards). Last: every log of this debug-level run, the CLI's output
and authd's data directory are grepped for the passwords and tokens used."""

import os
import random
import time

import harness
from harness import check
import wire

# Message types (proto/common.proto) and error codes (src/common/errors.h) used here.
MSG_LIST, MSG_STAT, MSG_DELETE, MSG_MKDIR = 102, 104, 106, 100
MSG_GETFILE, MSG_CHMOD, MSG_RENAME, MSG_COPY = 112, 118, 120, 122
MSG_SETREP, MSG_SEARCH, MSG_TRASH, MSG_TOUCH = 124, 126, 128, 132
MSG_REGISTER, MSG_HEARTBEAT = 200, 204
MSG_WRITE, MSG_READ = 300, 302
EPERM, EAUTH = -20, -21
DENIED = (EPERM, EAUTH)

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)

PW = {"alice": "alice-pw-%08x" % rng.getrandbits(32), "bob": "bob-pw-%08x" % rng.getrandbits(32),
      "carol": "carol-pw-%08x" % rng.getrandbits(32), "dave": "dave-pw-%08x" % rng.getrandbits(32)}
DAVE_NEW = "dave-new-%08x" % rng.getrandbits(32)
SECRETS = []      # every password and token used: none may appear in any log
CLI_OUTPUT = []   # every stdout/stderr of the CLI in this run


def record_cli(c):
    orig = c.dfs

    def rec(*a, **k):
        r = orig(*a, **k)
        CLI_OUTPUT.append(r[1] + r[2])
        return r
    c.dfs = rec


def denied_line(line, what):
    low = line.lower()
    check(any(w in low for w in ("permission denied", "not allowed", "not logged in",
                                 "session", "denied", "password", "unknown user",
                                 "authentication", "only an administrator")),
          "%s: the error does not say why: %r" % (what, line))


def snapshot(c, path="/home/bob"):
    """What admin sees below path (names, modes, owners, sizes) + bob's file content."""
    return c.dfs_ok("ls", "-R", "-l", path)


def wait_refused(c, env_user, token, timeout=8.0):
    """Polls `dfs ls /` with token until refused (revocation reaches metad within its
    cache ttl, 1 s here); returns the seconds it took; fails after timeout."""
    t0 = time.time()
    while True:
        rc, _, err = c.dfs_as(env_user, "ls", "/", env={"DFS_TOKEN": token})
        if rc != 0:
            check("not logged in" in err or "session" in err,
                  "refused, but the error does not say why: %r" % err)
            return time.time() - t0
        if time.time() - t0 > timeout:
            raise harness.TestFailure("token still accepted %.0f s later" % timeout)
        time.sleep(0.2)


# --- wire helpers ---------------------------------------------------------------------

def meta_call(c, mtype, payload):
    mt, _, _, rep, _ = wire.call(c.meta, mtype, payload)
    if mt == wire.MSG_ERROR:
        err, msg = wire.status_of(rep)
        return None, err, msg
    err, msg = wire.status_of(rep)
    return rep, err, msg


def getfile(c, token, path):
    rep, err, msg = meta_call(c, MSG_GETFILE, wire.f_bytes(1, token) + wire.f_bytes(2, path))
    check(err == 0, "GetFile %s as admin: %d %s" % (path, err, msg))
    chunks = []
    for raw in wire.decode(rep).get(3, []):
        cl = wire.decode(raw)
        reps = [wire.decode(r) for r in cl.get(6, [])]
        # each replica comes with its own read capability (it names that server)
        chunks.append({"id": wire.one(cl, 2), "version": wire.one(cl, 3),
                       "length": wire.one(cl, 4),
                       "ids": [wire.one(r, 1) for r in reps],
                       "caps": [wire.one(r, 4, b"") for r in reps],
                       "servers": ["%s:%d" % (wire.one(r, 2, b"").decode(), wire.one(r, 3))
                                   for r in reps]})
    return chunks


def read_chunk(addr, cap, chunk_id, version, length=0, offset=0):
    p = (wire.f_bytes(1, cap) if cap else b"") + wire.f_varint(2, chunk_id) + \
        wire.f_varint(3, version) + wire.f_varint(4, offset) + wire.f_varint(5, length)
    mt, _, _, rep, bulk = wire.call(addr, MSG_READ, p)
    err, msg = wire.status_of(rep)
    return err, msg, bulk


def write_chunk(addr, cap, chunk_id, data):
    blocks = [wire.crc32c(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    p = (wire.f_bytes(1, cap) if cap else b"") + wire.f_varint(2, chunk_id) + \
        wire.f_varint(3, 1) + wire.f_varint(4, len(data)) + wire.f_varint(5, wire.crc32c(data))
    for b in blocks:
        p += wire.f_varint(6, b)
    mt, _, _, rep, _ = wire.call(addr, MSG_WRITE, p, bulk=data)
    return wire.status_of(rep)


def chunk_files(c, chunk_id):
    """Stored replicas of chunk_id on every chunkserver (chunk files and packed records)."""
    return [r for d in c.chunkds for r in harness.chunk_replicas(harness.chunkd_data_dir(d))
            if r.id == chunk_id]


# --- cases ----------------------------------------------------------------------------

KEEP = None


def t_accounts(c):
    global KEEP
    KEEP = c.scratch("keep")
    harness.make_file(KEEP, 100, rng.randrange(1 << 31))
    for u in ("alice", "bob", "carol", "dave"):
        c.register(u, PW[u])
    for u in ("alice", "bob", "dave"):
        SECRETS.append(c.login(u, PW[u]))
        c.dfs_as_ok(u, "stat", "~")  # the first request makes /home/<u>
        # (not empty: `dfs ls` of an empty directory trips UBSan in src/cli/ls.c, qsort
        # with NULL; reported to its owner)
        c.dfs_as_ok(u, "put", KEEP, "~/keep.txt")
    out = c.dfs_as_ok("alice", "whoami")
    check("alice" in out and "admin:   no" in out, "whoami: %r" % out)
    line = c.dfs_as_fails("carol", "register", "alice", "--password-stdin", input="x-other-pw-1\n")
    check("exist" in line.lower() or "taken" in line.lower(), "register an existing name: %r" % line)


def t_wrong_password(c):
    line = c.dfs_as_fails("carol", "login", "carol", "--password-stdin", input="not-her-password\n")
    denied_line(line, "wrong password")
    check(c.session_token("carol") is None, "a failed login left a session file")
    c.dfs_as_fails("carol", "ls", "/home/carol")  # still not logged in


def t_unknown_user(c):
    line = c.dfs_as_fails("carol", "login", "nosuchuser", "--password-stdin", input="whatever-pw-1\n")
    denied_line(line, "unknown user")
    check(c.session_token("carol") is None, "a failed login left a session file")
    line2 = c.dfs_as_fails("carol", "login", "carol", "--password-stdin", input="not-her-password\n")
    check(line.split(":", 2)[-1] == line2.split(":", 2)[-1],
          "unknown user and wrong password must look alike: %r vs %r" % (line, line2))


def t_forged_tokens(c):
    real = c.tokens["alice"]
    before = snapshot(c, "/home/alice")
    forged = ["".join(rng.choice("0123456789abcdef") for _ in real), real[:-4], real[:8],
              real[:-1] + ("0" if real[-1] != "0" else "1"), real + "00", "x" * 600]
    for f in forged:
        rc, _, err = c.dfs_as(None, "ls", "/home/alice", env={"DFS_TOKEN": f, "DFS_USER": "alice"})
        check(rc == 1 and ("not logged in" in err or "token" in err),
              "forged token %r...: rc %d %r" % (f[:10], rc, err))
        rc, _, err = c.dfs_as(None, "mkdir", "/home/alice/forged",
                              env={"DFS_TOKEN": f, "DFS_USER": "alice"})
        check(rc == 1, "mkdir with a forged token succeeded")
        # raw wire: the token exactly as given, no CLI validation in between
        _, err, msg = meta_call(c, MSG_LIST, wire.f_bytes(1, f) + wire.f_bytes(2, "/home/alice"))
        check(err == EAUTH, "List with a forged token: %d %s" % (err, msg))
    _, err, msg = meta_call(c, MSG_LIST, wire.f_bytes(2, "/"))
    check(err == EAUTH, "List without a token: %d %s" % (err, msg))
    check(snapshot(c, "/home/alice") == before, "state changed after forged-token requests")


def t_revoked_logout(c):
    tok = c.login("alice", PW["alice"])
    SECRETS.append(tok)
    c.dfs_as_ok(None, "ls", "/home/alice", env={"DFS_TOKEN": tok})
    c.logout("alice")
    check(c.session_token("alice") is None, "logout left the session file")
    took = wait_refused(c, None, tok)
    print("    revoked token refused %.1f s after logout" % took)
    c.dfs_as_fails("alice", "ls", "/home/alice")
    SECRETS.append(c.login("alice", PW["alice"]))


def t_revoked_passwd(c):
    old = c.tokens["dave"]
    c.dfs_as_ok("dave", "ls", "~")
    c.dfs_as_ok("dave", "passwd", "--password-stdin", input="%s\n%s\n" % (PW["dave"], DAVE_NEW))
    took = wait_refused(c, None, old)
    print("    old token refused %.1f s after passwd" % took)
    c.dfs_as_ok("dave", "ls", "~")  # passwd logged this session in again
    SECRETS.append(c.session_token("dave"))
    line = c.dfs_as_fails("carol", "login", "dave", "--password-stdin", input=PW["dave"] + "\n")
    denied_line(line, "old password after passwd")
    SECRETS.append(c.login("dave", DAVE_NEW))
    line = c.dfs_as_fails("dave", "passwd", "--password-stdin", input="wrong-old-pw\nanother-pw-123\n")
    denied_line(line, "passwd with a wrong current password")
    c.dfs_as_ok("dave", "ls", "~")


def t_expired(c2):
    c2.register("erin", "erin-password-1")
    tok = c2.login("erin", "erin-password-1")
    SECRETS.append(tok)
    c2.dfs_as_ok("erin", "stat", "~")
    took = wait_refused(c2, "erin", tok, timeout=12)
    print("    token refused %.1f s after login (sessions.ttl 2s, cache 1s)" % took)
    line = c2.dfs_as_fails("erin", "ls", "~")
    check("expired" in line or "not logged in" in line, "expired session: %r" % line)


def setup_bob(c):
    src = c.scratch("bob-f")
    digest = harness.make_file(src, 70000, rng.randrange(1 << 31))
    c.dfs_as_ok("bob", "put", src, "/home/bob/f.txt", "--mode", "600")
    c.dfs_as_ok("bob", "mkdir", "/home/bob/d")
    c.dfs_as_ok("bob", "chmod", "700", "/home/bob/d")
    c.dfs_as_ok("bob", "put", src, "/home/bob/d/g.txt")
    # a world-readable home with a private file: file-level checks, not just the dir
    c.dfs_as_ok("bob", "mkdir", "/home/bob/pub")
    c.dfs_as_ok("bob", "chmod", "755", "/home/bob/pub")
    c.dfs_as_ok("bob", "put", src, "/home/bob/pub/secret.txt")
    c.dfs_as_ok("bob", "chmod", "600", "/home/bob/pub/secret.txt")
    c.dfs_as_ok("bob", "put", src, "/home/bob/pub/open.txt")  # 0644: readable, not writable
    c.dfs_as_ok("bob", "chmod", "711", "/home/bob")  # others may pass, not list
    return src, digest


def t_cross_user_cli(c):
    src, digest = setup_bob(c)
    before = snapshot(c)
    mine = c.scratch("alice-f")
    harness.make_file(mine, 5000, rng.randrange(1 << 31))
    back = c.scratch("alice-back")
    ops = [("ls", "/home/bob"), ("ls", "-R", "/home/bob"), ("ls", "-l", "/home/bob/d"),
           ("stat", "/home/bob/d/g.txt"), ("ls", "-l", "/home/bob/d/g.txt"),
           ("get", "/home/bob/f.txt", back), ("get", "/home/bob/pub/secret.txt", back),
           ("put", mine, "/home/bob/new.txt"), ("put", mine, "/home/bob/f.txt"),
           ("put", mine, "/home/bob/pub/open.txt"),
           ("put", mine, "/home/bob/pub/x.txt"),
           ("rm", "/home/bob/f.txt"), ("rm", "/home/bob/pub/open.txt"), ("rm", "-r", "/home/bob/d"),
           ("rm", "-r", "/home/bob"), ("mkdir", "/home/bob/evil"), ("mkdir", "-p", "/home/bob/d/e/f"),
           ("mkdir", "/home/bob/pub/evil"),
           ("chmod", "777", "/home/bob"), ("chmod", "666", "/home/bob/pub/open.txt"),
           ("chmod", "777", "/home/bob/pub"), ("ls", "~bob"), ("get", "~bob/f.txt", back)]
    for op in ops:
        line = c.dfs_as_fails("alice", *op)
        denied_line(line, "alice: dfs %s" % " ".join(op))
        check(not os.path.exists(back), "alice: dfs %s wrote a local file" % " ".join(op))
    # the positive controls: what alice may do in bob's world-readable directory
    c.dfs_as_ok("alice", "ls", "/home/bob/pub")
    c.dfs_as_ok("alice", "get", "/home/bob/pub/open.txt", back)
    check(harness.sha256_file(back) == digest, "alice read a wrong open.txt")
    os.unlink(back)
    after = snapshot(c)
    check(after == before, "bob's files changed:\n%s\nvs\n%s" % (before, after))
    c.get_check("/home/bob/f.txt", digest)
    c.get_check("/home/bob/pub/secret.txt", digest)
    # anonymous (no session at all) is refused too
    for op in (("ls", "/home/bob/pub"), ("get", "/home/bob/pub/open.txt", back),
               ("mkdir", "/tmpx"), ("put", mine, "/x")):
        line = c.dfs_as_fails(None, *op)
        check("not logged in" in line, "anonymous dfs %s: %r" % (" ".join(op), line))
    check(snapshot(c) == before, "bob's files changed after anonymous requests")
    c.dfs_ok("stat", "/")  # nothing new at / either
    check("tmpx" not in c.dfs_ok("ls", "/") and "x" not in c.dfs_ok("ls", "/").split(),
          "anonymous requests created something at /")


def t_cross_user_wire(c):
    """Every client message with alice's token on bob's paths: each must be refused (a
    message metad does not serve is a failure: a broken route must not pass)."""
    tok = c.tokens["alice"]
    before = snapshot(c)
    T = lambda: wire.f_bytes(1, tok)  # noqa: E731
    reqs = [
        ("List", MSG_LIST, T() + wire.f_bytes(2, "/home/bob")),
        ("Stat", MSG_STAT, T() + wire.f_bytes(2, "/home/bob/d/g.txt")),
        ("GetFile", MSG_GETFILE, T() + wire.f_bytes(2, "/home/bob/pub/secret.txt")),
        ("Delete", MSG_DELETE, T() + wire.f_bytes(2, "/home/bob/f.txt") + wire.f_varint(4, 91001)),
        ("Delete-r", MSG_DELETE, T() + wire.f_bytes(2, "/home/bob/pub") + wire.f_varint(3, 1) +
         wire.f_varint(4, 91002)),
        ("Mkdir", MSG_MKDIR, T() + wire.f_bytes(2, "/home/bob/pub/w") + wire.f_varint(5, 91003)),
        ("Chmod", MSG_CHMOD, T() + wire.f_bytes(2, "/home/bob/pub/open.txt") +
         wire.f_varint(3, 0o666) + wire.f_varint(4, 91004)),
        ("Rename-out", MSG_RENAME, T() + wire.f_bytes(2, "/home/bob/pub/open.txt") +
         wire.f_bytes(3, "/home/alice/stolen") + wire.f_varint(5, 91005)),
        ("Rename-in", MSG_RENAME, T() + wire.f_bytes(2, "/home/alice/keep.txt") +
         wire.f_bytes(3, "/home/bob/pub/mine") + wire.f_varint(5, 91006)),
        ("Copy", MSG_COPY, T() + wire.f_bytes(2, "/home/bob/pub/secret.txt") +
         wire.f_bytes(3, "/home/alice/copy") + wire.f_varint(6, 91007)),
        ("Copy-r", MSG_COPY, T() + wire.f_bytes(2, "/home/bob") + wire.f_bytes(3, "/home/alice/c2") +
         wire.f_varint(4, 1) + wire.f_varint(6, 91008)),
        ("Setrep", MSG_SETREP, T() + wire.f_bytes(2, "/home/bob/pub/open.txt") +
         wire.f_varint(3, 1) + wire.f_varint(5, 91009)),
        ("Touch", MSG_TOUCH, T() + wire.f_bytes(2, "/home/bob/pub/open.txt") + wire.f_varint(4, 91010)),
        ("Touch-new", MSG_TOUCH, T() + wire.f_bytes(2, "/home/bob/pub/new") + wire.f_varint(4, 91011)),
    ]
    for name, mtype, payload in reqs:
        rep, err, msg = meta_call(c, mtype, payload)
        check(not (rep is None and "does not serve" in msg),
              "%s: metad does not serve it (%s)" % (name, msg))
        check(err in DENIED, "%s on bob's path with alice's token: error %d %r (expected "
              "permission denied)" % (name, err, msg))
        check(msg, "%s: refused without a message" % name)
    # Search: may answer, but never with anything inside bob's private directories
    rep, err, msg = meta_call(c, MSG_SEARCH, T() + wire.f_bytes(3, "/home/bob"))
    check(not (rep is None and "does not serve" in msg), "Search: metad does not serve it")
    if err == 0:
        hits = [wire.one(wire.decode(h), 1, b"").decode() for h in wire.decode(rep).get(2, [])]
        bad = [h for h in hits if h.startswith("/home/bob/")]  # bob's home is 0711
        check(not bad, "Search shows alice bob's private entries: %r" % bad)
    else:
        check(err in DENIED, "Search: %d %s" % (err, msg))
    trash_checks(c, tok)
    print("    checked: %s" % ", ".join(n for n, _, _ in reqs + [("Search", 0, 0), ("Trash", 0, 0)]))
    check(snapshot(c) == before, "bob's files changed after alice's wire requests")
    for p in ("/home/alice/stolen", "/home/alice/copy", "/home/alice/c2"):
        rc, _, _ = c.dfs("stat", p)
        check(rc == 1, "%s exists after a refused request" % p)


def trash_items(c, token):
    """[(id, original_path)] of token's trash."""
    rep, err, msg = meta_call(c, MSG_TRASH, wire.f_bytes(1, token) + wire.f_varint(2, 0))
    check(err == 0, "trash list: %d %s" % (err, msg))
    out = []
    for raw in wire.decode(rep).get(2, []):
        it = wire.decode(raw)
        out.append((wire.one(it, 1), wire.one(it, 2, b"").decode()))
    return out


def trash_checks(c, alice_tok):
    """alice restores her trashed file into bob's directory, and bob's trashed file: both
    refused, bob's trash unchanged."""
    bob_tok = c.tokens["bob"]
    c.dfs_as_ok("alice", "put", KEEP, "~/trashme.txt")
    c.dfs_as_ok("bob", "put", KEEP, "~/pub/bobtrash.txt")
    for tok, path, rid in ((alice_tok, "/home/alice/trashme.txt", 92001),
                           (bob_tok, "/home/bob/pub/bobtrash.txt", 92002)):
        _, err, msg = meta_call(c, MSG_DELETE, wire.f_bytes(1, tok) + wire.f_bytes(2, path) +
                                wire.f_varint(4, rid) + wire.f_varint(5, 1))
        check(err == 0, "delete to trash %s: %d %s" % (path, err, msg))
    mine = [i for i, p in trash_items(c, alice_tok) if p == "/home/alice/trashme.txt"]
    bobs = [i for i, p in trash_items(c, bob_tok) if p == "/home/bob/pub/bobtrash.txt"]
    check(mine and bobs, "trashed files not in the trash lists")
    before = snapshot(c)
    T = wire.f_bytes(1, alice_tok)
    _, err, msg = meta_call(c, MSG_TRASH, T + wire.f_varint(2, 1) + wire.f_varint(3, mine[0]) +
                            wire.f_bytes(4, "/home/bob/pub/restored") + wire.f_varint(5, 92003))
    check(err in DENIED, "alice restoring into bob's directory: %d %s" % (err, msg))
    for action, rid in ((1, 92004), (2, 92005)):  # restore / empty bob's item
        _, err, msg = meta_call(c, MSG_TRASH, T + wire.f_varint(2, action) +
                                wire.f_varint(3, bobs[0]) + wire.f_varint(5, rid))
        check(err != 0, "alice %s bob's trash item succeeded" % ("restored", "emptied")[action - 1])
    check(bobs[0] in [i for i, _ in trash_items(c, bob_tok)], "bob's trash item is gone")
    check(all(p.startswith("/home/alice") for _, p in trash_items(c, alice_tok)),
          "alice's trash list shows other users' items")
    check(snapshot(c) == before, "bob's files changed after alice's trash requests")


def t_admin_lists(c):
    out = c.dfs_ok("ls", "-R", "/home/bob")
    for n in ("f.txt", "g.txt", "secret.txt", "open.txt"):
        check(n in out, "admin `ls -R /home/bob` misses %s:\n%s" % (n, out))
    out = c.dfs_as_ok("bob", "ls", "-R", "~")
    check("g.txt" in out and "secret.txt" in out, "bob `ls -R ~`:\n%s" % out)
    line = c.dfs_as_fails("alice", "admin", "users")
    denied_line(line, "alice: dfs admin users")
    out = c.dfs_ok("admin", "users")
    check("alice" in out and "bob" in out, "admin users:\n%s" % out)


def t_admin_disable_delete(c):
    c.register("frank", "frank-password-1")
    tok = c.login("frank", "frank-password-1")
    SECRETS.append(tok)
    c.dfs_as_ok("frank", "stat", "~")
    line = c.dfs_as_fails("alice", "admin", "users", "disable", "frank")
    denied_line(line, "alice disabling frank")
    c.dfs_as_ok("frank", "stat", "~")  # alice's attempt changed nothing
    c.dfs_ok("admin", "users", "disable", "frank")
    took = wait_refused(c, None, tok)
    print("    a disabled user's token refused %.1f s later" % took)
    line = c.dfs_as_fails("frank", "login", "frank", "--password-stdin", input="frank-password-1\n")
    check("disabled" in line.lower() or "password" in line.lower(), "login while disabled: %r" % line)
    c.dfs_ok("admin", "users", "enable", "frank")
    SECRETS.append(c.login("frank", "frank-password-1"))
    c.dfs_ok("admin", "users", "delete", "frank")
    check("frank" not in c.dfs_ok("admin", "users"), "deleted user still listed")
    line = c.dfs_as_fails("frank", "login", "frank", "--password-stdin", input="frank-password-1\n")
    denied_line(line, "login of a deleted user")


def t_authd_kill9(c):
    """kill -9 of authd loses no registered user and no acknowledged logout."""
    c.register("gina", "gina-password-1")
    t1 = c.login("gina", "gina-password-1")
    SECRETS.append(t1)
    c.logout("gina")
    t2 = c.login("gina", "gina-password-1")
    SECRETS.append(t2)
    c.authd.kill9()
    c.restart(c.authd)  # starts it again and logs the admin in
    SECRETS.append(c.admin_token)
    c.dfs_as_ok(None, "stat", "/home", env={"DFS_TOKEN": t2})  # live session survived
    wait_refused(c, None, t1)                                   # the logout survived
    SECRETS.append(c.login("gina", "gina-password-1"))          # and the account


def t_login_slowdown(c):
    """Repeated failed logins are slowed down: none at first, then 250 ms doubling
    (src/authd/ratelimit.h); the right password still works afterwards."""
    took = []
    for i in range(6):
        t0 = time.time()
        line = c.dfs_as_fails("carol", "login", "alice", "--password-stdin", input="guess-%d-xx\n" % i)
        took.append(time.time() - t0)
        denied_line(line, "guess %d" % i)
    print("    failed logins took " + ", ".join("%.2f" % t for t in took) + " s")
    check(took[4] >= 0.2 and took[5] >= 0.45,
          "failed logins in a row are not slowed down (5th %.2f s, 6th %.2f s)" % (took[4], took[5]))
    SECRETS.append(c.login("alice", PW["alice"]))
    c.dfs_as_ok("alice", "stat", "~")


def t_capabilities(c):
    bob_chunks = getfile(c, c.admin_token, "/home/bob/f.txt")
    other = getfile(c, c.admin_token, "/home/bob/d/g.txt")
    ch, oc = bob_chunks[0], other[0]
    cap, sid, addr = ch["caps"][0], ch["ids"][0], ch["servers"][0]
    check(len(cap) == 58, "no read capability for the replica in GetFile: %r" % cap)
    err, msg, bulk = read_chunk(addr, cap, ch["id"], ch["version"])
    check(err == 0 and len(bulk) == ch["length"], "read with a valid capability: %d %s" % (err, msg))
    err, msg, bulk = read_chunk(addr, cap, ch["id"], ch["version"], length=5, offset=3)
    check(err == 0 and len(bulk) == 5, "a read inside the granted range: %d %s" % (err, msg))
    now = int(time.time() * 1000)
    L = ch["length"]
    servers = {s["id"]: "%s:%d" % (s["host"], s["port"]) for s in c.overview()["servers"]}
    elsewhere = [i for i in servers if i != sid][0]

    def rcap(**kw):
        a = dict(secret=c.secret, chunk_id=ch["id"], version=ch["version"], server_id=sid,
                 offset=0, length=L, expiry_ms=now + 60000)
        a.update(kw)
        return wire.sign_read_cap(**a)

    cases = [("no capability", b"", 0, 0),
             ("another chunk's capability", oc["caps"][0], 0, 0),
             ("expired capability", rcap(expiry_ms=now - 1000), 0, 0),
             ("write capability for a read", rcap(op=2), 0, 0),
             ("capability signed with another key", rcap(secret="not-the-secret"), 0, 0),
             ("truncated capability", cap[:57], 0, 0),
             ("capability cut to the old (v1) size", cap[:41], 0, 0),
             ("capability for another version", rcap(version=ch["version"] + 1), 0, 0),
             ("another server's capability", rcap(server_id=elsewhere), 0, 0),
             ("a range past the granted one", rcap(length=L - 1), 0, L),
             ("an offset before the granted range", rcap(offset=1, length=L - 1), 0, 10),
             ("the whole chunk with a partial capability", rcap(offset=0, length=100), 0, L)]
    for what, cp, off, ln in cases:
        err, msg, bulk = read_chunk(addr, cp, ch["id"], ch["version"], length=ln, offset=off)
        check(err == EPERM and not bulk, "read with %s: %d %r (%d bytes)" % (what, err, msg, len(bulk)))
        check(msg, "read with %s: no message" % what)
    # "to the end" (length 0) stops at the end of the granted range
    err, msg, bulk = read_chunk(addr, rcap(length=100), ch["id"], ch["version"])
    check(err == 0 and len(bulk) == 100, "length-0 read with a 100-byte capability: %d %r (%d bytes)"
          % (err, msg, len(bulk)))
    # this replica's (valid) capability on another chunkserver: refused there, by name
    err, msg, bulk = read_chunk(servers[elsewhere], cap, ch["id"], ch["version"])
    check(err == EPERM and "another chunkserver" in msg,
          "this replica's capability replayed on server %d: %d %r" % (elsewhere, err, msg))
    # writes: a fresh chunk id nobody allocated, written to `addr` alone
    data = rng.randbytes(4096)
    cid = (1 << 50) + rng.randrange(1 << 20)
    host, port = addr.rsplit(":", 1)
    me = [(sid, host, int(port))]
    for what, cp in [("no capability", b""),
                     ("another chunk's capability", wire.sign_write_cap(c.secret, cid + 1, 1, me, now + 60000)),
                     ("expired capability", wire.sign_write_cap(c.secret, cid, 1, me, now - 1000)),
                     ("read capability for a write", rcap(chunk_id=cid, version=1)),
                     ("another server's write capability",
                      wire.sign_write_cap(c.secret, cid, 1, [(elsewhere, host, int(port))], now + 60000))]:
        err, msg = write_chunk(addr, cp, cid, data)
        check(err == EPERM, "write with %s: %d %r" % (what, err, msg))
        check(not chunk_files(c, cid), "write with %s left a chunk file" % what)
    # control: the same write with a valid capability is accepted (so the refusals above
    # are the capability's doing)
    err, msg = write_chunk(addr, wire.sign_write_cap(c.secret, cid, 1, me, now + 60000), cid, data)
    check(err == 0, "write with a valid capability: %d %s" % (err, msg))
    check(chunk_files(c, cid), "valid write stored no chunk file")
    # and bob's file is intact
    c.get_check("/home/bob/f.txt", harness.sha256_file(c.scratch("bob-f")))


def t_fake_chunkserver(c):
    before = len(c.overview()["servers"])
    for what, secret in (("without", None), ("with a wrong", "guess-" + c.secret[:8])):
        p = wire.f_bytes(1, "fake-%d" % rng.randrange(1 << 30)) + wire.f_bytes(2, "127.0.0.1") + \
            wire.f_varint(3, 1) + wire.f_varint(4, 1 << 40) + wire.f_varint(5, 1 << 40)
        if secret:
            p += wire.f_bytes(7, secret)
        mt, _, _, rep, _ = wire.call(c.meta, MSG_REGISTER, p)
        err, msg = wire.status_of(rep)
        check(err == EAUTH and "secret" in msg, "register %s secret: %d %r" % (what, err, msg))
    # a heartbeat without registering first
    mt, _, _, rep, _ = wire.call(c.meta, MSG_HEARTBEAT, wire.f_varint(1, 1))
    err, msg = wire.status_of(rep)
    check(err == EAUTH, "heartbeat before register: %d %r" % (err, msg))
    check(len(c.overview()["servers"]) == before, "a fake chunkserver was registered")


def t_path_tricks(c):
    before = snapshot(c)
    alice_before = snapshot(c, "/home/alice")
    mine = c.scratch("alice-f")
    for op in [("ls", "/home/alice/../bob"), ("ls", "/home/alice/../../home/bob/d"),
               ("ls", "//home//bob"), ("ls", "/home/bob/."), ("ls", "/home/./bob/d/.."),
               ("stat", "/home/alice/../bob/d/g.txt"), ("get", "/home/alice/../bob/f.txt", c.scratch("t")),
               ("put", mine, "/home/alice/../bob/evil"), ("put", mine, "../bob/evil"),
               ("mkdir", "/home/alice/../bob/evil"), ("mkdir", "-p", "../bob/x/y"),
               ("rm", "/home/alice/../bob/f.txt"), ("rm", "-r", "../bob/d"),
               ("chmod", "777", "/home/alice/../bob"), ("ls", "/../home/bob")]:
        line = c.dfs_as_fails("alice", *op)
        check(line.split(":", 2)[-1].strip(), "dfs %s: empty error" % " ".join(op))
    check(snapshot(c) == before, "bob's files changed after path tricks")
    check(snapshot(c, "/home/alice") == alice_before, "alice's files changed after path tricks")
    # paths that leave / or name nothing are refused for everyone, the admin included
    for p in ("/..", "/home/..", "/home/bob/..", "/home/bob/f.txt/.."):
        rc, _, err = c.dfs("mkdir", p)
        check(rc != 0, "admin mkdir %r succeeded" % p)


def t_odd_names(c):
    mine = c.scratch("alice-odd")
    digest = harness.make_file(mine, 3000, rng.randrange(1 << 31))
    good = ["my file.txt", " lead", "tab\u00e9", "\u65e5\u672c\u8a9e.txt", "emoji-\U0001f600",
            "a'b\"c", "semi;colon", "-dash"]
    for n in good:
        c.dfs_as_ok("alice", "put", mine, "/home/alice/" + n)
        c.get_check("/home/alice/" + n, digest)
    out = c.dfs_as_ok("alice", "ls", "/home/alice")
    for n in good:
        check(n in out, "ls does not show %r:\n%s" % (n, out))
    before = snapshot(c, "/home/alice")
    raw = set()
    for n in ["new\nline", "tab\there", "nul\x01x", "esc\x1b[31m", "del\x7f", "cr\rx"]:
        for op in (("put", mine), ("mkdir",), ("mkdir", "-p"), ("put", mine, "--no-clobber")):
            rc, _, err = c.dfs_as("alice", *op, "/home/alice/" + n)
            check(rc == 1 and err.startswith("dfs: ") and "invalid" in err,
                  "%s %r: rc %d, %r" % (op[0], n, rc, err))
            if any(ch in err for ch in "\x1b\r\n\x01\x7f".replace("\n", "") if ch in n) or \
                    err.count("\n") > 1:
                raw.add(repr(n))
    if raw:  # reported, not failed: the CLI's message printing is another engineer's
        print("    NOTE: the CLI echoes control bytes of these names raw in its error "
              "line: %s" % ", ".join(sorted(raw)))
    check(snapshot(c, "/home/alice") == before, "names with control characters were created")


def t_no_secrets_in_logs(c, c2):
    SECRETS.extend([PW[u] for u in PW] + [DAVE_NEW, c.admin_password, "erin-password-1",
                                           c.secret, c2.secret, c2.admin_password])
    SECRETS.extend(c.tokens.values())
    SECRETS.extend(c2.tokens.values())
    secrets = sorted({s for s in SECRETS if s})
    check(len(secrets) >= 15, "too few secrets collected (%d)" % len(secrets))
    texts = {}
    for cl in (c, c2):
        for d in cl.daemons():
            texts["%s %s" % (cl.dir, d.name)] = d.log_text()
    texts["cli output"] = "\n".join(CLI_OUTPUT)
    debug_lines = sum(t.count(" DEBUG ") for t in texts.values())
    check(debug_lines > 20, "the logs hold only %d debug lines: not a debug-level run?" % debug_lines)
    for where, text in texts.items():
        for s in secrets:
            check(s not in text, "a password or token appears in %s" % where)
            check(s[:16] not in text or len(s) < 24, "a token prefix appears in %s" % where)
    # a stolen authd store must not reveal live tokens or passwords
    store = os.path.join(c.dir, "authd")
    for root, _, files in os.walk(store):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            for s in secrets:
                check(s.encode() not in data, "authd's %s holds a token or password in clear" % f)
    print("    %d secrets, %d debug lines, %d logs: none found" % (len(secrets), debug_lines, len(texts)))


def main(r):
    with r.cluster(chunkservers=2, name="auth", auth=True, log_level="debug") as c:
        record_cli(c)
        SECRETS.append(c.admin_token)
        r.case("register and login", t_accounts, c)
        r.case("wrong password refused", t_wrong_password, c)
        r.case("unknown user refused like a wrong password", t_unknown_user, c)
        r.case("forged and truncated tokens refused", t_forged_tokens, c)
        r.case("token revoked by logout", t_revoked_logout, c)
        r.case("token revoked by passwd", t_revoked_passwd, c)
        r.case("alice on bob's files: every CLI operation refused, nothing changed", t_cross_user_cli, c)
        r.case("alice on bob's files: every wire request refused", t_cross_user_wire, c)
        r.case("admin lists any user's files", t_admin_lists, c)
        r.case("admin disables, enables, deletes a user; others may not", t_admin_disable_delete, c)
        r.case("kill -9 of authd loses no user, session or logout", t_authd_kill9, c)
        r.case("chunk capabilities: none, other chunk's, expired, wrong op", t_capabilities, c)
        r.case("fake chunkserver without / with a wrong cluster secret", t_fake_chunkserver, c)
        r.case("path tricks (.., //, ~) refused, nothing changed", t_path_tricks, c)
        r.case("names with spaces and Unicode work, control characters refused", t_odd_names, c)
        r.case("repeated failed logins are slowed down", t_login_slowdown, c)
        with r.cluster(chunkservers=1, name="auth-ttl", auth=True, log_level="debug",
                       auth_args=("--set", "sessions.ttl=2s")) as c2:
            record_cli(c2)
            SECRETS.append(c2.admin_token)
            r.case("expired token refused", t_expired, c2)
            r.case("no password or token in any debug log, CLI output or authd store",
                   t_no_secrets_in_logs, c, c2)


if __name__ == "__main__":
    harness.run(main)
