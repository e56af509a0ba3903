"""Silicon area and static (leakage) power from a technology table: MACs, PEs, SRAM buffers,
and the whole machine.

Both walk the same circuits: rows x cols PEs (product circuits, accumulating adder, pipeline
registers), the accumulators' shifters of a slicing ws/is array, and the three buffers as SRAM
macros (tpu.cost.buffers). The vector unit is in neither (it is costed per operation only).
Leakage is drawn for as long as the machine runs; tpu.cost.energy charges it per cycle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tpu.cost.buffers import buffers
from tpu.cost.tech import Tech, check_widths, load_tech

UM2_PER_MM2 = 1e6


def mac_area_um2(tech: Tech, act_bits: int, weight_bits: int, acc_bits: int) -> float:
    """An ``act_bits x weight_bits`` multiplier plus an ``acc_bits`` adder."""
    check_widths(act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    return tech.int_mult.area(act_bits * weight_bits) + tech.int_add.area(acc_bits)


def fp_mac_area_um2(tech: Tech, fmt: str, acc_fmt: str | None = None) -> float:
    return tech.fp_unit(fmt).mult_um2 + tech.fp_unit(acc_fmt or fmt).add_um2


def fp_mac_leakage_mw(tech: Tech, fmt: str, acc_fmt: str | None = None) -> float:
    return tech.fp_unit(fmt).mult_leakage_mw + tech.fp_unit(acc_fmt or fmt).add_leakage_mw


def pe_register_bits(array) -> int:
    """Register bits in one PE of the machine (docs/cost.md, "Area"), as the RTL builds it.

    ws/is: the streamed operand, two banks of the stationary operand (the next tile is written
    while the current one computes, as in TPU v1), the partial sum and the 1-bit bank tag that
    travels with the streamed value. os: both streamed operands, the running sum, its shadow
    (capture) register that drains while the next tile computes, and the first/last flags.
    Multi-precision, binary and float PEs also keep the streamed row's Op tag
    (``tpu.cost.pe.tag_bits``).
    """
    from tpu.cost.pe import tag_bits

    a = array
    if a.dataflow == "os":
        return a.act_bits + a.weight_bits + 2 * a.acc_bits + 2 + tag_bits(a)
    streamed, stationary = (a.act_bits, a.weight_bits) if a.dataflow == "ws" else (a.weight_bits, a.act_bits)
    return streamed + 2 * stationary + a.acc_bits + 1 + tag_bits(a)


# A 45 nm standard cell for turning yosys transistor counts into area: NanGate 45 nm
# NAND2_X1 is 0.798 µm² for 4 transistors. Logic only; routing and utilization not included.
UM2_PER_TRANSISTOR_45NM = 0.798 / 4


def _pe(tech: Tech, array, what: str) -> float:
    from tpu.cost.pe import product_cost

    r = tech.register
    per_bit = r.area_um2_per_bit if what == "area" else r.leakage_mw_per_bit
    return product_cost(tech, array, what) + pe_register_bits(array) * per_bit


def pe_area_um2(tech: Tech, array) -> float:
    """Product circuits (every lane count the PE implements) + adder + registers."""
    return _pe(tech, array, "area")


def pe_leakage_mw(tech: Tech, array) -> float:
    """Static power of the circuits ``pe_area_um2`` counts."""
    return _pe(tech, array, "leakage")


def sram_area_mm2(tech: Tech, size_bytes: int, width_bits: int) -> float:
    """One SRAM macro of ``size_bytes`` with a ``width_bits`` port (the table's fitted law)."""
    check_widths(size_bytes=size_bytes, width_bits=width_bits)
    return tech.sram.area_um2(size_bytes, width_bits) / UM2_PER_MM2


def sram_leakage_mw(tech: Tech, size_bytes: int, width_bits: int) -> float:
    """Static power of one SRAM macro (the table's fitted law)."""
    check_widths(size_bytes=size_bytes, width_bits=width_bits)
    return tech.sram.leakage_mw(size_bytes, width_bits)


@dataclass(frozen=True)
class Area:
    """Area in mm^2; ``total`` is array + sram."""

    array: float
    sram: float
    total: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "total", self.array + self.sram)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _machine(config, what: str) -> tuple[float, float]:
    """(array, sram) of the whole machine: um² (``what`` "area") or mW ("leakage")."""
    from tpu.cost.pe import accumulator_shifters

    tech = load_tech(config.tech.name)
    a = config.array
    array = a.rows * a.cols * _pe(tech, a, what) + accumulator_shifters(tech, a, what)
    law = tech.sram.area_um2 if what == "area" else tech.sram.leakage_mw
    sram = 0.0
    for b in buffers(config).values():
        check_widths(size_bytes=b.size_bytes, width_bits=b.port_bits)
        sram += law(b.size_bytes, b.port_bits)
    return array, sram


def area(config) -> Area:
    """Array = rows x cols PEs (+ the accumulators' shifters of a slicing ws/is array);
    sram = weight buffer + unified buffer + accumulators."""
    array, sram = _machine(config, "area")
    return Area(array=array / UM2_PER_MM2, sram=sram / UM2_PER_MM2)


def leakage_mw(config) -> float:
    """Static power (mW) of the machine ``area`` counts: every PE's circuits, the accumulators'
    shifters and the three buffers. The vector unit is not modelled (as in ``area``)."""
    return sum(_machine(config, "leakage"))
