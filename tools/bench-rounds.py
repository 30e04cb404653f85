#!/usr/bin/env python3
"""Interleaved rounds of `vswap-sim --bench`: the wall-clock figures of issue 5.

  tools/bench-rounds.py N BIN [BIN ...]

runs `BIN --bench` once for each BIN in turn, N rounds, and prints each binary's
events/s as min, quartiles, max and the runs at or above 5 M. Interleaving puts every
binary through the same spells of this VM's changing speed, so compare within one call,
not across calls. BIN may carry an environment prefix, e.g. `"GLIBC_TUNABLES=... BIN"`.
"""

import re
import statistics
import subprocess
import sys

GOAL = 5e6


def rate(cmd):
    """Events/s from the `--bench` line of one run."""
    out = subprocess.run(cmd + " --bench", shell=True, capture_output=True, text=True, check=True).stderr
    m = re.search(r"events/s: (\d+)", out)
    if not m:
        sys.exit(f"no --bench line from {cmd!r}:\n{out}")
    return int(m.group(1))


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 2:
        sys.exit(__doc__)
    rounds, cmds = int(sys.argv[1]), sys.argv[2:]
    runs = {c: [] for c in cmds}
    for _ in range(rounds):
        for c in cmds:
            runs[c].append(rate(c))
    for c in cmds:
        v = sorted(runs[c])
        q1, med, q3 = statistics.quantiles(v, n=4)
        at_goal = sum(x >= GOAL for x in v)
        print(f"{c}: min {v[0] / 1e6:.2f} M  q1 {q1 / 1e6:.2f} M  median {med / 1e6:.2f} M  "
              f"q3 {q3 / 1e6:.2f} M  max {v[-1] / 1e6:.2f} M  at >= 5 M: {at_goal}/{len(v)}")


if __name__ == "__main__":
    main()
