"""Hostile bytes on every daemon port, with raw sockets: random bytes, bad magic, huge
length fields, truncated headers and frames, valid headers with garbage protobuf for
every request type, unknown and reply-only message types, oversized bulk, hostile but
well-formed requests (absurd chains, ranges, ids) and many idle connections. After each
group the daemons must still be up and serve a full put/get round trip. Seeded
(printed), so a failure can be replayed."""

import os
import random
import socket
import time

import harness
import wire
from harness import MiB, check

SEED = int(os.environ.get("DFS_FUZZ_SEED", random.randrange(1 << 31)))
REQUEST_TYPES = [100, 102, 104, 106, 108, 110, 112, 114, 116, 200, 202, 204, 300, 302]
ODD_TYPES = [0, 1, 99, 101, 113, 201, 301, 998, 999, 1000, 0x7FFF, 0xFFFF]


def send(addr, data, read_reply=False, linger=2.0):
    """Connects, sends data (ignoring resets), optionally waits up to `linger` s for one
    whole reply frame (or the close), then closes. Returns the bytes received."""
    host, port = addr.rsplit(":", 1)
    got = b""
    try:
        with socket.create_connection((host, int(port)), timeout=3) as s:
            try:
                s.sendall(data)
            except OSError:
                return got
            if read_reply:
                s.settimeout(linger)
                need = wire.FRAME_HDR_LEN
                try:
                    while len(got) < need:
                        part = s.recv(65536)
                        if not part:
                            break
                        got += part
                        if need == wire.FRAME_HDR_LEN and len(got) >= need:
                            _, _, _, _, plen, blen = wire.HDR.unpack(got[:need])
                            need += min(plen + blen, 4 << 20)
                except OSError:
                    pass
    except OSError:
        pass
    return got


def sanity(c, tag):
    """Every daemon up, metad answers a cluster request on a fresh connection, and a full
    round trip works."""
    c.check_daemons()
    ov = c.overview()
    check(ov["is_leader"], "metad is not the leader after the fuzzing: %r" % ov)
    check(len(ov["servers"]) == len(c.chunkds), "metad lists %d chunkservers, %d were "
          "started: %r" % (len(ov["servers"]), len(c.chunkds), ov["servers"]))
    c.wait_registered(c.live_expected(), timeout=30)
    c.roundtrip(MiB + 17, "/after-" + tag, seed=SEED % 1000 + len(tag))


def random_bytes(rng, addrs):
    for a in addrs:
        for n in (1, 23, 24, 25, 4096, 300000):
            send(a, rng.randbytes(n))
        # random bytes after a valid magic
        for _ in range(20):
            send(a, wire.HDR.pack(wire.FRAME_MAGIC, rng.randrange(65536), 0, 1, 0, 0)[:6]
                 + rng.randbytes(rng.randrange(1, 200)))


def bad_headers(rng, addrs):
    for a in addrs:
        send(a, wire.header(114, 0, magic=0xDEADBEEF), read_reply=True)
        send(a, wire.header(114, 0, flags=0xFFFE), read_reply=True)
        for plen, blen in ((0xFFFFFFFF, 0), (0, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
                           (64 << 20, 0), (33 << 20, 0), (0, (1 << 20) + 4097),
                           (0x7FFFFFFF, 0x7FFFFFFF)):
            for t in (114, 300, 204, 0xFFFF):
                send(a, wire.header(t, plen, blen) + rng.randbytes(100), read_reply=True)


def truncated(rng, addrs):
    for a in addrs:
        for cut in (1, 4, 8, 16, 23):
            send(a, wire.header(114, 0)[:cut])
        for t in REQUEST_TYPES:
            send(a, wire.header(t, 100, 0) + rng.randbytes(10))        # payload cut short
            send(a, wire.header(t, 0, 5000) + rng.randbytes(100))      # bulk cut short
        # a frame that stops mid-way and the peer half-closes
        host, port = a.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=3) as s:
                s.sendall(wire.header(300, 50, 70000) + rng.randbytes(30))
                s.shutdown(socket.SHUT_WR)
                s.settimeout(2)
                try:
                    s.recv(100)
                except OSError:
                    pass
        except OSError:
            pass


def garbage_protobuf(rng, addrs):
    for a in addrs:
        for t in REQUEST_TYPES:
            for n in (1, 7, 64, 1000):
                send(a, wire.frame(t, rng.randbytes(n), req_id=rng.randrange(1 << 64)),
                     read_reply=(n == 7))
            # wire-valid protobuf with wrong field types, nested junk, huge varints
            junk = (wire.f_bytes(2, rng.randbytes(50)) + wire.f_varint(3, (1 << 64) - 1) +
                    wire.f_bytes(7, wire.f_bytes(1, b"x" * 300)) + b"\xff" * 10)
            send(a, wire.frame(t, junk), read_reply=True)
            # garbage payload with a bulk attached
            send(a, wire.frame(t, rng.randbytes(20), rng.randbytes(70000)))


def odd_types(rng, addrs):
    for a in addrs:
        for t in ODD_TYPES:
            send(a, wire.frame(t, b""), read_reply=True)
            send(a, wire.frame(t, rng.randbytes(30)))
            send(a, wire.frame(t, b"", flags=wire.FRAME_REPLY))
        # a reply-flagged frame of a real request type (nobody asked)
        for t in REQUEST_TYPES:
            send(a, wire.frame(t + 1, b"", flags=wire.FRAME_REPLY, req_id=12345))
        # many frames back to back on one connection, mixed good and bad
        stream = b"".join(wire.frame(rng.choice(REQUEST_TYPES + ODD_TYPES),
                                     rng.randbytes(rng.randrange(0, 40)))
                          for _ in range(200))
        send(a, stream, read_reply=True)


def hostile_requests(c, rng):
    """Well-formed but hostile requests to chunkd and metad."""
    self_addr = lambda d: (wire.f_varint(1, 9999) + wire.f_bytes(2, "127.0.0.1") +
                           wire.f_varint(3, d.port))
    data = rng.randbytes(4096)
    crc = wire.crc32c(data)
    for d in c.chunkds:
        # a chain of 40 copies of itself, a chain to a closed port, and a huge chain
        for chain in ([self_addr(d)] * 40,
                      [wire.f_varint(1, 1) + wire.f_bytes(2, "127.0.0.1") + wire.f_varint(3, 1)],
                      [wire.f_bytes(2, "x" * 5000) + wire.f_varint(3, 70000)] * 3):
            req = (wire.f_varint(2, rng.randrange(1, 1 << 62)) + wire.f_varint(3, 1) +
                   wire.f_varint(4, len(data)) + wire.f_varint(5, crc) +
                   wire.f_bytes(6, wire.varint(crc)) +  # packed repeated block CRCs
                   b"".join(wire.f_bytes(7, x) for x in chain))
            send(d.addr, wire.frame(wire.MSG_CLIENT_TO_CHUNK_WRITE, req, data), read_reply=True,
                 linger=5)
        # length disagreeing with the bulk, zero length, > 1 MiB claimed
        for length in (0, 1, len(data) + 1, (1 << 20) + 1, 0xFFFFFFFF):
            req = (wire.f_varint(2, 77) + wire.f_varint(3, 1) + wire.f_varint(4, length) +
                   wire.f_varint(5, 0) + b"".join(wire.f_varint(6, 0) for _ in range(300)))
            send(d.addr, wire.frame(wire.MSG_CLIENT_TO_CHUNK_WRITE, req, data), read_reply=True)
        # reads of missing chunks and absurd ranges
        for off, ln in ((0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (1 << 20, 1), (5, 0xFFFFFFFF)):
            req = (wire.f_varint(2, rng.randrange(1 << 64)) + wire.f_varint(3, 1) +
                   wire.f_varint(4, off) + wire.f_varint(5, ln))
            send(d.addr, wire.frame(wire.MSG_CLIENT_TO_CHUNK_READ, req), read_reply=True)
    m = c.meta
    for p in (b"", b"relative", b"/" + b"a" * 70000, b"/a/../b", b"/\xff\xfe", b"/a//b",
              b"/.", b"/x\0y", b"/" + b"/".join([b"d"] * 5000)):
        for t in (100, 102, 104, 106, 112):
            send(m, wire.frame(t, wire.f_bytes(2, p) + wire.f_varint(3, 1)), read_reply=True)
    # absurd allocations and commits
    for count, rep in ((0, 2), (1 << 31, 2), (257, 2), (1, 0), (1, 1000), (256, 16)):
        send(m, wire.frame(108, wire.f_varint(2, count) + wire.f_varint(3, rep)),
             read_reply=True)
    bad_chunk = (wire.f_varint(1, rng.randrange(1 << 64)) + wire.f_varint(2, 1) +
                 wire.f_varint(3, 5) + wire.f_varint(5, 424242))
    for size in (0, 5, (1 << 64) - 1):
        send(m, wire.frame(110, wire.f_bytes(2, "/fuzz-commit") + wire.f_varint(3, size) +
                           wire.f_varint(4, 2) + wire.f_bytes(8, bad_chunk) * 3),
             read_reply=True)
    # getfile paging past the end
    send(m, wire.frame(112, wire.f_bytes(2, "/") + wire.f_varint(3, 1 << 63) +
                       wire.f_varint(4, 0xFFFFFFFF)), read_reply=True)
    # chunkserver messages from a stranger: heartbeat/inventory for unknown ids
    send(m, wire.frame(204, wire.f_varint(1, 123456) + wire.f_varint(3, 1 << 62)),
         read_reply=True)
    send(m, wire.frame(202, wire.f_varint(1, 987) + wire.f_varint(3, 1)), read_reply=True)


def idle_connections(addrs):
    socks = []
    try:
        for a in addrs:
            host, port = a.rsplit(":", 1)
            for _ in range(100):
                try:
                    s = socket.create_connection((host, int(port)), timeout=3)
                    socks.append(s)
                except OSError:
                    break
        # half of them send half a header and stall
        for s in socks[::2]:
            try:
                s.sendall(wire.header(114, 0)[:10])
            except OSError:
                pass
        time.sleep(0.5)
    finally:
        for s in socks:
            s.close()


def valid_reply_check(c):
    """metad still answers a well-formed cluster request with every server alive."""
    ov = c.overview()
    check(len([s for s in ov["servers"] if s["alive"]]) >= len(c.chunkds),
          "cluster overview: %r" % ov)


def error_replies(c, rng):
    """The contract (docs/internals.md): a request the daemon cannot decode, or a type it
    does not serve, gets MSG_ERROR (reply flag, same request id, negative status) and the
    connection stays up: a valid request on the same connection is then answered."""
    for addr, valid, valid_rep in (
            (c.meta, wire.frame(wire.MSG_CLIENT_TO_META_CLUSTER, b"", req_id=4242),
             wire.MSG_META_TO_CLIENT_CLUSTER),
            *((d.addr, wire.frame(wire.MSG_CLIENT_TO_CHUNK_READ, wire.f_varint(2, 1 << 60) +
                                  wire.f_varint(3, 1), req_id=4242), 303)
              for d in c.chunkds)):
        host, port = addr.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            for t in REQUEST_TYPES + [5, 999, 0x7FFF]:
                rid = rng.randrange(1, 1 << 64)
                s.sendall(wire.frame(t, b"\xff\xff\xff" + rng.randbytes(5), req_id=rid))
                mtype, flags, req_id, payload, _ = wire.read_frame(s)
                what = "%s: garbage of type %d" % (addr, t)
                check(flags & wire.FRAME_REPLY and req_id == rid,
                      "%s: reply flags 0x%x id %d (sent id %d)" % (what, flags, req_id, rid))
                status = wire.decode(wire.one(wire.decode(payload), 1, b""))
                err = wire.zigzag_decode(wire.one(status, 1, 0))
                check(err < 0, "%s: reply type %d with status %d (expected an error)" %
                      (what, mtype, err))
                check(mtype in (wire.MSG_ERROR, t + 1),
                      "%s: reply type %d, expected MSG_ERROR" % (what, mtype))
            s.sendall(valid)
            mtype, flags, req_id, _, _ = wire.read_frame(s)
            check(mtype == valid_rep and req_id == 4242,
                  "%s: valid request after garbage got type %d id %d" % (addr, mtype, req_id))


def main(t):
    print("fuzz seed %d (set DFS_FUZZ_SEED to replay)" % SEED)
    rng = random.Random(SEED)
    with t.cluster(chunkservers=3, name="fuzz") as c:
        client_addrs = [c.meta] + [d.addr for d in c.chunkds]
        raft_addr = ["127.0.0.1:%d" % c.raft_port]
        t.case("baseline round trip", sanity, c, "baseline")
        t.case("undecodable requests get MSG_ERROR, the connection stays usable",
               error_replies, c, rng)
        groups = [("random bytes", random_bytes), ("bad magic, flags, huge lengths", bad_headers),
                  ("truncated headers and frames", truncated),
                  ("valid header + garbage protobuf, every request type", garbage_protobuf),
                  ("unknown and reply-only message types", odd_types)]
        for name, fn in groups:
            t.case("metad+chunkd: %s -> daemons up, round trip works" % name,
                   lambda fn=fn, name=name: (fn(rng, client_addrs), valid_reply_check(c),
                                             sanity(c, name.split()[0]))[-1])
        t.case("hostile well-formed requests (chains, ranges, paths, allocs, commits)",
               lambda: (hostile_requests(c, rng), sanity(c, "hostile"))[-1])
        t.case("300+ idle and stalled connections",
               lambda: (idle_connections(client_addrs), sanity(c, "idle"))[-1])
        t.case("metad raft port: random bytes, huge lengths, truncation",
               lambda: (random_bytes(rng, raft_addr), bad_headers(rng, raft_addr),
                        truncated(rng, raft_addr), sanity(c, "raft"))[-1])


if __name__ == "__main__":
    harness.run(main)
