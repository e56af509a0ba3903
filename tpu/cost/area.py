"""Silicon area from a technology table: MACs, PEs, SRAM buffers, and the whole machine."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tpu.cost.tech import Tech, check_widths, load_tech

UM2_PER_MM2 = 1e6


def mac_area_um2(tech: Tech, act_bits: int, weight_bits: int, acc_bits: int) -> float:
    """An ``act_bits x weight_bits`` multiplier plus an ``acc_bits`` adder."""
    check_widths(act_bits=act_bits, weight_bits=weight_bits, acc_bits=acc_bits)
    return tech.int_mult.area(act_bits * weight_bits) + tech.int_add.area(acc_bits)


def fp_mac_area_um2(tech: Tech, fmt: str, acc_fmt: str | None = None) -> float:
    return tech.fp_unit(fmt).mult_um2 + tech.fp_unit(acc_fmt or fmt).add_um2


def pe_register_bits(array) -> int:
    """Pipeline-register bits in one PE: activation, weight and partial sum, plus, for the
    weight-stationary dataflow, the shadow weight register that lets the next tile shift in
    while the current one computes (DESIGN §1, as in TPU v1)."""
    shadow = array.weight_bits if array.dataflow == "ws" else 0
    return array.act_bits + array.weight_bits + shadow + array.acc_bits


def pe_area_um2(tech: Tech, array) -> float:
    mac = mac_area_um2(tech, array.act_bits, array.weight_bits, array.acc_bits)
    return mac + pe_register_bits(array) * tech.register.area_um2_per_bit


def sram_area_mm2(tech: Tech, size_bytes: int) -> float:
    check_widths(size_bytes=size_bytes)
    s = tech.sram
    return size_bytes * 8 * s.bitcell_um2 / s.array_efficiency / UM2_PER_MM2


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


def area(config) -> Area:
    """Array = rows x cols PEs; sram = weight buffer + unified buffer + accumulators."""
    tech = load_tech(config.tech.name)
    a, m = config.array, config.memory
    array = a.rows * a.cols * pe_area_um2(tech, a) / UM2_PER_MM2
    sram = sum(
        sram_area_mm2(tech, size)
        for size in (m.weight_buffer_bytes, m.unified_buffer_bytes, m.accumulator_bytes)
    )
    return Area(array=array, sram=sram)
