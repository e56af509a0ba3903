"""Design parameters of the RTL, derived from a ``tpu`` config (one source of truth)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from amaranth.hdl import Shape, signed, unsigned

from tpu.array.precision import TAG_BITS, supported_lanes
from tpu.config import ArrayConfig, Config


def operand_shape(bits: int, is_signed: bool) -> Shape:
    return signed(bits) if is_signed else unsigned(bits)


@dataclass(frozen=True)
class PeModes:
    """The PE product modes of a multi-precision array (``tpu.array.precision.Op`` tags): the
    lane counts implemented and whether fields can be read with the other signedness."""

    lanes: tuple[int, ...] = (1,)
    flips: bool = False


@dataclass(frozen=True)
class ArrayParams:
    """What the RTL needs from ``[array]``.

    ``x`` is the operand streamed in from the left (ws: activations; is: weights, since ``is``
    streams Bᵀ; os: A's columns), ``s`` the other one (ws/is: the stationary tile; os: B's
    rows streamed from the top).
    """

    rows: int
    cols: int
    dataflow: str
    x_bits: int
    x_signed: bool
    s_bits: int
    s_signed: bool
    acc_bits: int
    acc_rows: int = 0  # rows per accumulator half (ws/is); 0: no accumulator memory
    lanes: tuple[int, ...] = (1,)  # lane counts the PEs implement (tpu.array.precision)
    flips: bool = False  # PEs read a field with the other signedness when its tag says so

    def __post_init__(self):
        if self.dataflow not in ("ws", "is", "os"):
            raise TypeError(f"dataflow must be 'ws', 'is' or 'os', not {self.dataflow!r}")
        for name in ("rows", "cols", "x_bits", "s_bits", "acc_bits"):
            if getattr(self, name) < 1:
                raise TypeError(f"{name} must be positive, not {getattr(self, name)!r}")

    @classmethod
    def from_config(cls, config: Config | ArrayConfig, *, acc_rows: int = 0) -> ArrayParams:
        a = config.array if isinstance(config, Config) else config
        act, wgt = (a.act_bits, a.act_signed), (a.weight_bits, a.weight_signed)
        x, s = (wgt, act) if a.dataflow == "is" else (act, wgt)
        return cls(a.rows, a.cols, a.dataflow, x[0], x[1], s[0], s[1], a.acc_bits, acc_rows,
                   supported_lanes(a), a.multi_precision)

    @property
    def stationary(self) -> bool:
        return self.dataflow != "os"

    @property
    def x_shape(self) -> Shape:
        return operand_shape(self.x_bits, self.x_signed)

    @property
    def s_shape(self) -> Shape:
        return operand_shape(self.s_bits, self.s_signed)

    @property
    def acc_shape(self) -> Shape:
        return signed(self.acc_bits)

    @property
    def modes(self) -> PeModes:
        """What the PEs' product logic implements (binary fields, lanes, sign modes)."""
        return PeModes(self.lanes, self.flips)

    @property
    def tag_shape(self) -> Shape:
        return unsigned(TAG_BITS)

    @property
    def shift_shape(self) -> Shape:
        """The accumulators' shift amount: up to both operands' top-slice shifts (16-bit
        operands on the narrowest PEs that slice them)."""
        if not self.flips:
            return unsigned(1)

        def top(bits: int) -> int:  # where the top slice of a 16-bit operand starts
            return bits * (-(-16 // bits) - 1)

        return unsigned(max(1, (top(self.x_bits) + top(self.s_bits)).bit_length()))

    @property
    def latency(self) -> int:
        """Cycles from a streamed vector entering to its result row leaving (ws, is)."""
        return self.rows + self.cols - 2

    def key(self) -> str:
        """A short stable hash naming this design (simulator cache directories)."""
        fields = asdict(self)
        fields["dataflow"] = "stationary" if self.stationary else "os"  # ws, is: same hardware
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
