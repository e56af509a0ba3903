"""Technology tables: TOML data files in ``tpu/cost/tables`` loaded into a frozen ``Tech``.

A table gives measured points; the model between and beyond them is:

- integer adders: energy and area piecewise linear in the width through the table's points,
  proportional to the width beyond the first/last point (adders grow linearly);
- integer multipliers: the same in the product ``a_bits * w_bits`` (an n x n point sits at n^2),
  so multipliers grow with the square of the width (Horowitz ISSCC 2014; Accelergy's Aladdin
  plug-in uses the same quadratic rule);
- SRAM read energy, write energy (per access of the port's width) and area: each a power law
  ``y = k * bytes**a * width_bits**b`` fitted by least squares (in logs) to the table's
  (capacity, port width) points, e.g. CACTI runs; the loader refuses a fit that does not grow
  with both capacity and width. SRAM leakage power is a power law fitted the same way with
  ``b >= 0`` imposed (least squares constrained: where the free fit's ``b`` is negative, the
  best fit with ``b = 0``): CACTI's leakage is the cells' and barely depends on the port, and a
  law that fell with the port would make a wider array leak less. It must grow with capacity.
- leakage (static) power in mW: a fourth column of every curve point (interpolated like energy
  and area), ``add_leakage_mw``/``mult_leakage_mw`` of a float unit, ``leakage_mw_per_bit`` of a
  register, a sixth column of every SRAM point.
- optional logic curves (``xnor``: x = bits of a bitwise XNOR; ``popcount``: x = inputs;
  ``shifter``: x = width of a barrel shifter): the multi-precision array's binary lanes and
  shifted sums; a table without them cannot cost those, and says so when asked.

Interpolating through every adder/multiplier point reproduces each published value exactly and
keeps the model monotone, since the loader requires points that increase.

``[tech] name`` in a config is a bundled table's name or the path of a TOML file with the same
schema (``load_tech("my_tech.toml")``); sections other than these are refused, so a table written
for a newer schema fails with the key named rather than being half read.
"""

from __future__ import annotations

import bisect
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tpu.config import DRAM_TYPES
from tpu.errors import ConfigError

TABLE_DIR = Path(__file__).parent / "tables"
FP_FORMATS = ("fp16", "bf16", "fp32")
LOGIC_UNITS = ("xnor", "popcount", "shifter")  # optional sections: [name] source + points
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _proportional_interp(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    """Piecewise linear through (xs, ys); proportional to x (through the origin) outside."""
    if x <= xs[0]:
        return ys[0] * x / xs[0]
    if x >= xs[-1]:
        return ys[-1] * x / xs[-1]
    i = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class CostCurve:
    """Energy (pJ), area (um^2) and leakage power (mW) of a unit against its cost driver ``x``."""

    xs: tuple[float, ...]
    energy_pj: tuple[float, ...]
    area_um2: tuple[float, ...]
    leakage_mw: tuple[float, ...]
    source: str

    def energy(self, x: float) -> float:
        return _proportional_interp(self.xs, self.energy_pj, x)

    def area(self, x: float) -> float:
        return _proportional_interp(self.xs, self.area_um2, x)

    def leakage(self, x: float) -> float:
        return _proportional_interp(self.xs, self.leakage_mw, x)


@dataclass(frozen=True)
class FpCost:
    add_pj: float
    add_um2: float
    add_leakage_mw: float
    mult_pj: float
    mult_um2: float
    mult_leakage_mw: float
    source: str


@dataclass(frozen=True)
class RegisterCost:
    energy_pj_per_bit: float
    area_um2_per_bit: float
    leakage_mw_per_bit: float
    source: str


@dataclass(frozen=True)
class PowerLaw:
    """``y = exp(log_k) * bytes**capacity_exp * width_bits**width_exp``."""

    log_k: float
    capacity_exp: float
    width_exp: float

    def __call__(self, size_bytes: float, width_bits: float) -> float:
        return math.exp(self.log_k + self.capacity_exp * math.log(size_bytes)
                        + self.width_exp * math.log(width_bits))

    @classmethod
    def fit(cls, sizes, widths, values, width_exp_at_least: float | None = None) -> PowerLaw:
        """Least squares in logs through (size, width, value) points; with
        ``width_exp_at_least``, the best fit whose width exponent is not below it (the objective
        is convex, so a free optimum below the bound has the constrained one on the bound)."""
        import numpy as np

        x = np.column_stack([np.ones(len(sizes)), np.log(sizes), np.log(widths)])
        y = np.log(values)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        if width_exp_at_least is not None and coef[2] < width_exp_at_least:
            b = width_exp_at_least
            ac, *_ = np.linalg.lstsq(x[:, :2], y - b * x[:, 2], rcond=None)
            coef = (*ac, b)
        return cls(*(float(c) for c in coef))


@dataclass(frozen=True)
class SramCost:
    """One SRAM macro against its capacity (bytes) and port width (bits): energy per access of
    the whole port, read or write, area and leakage power. ``points`` are the (bytes,
    width_bits, read_pj, write_pj, area_um2, leakage_mw) the laws were fitted to."""

    read: PowerLaw
    write: PowerLaw
    area: PowerLaw
    leakage: PowerLaw
    points: tuple[tuple[float, ...], ...]
    source: str

    def read_pj(self, size_bytes: float, width_bits: float) -> float:
        return self.read(size_bytes, width_bits)

    def write_pj(self, size_bytes: float, width_bits: float) -> float:
        return self.write(size_bytes, width_bits)

    def area_um2(self, size_bytes: float, width_bits: float) -> float:
        return self.area(size_bytes, width_bits)

    def leakage_mw(self, size_bytes: float, width_bits: float) -> float:
        return self.leakage(size_bytes, width_bits)


@dataclass(frozen=True)
class Tech:
    """One technology table. Use the functions in tpu.cost.energy / tpu.cost.area on it."""

    name: str
    node_nm: float
    description: str
    source: str
    path: str
    int_add: CostCurve  # x = adder width in bits
    int_mult: CostCurve  # x = a_bits * w_bits
    fp: Mapping[str, FpCost]
    register: RegisterCost
    sram: SramCost
    dram_pj_per_bit: Mapping[str, float]
    dram_source: str
    xnor: CostCurve | None = None  # x = bits
    popcount: CostCurve | None = None  # x = input bits
    shifter: CostCurve | None = None  # x = width in bits

    def logic(self, unit: str) -> CostCurve:
        """One of the optional logic curves, or an error naming the table and the section."""
        curve = getattr(self, unit)
        if curve is None:
            raise ConfigError(f"technology table {self.name!r} ({self.path}) has no [{unit}] "
                              f"section; add one to cost binary lanes and sliced sums")
        return curve

    def fp_unit(self, fmt: str) -> FpCost:
        if fmt not in FP_FORMATS:
            raise ConfigError(
                f"unknown float format {fmt!r}; expected one of {', '.join(FP_FORMATS)}"
            )
        return self.fp[fmt]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("fp", "dram_pj_per_bit")}
        d = {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in d.items()
             if v is not None}
        d["fp"] = {k: asdict(v) for k, v in self.fp.items()}
        d["dram_pj_per_bit"] = dict(self.dram_pj_per_bit)
        return d


def check_widths(**values: int) -> None:
    """Bit widths and sizes passed to the cost functions must be positive integers."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def available_tables(tables_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (tables_dir or TABLE_DIR).glob("*.toml"))


def is_table_path(name: str) -> bool:
    """A ``[tech] name`` that names a file (``my_tech.toml``, ``tables/x.toml``) rather than a
    bundled table."""
    return isinstance(name, str) and (name.endswith(".toml") or "/" in name or "\\" in name)


def load_tech(name: str, tables_dir: str | Path | None = None) -> Tech:
    """Load a bundled table by name (``"horowitz45"``; from ``tables_dir`` when given) or a
    user's table by path (``"my_tech.toml"``, relative to the working directory)."""
    if is_table_path(name):
        path = Path(name).resolve()
        return _load_file(path, path.stat().st_mtime_ns if path.is_file() else 0)
    if tables_dir is None:
        return _load_packaged(name)
    return _load(name, Path(tables_dir))


def table_digest(name: str) -> str:
    """SHA-256 of the table's text: what a result computed with it depends on (a user's file
    may change under the same path)."""
    import hashlib

    return hashlib.sha256(table_path(name).read_bytes()).hexdigest()


def table_path(name: str) -> Path:
    if is_table_path(name):
        path = Path(name).resolve()
        if not path.is_file():
            raise ConfigError(f"{name}: technology table file not found")
        return path
    load_tech(name)  # the error for an unknown name
    return TABLE_DIR / f"{name}.toml"


@cache
def _load_packaged(name: str) -> Tech:
    return _load(name, TABLE_DIR)


@cache
def _load_file(path: Path, mtime_ns: int) -> Tech:  # mtime: a rewritten file is read again
    if not path.is_file():
        raise ConfigError(f"{path}: technology table file not found")
    return _read(path, path.stem)


def _load(name: str, tables_dir: Path) -> Tech:
    path = tables_dir / f"{name}.toml"
    if not isinstance(name, str) or not _NAME.match(name) or not path.is_file():
        raise ConfigError(
            f"unknown technology table {name!r}; available: "
            f"{', '.join(available_tables(tables_dir)) or '(none)'}; or give the path of a "
            f"TOML table with the same schema (ending in .toml)"
        )
    return _read(path, name)


def _read(path: Path, name: str) -> Tech:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Reader(path).tech(name, data)


class _Reader:
    """Turns parsed TOML into a Tech; every error names the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key} {what}")

    def table(self, data: Mapping, key: str, allowed: set[str], prefix: str = "") -> Mapping:
        full = prefix + key
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.fail(full, "is missing or not a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            expected = ", ".join(sorted(allowed))
            raise self.fail(f"{full}.{unknown[0]}", f"is not a known key; expected {expected}")
        return value

    def string(self, data: Mapping, key: str, prefix: str = "") -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(prefix + key, "must be a non-empty string")
        return value

    def positive(self, data: Mapping, key: str, prefix: str = "") -> float:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.fail(prefix + key, f"must be a positive number, got {value!r}")
        return float(value)

    def points(self, data: Mapping, key: str, arity: int, prefix: str) -> list[tuple[float, ...]]:
        full = prefix + key
        rows = data.get(key)
        if not isinstance(rows, list) or not rows:
            raise self.fail(full, "must be a non-empty list of points")
        out = []
        for i, row in enumerate(rows):
            ok = isinstance(row, list) and len(row) == arity and all(
                isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in row
            )
            if not ok:
                what = f"must be a list of {arity} positive numbers, got {row!r}"
                raise self.fail(f"{full}[{i}]", what)
            out.append(tuple(float(v) for v in row))
        for i in range(1, len(out)):
            # Increasing points keep every interpolated cost monotone in the width/capacity.
            prev, cur = out[i - 1], out[i]
            if cur[0] <= prev[0] or any(b < a for a, b in zip(prev[1:], cur[1:], strict=True)):
                raise self.fail(f"{full}[{i}]", "must increase over the previous point")
        return out

    def sram(self, sec: Mapping) -> SramCost:
        columns = "[bytes, width_bits, read_pj, write_pj, area_um2, leakage_mw]"
        rows = sec.get("points")
        if not isinstance(rows, list) or len(rows) < 3:
            raise self.fail("sram.points", f"must be a list of at least 3 points {columns}")
        pts = []
        for i, row in enumerate(rows):
            if not (isinstance(row, list) and len(row) == 6 and all(
                    isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in row)):
                raise self.fail(f"sram.points[{i}]",
                                f"must be {columns}, six positive numbers, got {row!r}")
            pts.append(tuple(float(v) for v in row))
        sizes, widths = [p[0] for p in pts], [p[1] for p in pts]
        if len(set(sizes)) < 2 or len(set(widths)) < 2:
            raise self.fail("sram.points", "must span at least two capacities and two port widths "
                                           "(the model is fitted in both)")
        laws = {}
        for col, what in ((2, "read_pj"), (3, "write_pj"), (4, "area_um2"), (5, "leakage_mw")):
            leak = what == "leakage_mw"  # the port width barely matters: b >= 0 imposed
            law = PowerLaw.fit(sizes, widths, [p[col] for p in pts], 0.0 if leak else None)
            if law.capacity_exp <= 0 or law.width_exp < 0:
                raise self.fail("sram.points", f"must give a {what} that grows with capacity and port "
                                f"width (fitted exponents {law.capacity_exp:.3g}, {law.width_exp:.3g})")
            laws[what] = law
        return SramCost(laws["read_pj"], laws["write_pj"], laws["area_um2"], laws["leakage_mw"],
                        tuple(pts), self.string(sec, "source", "sram."))

    def curve(self, data: Mapping, key: str, square: bool) -> CostCurve:
        """Points [x, energy pJ, area um2, leakage mW]."""
        sec = self.table(data, key, {"source", "points"})
        pts = self.points(sec, "points", 4, f"{key}.")
        xs = tuple(p[0] ** 2 if square else p[0] for p in pts)
        source = self.string(sec, "source", f"{key}.")
        return CostCurve(xs, *(tuple(p[i] for p in pts) for i in (1, 2, 3)), source)

    def tech(self, name: str, data: Mapping) -> Tech:
        top = {"name", "node_nm", "description", "source", "int_add", "int_mult", "fp", "register",
               "sram", "dram", *LOGIC_UNITS}
        unknown = sorted(set(data) - top)
        if unknown:
            raise self.fail(unknown[0], f"is not a known key; expected {sorted(top)}")
        if not isinstance(data.get("name"), str) or data.get("name") != name:
            raise self.fail("name", f"must equal the file name {name!r}, got {data.get('name')!r}")

        fp_sec = self.table(data, "fp", set(FP_FORMATS))
        fp = {}
        for fmt in FP_FORMATS:
            p = f"fp.{fmt}."
            numbers = ("add_pj", "add_um2", "add_leakage_mw", "mult_pj", "mult_um2",
                       "mult_leakage_mw")
            sec = self.table(fp_sec, fmt, {"source", *numbers}, "fp.")
            fp[fmt] = FpCost(*(self.positive(sec, k, p) for k in numbers),
                             self.string(sec, "source", p))

        numbers = ("energy_pj_per_bit", "area_um2_per_bit", "leakage_mw_per_bit")
        reg = self.table(data, "register", {"source", *numbers})
        register = RegisterCost(*(self.positive(reg, k, "register.") for k in numbers),
                                self.string(reg, "source", "register."))

        sram = self.sram(self.table(data, "sram", {"source", "points"}))

        d = self.table(data, "dram", {"source", "pj_per_bit"})
        per_bit = self.table(d, "pj_per_bit", set(DRAM_TYPES), "dram.")
        dram = {t: self.positive(per_bit, t, "dram.pj_per_bit.") for t in DRAM_TYPES}

        return Tech(
            name=name,
            node_nm=self.positive(data, "node_nm"),
            description=self.string(data, "description"),
            source=self.string(data, "source"),
            path=str(self.path),
            int_add=self.curve(data, "int_add", square=False),
            int_mult=self.curve(data, "int_mult", square=True),
            fp=MappingProxyType(fp),
            register=register,
            sram=sram,
            dram_pj_per_bit=MappingProxyType(dram),
            dram_source=self.string(d, "source", "dram."),
            **{unit: self.curve(data, unit, square=False) for unit in LOGIC_UNITS if unit in data},
        )
