"""scripts/bench s3: the S3 gateway against the dfs CLI on the same cluster (issue 16).

A local cluster (scripts/cluster up: authd, 1 metad, 3 chunkd, dfsgw) in a temp dir on
free ports. Per run, in the same run so that their ratio is fair:
  - a big file (--size MiB, default 1024) put and got through the AWS CLI (one PUT up to
    --multipart-threshold, 8 MiB parts beyond it), through curl (--aws-sigv4, one
    stream: the gateway's own speed, with a client that costs little CPU) and through
    `dfs put`/`dfs get`, MB/s;
  - --files small files (default 1000 x 4 KiB) copied up and down with rclone (8
    transfers) and with `dfs put -r`/`dfs get -r` (one process each way), files/s.
Reports every run and the median, and the medians' ratios gateway / CLI.

  scripts/bench s3 [--size MIB] [--files N] [--file-size B] [--runs R]
                   [--multipart-threshold MIB]"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("DFS_BIN") or os.path.join(ROOT, "build", "bin")
MiB = 1 << 20
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_base_port  # noqa: E402


def run(argv, env, timeout=3600, input=None):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv[:4]), r.returncode,
                                                (r.stderr or r.stdout).strip()[-600:]))
    return r.stdout


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv):
    p = argparse.ArgumentParser(prog="scripts/bench s3", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--file-size", type=int, default=4096)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--multipart-threshold", type=int, default=8192,
                   help="MiB above which the AWS CLI uploads in 8 MiB parts (8192: one PUT)")
    a = p.parse_args(argv)
    for tool in ("/usr/bin/aws", "/usr/bin/rclone"):
        if not os.access(tool, os.X_OK):
            sys.exit("bench s3: %s not found (scripts/setup --deps installs it)" % tool)
    tmp = tempfile.mkdtemp(prefix="dfs-bench-s3-")
    cdir = os.path.join(tmp, "cluster")
    port = free_base_port(21400)
    env = dict(os.environ, DFS_BIN=BIN)
    cluster = [os.path.join(ROOT, "scripts", "cluster")]
    try:
        print("bench s3: a local cluster (3 chunkservers + dfsgw) on 127.0.0.1:%d" % port,
              flush=True)
        run(cluster + ["up", "--chunkservers", "3", "--port", str(port), "--log-level", "warn",
                       "--dir", cdir], env)
        cenv = dict(os.environ, DFS_META="127.0.0.1:%d" % port,
                    DFS_AUTH="127.0.0.1:%d" % (port + 100),
                    XDG_CONFIG_HOME=os.path.join(cdir, "client"), HOME=tmp)
        for k in ("DFS_TOKEN", "DFS_USER", "DFS_PASSWORD"):
            cenv.pop(k, None)
        dfs = [os.path.join(BIN, "dfs"), "-q"]
        with open(os.path.join(cdir, "admin.password")) as f:
            run(dfs + ["login", "admin", "--password-stdin"], cenv, input=f.read().strip() + "\n")
        out = run(dfs[:1] + ["keys", "create"], cenv)
        kid = re.search(r"\b(DK[A-Z0-9]{18})\b", out).group(1)
        sec = re.search(r"secret key:\s+(\S{40})", out).group(1)
        url = "http://127.0.0.1:%d" % (port + 200)
        home = os.path.join(tmp, "clients")
        os.makedirs(os.path.join(home, ".aws"))
        with open(os.path.join(home, ".aws", "config"), "w") as f:
            f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
                    "    multipart_threshold = %dMB\n    multipart_chunksize = 8MB\n"
                    "    max_concurrent_requests = 8\n" % a.multipart_threshold)
        with open(os.path.join(home, "rclone.conf"), "w") as f:
            f.write("[dfs]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                    "secret_access_key = %s\nendpoint = %s\nregion = us-east-1\n"
                    "force_path_style = true\n" % (kid, sec, url))
        senv = {"PATH": "/usr/bin:/bin", "HOME": home, "AWS_ACCESS_KEY_ID": kid,
                "AWS_SECRET_ACCESS_KEY": sec, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.path.join(home, ".aws", "config"),
                "RCLONE_CONFIG": os.path.join(home, "rclone.conf")}
        aws = ["/usr/bin/aws", "--endpoint-url", url]
        big = os.path.join(tmp, "big.bin")
        with open(big, "wb") as f:
            for _ in range(a.size):
                f.write(os.urandom(MiB))
        small = os.path.join(tmp, "small")
        os.makedirs(small)
        for i in range(a.files):
            with open(os.path.join(small, "f%05d" % i), "wb") as f:
                f.write(os.urandom(a.file_size))
        run(aws + ["s3", "mb", "s3://bench"], senv)
        res = {k: [] for k in ("s3_put", "s3_get", "curl_put", "curl_get", "cli_put", "cli_get",
                               "rc_up", "rc_down", "cli_up", "cli_down")}
        curl = ["curl", "-sS", "-f", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user",
                "%s:%s" % (kid, sec), "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
        mb = a.size * MiB / 1e6
        for r in range(1, a.runs + 1):
            back = os.path.join(tmp, "back.bin")
            res["s3_put"].append(mb / timed(lambda: run(aws + ["s3", "cp", big, "s3://bench/big-%d" % r], senv)))
            res["s3_get"].append(mb / timed(lambda: run(aws + ["s3", "cp", "s3://bench/big-%d" % r, back], senv)))
            if os.path.getsize(back) != a.size * MiB:
                raise RuntimeError("aws s3 cp returned %d bytes" % os.path.getsize(back))
            os.unlink(back)
            res["curl_put"].append(mb / timed(lambda: run(curl + ["-T", big, "%s/bench/curl-%d" % (url, r)], senv)))
            res["curl_get"].append(mb / timed(lambda: run(curl + ["-o", back, "%s/bench/curl-%d" % (url, r)], senv)))
            if os.path.getsize(back) != a.size * MiB:
                raise RuntimeError("curl returned %d bytes" % os.path.getsize(back))
            os.unlink(back)
            res["cli_put"].append(mb / timed(lambda: run(dfs + ["put", big, "/home/admin/bench/cli-%d" % r], cenv)))
            res["cli_get"].append(mb / timed(lambda: run(dfs + ["get", "/home/admin/bench/cli-%d" % r, back], cenv)))
            os.unlink(back)
            down = os.path.join(tmp, "down")
            res["rc_up"].append(a.files / timed(lambda: run(["/usr/bin/rclone", "copy", small, "dfs:bench/rc-%d" % r, "--transfers", "8", "--checkers", "8"], senv)))
            res["rc_down"].append(a.files / timed(lambda: run(["/usr/bin/rclone", "copy", "dfs:bench/rc-%d" % r, down, "--transfers", "8", "--checkers", "8"], senv)))
            if len(os.listdir(down)) != a.files:
                raise RuntimeError("rclone copied %d of %d files back" % (len(os.listdir(down)), a.files))
            shutil.rmtree(down)
            res["cli_up"].append(a.files / timed(lambda: run(dfs + ["put", "-r", small, "/home/admin/bench/cli-small-%d" % r], cenv)))
            res["cli_down"].append(a.files / timed(lambda: run(dfs + ["get", "-r", "/home/admin/bench/cli-small-%d" % r, down], cenv)))
            shutil.rmtree(down)
            print("bench s3: run %d done" % r, flush=True)
        med = {k: statistics.median(v) for k, v in res.items()}
        rows = [("aws put %d MiB (MB/s)" % a.size, "s3_put"),
                ("curl put (MB/s)", "curl_put"), ("dfs put (MB/s)", "cli_put"),
                ("aws get %d MiB (MB/s)" % a.size, "s3_get"),
                ("curl get (MB/s)", "curl_get"), ("dfs get (MB/s)", "cli_get"),
                ("rclone up %d x %d B (files/s)" % (a.files, a.file_size), "rc_up"),
                ("dfs put -r (files/s)", "cli_up"),
                ("rclone down (files/s)", "rc_down"), ("dfs get -r (files/s)", "cli_down")]
        print("\ndfs bench s3: 1 metad + 3 chunkd + dfsgw on loopback, 2 replicas, %d run(s)"
              % a.runs)
        hdr = "%-34s" % "test" + "".join("%9s" % ("run %d" % (i + 1)) for i in range(a.runs)) + \
            "%9s" % "median"
        print(hdr + "\n" + "-" * len(hdr))
        for label, k in rows:
            print("%-34s" % label + "".join("%9.1f" % v for v in res[k]) + "%9.1f" % med[k])
        print("\nratios of the medians, gateway / CLI: big put %.2f (curl %.2f), big get %.2f "
              "(curl %.2f), small up %.2f, small down %.2f" % (
                  med["s3_put"] / med["cli_put"], med["curl_put"] / med["cli_put"],
                  med["s3_get"] / med["cli_get"], med["curl_get"] / med["cli_get"],
                  med["rc_up"] / med["cli_up"], med["rc_down"] / med["cli_down"]))
    finally:
        subprocess.run(cluster + ["down", "--purge", "--dir", cdir], env=env,
                       capture_output=True, stdin=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
