"""Delay lines: the input skew (lane i late by i cycles) and the output de-skew (the reverse)."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Module, Shape, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out


def delayed(m: Module, value: Value, cycles: int, *, name: str = "dly") -> Value:
    """``value`` late by ``cycles`` clock edges, through a chain of registers (reset to 0)."""
    for k in range(cycles):
        reg = Signal.like(value, name=f"{name}_{k}") if isinstance(value, Signal) else \
            Signal(value.shape(), name=f"{name}_{k}")
        m.d.sync += reg.eq(value)
        value = reg
    return value


class Skew(wiring.Component):
    """A bank of delay lines: lane ``i`` of ``o`` is lane ``i`` of ``i_`` late by ``delays[i]``.

    ``delays=range(n)`` is the input skew (a triangle of registers);
    ``delays=range(n-1, -1, -1)`` the output de-skew.
    """

    def __init__(self, *, shape: Shape, delays: Sequence[int]):
        self.delays = tuple(int(d) for d in delays)
        if not self.delays or min(self.delays) < 0:
            raise TypeError(f"delays must be non-negative and non-empty, not {delays!r}")
        layout = ArrayLayout(shape, len(self.delays))
        super().__init__({"i": In(layout), "o": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for lane, d in enumerate(self.delays):
            m.d.comb += self.o[lane].eq(delayed(m, self.i[lane], d, name=f"lane{lane}"))
        return m


def input_skew(shape: Shape, lanes: int) -> Skew:
    return Skew(shape=shape, delays=range(lanes))


def output_deskew(shape: Shape, lanes: int) -> Skew:
    return Skew(shape=shape, delays=range(lanes - 1, -1, -1))
