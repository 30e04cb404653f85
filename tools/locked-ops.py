#!/usr/bin/env python3
"""Locked read-modify-writes per simulated event, and the time spent just after them.

Every `lock`-prefixed instruction and every `xchg` with memory (an implicit lock) drains
the store buffer before it completes: uncontended, it is cheap alone but it stalls the
misses around it. This counts them in `vswap-sim --bench` (issue 5's figures in
docs/notes/simulator-throughput.md, "Locked instructions per event").

  tools/locked-ops.py count BIN       executed locked instructions (callgrind, exact and
                                      repeatable), per event, by function and by line
  tools/locked-ops.py perf BIN [N]    share of on-CPU samples that fall on the instruction
                                      after a locked one (perf, N runs, default 6)

BIN is a `vswap-sim` built with line tables, e.g.
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=target/prof \\
      cargo build --release --bin vswap-sim
  tools/locked-ops.py count target/prof/release/vswap-sim

Needs valgrind, objdump, addr2line (binutils) and, for `perf`, linux-perf. The
simulated event count is read from the `--bench` line of the run itself.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

LOCKED = re.compile(r"^(lock\b|xchg\b)")
# `xchg %ax,%ax` and the like are register-only no-ops (padding), not memory operations.
REGISTER_XCHG = re.compile(r"^xchg\s+%(\w+),%\1$")


def disassemble(binary):
    """(address -> (function, instruction)) of the locked instructions, the set of
    addresses that follow one (where a sample taken while it drains lands), and each
    function's start address."""
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", binary], capture_output=True, text=True,
                         check=True).stdout
    locked, after, starts, function, prev = {}, set(), {}, None, False
    for line in out.splitlines():
        m = re.match(r"([0-9a-f]+) <(.*)>:", line)
        if m:
            function, prev = m.group(2), False
            starts.setdefault(function, int(m.group(1), 16))
            continue
        m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if not m:
            prev = False
            continue
        addr, insn = int(m.group(1), 16), m.group(2).strip()
        if prev:
            after.add(addr)
        prev = bool(LOCKED.match(insn)) and not REGISTER_XCHG.match(insn)
        if prev:
            locked[addr] = (function, insn)
    return locked, after, starts


def events_of(stderr):
    m = re.search(r"events: (\d+)", stderr)
    if not m:
        sys.exit("no `events: N` line: is BIN a vswap-sim?")
    return int(m.group(1))


def count(binary):
    locked, _, _ = disassemble(binary)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        run = subprocess.run(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--dump-line=no",
                              f"--callgrind-out-file={out}", binary, "--bench"], capture_output=True, text=True)
        events = events_of(run.stderr)
        executed = parse_callgrind(out, os.path.realpath(binary), locked)
    total = sum(executed.values())
    print(f"{total} locked instructions in {events} events: {total / events:.2f} per event")
    by_function = collections.Counter()
    for addr, n in executed.items():
        by_function[locked[addr][0]] += n
    print("\nper event, by function:")
    for f, n in by_function.most_common(25):
        print(f"  {n / events:5.2f}  {f[:110]}")
    print("\nper event, by instruction (source line, inlined callers after <):")
    for addr, n in executed.most_common(40):
        where = subprocess.run(["addr2line", "-C", "-i", "-e", binary, hex(addr)], capture_output=True,
                               text=True).stdout.splitlines()
        where = [w.split(" (")[0].replace(os.getcwd() + "/", "") for w in where if "/rustc/" not in w]
        print(f"  {n / events:5.2f}  {locked[addr][1][:30]:30}  {' < '.join(where[:4])}")


def parse_callgrind(path, binary, locked):
    """Executions of each locked instruction of `binary` (callgrind's instruction-level
    output: positions may be relative, and a `calls=` line's cost line is inclusive)."""
    executed = collections.Counter()
    objects, current, pos, skip = {}, "", 0, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?", line)
            if m:
                if m.group(3):
                    objects[m.group(2)] = m.group(3)
                if m.group(1) == "ob":
                    current = objects.get(m.group(2), "")
                continue
            if line.startswith("calls="):
                skip = True
                continue
            if not line or line[0] not in "0123456789+-*":
                continue
            fields = line.split()
            p = fields[0]
            if p.startswith("0x"):
                pos = int(p, 16)
            elif p[0] == "+":
                pos += int(p[1:])
            elif p[0] == "-":
                pos -= int(p[1:])
            if skip:
                skip = False
                continue
            if os.path.realpath(current) == binary and pos in locked and len(fields) > 1:
                executed[pos] += int(fields[1])
    return executed


def perf(binary, runs):
    _, after, symbols = disassemble(binary)
    total = landed = 0
    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            data = os.path.join(d, f"perf.{i}")
            subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "20000", "-o", data, binary, "--bench"],
                           capture_output=True, check=True)
            script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym,symoff,dso", "-G"],
                                    capture_output=True, text=True).stdout
            for line in script.splitlines():
                line = line.strip()
                if not line:
                    continue
                total += 1
                m = re.match(r"[0-9a-f]+ (.*)\+0x([0-9a-f]+) \((.*)\)$", line)
                if m and os.path.realpath(m.group(3)) == os.path.realpath(binary) and m.group(1) in symbols:
                    if symbols[m.group(1)] + int(m.group(2), 16) in after:
                        landed += 1
    print(f"{landed} of {total} samples ({100 * landed / max(total, 1):.1f} %) fall on the instruction after "
          f"a locked one ({runs} runs)")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("count", "perf"):
        sys.exit(__doc__)
    if sys.argv[1] == "count":
        count(sys.argv[2])
    else:
        perf(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 6)


if __name__ == "__main__":
    main()
