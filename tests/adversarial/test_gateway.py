#!/usr/bin/env python3
"""dfsgw under the hostile-users treatment (issue 16), on its own port: garbage bytes,
headers too big or too many, slow clients holding connections (closed after
connections.idle_timeout; service back once they go), floods of anonymous requests and
of made-up access keys, bodies that lie about their length, keys that try to climb out
of the bucket, an oversized DeleteObjects document. After each, a signed request from a
real user still works and nothing was stored that should not be."""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import check  # noqa: E402
import s3lib  # noqa: E402

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 31)))
print("seed %d (DFS_TEST_SEED=%d reproduces)" % (SEED, SEED), flush=True)
rng = random.Random(SEED)
IDLE_S = 2  # connections.idle_timeout below


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Env:
    def __init__(self, c):
        self.c = c
        c.register("gina", "gina-password-1")
        c.login("gina", "gina-password-1")
        self.kid, self.secret = s3lib.create_key(c, "gina")
        st, _, body = s3lib.request(c, "PUT", "/gbucket", self.kid, self.secret)
        check(st == 200, "create bucket: %d %s" % (st, body[:300]))
        self.host, self.port = "127.0.0.1", c.gateway.port

    def works(self, what):
        """A signed PUT and GET by the real user succeed (the gateway is unharmed)."""
        body = os.urandom(1000)
        key = "/gbucket/ok-%d" % rng.randrange(1 << 30)
        st, _, b = s3lib.request(self.c, "PUT", key, self.kid, self.secret, body=body)
        check(st == 200, "after %s a signed PUT got %d %s" % (what, st, b[:300]))
        st, _, got = s3lib.request(self.c, "GET", key, self.kid, self.secret)
        check(st == 200 and got == body, "after %s a signed GET got %d" % (what, st))
        self.c.check_daemons()

    def raw(self, data, read=True, timeout=5):
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            if not read:
                return b""
            out = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
                    if b"\r\n\r\n" in out and len(out) > 20:
                        break
            except socket.timeout:
                pass
            return out
        finally:
            s.close()


def garbage(e):
    for _ in range(30):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
        try:
            e.raw(junk, timeout=3)
        except OSError:
            pass
    for junk in (b"\x00" * 10000, b"GET / HTTP/9.9\r\n\r\n", b"GET " + b"A" * 70000 + b" HTTP/1.1\r\n\r\n",
                 b"PUT /gbucket/x HTTP/1.1\r\nHost: h\r\nContent-Length: -5\r\n\r\n",
                 b"PUT /gbucket/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        try:
            e.raw(junk, timeout=3)
        except OSError:
            pass
    e.works("garbage")


def big_headers(e):
    out = e.raw(b"GET /gbucket HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n")
    check(out == b"" or out.split(b" ", 2)[1][:1] == b"4", "a 100 KB header: %r" % out[:80])
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(300))
    out = e.raw(b"GET /gbucket HTTP/1.1\r\nHost: h\r\n" + many + b"\r\n")
    check(out == b"" or out.split(b" ", 2)[1][:1] == b"4", "300 headers: %r" % out[:80])
    e.works("huge headers")


def slow_clients(e):
    """Connections that send nothing (or a byte now and then) are closed after the idle
    timeout; while they hold every slot the gateway refuses, then it recovers."""
    held = []
    for _ in range(40):
        s = socket.create_connection((e.host, e.port), timeout=5)
        s.sendall(b"GET /gbucket HTTP/1.1\r\nHost: h\r\n")  # never finished
        held.append(s)
    t0 = time.time()
    closed = 0
    deadline = time.time() + IDLE_S + 6
    for s in held:
        try:  # the gateway may answer (408) before closing: read to the end
            while True:
                s.settimeout(max(0.1, deadline - time.time()))
                if not s.recv(4096):
                    closed += 1
                    break
        except ConnectionResetError:
            closed += 1
        except (socket.timeout, OSError):
            pass
        s.close()
    took = time.time() - t0
    check(closed == len(held), "only %d of %d idle connections were closed within %d s" % (
        closed, len(held), IDLE_S + 6))
    print("    %d half-sent requests closed after %.1f s (idle_timeout %d s)" % (
        closed, took, IDLE_S), flush=True)
    e.works("slow clients")


def floods(e):
    pid = e.c.gateway.pid
    before = rss_kib(pid)
    s = socket.create_connection((e.host, e.port), timeout=10)
    req = b"GET /gbucket/x HTTP/1.1\r\nHost: h\r\n\r\n"
    n, got = 2000, b""
    for i in range(0, n, 100):
        s.sendall(req * 100)
        while got.count(b"HTTP/1.1 403") < i + 100:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            got += chunk
    s.close()
    check(got.count(b"HTTP/1.1 403") == n, "anonymous flood: %d of %d answered 403" % (
        got.count(b"HTTP/1.1 403"), n))
    # made-up keys: each costs authd one call per keys.cache_ttl, then the cache answers
    for i in range(300):
        kid = "DK" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(18))
        st, _, body = s3lib.request(e.c, "GET", "/gbucket", kid, "x" * 40)
        check(st == 403 and s3lib.error_code(body) == "InvalidAccessKeyId",
              "a made-up key: %d %s" % (st, body[:200]))
    after = rss_kib(pid)
    print("    2000 anonymous + 300 made-up-key requests: RSS %d -> %d KiB" % (before, after),
          flush=True)
    check(after - before < 64 * 1024, "the gateway grew by %d KiB under a flood" % (after - before))
    e.c.dfs_as_ok("gina", "whoami")  # authd is fine too
    e.works("floods")


def lying_bodies(e):
    # declares 5 MB, sends 1000 bytes, closes: nothing is stored
    h = {"Host": "%s:%d" % (e.host, e.port)}
    s3lib.sign("PUT", "/gbucket/short", (), h, e.kid, e.secret, "UNSIGNED-PAYLOAD")
    h["Content-Length"] = str(5 << 20)
    head = "PUT /gbucket/short HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    e.raw(head.encode() + b"x" * 1000, read=False)
    time.sleep(0.5)
    rc, _, _ = e.c.dfs_as("gina", "stat", "/home/gina/gbucket/short")
    check(rc != 0, "a PUT cut short was stored")
    # keys that climb out of the bucket or are not paths
    for key in ("/gbucket/../../gina-escape", "/gbucket/a//b", "/gbucket/./x", "/gbucket/" + "k" * 5000):
        st, _, body = s3lib.request(e.c, "PUT", key, e.kid, e.secret, body=b"escape")
        check(st in (400, 404), "PUT %s: %d %s" % (key[:60], st, body[:200]))
    rc, out, _ = e.c.dfs_as("gina", "ls", "/home/gina")
    check("gina-escape" not in out, "a key climbed out of its bucket:\n" + out)
    # an oversized DeleteObjects document
    # (answered 400 MalformedXML as soon as it passes 2 MiB, and the connection closed
    # while the client still sends: it may see the answer or only the close)
    doc = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 120000 + b"</Delete>"
    try:
        st, _, body = s3lib.request(e.c, "POST", "/gbucket", e.kid, e.secret,
                                    query=[("delete", "")], body=doc, timeout=60)
        check(st == 400 and s3lib.error_code(body) == "MalformedXML", "a 3 MB Delete: %d" % st)
    except (ConnectionError, OSError) as x:
        print("    the 3 MB Delete document: connection closed (%s)" % type(x).__name__)
    e.works("lying bodies")


def main(t):
    with t.cluster(chunkservers=2, name="gw-hostile", auth=True) as c:
        c.start_gateway(args=("--set", "connections.idle_timeout=%ds" % IDLE_S,
                              "--set", "connections.max=128",
                              "--set", "connections.max_per_address=128"))
        e = Env(c)
        t.case("garbage bytes and broken requests", garbage, e)
        t.case("headers too big or too many", big_headers, e)
        t.case("slow clients are closed after the idle timeout", slow_clients, e)
        t.case("anonymous and made-up-key floods: bounded, others unharmed", floods, e)
        t.case("bodies that lie, keys that climb, oversized documents", lying_bodies, e)


if __name__ == "__main__":
    harness.run(main)
