"""The machine's instruction set: one 512-bit word per instruction, fields by opcode.

Every word starts with the same header::

    op        4   opcode (OPCODES)
    wait_dma 18   start only when the DMA unit has completed at least this many instructions
    wait_mxu 18   ... the matrix unit ...
    wait_act 18   ... the activation unit ...
    tag      16   the compiler layer the instruction belongs to (logs, per-layer cycles)

followed by the opcode's fields (``FIELDS``), packed upwards from bit 80 in the order listed,
two's complement where marked signed. Each unit (DMA, matrix unit, activation unit) runs its
own instruction stream in order (the image holds three streams); the wait fields are the only
synchronisation, so an instruction never starts before what it depends on has completed, and
a unit starts its next instruction on the cycle after the previous one leaves its issue stage.

* ``READ_HOST`` / ``READ_WEIGHTS`` / ``WRITE_HOST`` (DMA): ``nbytes`` bytes between DRAM byte
  address ``dram`` and on-chip byte address ``chip`` of memory ``mem`` (UB, WB: the weight
  buffer, PARAM: the activation unit's per-column constants), ``bytes_per_cycle`` per beat.
* ``MATMUL`` (matrix unit): ``rows`` streamed vectors × ``k`` reduction × ``cols`` (≤ C)
  columns; weights row-major (k × cols) at weight-buffer address ``wb``; results into
  accumulator rows ``acc`` … ``acc + rows - 1`` (added when ``accumulate``). Streamed vector
  lane j of k-tile t is unified-buffer element ``pix + off(t·R + j)`` where ``pix`` walks the
  output pixels (im2col addressing, see :mod:`tpu.machine.model`), or ``pad`` outside the image.
* ``ACTIVATE`` (activation unit): ``rows`` accumulator rows from ``acc``, ``cols`` columns,
  bias + requantization (constants at PARAM byte ``param``; ``fp``: onnxruntime's float32
  scheme, else gemmlowp fixed point) + ReLU + saturation, written to the unified buffer at
  ``ub + r·stride``.
* ``SYNC`` (DMA stream): waits, moves nothing, completes in order with the DMA's beats; the
  assembler needs none (every instruction carries its own waits). ``HALT``: the unit stops; the
  cycle counter stops when all three have halted.
"""

from __future__ import annotations

from dataclasses import dataclass

WORD_BITS = 512
WORD_BYTES = WORD_BITS // 8
UNITS = ("dma", "mxu", "act")
OPCODES = {"HALT": 0, "SYNC": 1, "READ_HOST": 2, "READ_WEIGHTS": 3, "WRITE_HOST": 4,
           "MATMUL": 5, "ACTIVATE": 6}
OPNAMES = {v: k for k, v in OPCODES.items()}
UNIT_OF = {"READ_HOST": "dma", "READ_WEIGHTS": "dma", "WRITE_HOST": "dma", "MATMUL": "mxu",
           "ACTIVATE": "act"}
MEMS = {"ub": 0, "wb": 1, "param": 2}

HEADER = (("op", 4, False), ("wait_dma", 18, False), ("wait_mxu", 18, False),
          ("wait_act", 18, False), ("tag", 16, False))
HEADER_BITS = sum(w for _, w, _ in HEADER)

_DMA = (("dram", 32, False), ("chip", 24, False), ("nbytes", 24, False), ("mem", 2, False))
FIELDS: dict[str, tuple[tuple[str, int, bool], ...]] = {
    "HALT": (), "SYNC": (),
    "READ_HOST": _DMA, "READ_WEIGHTS": _DMA, "WRITE_HOST": _DMA,
    "MATMUL": (
        ("rows", 16, False), ("k", 16, False), ("cols", 13, False), ("wb", 24, False),
        ("acc", 16, False), ("accumulate", 1, False),
        # im2col: the streamed row's pixel (UB element of its window's corner) and its walk
        ("pix", 26, True), ("d_ox", 26, True), ("d_oy", 26, True), ("d_b", 26, True),
        ("ox", 13, False), ("oy", 13, False), ("wo", 13, False), ("ho", 13, False),
        ("x0", 13, True), ("y0", 13, True), ("x_reset", 13, True), ("y_reset", 13, True),
        ("stride", 5, False), ("w", 13, False), ("h", 13, False),
        # each reduction index k = (c, dy, dx) adds off(k); dx fastest
        ("kh", 5, False), ("kw", 5, False), ("dil", 5, False),
        ("e_dx", 26, True), ("e_dy", 26, True), ("e_c", 26, True), ("pad", 17, True),
    ),
    "ACTIVATE": (
        ("rows", 16, False), ("acc", 16, False), ("cols", 13, False), ("ub", 24, False),
        ("stride", 24, False), ("param", 20, False), ("zp", 17, True), ("act_min", 17, True),
        ("act_max", 17, True), ("relu", 1, False), ("fp", 1, False),
    ),
}
for _op, _f in FIELDS.items():
    assert HEADER_BITS + sum(w for _, w, _ in _f) <= WORD_BITS, _op


class EncodingError(ValueError):
    """A field value does not fit its width (an assembler bug or a too-large program)."""


@dataclass(frozen=True)
class Instr:
    """One machine instruction: opcode, wait thresholds, tag and the opcode's fields."""

    op: str
    waits: tuple[int, int, int] = (0, 0, 0)  # dma, mxu, act
    tag: int = 0
    fields: tuple[tuple[str, int], ...] = ()
    origin: int = -1  # the compiler Program instruction it implements (-1: none)

    def __getattr__(self, name):  # fields read as attributes: ins.rows
        for k, v in object.__getattribute__(self, "fields"):
            if k == name:
                return v
        raise AttributeError(name)

    @property
    def unit(self) -> str | None:
        return UNIT_OF.get(self.op)

    def text(self) -> str:
        w = ",".join(f"{u}>={n}" for u, n in zip(UNITS, self.waits, strict=True) if n)
        args = " ".join(f"{k}={v}" for k, v in self.fields)
        return f"{self.op:<12} {args}" + (f"  ; wait {w}" if w else "")


def make(op: str, *, waits=(0, 0, 0), tag: int = 0, origin: int = -1, **fields) -> Instr:
    names = [n for n, _, _ in FIELDS[op]]
    unknown = set(fields) - set(names)
    if unknown:
        raise EncodingError(f"{op} has no fields {sorted(unknown)}")
    return Instr(op, tuple(int(w) for w in waits), int(tag),
                 tuple((n, int(fields.get(n, 0))) for n in names), origin)


def _check(name: str, value: int, bits: int, signed: bool) -> int:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= value <= hi:
        raise EncodingError(f"field {name} = {value} does not fit {bits} "
                            f"{'signed' if signed else 'unsigned'} bits")
    return value & ((1 << bits) - 1)


def layout(op: str) -> list[tuple[str, int, int, bool]]:
    """``(name, offset, width, signed)`` of every field of ``op``, header first."""
    out, pos = [], 0
    for name, bits, signed in HEADER + FIELDS[op]:
        out.append((name, pos, bits, signed))
        pos += bits
    return out


def encode(ins: Instr) -> int:
    values = {"op": OPCODES[ins.op], "wait_dma": ins.waits[0], "wait_mxu": ins.waits[1],
              "wait_act": ins.waits[2], "tag": ins.tag, **dict(ins.fields)}
    word = 0
    for name, pos, bits, signed in layout(ins.op):
        word |= _check(name, values[name], bits, signed) << pos
    return word


def decode(word: int) -> Instr:
    op = OPNAMES.get(word & 0xF)
    if op is None:
        raise EncodingError(f"unknown opcode {word & 0xF}")
    values = {}
    for name, pos, bits, signed in layout(op):
        v = (word >> pos) & ((1 << bits) - 1)
        values[name] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return Instr(op, (values["wait_dma"], values["wait_mxu"], values["wait_act"]), values["tag"],
                 tuple((n, values[n]) for n, _, _ in FIELDS[op]))


def to_bytes(words: list[int]) -> bytes:
    return b"".join(w.to_bytes(WORD_BYTES, "little") for w in words)
