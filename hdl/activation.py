"""The activation unit: bias, requantization, ReLU, saturation.

Per column c of a row of accumulators, two requantizations selected per row by ``fp``
(docs/numerics.md, "Requantization"):

* gemmlowp fixed point (``fp = 0``, bit-exact with ``tpu.quant.requant_fixed``)::

    x   = wrap32(acc + bias[c])
    s   = wrap32(x << max(shift[c], 0))
    h   = SRDHM(s, qm[c])                        # (s·qm + nudge) / 2^31, truncating; sat.
    r   = RDBPOT(h, max(-shift[c], 0))           # round half away from zero

* onnxruntime MLAS float32 (``fp = 1``, bit-exact with ``tpu.quant.requant_float``): ``qm[c]``
  holds the bits of the float32 multiplier M, and ``r = round_half_even(fp32(fp32(x) · M))``,
  done in integers: x to float32 (round to nearest even), the 24×24-bit significand product
  rounded to 24 bits, then to an integer. M must be a positive normal float32 (or +0).

and in both ``y = clamp(r + zp, relu ? max(act_min, zp) : act_min, act_max)``.

Two pipeline stages (the 64-bit product is registered): a row entering on cycle t leaves
after clock edge t+1. Parameters are ports so one unit serves every layer; all of them are
sampled with the row (``zp``/``act_min``/``act_max``/``relu`` are registered beside it).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
SHIFT_SHAPE = signed(6)  # TFLite shifts lie in [-31, 31]


class ActivationUnit(wiring.Component):
    def __init__(self, *, cols: int, acc_bits: int = 32, out_shape: Shape | None = None):
        if acc_bits > 32:
            raise TypeError(f"the activation unit requantizes int32 accumulators; acc_bits "
                            f"{acc_bits!r} is wider")
        out_shape = signed(8) if out_shape is None else out_shape
        self.cols, self.acc_bits, self.out_shape = cols, acc_bits, Shape.cast(out_shape)
        super().__init__(self.signature_for(cols=cols, acc_bits=acc_bits, out_shape=out_shape))

    @staticmethod
    def signature_for(*, cols: int, acc_bits: int, out_shape: Shape) -> wiring.Signature:
        word = signed(32)
        return wiring.Signature({
            "in_valid": In(1), "in_data": In(ArrayLayout(signed(acc_bits), cols)),
            "bias": In(ArrayLayout(word, cols)), "qm": In(ArrayLayout(word, cols)),
            "shift": In(ArrayLayout(SHIFT_SHAPE, cols)),
            "zp": In(word), "act_min": In(word), "act_max": In(word), "relu": In(1),
            "fp": In(1),
            "out_valid": Out(1), "out_data": Out(ArrayLayout(Shape.cast(out_shape), cols)),
        })

    def elaborate(self, platform):
        m = Module()
        valid_s1 = Signal(name="v1")
        m.d.sync += [valid_s1.eq(self.in_valid), self.out_valid.eq(valid_s1)]
        # the per-row scalars travel with the row, so back-to-back rows may change them
        zp, act_min, act_max, relu, fp = (Signal.like(v, name=f"{n}_s1") for n, v in (
            ("zp", self.zp), ("act_min", self.act_min), ("act_max", self.act_max),
            ("relu", self.relu), ("fp", self.fp)))
        m.d.sync += [zp.eq(self.zp), act_min.eq(self.act_min), act_max.eq(self.act_max),
                     relu.eq(self.relu), fp.eq(self.fp)]
        lo = Mux(relu & (zp > act_min), zp, act_min)
        for c in range(self.cols):
            x = Signal(signed(32), name=f"x{c}")
            m.d.comb += x.eq(self.in_data[c] + self.bias[c])  # eq truncates: the int32 wrap
            prod, sat, right = _stage1(m, c, x, self.qm[c], self.shift[c])
            r_fixed = _stage2(m, c, prod, sat, right)
            r_float = _float_stage2(m, c, *_float_stage1(m, c, x, self.qm[c]))
            y = Signal(signed(37), name=f"y{c}")
            m.d.comb += y.eq(Mux(fp, r_float, r_fixed) + zp)
            clamped = Mux(y > act_max, act_max, Mux(y < lo, lo, y))
            m.d.sync += self.out_data[c].eq(clamped)
        return m


def _stage1(m: Module, c: int, x, qm, shift):
    """Left shift, the 32×32 product (registered)."""
    s = Signal(signed(32), name=f"s{c}")
    left = Signal(unsigned(5), name=f"left{c}")
    m.d.comb += [
        left.eq(Mux(shift[-1], 0, shift)),
        s.eq(x << left),
    ]
    prod = Signal(signed(64), name=f"prod{c}")
    sat = Signal(name=f"sat{c}")
    right = Signal(unsigned(6), name=f"right{c}")
    m.d.sync += [
        prod.eq(s * qm),
        sat.eq((s == INT32_MIN) & (qm == INT32_MIN)),
        right.eq(Mux(shift[-1], -shift, 0)),
    ]
    return prod, sat, right


def _stage2(m: Module, c: int, prod, sat, right):
    """SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT."""
    # (prod ± 2^30) / 2^31 truncating toward zero equals floor((prod + 2^30) / 2^31) for
    # both signs, i.e. ((prod >> 30) + 1) >> 1: no value wider than 35 bits (a 65-bit
    # sum costs a simulator multi-word arithmetic every cycle)
    high = Signal(signed(32), name=f"high{c}")
    m.d.comb += high.eq(Mux(sat, INT32_MAX, ((prod >> 30) + 1) >> 1))
    mask = _low_ones(m, right, 32, f"mask{c}")
    rem = Signal(unsigned(32), name=f"rem{c}")
    threshold = Signal(unsigned(33), name=f"thr{c}")
    m.d.comb += [rem.eq(high.as_unsigned() & mask), threshold.eq((mask >> 1) + (high < 0))]
    r = Signal(signed(33), name=f"r{c}")
    m.d.comb += r.eq((high >> right) + (rem > threshold))
    return r


def _low_ones(m: Module, n, width: int, name: str):
    """``2^n - 1`` for ``0 ≤ n ≤ width``, as a ``width``-bit signal. A right shift of all ones:
    ``1 << n`` would be ``width + 2^len(n) - 1`` bits wide before truncation."""
    mask = Signal(width, name=name)
    m.d.comb += mask.eq(Const((1 << width) - 1, width) >> (width - n)[:width.bit_length()])
    return mask


def _round_shift(m: Module, value, n, width: int, name: str):
    """``value >> n`` rounded to nearest, ties to even (1 ≤ n ≤ len(value)), as a
    ``width``-bit signal."""
    w = value.shape().width
    mask = _low_ones(m, n, w, f"{name}_mask")
    q = Signal(width, name=f"{name}_q")
    rem = Signal(w, name=f"{name}_rem")
    half = Signal(w, name=f"{name}_half")
    m.d.comb += [q.eq(value >> n), rem.eq(value & mask), half.eq((mask >> 1) + 1)]
    out = Signal(width + 1, name=f"{name}_rne")
    m.d.comb += out.eq(q + ((rem > half) | ((rem == half) & q[0])))
    return out


def _float_stage1(m: Module, c: int, x, mbits):
    """fp32(x) (round to nearest even) times M's significand; the product is registered."""
    neg = Signal(name=f"fneg{c}")
    a = Signal(32, name=f"fa{c}")
    m.d.comb += [neg.eq(x < 0), a.eq(Mux(x < 0, -x, x))]
    p = Signal(5, name=f"fp{c}")  # the leading one of |x|
    lead = Const(0, 5)
    for i in range(32):
        lead = Mux(a[i], i, lead)
    m.d.comb += p.eq(lead)
    big = p > 23  # more than 24 significant bits: round
    rounded = _round_shift(m, a, (p - 23)[:4], 24, f"fx{c}")
    carry = big & rounded[24]  # rounding reached 2^24
    m1 = Signal(24, name=f"fm1_{c}")
    p1 = Signal(6, name=f"fp1_{c}")
    m.d.comb += [m1.eq(Mux(big, Mux(carry, 1 << 23, rounded), a << (23 - p)[:5])),
                 p1.eq(p + carry)]
    bits = Value.cast(mbits)
    e_m = bits[23:31]
    m2 = Cat(bits[:23], Const(1, 1))
    prod = Signal(48, name=f"fprod{c}")
    exp = Signal(10, name=f"fexp{c}")
    zero = Signal(name=f"fzero{c}")
    sign = Signal(name=f"fsign{c}")
    m.d.sync += [prod.eq(m1 * m2), exp.eq(p1 + e_m), zero.eq((a == 0) | (e_m == 0)),
                 sign.eq(neg)]
    return prod, exp, zero, sign


def _float_stage2(m: Module, c: int, prod, exp, zero, sign):
    """Round the product to 24 bits (nearest even), then to an integer (nearest even)."""
    top = prod[47]
    m3 = _round_shift(m, prod, 23 + top, 25, f"fm3_{c}")
    carry = m3[24]
    sig = Signal(24, name=f"fsig{c}")
    m.d.comb += sig.eq(Mux(carry, 1 << 23, m3))
    # value = sig · 2^e, e = exp - 173 + 23 + top + carry
    e = Signal(signed(12), name=f"fe{c}")
    m.d.comb += e.eq(exp - 150 + top + carry)
    n = Signal(6, name=f"fn{c}")
    m.d.comb += n.eq(Mux(e < -25, 25, -e))
    frac = _round_shift(m, Cat(sig, Const(0, 2)), n, 25, f"fint{c}")  # e < 0: round off bits
    limit = (1 << 33) - 1
    whole = Signal(34, name=f"fwhole{c}")
    m.d.comb += whole.eq(Mux(e > 9, limit, sig << e[:4]))
    mag = Signal(34, name=f"fmag{c}")
    m.d.comb += mag.eq(Mux(zero, 0, Mux(e < 0, Mux(e < -25, 0, frac), whole)))
    r = Signal(signed(35), name=f"fr{c}")
    m.d.comb += r.eq(Mux(sign, -mag, mag))
    return r
