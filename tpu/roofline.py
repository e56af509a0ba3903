"""The roofline of a machine and where layers sit under it (Williams et al. 2009; TPU v1 §4).

A machine's roof: peak MACs/s (rows × cols × clock), DRAM bytes/s, and the ridge point
(MACs per DRAM byte) where the two meet. A layer is placed at its arithmetic intensity
(MACs per DRAM byte it moved) and the MAC rate the compiler's scoreboard timed for it, so
stalls from the configured DRAM bandwidth and from dependencies are already in the point.

Single GEMM shapes (:func:`gemm_point`) are timed the same way, on a one-layer quantized
graph whose input is first staged into the unified buffer by a vector op, as a layer in the
middle of a network finds it (TPU v1 keeps activations on chip); their DRAM traffic is then
the weights alone, the quantity on the x axis of the TPU v1 paper's roofline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from tpu import limits
from tpu.compiler import ir
from tpu.config import Config, int_range
from tpu.cost import (
    attainable_macs_per_second,
    dram_bytes_per_second,
    peak_macs_per_second,
    ridge_macs_per_byte,
)
from tpu.errors import TpuError

OPS_PER_MAC = 2  # a multiply and an add: "TOPS" figures count both
GEMM_TIMING = ("compiler scoreboard at the configured DRAM bandwidth; input staged in the "
               "unified buffer, output left there")


@dataclass(frozen=True)
class Roof:
    """The two ceilings of a machine."""

    config: str
    peak_macs_per_s: float
    dram_bytes_per_s: float
    ridge_macs_per_byte: float

    def __post_init__(self):
        for name in ("peak_macs_per_s", "dram_bytes_per_s", "ridge_macs_per_byte"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

    @property
    def peak_tops(self) -> float:
        return tops(self.peak_macs_per_s)

    def attainable(self, intensity: float) -> float:
        """MACs/s the roofline allows at ``intensity`` MACs per DRAM byte."""
        return min(self.peak_macs_per_s, intensity * self.dram_bytes_per_s)

    def to_dict(self) -> dict:
        return {**asdict(self), "peak_tops": self.peak_tops}


def roof(config: Config) -> Roof:
    return Roof(config.name, peak_macs_per_second(config), dram_bytes_per_second(config),
                ridge_macs_per_byte(config))


@dataclass(frozen=True)
class Point:
    """One layer (or GEMM) under the roof; rates in MACs/s."""

    name: str
    op: str
    macs: int
    dram_bytes: int  # all operands
    weight_bytes: int  # weights only (the TPU v1 paper's x axis)
    cycles: int
    stall_cycles: int
    seconds: float
    achieved_macs_per_s: float
    attainable_macs_per_s: float  # the roof above this point
    bound: str  # "memory" (left of the ridge) or "compute"
    source: str  # what placed it: a "model" layer or a "gemm" shape
    input_bytes: int = 0  # the rest of dram_bytes: activations in, results out
    output_bytes: int = 0

    def __post_init__(self):
        if self.macs < 1 or self.cycles < 1:
            raise ValueError(f"point {self.name!r} needs MACs and cycles, got {self.macs}, "
                             f"{self.cycles}")
        if self.bound not in ("memory", "compute"):
            raise ValueError(f"bound must be 'memory' or 'compute', got {self.bound!r}")

    @property
    def intensity(self) -> float:
        """MACs per DRAM byte (inf for a layer that moved none)."""
        return self.macs / self.dram_bytes if self.dram_bytes else math.inf

    @property
    def weight_intensity(self) -> float:
        return self.macs / self.weight_bytes if self.weight_bytes else math.inf

    @property
    def fraction_of_roof(self) -> float:
        return self.achieved_macs_per_s / self.attainable_macs_per_s

    @property
    def achieved_tops(self) -> float:
        return tops(self.achieved_macs_per_s)

    def to_dict(self) -> dict:
        """The schema's shape (tpu.report): ``dram_bytes`` by operand with its total."""
        d = asdict(self)
        del d["weight_bytes"], d["input_bytes"], d["output_bytes"]
        d["dram_bytes"] = {"weights": self.weight_bytes, "inputs": self.input_bytes,
                           "outputs": self.output_bytes, "total": self.dram_bytes}
        for key in ("intensity", "weight_intensity"):
            v = getattr(self, key)
            d[key] = None if math.isinf(v) else v  # JSON has no infinity
        d.update(achieved_tops=self.achieved_tops, fraction_of_roof=self.fraction_of_roof)
        return d


def place(config: Config, *, name: str, op: str, macs: int, dram_bytes: int, weight_bytes: int,
          cycles: int, stall_cycles: int, source: str, input_bytes: int = 0,
          output_bytes: int = 0) -> Point:
    """A point from what a run measured, with its roof from ``config``."""
    seconds = cycles / config.clock.hz
    attainable = attainable_macs_per_second(config, macs, dram_bytes)
    bound = "compute" if attainable >= peak_macs_per_second(config) else "memory"
    return Point(name, op, macs, dram_bytes, weight_bytes, cycles, stall_cycles, seconds,
                 macs / seconds, attainable, bound, source, input_bytes, output_bytes)


def layer_points(result, *, source: str = "model") -> tuple[Point, ...]:
    """Points for the matrix layers of a ``RunResult`` (layers without MACs have no place
    on a MACs-per-byte axis)."""
    config = result.program.config
    return tuple(
        place(config, name=s.name, op=s.op, macs=s.macs, dram_bytes=s.dram_bytes.total,
              weight_bytes=s.dram_bytes.weights, cycles=s.cycles, stall_cycles=s.stall_cycles,
              source=source, input_bytes=s.dram_bytes.inputs, output_bytes=s.dram_bytes.outputs)
        for s in result.layers if s.macs > 0 and s.cycles > 0
    )


def parse_gemm(spec: str) -> tuple[int, int, int]:
    """``"MxKxN"`` (x or ×) → (m, k, n)."""
    parts = spec.lower().replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise TpuError(f"GEMM shape {spec!r}: expected MxKxN with three positive integers, "
                       f"e.g. 200x2048x2048")
    return dims


def gemm_graph(m: int, k: int, n: int, config: Config, *, seed: int = 0) -> ir.Graph:
    """Stage (vector ReLU, identity on these values) → Gemm k×n → drain (another vector ReLU)
    → Dequantize, quantized for ``config``'s widths: unsigned activations, symmetric signed
    weights with random values (timing, traffic and energy depend on the shapes, not the
    values). The vector ops on both sides make the GEMM a layer in the middle of a network: its
    input is in the unified buffer, its output stays there for the next layer."""
    a = config.array
    rng = np.random.default_rng(seed)
    xq = ir.QParams(np.float32(0.02), np.int64(0), a.act_bits, False)
    wq = ir.QParams(np.float32(0.01), np.int64(0), a.weight_bits, True)
    yq = ir.QParams(np.float32(1.0), np.int64(0), a.act_bits, False)
    wmax = int_range(a.weight_bits, True)[1]
    nodes = (
        ir.Relu("stage", ("x",), "xs", x_q=xq, out_q=xq),
        ir.Gemm("gemm", ("xs",), "y", weight=rng.integers(-wmax, wmax + 1, (k, n)), bias=None,
                x_q=xq, w_q=wq, out_q=yq),
        ir.Relu("drain", ("y",), "yd", x_q=yq, out_q=yq),
        ir.Dequantize("dequantize", ("yd",), "out", q=yq),
    )
    shapes = {"x": (1, k), "xs": (1, k), "y": (1, n), "yd": (1, n), "out": (1, n)}
    return ir.Graph(f"gemm{m}x{k}x{n}", nodes, ("x",), ("out",), shapes, quantized=True,
                    specs={"x": ir.TensorSpec((None, k), "int64")})


def gemm_point(m: int, k: int, n: int, config: Config, *, seed: int = 0) -> Point:
    """The GEMM m×k · k×n as one layer on ``config`` (see :data:`GEMM_TIMING`)."""
    from tpu.compiler import compile as compile_graph

    # int64 input and weights, their operand copies, the int64 result and its float output
    limits.check_bytes(16 * (m * k + k * n + 2 * m * n), f"the GEMM point {m}x{k}x{n}")
    graph = gemm_graph(m, k, n, config, seed=seed)
    x = np.random.default_rng(seed + 1).integers(0, 1 << config.array.act_bits, (m, k))
    result = compile_graph(graph, config).run(x)
    (point,) = layer_points(result, source="gemm")
    return replace(point, name=f"{m}x{k}x{n}")


def tops(macs_per_s: float) -> float:
    return OPS_PER_MAC * macs_per_s / 1e12


def roofline_figure(machine: Roof, points: tuple[Point, ...] | list[Point], title: str = ""):
    """A log-log matplotlib Figure (no pyplot state, the user's backend untouched): the roof,
    the ridge, one marker per point."""
    from tpu.report import figure

    finite = [p.intensity for p in points if math.isfinite(p.intensity)]
    lo = min([machine.ridge_macs_per_byte / 100, *finite]) / 2
    hi = max([machine.ridge_macs_per_byte * 100, *finite]) * 2
    xs = np.geomspace(lo, hi, 200)
    # past ten points the default colour cycle repeats: one colour per point from a qualitative
    # map (20 colours), then from a continuous one; the legend moves beside the axes
    import matplotlib

    n = len(points)
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "turbo"]
    colors = [cmap(i) if n <= 20 else cmap(i / (n - 1)) for i in range(n)]
    ncol = max(1, math.ceil(n / 28))
    fig = figure(figsize=(7 + (1.6 * ncol if n > 10 else 0), 4.5), layout="tight")
    ax = fig.subplots()
    ax.loglog(xs, [tops(machine.attainable(x)) for x in xs], "k-", label="roof")
    ax.axvline(machine.ridge_macs_per_byte, color="grey", ls=":",
               label=f"ridge {machine.ridge_macs_per_byte:,.0f} MACs/byte")
    for p, color in zip(points, colors, strict=True):
        x = p.intensity if math.isfinite(p.intensity) else hi
        ax.plot(x, p.achieved_tops, "o" if p.source == "model" else "s", color=color, label=p.name)
    ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    ax.set_ylabel("TOPS (2 ops per MAC)")
    ax.set_title(title or f"roofline of {machine.config}")
    ax.grid(True, which="both", alpha=0.3)
    if n > 10:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), ncol=ncol)
    else:
        ax.legend(fontsize=7, loc="lower right")
    return fig
