"""Machine configuration: frozen dataclasses loaded from TOML (schema: docs/config.md).

Every dataclass validates itself in ``__post_init__`` so a ``Config`` that exists is a
machine that can be built. ``load_config`` accepts a preset name (``edge-32``) or a path.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tpu.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "configs"
DEFAULT_PRESET = "edge-32"
DATAFLOWS = ("ws", "os", "is")
DRAM_TYPES = ("ddr3", "ddr4", "lpddr", "lpddr4", "gddr5", "hbm2")
# Operand formats of the array: integers of act_bits/weight_bits (1 bit: binary {-1, +1}), or
# IEEE half / bfloat16 operands with fp32 accumulation (tpu.array.numerics).
FORMATS = ("int", "fp16", "bf16")


def _check_int(obj, name: str, lo: int, hi: int | None = None) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{name} must be {bound}, got {value}")


def _check_bool(obj, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class ArrayConfig:
    """The PE array. ``act_bits``/``weight_bits`` are the PEs' operand widths (1: binary
    {-1, +1}, an XNOR PE); with ``multi_precision`` the PEs also run wider operands in slices
    and either signedness, and with ``packing`` narrower ones several to a PE
    (tpu.array.precision). ``format`` "fp16"/"bf16" makes them float PEs (16-bit operands, fp32
    products and sums)."""

    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    act_bits: int = 8
    weight_bits: int = 8
    acc_bits: int = 32
    act_signed: bool = True
    weight_signed: bool = True
    multi_precision: bool = True
    packing: bool = True
    format: str = "int"

    def __post_init__(self):
        _check_int(self, "rows", 1, 4096)
        _check_int(self, "cols", 1, 4096)
        if self.dataflow not in DATAFLOWS:
            raise ConfigError(f"dataflow must be one of {', '.join(DATAFLOWS)}, got {self.dataflow!r}")
        _check_int(self, "act_bits", 1, 16)
        _check_int(self, "weight_bits", 1, 16)
        _check_int(self, "acc_bits", 4, 48)  # int64 sums of wrapped values stay exact
        _check_bool(self, "act_signed")
        _check_bool(self, "weight_signed")
        _check_bool(self, "multi_precision")
        _check_bool(self, "packing")
        if self.packing and not self.multi_precision:
            raise ConfigError("packing needs multi_precision = true (packed fields are read "
                              "signed or unsigned per GEMM); set packing = false")
        for name in ("act", "weight"):
            if getattr(self, f"{name}_bits") == 1 and not getattr(self, f"{name}_signed"):
                raise ConfigError(f"{name}_bits = 1 means binary {{-1, +1}} operands: "
                                  f"{name}_signed must be true")
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.format != "int":
            if (self.act_bits, self.weight_bits, self.acc_bits) != (16, 16, 32) or \
                    not (self.act_signed and self.weight_signed):
                raise ConfigError(f"format {self.format!r} takes 16-bit signed operands and fp32 "
                                  f"sums: set act_bits = weight_bits = 16, acc_bits = 32 and both "
                                  f"*_signed = true")
            return
        need = product_bits(self.act_bits, self.act_signed, self.weight_bits, self.weight_signed)
        if self.acc_bits < need:
            raise ConfigError(
                f"acc_bits ({self.acc_bits}) must hold one product of these operands as a signed "
                f"value: at least {need}"
            )

    def range(self, operand: str) -> tuple[int, int]:
        """Inclusive integer range of ``operand`` ("act", "weight" or "acc")."""
        bits = getattr(self, f"{operand}_bits")
        signed = True if operand == "acc" else getattr(self, f"{operand}_signed")
        return int_range(bits, signed)


def product_bits(a_bits: int, a_signed: bool, w_bits: int, w_signed: bool) -> int:
    """Signed width that holds every product of the two operand ranges."""
    (alo, ahi), (wlo, whi) = int_range(a_bits, a_signed), int_range(w_bits, w_signed)
    products = (alo * wlo, alo * whi, ahi * wlo, ahi * whi)
    return max(max(products).bit_length(), (-min(products) - 1).bit_length()) + 1


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Inclusive range of a ``bits``-wide integer; one signed bit is binary {-1, +1}."""
    if signed and bits == 1:
        return -1, 1
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


@dataclass(frozen=True)
class MemoryConfig:
    weight_buffer_bytes: int = 262144
    unified_buffer_bytes: int = 262144
    accumulator_bytes: int = 131072
    dram_bytes_per_cycle: int = 16
    dram_type: str = "lpddr4"

    def __post_init__(self):
        for name in ("weight_buffer_bytes", "unified_buffer_bytes", "accumulator_bytes"):
            _check_int(self, name, 1)
        _check_int(self, "dram_bytes_per_cycle", 1)
        if self.dram_type not in DRAM_TYPES:
            raise ConfigError(f"dram_type must be one of {', '.join(DRAM_TYPES)}, got {self.dram_type!r}")


@dataclass(frozen=True)
class ClockConfig:
    hz: float = 1.0e9

    def __post_init__(self):
        if (isinstance(self.hz, bool) or not isinstance(self.hz, int | float)
                or not 0 < self.hz < float("inf")):
            raise ConfigError(f"hz must be a positive number (a finite frequency in Hz), got {self.hz!r}")
        object.__setattr__(self, "hz", float(self.hz))


@dataclass(frozen=True)
class TechConfig:
    name: str = "horowitz45"

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a technology table name, got {self.name!r}")


@dataclass(frozen=True)
class VectorConfig:
    """The vector unit: the non-GEMM ops (elementwise, pooling, normalisation, lookups).

    ``lanes`` elements enter per cycle; each op class takes that many cycles per lane-wide
    step: ``alu`` (add, compare, max, select, integer requantize), ``mul`` (multiply),
    ``lut`` (a table lookup: quantized sigmoid, tanh, GELU ...), ``fp`` (one float32 op of a
    float island: LayerNorm, Softmax, ...)."""

    lanes: int = 32
    alu_cycles: int = 1
    mul_cycles: int = 1
    lut_cycles: int = 1
    fp_cycles: int = 4

    def __post_init__(self):
        _check_int(self, "lanes", 1, 65536)
        for name in ("alu_cycles", "mul_cycles", "lut_cycles", "fp_cycles"):
            _check_int(self, name, 1, 1024)


@dataclass(frozen=True)
class Config:
    array: ArrayConfig = field(default_factory=ArrayConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    tech: TechConfig = field(default_factory=TechConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)
    name: str = "custom"

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed. Keys are spelled as in the TOML file, ``section.key``
        (``cfg.replace(**{"memory.unified_buffer_bytes": 1 << 20, "tech.name": "aladdin40"})``);
        a bare key is an ``[array]`` field (``cfg.replace(rows=16, dataflow="os")``), and
        ``name`` renames the config. Raises ConfigError naming the key on an unknown key or a
        bad value."""
        sections: dict[str, dict[str, Any]] = {}
        name = changes.pop("name", self.name)
        for key, value in changes.items():
            section, key_ = split_key(key)
            sections.setdefault(section, {})[key_] = value
        parts = {}
        for section, values in sections.items():
            try:
                parts[section] = dataclasses.replace(getattr(self, section), **values)
            except ConfigError as exc:
                raise ConfigError(f"{section}.{exc}") from None
        return dataclasses.replace(self, **parts, name=name)

    def value(self, key: str) -> Any:
        """The value of ``section.key`` (or a bare ``[array]`` key)."""
        section, key_ = split_key(key)
        return getattr(getattr(self, section), key_)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SECTIONS = {"array": ArrayConfig, "memory": MemoryConfig, "clock": ClockConfig, "tech": TechConfig,
            "vector": VectorConfig}


def split_key(key: str) -> tuple[str, str]:
    """``"memory.dram_type"`` -> ("memory", "dram_type"); a bare key is an ``[array]`` key.
    Raises ConfigError naming the key when the section or the key does not exist."""
    section, _, name = key.rpartition(".") if isinstance(key, str) else ("", "", repr(key))
    section = section or "array"
    if section not in SECTIONS:
        raise ConfigError(f"unknown config key {key!r}: no section [{section}]; sections: "
                          f"{', '.join(SECTIONS)}")
    known = [f.name for f in fields(SECTIONS[section])]
    if name not in known:
        raise ConfigError(f"unknown config key {section}.{name}; [{section}] has {', '.join(known)}")
    return section, name


def config_from_dict(data: dict[str, Any], *, source: str = "<dict>", name: str = "custom") -> Config:
    """Build a Config from parsed TOML (or JSON, or a dict of sections); errors name ``source``
    and the offending key. A top-level ``name`` string names the config."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a config is a table of sections, got {type(data).__name__}")
    parts = {}
    for section, value in data.items():
        if section == "name":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{source}: name must be a non-empty string, got {value!r}")
            name = value
            continue
        if section not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{section}]; expected one of "
                f"{', '.join('[' + s + ']' for s in SECTIONS)}"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {section} must be a table [{section}]")
        cls = SECTIONS[section]
        known = {f.name for f in fields(cls)}
        for key in value:
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key {section}.{key}; expected one of {', '.join(sorted(known))}"
                )
        try:
            parts[section] = cls(**value)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {section}.{exc}") from None
    return Config(**parts, name=name)


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_config(spec: str | Path | dict | Config | None = None) -> Config:
    """A Config from a preset name (``"tpu-v1"``), a TOML file, a JSON file (a config, or a
    report written by the ``tpu`` command, whose ``config`` it takes), a dict of sections
    (validated as a file is), or a Config (passed through)."""
    if isinstance(spec, Config):
        return spec
    if spec is None:
        spec = DEFAULT_PRESET
    if isinstance(spec, dict):
        return config_from_dict(spec)
    if not isinstance(spec, str | Path):
        raise ConfigError(f"a config is a preset name, a file path, a dict or a Config; got "
                          f"{type(spec).__name__} {spec!r:.60}")
    path = Path(spec)
    try:
        if not path.suffix and not path.exists():
            preset = PRESET_DIR / f"{spec}.toml"
            if not preset.exists():
                raise ConfigError(
                    f"no config preset or file named {str(spec)!r}; presets: {', '.join(presets())}"
                )
            path = preset
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason} at byte {exc.start}); a config "
                          f"is a TOML file") from None
    except (OSError, ValueError) as exc:  # unreadable; a NUL byte or an over-long name
        raise ConfigError(f"{str(spec)!r:.200}: cannot read the config file ({exc})") from None
    if path.suffix.lower() == ".json":
        return _config_from_json(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, source=str(path), name=path.stem)


def _config_from_json(path: Path, text: str) -> Config:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and "schema_version" in data:  # a report: its resolved config
        data = data.get("config")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: this report holds no machine config")
    return config_from_dict(data, source=str(path), name=path.stem)
