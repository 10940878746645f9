"""dfsgw's S3 multipart uploads (issue 16) with real clients and raw signed requests:
the AWS CLI (8 MiB parts) round trip of 100 MiB with its "-13" ETag, s3cmd with 5 MiB
parts, rclone with 5 MiB chunks; then by hand: Compose shares the parts' chunks (the
object's chunk ids are the parts' ids), a part that is not whole MiB takes the streamed
fallback (bytes still right), the upload survives a gateway restart, ListParts and
ListMultipartUploads, abort, and the refusals (wrong ETag -> InvalidPart, part order,
small parts, part numbers 0 and 10001, another user's upload id), each changing nothing.
No .s3-uploads/<id> directory is left after a complete or an abort."""

import hashlib
import json
import os
import re

import harness
import s3lib
from harness import check, MiB


def sha(path):
    return harness.sha256_file(path)


def upload_dirs(c, user):
    """The upload ids left in the user's .s3-uploads (none if it does not exist)."""
    rc, out, _ = c.dfs_as(user, "ls", "/home/%s/.s3-uploads" % user)
    if rc != 0:
        return []
    return re.findall(r"\b[0-9a-f]{32}\b", out)


def chunk_ids(c, user, path):
    out = c.dfs_as_ok(user, "info", "--json", path)
    return [int(x) for x in re.findall(r'"chunk_id":(\d+)', out)]


class Raw:
    """Signed requests as one user against one bucket."""

    def __init__(self, c, cl, bucket):
        self.c, self.cl, self.bucket = c, cl, bucket

    def req(self, method, key, query=(), body=b""):
        return s3lib.request(self.c, method, "/%s/%s" % (self.bucket, key), self.cl.kid,
                             self.cl.secret, query=list(query), body=body, timeout=120)

    def create(self, key, headers=None):
        st, _, body = s3lib.request(self.c, "POST", "/%s/%s" % (self.bucket, key), self.cl.kid,
                                    self.cl.secret, query=[("uploads", "")],
                                    headers=headers or {})
        check(st == 200, "CreateMultipartUpload: %d %s" % (st, body[:300]))
        m = re.search(rb"<UploadId>([^<]+)</UploadId>", body)
        check(m, "no UploadId in " + body.decode(errors="replace"))
        return m.group(1).decode()

    def part(self, key, uid, n, data, want=200):
        st, h, body = self.req("PUT", key, [("partNumber", str(n)), ("uploadId", uid)], data)
        check(st == want, "UploadPart %d: %d %s" % (n, st, body[:300]))
        return h.get("etag", "")

    def complete(self, key, uid, parts):
        doc = "<CompleteMultipartUpload>" + "".join(
            "<Part><ETag>%s</ETag><PartNumber>%d</PartNumber></Part>" % (e, n)
            for n, e in parts) + "</CompleteMultipartUpload>"
        return self.req("POST", key, [("uploadId", uid)], doc.encode())


def pattern(n, seed):
    """n bytes that differ with seed and along the data (cheap to make)."""
    block = hashlib.sha256(b"%d" % seed).digest() * 2048  # 64 KiB
    data = b"".join(hashlib.sha256(b"%d-%d" % (seed, i)).digest() + block[:65504]
                    for i in range(n // 65536 + 1))
    return data[:n]


def multipart_etag(parts):
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    return "%s-%d" % (hashlib.md5(md5s).hexdigest(), len(parts))


def aws_big(c, a):
    a.aws_ok("s3", "mb", "s3://mpb")
    local = c.scratch("big")
    harness.make_file(local, 100 * MiB, seed=5, quiet=True)
    a.aws_ok("--profile", "multipart", "s3", "cp", local, "s3://mpb/dir/big.bin")
    out = a.aws_ok("s3api", "head-object", "--bucket", "mpb", "--key", "dir/big.bin")
    etag = json.loads(out)["ETag"].strip('"')
    data = open(local, "rb").read()
    want = multipart_etag([data[i:i + 8 * MiB] for i in range(0, len(data), 8 * MiB)])
    check(etag.endswith("-13") and etag == want, "ETag %s, want %s" % (etag, want))
    check(json.loads(out)["ContentLength"] == 100 * MiB, "size:\n" + out)
    back = c.scratch("big.back")
    a.aws_ok("s3", "cp", "s3://mpb/dir/big.bin", back)
    check(sha(back) == sha(local), "aws multipart round trip changed the bytes")
    # the same bytes through dfs, and nothing left of the upload
    c.dfs_as_ok("alice", "get", "/home/alice/mpb/dir/big.bin", back + "2")
    check(sha(back + "2") == sha(local), "dfs get of a multipart object differs")
    check(upload_dirs(c, "alice") == [], "an upload directory is left: %s" % upload_dirs(c, "alice"))


def s3cmd_multipart(c, a):
    local = c.scratch("s3cmd-mp")
    harness.make_file(local, 20 * MiB, seed=6, quiet=True)
    a.s3cmd_ok("put", "--multipart-chunk-size-mb=5", local, "s3://mpb/s3cmd/obj")
    out = a.aws_ok("s3api", "head-object", "--bucket", "mpb", "--key", "s3cmd/obj")
    check(json.loads(out)["ETag"].strip('"').endswith("-4"), "s3cmd did not upload 4 parts:\n" + out)
    back = local + ".back"
    a.s3cmd_ok("get", "s3://mpb/s3cmd/obj", back)
    check(sha(back) == sha(local), "s3cmd multipart round trip changed the bytes")
    check(upload_dirs(c, "alice") == [], "an upload directory is left")


def rclone_multipart(c, a):
    src = c.scratch("rc-src")
    os.makedirs(src, exist_ok=True)
    local = os.path.join(src, "thirty.bin")
    harness.make_file(local, 30 * MiB, seed=8, quiet=True)
    a.rclone_ok("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", local, "dfs:mpb/rc")
    out = a.aws_ok("s3api", "head-object", "--bucket", "mpb", "--key", "rc/thirty.bin")
    check(json.loads(out)["ETag"].strip('"').endswith("-6"), "rclone did not upload 6 parts:\n" + out)
    a.rclone_ok("check", src, "dfs:mpb/rc")
    back = c.scratch("rc-back")
    a.rclone_ok("copy", "dfs:mpb/rc/thirty.bin", back)
    check(sha(os.path.join(back, "thirty.bin")) == sha(local), "rclone round trip differs")
    check(upload_dirs(c, "alice") == [], "an upload directory is left")


def compose_shares_chunks(c, a):
    """Whole-MiB parts: the object's chunks are the parts' chunks (no copy); the upload
    survives a gateway restart; the metadata of the create comes back."""
    r = Raw(c, a, "mpb")
    uid = r.create("raw/shared", {"Content-Type": "text/x-parts", "x-amz-meta-colour": "green"})
    parts = [pattern(5 * MiB, 1), pattern(6 * MiB, 2), b"tail" * 25]
    etags = [r.part("raw/shared", uid, 1, parts[0])]
    check(c.gateway.terminate() is None, "dfsgw did not stop cleanly")
    c.start_gateway()  # the upload is in dfs, not in the gateway
    etags += [r.part("raw/shared", uid, n + 1, parts[n]) for n in (1, 2)]
    for n, p in enumerate(parts):
        check(etags[n].strip('"') == hashlib.md5(p).hexdigest(), "part %d ETag %s" % (n + 1, etags[n]))
    ids = []
    for n in range(3):
        ids += chunk_ids(c, "alice", "/home/alice/.s3-uploads/%s/part-%05d" % (uid, n + 1))
    check(len(ids) == 12, "the parts have %d chunks, want 12" % len(ids))
    st, _, body = r.complete("raw/shared", uid, list(zip((1, 2, 3), etags)))
    check(st == 200 and multipart_etag(parts).encode() in body, "complete: %d %s" % (st, body[:400]))
    got = chunk_ids(c, "alice", "/home/alice/mpb/raw/shared")
    check(got == ids, "the object's chunks %s are not the parts' %s: bytes were copied" % (got, ids))
    st, h, body = r.req("GET", "raw/shared")
    check(st == 200 and body == b"".join(parts), "the composed object's bytes differ")
    check(h.get("content-type") == "text/x-parts" and h.get("x-amz-meta-colour") == "green",
          "the create's metadata did not come back: %s" % h)
    check(upload_dirs(c, "alice") == [], "an upload directory is left after complete")


def fallback_and_listings(c, a):
    """A middle part that is not whole MiB: the parts are streamed (same bytes, same
    ETag); ListParts and ListMultipartUploads while uploads are open; abort."""
    r = Raw(c, a, "mpb")
    uid = r.create("raw/odd")
    parts = [pattern(5 * MiB, 3), pattern(5 * MiB + 123, 4), b"x" * 1000]
    etags = [r.part("raw/odd", uid, n + 1, p) for n, p in enumerate(parts)]
    other = r.create("raw/other")
    out = a.aws_ok("s3api", "list-multipart-uploads", "--bucket", "mpb")
    js = json.loads(out)
    got = sorted((u["Key"], u["UploadId"]) for u in js.get("Uploads", []))
    check(got == sorted([("raw/odd", uid), ("raw/other", other)]), "uploads listed: %s" % got)
    out = a.aws_ok("s3api", "list-parts", "--bucket", "mpb", "--key", "raw/odd", "--upload-id", uid)
    js = json.loads(out)
    check([(p["PartNumber"], p["Size"], p["ETag"].strip('"')) for p in js["Parts"]] ==
          [(n + 1, len(p), hashlib.md5(p).hexdigest()) for n, p in enumerate(parts)],
          "ListParts:\n" + out)
    out = a.aws_ok("s3api", "list-parts", "--bucket", "mpb", "--key", "raw/odd", "--upload-id",
                   uid, "--max-items", "2")
    check(len(json.loads(out)["Parts"]) == 2, "ListParts page of 2:\n" + out)
    st, _, body = r.complete("raw/odd", uid, list(zip((1, 2, 3), etags)))
    check(st == 200, "complete (fallback): %d %s" % (st, body[:400]))
    st, h, body = r.req("GET", "raw/odd")
    check(st == 200 and body == b"".join(parts), "the streamed object's bytes differ")
    check(h.get("etag", "").strip('"') == multipart_etag(parts), "fallback ETag %s" % h.get("etag"))
    # abort removes everything
    r.part("raw/other", other, 1, b"abc")
    a.aws_ok("s3api", "abort-multipart-upload", "--bucket", "mpb", "--key", "raw/other",
             "--upload-id", other)
    rc, _, _ = c.dfs_as("alice", "stat", "/home/alice/.s3-uploads/" + other)
    check(rc != 0, "the aborted upload's directory is still there")
    st, _, body = r.req("GET", "raw/other", [("uploadId", other)])
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "ListParts after abort: %d" % st)
    st, _, _ = r.req("HEAD", "raw/other")
    check(st == 404, "abort created an object")
    check(upload_dirs(c, "alice") == [], "upload directories left: %s" % upload_dirs(c, "alice"))


def refusals(c, a, b):
    r = Raw(c, a, "mpb")
    uid = r.create("raw/refused")
    p1 = bytes(5 * MiB)
    e1 = r.part("raw/refused", uid, 1, p1)
    e2 = r.part("raw/refused", uid, 2, b"end")
    for n in ("0", "10001", "x"):
        st, _, body = r.req("PUT", "raw/refused", [("partNumber", n), ("uploadId", uid)], b"z")
        check(st == 400 and s3lib.error_code(body) == "InvalidArgument",
              "part number %s: %d %s" % (n, st, body[:200]))
    st, _, body = r.complete("raw/refused", uid, [(1, e1), (2, '"' + "0" * 32 + '"')])
    check(st == 400 and s3lib.error_code(body) == "InvalidPart", "wrong ETag: %d %s" % (st, body[:300]))
    st, _, body = r.complete("raw/refused", uid, [(1, e1), (3, e2)])
    check(st == 400 and s3lib.error_code(body) == "InvalidPart", "missing part: %d" % st)
    st, _, body = r.complete("raw/refused", uid, [(2, e2), (1, e1)])
    check(st == 400 and s3lib.error_code(body) == "InvalidPartOrder", "order: %d %s" % (st, body[:300]))
    st, _, body = r.req("POST", "raw/refused", [("uploadId", uid)], b"<nope/>")
    check(st == 400 and s3lib.error_code(body) == "MalformedXML", "no parts: %d" % st)
    e3 = r.part("raw/refused", uid, 3, b"x" * MiB)
    st, _, body = r.complete("raw/refused", uid, [(2, e2), (3, e3)])
    check(st == 400 and s3lib.error_code(body) == "EntityTooSmall", "small part: %d %s" % (st, body[:300]))
    st, _, _ = r.req("HEAD", "raw/refused")
    check(st == 404, "a refused complete created the object")
    check(uid in upload_dirs(c, "alice"), "a refused complete removed the upload")
    # the upload belongs to one key, and to its user only
    st, _, body = r.req("PUT", "raw/elsewhere", [("partNumber", "1"), ("uploadId", uid)], b"z")
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "other key: %d" % st)
    b.aws_ok("s3", "mb", "s3://mpb")
    rb = Raw(c, b, "mpb")
    st, _, body = rb.req("PUT", "raw/refused", [("partNumber", "1"), ("uploadId", uid)], b"z")
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "bob's part: %d %s" % (st, body[:200]))
    st, _, body = rb.complete("raw/refused", uid, [(1, e1)])
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "bob's complete: %d" % st)
    st, _, body = rb.req("DELETE", "raw/refused", [("uploadId", uid)])
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "bob's abort: %d" % st)
    st, _, body = rb.req("GET", "", [("uploads", "")])
    check(st == 200 and uid.encode() not in body, "bob sees alice's upload: %s" % body[:300])
    st, _, body = r.req("GET", "raw/refused", [("uploadId", "f" * 32)])
    check(st == 404 and s3lib.error_code(body) == "NoSuchUpload", "unknown id: %d" % st)
    # still complete-able after all that
    st, _, body = r.complete("raw/refused", uid, [(1, e1), (2, e2)])
    check(st == 200, "complete after refusals: %d %s" % (st, body[:300]))
    st, _, body = r.req("GET", "raw/refused")
    check(body == p1 + b"end", "the object after refusals differs")
    check(upload_dirs(c, "alice") == [], "upload directories left: %s" % upload_dirs(c, "alice"))


def main(t):
    with t.cluster(chunkservers=3, name="s3mp", auth=True) as c:
        c.start_gateway()
        state = {}

        def users():
            for u in ("alice", "bob"):
                c.register(u, u + "-password-1")
                c.login(u, u + "-password-1")
            state["a"] = s3lib.Clients(c, *s3lib.create_key(c, "alice"), name="alice")
            state["b"] = s3lib.Clients(c, *s3lib.create_key(c, "bob"), name="bob")

        t.case("users and access keys", users)
        t.case("aws (8 MiB parts): 100 MiB round trip, ETag -13", lambda: aws_big(c, state["a"]))
        t.case("s3cmd 5 MiB parts", lambda: s3cmd_multipart(c, state["a"]))
        t.case("rclone 5 MiB chunks", lambda: rclone_multipart(c, state["a"]))
        t.case("compose shares the parts' chunks; a gateway restart mid-upload",
               lambda: compose_shares_chunks(c, state["a"]))
        t.case("fallback for parts not whole MiB; ListParts, ListMultipartUploads, abort",
               lambda: fallback_and_listings(c, state["a"]))
        t.case("refusals change nothing", lambda: refusals(c, state["a"], state["b"]))


if __name__ == "__main__":
    harness.run(main)
