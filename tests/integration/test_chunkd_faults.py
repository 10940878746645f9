#!/usr/bin/env python3
"""chunkd side of issue 5: copy jobs, heartbeat reports, integrity, failing and full
disks, through the fault hooks (needs a build with -DDFS_FAULT_HOOKS=ON, as scripts/test
makes; without them the test fails and says so).

Part 1 talks to real chunkds through a fake metad (a python server speaking the
chunk_meta protocol via wire.py): it hands out CopyJobs, delete_versions and
send_inventory and checks every heartbeat field. Part 2 runs a real cluster: EIO and
corrupt reads on one chunkserver never give a client wrong bytes.
Seed: DFS_TEST_SEED (printed)."""
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402
import wire  # noqa: E402

SEED = int(os.environ.get("DFS_TEST_SEED", random.randrange(1 << 30)))
print("seed %d (DFS_TEST_SEED=%d replays it)" % (SEED, SEED), flush=True)
RNG = random.Random(SEED)

MSG_REGISTER, MSG_INVENTORY, MSG_HEARTBEAT = 200, 202, 204
BLOCK = 64 << 10
ENOSPACE, ECHECKSUM, EIO = -16, -15, -3


def zz(v):  # sint32 zigzag encode
    return (v << 1) ^ (v >> 31)


def pack_blocks(data):
    crcs = [wire.crc32c(data[i:i + BLOCK]) for i in range(0, len(data), BLOCK)]
    return crcs, b"".join(wire.varint(c) for c in crcs)


def write_chunk(addr, cid, version, data):
    """WriteChunk with no chain; (error, message)."""
    _, packed = pack_blocks(data)
    req = (wire.f_varint(2, cid) + wire.f_varint(3, version) + wire.f_varint(4, len(data)) +
           wire.f_varint(5, wire.crc32c(data)) + wire.f_bytes(6, packed))
    mtype, _, _, payload, _ = wire.call(addr, wire.MSG_CLIENT_TO_CHUNK_WRITE, req, bulk=data,
                                        timeout=20)
    return wire.status_of(payload)


def read_chunk(addr, cid, version):
    """ReadChunk of the whole chunk; (error, message, bytes)."""
    req = wire.f_varint(2, cid) + wire.f_varint(3, version)
    mtype, _, _, payload, bulk = wire.call(addr, wire.MSG_CLIENT_TO_CHUNK_READ, req, timeout=20)
    err, msg = wire.status_of(payload) if mtype != wire.MSG_ERROR else (-10, "error frame")
    return err, msg, bulk


class FakeMetad:
    """Registers chunkds, takes inventories, records heartbeats and answers them with
    whatever the test queued for that server."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.ids = {}          # uuid -> server id
        self.hbs = {}          # server id -> [decoded HeartbeatReq]
        self.inventories = {}  # server id -> number of complete inventories
        self.inv_chunks = {}   # server id -> {chunk id: version} of the last one
        self.queued = {}       # server id -> [extra HeartbeatRep bytes]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        sid = 0
        building = {}
        try:
            while True:
                mtype, _, req_id, payload, _ = wire.read_frame(c)
                m = wire.decode(payload)
                rep = b""
                with self.lock:
                    if mtype == MSG_REGISTER:
                        uuid = wire.one(m, 1, b"").decode()
                        sid = self.ids.setdefault(uuid, len(self.ids) + 1)
                        rep = wire.f_varint(2, sid) + wire.f_varint(3, 100)
                    elif mtype == MSG_INVENTORY:
                        for raw in m.get(2, []):
                            r = wire.decode(raw)
                            building[wire.one(r, 1)] = wire.one(r, 2)
                        if wire.one(m, 3):
                            self.inventories[sid] = self.inventories.get(sid, 0) + 1
                            self.inv_chunks[sid] = building
                            building = {}
                    elif mtype == MSG_HEARTBEAT:
                        self.hbs.setdefault(sid, []).append(m)
                        q = self.queued.get(sid)
                        if q:
                            rep = q.pop(0)
                    self.lock.notify_all()
                c.sendall(wire.frame(mtype + 1, rep, req_id=req_id, flags=wire.FRAME_REPLY))
        except (OSError, ValueError, ConnectionError):
            c.close()

    def queue(self, sid, rep):
        with self.lock:
            self.queued.setdefault(sid, []).append(rep)

    def wait(self, what, cond, timeout=20):
        """Waits until cond() (called under the lock) is truthy; returns its value."""
        deadline = time.time() + timeout
        with self.lock:
            while True:
                v = cond()
                if v:
                    return v
                left = deadline - time.time()
                check(left > 0, "fake metad: timed out waiting for " + what)
                self.lock.wait(min(left, 0.2))

    def results(self, sid):
        """Every CopyResult reported by server sid: {job id: (error, message, bytes)}."""
        out = {}
        for hb in self.hbs.get(sid, []):
            for raw in hb.get(7, []):
                r = wire.decode(raw)
                st = wire.decode(wire.one(r, 3, b""))
                out[wire.one(r, 1)] = (wire.zigzag_decode(wire.one(st, 1, 0)),
                                       wire.one(st, 2, b"").decode(), wire.one(r, 4))
        return out

    def new_chunks(self, sid):
        return {wire.one(wire.decode(raw), 1): wire.one(wire.decode(raw), 2)
                for hb in self.hbs.get(sid, []) for raw in hb.get(6, [])}

    def bad_chunks(self, sid):
        return {(wire.one(wire.decode(raw), 1), wire.one(wire.decode(raw), 2))
                for hb in self.hbs.get(sid, []) for raw in hb.get(10, [])}

    def last_hb(self, sid):
        h = self.hbs.get(sid)
        return h[-1] if h else None

    def close(self):
        self.stopping = True
        self.sock.close()


def copy_job(job_id, cid, version, data, sources):
    src = b"".join(wire.f_bytes(6, wire.f_varint(1, i + 1) + wire.f_bytes(2, h) +
                                wire.f_varint(3, p)) for i, (h, p) in enumerate(sources))
    return wire.f_bytes(4, wire.f_varint(1, job_id) + wire.f_varint(2, cid) +
                        wire.f_varint(3, version) + wire.f_varint(4, len(data)) +
                        wire.f_varint(5, wire.crc32c(data)) + src)


class Chunkds:
    """Real chunkds against a fake metad, in a temp dir; torn down with a sanitizer and
    clean-exit check."""

    def __init__(self, n, fake, extra=(), per=None):
        self.dir = tempfile.mkdtemp(prefix="dfs-it-chunkd-faults-")
        self.ds = []
        for i in range(n):
            port = harness.free_port()
            d = harness.Daemon("chunkd-%d" % (i + 1), [
                os.path.join(harness.BIN, "chunkd"), "--listen", "127.0.0.1:%d" % port,
                "--dir", os.path.join(self.dir, "c%d" % (i + 1)), "--meta", fake.addr,
                "--set", "scrub.bytes_per_s=0", *extra, *((per or {}).get(i, ()))],
                os.path.join(self.dir, "chunkd-%d.log" % (i + 1)))
            d.port, d.addr, d.data = port, "127.0.0.1:%d" % port, os.path.join(self.dir, "c%d" % (i + 1))
            d.start()
            self.ds.append(d)
        # server ids follow registration order: map each chunkd by its uuid
        for d in self.ds:
            uuid_path = os.path.join(d.data, "server.uuid")
            deadline = time.time() + 20
            while not os.path.exists(uuid_path):
                check(d.running(), "%s died at start:\n%s" % (d.name, d.log_tail()))
                check(time.time() < deadline, "%s did not create server.uuid" % d.name)
                time.sleep(0.05)
            with open(uuid_path) as f:
                uuid = f.read().strip()
            d.sid = fake.wait("%s registration" % d.name, lambda: fake.ids.get(uuid))
            fake.wait("%s inventory" % d.name, lambda: fake.inventories.get(d.sid))

    def teardown(self):
        problems = []
        for d in self.ds:
            p = d.terminate()
            if p:
                problems.append(p)
            rep = d.new_sanitizer_report()
            if rep:
                problems.append("%s: sanitizer report:\n%s" % (d.name, rep))
        if problems:
            raise harness.TestFailure("; ".join(problems) + "\n" + "\n".join(
                d.name + ":\n" + d.log_tail(30) for d in self.ds))


def hooks_compiled():
    """True if chunkd accepts fault.* keys (a DFS_FAULT_HOOKS build)."""
    import subprocess
    with tempfile.TemporaryDirectory() as t:
        r = subprocess.run([os.path.join(harness.BIN, "chunkd"), "--dir", t, "--listen",
                            "127.0.0.1:1", "--set", "fault.drop_msg=0", "--set",
                            "tls.cert=x"], capture_output=True, text=True, timeout=30)
    return "not compiled in" not in r.stderr


def set_fault(d, text):
    harness.set_fault(d, text)


def rand_bytes(n):
    return RNG.randbytes(n)


def wait_result(fake, sid, job_id, timeout=20):
    return fake.wait("copy result of job %d" % job_id,
                     lambda: fake.results(sid).get(job_id), timeout)


def wait_read_err(addr, cid, version, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        err, msg, _ = read_chunk(addr, cid, version)
        if err == want:
            return
        check(time.time() < deadline, "chunk %x: read gives %d (%s), expected %d" %
              (cid, err, msg, want))
        time.sleep(0.05)


def case_copy_jobs(fake):
    cs = Chunkds(2, fake, extra=("--set", "copy.max_bytes_per_s=0"))
    try:
        a, b = cs.ds
        base = RNG.randrange(1 << 40) << 8
        data = {}
        for k in range(1, 6):
            data[base + k] = rand_bytes(RNG.randrange(100000, 300000))
        for cid in (base + 1, base + 2, base + 3):
            err, msg = write_chunk(a.addr, cid, 1, data[cid])
            check(err == 0, "write to the source failed: %d %s" % (err, msg))
        src = [("127.0.0.1", a.port)]
        # 1: a plain copy, listed in new_chunks, readable with the right bytes
        fake.queue(b.sid, copy_job(1, base + 1, 1, data[base + 1], src))
        r = wait_result(fake, b.sid, 1)
        check(r == (0, "", len(data[base + 1])), "job 1: %r" % (r,))
        check(fake.new_chunks(b.sid).get(base + 1) == 1, "job 1: chunk not in new_chunks")
        err, msg, got = read_chunk(b.addr, base + 1, 1)
        check(err == 0 and got == data[base + 1], "job 1: copy reads back wrong (%d %s)" % (err, msg))
        # 2: the same job again is a success with nothing copied (idempotent)
        fake.queue(b.sid, copy_job(2, base + 1, 1, data[base + 1], src))
        r = wait_result(fake, b.sid, 2)
        check(r == (0, "", 0), "job 2 (already stored): %r" % (r,))
        # 3: the first source is dead: falls back to the second
        dead = harness.free_port()
        fake.queue(b.sid, copy_job(3, base + 2, 1, data[base + 2],
                                   [("127.0.0.1", dead)] + src))
        r = wait_result(fake, b.sid, 3)
        check(r[0] == 0 and r[2] == len(data[base + 2]), "job 3 (fallback): %r" % (r,))
        # 4: the job's CRC does not match what the source has: error, nothing stored
        fake.queue(b.sid, copy_job(4, base + 3, 1, bytes(len(data[base + 3])), src))
        r = wait_result(fake, b.sid, 4)
        check(r[0] == ECHECKSUM and "CRC" in r[1], "job 4 (bad CRC): %r" % (r,))
        check(read_chunk(b.addr, base + 3, 1)[0] == -24, "job 4: a bad copy was stored")
        # 5: no source has it
        fake.queue(b.sid, copy_job(5, base + 4, 1, data[base + 4], src))
        r = wait_result(fake, b.sid, 5)
        check(r[0] != 0 and "no source" in r[1], "job 5 (missing at source): %r" % (r,))
        # heartbeat fields
        hb = fake.wait("an idle heartbeat", lambda: (lambda h: h if h and wire.one(h, 8) == 2
                                                      and wire.one(h, 9) == 0 else None)(
            fake.last_hb(b.sid)))
        check(wire.one(hb, 13) > 0, "reserve_bytes missing: %r" % hb)
        check(wire.one(hb, 11) == 0 and not wire.one(hb, 12), "disk errors on a good disk")
        # delete_versions: a wrong version is ignored, the right one deletes
        fake.queue(b.sid, wire.f_bytes(6, wire.f_varint(1, base + 1) + wire.f_varint(2, 7)))
        n = len(fake.hbs[b.sid])
        fake.wait("two heartbeats", lambda: len(fake.hbs[b.sid]) >= n + 2)
        check(read_chunk(b.addr, base + 1, 1)[0] == 0, "delete_versions of another version deleted")
        fake.queue(b.sid, wire.f_bytes(6, wire.f_varint(1, base + 1) + wire.f_varint(2, 1)))
        wait_read_err(b.addr, base + 1, 1, -24)
        # send_inventory: a full report on the same connection
        inv = fake.inventories[b.sid]
        fake.queue(b.sid, wire.f_varint(5, 1))
        fake.wait("the inventory asked for", lambda: fake.inventories[b.sid] > inv)
        chunks = fake.inv_chunks[b.sid]
        check(chunks == {base + 2: 1}, "inventory after send_inventory: %r" % chunks)
        # a delete order and a copy job for the same replica in one reply: the delete runs
        # on the thread pool, so the copy must not answer "already stored" for a replica on
        # its way out; it fails (busy) or, if the delete was already done, really copies
        cid = base + 5
        for d in (a, b):
            err, msg = write_chunk(d.addr, cid, 1, data[cid])
            check(err == 0, "write to %s failed: %d %s" % (d.name, err, msg))
        deleted = b.log_text().count("chunk versions metad asked to delete")
        fake.queue(b.sid, wire.f_bytes(6, wire.f_varint(1, cid) + wire.f_varint(2, 1)) +
                   copy_job(6, cid, 1, data[cid], src))
        r = wait_result(fake, b.sid, 6)
        deadline = time.time() + 10
        while b.log_text().count("chunk versions metad asked to delete") <= deleted:
            check(time.time() < deadline, "the delete of chunk %x did not run" % cid)
            time.sleep(0.05)
        err, msg, got = read_chunk(b.addr, cid, 1)
        if r[0] == 0:
            check(r[2] == len(data[cid]), "job 6 claimed a replica being deleted: %r" % (r,))
            check(err == 0 and got == data[cid], "job 6 succeeded but the chunk is gone (%d)" % err)
        else:
            check(r[0] == -25 and "delete" in r[1], "job 6: unexpected error %r" % (r,))
            check(err == -24, "chunk still there after its delete: %d %s" % (err, msg))
    finally:
        cs.teardown()


def measure_copy(fake, rate, n=12, size=256 << 10):
    """Copies n chunks of size bytes at copy.max_bytes_per_s=rate; returns seconds."""
    cs = Chunkds(2, fake, extra=("--set", "copy.max_bytes_per_s=%d" % rate,
                                 "--set", "copy.max_concurrent=%d" % n))
    try:
        a, b = cs.ds
        base = RNG.randrange(1 << 40) << 8
        payload = b""
        chunks = {}
        for k in range(n):
            chunks[base + k] = rand_bytes(size)
            err, msg = write_chunk(a.addr, base + k, 1, chunks[base + k])
            check(err == 0, "write failed: %d %s" % (err, msg))
            payload += copy_job(100 + k, base + k, 1, chunks[base + k], [("127.0.0.1", a.port)])
        t0 = time.time()
        fake.queue(b.sid, payload)
        for k in range(n):
            r = wait_result(fake, b.sid, 100 + k, timeout=60)
            check(r[0] == 0, "job %d: %r" % (100 + k, r))
        secs = time.time() - t0
        for k in (0, n - 1):
            err, _, got = read_chunk(b.addr, base + k, 1)
            check(err == 0 and got == chunks[base + k], "copied chunk %d reads back wrong" % k)
        return secs
    finally:
        cs.teardown()


def case_throttle(fake):
    n, size = 12, 256 << 10
    free = measure_copy(fake, 0, n, size)
    rate = 1 << 20
    slow = measure_copy(fake, rate, n, size)
    floor = (n - 1) * size / rate  # the first chunk starts at once
    print("    copy throughput: %.1f MiB/s unthrottled, %.2f MiB/s at copy.max_bytes_per_s=1M "
          "(%d x %d KiB)" % (n * size / free / 2**20, n * size / slow / 2**20, n, size >> 10),
          flush=True)
    check(slow >= floor * 0.9, "throttled copy took %.2f s, at least %.2f s expected" %
          (slow, floor))
    check(free < slow, "unthrottled copy (%.2f s) not faster than throttled (%.2f s)" %
          (free, slow))


def case_sigterm_mid_copy(fake):
    """SIGTERM while copy jobs wait on the throttle or run: clean exit 0, no leak."""
    cs = Chunkds(2, fake, extra=("--set", "copy.max_bytes_per_s=256K",
                                 "--set", "copy.max_concurrent=8"))
    try:
        a, b = cs.ds
        base = RNG.randrange(1 << 40) << 8
        payload = b""
        data = rand_bytes(128 << 10)
        for k in range(8):
            check(write_chunk(a.addr, base + k, 1, data)[0] == 0, "write failed")
            payload += copy_job(200 + k, base + k, 1, data, [("127.0.0.1", a.port)])
        fake.queue(b.sid, payload)
        wait_result(fake, b.sid, 200)  # the first runs at once, the rest wait ~0.5 s each
        check(len(fake.results(b.sid)) < 8, "every job finished before SIGTERM")
    finally:
        cs.teardown()  # fails on a non-zero exit or a sanitizer report


def case_disk_faults(fake):
    cs = Chunkds(1, fake, extra=("--set", "data.max_io_errors=3"))
    try:
        d = cs.ds[0]
        cid = RNG.randrange(1 << 40) << 8
        data = rand_bytes(200000)
        check(write_chunk(d.addr, cid, 1, data)[0] == 0, "write failed")
        # EIO on every read: an error, never bytes; after 3 the disk is failing
        set_fault(d, "disk_read_eio=1")
        for _ in range(3):
            err, msg, got = read_chunk(d.addr, cid, 1)
            check(err == EIO and not got, "read under EIO gave %d %r" % (err, msg))
        print("    EIO read: %s" % msg, flush=True)
        hb = fake.wait("disk_failing", lambda: (lambda h: h if h and wire.one(h, 12) else None)(
            fake.last_hb(d.sid)))
        check(wire.one(hb, 11) >= 3, "disk_errors %d < 3" % wire.one(hb, 11))
        check(d.log_text().count("is FAILING") == 1, "disk failure not logged exactly once")
        set_fault(d, "# all off")
        err, _, got = read_chunk(d.addr, cid, 1)
        check(err == 0 and got == data, "read after the EIO fault stopped is wrong")
        # message hooks (common/conn.c): ReadChunk requests delayed, then dropped
        set_fault(d, "delay_msg=%d:600" % wire.MSG_CLIENT_TO_CHUNK_READ)
        t0 = time.time()
        err, _, got = read_chunk(d.addr, cid, 1)
        took = time.time() - t0
        check(err == 0 and got == data and took >= 0.55, "delayed read: %d in %.2f s" % (err, took))
        set_fault(d, "drop_msg=%d" % wire.MSG_CLIENT_TO_CHUNK_READ)
        try:
            wire.call(d.addr, wire.MSG_CLIENT_TO_CHUNK_READ,
                      wire.f_varint(2, cid) + wire.f_varint(3, 1), timeout=1.0)
            check(False, "a dropped ReadChunk was answered")
        except socket.timeout:
            pass
        # a corrupt block read: detected, quarantined, reported in bad_chunks
        set_fault(d, "corrupt_read=once:1")
        err, msg, got = read_chunk(d.addr, cid, 1)
        check(err == ECHECKSUM and not got, "corrupt read gave %d %r" % (err, msg))
        fake.wait("bad_chunks report", lambda: (cid, 1) in fake.bad_chunks(d.sid))
        check(os.listdir(os.path.join(d.data, "corrupt")), "nothing quarantined")
        check(read_chunk(d.addr, cid, 1)[0] == -24, "quarantined chunk still served")
        # ENOSPC and EIO on write: a clear error, no temp file, nothing visible
        for fault, want, word in (("disk_write_enospc=once:1", ENOSPACE, "full"),
                                  ("disk_write_eio=once:1", EIO, "")):
            set_fault(d, fault)
            err, msg = write_chunk(d.addr, cid + 1, 1, data)
            check(err == want and word in msg, "%s: write gave %d %r" % (fault, err, msg))
            check(os.listdir(os.path.join(d.data, "tmp")) == [], "%s left a temp file" % fault)
            check(read_chunk(d.addr, cid + 1, 1)[0] == -24, "%s: half a chunk visible" % fault)
    finally:
        cs.teardown()


def case_reserve(fake):
    cs = Chunkds(1, fake, extra=("--capacity", "4M", "--set", "data.reserve=2M"))
    try:
        d = cs.ds[0]
        hb = fake.wait("a heartbeat", lambda: fake.last_hb(d.sid))
        check(wire.one(hb, 13) == 2 << 20, "reserve_bytes %d" % wire.one(hb, 13))
        cid = RNG.randrange(1 << 40) << 8
        data = rand_bytes(512 << 10)
        for k in range(3):
            err, msg = write_chunk(d.addr, cid + k, 1, data)
            check(err == 0, "write %d below the reserve failed: %d %s" % (k, err, msg))
        err, msg = write_chunk(d.addr, cid + 3, 1, data)
        check(err == ENOSPACE and "full" in msg, "write into the reserve gave %d %r" % (err, msg))
        check("data.reserve" in d.log_text(), "no log line naming data.reserve")
    finally:
        cs.teardown()


def cluster_data(c):
    for d in c.chunkds:
        d.data = harness.chunkd_data_dir(d)


def case_cluster_read_faults(c):
    cluster_data(c)
    size = (2 << 20) + 12345
    local = c.scratch("eio-src")
    digest = harness.make_file(local, size, SEED)
    c.dfs_ok("put", local, "/eio", "--replicas", "3")
    d1, d2, d3 = c.chunkds
    # EIO on every read of one replica, flipped bits in another: the third serves
    set_fault(d1, "disk_read_eio=1")
    set_fault(d2, "corrupt_read=1")
    for _ in range(2):
        c.get_check("/eio", digest)
    # every replica bad: the get fails with an error and leaves no wrong file
    set_fault(d3, "corrupt_read=1")
    back = c.scratch("eio-back")
    rc, err = 0, ""
    for _ in range(3):
        rc, _, err = c.dfs("get", "/eio", back)
        if os.path.exists(back):
            check(harness.sha256_file(back) == digest, "get wrote wrong bytes")
            os.unlink(back)
        if rc:
            break
    check(rc != 0, "get succeeded with every replica failing")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, "get with no good replica: expected one error line, got %r" % err)
    print("    no good replica: %s" % lines[0], flush=True)
    for d in c.chunkds:
        set_fault(d, "")


def case_cluster_full(c):
    cluster_data(c)
    for d in c.chunkds:
        set_fault(d, "disk_write_enospc=1")
    local = c.scratch("full-src")
    harness.make_file(local, (3 << 20) + 7, SEED + 1)
    rc, _, err = c.dfs("put", local, "/full")
    check(rc != 0, "put succeeded with every disk full")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1 and ("space" in lines[0] or "full" in lines[0]),
          "put on a full cluster: expected one 'no space' line, got %r" % err)
    print("    full cluster: %s" % lines[0], flush=True)
    rc, out, _ = c.dfs("stat", "/full")
    check(rc != 0, "a failed put left /full visible: %s" % out)
    for d in c.chunkds:
        check(os.listdir(os.path.join(d.data, "tmp")) == [], "%s left temp files" % d.name)
        set_fault(d, "")
    c.roundtrip((1 << 20) + 3, "/after-full", seed=SEED + 2)


def scrub_passes(d, nchunks):
    """(MiB/s, chunks/s, seconds) of every scrub pass over nchunks chunks logged by d."""
    import re
    out = []
    for m in re.finditer(r"scrub pass done: (\d+) chunks, .*?, 0 corrupt, ([\d.]+) s: "
                         r"([\d.]+) MiB/s, ([\d.]+) chunks/s", d.log_text()):
        if int(m.group(1)) == nchunks:
            out.append((float(m.group(3)), float(m.group(4)), float(m.group(2))))
    return out


def case_scrub_rate(c, size_mib, rate_mib):
    d = c.chunkds[0]
    local = c.scratch("scrub-src")
    harness.make_file(local, size_mib << 20, SEED + 3)
    c.dfs_ok("put", local, "/scrub", "--replicas", "1")
    deadline = time.time() + 60
    while not scrub_passes(d, size_mib):
        check(time.time() < deadline, "no scrub pass over %d chunks logged:\n%s" %
              (size_mib, d.log_tail()))
        time.sleep(0.2)
    mibs, cps, secs = scrub_passes(d, size_mib)[0]
    print("    scrubber: %.1f MiB/s, %.1f chunks/s over %d MiB (scrub.bytes_per_s=%s)" %
          (mibs, cps, size_mib, "%dM" % rate_mib if rate_mib < 1024 else "unlimited"), flush=True)
    if rate_mib < 1024:
        # token bucket: a pass ends when its last read is paid for at the rate
        check(secs >= size_mib / rate_mib * 0.9, "scrub pass of %d MiB took %.2f s at %d MiB/s" %
              (size_mib, secs, rate_mib))
        check(mibs <= rate_mib * 1.1, "scrubber ran at %.1f MiB/s, limit %d" % (mibs, rate_mib))


def server_health(meta):
    """{port: (state, disk_errors)} from metad's ClusterRep (ChunkServerInfo fields 8, 11)."""
    mtype, _, _, payload, _ = wire.call(meta, wire.MSG_CLIENT_TO_META_CLUSTER, b"")
    check(mtype == wire.MSG_META_TO_CLIENT_CLUSTER, "cluster request: reply type %d" % mtype)
    out = {}
    for raw in wire.decode(payload).get(2, []):
        si = wire.decode(raw)
        addr = wire.decode(wire.one(si, 1, b""))
        out[wire.one(addr, 3)] = (wire.one(si, 8, b"").decode(), wire.one(si, 11))
    return out


def case_failing_disk_drained(c):
    cluster_data(c)
    d1, d2 = c.chunkds
    local = c.scratch("drain-src")
    digest = harness.make_file(local, (2 << 20) + 99, SEED + 4)
    c.dfs_ok("put", local, "/drain", "--replicas", "2")
    set_fault(d1, "disk_read_eio=1")  # the scrubber's reads now fail
    deadline = time.time() + 30
    while "is FAILING" not in d1.log_text():
        check(time.time() < deadline, "chunkd-1 never declared its disk failing:\n" + d1.log_tail())
        time.sleep(0.1)
    c.get_check("/drain", digest)  # served by chunkd-2
    if not any(st for st, _ in server_health(c.meta).values()):
        print("    metad does not report server state yet (ChunkServerInfo.state); "
              "checked chunkd's side only", flush=True)
        return
    deadline = time.time() + 15
    while True:
        h = server_health(c.meta)
        if h.get(d1.port, ("", 0))[0] == "draining":
            break
        check(time.time() < deadline, "metad never showed chunkd-1 draining: %r" % h)
        time.sleep(0.1)
    check(h[d1.port][1] >= 2, "disk_errors of chunkd-1 in metad: %r" % (h[d1.port],))
    check(h[d2.port][0] != "draining", "healthy chunkd-2 shown draining: %r" % h)
    print("    metad: chunkd-1 %s with %d disk errors" % h[d1.port], flush=True)


def case_cluster_reserve_full(c):
    """Real fullness: 6 MiB servers keeping 2 MiB back fill up; the put that does not fit
    fails with one line, leaves nothing visible, and earlier files stay readable."""
    cluster_data(c)
    first = c.roundtrip((3 << 20) + 5, "/fits", seed=SEED + 5, replicas="2")
    local = c.scratch("overflow-src")
    harness.make_file(local, (4 << 20) + 1, SEED + 6)
    rc, _, err = c.dfs("put", local, "/overflow", "--replicas", "2")
    check(rc != 0, "a put beyond every server's reserve succeeded")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1 and ("space" in lines[0] or "full" in lines[0]),
          "put into the reserve: expected one 'no space'/'full' line, got %r" % err)
    print("    reserve full: %s" % lines[0], flush=True)
    rc, out, _ = c.dfs("stat", "/overflow")
    check(rc != 0, "the failed put left /overflow visible: %s" % out)
    c.get_check("/fits", first)
    for d in c.chunkds:
        check(os.listdir(os.path.join(d.data, "tmp")) == [], "%s left temp files" % d.name)


def replication_health(meta):
    """(under_replicated, endangered, missing) from metad's ClusterRep."""
    mtype, _, _, payload, _ = wire.call(meta, wire.MSG_CLIENT_TO_META_CLUSTER, b"")
    rep = wire.decode(payload)
    return wire.one(rep, 8), wire.one(rep, 9), wire.one(rep, 10)


def case_rereplication_end_to_end(c):
    """metad (H5) hands copy jobs to the survivors after a chunkserver dies; chunkd copies
    chunkserver to chunkserver until every chunk has its 2 replicas again."""
    cluster_data(c)
    size = (4 if harness.SANITIZED else 16) << 20
    local = c.scratch("rerep-src")
    digest = harness.make_file(local, size, SEED + 7)
    c.dfs_ok("put", local, "/rerep", "--replicas", "2")
    victim = c.chunkds[0]
    victim.kill9()
    t0 = time.time()
    c.wait_dead(victim)
    while True:
        under, endangered, missing = replication_health(c.meta)
        copied = sum(d.log_text().count("copied from") for d in c.chunkds[1:])
        if copied and under == 0 and missing == 0:
            break
        check(time.time() - t0 < 45, "replication not restored after %.0f s: under %d, "
              "endangered %d, missing %d" % (time.time() - t0, under, endangered, missing))
        time.sleep(0.1)
    secs = time.time() - t0
    print("    re-replication: %d MiB restored to 2 replicas %.1f s after kill -9 (incl. the "
          "2 s dead timeout), %d chunks copied by chunkd copy jobs" % (size >> 20, secs, copied),
          flush=True)
    check(copied > 0, "no chunkd logged a copy job")
    c.get_check("/rerep", digest)


def main(r):
    if not hooks_compiled():
        raise SystemExit("test_chunkd_faults: FAIL: chunkd was built without "
                         "-DDFS_FAULT_HOOKS=ON, so these cases cannot run (scripts/test and "
                         "scripts/fault build with it)")
    fake = FakeMetad()
    try:
        r.case("copy jobs: copy, idempotent, fallback, bad CRC, missing; delete_versions, "
               "send_inventory; a copy racing a delete order", case_copy_jobs, fake)
        r.case("copy throttle (token bucket)", case_throttle, fake)
        r.case("SIGTERM with copy jobs in flight: clean exit", case_sigterm_mid_copy, fake)
        r.case("disk faults: EIO -> disk_failing, corrupt read -> bad_chunks, ENOSPC/EIO "
               "writes leave nothing", case_disk_faults, fake)
        r.case("reserve: writes into data.reserve refused", case_reserve, fake)
    finally:
        fake.close()
    with r.cluster(chunkservers=3, name="chunkd-faults") as c:
        r.case("cluster: EIO and corrupt replicas -> right bytes or one error",
               case_cluster_read_faults, c)
    size = 8 if harness.SANITIZED else 48
    for rate in (1 << 20, 4 if harness.SANITIZED else 16):
        with r.cluster(chunkservers=1, name="chunkd-scrub",
                       chunkd_args=("--set", "scrub.bytes_per_s=%dM" % rate,
                                    "--set", "scrub.interval=1s")) as c:
            r.case("scrubber throughput at %s" % ("%dM/s" % rate if rate < 1024 else "full speed"),
                   case_scrub_rate, c, size, rate)
    with r.cluster(chunkservers=2, name="chunkd-drain",
                   chunkd_args=("--set", "data.max_io_errors=2", "--set", "scrub.interval=1s",
                                "--set", "scrub.bytes_per_s=64M")) as c:
        r.case("cluster: repeated EIO -> disk_failing, metad drains, reads still right",
               case_failing_disk_drained, c)
    with r.cluster(chunkservers=2, name="chunkd-reserve",
                   chunkd_args=("--capacity", "6M", "--set", "data.reserve=2M")) as c:
        r.case("cluster: servers full down to data.reserve -> put fails with one line",
               case_cluster_reserve_full, c)
    with r.cluster(chunkservers=3, name="chunkd-rerep",
                   metad_args=("--set", "replication.scan_interval=200ms",
                               "--set", "replication.job_timeout=5s")) as c:
        r.case("cluster: kill -9 of a chunkserver -> copy jobs restore 2 replicas",
               case_rereplication_end_to_end, c)
    with r.cluster(chunkservers=2, name="chunkd-full") as c:
        r.case("cluster: every disk full -> put fails with one line, nothing visible",
               case_cluster_full, c)


if __name__ == "__main__":
    harness.run(main)
