#!/usr/bin/env python3
"""Write the seed corpus of the `flows` fuzz target to fuzz/seeds/flows/.

    python3 fuzz/seeds/flows.py

Deterministic: no randomness, the same files on every run. Each seed is a `Setup`
followed by `Step`s, encoded the way `arbitrary` 1.x decodes them (integers little-endian,
`bool` the low bit of a byte, `Option` a bool then the value, an enum variant a
little-endian u32 `x` with `(x * variants) >> 32` the variant's index). The variant
indices are read from fuzz_targets/flows.rs, so reordering the enums there keeps the
seeds right; a change of a variant's fields needs the matching change below.
"""

import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE.parent / "fuzz_targets" / "flows.rs"
OUT = HERE / "flows"


def variants(src, enum):
    """The variant names of `enum NAME { .. }` in declaration order."""
    body = re.search(r"\nenum " + enum + r" \{\n(.*?)\n\}", src, re.S).group(1)
    return re.findall(r"^    ([A-Z][A-Za-z0-9]*)\b", body, re.M)


SRC = TARGET.read_text()
ENUMS = {e: variants(SRC, e) for e in ("Step", "Payload", "Sel", "Lim", "Tier")}


def u8(v):
    return struct.pack("<B", v & 0xFF)


def i8(v):
    return struct.pack("<b", v)


def u16(v):
    return struct.pack("<H", v)


def i16(v):
    return struct.pack("<h", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def boolean(v):
    return u8(1 if v else 0)


def variant(enum, name):
    names = ENUMS[enum]
    i, n = names.index(name), len(names)
    return u32((i * 2**32 + n - 1) // n)


def option(v):
    return boolean(False) if v is None else boolean(True) + v


def setup(shift=0, cpus=1, ram_pages=64, pool=20, accept=90, zswap_off=False, synthetic=False,
          reclaim=0, tiers=0, swap_tiers=4):
    return (u8(shift) + u8(cpus) + u8(ram_pages) + u8(pool) + u8(accept) + boolean(zswap_off)
            + boolean(synthetic) + u8(reclaim) + u8(tiers) + u8(swap_tiers))


def payload(name, arg=None):
    enc = {"Compressible": u8, "Incompressible": u32, "Synthetic": u16, "Repeated": u8}
    return variant("Payload", name) + (enc[name](arg) if name in enc else b"")


def sel(recent=0):
    return variant("Sel", "Recent") + u8(recent)


def lim_pages(p):
    return variant("Lim", "Pages") + u8(p)


def step(name, *fields):
    return variant("Step", name) + b"".join(fields)


def reclaim(memcg, folio, page, order=0, evict=True):
    return step("Reclaim", u8(memcg), u16(folio), u8(order), page, boolean(evict))


def tier_add(name, start):
    return variant("Tier", "Add") + u8(name) + i16(start) + boolean(False)


def seeds():
    # Store, evict and fault back lz4-compressed pages, zero pages and an order-1 folio.
    yield "reclaim_fault", setup() + b"".join(
        [reclaim(0, i, payload("Compressible", 3 * i)) for i in range(6)]
        + [reclaim(0, 9, payload("Zero")), reclaim(0, 10, payload("Repeated", 7), order=1)]
        + [step("Fault", u8(0), sel(k), u16(100 + k), boolean(True)) for k in range(4)]
        + [step("Put", sel(0)), step("Release", sel(1))])
    # A memory device under a full pool: writeback, the worker, the shrinker, proactive.
    yield "writeback", setup(ram_pages=32, pool=10, reclaim=8) + b"".join(
        [step("Swapon", boolean(False), u8(32), i8(1))]
        + [reclaim(0, i, payload("Incompressible", i)) for i in range(8)]
        + [step("Writeback", sel(0)), step("Worker"), step("Tick", u8(5)), step("Shrink", u8(0), u8(4)),
           step("Proactive", u8(0), u8(8), u8(0)), step("Count", u8(0)),
           step("Fault", u8(0), sel(2), u16(77), boolean(True))])
    # A child memcg with small swap and zswap limits, then offlined with swapped pages.
    yield "memcg_limits", setup(ram_pages=48) + b"".join(
        [step("Swapon", boolean(True), u8(16), i8(0)), step("MemcgCreate", u8(0)),
         step("SwapMax", u8(1), lim_pages(3)), step("ZswapMax", u8(1), lim_pages(1)),
         step("SwapHigh", u8(1), lim_pages(2))]
        + [reclaim(1, i, payload("Compressible", i)) for i in range(6)]
        + [step("ZswapWriteback", u8(1), boolean(False)), reclaim(1, 20, payload("Compressible", 1)),
           step("MemcgOffline", u8(1)), step("Worker")])
    # Deflate tiers at 2 and 3 picked per memcg, then recompression of idle entries.
    yield "compression_tiers", setup(ram_pages=64, tiers=0b0001_1011) + b"".join(
        [step("MemcgCreate", u8(0)), step("ZswapCompressor", u8(1), u8(2))]
        + [reclaim(i % 2, i, payload("Compressible", 5 * i)) for i in range(6)]
        + [step("Tick", u8(9)),
           step("Recompress", u8(0), u8(2), u16(64), u8(4), u8(3)),
           step("Fault", u8(0), sel(1), u16(55), boolean(True))])
    # Two devices in two swap tiers ("lo" from -1, "hi" from 1), a memcg limited to one, writeback to its tier, swapoff.
    yield "swap_tiers", setup(ram_pages=16, pool=5) + b"".join(
        [step("Swapon", boolean(False), u8(8), i8(2)), step("Swapon", boolean(False), u8(8), i8(0)),
         step("SwapTiers", option(tier_add(0, 1)), option(tier_add(1, 3)), option(None)),
         step("MemcgCreate", u8(0)), step("SwapTierMax", u8(1), u8(0), boolean(False)),
         step("WritebackTier", u8(1), option(u8(1)))]
        + [reclaim(1, i, payload("Incompressible", 40 + i)) for i in range(6)]
        + [step("Writeback", sel(0)), step("Swapoff", u8(0)), step("Drain")])
    # Synthetic sizes, the proactive start and the protection LRU, with a writeback pause.
    yield "synthetic_proactive", setup(ram_pages=32, pool=25, accept=50, synthetic=True,
                                       reclaim=0b0010_0011) + b"".join(
        [step("Swapon", boolean(False), u8(24), i8(1))]
        + [reclaim(0, i, payload("Synthetic", 600 + 300 * i)) for i in range(8)]
        + [step("Tick", u8(4)), step("Worker"), step("Shrink", u8(0), u8(6))])


def main():
    OUT.mkdir(exist_ok=True)
    for name, data in seeds():
        (OUT / name).write_bytes(data)
        print(f"{OUT.relative_to(HERE.parent.parent)}/{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
