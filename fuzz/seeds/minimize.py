#!/usr/bin/env python3
"""fuzz/seeds/minimize.py: refresh a target's seed directory from its campaign corpus.

    python3 fuzz/seeds/minimize.py TARGET...

For each target, libFuzzer's merge (`-merge=1`, edges only: `-use_counters=0
-use_cmp=0`) records which coverage edges each input of fuzz/corpus/TARGET and
fuzz/seeds/TARGET reaches; a greedy set cover then keeps the fewest inputs that reach
every one of those edges, and they replace fuzz/seeds/TARGET. Build the targets first
(`cargo fuzz build -s none --debug-assertions`). `flows` keeps its hand-written seeds
(fuzz/seeds/flows.py), so it is refused here.
"""

import os
import shutil
import subprocess
import sys
import tempfile

FUZZ = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def host():
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(line.split()[1] for line in out.splitlines() if line.startswith("host:"))


def coverage(binary, dirs, tmp):
    """Input path -> the set of edges it reaches, from libFuzzer's merge control file."""
    ctl = os.path.join(tmp, "control")
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    cmd = [binary, "-merge=1", "-use_counters=0", "-use_cmp=0", f"-merge_control_file={ctl}", out, *dirs]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    lines = open(ctl).read().split("\n")
    n = int(lines[0])
    files = lines[2 : 2 + n]
    cov = {}
    for line in lines[2 + n :]:
        if line.startswith("COV "):
            parts = line.split()
            cov[files[int(parts[1])]] = set(map(int, parts[2:]))
    return cov


def cover(cov):
    """The fewest inputs (greedily; smaller first on ties) that reach every edge."""
    universe = set().union(*cov.values()) if cov else set()
    chosen, covered = [], set()
    while covered != universe:
        best = max(cov, key=lambda f: (len(cov[f] - covered), -os.path.getsize(f), f))
        chosen.append(best)
        covered |= cov[best]
    return universe, chosen


def main(targets):
    binaries = os.path.join(FUZZ, "target", host(), "release")
    for t in targets:
        if t == "flows":
            sys.exit("minimize.py: flows keeps its hand-written seeds (fuzz/seeds/flows.py)")
        seeds = os.path.join(FUZZ, "seeds", t)
        dirs = [d for d in (os.path.join(FUZZ, "corpus", t), seeds) if os.path.isdir(d)]
        with tempfile.TemporaryDirectory() as tmp:
            universe, chosen = cover(coverage(os.path.join(binaries, t), dirs, tmp))
            keep = os.path.join(tmp, "keep")
            os.makedirs(keep)
            for f in chosen:
                shutil.copy(f, keep)
            shutil.rmtree(seeds, ignore_errors=True)
            shutil.copytree(keep, seeds)
        size = sum(os.path.getsize(os.path.join(seeds, f)) for f in os.listdir(seeds))
        print(f"{t}: {len(chosen)} inputs, {size} bytes, reaching {len(universe)} edges")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
