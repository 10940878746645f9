"""One multi-GiB file (2 GiB; 512 MiB under the sanitizers) through put and get at 2
replicas, compared by SHA-256; ls -l shows its exact size; rm gives its chunks back
(the chunkservers' chunk counts drop once metad tells them to delete)."""

import time

import harness
from harness import GiB, MiB, check

SIZE = (512 * MiB if harness.SANITIZED else 2 * GiB) + 12345


def total_chunks(c):
    return sum(s["chunks"] for s in c.overview()["servers"] if s["alive"])


def main(t):
    with t.cluster(chunkservers=3, name="bigfile") as c:
        state = {}

        def roundtrip():
            state["before"] = total_chunks(c)
            t0 = time.time()
            state["digest"] = c.roundtrip(SIZE, "/big.bin", seed=4242)
            print("    %d MiB put+get in %.1f s" % (SIZE >> 20, time.time() - t0))

        t.case("round trip of %d bytes at 2 replicas" % SIZE, roundtrip)

        def ls_size():
            out = c.dfs_ok("ls", "-l", "/")
            line = [l for l in out.splitlines() if l.split() and l.split()[-1] == "big.bin"]
            check(line and str(SIZE) in line[0].split(), "ls -l: %r" % out)

        t.case("ls -l shows the exact size", ls_size)

        def rm_frees():
            expect = state["before"] + 2 * ((SIZE + MiB - 1) // MiB)
            deadline = time.time() + 20
            while total_chunks(c) < expect and time.time() < deadline:
                time.sleep(0.2)
            n = total_chunks(c)
            check(n >= expect, "chunkservers report %d chunks, expected >= %d" % (n, expect))
            c.dfs_ok("rm", "--skip-trash", "/big.bin")
            deadline = time.time() + 30
            while time.time() < deadline and total_chunks(c) > state["before"]:
                time.sleep(0.2)
            n = total_chunks(c)
            check(n <= state["before"],
                  "30 s after rm the chunkservers still report %d chunks (had %d before)"
                  % (n, state["before"]))

        t.case("rm deletes the chunks on the chunkservers", rm_frees)


if __name__ == "__main__":
    harness.run(main)
