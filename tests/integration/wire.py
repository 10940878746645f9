"""The dfs wire format from Python (stdlib only): the 24-byte frame header of
src/common/frame.h and just enough protobuf encoding/decoding to build and read simple
messages by field number. Used by the harness (cluster overview without the CLI) and by
the fuzz tests (valid frames to compare against garbage)."""

import socket
import struct

FRAME_MAGIC = 0x44465331  # "DFS1"
FRAME_HDR_LEN = 24
FRAME_REPLY = 0x0001
HDR = struct.Struct(">IHHQII")  # magic, type, flags, request id, payload len, bulk len

# A few MsgType values from proto/common.proto.
MSG_CLIENT_TO_META_LIST = 102
MSG_CLIENT_TO_META_STAT = 104
MSG_CLIENT_TO_META_CLUSTER = 114
MSG_META_TO_CLIENT_CLUSTER = 115
MSG_CHUNK_TO_META_REGISTER = 200
MSG_CHUNK_TO_META_HEARTBEAT = 204
MSG_CLIENT_TO_CHUNK_WRITE = 300
MSG_CLIENT_TO_CHUNK_READ = 302
MSG_ERROR = 999


def header(mtype, payload_len, bulk_len=0, req_id=1, flags=0, magic=FRAME_MAGIC):
    return HDR.pack(magic, mtype, flags, req_id, payload_len, bulk_len)


def frame(mtype, payload=b"", bulk=b"", req_id=1, flags=0):
    return header(mtype, len(payload), len(bulk), req_id, flags) + payload + bulk


# --- protobuf (proto3) encoding -------------------------------------------------------

def varint(v):
    if v < 0:
        v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(field, v):
    return varint(field << 3 | 0) + varint(v)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def decode(buf):
    """Decodes one protobuf message into {field: [values]}; varints as int,
    length-delimited as bytes (decode nested messages again), fixed as int.
    Raises ValueError on malformed input."""
    out = {}
    i, n = 0, len(buf)

    def rd_varint():
        nonlocal i
        shift, v = 0, 0
        while True:
            if i >= n or shift > 63:
                raise ValueError("truncated varint")
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < n:
        key = rd_varint()
        field, wt = key >> 3, key & 7
        if wt == 0:
            val = rd_varint()
        elif wt == 2:
            ln = rd_varint()
            if i + ln > n:
                raise ValueError("truncated bytes field")
            val = bytes(buf[i:i + ln])
            i += ln
        elif wt == 1:
            if i + 8 > n:
                raise ValueError("truncated fixed64")
            val = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wt == 5:
            if i + 4 > n:
                raise ValueError("truncated fixed32")
            val = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError("bad wire type %d" % wt)
        out.setdefault(field, []).append(val)
    return out


def zigzag_decode(v):
    return (v >> 1) ^ -(v & 1)


def one(msg, field, default=0):
    v = msg.get(field)
    return v[-1] if v else default


# --- blocking exchange ----------------------------------------------------------------

def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(data), n))
        data += part
    return bytes(data)


def read_frame(sock):
    """Returns (type, flags, req_id, payload, bulk) of the next frame."""
    magic, mtype, flags, req_id, plen, blen = HDR.unpack(recv_exact(sock, FRAME_HDR_LEN))
    if magic != FRAME_MAGIC:
        raise ValueError("bad magic 0x%08x" % magic)
    if plen > (64 << 20) or blen > (2 << 20):
        raise ValueError("reply too large: payload %d bulk %d" % (plen, blen))
    payload = recv_exact(sock, plen)
    bulk = recv_exact(sock, blen)
    return mtype, flags, req_id, payload, bulk


def connect(addr, timeout=5.0, ssl_ctx=None):
    """A connected socket to HOST:PORT, wrapped in TLS when ssl_ctx is given."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    if ssl_ctx is not None:
        try:
            s = ssl_ctx.wrap_socket(s, server_hostname=host)
        except Exception:
            s.close()
            raise
    return s


def call(addr, mtype, payload=b"", timeout=5.0, bulk=b"", ssl_ctx=None):
    with connect(addr, timeout, ssl_ctx) as s:
        s.sendall(frame(mtype, payload, bulk, req_id=7))
        return read_frame(s)


def status_of(payload):
    """(error, message) of a reply whose field 1 is Status (every reply)."""
    st = decode(one(decode(payload), 1, b""))
    return zigzag_decode(one(st, 1, 0)), one(st, 2, b"").decode("utf-8", "replace")


def cluster_overview(addr, timeout=5.0, token=None, ssl_ctx=None):
    """ClusterReq to metad; returns dict(servers=[{id,host,port,alive}], files, dirs,
    chunks, is_leader) or raises. token: the session token on an auth cluster."""
    mtype, flags, _, payload, _ = call(addr, MSG_CLIENT_TO_META_CLUSTER,
                                       f_bytes(1, token) if token else b"", timeout,
                                       ssl_ctx=ssl_ctx)
    if mtype != MSG_META_TO_CLIENT_CLUSTER:
        raise ValueError("unexpected reply type %d" % mtype)
    rep = decode(payload)
    status = decode(one(rep, 1, b""))
    err = zigzag_decode(one(status, 1, 0))
    if err:
        raise ValueError("cluster request failed: %d %s" % (err, one(status, 2, b"").decode()))
    servers = []
    for raw in rep.get(2, []):
        s = decode(raw)
        a = decode(one(s, 1, b""))
        servers.append({"id": one(a, 1), "host": one(a, 2, b"").decode(), "port": one(a, 3),
                        "alive": bool(one(s, 2)), "chunks": one(s, 5)})
    return {"servers": servers, "files": one(rep, 3), "dirs": one(rep, 4),
            "chunks": one(rep, 5), "is_leader": bool(one(rep, 6))}


# --- CRC32C (Castagnoli), table driven; fine for the few KiB the tests checksum ---------

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- namespace requests of issue 4 (metad): a persistent connection and builders -------

MSG_CLIENT_TO_META_MKDIR = 100
MSG_CLIENT_TO_META_DELETE = 106
MSG_CLIENT_TO_META_ALLOC = 108
MSG_CLIENT_TO_META_COMMIT = 110
MSG_CLIENT_TO_META_GETFILE = 112
MSG_CLIENT_TO_META_CHMOD = 118
MSG_CLIENT_TO_META_RENAME = 120
MSG_CLIENT_TO_META_COPY = 122
MSG_CLIENT_TO_META_SETREP = 124
MSG_CLIENT_TO_META_SEARCH = 126
MSG_CLIENT_TO_META_TRASH = 128
MSG_CLIENT_TO_META_TOUCH = 132
MSG_CLIENT_TO_META_SYMLINK = 140  # dfs mount: symbolic links and the change feed
MSG_CLIENT_TO_META_WATCH = 142

# DFS_E* codes (src/common/errors.h)
E_INVAL, E_NOENT, E_EXIST, E_NOTDIR, E_ISDIR, E_NOTEMPTY, E_PERM = -1, -4, -5, -6, -7, -8, -20


def msg(*fields):
    """Concatenates (field, value) pairs: int/bool -> varint, str/bytes -> bytes; None
    and False/0/"" are skipped (proto3 defaults)."""
    out = b""
    for field, v in fields:
        if v is None or v is False or v == 0 or v == "" or v == b"":
            continue
        if isinstance(v, (bool, int)):
            out += f_varint(field, int(v) & ((1 << 64) - 1))
        else:
            out += f_bytes(field, v.encode() if isinstance(v, str) else v)
    return out


class MetaSession:
    """One connection to metad; req() sends a request and returns (error, message,
    decoded reply fields)."""

    def __init__(self, addr, timeout=10.0, token=None):
        self.sock = connect(addr, timeout)
        self.token = token
        self.rid = 0

    def close(self):
        self.sock.close()

    def req(self, mtype, payload):
        self.rid += 1
        if self.token:
            payload = f_bytes(1, self.token.encode()) + payload
        self.sock.sendall(frame(mtype, payload, req_id=self.rid))
        rtype, _, rid, rep, _ = read_frame(self.sock)
        if rtype != mtype + 1 or rid != self.rid:
            raise ValueError("unexpected reply type %d id %d" % (rtype, rid))
        err, text = status_of(rep)
        return err, text, decode(rep)


# --- chunk capabilities (src/common/cap.h, format 2), for tests that forge them --------

def cap_key(secret):
    import hashlib
    return hashlib.sha256(b"dfs chunk capability v1:" + secret.encode()).digest()


def _cap_mac(secret, chunk_id, version, body):
    import hashlib
    import hmac
    msg = b"dfs chunk cap v2\0" + struct.pack(">QQ", chunk_id, version) + body
    return hmac.new(cap_key(secret), msg, hashlib.sha256).digest()


def sign_read_cap(secret, chunk_id, version, server_id, offset, length, expiry_ms, op=1):
    """A read capability: on server_id only, bytes [offset, offset+length) only."""
    body = struct.pack(">BQB", 2, expiry_ms & ((1 << 64) - 1), op) + \
        struct.pack(">QII", server_id, offset, length)
    return body + _cap_mac(secret, chunk_id, version, body)


def sign_write_cap(secret, chunk_id, version, chain, expiry_ms, op=2):
    """A write capability signing chain = [(server_id, host, port), ...], head first."""
    body = struct.pack(">BQB", 2, expiry_ms & ((1 << 64) - 1), op) + bytes([len(chain)])
    for sid, host, port in chain:
        h = host.encode()
        body += struct.pack(">QHB", sid, port, len(h)) + h
    return body + _cap_mac(secret, chunk_id, version, body)
