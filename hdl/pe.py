"""Processing elements: one multiply-accumulate with its pipeline registers.

The register set mirrors ``tpu.array.cycle`` exactly (that model is the spec): a PE latches its
inputs at the end of the cycle it uses them, and its right/lower neighbour uses them the next
cycle. The streamed operand carries an Op tag (``tpu.array.precision``) that says how the PE
reads its two words: how many lanes they hold, how many of them count, and whether a field is
read with the other signedness; one-bit fields are binary and multiply by XNOR.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.params import PeModes
from tpu.array.precision import TAG_BITS


def _field(word: Value, width: int, lane: int, lanes: int, is_signed: bool, flip: Value) -> Value:
    """Lane ``lane`` of a ``width``-bit word holding ``lanes`` fields, as a signed value."""
    f = width // lanes
    raw = word.as_unsigned()[f * lane : f * (lane + 1)]
    if f == 1:
        return Mux(raw, 1, -1)  # binary: bit set is +1
    return Mux(flip ^ is_signed, raw.as_signed(), raw.as_unsigned())


def product(m: Module, x: Value, s: Value, mode: Value, modes: PeModes) -> Value:
    """What the PE adds: Σ over the counted lanes of x field · s field (tag ``mode``).

    One sum of products per implemented lane count (selected by the tag), each lane gated by
    the tag's skip count; binary×binary lanes are XNORs counted as ±1 (popcount)."""
    xw, sw = Shape.cast(x.shape()), Shape.cast(s.shape())
    if modes.lanes == (1,) and not modes.flips and xw.width > 1 and sw.width > 1:
        return x * s  # a plain PE: the array's own operands only
    lanes_log2, skip = mode[0:3], mode[3:8]
    x_flip, s_flip = (mode[8], mode[9]) if modes.flips else (Const(0), Const(0))
    out = Signal(signed(xw.width + sw.width + 6), name="product")
    with m.Switch(lanes_log2):
        for n in modes.lanes:
            with m.Case(n.bit_length() - 1):
                terms = []
                for lane in range(n):
                    if xw.width // n == 1 and sw.width // n == 1:
                        same = ~(x.as_unsigned()[lane] ^ s.as_unsigned()[lane])  # XNOR
                        term = Mux(same, 1, -1)
                    else:
                        term = _field(x, xw.width, lane, n, xw.signed, x_flip) * \
                            _field(s, sw.width, lane, n, sw.signed, s_flip)
                    terms.append(Mux(skip < n - lane, term, 0))
                total = terms[0]
                for t in terms[1:]:
                    total = total + t
                m.d.comb += out.eq(total)
    return out


PLAIN = PeModes()  # the array's own operands only


def tag_mask(x_shape, s_shape, modes: PeModes) -> int:
    """The tag bits a PE reads and passes on (what tpu.cost.pe.tag_bits charges): all of them
    on a multi-precision array, the skip count on a binary one, none on a plain array."""
    if modes.flips:
        return (1 << TAG_BITS) - 1
    if min(Shape.cast(x_shape).width, Shape.cast(s_shape).width) == 1:
        return 0b11111 << 3
    return 0


class StationaryPE(wiring.Component):
    """ws/is PE: two stationary registers (banks) written through ``w_we``; the streamed
    operand with its bank and Op tags pass right, the partial sum passes down (wrapping to
    acc_bits).

    ``x_in``/``bank_in``/``mode_in`` are used in the cycle they arrive, and the ``*_out`` hold
    them for the neighbour; ``psum_out`` is ``psum_in + product(x_in, w[bank_in], mode_in)``,
    registered.
    """

    def __init__(self, *, x_shape: Shape, w_shape: Shape, acc_bits: int, modes: PeModes = PLAIN):
        super().__init__({
            "x_in": In(x_shape), "bank_in": In(1), "psum_in": In(signed(acc_bits)),
            "w_we": In(2), "w_data": In(w_shape), "mode_in": In(unsigned(TAG_BITS)),
            "x_out": Out(x_shape), "bank_out": Out(1), "psum_out": Out(signed(acc_bits)),
            "mode_out": Out(unsigned(TAG_BITS)),
        })
        self.w_shape = w_shape
        self.modes = modes

    def elaborate(self, platform):
        m = Module()
        banks = [Signal(self.w_shape, name=f"w{b}") for b in range(2)]
        for b, reg in enumerate(banks):
            with m.If(self.w_we[b]):
                m.d.sync += reg.eq(self.w_data)
        weight = Mux(self.bank_in, banks[1], banks[0])
        m.d.sync += [
            self.x_out.eq(self.x_in),
            self.bank_out.eq(self.bank_in),
            self.mode_out.eq(self.mode_in & tag_mask(self.x_in.shape(), self.w_shape, self.modes)),
            # eq truncates: the wrap
            self.psum_out.eq(self.psum_in + product(m, self.x_in, weight, self.mode_in, self.modes)),
        ]
        return m


class OutputStationaryPE(wiring.Component):
    """os PE: A (with the step's flags and Op tag) moves right, B moves down, the sum stays;
    ``first`` restarts it, a tag's Horner shift first multiplies it by 2^(A or B width) (sliced
    operands), ``last`` copies it into the shadow register, which shifts down while ``drain``
    is high."""

    def __init__(self, *, a_shape: Shape, b_shape: Shape, acc_bits: int, modes: PeModes = PLAIN):
        super().__init__({
            "a_in": In(a_shape), "b_in": In(b_shape), "first_in": In(1), "last_in": In(1),
            "drain": In(1), "shadow_in": In(signed(acc_bits)), "mode_in": In(unsigned(TAG_BITS)),
            "a_out": Out(a_shape), "b_out": Out(b_shape), "first_out": Out(1), "last_out": Out(1),
            "shadow_out": Out(signed(acc_bits)), "mode_out": Out(unsigned(TAG_BITS)),
        })
        self.acc_bits = acc_bits
        self.modes = modes
        self.widths = (Shape.cast(a_shape).width, Shape.cast(b_shape).width)

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.acc_bits))
        acc_next = Signal(signed(self.acc_bits))
        base = Mux(self.first_in, 0, acc)
        if self.modes.flips:  # Horner's rule over slices: shift by A's or B's width
            shift = self.mode_in[10:12]
            base = Mux(shift == 1, base << self.widths[0], Mux(shift == 2, base << self.widths[1], base))
        p = product(m, self.a_in, self.b_in, self.mode_in, self.modes)
        m.d.comb += acc_next.eq(base + p)
        mask = tag_mask(self.a_in.shape(), self.b_in.shape(), self.modes)
        m.d.sync += [
            acc.eq(acc_next),
            Cat(self.a_out, self.b_out, self.first_out, self.last_out, self.mode_out).eq(
                Cat(self.a_in, self.b_in, self.first_in, self.last_in, self.mode_in & mask)),
        ]
        with m.If(self.drain):
            m.d.sync += self.shadow_out.eq(self.shadow_in)
        with m.Elif(self.last_in):
            m.d.sync += self.shadow_out.eq(acc_next)
        return m
