"""SCALE-Sim 3.0 compatibility: read its config and topology files, reproduce its compute report.

SCALE-Sim (``pip install scalesim==3.0.0``) runs a layer as a sequence of *folds*: the
operand matrices are cut into array-sized tiles and each tile runs to completion before the next
starts (no overlap, no stalls in its bandwidth-estimating ``CALC`` mode). It derives every figure
of its ``COMPUTE_REPORT.csv`` from demand matrices it builds cycle by cycle; here the same
figures come in closed form (docs/machine.md, "SCALE-Sim 3.0, in closed form"):

* a layer is a GEMM: ``M`` output pixels per filter (no padding, ``⌈(H−F+S)/S⌉`` per axis, so
  a last window overhanging the input by less than a stride still counts),
  ``N`` filters, ``K = Fh·Fw·C``;
* spatial/temporal mapping: os ``Sr=M, Sc=N, T=K``; ws ``Sr=K, Sc=N, T=M``; is ``Sr=K, Sc=M, T=N``;
* ``folds = ⌈Sr/R⌉·⌈Sc/C⌉``; fold length ``R+C+T−2`` (os) or ``2R+C+T−2`` (ws, is);
  ``cycles = folds·fold_length − 1`` ("Total Cycles"; "Stall Cycles" is 0);
* "Mapping Efficiency" is the mean over folds of used PEs / (R·C) = ``Sr·Sc / (R·C·folds)``;
* "Overall Util" is ``M·N·K / (cycles·R·C)``;
* "Compute Util" is the mean over folds of ``used·T / (R·C·L)`` where SCALE-Sim's per-fold ``L``
  is ``R+C+T−2`` (os) but ``2R+2C+T−3`` (ws, is), ``C−1`` more than the fold really lasts;
  we reproduce that quirk so the column matches.
* one MAC on a 1×1 os array takes 0 cycles, where SCALE-Sim divides by zero; we refuse it.

Fractions are exact rationals rounded once to float. SCALE-Sim computes "Overall Util" with one
true division (so our percentage is bit-identical) but averages the other two by a running float
sum over folds, which can differ from the exact value in the last bits.

File conventions reproduced from SCALE-Sim's ``topology_utils``: the first line is a header;
blank lines are skipped; each row ends with a comma; conv rows are
``name,H,W,FH,FW,C,N,stride[,N:M sparsity]``; GEMM rows (``--gemm``) are ``name,M,N,K[,N:M]``;
a conv layer whose name contains ``DP`` is depthwise and becomes one layer per channel, named
``<name>Channel_<i>`` with ``C = 1``. Where SCALE-Sim 3.0 would crash on or silently misread
a file (see ``parse_topology``) we read it or say what is wrong.
"""

from __future__ import annotations

import configparser
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from tpu import limits
from tpu.errors import ConfigError, ShapeError, TpuError

DATAFLOWS = ("os", "ws", "is")
CONV_FIELDS = ("name", "H", "W", "FH", "FW", "C", "N", "stride")
GEMM_FIELDS = ("name", "M", "N", "K")
LAYER_BYTES = 1024  # a Layer, its LayerTiming and its report row (for tpu.limits)


class TopologyError(TpuError):
    """A SCALE-Sim topology CSV is malformed."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------------------------------------
# Config (.cfg, INI)


@dataclass(frozen=True)
class ScaleSimConfig:
    """The parts of a SCALE-Sim config that fix the compute report, plus the memory knobs."""

    array_rows: int
    array_cols: int
    dataflow: str
    run_name: str = "scale_run"
    # SCALE-Sim's defaults (scale_config.__init__) for the keys a config may leave out.
    ifmap_sram_kb: int = 256
    filter_sram_kb: int = 256
    ofmap_sram_kb: int = 128
    ifmap_offset: int = 0
    filter_offset: int = 10000000
    ofmap_offset: int = 20000000
    read_request_buffer: int = 60
    write_request_buffer: int = 60
    interface_bandwidth: str = "CALC"
    bandwidths: tuple[int, ...] = ()
    source: str = "<config>"

    def __post_init__(self):
        for name in ("array_rows", "array_cols", "ifmap_sram_kb", "filter_sram_kb",
                     "ofmap_sram_kb", "read_request_buffer", "write_request_buffer"):
            _require_int(self, name, 1)
        for name in ("ifmap_offset", "filter_offset", "ofmap_offset"):
            _require_int(self, name, 0)
        _check_dataflow(self.dataflow)
        if self.interface_bandwidth not in ("CALC", "USER"):
            raise ConfigError(
                f"interface_bandwidth must be CALC or USER, got {self.interface_bandwidth!r}"
            )
        if any(not isinstance(b, int) or b < 1 for b in self.bandwidths):
            raise ConfigError(f"bandwidths must be positive integers, got {self.bandwidths!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "run_name": self.run_name,
            "array_rows": self.array_rows, "array_cols": self.array_cols,
            "dataflow": self.dataflow,
            "ifmap_sram_kb": self.ifmap_sram_kb, "filter_sram_kb": self.filter_sram_kb,
            "ofmap_sram_kb": self.ofmap_sram_kb,
            "interface_bandwidth": self.interface_bandwidth, "bandwidths": list(self.bandwidths),
        }


def _check_dataflow(dataflow: str) -> None:
    if dataflow not in DATAFLOWS:
        raise ConfigError(f"dataflow must be one of {', '.join(DATAFLOWS)}, got {dataflow!r}")


def _require_int(obj, name: str, lo: int) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise ConfigError(f"{name} must be an integer >= {lo}, got {value!r}")


# (section, key as SCALE-Sim's docs spell it, our field, lower bound); configparser keys are
# case-insensitive, as in SCALE-Sim.
_ARCH_INTS = (
    ("IfmapSramSzkB", "ifmap_sram_kb", 1),
    ("FilterSramSzkB", "filter_sram_kb", 1),
    ("OfmapSramSzkB", "ofmap_sram_kb", 1),
    ("IfmapOffset", "ifmap_offset", 0),
    ("FilterOffset", "filter_offset", 0),
    ("OfmapOffset", "ofmap_offset", 0),
    ("ReadRequestBuffer", "read_request_buffer", 1),
    ("WriteRequestBuffer", "write_request_buffer", 1),
)
_ARCH = "architecture_presets"


def parse_config(path: str | Path) -> ScaleSimConfig:
    """Read a SCALE-Sim ``.cfg``. Only ArrayHeight, ArrayWidth and Dataflow are required.

    SCALE-Sim 3.0 itself also insists on ``[layout]``, ``[sparsity]`` and ``[run_presets]``
    sections; configs written for 2.x lack them, so here they are optional. Sparsity (which
    changes the operand matrices) is not modelled and is refused when switched on.
    """
    path = Path(path)
    text = _read_text(path, "SCALE-Sim config")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not a valid SCALE-Sim config (INI) file: {detail}") from None

    def get(section: str, key: str) -> str | None:
        if parser.has_section(section) and parser.has_option(section, key):
            return parser.get(section, key).strip()
        return None

    def need(section: str, key: str) -> str:
        value = get(section, key)
        if value is None:
            raise ConfigError(f"{path}: [{section}] {key}: missing; SCALE-Sim needs it")
        return value

    def integer(section: str, key: str, raw: str, lo: int) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < lo:
            what = "a positive integer" if lo == 1 else f"an integer >= {lo}"
            raise ConfigError(f"{path}: [{section}] {key}: expected {what}, got {raw!r}")
        return value

    values: dict[str, Any] = {
        "array_rows": integer(_ARCH, "ArrayHeight", need(_ARCH, "ArrayHeight"), 1),
        "array_cols": integer(_ARCH, "ArrayWidth", need(_ARCH, "ArrayWidth"), 1),
    }
    dataflow = need(_ARCH, "Dataflow")
    if dataflow not in DATAFLOWS:
        raise ConfigError(
            f"{path}: [{_ARCH}] Dataflow: expected one of {', '.join(DATAFLOWS)} "
            f"(lower case, as SCALE-Sim compares it), got {dataflow!r}"
        )
    values["dataflow"] = dataflow
    for key, name, lo in _ARCH_INTS:
        raw = get(_ARCH, key)
        if raw is not None:
            values[name] = integer(_ARCH, key, raw, lo)
    run_name = get("general", "run_name")
    if run_name is not None:
        values["run_name"] = run_name
    mode = get("run_presets", "InterfaceBandwidth")
    if mode is not None:
        if mode not in ("CALC", "USER"):
            raise ConfigError(
                f"{path}: [run_presets] InterfaceBandwidth: expected CALC or USER, got {mode!r}"
            )
        values["interface_bandwidth"] = mode
    bandwidth = get(_ARCH, "Bandwidth")
    # SCALE-Sim reads Bandwidth only in USER mode; elsewhere it may hold anything.
    if values.get("interface_bandwidth") == "USER":
        if bandwidth is None:
            raise ConfigError(f"{path}: [{_ARCH}] Bandwidth: missing; USER bandwidth mode needs it")
        values["bandwidths"] = tuple(
            integer(_ARCH, "Bandwidth", part.strip(), 1) for part in bandwidth.split(",")
        )
    sparsity = get("sparsity", "SparsitySupport")
    if sparsity is not None and sparsity.lower() == "true":
        raise ConfigError(
            f"{path}: [sparsity] SparsitySupport: sparse mappings are not modelled; set it to false"
        )
    return ScaleSimConfig(**values, source=str(path))


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise TpuError(f"{path}: {what} file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TpuError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None


# ---------------------------------------------------------------------------------------------
# Topology (.csv)


@dataclass(frozen=True)
class Layer:
    """One SCALE-Sim layer in its conv form (a GEMM row is ``H=M, W=K, FH=1, FW=K, C=1``)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    filters: int
    stride: int = 1
    sparsity: tuple[int, int] = (1, 1)
    op: str = "conv"
    line: int = 0

    def __post_init__(self):
        for name in ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "filters",
                     "stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ShapeError(f"layer {self.name!r}: {name} must be a positive integer, "
                                      f"got {value!r}")
        if self.filter_h > self.ifmap_h or self.filter_w > self.ifmap_w:
            raise ShapeError(
                f"layer {self.name!r}: filter {self.filter_h}x{self.filter_w} is larger than "
                f"the input {self.ifmap_h}x{self.ifmap_w}"
            )
        if self.op not in ("conv", "gemm"):
            raise ShapeError(f"layer {self.name!r}: op must be conv or gemm, got {self.op!r}")

    @classmethod
    def gemm(cls, name: str, m: int, n: int, k: int, *, sparsity=(1, 1), line: int = 0) -> Layer:
        """SCALE-Sim's GEMM row ``name,M,N,K``: A is M×K, B is K×N, so M rows of output."""
        return cls(name, m, k, 1, k, 1, n, 1, sparsity=sparsity, op="gemm", line=line)

    @property
    def ofmap_h(self) -> int:
        # SCALE-Sim's ⌈(H−F+S)/S⌉: no padding, and a last window that overhangs the input counts
        return _ceil_div(self.ifmap_h - self.filter_h, self.stride) + 1

    @property
    def ofmap_w(self) -> int:
        return _ceil_div(self.ifmap_w - self.filter_w, self.stride) + 1

    @property
    def m(self) -> int:
        """Output pixels per filter: the GEMM's M."""
        return self.ofmap_h * self.ofmap_w

    @property
    def n(self) -> int:
        return self.filters

    @property
    def k(self) -> int:
        """Convolution window size Fh·Fw·C: the GEMM's K."""
        return self.filter_h * self.filter_w * self.channels

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k


def parse_topology(path: str | Path, *, gemm: bool = False) -> tuple[Layer, ...]:
    """Read a SCALE-Sim topology CSV (conv rows, or GEMM rows when ``gemm``).

    Beyond SCALE-Sim's own reader, this one also takes the files found in SCALE-Sim's
    repository that its 3.0 reader trips over: rows without the trailing comma, a ``#comment``
    after the last comma, rows of empty fields, and extra annotation columns the header names.
    A first line that is a layer is refused: SCALE-Sim would skip it as the header.
    """
    path = Path(path)
    lines = _read_text(path, "SCALE-Sim topology").splitlines()
    names = GEMM_FIELDS if gemm else CONV_FIELDS
    header = _fields(lines[0]) if lines else []
    _check_header(path, header, names)
    layers: list[Layer] = []
    for number, raw in enumerate(lines[1:], start=2):
        fields = _fields(raw)
        if fields:
            layers.extend(_parse_row(f"{path}:{number}", number, fields, names, header))
    if not layers:
        raise TopologyError(
            f"{path}: no layers; a SCALE-Sim topology is a header line, then one layer per line"
        )
    return tuple(layers)


def _fields(line: str) -> list[str]:
    """A row's fields without a ``#`` comment and without trailing empty fields (the trailing
    comma SCALE-Sim's rows end with); ``[]`` for a blank row."""
    fields = [f.strip() for f in line.split(",")]
    for i, f in enumerate(fields):
        if f.startswith("#"):
            del fields[i:]
            break
    while fields and not fields[-1]:
        fields.pop()
    return fields


def _check_header(path: Path, header: list[str], names: tuple[str, ...]) -> None:
    # SCALE-Sim drops line 1 unread; if it is a layer, that layer would silently vanish.
    if len(header) >= len(names) and all(_positive(f) for f in header[1:len(names)]):
        raise TopologyError(
            f"{path}:1: this line is a layer, but SCALE-Sim treats line 1 as the header and "
            f"skips it; add a header line such as '{','.join(names)},'"
        )


def _parse_row(where: str, number: int, fields: list[str], names: tuple[str, ...],
               header: list[str]) -> list[Layer]:
    gemm = names == GEMM_FIELDS
    form = ",".join(names) + ",[N:M sparsity],"
    for i, name in enumerate(names[1:], start=1):
        if i >= len(fields):
            hint = ""
            if not gemm and len(fields) == len(GEMM_FIELDS):
                hint = "; this looks like a GEMM row (name,M,N,K): pass --gemm"
            raise TopologyError(f"{where}: field {name!r}: missing (a row is {form}){hint}")
        if _positive(fields[i]) is None:
            raise TopologyError(
                f"{where}: field {name!r}: expected a positive integer, got {fields[i]!r}"
            )
    sparse = fields[len(names)] if len(fields) > len(names) else ""
    if sparse and ":" not in sparse and gemm and _positive(sparse):
        raise TopologyError(f"{where}: field 'sparsity': expected N:M (e.g. 2:4), got {sparse!r}; "
                            "if this is a conv row, drop --gemm")
    sparsity = _parse_sparsity(where, sparse) if sparse else (1, 1)
    for i in range(len(names) + 1, len(fields)):
        # Annotation columns are fine where the header names them (SCALE-Sim's Resnet50.csv).
        if fields[i] and (i >= len(header) or not header[i]):
            raise TopologyError(
                f"{where}: field {i + 1} ({fields[i]!r}) is beyond the last one, sparsity, and the "
                f"header names no column there; a row is {form}"
            )
    dims = [int(f) for f in fields[1:len(names)]]
    name = fields[0]
    if gemm:
        m, n, k = dims
        return [Layer.gemm(name, m, n, k, sparsity=sparsity, line=number)]
    h, w, fh, fw, c, n, stride = dims
    for key, f, size in (("FH", fh, h), ("FW", fw, w)):
        if f > size:
            raise TopologyError(f"{where}: field {key!r}: filter size {f} exceeds the input's "
                                f"{key[1]}={size} (SCALE-Sim convolutions have no padding)")
    if "DP" in name:  # SCALE-Sim's depthwise convention: one single-channel layer per channel
        limits.check_bytes(c * LAYER_BYTES, f"{where}: depthwise layer {name!r} as {c:,} "
                                            f"single-channel layers")
        return [Layer(f"{name}Channel_{i}", h, w, fh, fw, 1, n, stride, sparsity, line=number)
                for i in range(c)]
    return [Layer(name, h, w, fh, fw, c, n, stride, sparsity, line=number)]


def _positive(text: str) -> int | None:
    """``text`` as a positive integer (what SCALE-Sim's ``int()`` accepts), else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def _parse_sparsity(where: str, text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) == 2:
        nz, block = _positive(parts[0]), _positive(parts[1])
        if nz is not None and block is not None and nz <= block:
            return nz, block
    raise TopologyError(
        f"{where}: field 'sparsity': expected N:M with 1 <= N <= M (e.g. 2:4), got {text!r}"
    )


# ---------------------------------------------------------------------------------------------
# The SCALE-Sim-compatible analytic model


def spatio_temporal(layer: Layer, dataflow: str) -> tuple[int, int, int]:
    """SCALE-Sim's (Sr, Sc, T) for ``dataflow``: rows and columns mapped in space, T in time."""
    _check_dataflow(dataflow)
    m, n, k = layer.m, layer.n, layer.k
    return {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[dataflow]


@dataclass(frozen=True)
class LayerTiming:
    """SCALE-Sim's stall-free compute report for one layer, plus our machine's cycles."""

    layer: Layer
    dataflow: str
    rows: int
    cols: int
    sr: int
    sc: int
    t: int
    row_folds: int
    col_folds: int
    fold_cycles: int
    cycles: int
    stall_cycles: int = 0
    our_cycles: int | None = None
    our_energy_pj: float | None = None
    our_dram_bytes: int | None = None

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def macs(self) -> int:
        return self.layer.macs

    @property
    def mapping_efficiency_exact(self) -> Fraction:
        # Σ over folds of used rows × used cols is Sr·Sc, the folds tiling the Sr×Sc grid.
        return Fraction(self.sr * self.sc, self.rows * self.cols * self.folds)

    @property
    def utilization_exact(self) -> Fraction:
        """SCALE-Sim's "Overall Util": MACs over PE-cycles."""
        return Fraction(self.macs, self.cycles * self.rows * self.cols)

    @property
    def compute_utilization_exact(self) -> Fraction:
        """SCALE-Sim's "Compute Util": per-fold used·T / (R·C·L), averaged over folds."""
        r, c = self.rows, self.cols
        per_fold = r + c + self.t - 2 if self.dataflow == "os" else 2 * r + 2 * c + self.t - 3
        return Fraction(self.sr * self.sc * self.t, r * c * per_fold * self.folds)

    @property
    def mapping_efficiency(self) -> float:
        return float(self.mapping_efficiency_exact)

    @property
    def utilization(self) -> float:
        return float(self.utilization_exact)

    @property
    def compute_utilization(self) -> float:
        return float(self.compute_utilization_exact)

    @property
    def overall_util_percent(self) -> float:
        """"Overall Util %" exactly as SCALE-Sim computes it (one int/int true division)."""
        return (self.macs * 100) / (self.cycles * self.rows * self.cols)

    def to_dict(self) -> dict[str, Any]:
        layer = self.layer
        return {
            "name": layer.name, "op": layer.op, "line": layer.line,
            "m": layer.m, "n": layer.n, "k": layer.k, "macs": self.macs,
            "dataflow": self.dataflow, "sr": self.sr, "sc": self.sc, "t": self.t,
            "row_folds": self.row_folds, "col_folds": self.col_folds, "folds": self.folds,
            "fold_cycles": self.fold_cycles, "cycles": self.cycles,
            "stall_cycles": self.stall_cycles,
            "mapping_efficiency": self.mapping_efficiency, "utilization": self.utilization,
            "compute_utilization": self.compute_utilization, "our_cycles": self.our_cycles,
            "our_energy_pj": self.our_energy_pj, "our_dram_bytes": self.our_dram_bytes,
        }


def layer_timing(layer: Layer, rows: int, cols: int, dataflow: str) -> LayerTiming:
    """Closed-form SCALE-Sim compute cycles for ``layer`` on a ``rows``×``cols`` array."""
    sr, sc, t = spatio_temporal(layer, dataflow)
    row_folds, col_folds = _ceil_div(sr, rows), _ceil_div(sc, cols)
    # os fills and drains through the array once (R+C−2) around T; ws and is first shift the
    # stationary operand in (R more cycles) — SCALE-Sim never overlaps that with compute.
    fold = rows + cols + t - 2 if dataflow == "os" else 2 * rows + cols + t - 2
    cycles = row_folds * col_folds * fold - 1
    if cycles == 0:  # one MAC on a 1×1 os array: SCALE-Sim itself divides by zero here
        raise ShapeError(f"layer {layer.name!r}: a single MAC on a 1x1 os array takes 0 cycles in "
                         "SCALE-Sim's model, which has no utilization for it; use a larger layer")
    return LayerTiming(layer, dataflow, rows, cols, sr, sc, t, row_folds, col_folds, fold, cycles)


@dataclass(frozen=True)
class Totals:
    layers: int
    macs: int
    folds: int
    cycles: int
    stall_cycles: int
    mapping_efficiency: float  # mean over all folds of all layers
    utilization: float  # all MACs over all PE-cycles
    compute_utilization: float  # mean over all folds of all layers
    our_cycles: int | None
    our_energy_pj: float | None = None
    our_dram_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    config: ScaleSimConfig
    layers: tuple[LayerTiming, ...]
    totals: Totals = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "totals", _totals(self.layers))

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(),
                "layers": [lt.to_dict() for lt in self.layers],
                "totals": self.totals.to_dict()}


def _totals(layers: tuple[LayerTiming, ...]) -> Totals:
    folds = sum(lt.folds for lt in layers)
    mapped = sum(lt.mapping_efficiency_exact * lt.folds for lt in layers)
    computing = sum(lt.compute_utilization_exact * lt.folds for lt in layers)
    pe_cycles = sum(lt.cycles * lt.rows * lt.cols for lt in layers)
    ours = [lt.our_cycles for lt in layers]
    return Totals(
        layers=len(layers),
        macs=sum(lt.macs for lt in layers),
        folds=folds,
        cycles=sum(lt.cycles for lt in layers),
        stall_cycles=sum(lt.stall_cycles for lt in layers),
        mapping_efficiency=float(Fraction(mapped) / folds) if folds else 0.0,
        utilization=float(Fraction(sum(lt.macs for lt in layers), pe_cycles)) if pe_cycles else 0.0,
        compute_utilization=float(Fraction(computing) / folds) if folds else 0.0,
        our_cycles=None if not ours or None in ours else sum(ours),
        our_energy_pj=_sum_known([lt.our_energy_pj for lt in layers]),
        our_dram_bytes=_sum_known([lt.our_dram_bytes for lt in layers]),
    )


def _sum_known(values):
    return None if not values or None in values else sum(values)


def simulate(config: ScaleSimConfig, layers: tuple[Layer, ...] | list[Layer],
             machine=None) -> Report:
    """SCALE-Sim's compute report for ``layers``; with ``machine`` (a ``tpu.config.Config``),
    also what our machine does with each layer (:func:`machine_report`): ``our_cycles``,
    ``our_energy_pj``, ``our_dram_bytes``."""
    ours = machine_report(layers, machine)["layers"] if machine is not None else None
    timings = []
    for i, layer in enumerate(layers):
        lt = layer_timing(layer, config.array_rows, config.array_cols, config.dataflow)
        if ours is not None:
            o = ours[i]
            lt = replace(lt, our_cycles=o["cycles"], our_energy_pj=o["energy_pj"]["total"],
                         our_dram_bytes=sum(o["dram_bytes"].values()))
        timings.append(lt)
    return Report(config, tuple(timings))


def machine_report(layers, machine) -> dict:
    """Our machine on each layer, as the compiler runs it: the layer's GEMM (m = output pixels,
    k = Fh·Fw·C, n = filters, as SCALE-Sim lowers it) is a one-layer program on ``machine`` —
    DMA at its DRAM bandwidth, its buffer sizes, the scoreboard — timed from the shapes alone
    (timing, traffic and energy do not depend on values). Layers of the same shape run once.
    Returns a report like ``tpu run``'s: ``layers``, ``totals``, ``area_mm2``, ``config``."""
    import numpy as np

    from tpu.compiler import compile as compile_graph
    from tpu.cost import area
    from tpu.roofline import gemm_graph

    runs: dict[tuple[int, int, int], dict] = {}
    rows = []
    from tpu import limits

    for layer in layers:
        shape = (layer.m, layer.k, layer.n)
        if shape not in runs:
            limits.check_bytes(layer.m * layer.k * 8, f"layer {layer.name!r} ({layer.m}x{layer.k}x{layer.n})")
            x = np.random.default_rng(1).integers(0, 1 << machine.array.act_bits, (layer.m, layer.k))
            runs[shape] = compile_graph(gemm_graph(*shape, machine), machine).run(x, values=False).totals
        t = runs[shape]
        rows.append({"name": layer.name, "m": layer.m, "k": layer.k, "n": layer.n,
                     **{key: t[key] for key in ("macs", "cycles", "stall_cycles", "utilization",
                                                "energy_pj", "dram_bytes", "sram_bytes")}})
    pes = machine.array.rows * machine.array.cols
    cycles = sum(r["cycles"] for r in rows)
    macs = sum(r["macs"] for r in rows)

    def total(key):
        return {part: sum(r[key][part] for r in rows) for part in rows[0][key]} if rows else {}

    totals = {"macs": macs, "cycles": cycles, "stall_cycles": sum(r["stall_cycles"] for r in rows),
              "utilization": macs / (cycles * pes) if cycles else 0.0,
              "seconds": cycles / machine.clock.hz, "energy_pj": total("energy_pj"),
              "dram_bytes": total("dram_bytes"), "sram_bytes": total("sram_bytes")}
    return {"config": machine.to_dict(), "model": "scalesim topology", "batch": 1, "layers": rows,
            "totals": totals, "area_mm2": area(machine).to_dict()}


def our_cycles(layer: Layer, machine) -> int:
    """Stall-free cycles of the array alone for ``layer`` lowered to GEMM as SCALE-Sim lowers
    it (m = output pixels, k = Fh·Fw·C, n = filters)."""
    # Imported here: the array model is a separate, heavier module.
    from tpu.array import gemm_cycles

    return int(gemm_cycles(layer.m, layer.k, layer.n, machine))


def machine_from_scalesim(config: ScaleSimConfig, base=None):
    """Our machine for a SCALE-Sim config: the default preset (or ``base``) with the array's
    rows, cols and dataflow from ArrayHeight, ArrayWidth and Dataflow, its SRAM sizes (weight
    buffer = FilterSramSzkB; unified buffer, which holds inputs and outputs, = IfmapSramSzkB +
    OfmapSramSzkB) and, with InterfaceBandwidth USER, its DRAM bandwidth (the first Bandwidth
    value, words of one byte per cycle)."""
    from tpu.config import load_config

    base = load_config(base)
    changes = {"array.rows": config.array_rows, "array.cols": config.array_cols,
               "array.dataflow": config.dataflow,
               "memory.weight_buffer_bytes": config.filter_sram_kb * 1024,
               "memory.unified_buffer_bytes": (config.ifmap_sram_kb + config.ofmap_sram_kb) * 1024}
    if config.interface_bandwidth == "USER" and config.bandwidths:
        changes["memory.dram_bytes_per_cycle"] = config.bandwidths[0]
    try:
        return base.replace(**changes)
    except ConfigError as exc:
        raise ConfigError(f"{config.source}: our machine cannot take this array: {exc}") from None
