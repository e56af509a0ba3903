"""Energy, area and bandwidth models on top of technology tables (tpu/cost/tables/*.toml)."""

from tpu.cost.area import (
    Area,
    area,
    fp_mac_area_um2,
    mac_area_um2,
    pe_area_um2,
    pe_register_bits,
    sram_area_mm2,
)
from tpu.cost.bandwidth import (
    attainable_macs_per_second,
    dram_bytes_per_second,
    peak_macs_per_second,
    ridge_macs_per_byte,
    roofline_seconds,
)
from tpu.cost.energy import (
    Counts,
    Energy,
    Operands,
    dram_energy_pj_per_bit,
    energy,
    fp_mac_energy_pj,
    int_add_energy_pj,
    int_mult_energy_pj,
    mac_energy_pj,
    register_energy_pj,
    sram_energy_pj,
)
from tpu.cost.tech import FP_FORMATS, Tech, available_tables, load_tech

__all__ = [
    "FP_FORMATS",
    "Area",
    "Counts",
    "Energy",
    "Operands",
    "Tech",
    "area",
    "attainable_macs_per_second",
    "available_tables",
    "dram_bytes_per_second",
    "dram_energy_pj_per_bit",
    "energy",
    "fp_mac_area_um2",
    "fp_mac_energy_pj",
    "int_add_energy_pj",
    "int_mult_energy_pj",
    "load_tech",
    "mac_area_um2",
    "mac_energy_pj",
    "pe_area_um2",
    "pe_register_bits",
    "peak_macs_per_second",
    "register_energy_pj",
    "ridge_macs_per_byte",
    "roofline_seconds",
    "sram_area_mm2",
    "sram_energy_pj",
]
