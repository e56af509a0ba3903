"""Operands of any width on PEs of one width: slices for wider ones, lanes for narrower ones.

The PEs take ``act_bits`` × ``weight_bits`` words. A GEMM declares its operands' widths
(:class:`Precision`, default: the array's) and :func:`mode_for` maps them onto the PEs:

* **slices** (wider operands, up to 16 bits): ``v = Σ slice_i · 2^shift_i`` with PE-wide
  slices, all unsigned but the top one (which keeps the operand's sign). Each pair of an
  activation slice and a weight slice is one *pass*; the passes' sums are added shifted left
  by the pair's shifts, in the accumulators (ws/is: the accumulator SRAM's adder; os: the PE's
  own sum, by Horner's rule). 8×16 is 2 passes, 16×16 4, as TPU v1 runs them.
* **lanes** (narrower operands): a PE word of p bits holds ``lanes`` fields of p/lanes bits and
  the PE adds the lanes' products (a sum-together multiplier; with one-bit fields, XNOR and
  popcount), so the reduction dimension shrinks ``lanes`` times. Both operands must be narrow:
  a PE's streamed and stationary words each hold one field per lane.
* a one-bit field is binary {-1, +1} (bit set: +1); wider fields are read signed or unsigned
  per pass (the PEs sign- or zero-extend), which is what lets a signed array run the unsigned
  lower slices.

What a PE does with its two words for one product is an :class:`Op`, sent with every streamed
row as a small integer tag; tag 0 is the array's native operation, so a GEMM at the array's own
widths streams the same words and tags as an array without any of this.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from tpu.config import ArrayConfig
from tpu.errors import ShapeError

LANE_CHOICES = (1, 2, 4, 8, 16)
MAX_OPERAND_BITS = 16


@dataclass(frozen=True)
class Precision:
    """Declared operand widths of a GEMM (1 bit: binary {-1, +1}, which must be signed)."""

    act_bits: int
    weight_bits: int
    act_signed: bool = True
    weight_signed: bool = True

    def __post_init__(self):
        for name in ("act", "weight"):
            bits = getattr(self, f"{name}_bits")
            if isinstance(bits, bool) or not isinstance(bits, int | np.integer) \
                    or not 1 <= bits <= MAX_OPERAND_BITS:
                raise ShapeError(f"{name}_bits must be an integer in 1..{MAX_OPERAND_BITS}, got {bits!r}")
            if bits == 1 and not getattr(self, f"{name}_signed"):
                raise ShapeError(f"1-bit {name} operands are binary {{-1, +1}}: they are signed")

    @classmethod
    def native(cls, array: ArrayConfig) -> Precision:
        return cls(array.act_bits, array.weight_bits, array.act_signed, array.weight_signed)

    @classmethod
    def of(cls, array: ArrayConfig, act_bits=None, weight_bits=None, act_signed=None,
           weight_signed=None) -> Precision:
        """The array's widths with some of them overridden."""
        return cls(
            array.act_bits if act_bits is None else act_bits,
            array.weight_bits if weight_bits is None else weight_bits,
            array.act_signed if act_signed is None else act_signed,
            array.weight_signed if weight_signed is None else weight_signed)

    def operand(self, name: str) -> tuple[int, bool]:
        return getattr(self, f"{name}_bits"), getattr(self, f"{name}_signed")

    @property
    def label(self) -> str:
        return f"W{self.weight_bits}A{self.act_bits}"


@dataclass(frozen=True)
class Slice:
    """One PE-wide part of an operand: ``(v >> shift)``, masked to ``bits`` unless it is the
    top slice (which keeps the sign); ``signed`` is how the PEs read it."""

    shift: int
    bits: int
    signed: bool
    top: bool

    def take(self, v: np.ndarray) -> np.ndarray:
        part = v >> self.shift
        return part if self.top else part & ((1 << self.bits) - 1)


@dataclass(frozen=True)
class Mode:
    """How one GEMM's operands map onto the PEs (see the module docstring)."""

    precision: Precision
    lanes: int
    act: tuple[Slice, ...]
    weight: tuple[Slice, ...]
    act_field: int  # bits per lane in an activation word
    weight_field: int

    @property
    def passes(self) -> int:
        return len(self.act) * len(self.weight)

    def packed(self, k: int) -> int:
        """Reduction length the array sees: ``k`` values, ``lanes`` to a word."""
        return -(-k // self.lanes)

    def describe(self) -> dict:
        """What ran, for reports."""
        return {"act_bits": self.precision.act_bits, "weight_bits": self.precision.weight_bits,
                "act_slices": len(self.act), "weight_slices": len(self.weight),
                "passes": self.passes, "lanes": self.lanes}


def supported_lanes(array: ArrayConfig) -> tuple[int, ...]:
    """Lane counts the PEs implement: every power of two dividing both PE widths."""
    if array.format != "int" or not array.packing:
        return (1,)
    return tuple(n for n in LANE_CHOICES
                 if array.act_bits % n == 0 and array.weight_bits % n == 0
                 and n <= min(array.act_bits, array.weight_bits))


def _slices(bits: int, signed: bool, width: int) -> tuple[Slice, ...]:
    count = -(-bits // width)
    out = [Slice(width * i, width, False, False) for i in range(count - 1)]
    out.append(Slice(width * (count - 1), bits - width * (count - 1), signed, True))
    return tuple(out)


def _fits(bits: int, signed: bool, field: int) -> bool:
    """A ``bits``-wide operand fits a field of ``field`` bits read signed/unsigned/binary."""
    if field == 1:
        return bits == 1  # binary fields hold only binary operands
    return bits <= field if not (bits == 1 and signed) else True


def mode_for(array: ArrayConfig, precision: Precision | None = None) -> Mode:
    """Map declared operand widths onto the array; raise naming what the array cannot run."""
    p = precision or Precision.native(array)
    pe = {"act": array.act_bits, "weight": array.weight_bits}
    native = Precision.native(array)
    if array.format != "int":
        if p != native:
            raise ShapeError(f"the {array.format} array takes {array.format} operands; "
                             f"integer widths ({p.label}) need an integer array")
        one = (Slice(0, 16, True, True),)
        return Mode(p, 1, one, one, 16, 16)
    if p == native:
        return Mode(p, 1, (Slice(0, p.act_bits, p.act_signed, True),),
                    (Slice(0, p.weight_bits, p.weight_signed, True),), pe["act"], pe["weight"])
    for name in ("act", "weight"):
        bits, signed = p.operand(name)
        if pe[name] == 1 and bits != 1:
            raise ShapeError(f"the array's {name} PEs are binary (1 bit): they take only binary "
                             f"{name} operands, not {bits}-bit ones")
    wide = any(p.operand(n)[0] > pe[n] for n in pe)
    lanes = 1
    if not wide:
        for n in supported_lanes(array):
            if all(_fits(*p.operand(name), pe[name] // n) for name in pe):
                lanes = n
    slices = {}
    for name in pe:
        bits, signed = p.operand(name)
        field = pe[name] // lanes
        if bits > pe[name]:
            slices[name] = _slices(bits, signed, pe[name])
        elif field == 1 or bits == 1:
            slices[name] = (Slice(0, 1, True, True),)  # binary values, read as ±1
        else:
            slices[name] = (Slice(0, bits, signed, True),)
    mode = Mode(p, lanes, slices["act"], slices["weight"], pe["act"] // lanes, pe["weight"] // lanes)
    if not array.multi_precision:
        # a plain array runs narrower operands of its own signedness one per PE, nothing else
        flips = any(s.signed != native.operand(name)[1] and pe[name] > 1
                    for name, ss in (("act", mode.act), ("weight", mode.weight)) for s in ss)
        if mode.passes > 1 or flips:
            raise ShapeError(
                f"{p.label} ({'signed' if p.act_signed else 'unsigned'} activations, "
                f"{'signed' if p.weight_signed else 'unsigned'} weights) does not run on this "
                f"array's {native.label} PEs without slicing or sign modes; set "
                f"array.multi_precision = true")
    return mode


# ---- the tag a streamed row carries: how the PEs read their words ---------------------------

@dataclass(frozen=True)
class Op:
    """One PE product: ``lanes`` fields per word, the first ``lanes - skip`` of them counted
    (binary fields cannot hold a zero, so padding is skipped rather than zeroed); ``x_flip`` /
    ``s_flip`` read the streamed / stationary field with the opposite signedness to the
    array's; ``shift`` (os only) first multiplies the PE's sum by 2^(x width) (1) or 2^(s
    width) (2): Horner's rule over slices."""

    lanes: int = 1
    skip: int = 0
    x_flip: bool = False
    s_flip: bool = False
    shift: int = 0

    def encode(self) -> int:
        return (self.lanes.bit_length() - 1) | self.skip << 3 | self.x_flip << 8 \
            | self.s_flip << 9 | self.shift << 10

    @staticmethod
    @cache
    def decode(tag: int) -> Op:
        tag = int(tag)
        return Op(1 << (tag & 7), (tag >> 3) & 31, bool(tag >> 8 & 1), bool(tag >> 9 & 1),
                  (tag >> 10) & 3)


TAG_BITS = 12


@dataclass(frozen=True)
class Roles:
    """The streamed (x) and stationary (s) operands' PE widths and native signedness (os: x is
    A, s is B). ``is`` streams weights: x is the weight operand there."""

    x_bits: int
    x_signed: bool
    s_bits: int
    s_signed: bool
    x_is_act: bool
    format: str = "int"

    @classmethod
    def of(cls, array: ArrayConfig) -> Roles:
        act, wgt = (array.act_bits, array.act_signed), (array.weight_bits, array.weight_signed)
        if array.dataflow == "is":
            return cls(*wgt, *act, False, array.format)
        return cls(*act, *wgt, True, array.format)

    def skips_padding(self, mode: Mode) -> bool:
        """Whether rows past a tile's reduction must be skipped rather than fed zeros: a binary
        field has no zero, and a float zero times a stale weight is a signed zero (or NaN)."""
        return self.format != "int" or self.x_bits // mode.lanes == 1 or self.s_bits // mode.lanes == 1


def fields(words: np.ndarray, width: int, lanes: int, signed: bool) -> np.ndarray:
    """The ``lanes`` values packed in each ``width``-bit word → shape (..., lanes) int64.
    One-bit fields are binary (1 → +1, 0 → −1); wider ones signed or unsigned."""
    f = width // lanes
    w = np.asarray(words, np.int64)[..., None] >> (f * np.arange(lanes, dtype=np.int64))
    w = w & np.int64((1 << f) - 1)
    if f == 1:
        return 2 * w - 1
    if signed:
        half = np.int64(1 << (f - 1))
        w = ((w + half) & np.int64((1 << f) - 1)) - half
    return w


def pack(values: np.ndarray, width: int, lanes: int) -> np.ndarray:
    """Inverse of :func:`fields` along the last axis: (..., k) values → (..., ceil(k/lanes))
    words. Padding lanes hold 0 (or −1 in binary fields: skipped by the PEs' ``skip``)."""
    v = np.asarray(values, np.int64)
    if lanes == 1 and width > 1:
        return v  # one value per word: the word is the value (as the native array streams it)
    f = width // lanes
    k = v.shape[-1]
    padded = np.zeros((*v.shape[:-1], -(-k // lanes) * lanes), np.int64)
    padded[..., :k] = (v + 1) // 2 if f == 1 else v & np.int64((1 << f) - 1)
    lanes_of = padded.reshape(*v.shape[:-1], -1, lanes)
    return (lanes_of << (f * np.arange(lanes, dtype=np.int64))).sum(axis=-1)


def pe_product(x_words: np.ndarray, s_words: np.ndarray, tags: np.ndarray, roles: Roles) -> np.ndarray:
    """What every PE adds this cycle: Σ over its counted lanes of x field · s field."""
    if not np.any(tags) and roles.x_bits > 1 and roles.s_bits > 1:
        return x_words * s_words  # native words are the values themselves
    out = np.zeros(np.broadcast_shapes(x_words.shape, s_words.shape), np.int64)
    for tag in np.unique(tags):
        op = Op.decode(tag)
        sel = tags == tag
        xw, sw = np.broadcast_to(x_words, out.shape)[sel], np.broadcast_to(s_words, out.shape)[sel]
        xf = fields(xw, roles.x_bits, op.lanes, roles.x_signed != op.x_flip)
        sf = fields(sw, roles.s_bits, op.lanes, roles.s_signed != op.s_flip)
        counted = op.lanes - op.skip
        out[sel] = np.sum(xf[..., :counted] * sf[..., :counted], axis=-1)
    return out


