#!/usr/bin/env python3
"""S3 access keys (issue 16): `dfs keys create|ls|rm` and authd's AuthKeys / AuthAccessKey
(proto/auth.proto). The secret is shown once; at most 16 keys per user; an administrator
manages anyone's keys, others only their own and learn nothing about others'; a gateway
holding the cluster secret gets a key's secret, user and a session; deleting the key,
disabling the user or a password change ends those sessions; keys survive kill -9 of
authd and its compaction, deletions too; the journal holds no secret in the clear; a
flood of wrong service secrets from one address harms nobody else."""

import json
import os
import re
import socket
import time

import harness
from harness import check
import wire

MSG_WHOAMI = 406
MSG_KEYS = 416
MSG_ACCESS_KEY = 418
E_NOENT, E_PERM, E_AUTH, E_BUSY, E_QUOTA = -4, -20, -21, -25, -28
KEYS_LIST, KEYS_CREATE, KEYS_DELETE = 0, 1, 2
SECRETS = []  # every secret created: none may be in the journal in the clear


def auth_call(c, mtype, payload, source=None):
    host, port = c.auth_addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10,
                                 source_address=(source, 0) if source else None)
    with s:
        s.sendall(wire.frame(mtype, payload, req_id=5))
        rtype, _, _, rep, _ = wire.read_frame(s)
    check(rtype == mtype + 1, "reply type %d to %d" % (rtype, mtype))
    err, msg = wire.status_of(rep)
    return err, msg, wire.decode(rep)


def access_key(c, key_id, secret=None, want_token=False, source=None):
    """AuthAccessKey as a gateway: (err, msg, user, secret, token)."""
    err, msg, rep = auth_call(c, MSG_ACCESS_KEY, wire.msg(
        (1, key_id), (2, c.secret if secret is None else secret), (3, want_token)), source)
    ui = wire.decode(wire.one(rep, 2, b""))
    return (err, msg, wire.one(ui, 1, b"").decode(), wire.one(rep, 3, b"").decode(),
            wire.one(rep, 4, b"").decode())


def whoami(c, token):
    err, msg, rep = auth_call(c, MSG_WHOAMI, wire.msg((1, token)))
    return err, wire.one(wire.decode(wire.one(rep, 2, b"")), 1, b"").decode()


def create(c, user, *extra):
    """`dfs keys create` as user: (id, secret, full output)."""
    out = c.dfs_as_ok(user, "keys", "create", *extra)
    kid = re.search(r"access key id:\s+(DK[A-Z0-9]{18})\n", out)
    sec = re.search(r"secret key:\s+([A-Za-z0-9+/]{40})\n", out)
    check(kid and sec, "keys create printed no id/secret: %r" % out)
    SECRETS.append(sec.group(1))
    return kid.group(1), sec.group(1), out


def ls_ids(c, user, *extra):
    out = c.dfs_as_ok(user, "keys", "ls", "--json", *extra)
    keys = json.loads(out)
    for k in keys:
        check("secret_key" not in k, "ls --json shows a secret: %r" % k)
    return [k["access_key_id"] for k in keys]


def wait_token_dead(c, token, timeout=8.0):
    """authd refuses the token at once; metad within its cache ttl (1 s here)."""
    err, _ = whoami(c, token)
    check(err == E_AUTH, "authd still accepts the token (error %d)" % err)
    t0 = time.time()
    while True:
        rc, _, err = c.dfs_as(None, "ls", "/", env={"DFS_TOKEN": token})
        if rc != 0:
            return
        if time.time() - t0 > timeout:
            raise harness.TestFailure("metad still accepts the token %.0f s later" % timeout)
        time.sleep(0.2)


def t_create_list_delete(c):
    c.register("alice", "alice-password-1")
    c.login("alice", "alice-password-1")
    check(c.dfs_as_ok("alice", "keys", "ls").startswith("no access keys"), "ls of no keys")
    kid, sec, out = create(c, "alice")
    check("shown only now" in out and "aws configure" in out and "--endpoint-url" in out,
          "create does not say the secret is shown once / how to configure: %r" % out)
    text = c.dfs_as_ok("alice", "keys", "ls")
    check(kid in text and sec not in text, "ls: %r" % text)
    check(ls_ids(c, "alice") == [kid], "ls --json")
    kid2, sec2, _ = create(c, "alice")
    check(ls_ids(c, "alice") == [kid, kid2], "two keys, oldest first")
    out = c.dfs_as_ok("alice", "keys", "rm", kid)
    check("deleted access key " + kid in out, "rm said %r" % out)
    check(ls_ids(c, "alice") == [kid2], "after rm")
    line = c.dfs_as_fails("alice", "keys", "rm", kid)
    check("no such access key" in line, "rm again: %r" % line)
    # usage mistakes: exit 2
    for args in (("keys",), ("keys", "frob"), ("keys", "rm"), ("keys", "ls", kid),
                 ("keys", "ls", "--user", "Bad Name")):
        rc, _, err = c.dfs_as("alice", *args)
        check(rc == 2, "dfs %s: exit %d (want 2): %s" % (" ".join(args), rc, err.strip()))


def t_limit(c):
    c.register("bob", "bob-password-1")
    c.login("bob", "bob-password-1")
    for i in range(16):
        k = json.loads(c.dfs_as_ok("bob", "keys", "create", "--json"))
        check(re.fullmatch(r"DK[A-Z0-9]{18}", k["access_key_id"]) and
              re.fullmatch(r"[A-Za-z0-9+/]{40}", k["secret_key"]) and k["user"] == "bob",
              "create --json: %r" % k)
        SECRETS.append(k["secret_key"])
    line = c.dfs_as_fails("bob", "keys", "create")
    check("16" in line and "dfs keys rm" in line, "17th key: %r" % line)
    check(len(ls_ids(c, "bob")) == 16, "16 keys listed")


def t_admin_and_others(c):
    c.register("carol", "carol-password-1")
    c.login("carol", "carol-password-1")
    c.register("dave", "dave-password-1")
    c.login("dave", "dave-password-1")
    kid, _, out = create(c, "admin", "--user", "carol")
    check("user:           carol" in out, "admin created for carol: %r" % out)
    check(ls_ids(c, "carol") == [kid], "carol sees the key the admin made")
    check(ls_ids(c, "admin", "--user", "carol") == [kid], "admin lists carol's keys")
    check(ls_ids(c, "admin") == [], "admin's own keys are apart")
    line = c.dfs_as_fails("dave", "keys", "ls", "--user", "carol")
    check("administrator" in line, "dave lists carol's: %r" % line)
    line = c.dfs_as_fails("dave", "keys", "create", "--user", "carol")
    check("administrator" in line, "dave creates for carol: %r" % line)
    # dave cannot tell carol's key from a key that does not exist
    l1 = c.dfs_as_fails("dave", "keys", "rm", kid)
    l2 = c.dfs_as_fails("dave", "keys", "rm", "DK" + "Z" * 18)
    check(l1.replace(kid, "X") == l2.replace("DK" + "Z" * 18, "X") and "no such access key" in l1,
          "dave's refusals differ: %r vs %r" % (l1, l2))
    check(ls_ids(c, "carol") == [kid], "carol's key untouched")
    line = c.dfs_as_fails("admin", "keys", "ls", "--user", "nobody")
    check("no such user" in line, "admin, unknown user: %r" % line)
    c.dfs_as_ok("admin", "keys", "rm", kid, "--user", "carol")
    check(ls_ids(c, "carol") == [], "admin deleted carol's key")
    # the admin may delete by id alone; naming the wrong user is "no such access key"
    kid, _, _ = create(c, "carol")
    line = c.dfs_as_fails("admin", "keys", "rm", kid, "--user", "dave")
    check("no such access key" in line, "admin, key of another user named: %r" % line)
    out = c.dfs_as_ok("admin", "keys", "rm", kid)
    check("of carol" in out and ls_ids(c, "carol") == [], "admin rm by id: %r" % out)


def t_gateway_lookup(c):
    c.register("erin", "erin-password-1")
    c.login("erin", "erin-password-1")
    c.dfs_as_ok("erin", "mkdir", "/home/erin/d")
    kid, sec, _ = create(c, "erin")
    err, msg, user, secret, token = access_key(c, kid)
    check(err == 0 and user == "erin" and secret == sec and token == "",
          "lookup: %d %r %r" % (err, msg, user))
    err, msg, user, secret, token = access_key(c, kid, want_token=True)
    check(err == 0 and user == "erin" and secret == sec and len(token) == 64, "with token: %r" % msg)
    check(whoami(c, token) == (0, "erin"), "the key's token is erin's session")
    out = c.dfs_as_ok(None, "ls", "/home/erin", env={"DFS_TOKEN": token})
    check("d" in out, "metad accepts the key's token: %r" % out)
    # a session of a key cannot manage keys (a leaked S3 key must not mint others)
    err, msg, _ = auth_call(c, MSG_KEYS, wire.msg((1, token), (2, KEYS_CREATE)))
    check(err == E_PERM, "key session creates a key: %d %r" % (err, msg))
    # refusals: all DFS_EAUTH
    for what, args in (("wrong service secret", (kid, "x" * len(c.secret))),
                       ("empty service secret", (kid, "")),
                       ("unknown key", ("DK" + "A" * 18,)),
                       ("malformed key", ("not-a-key",))):
        err, msg, user, secret, token2 = access_key(c, *args)
        check(err == E_AUTH and msg and secret == "" and token2 == "",
              "%s: %d %r" % (what, err, msg))
    # disabling the user: the key's sessions end, lookups refused; enabling: back
    c.dfs_ok("admin", "users", "disable", "erin")
    wait_token_dead(c, token)
    err, msg, *_ = access_key(c, kid)
    check(err == E_AUTH and "disabled" in msg, "disabled user: %d %r" % (err, msg))
    c.dfs_ok("admin", "users", "enable", "erin")
    c.login("erin", "erin-password-1")  # disabling ended her login too
    err, _, _, _, token = access_key(c, kid, want_token=True)
    check(err == 0 and whoami(c, token) == (0, "erin"), "enabled again")
    # at most 8 sessions per key: the oldest goes
    tokens = [token] + [access_key(c, kid, want_token=True)[4] for _ in range(8)]
    check(whoami(c, tokens[0])[0] == E_AUTH, "9th session of a key did not drop the oldest")
    check(all(whoami(c, t) == (0, "erin") for t in tokens[1:]), "8 newest sessions live")
    # erin's own login is untouched by the key's sessions
    check(whoami(c, c.tokens["erin"]) == (0, "erin"), "erin's login survived")
    # a password change ends them
    c.dfs_as_ok("erin", "passwd", "--password-stdin", input="erin-password-1\nerin-password-2\n")
    wait_token_dead(c, tokens[-1])
    c.tokens["erin"] = c.session_token("erin")
    # deleting the key ends its sessions and its lookups
    err, _, _, _, token = access_key(c, kid, want_token=True)
    check(err == 0, "token after passwd")
    c.dfs_as_ok("erin", "keys", "rm", kid)
    wait_token_dead(c, token)
    err, msg, *_ = access_key(c, kid, want_token=True)
    check(err == E_AUTH, "deleted key: %d %r" % (err, msg))


def t_restart(c):
    c.register("frank", "frank-password-1")
    c.login("frank", "frank-password-1")
    keep, keep_sec, _ = create(c, "frank")
    gone, _, _ = create(c, "frank")
    c.dfs_as_ok("frank", "keys", "rm", gone)
    _, _, _, _, token = access_key(c, keep, want_token=True)
    for _ in range(2):  # the second start replays the compacted journal
        c.authd.kill9()
        c.restart(c.authd)
        check(ls_ids(c, "frank") == [keep], "after kill -9: %r" % ls_ids(c, "frank"))
        err, msg, user, secret, _ = access_key(c, keep)
        check(err == 0 and user == "frank" and secret == keep_sec, "kept key: %d %r" % (err, msg))
        check(access_key(c, gone)[0] == E_AUTH, "deleted key came back")
        check(whoami(c, token) == (0, "frank"), "the key's session survived")
    # deleting the user deletes her keys, for good
    c.dfs_ok("admin", "users", "delete", "frank")
    check(access_key(c, keep)[0] == E_AUTH, "deleted user's key still answers")
    wait_token_dead(c, token)
    c.authd.kill9()
    c.restart(c.authd)
    check(access_key(c, keep)[0] == E_AUTH, "deleted user's key came back after a restart")


def t_journal_sealed(c):
    path = os.path.join(c.dir, "authd", "auth.journal")
    with open(path, "rb") as f:
        data = f.read()
    check(len(SECRETS) > 16, "secrets collected: %d" % len(SECRETS))
    for s in SECRETS:
        check(s.encode() not in data, "a secret is in the journal in the clear")
    log = c.authd.log_text()
    for s in SECRETS:
        check(s not in log, "a secret is in authd's log")


def t_flood(c):
    """3000 wrong service secrets from 127.0.0.2 on one connection: each is refused with
    DFS_EAUTH, cheaply (no lockout: metad and gateways share addresses with everyone
    local), logged at most once a second; meanwhile the gateway's lookups and metad's
    validations (through the CLI) keep working, from the flooding address too."""
    c.register("gwen", "gwen-password-1")
    c.login("gwen", "gwen-password-1")
    kid, sec, _ = create(c, "gwen")
    host, port = c.auth_addr.rsplit(":", 1)
    bad = wire.msg((1, kid), (2, "y" * 48))
    log_before = c.authd.log_text().count("refused an access key lookup")
    n, t0 = 3000, time.time()
    with socket.create_connection((host, int(port)), timeout=10,
                                  source_address=("127.0.0.2", 0)) as s:
        for i in range(n):
            s.sendall(wire.frame(MSG_ACCESS_KEY, bad, req_id=i + 1))
            _, _, _, rep, _ = wire.read_frame(s)
            err, _ = wire.status_of(rep)
            check(err == E_AUTH, "wrong secret %d answered %d" % (i, err))
            check(wire.one(wire.decode(rep), 3, b"") == b"", "a secret leaked to a wrong caller")
            if i % 500 == 0:  # others are served in the middle of it
                err, msg, _, secret, _ = access_key(c, kid)
                check(err == 0 and secret == sec, "the gateway during the flood: %r" % msg)
                c.dfs_as_ok("gwen", "ls", "/home/gwen")
    took = time.time() - t0
    err, msg, user, secret, _ = access_key(c, kid, source="127.0.0.2")
    check(err == 0 and secret == sec, "the right secret from the same address: %r" % msg)
    lines = c.authd.log_text().count("refused an access key lookup") - log_before
    check(lines <= took + 2, "%d log lines for %d refusals in %.1f s" % (lines, n, took))
    print("    %d wrong secrets answered in %.2f s, %d log lines" % (n, took, lines))


def main(r):
    with r.cluster(chunkservers=1, name="keys", auth=True) as c:
        r.case("create, list, delete; the secret is shown once", t_create_list_delete, c)
        r.case("at most 16 keys per user", t_limit, c)
        r.case("admin manages another's keys; others cannot, nor learn they exist",
               t_admin_and_others, c)
        r.case("gateway lookup: secret, user, token; refusals; sessions end", t_gateway_lookup, c)
        r.case("keys and deletions survive kill -9 of authd and compaction", t_restart, c)
        r.case("no secret in the journal or the log in the clear", t_journal_sealed, c)
        r.case("a flood of wrong service secrets harms nobody else", t_flood, c)


if __name__ == "__main__":
    harness.run(main)
