#!/usr/bin/env python3
"""The short soak of CI (issue 13): random fault schedules (test_fault.py with
DFS_FAULT_SOAK=1) for several fresh seeds, each on its own cluster, a minute each.
Every seed is printed first, so a failure replays with
`scripts/fault --soak --minutes 1 --seed N`. The long form is `scripts/fault --soak
--minutes M`.
  DFS_SOAK_SEEDS=a,b,c   these seeds instead of fresh ones
  DFS_SOAK_RUNS=N        how many fresh seeds (default 3; 1 on a sanitized build)
  DFS_SOAK_MINUTES=M     minutes per seed (default 1)"""

import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import harness  # noqa: E402


def main():
    if os.environ.get("DFS_SOAK_SEEDS"):
        seeds = [int(s) for s in os.environ["DFS_SOAK_SEEDS"].split(",") if s]
    else:
        runs = int(os.environ.get("DFS_SOAK_RUNS", "1" if harness.SANITIZED else "3"))
        seeds = [random.randrange(1 << 31) for _ in range(runs)]
    minutes = os.environ.get("DFS_SOAK_MINUTES", "1")
    print("soak seeds: %s (%s minute(s) each; DFS_SOAK_SEEDS=%s replays them)" % (
        " ".join(map(str, seeds)), minutes, ",".join(map(str, seeds))), flush=True)
    failed = []
    for seed in seeds:
        env = dict(os.environ, DFS_FAULT_SOAK="1", DFS_FAULT_MINUTES=minutes,
                   DFS_FAULT_SEED=str(seed))
        print("== soak, seed %d ==" % seed, flush=True)
        rc = subprocess.call([sys.executable, os.path.join(HERE, "test_fault.py")], env=env)
        if rc != 0:
            failed.append(seed)
    if failed:
        print("soak FAILED for seed(s) %s: replay one with scripts/fault --soak --minutes %s "
              "--seed N" % (" ".join(map(str, failed)), minutes), flush=True)
        return 1
    print("soak passed for seeds %s" % " ".join(map(str, seeds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
