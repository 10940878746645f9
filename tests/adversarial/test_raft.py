"""Raft port hostile peers (issue 12, finding 4): three metad voters sharing a cluster
secret ($DFS_CLUSTER_SECRET) and three chunkservers. Raft connections start with the
handshake of docs/internals.md "Raft transport"; this test speaks it itself (it knows the
secret) to check the wire format, and then attacks each raft port as a stranger:
libraft's plain handshake claiming a real voter id, garbage, silence, a replayed
handshake recorded from a successful one, a forged proof, an unknown id, a reflected
HELLO and a flood of pending connections. Each must be dropped within a few seconds with
one log line naming the peer and the reason, while the cluster keeps serving. A voter
restarted with the wrong secret cannot join (both sides log why) and catches up once
it has the right one. Finally kill -9 of the leader still fails over and every file reads
back byte for byte, and a capture of the raft ports on lo (AF_PACKET, needs CAP_NET_RAW)
finds a new directory's name in the plaintext raft traffic (the capture's control).

Then a second cluster with TLS on every link, so raft between voters is mutual TLS
(raft.tls defaults to tls.enabled): captured from its start, every raft connection is
TLS records from the first byte and a new directory's name appears nowhere; plaintext
and certificate-less peers are refused with a TLS reason; the documented HMAC handshake
runs inside TLS (a wrong secret there is refused); a voter with another CA's
certificate cannot join and catches up with the cluster's; kill -9 of the leader fails
over; and one run each of 2000 mkdirs (CLI shell) and a failover with TLS raft and with
raft.tls=false. DFS_RAFT_TEST=plain|tls runs one of the two clusters."""

import hashlib
import hmac
import os
import socket
import ssl
import struct
import threading
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import MiB, check, free_port  # noqa: E402
import wire  # noqa: E402

N_METAD = 3
ELECTION = ["--set", "raft.election_timeout=300ms", "--set", "raft.heartbeat_timeout=50ms"]
HANDSHAKE_TIMEOUT = 3.0  # metad's default raft.handshake_timeout
MAX_PENDING = 16          # metad's default raft.max_pending
CLOSE_LIMIT = HANDSHAKE_TIMEOUT + 2.0 + (3.0 if harness.SANITIZED else 0.0)

# ---- the handshake, from docs/internals.md (independent of the C code) ----
MAGIC = b"DFSRFT"


def rt_key(secret):
    return hashlib.sha256(b"dfs raft transport v1:" + secret.encode()).digest()


def hello(raft_id, addr, nonce=None, flags=1):
    nonce = nonce or os.urandom(32)
    return (MAGIC + bytes([1, flags]) + nonce + struct.pack(">Q", raft_id)
            + bytes([len(addr)]) + addr.encode())


def proof(key, role, hello_c, hello_s):
    label = b"dfs raft v1 client" if role == "client" else b"dfs raft v1 server"
    return hmac.new(key, label + hello_c + hello_s, hashlib.sha256).digest()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        part = s.recv(n - len(buf))
        if not part:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += part
    return buf


def read_hello(s):
    head = recv_exact(s, 49)
    check(head[:6] == MAGIC, "server HELLO starts with %r" % head[:8])
    return head + recv_exact(s, head[48])


def plain_libraft_handshake(raft_id, addr):
    """What raft_uv_tcp sends first: protocol 1, id, padded address length, address."""
    a = addr.encode() + b"\0"
    a += b"\0" * (-len(a) % 8)
    return struct.pack("<QQQ", 1, raft_id, len(a)) + a


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    return s


def wait_closed(s, limit=CLOSE_LIMIT):
    """Seconds until the peer closed s (EOF or reset); fails if it stays open."""
    t0 = time.time()
    s.settimeout(0.2)
    got = b""
    while time.time() - t0 < limit:
        try:
            part = s.recv(4096)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return time.time() - t0  # (an SSLError: the TLS alert telling us why)
        if not part:
            return time.time() - t0
        got += part
        check(len(got) < 4096, "the raft port sent a stranger %d bytes" % len(got))
    raise harness.TestFailure("a stranger's connection was still open after %.1f s" % limit)


def make_certs(d):
    r = harness.subprocess.run([os.path.join(harness.SOURCE, "scripts", "tls-certs"), d],
                               capture_output=True, text=True)
    check(r.returncode == 0, "scripts/tls-certs failed: " + r.stderr.strip())
    return {k: os.path.join(d, f) for k, f in (("ca", "ca.pem"), ("cert", "node.pem"),
                                                ("key", "node.key"))}


def tls_args(certs):
    return ["--set", "tls.ca=" + certs["ca"], "--set", "tls.cert=" + certs["cert"],
            "--set", "tls.key=" + certs["key"]]


class RaftCluster:
    """tls=True: TLS on every link (scripts/tls-certs), so raft between voters is TLS
    too (raft.tls defaults to tls.enabled). start=False: call start() (e.g. once a
    sniffer listens)."""

    def __init__(self, tls=False, start=True):
        self.dir = harness.tempfile.mkdtemp(prefix="dfs-adv-raft-")
        os.makedirs(os.path.join(self.dir, "logs"))
        self.tls = tls
        self.certs = make_certs(os.path.join(self.dir, "tls")) if tls else None
        self.node_ca = [self.certs["ca"] if tls else None] * N_METAD  # what each metad serves
        self.secret = os.urandom(24).hex()
        self.key = rt_key(self.secret)
        self.env = dict(os.environ, DFS_CLUSTER_SECRET=self.secret)
        if tls:
            self.env["DFS_TLS_CA"] = self.certs["ca"]
        self.client = ["127.0.0.1:%d" % free_port() for _ in range(N_METAD)]
        self.raft = ["127.0.0.1:%d" % free_port() for _ in range(N_METAD)]
        peers = ",".join("%d@%s" % (i + 1, self.raft[i]) for i in range(N_METAD))
        self.metads = []
        for i in range(N_METAD):
            self.metads.append(harness.Daemon("metad-%d" % (i + 1), [
                os.path.join(harness.BIN, "metad"), "--listen", self.client[i],
                "--raft-address", self.raft[i], "--raft-id", str(i + 1),
                "--set", "raft.peers=" + peers,
                "--dir", os.path.join(self.dir, "metad-%d" % (i + 1)),
                "--set", "chunkservers.heartbeat_interval=300ms",
                "--set", "chunkservers.dead_timeout=2s", *ELECTION,
                *(["--set", "tls.enabled=true"] + tls_args(self.certs) if tls else [])],
                os.path.join(self.dir, "logs", "metad-%d.log" % (i + 1)), env=self.env))
        self.meta = ",".join(self.client)
        self.chunkds = []
        for i in range(3):
            self.chunkds.append(harness.Daemon("chunkd-%d" % (i + 1), [
                os.path.join(harness.BIN, "chunkd"), "--listen", "127.0.0.1:%d" % free_port(),
                "--dir", os.path.join(self.dir, "chunkd-%d" % (i + 1)), "--meta", self.meta,
                *(tls_args(self.certs) if tls else [])],
                os.path.join(self.dir, "logs", "chunkd-%d.log" % (i + 1)), env=self.env))
        if start:
            self.start()

    def start(self):
        for d in self.metads + self.chunkds:
            d.start()

    def ssl_ctx(self, i):
        """What talks to metad-(i+1)'s client port: None (plaintext) or a context
        trusting the CA it serves."""
        if not self.node_ca[i]:
            return None
        import ssl
        return ssl.create_default_context(cafile=self.node_ca[i])

    def daemons(self):
        return self.metads + self.chunkds

    def check_daemons(self):
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                raise harness.TestFailure(p + "\n" + d.log_tail())
            m = d.new_sanitizer_report()
            if m:
                raise harness.TestFailure("%s printed a sanitizer report (%s)\n%s"
                                          % (d.name, m, d.log_tail(40)))

    def overview(self, i):
        try:
            return wire.cluster_overview(self.client[i], 2.0, ssl_ctx=self.ssl_ctx(i))
        except Exception:  # noqa: BLE001 - down or electing: no answer
            return None

    def leader(self, timeout=30, exclude=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_daemons()
            for i, d in enumerate(self.metads):
                if i in exclude or not d.running():
                    continue
                ov = self.overview(i)
                if ov and ov["is_leader"] and sum(s["alive"] for s in ov["servers"]) == 3:
                    return i
            time.sleep(0.05)
        raise harness.TestFailure("no metad leader with 3 live chunkservers after %d s" % timeout)

    def dfs(self, *args, timeout=120):
        r = harness.subprocess.run([os.path.join(harness.BIN, "dfs"), "-q", "--meta", self.meta,
                                    *map(str, args)], capture_output=True, text=True,
                                   timeout=timeout, env=self.env)
        return r.returncode, r.stdout, r.stderr

    def dfs_ok(self, *args):
        rc, out, err = self.dfs(*args)
        check(rc == 0, "dfs %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()))
        return out

    def scratch(self, name):
        d = os.path.join(self.dir, "scratch")
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, name)

    def put(self, remote, size, seed):
        local = self.scratch("src")
        dig = harness.make_file(local, size, seed=seed, quiet=True)
        self.dfs_ok("put", local, remote, "--replicas", 2)
        os.unlink(local)
        return dig

    def get_check(self, remote, dig):
        back = self.scratch("back")
        self.dfs_ok("get", remote, back)
        got = harness.sha256_file(back)
        os.unlink(back)
        check(got == dig, "%s read back with other bytes" % remote)

    def log_mark(self, i):
        return len(self.metads[i].log_text())

    def wait_log(self, i, needle, timeout=5.0, since=0):
        """The first line of metad-(i+1)'s log after offset `since` containing needle
        (fails after timeout)."""
        deadline = time.time() + timeout
        while True:
            for line in self.metads[i].log_text()[since:].splitlines():
                if needle in line:
                    return line
            if time.time() > deadline:
                raise harness.TestFailure("metad-%d logged no line with %r; last warnings:\n%s"
                                          % (i + 1, needle, self.metads[i].warnings_tail()))
            time.sleep(0.1)

    def still_serving(self, files, tag):
        files["/" + tag] = self.put("/" + tag, MiB + len(files), seed=len(files) + 7)
        for remote, dig in files.items():
            self.get_check(remote, dig)

    def teardown(self):
        problems = []
        for d in self.daemons():
            p = d.died_unexpectedly()
            if p:
                problems.append(p)
        for d in reversed(self.daemons()):
            p = d.terminate()
            if p:
                problems.append(p)
        for d in self.daemons():
            m = harness.sanitizer_report(d.log_text())
            if m:
                problems.append("%s printed a sanitizer report (%s)" % (d.name, m))
        if problems or harness.KEEP:
            for d in self.daemons():
                print("    --- tail of %s:\n%s" % (d.log_path, d.log_tail(25)))
            print("    (kept in %s)" % self.dir)
        else:
            harness.shutil.rmtree(self.dir, ignore_errors=True)
        return problems


def elect_and_serve(c, files):
    lead = c.leader()
    print("    metad-%d leads" % (lead + 1), flush=True)
    for i in range(2):
        files["/f%d" % i] = c.put("/f%d" % i, 2 * MiB + 11 * i, seed=40 + i)
    for remote, dig in files.items():
        c.get_check(remote, dig)
    # every voter authenticated every other one: no refusal was logged anywhere
    for d in c.metads:
        bad = [l for l in d.log_text().splitlines() if "raft: refused" in l
               or "cannot authenticate" in l]
        check(not bad, "%s refused a fellow voter: %s" % (d.name, bad[:2]))


def legit_handshake(c, i, claim_id):
    """The full handshake to metad-(i+1) as voter claim_id; returns (socket, hello_c,
    proof_c) after checking the server's HELLO and PROOF."""
    s = connect(c.raft[i])
    hc = hello(claim_id, c.raft[claim_id - 1])
    s.sendall(hc)
    hs = read_hello(s)
    sid = struct.unpack(">Q", hs[40:48])[0]
    check(sid == i + 1 and hs[49:].decode() == c.raft[i],
          "metad-%d says it is %d at %r" % (i + 1, sid, hs[49:]))
    pc = proof(c.key, "client", hc, hs)
    s.sendall(pc)
    ps = recv_exact(s, 32)
    check(hmac.compare_digest(ps, proof(c.key, "server", hc, hs)),
          "metad-%d's PROOF does not match the documented MAC" % (i + 1))
    return s, hc, pc


def wire_format_and_cost(c, files):
    """The handshake as documented is accepted (test knows the secret), and its cost."""
    n = 40
    t0 = time.time()
    for k in range(n):
        s, _, _ = legit_handshake(c, k % N_METAD, (k + 1) % N_METAD + 1)
        s.close()
    ms = (time.time() - t0) * 1000 / n
    print("    documented handshake accepted by every voter; %.2f ms per handshake "
          "(connect, 4 messages, both MACs, from Python)" % ms, flush=True)


def strangers(c, files):
    for i in range(N_METAD):
        victim = (i + 1) % N_METAD + 1  # a real voter id (not the node's own)
        cases = [
            ("libraft's plain handshake as voter %d" % victim,
             plain_libraft_handshake(victim, c.raft[victim - 1]), "plain libraft handshake"),
            ("garbage", os.urandom(200), "bad magic"),
            ("nothing", b"", "no complete handshake within"),
        ]
        for name, payload, why in cases:
            s = connect(c.raft[i])
            port = s.getsockname()[1]
            if payload:
                s.sendall(payload)
            took = wait_closed(s)
            s.close()
            line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
            check(why in line, "metad-%d refused %s with %r (expected %r)" % (i + 1, name, line, why))
            print("    metad-%d dropped a stranger sending %s after %.2f s" % (i + 1, name, took),
                  flush=True)
    c.still_serving(files, "after-strangers")


def replay_and_forgery(c, files):
    i = c.leader()
    claim = (i + 1) % N_METAD + 1
    # a handshake recorded from the wire of a successful session...
    s, hc, pc = legit_handshake(c, i, claim)
    s.close()
    # ...replayed: the server's fresh nonce makes the recorded proof worthless
    s = connect(c.raft[i])
    port = s.getsockname()[1]
    s.sendall(hc)
    read_hello(s)
    s.sendall(pc)
    wait_closed(s)
    s.close()
    line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
    check("wrong cluster secret" in line and "raft id %d" % claim in line,
          "replayed handshake: %r" % line)
    print("    replayed handshake refused: %s" % line.split("raft: ", 1)[1], flush=True)
    # forged proof (random MAC, or a MAC with another key)
    for name, mk in (("random proof", lambda hc_, hs_: os.urandom(32)),
                     ("proof with another secret",
                      lambda hc_, hs_: proof(rt_key("guess"), "client", hc_, hs_))):
        s = connect(c.raft[i])
        port = s.getsockname()[1]
        h = hello(claim, c.raft[claim - 1])
        s.sendall(h)
        hs = read_hello(s)
        s.sendall(mk(h, hs))
        wait_closed(s)
        s.close()
        line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
        check("wrong cluster secret" in line, "%s: %r" % (name, line))
    # reflection: the server's own HELLO sent back to it
    s = connect(c.raft[i])
    s.sendall(hello(claim, c.raft[claim - 1]))
    hs = read_hello(s)
    s.close()
    s = connect(c.raft[i])
    port = s.getsockname()[1]
    s.sendall(hs)
    wait_closed(s)
    s.close()
    line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
    check("own raft id" in line, "reflected HELLO: %r" % line)
    # an id that is no voter, and a voter id with another address: no nonce, no MAC
    for rid, addr, why in ((9, "127.0.0.1:1", "not a voter"),
                           (claim, "127.0.0.1:1", "another address")):
        s = connect(c.raft[i])
        port = s.getsockname()[1]
        s.sendall(hello(rid, addr))
        wait_closed(s)
        s.close()
        line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
        check(why in line, "id %d at %s: %r" % (rid, addr, line))
    c.still_serving(files, "after-replay")


def pending_flood(c, files):
    i = c.leader()
    socks = [connect(c.raft[i]) for _ in range(MAX_PENDING + 8)]
    t0 = time.time()
    closed_early = 0
    for s in socks[MAX_PENDING:]:
        if wait_closed(s, 2.0) < 1.0:
            closed_early += 1
    check(closed_early == 8, "%d of 8 connections over the pending limit were closed at once"
          % closed_early)
    c.wait_log(i, "raft connections are already in their handshake")
    for s in socks[:MAX_PENDING]:
        wait_closed(s, CLOSE_LIMIT + 1)
        s.close()
    print("    %d silent connections: %d over the limit closed at once, the rest after %.1f s"
          % (len(socks), closed_early, time.time() - t0), flush=True)
    c.still_serving(files, "after-flood")


def wrong_secret_voter(c, files):
    lead = c.leader()
    f = (lead + 1) % N_METAD
    d = c.metads[f]
    marks = [c.log_mark(i) for i in range(N_METAD)]
    d.kill9()
    d.env = dict(c.env, DFS_CLUSTER_SECRET="not-" + c.secret)
    d.start()
    # The CLI retries a metad that answers "no leader elected" instead of trying the next
    # address, so the isolated voter goes last in its list (a known CLI limit).
    c.meta = ",".join(c.client[i] for i in range(N_METAD) if i != f) + "," + c.client[f]
    time.sleep(3.0)  # several election timeouts and reconnect attempts
    files["/while-wrong"] = c.put("/while-wrong", MiB + 3, seed=60)
    lead = c.leader(exclude=(f,))
    want = c.overview(lead)["files"]
    ov = c.overview(f)
    check(ov is None or (not ov["is_leader"] and ov["files"] < want),
          "metad-%d with the wrong secret joined: %r (leader has %d files)" % (f + 1, ov, want))
    for remote, dig in files.items():
        c.get_check(remote, dig)
    for i in range(N_METAD):
        if i == f:
            continue
        line = c.wait_log(i, "claiming raft id %d at %s: wrong cluster secret" % (f + 1, c.raft[f]),
                          since=marks[i])
        print("    metad-%d: %s" % (i + 1, line.split("raft: ", 1)[1]), flush=True)
    line = c.wait_log(f, "cannot authenticate with raft node", since=marks[f])
    print("    metad-%d (wrong secret): %s" % (f + 1, line.split("raft: ", 1)[1]), flush=True)
    # with the right secret it joins and catches up
    c.meta = ",".join(c.client)
    d.kill9()
    d.env = c.env
    d.start()
    deadline = time.time() + 30
    while True:
        ov = c.overview(f)
        want = c.overview(c.leader())["files"]
        if ov and not ov["is_leader"] and ov["files"] == want:
            break
        check(time.time() < deadline, "metad-%d with the right secret did not catch up (%r, "
              "leader has %d files)" % (f + 1, ov, want))
        time.sleep(0.2)
    print("    restarted with the right secret, metad-%d caught up (%d files)" % (f + 1, want),
          flush=True)


def kill_leader(c, files):
    lead = c.leader()
    t0 = time.time()
    c.metads[lead].kill9()
    c.get_check("/f1", files["/f1"])
    print("    get right after the kill: %.2f s" % (time.time() - t0), flush=True)
    new = c.leader(exclude=(lead,))
    took = time.time() - t0
    print("    killed metad-%d; metad-%d leads %.2f s later" % (lead + 1, new + 1, took),
          flush=True)
    check(took < 15, "failover took %.1f s" % took)
    for remote, dig in files.items():
        c.get_check(remote, dig)
    files["/after-kill"] = c.put("/after-kill", 2 * MiB + 1, seed=90)
    c.get_check("/after-kill", files["/after-kill"])
    c.metads[lead].start()
    c.leader()


# ---- TLS between voters ----

class Sniffer(threading.Thread):
    """Captures the TCP segments on lo to or from `ports` (an AF_PACKET socket: needs
    CAP_NET_RAW). flows[(sport, dport)] = {seq: payload}; isn[(sport, dport)] = the
    sequence number after the SYN, for flows that started while capturing."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = set(ports)
        self.flows, self.isn = {}, {}
        self.done = threading.Event()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)

    def run(self):
        while not self.done.is_set():
            try:
                data, addr = self.sock.recvfrom(1 << 17)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING or data[12:14] != b"\x08\x00":
                continue  # each loopback packet is seen leaving and arriving: keep one
            ip = data[14:]
            if ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            tcp = ip[ihl:struct.unpack(">H", ip[2:4])[0]]
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            if sport not in self.ports and dport not in self.ports:
                continue
            key = (sport, dport)
            if tcp[13] & 2:  # SYN
                self.isn[key] = (seq + 1) & 0xffffffff
            payload = bytes(tcp[(tcp[12] >> 4) * 4:])
            if payload:
                self.flows.setdefault(key, {})[seq] = payload

    def stop(self):
        self.done.set()
        self.join(5)
        self.sock.close()

    def all_bytes(self):
        return b"".join(p for segs in self.flows.values() for p in segs.values())

    def stream(self, key):
        """The bytes of a flow captured from its start, in order, up to the first gap."""
        start, out, pos = self.isn[key], bytearray(), 0
        for seq, p in sorted(((s - start) & 0xffffffff, p) for s, p in
                             self.flows.get(key, {}).items()):
            if seq > pos:
                break
            out += p[pos - seq:]
            pos = max(pos, seq + len(p))
        return bytes(out)


def tls_records(b):
    """Walks b as TLS records: (types seen, bytes walked, first type); stops at the
    first byte that cannot start a record (what a plaintext stream would hit)."""
    types, pos = {}, 0
    while pos + 5 <= len(b):
        t, ver, n = b[pos], struct.unpack(">H", b[pos + 1:pos + 3])[0], struct.unpack(
            ">H", b[pos + 3:pos + 5])[0]
        if t not in (20, 21, 22, 23) or ver not in (0x0301, 0x0303) or n > 16384 + 2048:
            break
        types[t] = types.get(t, 0) + 1
        pos += 5 + n
    return types, min(pos, len(b)), (b[0] if b else None)


def raw_socket_why():
    """None if a raw packet socket on lo can be opened (CAP_NET_RAW), else why not."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        s.close()
        return None
    except (PermissionError, OSError) as e:
        return str(e)


def require_raw_socket():
    """Fails the case (not a skip) when the capture cannot run here."""
    why = raw_socket_why()
    check(why is None, "no raw socket on lo (%s): the capture checks need CAP_NET_RAW (run "
          "the suite as root)" % why)


def marker_mkdir(c):
    """mkdir of a unique name; returns the name's bytes once every voter applied it."""
    name = "m" + os.urandom(12).hex()
    c.dfs_ok("mkdir", "/" + name)
    time.sleep(1.0)  # replicated to the third voter with the next heartbeat
    return name.encode()


def sniffer_control(c, files):
    """The capture works: without TLS, a new directory's name crosses the raft ports."""
    require_raw_socket()
    sn = Sniffer(int(a.rsplit(":", 1)[1]) for a in c.raft)
    sn.start()
    try:
        marker = marker_mkdir(c)
    finally:
        sn.stop()
    raw = sn.all_bytes()
    check(marker in raw, "plaintext raft: the sniffer saw %d raft bytes but not the marker"
          % len(raw))
    print("    plaintext raft: the directory name appears in the %d raft bytes captured"
          % len(raw), flush=True)


def tls_start_sniffed(c, files, sniff):
    """Starts the TLS cluster under the sniffer: elect, put/get, a marker directory."""
    if sniff is not None:
        sniff.append(Sniffer(int(a.rsplit(":", 1)[1]) for a in c.raft))
        sniff[0].start()
    try:
        c.start()
        elect_and_serve(c, files)
        if sniff is not None:
            sniff.append(marker_mkdir(c))
    finally:
        if sniff is not None:
            sniff[0].stop()
    for d in c.metads:
        c.wait_log(c.metads.index(d), "raft: TLS between voters")


def tls_capture(c, files, sniff):
    """Every raft connection captured is TLS records from its first byte to the last
    captured one (handshake first), the marker directory name appears nowhere."""
    if sniff is None:
        require_raw_socket()
    sn, marker = sniff
    raw = sn.all_bytes()
    check(len(raw) > 20000, "only %d raft bytes captured" % len(raw))
    check(marker not in raw, "the marker crossed a TLS raft port in plaintext")
    started = [k for k in sn.isn if k in sn.flows]
    ports = {int(a.rsplit(":", 1)[1]) for a in c.raft}
    dialled = {k for k in started if k[1] in ports}
    # at least the leader's to each follower and each follower's to the leader
    check(len(dialled) >= 2 * (N_METAD - 1),
          "only %d raft connections captured from their start" % len(dialled))
    totals = {}
    for k in started:
        b = sn.stream(k)
        types, walked, first = tls_records(b)
        check(first == 0x16, "raft flow %s starts with byte %r, not a TLS handshake record"
              % (k, first))
        check(walked == len(b), "raft flow %s: byte %d of %d is no TLS record header"
              % (k, walked, len(b)))
        for t, n in types.items():
            totals[t] = totals.get(t, 0) + n
    check(totals.get(23, 0) >= 20, "only %d application data records" % totals.get(23, 0))
    print("    %d raft bytes, %d connections captured from their SYN: both directions all "
          "TLS records (%d handshake, %d application data); the marker never appears"
          % (len(raw), len(dialled), totals.get(22, 0), totals.get(23, 0)), flush=True)


def tls_client(c, certs=None):
    """A context for a TLS raft connection as the test: trusts the cluster CA, presents
    certs (a voter's certificate) if given."""
    ctx = ssl.create_default_context(cafile=c.certs["ca"])
    if certs:
        ctx.load_cert_chain(certs["cert"], certs["key"])
    return ctx


def tls_wrap(ctx, addr):
    s = connect(addr)
    return ctx.wrap_socket(s, server_hostname=addr.rsplit(":", 1)[0])


def tls_port_refusals(c, files):
    """Plaintext, and TLS without a voter certificate, are refused on every raft port;
    the documented handshake inside TLS with a voter certificate is accepted, with a
    wrong secret refused (the HMAC handshake still runs inside TLS)."""
    for i in range(N_METAD):
        claim = (i + 1) % N_METAD + 1
        s = connect(c.raft[i])
        port = s.getsockname()[1]
        s.sendall(hello(claim, c.raft[claim - 1]))
        took = wait_closed(s)
        s.close()
        line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
        check("plaintext dfs raft handshake" in line, "plaintext HELLO: %r" % line)
        s = tls_wrap(tls_client(c), c.raft[i])  # TLS 1.3: refused after the handshake
        port = s.getsockname()[1]
        try:
            s.sendall(hello(claim, c.raft[claim - 1]))
        except (ssl.SSLError, OSError):
            pass
        wait_closed(s)
        s.close()
        line2 = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
        check("TLS:" in line2 and "certificate" in line2, "TLS without a certificate: %r" % line2)
        print("    metad-%d: plaintext HELLO dropped after %.2f s (%s); no client certificate "
              "(%s)" % (i + 1, took, line.split(": ", 2)[-1], line2.split(": ", 2)[-1]),
              flush=True)
    i = c.leader()
    claim = (i + 1) % N_METAD + 1
    ctx = tls_client(c, c.certs)
    s = tls_wrap(ctx, c.raft[i])
    hc = hello(claim, c.raft[claim - 1])
    s.sendall(hc)
    hs = read_hello(s)
    s.sendall(proof(c.key, "client", hc, hs))
    ps = recv_exact(s, 32)
    check(hmac.compare_digest(ps, proof(c.key, "server", hc, hs)),
          "metad-%d's PROOF inside TLS does not match" % (i + 1))
    s.close()
    s = tls_wrap(ctx, c.raft[i])
    port = s.getsockname()[1]
    hc = hello(claim, c.raft[claim - 1])
    s.sendall(hc)
    hs = read_hello(s)
    s.sendall(proof(rt_key("guess"), "client", hc, hs))
    wait_closed(s)
    s.close()
    line = c.wait_log(i, "refused a connection from 127.0.0.1:%d" % port)
    check("wrong cluster secret" in line, "wrong secret inside TLS: %r" % line)
    print("    documented handshake inside TLS accepted; a wrong secret inside TLS refused",
          flush=True)
    c.still_serving(files, "after-tls-strangers")


def other_ca_voter(c, files):
    """A voter restarted with a certificate from another CA cannot join (both sides log
    why); with the cluster's certificate again it catches up."""
    lead = c.leader()
    f = (lead + 1) % N_METAD
    d = c.metads[f]
    other = make_certs(os.path.join(c.dir, "other-ca"))
    argv = list(d.argv)
    marks = [c.log_mark(i) for i in range(N_METAD)]
    d.kill9()
    d.argv = argv[:argv.index("tls.enabled=true") + 1] + tls_args(other)
    c.node_ca[f] = other["ca"]
    d.start()
    c.meta = ",".join(c.client[i] for i in range(N_METAD) if i != f) + "," + c.client[f]
    time.sleep(3.0)
    files["/while-other-ca"] = c.put("/while-other-ca", MiB + 5, seed=61)
    lead = c.leader(exclude=(f,))
    want = c.overview(lead)["files"]
    ov = c.overview(f)
    check(ov is None or (not ov["is_leader"] and ov["files"] < want),
          "metad-%d with another CA joined: %r (leader has %d files)" % (f + 1, ov, want))
    for remote, dig in files.items():
        c.get_check(remote, dig)
    line = c.wait_log(lead, "raft node %d at %s: TLS:" % (f + 1, c.raft[f]), since=marks[lead])
    print("    leader metad-%d: %s" % (lead + 1, line.split("raft: ", 1)[1]), flush=True)
    line = c.wait_log(f, "certificate refused", since=marks[f])
    print("    metad-%d (other CA): %s" % (f + 1, line.split("raft: ", 1)[1]), flush=True)
    c.meta = ",".join(c.client)
    d.kill9()
    d.argv = argv
    c.node_ca[f] = c.certs["ca"]
    d.start()
    deadline = time.time() + 30
    while True:
        ov = c.overview(f)
        want = c.overview(c.leader())["files"]
        if ov and not ov["is_leader"] and ov["files"] == want:
            break
        check(time.time() < deadline, "metad-%d with the cluster certificate did not catch up "
              "(%r, leader has %d files)" % (f + 1, ov, want))
        time.sleep(0.2)
    print("    restarted with the cluster's certificate, metad-%d caught up" % (f + 1),
          flush=True)


def mkdir_rate(c, n, tag):
    """n mkdirs through one `dfs shell` reading commands from stdin; ops/s."""
    c.dfs_ok("mkdir", "/" + tag)
    script = "".join("mkdir /%s/d%05d\n" % (tag, k) for k in range(n))
    t0 = time.time()
    r = harness.subprocess.run([os.path.join(harness.BIN, "dfs"), "-q", "--meta", c.meta,
                                "shell"], input=script, capture_output=True, text=True,
                               timeout=600, env=c.env)
    took = time.time() - t0
    check(r.returncode == 0, "dfs shell (%d mkdirs): exit %d: %s" % (n, r.returncode,
                                                                    r.stderr.strip()[-300:]))
    out = c.dfs_ok("ls", "/" + tag)
    check(len(out.split()) == n, "%d of %d directories after the shell" % (len(out.split()), n))
    return n / took


def failover(c, files):
    lead = c.leader()
    t0 = time.time()
    c.metads[lead].kill9()
    new = c.leader(exclude=(lead,))
    took = time.time() - t0
    check(took < 15, "failover took %.1f s" % took)
    for remote, dig in files.items():
        c.get_check(remote, dig)
    c.metads[lead].start()
    c.leader()
    deadline = time.time() + 30  # up (signal handlers set) before anyone stops it again
    while c.overview(lead) is None:
        check(time.time() < deadline, "restarted metad-%d does not answer" % (lead + 1))
        time.sleep(0.1)
    return lead, new, took


def tls_vs_plain(c, files):
    """One run each on the same TLS cluster: raft over TLS, then every voter restarted
    with raft.tls=false (clients and chunkservers stay on TLS): mkdir rate through the
    CLI shell and failover time after kill -9 of the leader."""
    n = 300 if harness.SANITIZED else 2000
    res = {}
    for mode in ("tls", "plain"):
        if mode == "plain":
            for d in c.metads:
                p = d.terminate()
                check(p is None, "%s\n%s" % (p, d.log_tail(20)))
                d.argv = d.argv + ["--set", "raft.tls=false"]
                d.start()
            c.leader()
            c.wait_log(0, "raft.tls is false")
        rate = mkdir_rate(c, n, "bench-" + mode)
        lead, new, took = failover(c, files)
        res[mode] = (rate, took)
        print("    raft %-5s: %d mkdirs at %.0f ops/s; kill -9 of metad-%d: metad-%d leads "
              "%.2f s later" % (mode, n, rate, lead + 1, new + 1, took), flush=True)
    if not harness.SANITIZED:  # (300 mkdirs under ASan take well under a second: noise)
        check(res["tls"][0] > 0.2 * res["plain"][0], "TLS raft is more than 5x slower: %r"
              % res)


def main_tls(r):
    c = RaftCluster(tls=True, start=False)
    r.clusters.append(c)
    files = {}
    sniff = [] if raw_socket_why() is None else None
    try:
        if not r.case("TLS: 3 voters with TLS on every link elect and serve put/get "
                      "(captured on lo from the start)", tls_start_sniffed, c, files, sniff):
            return
        r.case("TLS: every raft connection is TLS records from its first byte; a new "
               "directory's name never crosses a raft port", tls_capture, c, files, sniff)
        r.case("TLS: plaintext and certificate-less peers are refused; the HMAC handshake "
               "runs inside TLS", tls_port_refusals, c, files)
        r.case("TLS: a voter with another CA's certificate cannot join; with the cluster's "
               "it catches up", other_ca_voter, c, files)
        r.case("TLS: kill -9 of the leader: failover, every file byte-identical",
               kill_leader, c, files)
        r.case("TLS: mkdir rate and failover, raft over TLS vs raft.tls=false",
               tls_vs_plain, c, files)
    finally:
        r.clusters.remove(c)
        problems = c.teardown()
        if problems:
            r.failed += 1
            print("FAIL TLS cluster teardown: %s" % "; ".join(problems), flush=True)
        else:
            r.passed += 1
            print("PASS TLS cluster teardown (clean shutdown, no sanitizer report)", flush=True)


def main(r):
    c = RaftCluster()
    r.clusters.append(c)
    files = {}
    try:
        if not r.case("3 voters with a cluster secret elect a leader and serve put/get",
                      elect_and_serve, c, files):
            return
        r.case("the documented handshake is accepted (wire format, cost)",
               wire_format_and_cost, c, files)
        r.case("strangers on every raft port (plain libraft handshake, garbage, silence) "
               "are dropped and logged", strangers, c, files)
        r.case("a replayed, forged, reflected or foreign handshake is refused",
               replay_and_forgery, c, files)
        r.case("connections over raft.max_pending are closed at once", pending_flood, c, files)
        r.case("a voter with the wrong secret cannot join; the others serve and log why",
               wrong_secret_voter, c, files)
        r.case("kill -9 of the leader after all that: failover, every file byte-identical",
               kill_leader, c, files)
        r.case("the capture used by the TLS cases sees plaintext raft (control)",
               sniffer_control, c, files)
    finally:
        r.clusters.remove(c)
        problems = c.teardown()
        if problems:
            r.failed += 1
            print("FAIL cluster teardown: %s" % "; ".join(problems), flush=True)
        else:
            r.passed += 1
            print("PASS cluster teardown (clean shutdown, no sanitizer report)", flush=True)


def main_all(r):
    if os.environ.get("DFS_RAFT_TEST", "all") in ("all", "plain"):
        main(r)
    if os.environ.get("DFS_RAFT_TEST", "all") in ("all", "tls"):
        main_tls(r)


if __name__ == "__main__":
    harness.run(main_all)
