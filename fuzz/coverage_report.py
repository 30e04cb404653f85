#!/usr/bin/env python3
"""fuzz/coverage_report.py: what the fuzz targets' corpora reach in the library.

    python3 fuzz/coverage_report.py TARGET...

For each target, `cargo fuzz coverage` (run by fuzz/campaign --coverage, or by hand)
left fuzz/coverage/TARGET/coverage.profdata beside the instrumented binary. This prints,
per target, the line and function coverage of the library (src/) and the simulator
(sim/src/), and then every public function of the facade (`pub fn` in src/system/)
that no target executed. Exit status 0; 2 when a target's coverage data is missing.
"""

import json
import os
import re
import subprocess
import sys

FUZZ = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(FUZZ)
HOST = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
HOST = re.search(r"^host: (\S+)", HOST, re.M).group(1)
SYSROOT = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True, text=True, check=True).stdout.strip()
LLVM_COV = os.path.join(SYSROOT, "lib", "rustlib", HOST, "bin", "llvm-cov")


def binary(target):
    return os.path.join(FUZZ, "target", HOST, "coverage", HOST, "release", target)


def export(target):
    """llvm-cov's JSON export for one target: files and functions with counts."""
    prof = os.path.join(FUZZ, "coverage", target, "coverage.profdata")
    if not os.path.exists(prof) or not os.path.exists(binary(target)):
        sys.exit(f"coverage_report: no coverage data for {target} (run fuzz/campaign --coverage {target})")
    out = subprocess.run(
        [LLVM_COV, "export", "-format=text", f"-instr-profile={prof}", binary(target)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)["data"][0]


def area(path):
    """'library', 'simulator' or None for a source file."""
    rel = os.path.relpath(path, ROOT)
    if rel.startswith("src/"):
        return "library"
    if rel.startswith("sim/src/"):
        return "simulator"
    return None


def own_name(symbol, candidates):
    """Which of `candidates` (function names) `symbol` is, or None.

    Coverage builds use Rust's v0 mangling, where a path's identifiers are written
    `<length><name>` and a closure's symbol starts `_RNC` (a closure is not its function).
    The function's own name is the path's last identifier, so of the candidates found in
    the symbol, the one whose last occurrence ends latest (a module of the same name comes
    earlier in the path). Legacy `_ZN...E` symbols are read the same way.
    """
    if symbol.startswith("_RNC"):
        return None
    best, end = None, -1
    for name in candidates:
        token = f"{len(name)}{name}"
        i = symbol.rfind(token)
        # A length is preceded by a non-digit (or it would be a longer length).
        while i > 0 and symbol[i - 1].isdigit():
            i = symbol.rfind(token, 0, i)
        if i >= 0 and i + len(token) > end:
            best, end = name, i + len(token)
    return best


def facade_functions():
    """(file, name) of every `pub fn` in src/system/."""
    found = set()
    base = os.path.join(ROOT, "src", "system")
    for f in sorted(os.listdir(base)):
        if not f.endswith(".rs"):
            continue
        path = os.path.join(base, f)
        with open(path) as fh:
            for line in fh:
                m = re.match(r"\s*pub fn (\w+)", line)
                if m:
                    found.add((os.path.relpath(path, ROOT), m.group(1)))
    return found


def main(targets):
    reached = set()
    facade = {}
    for path, name in facade_functions():
        facade.setdefault(path, set()).add(name)
    print(f"{'target':<12} {'library lines':>14} {'functions':>10} {'simulator lines':>16} {'functions':>10}")
    for t in targets:
        data = export(t)
        tot = {a: [0, 0, 0, 0] for a in ("library", "simulator")}
        for f in data["files"]:
            a = area(f["filename"])
            if a:
                s = f["summary"]
                tot[a][0] += s["lines"]["covered"]
                tot[a][1] += s["lines"]["count"]
                tot[a][2] += s["functions"]["covered"]
                tot[a][3] += s["functions"]["count"]
        for fn in data["functions"]:
            if fn["count"] > 0:
                for path in fn["filenames"]:
                    rel = os.path.relpath(path, ROOT)
                    name = own_name(fn["name"], facade.get(rel, ()))
                    if name:
                        reached.add((rel, name))

        def pct(c, n):
            return f"{100 * c / n:.1f} %" if n else "-"

        lib, sim = tot["library"], tot["simulator"]
        print(
            f"{t:<12} {pct(lib[0], lib[1]):>14} {pct(lib[2], lib[3]):>10} "
            f"{pct(sim[0], sim[1]):>16} {pct(sim[2], sim[3]):>10}"
        )
    missed = sorted(facade_functions() - reached)
    print()
    if missed:
        print(f"public facade functions (pub fn in src/system/) no target executed: {len(missed)}")
        for path, name in missed:
            print(f"  {path}: {name}")
    else:
        print("every public facade function (pub fn in src/system/) was executed by some target")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
