"""The instruction stream (docs/machine.md, "The instruction set"), readable as text (``Program.asm()``).

Instructions name the unit that executes them and the instructions they wait for; the
executor times them on a scoreboard (one queue per unit, in program order), so DMA, the
matrix unit and the activation unit overlap exactly as far as the dependencies allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNITS = {
    "READ_HOST": "dma", "READ_WEIGHTS": "dma", "WRITE_HOST": "dma",
    "MATMUL": "mxu", "ACTIVATE": "act", "VECTOR": "act", "HOST": "host", "SYNC": "host",
}


@dataclass(frozen=True)
class Instr:
    op: str
    layer: int
    deps: tuple[int, ...] = ()
    nbytes: int = 0  # DMA transfers
    operand: str = ""  # "inputs", "weights" or "outputs" for DMA accounting
    duration: int = 0  # cycles on its unit (DMA: derived from bytes at run time)
    args: str = ""  # human-readable operands
    # MATMUL: the sub-GEMM it runs: rows [m0, m1) of the layer, columns [n0, n1), K [k0, k1)
    group: int = 0
    m: tuple[int, int] = (0, 0)
    n: tuple[int, int] = (0, 0)
    k: tuple[int, int] = (0, 0)
    accumulate: bool = False

    @property
    def unit(self) -> str:
        return UNITS[self.op]


@dataclass(frozen=True, eq=False)
class Program:
    """Layers in order and the flat instruction list they compiled to."""

    name: str
    batch: int
    config: object
    layers: tuple = ()
    instrs: tuple[Instr, ...] = ()
    notes: dict = field(default_factory=dict)

    def asm(self) -> str:
        a = self.config.array
        lines = [
            f"; program {self.name}: batch {self.batch} on {a.rows}x{a.cols} {a.dataflow} "
            f"({self.config.name}), {len(self.instrs)} instructions",
        ]
        current = None
        for i, ins in enumerate(self.instrs):
            if ins.layer != current:
                current = ins.layer
                layer = self.layers[current]
                lines.append(f"\n; layer {current} {layer.name} ({layer.op}) {layer.describe()}")
            deps = f"  ; after {','.join(map(str, ins.deps))}" if ins.deps else ""
            lines.append(f"{i:5d}  {ins.op:<12} {ins.args}{deps}")
        return "\n".join(lines) + "\n"
