"""Processing elements: one multiply-accumulate with its pipeline registers.

The register set mirrors ``tpu.array.cycle`` exactly (that model is the spec): a PE latches its
inputs at the end of the cycle it uses them, and its right/lower neighbour uses them the next
cycle.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class StationaryPE(wiring.Component):
    """ws/is PE: two stationary registers (banks) written through ``w_we``; the streamed
    operand and its bank tag pass right, the partial sum passes down (wrapping to acc_bits).

    ``x_in``/``bank_in`` are used in the cycle they arrive, and ``x_out``/``bank_out`` hold them
    for the neighbour; ``psum_out`` is ``psum_in + x_in · w[bank_in]``, registered.
    """

    def __init__(self, *, x_shape: Shape, w_shape: Shape, acc_bits: int):
        super().__init__({
            "x_in": In(x_shape), "bank_in": In(1), "psum_in": In(signed(acc_bits)),
            "w_we": In(2), "w_data": In(w_shape),
            "x_out": Out(x_shape), "bank_out": Out(1), "psum_out": Out(signed(acc_bits)),
        })
        self.w_shape = w_shape

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
            self.psum_out.eq(self.psum_in + self.x_in * weight),  # eq truncates: the wrap
        ]
        return m


class OutputStationaryPE(wiring.Component):
    """os PE: A moves right, B moves down, the sum stays; ``first`` restarts it, ``last``
    copies it into the shadow register, which shifts down while ``drain`` is high."""

    def __init__(self, *, a_shape: Shape, b_shape: Shape, acc_bits: int):
        super().__init__({
            "a_in": In(a_shape), "b_in": In(b_shape), "first_in": In(1), "last_in": In(1),
            "drain": In(1), "shadow_in": In(signed(acc_bits)),
            "a_out": Out(a_shape), "b_out": Out(b_shape), "first_out": Out(1), "last_out": Out(1),
            "shadow_out": Out(signed(acc_bits)),
        })
        self.acc_bits = acc_bits

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self.acc_bits))
        acc_next = Signal(signed(self.acc_bits))
        m.d.comb += acc_next.eq(Mux(self.first_in, 0, acc) + self.a_in * self.b_in)
        m.d.sync += [
            acc.eq(acc_next),
            Cat(self.a_out, self.b_out, self.first_out, self.last_out).eq(
                Cat(self.a_in, self.b_in, self.first_in, self.last_in)),
        ]
        with m.If(self.drain):
            m.d.sync += self.shadow_out.eq(self.shadow_in)
        with m.Elif(self.last_in):
            m.d.sync += self.shadow_out.eq(acc_next)
        return m
