"""S3 for the tests: the real clients (the AWS CLI, s3cmd, rclone from Debian), each with
a config of its own inside the cluster's directory (never the invoking user's), and a
small Signature V4 signer for the raw and hostile requests no client would send."""

import datetime
import hashlib
import hmac
import http.client
import os
import re
import subprocess
import urllib.parse

import harness
from harness import check

AWS = "/usr/bin/aws"
S3CMD = "/usr/bin/s3cmd"
RCLONE = "/usr/bin/rclone"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def create_key(c, user):
    """`dfs keys create` as user; returns (key id, secret)."""
    out = c.dfs_as_ok(user, "keys", "create")
    kid = re.search(r"\b(DK[A-Z0-9]{18})\b", out)
    sec = re.search(r"secret key:\s+(\S{40})", out)
    check(kid and sec, "dfs keys create printed no key and secret:\n" + out)
    return kid.group(1), sec.group(1)


class Clients:
    """aws / s3cmd / rclone against c's gateway with one access key."""

    def __init__(self, c, kid, secret, name="s3"):
        self.c, self.kid, self.secret = c, kid, secret
        self.url = c.gw_url
        self.hostport = self.url.split("://", 1)[1]
        self.home = os.path.join(c.dir, "clients-" + name)
        os.makedirs(self.home, exist_ok=True)
        with open(os.path.join(self.home, "s3cfg"), "w") as f:
            f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\n"
                    "host_bucket = %s\nuse_https = False\nsignature_v2 = False\n"
                    "check_ssl_certificate = False\nbucket_location = us-east-1\n"
                    % (kid, secret, self.hostport, self.hostport))
        with open(os.path.join(self.home, "rclone.conf"), "w") as f:
            f.write("[dfs]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                    "secret_access_key = %s\nendpoint = %s\nregion = us-east-1\n"
                    "force_path_style = true\n" % (kid, secret, self.url))
        os.makedirs(os.path.join(self.home, ".aws"), exist_ok=True)
        with open(os.path.join(self.home, ".aws", "config"), "w") as f:
            # default: one PUT per file up to 1 GiB; profile "multipart": 8 MiB parts
            f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                    "    multipart_threshold = 1GB\n"
                    "[profile multipart]\nregion = us-east-1\ns3 =\n"
                    "    addressing_style = path\n    multipart_threshold = 8MB\n"
                    "    multipart_chunksize = 8MB\n"
                    # --profile makes the CLI skip the environment's credentials
                    "aws_access_key_id = %s\naws_secret_access_key = %s\n" % (kid, secret))

    def env(self):
        return {"PATH": "/usr/bin:/bin", "HOME": self.home, "LANG": "C.UTF-8",
                "AWS_ACCESS_KEY_ID": self.kid, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.path.join(self.home, ".aws", "config"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(self.home, ".aws", "none"),
                "RCLONE_CONFIG": os.path.join(self.home, "rclone.conf")}

    def run(self, argv, timeout=600, input=None):
        r = subprocess.run(argv, capture_output=True, env=self.env(), timeout=timeout,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def aws(self, *args, timeout=600):
        return self.run([AWS, "--endpoint-url", self.url, *map(str, args)], timeout)

    def aws_ok(self, *args, timeout=600):
        rc, out, err = self.aws(*args, timeout=timeout)
        check(rc == 0, "aws %s: exit %d: %s" % (" ".join(map(str, args)), rc, err.strip()[-800:]))
        return out

    def s3cmd(self, *args, timeout=600):
        return self.run([S3CMD, "-c", os.path.join(self.home, "s3cfg"), *map(str, args)],
                        timeout)

    def s3cmd_ok(self, *args, timeout=600):
        rc, out, err = self.s3cmd(*args, timeout=timeout)
        check(rc == 0, "s3cmd %s: exit %d: %s" % (" ".join(map(str, args)), rc,
                                                 (err or out).strip()[-800:]))
        return out

    def rclone(self, *args, timeout=900):
        return self.run([RCLONE, *map(str, args)], timeout)

    def rclone_ok(self, *args, timeout=900):
        rc, out, err = self.rclone(*args, timeout=timeout)
        check(rc == 0, "rclone %s: exit %d: %s" % (" ".join(map(str, args)), rc,
                                                  err.strip()[-800:]))
        return out


# --- raw signed requests --------------------------------------------------------------

def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _enc(s, keep_slash):
    return urllib.parse.quote(s, safe="/~" if keep_slash else "~")


def sign(method, path, query, headers, kid, secret, payload_hash=EMPTY_SHA, when=None,
         region="us-east-1"):
    """Adds x-amz-date, x-amz-content-sha256 and Authorization to headers (a dict with
    Host) for a Signature V4 request; path is the decoded path."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload_hash
    names = sorted(h.lower() for h in headers)
    canon_headers = "".join("%s:%s\n" % (n, " ".join(str(headers[h]).split()))
                            for n in names for h in headers if h.lower() == n)
    q = "&".join("%s=%s" % (_enc(k, False), _enc(v, False)) for k, v in sorted(query))
    creq = "\n".join([method, _enc(path, True), q, canon_headers, ";".join(names), payload_hash])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(creq.encode()).hexdigest())
    k = _hmac(("AWS4" + secret).encode(), day)
    k = _hmac(_hmac(_hmac(k, region), "s3"), "aws4_request")
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                                "Signature=%s" % (kid, scope, ";".join(names), sig))
    return headers


def request(c, method, path, kid=None, secret=None, query=(), body=b"", headers=None,
            timeout=30, sign_it=True, when=None):
    """One HTTP request to the gateway (signed unless kid is None or sign_it is False).
    Returns (status, headers dict (lower-case names), body bytes)."""
    host = c.gw_url.split("://", 1)[1]
    h = {"Host": host}
    h.update(headers or {})
    if kid and sign_it:
        sign(method, path, query, h, kid, secret, hashlib.sha256(body).hexdigest(), when=when)
    conn = http.client.HTTPConnection(host, timeout=timeout)
    url = _enc(path, True) + ("?" + "&".join("%s=%s" % (_enc(k, False), _enc(v, False))
                                               for k, v in query) if query else "")
    conn.request(method, url, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None
