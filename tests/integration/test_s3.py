"""dfsgw's S3 API with real clients (issue 16): the AWS CLI, s3cmd and rclone from
Debian, each with its own config in the cluster's directory. Round trips byte-identical
(0 B, 1 B, 5 MiB), listings with prefixes and delimiters and pages, metadata and
ETags, ranged reads, copy, delete of many, the same files seen through the dfs CLI and
through S3, presigned URLs (and their expiry), and the refusals: a wrong secret, an
unknown key, another user's bucket, an anonymous request, a changed body. Every refused
request changes nothing."""

import hashlib
import os
import time
import urllib.error
import urllib.request

import harness
import s3lib
from harness import check, MiB


def sha(path):
    return harness.sha256_file(path)


def setup_users(c):
    for u in ("alice", "bob"):
        c.register(u, u + "-password-1")
        c.login(u, u + "-password-1")
    a = s3lib.Clients(c, *s3lib.create_key(c, "alice"), name="alice")
    b = s3lib.Clients(c, *s3lib.create_key(c, "bob"), name="bob")
    return a, b


def aws_round_trips(c, a):
    a.aws_ok("s3", "mb", "s3://photos")
    check("photos" in a.aws_ok("s3", "ls"), "ListBuckets does not show the new bucket")
    for size in (0, 1, 5 * MiB, 5 * MiB + 3):
        local = c.scratch("aws-%d" % size)
        harness.make_file(local, size, seed=size + 1, quiet=True)
        a.aws_ok("s3", "cp", local, "s3://photos/sizes/o-%d" % size)
        back = local + ".back"
        a.aws_ok("s3", "cp", "s3://photos/sizes/o-%d" % size, back)
        check(sha(back) == sha(local), "aws round trip of %d bytes changed them" % size)
    # the ETag of a single-part upload is the MD5 of its bytes
    out = a.aws_ok("s3api", "head-object", "--bucket", "photos", "--key", "sizes/o-1")
    md5 = hashlib.md5(open(c.scratch("aws-1"), "rb").read()).hexdigest()
    check(md5 in out, "head-object's ETag is not the MD5 %s:\n%s" % (md5, out))
    # the same bytes through the dfs CLI
    back = c.scratch("cli-back")
    c.dfs_as_ok("alice", "get", "/home/alice/photos/sizes/o-5242880", back)
    check(sha(back) == sha(c.scratch("aws-5242880")), "dfs get of an S3 object differs")


def metadata_range_copy(c, a):
    local = c.scratch("meta")
    harness.make_file(local, 300000, seed=7, quiet=True)
    a.aws_ok("s3api", "put-object", "--bucket", "photos", "--key", "m/obj", "--body", local,
             "--content-type", "image/png", "--metadata", "colour=blue,owner=alice")
    out = a.aws_ok("s3api", "head-object", "--bucket", "photos", "--key", "m/obj")
    check("image/png" in out and "blue" in out and '"owner": "alice"' in out,
          "metadata did not come back:\n" + out)
    rng = c.scratch("range")
    a.aws_ok("s3api", "get-object", "--bucket", "photos", "--key", "m/obj", "--range",
             "bytes=1000-1999", rng)
    check(open(rng, "rb").read() == open(local, "rb").read()[1000:2000], "ranged GET differs")
    a.aws_ok("s3", "cp", "s3://photos/m/obj", "s3://photos/m/copy")
    back = c.scratch("copy-back")
    a.aws_ok("s3", "cp", "s3://photos/m/copy", back)
    check(sha(back) == sha(local), "CopyObject changed the bytes")
    out = a.aws_ok("s3api", "head-object", "--bucket", "photos", "--key", "m/copy")
    check("blue" in out, "CopyObject dropped the metadata:\n" + out)
    # a range past the end
    st, _, body = s3lib.request(c, "GET", "/photos/m/obj", a.kid, a.secret,
                                headers={"Range": "bytes=400000-400010"})
    check(st == 416 and s3lib.error_code(body) == "InvalidRange", "range past the end: %d" % st)


def listings(c, a):
    a.aws_ok("s3", "mb", "s3://lists")
    keys = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "b-x.txt", "d/e/f/4.txt", "z.txt"]
    local = c.scratch("tiny")
    harness.make_file(local, 10, seed=3, quiet=True)
    for k in keys:
        a.aws_ok("s3", "cp", local, "s3://lists/" + k)
    out = a.aws_ok("s3api", "list-objects-v2", "--bucket", "lists", "--query", "Contents[].Key",
                   "--output", "text")
    got = out.split()
    check(got == sorted(keys), "ListObjectsV2 order: %s, want %s" % (got, sorted(keys)))
    out = a.aws_ok("s3api", "list-objects-v2", "--bucket", "lists", "--delimiter", "/",
                   "--output", "json")
    check('"Prefix": "b/"' in out and '"Prefix": "d/"' in out and '"Key": "a.txt"' in out
          and '"Key": "b/1.txt"' not in out, "delimiter listing:\n" + out)
    out = a.aws_ok("s3api", "list-objects-v2", "--bucket", "lists", "--prefix", "b/",
                   "--delimiter", "/", "--output", "json")
    check('"Key": "b/1.txt"' in out and '"Prefix": "b/c/"' in out and "a.txt" not in out,
          "prefix + delimiter listing:\n" + out)
    # pages of 2, followed by the CLI's paginator
    out = a.aws_ok("s3api", "list-objects-v2", "--bucket", "lists", "--page-size", "2",
                   "--query", "Contents[].Key", "--output", "text")
    check(out.split() == sorted(keys), "paged listing: %s" % out.split())
    out = a.aws_ok("s3api", "list-objects", "--bucket", "lists", "--page-size", "3",
                   "--query", "Contents[].Key", "--output", "text")
    check(out.split() == sorted(keys), "paged v1 listing: %s" % out.split())
    # a file put with the dfs CLI is an object
    c.dfs_as_ok("alice", "put", local, "/home/alice/lists/from-cli.txt")
    check("from-cli.txt" in a.aws_ok("s3", "ls", "s3://lists/"), "a CLI file is not listed")
    # delete many at once; emptied "directories" disappear
    a.aws_ok("s3", "rm", "--recursive", "s3://lists/b/")
    out = a.aws_ok("s3api", "list-objects-v2", "--bucket", "lists", "--query", "Contents[].Key",
                   "--output", "text")
    check(not any(k.startswith("b/") for k in out.split()), "b/ still listed: %s" % out)
    rc, _, err = c.dfs_as("alice", "stat", "/home/alice/lists/b")
    check(rc != 0, "the emptied directory b is still there")
    # a bucket with objects cannot go; an empty one can
    rc, _, err = a.aws("s3", "rb", "s3://lists")
    check(rc != 0 and "BucketNotEmpty" in err, "rb of a full bucket: %d %s" % (rc, err[-300:]))
    a.aws_ok("s3", "rm", "--recursive", "s3://lists")
    a.aws_ok("s3", "rb", "s3://lists")


def s3cmd_round_trip(c, a):
    a.s3cmd_ok("mb", "s3://s3cmd-bucket")
    local = c.scratch("s3cmd-obj")
    harness.make_file(local, 3 * MiB + 17, seed=11, quiet=True)
    a.s3cmd_ok("put", local, "s3://s3cmd-bucket/dir/obj")
    check("s3://s3cmd-bucket/dir/obj" in a.s3cmd_ok("ls", "-r", "s3://s3cmd-bucket"),
          "s3cmd ls does not show the object")
    back = local + ".back"
    out = a.s3cmd_ok("get", "s3://s3cmd-bucket/dir/obj", back)
    check(sha(back) == sha(local), "s3cmd round trip changed the bytes")
    check("MD5" not in out or "mismatch" not in out.lower(), "s3cmd saw an MD5 mismatch: " + out)
    a.s3cmd_ok("del", "s3://s3cmd-bucket/dir/obj")
    a.s3cmd_ok("rb", "s3://s3cmd-bucket")


def rclone_sync(c, a):
    src = c.scratch("tree")
    n = 0
    for d in range(10):
        os.makedirs(os.path.join(src, "d%02d" % d, "sub"), exist_ok=True)
        for i in range(50):
            sub = "sub" if i % 2 else ""
            harness.make_file(os.path.join(src, "d%02d" % d, sub, "f%03d" % i),
                              (i * 977 + d * 13) % 20000, seed=d * 100 + i, quiet=True)
            n += 1
    a.rclone_ok("mkdir", "dfs:tree")
    t0 = time.time()
    a.rclone_ok("sync", src, "dfs:tree", "--transfers", "8", "--checkers", "8")
    up = time.time() - t0
    a.rclone_ok("check", src, "dfs:tree")
    back = c.scratch("tree-back")
    a.rclone_ok("sync", "dfs:tree", back, "--transfers", "8")
    for dp, _, fn in os.walk(src):
        for f in fn:
            p = os.path.join(dp, f)
            q = os.path.join(back, os.path.relpath(p, src))
            check(os.path.exists(q) and sha(p) == sha(q), "rclone round trip: %s differs" % q)
    # a second sync after a change sends only the change
    harness.make_file(os.path.join(src, "d00", "f000"), 4321, seed=999, quiet=True)
    os.unlink(os.path.join(src, "d01", "f002"))
    a.rclone_ok("sync", src, "dfs:tree")
    a.rclone_ok("check", src, "dfs:tree")
    print("    rclone sync of %d files up in %.1f s" % (n, up), flush=True)


def presigned(c, a):
    local = c.scratch("presign")
    harness.make_file(local, 123457, seed=21, quiet=True)
    a.aws_ok("s3", "cp", local, "s3://photos/share/p.bin")
    url = a.aws_ok("s3", "presign", "s3://photos/share/p.bin", "--expires-in", "60").strip()
    with urllib.request.urlopen(url, timeout=30) as r:
        check(r.read() == open(local, "rb").read(), "presigned GET returned other bytes")
    url = a.aws_ok("s3", "presign", "s3://photos/share/p.bin", "--expires-in", "1").strip()
    time.sleep(2.5)
    try:
        urllib.request.urlopen(url, timeout=30)
        check(False, "an expired presigned URL still works")
    except urllib.error.HTTPError as e:
        check(e.code == 403 and b"AccessDenied" in e.read(), "expired presign: %d" % e.code)
    # a tampered one
    bad = url.replace("X-Amz-Expires=1", "X-Amz-Expires=600")
    try:
        urllib.request.urlopen(bad, timeout=30)
        check(False, "a presigned URL with a changed expiry works")
    except urllib.error.HTTPError as e:
        check(e.code == 403 and b"SignatureDoesNotMatch" in e.read(), "tampered: %d" % e.code)


def refusals(c, a, b):
    """Wrong keys, anonymous requests, another user's bucket, a body that does not match
    its hash: each refused with its S3 error, and nothing read or changed."""
    b.aws_ok("s3", "mb", "s3://bobs")
    secret_file = c.scratch("bob-secret")
    harness.make_file(secret_file, 5000, seed=31, quiet=True)
    b.aws_ok("s3", "cp", secret_file, "s3://bobs/secret")
    before = c.dfs_as_ok("bob", "ls", "-l", "/home/bob/bobs")
    # a wrong secret
    wrong = s3lib.Clients(c, a.kid, "x" * 40, name="wrong")
    rc, _, err = wrong.aws("s3", "ls")
    check(rc != 0 and "SignatureDoesNotMatch" in err, "wrong secret: %d %s" % (rc, err[-300:]))
    # an unknown key
    unknown = s3lib.Clients(c, "DK" + "Q" * 18, a.secret, name="unknown")
    rc, _, err = unknown.aws("s3", "ls")
    check(rc != 0 and "InvalidAccessKeyId" in err, "unknown key: %d %s" % (rc, err[-300:]))
    # alice names bob's bucket: it is not hers, so it does not exist for her
    for args in (("s3", "ls", "s3://bobs"), ("s3", "cp", "s3://bobs/secret", c.scratch("x")),
                 ("s3", "rm", "s3://bobs/secret"), ("s3", "rb", "s3://bobs")):
        rc, _, err = a.aws(*args)
        check(rc != 0, "alice could run aws %s on bob's bucket" % " ".join(args))
    st, _, body = s3lib.request(c, "GET", "/bobs/secret", a.kid, a.secret)
    check(st == 404 and s3lib.error_code(body) == "NoSuchBucket", "alice GET bob's: %d" % st)
    st, _, body = s3lib.request(c, "PUT", "/bobs/planted", a.kid, a.secret, body=b"x")
    check(st == 404, "alice PUT into bob's bucket: %d %s" % (st, body[:200]))
    # anonymous
    st, _, body = s3lib.request(c, "GET", "/bobs/secret")
    check(st == 403 and s3lib.error_code(body) == "AccessDenied", "anonymous GET: %d" % st)
    # a body that is not the one signed
    h = {"Host": c.gw_url.split("://")[1]}
    s3lib.sign("PUT", "/photos/tampered", (), h, a.kid, a.secret,
               hashlib.sha256(b"the signed body").hexdigest())
    import http.client
    conn = http.client.HTTPConnection(c.gw_url.split("://")[1], timeout=30)
    conn.request("PUT", "/photos/tampered", body=b"another body!!!", headers=h)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    check(r.status == 400 and b"XAmzContentSHA256Mismatch" in body,
          "a changed body: %d %s" % (r.status, body[:200]))
    rc, _, _ = c.dfs_as("alice", "stat", "/home/alice/photos/tampered")
    check(rc != 0, "the changed body was stored")
    # a request 20 minutes old
    import datetime
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    st, _, body = s3lib.request(c, "GET", "/", a.kid, a.secret, when=old)
    check(st == 403 and s3lib.error_code(body) == "RequestTimeTooSkewed", "old request: %d" % st)
    after = c.dfs_as_ok("bob", "ls", "-l", "/home/bob/bobs")
    check(before == after, "bob's bucket changed:\n%s\n%s" % (before, after))
    back = c.scratch("bob-back")
    b.aws_ok("s3", "cp", "s3://bobs/secret", back)
    check(sha(back) == sha(secret_file), "bob's object changed")


def key_lifecycle(c, a):
    """A deleted key stops working within keys.cache_ttl (3 s)."""
    kid, sec = s3lib.create_key(c, "alice")
    t = s3lib.Clients(c, kid, sec, name="temp")
    t.aws_ok("s3", "ls")
    c.dfs_as_ok("alice", "keys", "rm", kid)
    deadline = time.time() + 8
    while True:
        rc, _, err = t.aws("s3", "ls")
        if rc != 0:
            check("InvalidAccessKeyId" in err or "AccessDenied" in err, "deleted key: " + err)
            break
        check(time.time() < deadline, "a deleted key still works 8 s later")
        time.sleep(0.5)


def metrics(c, a):
    with urllib.request.urlopen(c.gw_url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    for name in ("dfsgw_requests_total", "dfsgw_request_duration_seconds_bucket",
                 "dfsgw_responses_errors_total"):
        check(name in text, "/metrics lacks %s:\n%s" % (name, text[:1500]))
    check("dfs_metad_up 0" in text, "without metrics.access_key the cluster's figures "
          "should be out of reach on a cluster with authentication:\n" + text[-600:])
    # with a key, the cluster's figures too
    c.gateway.terminate()
    c.start_gateway(args=("--set", "metrics.access_key=" + a.kid))
    with urllib.request.urlopen(c.gw_url + "/metrics", timeout=30) as r:
        text = r.read().decode()
    check("dfs_metad_up 1" in text and 'dfs_chunkservers{state="alive"} 3' in text and
          "dfs_free_bytes" in text, "/metrics with metrics.access_key:\n" + text[-800:])


def main(t):
    with t.cluster(chunkservers=3, name="s3", auth=True) as c:
        c.start_gateway()
        state = {}
        t.case("users and access keys", lambda: state.update(zip(("a", "b"), setup_users(c))))
        t.case("aws: 0 B, 1 B, 5 MiB round trips; MD5 ETag; the same bytes via dfs get",
               lambda: aws_round_trips(c, state["a"]))
        t.case("metadata, ranged GET, CopyObject", lambda: metadata_range_copy(c, state["a"]))
        t.case("listings: order, delimiter, prefix, pages, delete of many",
               lambda: listings(c, state["a"]))
        t.case("s3cmd round trip", lambda: s3cmd_round_trip(c, state["a"]))
        t.case("rclone sync of 500 files up and back, checked",
               lambda: rclone_sync(c, state["a"]))
        t.case("presigned GET, expiry, tampering", lambda: presigned(c, state["a"]))
        t.case("refusals change nothing", lambda: refusals(c, state["a"], state["b"]))
        t.case("a deleted key stops working", lambda: key_lifecycle(c, state["a"]))
        t.case("/metrics", lambda: metrics(c, state["a"]))


if __name__ == "__main__":
    harness.run(main)
