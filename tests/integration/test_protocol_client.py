#!/usr/bin/env python3
"""A dfs client written from docs/protocol.md and proto/*.proto alone (issue 14): the
classes come from `protoc --python_out` run at test time, the framing, authentication,
write chain, paging and CRC32C are implemented here from the document. Nothing of dfs's
own protocol code is used (not tests/integration/wire.py); harness.py only starts the
cluster (metad + authd + 3 chunkd with a cluster secret) and gives its addresses.

Cases: authd register (and the password policy) and login; the 64 KiB limit of an
unauthenticated metad connection and the 32 MiB one after; mkdir; an error by its
number (stat of a missing path = DFS_ENOENT); Alloc with replicas 0 = DFS_EINVAL;
put of a 2.5 MiB file (Alloc, WriteChunk to chain[0] with the rest of the chain,
Commit with grants and receipts, replicas 0 = 3, mode 0 = 0644) and its idempotent
retry; list; get back byte-exact (GetFile paged one chunk at a time, ReadChunk whole
and a range); delete; a request without a token = DFS_EAUTH."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("DFS_SOURCE") or os.path.dirname(os.path.dirname(HERE))

# The protobuf runtime: Debian's python3-protobuf (scripts/setup). A python3 earlier on
# PATH without it (pyenv, a venv) hands over to the system one, which has it.
try:
    import google.protobuf  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("DFS_PROTO_REEXEC"):
        os.environ["DFS_PROTO_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("test_protocol_client: the python protobuf runtime is missing "
             "(apt-get install python3-protobuf, or scripts/setup)")

import harness  # noqa: E402  (starts the cluster only)
from harness import check  # noqa: E402


# --- classes generated from proto/*.proto at test time ---------------------------------

def generate_classes():
    protoc = shutil.which("protoc")
    if not protoc:
        raise harness.TestFailure("protoc not found (apt-get install protobuf-compiler, or "
                                  "scripts/setup)")
    out = tempfile.mkdtemp(prefix="dfs-proto-py-")
    proto_dir = os.path.join(SOURCE, "proto")
    files = sorted(f for f in os.listdir(proto_dir) if f.endswith(".proto"))
    r = subprocess.run([protoc, "-I", proto_dir, "--python_out=" + out] + files,
                       cwd=proto_dir, capture_output=True, text=True)
    if r.returncode:
        raise harness.TestFailure("protoc failed: " + r.stderr.strip())
    sys.path.insert(0, out)
    global pb_common, pb_meta, pb_chunk, pb_auth
    import common_pb2 as pb_common  # noqa: E402
    import client_meta_pb2 as pb_meta  # noqa: E402
    import client_chunk_pb2 as pb_chunk  # noqa: E402
    import auth_pb2 as pb_auth  # noqa: E402
    return out


pb_common = pb_meta = pb_chunk = pb_auth = None

# --- docs/protocol.md section 2: frames -------------------------------------------------

MAGIC = 0x44465331
HDR = struct.Struct(">IHHQII")  # magic, type, flags, request id, payload len, bulk len
FLAG_REPLY = 0x0001
MSG_ERROR = 999

# section 5 (error codes, from the generated table)
OK, EINVAL, ENOENT, EAUTH = 0, -1, -4, -21
EBADPATH, ENOTLEADER, EUNAVAIL = -9, -19, -23

CHUNK = 1 << 20
BLOCK = 64 << 10


class Closed(Exception):
    pass


class Conn:
    """One TCP connection speaking dfs frames; replies matched by request id."""

    def __init__(self, addr, timeout=30):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=timeout)
        self.next_id = 0

    def close(self):
        self.s.close()

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            b = self.s.recv(min(n - len(buf), 1 << 20))
            if not b:
                raise Closed("connection closed by the server")
            buf += b
        return bytes(buf)

    def send(self, mtype, payload, bulk=b""):
        self.next_id += 1
        self.s.sendall(HDR.pack(MAGIC, mtype, 0, self.next_id, len(payload), len(bulk))
                       + payload + bulk)
        return self.next_id

    def read_frame(self):
        try:
            magic, mtype, flags, rid, plen, blen = HDR.unpack(self._recv(HDR.size))
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        check(magic == MAGIC, "reply magic %#x" % magic)
        return mtype, flags, rid, self._recv(plen), self._recv(blen)

    def call(self, mtype, req, rep_cls, bulk=b""):
        """Sends req (a protobuf message); returns (reply message, reply bulk). A
        MSG_ERROR reply comes back as an ErrorReply (its status is in field 1 too)."""
        rid = self.send(mtype, req.SerializeToString(), bulk)
        while True:
            rtype, flags, frid, payload, rbulk = self.read_frame()
            check(flags & FLAG_REPLY, "a frame without the reply flag")
            if frid != rid and not (rtype == MSG_ERROR and frid == 0):
                continue  # a reply to some other request (none here)
            if rtype == MSG_ERROR:
                return pb_common.ErrorReply.FromString(payload), rbulk
            check(rtype == mtype + 1, "reply type %d to request %d" % (rtype, mtype))
            return rep_cls.FromString(payload), rbulk


# --- section 11: CRC32C (Castagnoli, reflected, init and xorout 0xFFFFFFFF) ------------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    t = CRC_T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def block_crcs(chunk):
    return [crc32c(chunk[o:o + BLOCK]) for o in range(0, len(chunk), BLOCK)]


def chain_crc(blocks_data):
    """Whole-chunk CRC by chaining over the blocks (CRC32C(A||B) = crc32c(B, crc32c(A)))."""
    c = 0
    for b in blocks_data:
        c = crc32c(b, c)
    return c


# --- the client --------------------------------------------------------------------------

class Client:
    def __init__(self, meta_addr, auth_addr):
        self.meta_addr, self.auth_addr = meta_addr, auth_addr
        self.token = ""
        self.meta = None
        self.chunkd = {}

    def auth_call(self, mtype, req, rep_cls):
        c = Conn(self.auth_addr)
        try:
            return c.call(mtype, req, rep_cls)[0]
        finally:
            c.close()

    def register(self, user, pw):
        return self.auth_call(400, pb_auth.AuthRegisterReq(username=user, password=pw),
                              pb_auth.AuthRegisterRep)

    def login(self, user, pw):
        rep = self.auth_call(402, pb_auth.AuthLoginReq(username=user, password=pw),
                             pb_auth.AuthLoginRep)
        if rep.status.error == OK:
            self.token = rep.token
        return rep

    def meta_call(self, mtype, req, rep_cls):
        """Section 6: follow DFS_ENOTLEADER to the address in the message, retry
        DFS_EUNAVAIL with backoff; section 3: a new connection first sends a small
        request (Stat "/") so that big frames are accepted afterwards."""
        import time
        delay = 0.1
        for _ in range(40):
            if self.meta is None:
                self.meta = Conn(self.meta_addr)
                self.meta.call(104, pb_meta.StatReq(token=self.token, path="/"),
                               pb_meta.StatRep)
            rep, _ = self.meta.call(mtype, req, rep_cls)
            err = rep.status.error
            if err == ENOTLEADER and "the leader is " in rep.status.message:
                self.meta.close()
                self.meta = None
                self.meta_addr = rep.status.message.rsplit("the leader is ", 1)[1].strip()
                continue
            if err == EUNAVAIL:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            return rep
        return rep

    def chunk_conn(self, addr):
        if addr not in self.chunkd:
            self.chunkd[addr] = Conn("%s:%d" % (addr.host, addr.port))
        return self.chunkd[addr]

    def close(self):
        for c in list(self.chunkd.values()) + ([self.meta] if self.meta else []):
            c.close()

    # section 9
    def put(self, path, data, request_id):
        n = (len(data) + CHUNK - 1) // CHUNK
        alloc = self.meta_call(108, pb_meta.AllocReq(
            token=self.token, count=n, replicas=3,
            upload_id=int.from_bytes(os.urandom(8), "big") | 1), pb_meta.AllocRep)
        check(alloc.status.error == OK, "Alloc: %s" % alloc.status)
        check(len(alloc.chunks) == n, "Alloc gave %d chunks for %d" % (len(alloc.chunks), n))
        infos = []
        for i, ca in enumerate(alloc.chunks):
            chunk = data[i * CHUNK:(i + 1) * CHUNK]
            check(len(ca.chain) == 3, "chain of %d servers" % len(ca.chain))
            blocks = [chunk[o:o + BLOCK] for o in range(0, len(chunk), BLOCK)]
            bcrc = [crc32c(b) for b in blocks]
            whole = chain_crc(blocks)
            req = pb_chunk.WriteChunkReq(capability=ca.capability, chunk_id=ca.chunk_id,
                                         version=ca.version, length=len(chunk), crc32c=whole,
                                         block_crc32c=bcrc, chain=list(ca.chain[1:]))
            head = ca.chain[0]
            rep, _ = self.chunk_conn(_Addr(head)).call(300, req,
                               pb_chunk.WriteChunkRep, bulk=chunk)
            check(rep.status.error == OK, "WriteChunk %d: %s" % (ca.chunk_id, rep.status))
            check(list(rep.stored_on) == [s.server_id for s in ca.chain],
                  "stored_on %s, chain %s" % (list(rep.stored_on),
                                              [s.server_id for s in ca.chain]))
            check(len(rep.receipt) == 32, "receipt of %d bytes" % len(rep.receipt))
            infos.append(pb_meta.ChunkInfo(chunk_id=ca.chunk_id, version=ca.version,
                                           length=len(chunk), crc32c=whole,
                                           servers=list(rep.stored_on), grant=ca.grant,
                                           receipt=rep.receipt))
        commit = pb_meta.CommitReq(token=self.token, path=path, size=len(data), replicas=0,
                                   mode=0, request_id=request_id, chunks=infos)
        return self.meta_call(110, commit, pb_meta.CommitRep), commit

    # section 10
    def get(self, path, page=1):
        first, out, entry = 0, bytearray(), None
        while True:
            rep = self.meta_call(112, pb_meta.GetFileReq(token=self.token, path=path,
                                                         first_chunk=first, max_chunks=page),
                                 pb_meta.GetFileRep)
            check(rep.status.error == OK, "GetFile: %s" % rep.status)
            if entry is not None:
                check((rep.entry.inode, rep.entry.mtime_ns) == (entry.inode, entry.mtime_ns),
                      "file changed between pages")
            entry = rep.entry
            check(len(rep.chunks) <= page, "a page of %d chunks, asked %d" % (len(rep.chunks), page))
            for loc in rep.chunks:
                check(loc.index == first, "chunk index %d, expected %d" % (loc.index, first))
                check(loc.replicas, "chunk %d has no live replica" % loc.chunk_id)
                r = loc.replicas[0]
                req = pb_chunk.ReadChunkReq(capability=r.capability, chunk_id=loc.chunk_id,
                                            version=loc.version, offset=0, length=0)
                rep2, bulk = self.chunk_conn(_Addr(r)).call(302, req, pb_chunk.ReadChunkRep)
                check(rep2.status.error == OK, "ReadChunk: %s" % rep2.status)
                check(rep2.length == len(bulk) == loc.length,
                      "read %d/%d bytes of %d" % (rep2.length, len(bulk), loc.length))
                check(crc32c(bulk) == rep2.crc32c == loc.crc32c, "chunk CRC mismatch")
                out += bulk
                first += 1
            if not rep.chunks or first >= entry.chunks:
                break
        check(len(out) == entry.size, "got %d bytes, entry says %d" % (len(out), entry.size))
        return bytes(out), entry


class _Addr:
    """A hashable host:port of a ServerAddr (the connection cache key)."""

    def __init__(self, sa):
        self.host, self.port = sa.host, sa.port

    def __hash__(self):
        return hash((self.host, self.port))

    def __eq__(self, o):
        return (self.host, self.port) == (o.host, o.port)


# --- the test ------------------------------------------------------------------------------

def main(r):
    gen_dir = generate_classes()
    try:
        run_cases(r)
    finally:
        shutil.rmtree(gen_dir, True)


def run_cases(r):
    check(crc32c(b"123456789") == 0xE3069283, "CRC32C check value")
    user = "pc" + os.urandom(3).hex()
    pw = "pc-" + os.urandom(8).hex()
    with r.cluster(chunkservers=3, name="proto-client", auth=True) as c:
        c.wait_registered(3)
        cl = Client(c.meta, c.auth_addr)
        home = "/home/" + user
        state = {}

        def auth():
            rep = cl.register(user, "short7!")  # section 7: 8..72 bytes
            check(rep.status.error == EINVAL, "a 7-byte password: %s" % rep.status)
            rep = cl.register(user, pw)
            check(rep.status.error == OK, "register: %s" % rep.status)
            rep = cl.login(user, "wrong-password")
            check(rep.status.error == EAUTH, "login with a wrong password: %s" % rep.status)
            rep = cl.login(user, pw)
            check(rep.status.error == OK and len(rep.token) == 64, "login: %s" % rep.status)
            check(rep.user.username == user and rep.expires_ms > 0, "login reply %s" % rep)
        r.case("authd: register (password policy), login", auth)

        def frame_limits():
            # section 3: a fresh metad connection takes at most 64 KiB of payload...
            big = pb_meta.StatReq(token=cl.token, path="/" + "x" * (70 << 10)).SerializeToString()
            k = Conn(c.meta)
            try:
                k.send(104, big)
                k.read_frame()
                raise harness.TestFailure("a 70 KiB first frame was answered")
            except (Closed, OSError):
                pass
            k.close()
            # ...and 32 MiB once a request with a valid token was served on it
            k = Conn(c.meta)
            rep, _ = k.call(104, pb_meta.StatReq(token=cl.token, path="/"), pb_meta.StatRep)
            check(rep.status.error == OK and rep.entry.name == "/", "stat /: %s" % rep.status)
            rep, _ = k.call(104, pb_meta.StatReq(token=cl.token, path="/" + "x" * (70 << 10)),
                            pb_meta.StatRep)
            check(rep.status.error == EBADPATH, "a 70 KiB path: %s" % rep.status)
            k.close()
        r.case("metad: 64 KiB before authentication, more after", frame_limits)

        def errors_by_number():
            rep = cl.meta_call(104, pb_meta.StatReq(token=cl.token, path=home + "/missing"),
                               pb_meta.StatRep)
            check(rep.status.error == ENOENT, "stat of a missing path: %s" % rep.status)
            rep = cl.meta_call(108, pb_meta.AllocReq(token=cl.token, count=1, replicas=0),
                               pb_meta.AllocRep)
            check(rep.status.error == EINVAL, "Alloc with replicas 0: %s" % rep.status)
            k = Conn(c.meta)
            rep, _ = k.call(104, pb_meta.StatReq(path="/"), pb_meta.StatRep)
            check(rep.status.error == EAUTH, "stat without a token: %s" % rep.status)
            k.close()
        r.case("errors by number: ENOENT, EINVAL, EAUTH", errors_by_number)

        def mkdir():
            rid = int.from_bytes(os.urandom(8), "big") | 1
            req = pb_meta.MkdirReq(token=cl.token, path=home + "/d", request_id=rid)
            check(cl.meta_call(100, req, pb_meta.MkdirRep).status.error == OK, "mkdir")
            # the same request id again: the same answer, nothing done twice
            check(cl.meta_call(100, req, pb_meta.MkdirRep).status.error == OK, "mkdir retry")
            rep = cl.meta_call(104, pb_meta.StatReq(token=cl.token, path=home + "/d"),
                               pb_meta.StatRep)
            check(rep.status.error == OK and rep.entry.type == pb_meta.ENTRY_DIR and
                  rep.entry.mode == 0o755 and rep.entry.owner == user, "stat: %s" % rep)
        r.case("mkdir (mode 0 = 0755, idempotent request id)", mkdir)

        data = os.urandom(2 * CHUNK + CHUNK // 2 + 12345)  # 3 chunks, a partial last block
        path = home + "/d/file.bin"

        def put():
            rid = int.from_bytes(os.urandom(8), "big") | 1
            rep, commit = cl.put(path, data, rid)
            check(rep.status.error == OK, "commit: %s" % rep.status)
            rep = cl.meta_call(110, commit, pb_meta.CommitRep)
            check(rep.status.error == OK, "commit retried with its request id: %s" % rep.status)
            rep = cl.meta_call(104, pb_meta.StatReq(token=cl.token, path=path), pb_meta.StatRep)
            e = rep.entry
            check(rep.status.error == OK and e.size == len(data) and e.chunks == 3 and
                  e.replicas == 3 and e.mode == 0o644, "stat after put: %s" % rep)
        r.case("put 2.5 MiB: Alloc, WriteChunk down the chain, Commit", put)

        def ls():
            rep = cl.meta_call(102, pb_meta.ListReq(token=cl.token, path=home + "/d"),
                               pb_meta.ListRep)
            check(rep.status.error == OK, "list: %s" % rep.status)
            check([(e.name, e.size, e.type) for e in rep.entries] ==
                  [("file.bin", len(data), pb_meta.ENTRY_FILE)], "entries %s" % rep.entries)
        r.case("list", ls)

        def get():
            got, entry = cl.get(path, page=1)
            check(got == data, "the bytes read differ from those written")
            # a range inside one chunk (section 10): bytes [100000, 105000) of chunk 1
            rep = cl.meta_call(112, pb_meta.GetFileReq(token=cl.token, path=path,
                                                       first_chunk=1, max_chunks=0),
                               pb_meta.GetFileRep)
            check(rep.status.error == OK and len(rep.chunks) == 2, "GetFile from 1: %s" % rep.status)
            loc = rep.chunks[0]
            for rp in loc.replicas:  # every replica answers with its own capability
                rr, bulk = cl.chunk_conn(_Addr(rp)).call(302, pb_chunk.ReadChunkReq(
                    capability=rp.capability, chunk_id=loc.chunk_id, version=loc.version,
                    offset=100000, length=5000), pb_chunk.ReadChunkRep)
                check(rr.status.error == OK and bulk == data[CHUNK + 100000:CHUNK + 105000] and
                      crc32c(bulk) == rr.crc32c, "range read on server %d: %s"
                      % (rp.server_id, rr.status))
            check(len(loc.replicas) == 3, "%d live replicas" % len(loc.replicas))
        r.case("get back byte-exact (GetFile paged, ReadChunk whole and a range)", get)

        def delete():
            rep = cl.meta_call(106, pb_meta.DeleteReq(
                token=cl.token, path=path, request_id=int.from_bytes(os.urandom(8), "big") | 1),
                pb_meta.DeleteRep)
            check(rep.status.error == OK, "delete: %s" % rep.status)
            rep = cl.meta_call(104, pb_meta.StatReq(token=cl.token, path=path), pb_meta.StatRep)
            check(rep.status.error == ENOENT, "stat after delete: %s" % rep.status)
        r.case("delete", delete)
        cl.close()


if __name__ == "__main__":
    harness.run(main)
