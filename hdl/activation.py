"""The activation unit: bias, gemmlowp fixed-point requantization, ReLU, saturation.

Per column c of a row of accumulators (docs/numerics.md, "Requantization"; bit-exact with
``tpu.quant.requant_fixed``)::

    x   = wrap32(acc + bias[c])
    s   = wrap32(x << max(shift[c], 0))
    h   = SRDHM(s, qm[c])                        # (s·qm + nudge) / 2^31, truncating; sat.
    r   = RDBPOT(h, max(-shift[c], 0))           # round half away from zero
    y   = clamp(r + zp, relu ? max(act_min, zp) : act_min, act_max)

Two pipeline stages (the 64-bit product is registered): a row entering on cycle t leaves
after clock edge t+1. Parameters are ports so one unit serves every layer.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed, unsigned
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
            "out_valid": Out(1), "out_data": Out(ArrayLayout(Shape.cast(out_shape), cols)),
        })

    def elaborate(self, platform):
        m = Module()
        valid_s1 = Signal(name="v1")
        m.d.sync += [valid_s1.eq(self.in_valid), self.out_valid.eq(valid_s1)]
        lo = Mux(self.relu & (self.zp > self.act_min), self.zp, self.act_min)
        for c in range(self.cols):
            prod, sat, right = _stage1(m, c, self.in_data[c], self.bias[c], self.qm[c],
                                       self.shift[c])
            r = _stage2(m, c, prod, sat, right)
            y = Signal(signed(34), name=f"y{c}")
            m.d.comb += y.eq(r + self.zp)
            clamped = Mux(y > self.act_max, self.act_max, Mux(y < lo, lo, y))
            m.d.sync += self.out_data[c].eq(clamped)
        return m


def _stage1(m: Module, c: int, acc, bias, qm, shift):
    """Bias, left shift, the 32×32 product (registered)."""
    x = Signal(signed(32), name=f"x{c}")
    s = Signal(signed(32), name=f"s{c}")
    left = Signal(unsigned(5), name=f"left{c}")
    m.d.comb += [
        x.eq(acc + bias),  # eq truncates: the int32 wrap
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
    nudged = Signal(signed(66), name=f"nudged{c}")
    m.d.comb += nudged.eq(prod + Mux(prod >= 0, Const(1 << 30), Const(1 - (1 << 30))))
    # C division by 2^31 truncates toward zero: bias negative values before the shift
    high = Signal(signed(32), name=f"high{c}")
    m.d.comb += high.eq(Mux(sat, INT32_MAX,
                            (nudged + Mux(nudged < 0, (1 << 31) - 1, 0)) >> 31))
    mask = Signal(unsigned(32), name=f"mask{c}")
    m.d.comb += mask.eq((Const(1, unsigned(33)) << right) - 1)
    rem = Signal(unsigned(32), name=f"rem{c}")
    threshold = Signal(unsigned(33), name=f"thr{c}")
    m.d.comb += [rem.eq(high.as_unsigned() & mask), threshold.eq((mask >> 1) + (high < 0))]
    r = Signal(signed(33), name=f"r{c}")
    m.d.comb += r.eq((high >> right) + (rem > threshold))
    return r
