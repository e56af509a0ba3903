"""Energy per operation from a technology table, and per layer from execution counts.

``energy(counts, config)`` charges what the execution actually did:

- mac: every PE operation (``pe_ops``, by lane count and field widths) x its product circuit +
  ``acc_bits`` adder (tpu.cost.pe); without ``pe_ops``, ``macs`` at the array's own widths
  (int multiplier ``act_bits x weight_bits`` + adder, or an fp16/bf16 multiplier + fp32 adder);
  sums shifted before an add (sliced operands) x a shifter (tpu.cost.pe.shift_energy_pj);
- register: PE pipeline-register writes (activation, weight, partial sum; the streamed operand
  with its Op tag) x bits x pJ/bit;
- sram: bytes read/written per operand x per-byte share of one port access of the buffer that
  holds it (weights: weight buffer; inputs/outputs: unified buffer; partial sums: accumulator
  SRAM), each buffer an SRAM of its capacity and port width (tpu.cost.buffers);
- dram: DRAM bytes x 8 x pJ/bit of ``memory.dram_type``;
- vector: the vector unit's element operations: ``alu`` an ``acc_bits`` integer add, ``mul`` an
  ``act_bits`` integer multiply, ``lut`` one read of a 2^act_bits-entry table (an SRAM of that
  size), ``fp`` one float32 operation (the mean of an fp32 add and multiply);
- leakage: the whole machine's static power (tpu.cost.area.leakage_mw: every PE, the
  accumulators' shifters, the three buffers) for the ``cycles`` the work took at ``clock.hz``
  (mW x ns = pJ). Without ``cycles`` (0), no leakage is charged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from tpu.cost.area import leakage_mw
from tpu.cost.buffers import buffers
from tpu.cost.tech import Tech, check_widths, load_tech
from tpu.errors import ConfigError


def int_mult_energy_pj(tech: Tech, act_bits: int, weight_bits: int) -> float:
    check_widths(act_bits=act_bits, weight_bits=weight_bits)
    return tech.int_mult.energy(act_bits * weight_bits)


def int_add_energy_pj(tech: Tech, bits: int) -> float:
    check_widths(bits=bits)
    return tech.int_add.energy(bits)


def mac_energy_pj(tech: Tech, act_bits: int, weight_bits: int, acc_bits: int) -> float:
    """One integer MAC: an ``act_bits x weight_bits`` multiply and an ``acc_bits`` add."""
    return int_mult_energy_pj(tech, act_bits, weight_bits) + int_add_energy_pj(tech, acc_bits)


def fp_mac_energy_pj(tech: Tech, fmt: str, acc_fmt: str | None = None) -> float:
    """One float MAC: a ``fmt`` multiply and an ``acc_fmt`` add (default: same format)."""
    return tech.fp_unit(fmt).mult_pj + tech.fp_unit(acc_fmt or fmt).add_pj


def register_energy_pj(tech: Tech, bits: int) -> float:
    """One write of a ``bits``-wide pipeline register."""
    check_widths(bits=bits)
    return bits * tech.register.energy_pj_per_bit


def sram_energy_pj(tech: Tech, size_bytes: int, width_bits: int, write: bool = False) -> float:
    """One access of a ``width_bits`` port to an SRAM of ``size_bytes`` (the table's fitted law)."""
    check_widths(size_bytes=size_bytes, width_bits=width_bits)
    s = tech.sram
    return s.write_pj(size_bytes, width_bits) if write else s.read_pj(size_bytes, width_bits)


def dram_energy_pj_per_bit(tech: Tech, dram_type: str) -> float:
    try:
        return tech.dram_pj_per_bit[dram_type]
    except KeyError:
        raise ConfigError(
            f"unknown dram_type {dram_type!r}; {tech.name} has {', '.join(tech.dram_pj_per_bit)}"
        ) from None


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class Operands:
    """Bytes per operand (weights, inputs, outputs)."""

    weights: int = 0
    inputs: int = 0
    outputs: int = 0

    def __post_init__(self):
        for f in fields(self):
            _check_count(f.name, getattr(self, f.name))

    @property
    def total(self) -> int:
        return self.weights + self.inputs + self.outputs

    def __add__(self, other: Operands) -> Operands:
        return Operands(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


_OPERAND_FIELDS = ("sram_reads", "sram_writes", "dram_bytes")


@dataclass(frozen=True)
class Counts:
    """What one layer's execution did; sum layers with ``+`` or ``sum(layers, Counts())``.

    Register counts are writes of the PE pipeline registers; SRAM and DRAM counts are bytes.
    ``accumulator_reads/writes`` are bytes of partial sums moved to/from the accumulator SRAM.
    Operand fields accept a mapping ``{"weights": .., "inputs": .., "outputs": ..}`` too.
    """

    macs: int = 0  # useful multiply-accumulates (m·k·n)
    weight_register_writes: int = 0
    act_register_writes: int = 0
    psum_register_writes: int = 0
    sram_reads: Operands = field(default_factory=Operands)
    sram_writes: Operands = field(default_factory=Operands)
    dram_bytes: Operands = field(default_factory=Operands)
    accumulator_reads: int = 0
    accumulator_writes: int = 0
    vector_alu: int = 0
    vector_mul: int = 0
    vector_lut: int = 0
    vector_fp: int = 0
    # PE operations by "lanes x act field x weight field" ("1x8x8": one int8 product, "2x4x4":
    # two 4-bit products summed, "8x1x1": eight XNORs counted); empty: ``macs`` native ones
    pe_ops: Mapping[str, int] = field(default_factory=dict)
    shifted_adds: int = 0  # sums shifted left before an add (sliced passes)
    cycles: int = 0  # machine cycles the work took: leakage is drawn for them

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "pe_ops":
                if not isinstance(value, Mapping):
                    raise TypeError(f"pe_ops must be a mapping, got {value!r}")
                for key, count in value.items():
                    _op_key(key)
                    _check_count(f"pe_ops[{key!r}]", count)
                object.__setattr__(self, f.name, MappingProxyType(dict(sorted(value.items()))))
            elif f.name in _OPERAND_FIELDS:
                if isinstance(value, Mapping):
                    object.__setattr__(self, f.name, Operands(**value))
                elif not isinstance(value, Operands):
                    raise TypeError(f"{f.name} must be Operands or a mapping, got {value!r}")
            else:
                _check_count(f.name, value)

    def __add__(self, other: Counts) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        ops = dict(self.pe_ops)
        for key, count in other.pe_ops.items():
            ops[key] = ops.get(key, 0) + count
        return Counts(**{f.name: ops if f.name == "pe_ops" else
                         getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __radd__(self, other):  # lets sum() start from 0
        return self if other == 0 else NotImplemented

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: dict(v) if k == "pe_ops" else (v.to_dict() if isinstance(v, Operands) else v)
                for k, v in d.items()}


def op_key(lanes: int, act_field: int, weight_field: int) -> str:
    return f"{lanes}x{act_field}x{weight_field}"


def _op_key(key: str) -> tuple[int, int, int]:
    try:
        lanes, act, weight = (int(v) for v in str(key).split("x"))
    except ValueError:
        raise ValueError(f"pe_ops key {key!r} is not 'lanes x act field x weight field'") from None
    return lanes, act, weight


@dataclass(frozen=True)
class Energy:
    """Energy in pJ by component; ``total`` is their sum."""

    mac: float = 0.0
    register: float = 0.0
    sram: float = 0.0
    dram: float = 0.0
    vector: float = 0.0
    leakage: float = 0.0
    total: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "total", sum(getattr(self, k) for k in self.components()))

    @classmethod
    def components(cls) -> tuple[str, ...]:
        """The parts ``total`` sums, in report order."""
        return tuple(f.name for f in fields(cls) if f.init)

    def __add__(self, other: Energy) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(*(getattr(self, k) + getattr(other, k) for k in self.components()))

    def __radd__(self, other):
        return self if other == 0 else NotImplemented

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _sram_pj_per_byte(tech: Tech, buffer, write: bool) -> float:
    # bytes move a whole port at a time; a partly filled port access costs a whole one, which
    # the byte counts (packed operands) do not see, so this is the per-byte share of a full one
    return sram_energy_pj(tech, buffer.size_bytes, buffer.port_bits, write) / (buffer.port_bits / 8)


def energy(counts: Counts, config) -> Energy:
    """Energy of ``counts`` on the machine ``config`` (a tpu.config.Config)."""
    from tpu.cost.pe import native_op, op_energy_pj, shift_energy_pj, tag_bits

    tech = load_tech(config.tech.name)
    a = config.array
    ops = {_op_key(k): v for k, v in counts.pe_ops.items()} or {native_op(a): counts.macs}
    mac = sum(n * op_energy_pj(tech, a, *op) for op, n in ops.items() if n)
    if counts.shifted_adds:
        mac += counts.shifted_adds * shift_energy_pj(tech, a)
    # the streamed operand (ws/os: activations, is: weights) carries the PEs' Op tag
    tag = tag_bits(a)
    act_tag, weight_tag = (0, tag) if a.dataflow == "is" else (tag, 0)
    register = (
        counts.act_register_writes * register_energy_pj(tech, a.act_bits + act_tag)
        + counts.weight_register_writes * register_energy_pj(tech, a.weight_bits + weight_tag)
        + counts.psum_register_writes * register_energy_pj(tech, a.acc_bits)
    )
    b = buffers(config)
    holds = {"weights": b["weights"], "inputs": b["unified"], "outputs": b["unified"]}
    sram = 0.0
    for operand, buffer in holds.items():
        sram += getattr(counts.sram_reads, operand) * _sram_pj_per_byte(tech, buffer, False)
        sram += getattr(counts.sram_writes, operand) * _sram_pj_per_byte(tech, buffer, True)
    sram += counts.accumulator_reads * _sram_pj_per_byte(tech, b["accumulators"], False)
    sram += counts.accumulator_writes * _sram_pj_per_byte(tech, b["accumulators"], True)
    dram = counts.dram_bytes.total * 8 * dram_energy_pj_per_bit(tech, config.memory.dram_type)
    # mW x ns = pJ
    leakage = leakage_mw(config) * counts.cycles / config.clock.hz * 1e9 if counts.cycles else 0.0
    return Energy(mac=mac, register=register, sram=sram, dram=dram,
                  vector=vector_energy(counts, config, tech), leakage=leakage)


def vector_op_energy_pj(tech: Tech, config) -> dict[str, float]:
    """pJ per element operation of each vector-unit class (see the module docstring)."""
    a = config.array
    fp32 = tech.fp_unit("fp32")
    table_bytes = max(1, (1 << a.act_bits) * a.act_bits // 8)
    return {"alu": int_add_energy_pj(tech, a.acc_bits),
            "mul": int_mult_energy_pj(tech, a.act_bits, a.act_bits),
            "lut": sram_energy_pj(tech, table_bytes, a.act_bits),
            "fp": (fp32.add_pj + fp32.mult_pj) / 2}


def vector_energy(counts: Counts, config, tech: Tech | None = None) -> float:
    ops = (counts.vector_alu, counts.vector_mul, counts.vector_lut, counts.vector_fp)
    if not any(ops):
        return 0.0
    per = vector_op_energy_pj(tech or load_tech(config.tech.name), config)
    return sum(n * per[k] for n, k in zip(ops, ("alu", "mul", "lut", "fp"), strict=True))
