"""Mixed precision: per-layer widths chosen from measured sensitivity under an accuracy budget.

Everything runs on one multi-precision array (the config's: edge-32 by default), where each
layer's GEMMs run at their own widths — narrower operands packed, wider ones sliced
(tpu.array.precision). Every point below is *measured*: the float graph quantized with those
per-layer widths (tpu.compiler.quantize, ``layer_bits``), compiled and run as the integer
program on the fast backend; accuracy (or top-1 agreement with FP32 without labels), logit SQNR
against FP32, energy per inference and cycles for the batch come from that run.

1. **uniform** points: every layer at the same (weight, activation) widths;
2. **sensitivity**: from all layers at W8A8, one layer at a time at each narrower width: the
   accuracy it costs and the energy it saves;
3. **allocation** (greedy): from all-W8A8, the single-layer moves are tried in order of energy
   saved per accuracy point lost (from step 2); a move is kept when the whole assignment, run
   again, is within ``budget`` points of W8A8's accuracy and cheaper than the current one. Every
   trial is a measured point; the last kept assignment is the choice.

The points are put on one accuracy / energy Pareto front with the uniform ones.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace

import numpy as np

from tpu.compiler.widths import LayerBits, matrix_layers
from tpu.config import Config
from tpu.errors import TpuError
from tpu.report import markdown_table

WEIGHT_BITS = (2, 4, 8)
ACT_BITS = (4, 8)
BASE = LayerBits(8, 8)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Point:
    """One measured assignment: ``layers`` maps every matrix layer to its widths."""

    layers: dict[str, LayerBits]
    accuracy: float  # test accuracy, or top-1 agreement with FP32 without labels
    energy_pj: float  # per inference
    cycles: int  # the whole batch
    kind: str  # uniform | sensitivity | greedy
    kept: bool = False  # greedy: the move was kept
    pareto: bool = False
    sqnr_db: float | None = None  # logit SQNR against FP32 (inf when identical)
    energy_parts: dict = field(default_factory=dict)  # per inference, by component (report schema)

    def label(self) -> str:
        widths = set(self.layers.values())
        if len(widths) == 1:
            (b,) = widths
            return f"W{b.weight_bits}A{b.act_bits}"
        return " ".join(f"{name}:W{b.weight_bits}A{b.act_bits}" for name, b in self.layers.items()
                        if b != BASE) or "W8A8"

    def to_dict(self) -> dict:
        return {"layers": {n: {"weight_bits": b.weight_bits, "act_bits": b.act_bits}
                           for n, b in self.layers.items()},
                "accuracy": self.accuracy, "energy_pj_per_inference": self.energy_parts,
                "cycles": self.cycles, "kind": self.kind, "kept": self.kept, "pareto": self.pareto,
                "sqnr_db": _finite(self.sqnr_db)}


@dataclass
class MixedStudy:
    """The result: uniform points, every measured mixed point, and the chosen assignment."""

    uniform: list[Point]
    points: list[Point]
    chosen: Point
    base: Point
    budget: float
    metric: str  # "accuracy" or "agreement"
    layers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def uniform(p: Point) -> dict:
            (b,) = set(p.layers.values())
            return {"weight_bits": b.weight_bits, "act_bits": b.act_bits, "accuracy": p.accuracy,
                    "energy_pj_per_inference": p.energy_parts, "cycles": p.cycles, "pareto": p.pareto,
                    "sqnr_db": _finite(p.sqnr_db)}

        return {"metric": self.metric, "budget_points": self.budget, "layers": self.layers,
                "uniform": [uniform(p) for p in self.uniform],
                "points": [p.to_dict() for p in self.points],
                "chosen": self.chosen.to_dict()}


class Runner:
    """Measures assignments of one workload on one machine (cached by assignment)."""

    def __init__(self, work, config: Config):
        from tpu.compiler import reference

        a = config.array
        if a.format != "int" or not a.multi_precision:
            raise TpuError(f"the mixed study runs layers of different widths on one array: "
                           f"{config.name} needs format = \"int\" and multi_precision = true")
        self.work, self.config = work, config
        self.ref = np.asarray(reference.evaluate(work.graph, work.x)[0])
        self.layers = matrix_layers(work.graph)
        self._cache: dict = {}

    @property
    def metric(self) -> str:
        return "accuracy" if self.work.labels is not None else "agreement"

    def measure(self, layers: dict[str, LayerBits], kind: str) -> Point:
        key = tuple(sorted((n, b.weight_bits, b.act_bits) for n, b in layers.items()))
        if key not in self._cache:
            from tpu.compiler import compile as compile_graph
            from tpu.compiler.quantize import quantize
            from tpu.study import sqnr_db

            graph = quantize(self.work.graph, self.work.calib, per_channel=True, method="minmax",
                             act_signed=False, weight_signed=True, layer_bits=layers)
            result = compile_graph(graph, self.config).run(self.work.x)
            pred = np.argmax(result.outputs[0], axis=1)
            truth = self.work.labels if self.work.labels is not None else np.argmax(self.ref, axis=1)
            n = len(self.work.x)
            parts = {k: v / n for k, v in result.totals["energy_pj"].items()}
            self._cache[key] = (float(np.mean(pred == truth)), parts, result.totals["cycles"],
                                sqnr_db(self.ref, result.outputs[0]))
        acc, parts, cycles, sq = self._cache[key]
        return Point(dict(layers), acc, parts["total"], cycles, kind, sqnr_db=sq, energy_parts=parts)

    def assignment(self, **widths: LayerBits) -> dict[str, LayerBits]:
        return {name: widths.get(name, BASE) for name in self.layers}


def candidates(weight_bits=WEIGHT_BITS, act_bits=ACT_BITS) -> list[LayerBits]:
    return [LayerBits(w, a) for w, a in itertools.product(sorted(weight_bits), sorted(act_bits))]


def narrower(a: LayerBits, b: LayerBits) -> bool:
    """``a`` is at most ``b`` in both widths and differs."""
    return a != b and a.weight_bits <= b.weight_bits and a.act_bits <= b.act_bits


def mixed_study(work, config: Config, *, budget: float = 1.0, weight_bits=WEIGHT_BITS,
                act_bits=ACT_BITS) -> MixedStudy:
    if not budget >= 0:
        raise TpuError(f"the accuracy budget must be 0 or more points, got {budget}")
    run = Runner(work, config)
    options = candidates(weight_bits, act_bits)
    if BASE not in options:
        options.append(BASE)
    log.info("uniform widths: %d points", len(options))
    uniform = [run.measure({n: c for n in run.layers}, "uniform") for c in options]
    base = next(p for p in uniform if set(p.layers.values()) == {BASE})
    base_index = uniform.index(base)
    floor = base.accuracy - budget / 100

    log.info("sensitivity: %d layers × %d widths", len(run.layers), len(options) - 1)
    sens = {}
    for name in run.layers:
        for c in options:
            if narrower(c, BASE):
                sens[name, c] = run.measure(run.assignment(**{name: c}), "sensitivity")

    def value(move) -> float:
        """Energy saved per accuracy point lost (a free move first, by energy saved)."""
        p = sens[move]
        saved = base.energy_pj - p.energy_pj
        lost = max(base.accuracy - p.accuracy, 0.0) * 100
        return saved / max(lost, 0.05)

    log.info("greedy allocation under a %.2f-point budget", budget)
    current, trials, tried = base, [], set()
    moves = sorted((m for m in sens if sens[m].energy_pj < base.energy_pj), key=value, reverse=True)
    progress = True
    while progress:
        progress = False
        for name, c in moves:
            layers = {**current.layers, name: c}
            key = tuple(sorted((n, b.weight_bits, b.act_bits) for n, b in layers.items()))
            if not narrower(c, current.layers[name]) or key in tried:
                continue
            tried.add(key)
            trial = run.measure(layers, "greedy")
            keep = trial.accuracy >= floor and trial.energy_pj < current.energy_pj
            trials.append(replace(trial, kept=keep))
            if keep:
                current = trial
                progress = True
    everything = uniform + list(sens.values()) + trials
    front = [p for p in everything if not _dominated(p, everything)]
    uniform = [replace(p, pareto=p in front) for p in uniform]
    base = uniform[base_index]
    points = [replace(p, pareto=p in front) for p in list(sens.values()) + trials]
    chosen = next((p for p in reversed(points) if p.kept), base)
    return MixedStudy(uniform, points, chosen, base, budget, run.metric, run.layers)


def _finite(v: float | None) -> float | None:
    return None if v is None or np.isinf(v) else v  # JSON has no infinity


def _dominated(p: Point, points: list[Point]) -> bool:
    """Some point is at least as accurate and as cheap, and better in one of the two."""
    return any(q.accuracy >= p.accuracy and q.energy_pj <= p.energy_pj and
               (q.accuracy > p.accuracy or q.energy_pj < p.energy_pj) for q in points)


def format_tables(study: MixedStudy) -> str:
    """Uniform points, then the mixed points on the Pareto front and the choice."""
    def row(p: Point, what: str):
        return (what, p.label(), f"{100 * p.accuracy:.2f}%", f"{p.energy_pj / 1e3:,.1f}", f"{p.cycles:,}",
                "yes" if p.pareto else "")

    head = ("kind", "widths", study.metric, "nJ/inference", "cycles", "Pareto")
    body = [row(p, "uniform") for p in study.uniform]
    seen = set()
    for p in study.points:
        key = tuple(sorted((n, b) for n, b in p.layers.items()))
        if p.pareto and key not in seen and len(set(p.layers.values())) > 1:
            seen.add(key)
            body.append(row(p, p.kind))
    body.append(row(study.chosen, "chosen"))
    return markdown_table(head, body, right=(2, 3, 4))


def mixed_figure(study: MixedStudy, title: str = "mixed precision"):
    """Accuracy against energy per inference: uniform widths, every measured mixed point, the
    Pareto front and the chosen assignment; on the right the same, zoomed on the accuracies
    near W8A8 where the choice is made."""
    from tpu.report import figure

    fig = figure(figsize=(12, 5), layout="tight")
    full, zoom = fig.subplots(1, 2)
    base = 100 * study.base.accuracy
    floor = base - max(5.0, 3 * study.budget)
    for ax in (full, zoom):
        _mixed_axes(ax, study, floor if ax is zoom else None, floor)
    full.axhspan(floor, 100, color="C1", alpha=0.08, label="zoomed on the right")
    full.legend(fontsize=8, loc="center")
    zoom.set_title(f"within {base - floor:g} points of W8A8", fontsize=10)
    fig.suptitle(title)
    return fig


def _mixed_axes(ax, study: MixedStudy, floor: float | None, zoomed: float = 0.0) -> None:
    def xy(p):
        return p.energy_pj / 1e3, 100 * p.accuracy

    def shown(p):
        return floor is None or 100 * p.accuracy >= floor

    mixed = [p for p in study.points if len(set(p.layers.values())) > 1 and shown(p)]
    ax.plot([xy(p)[0] for p in mixed], [xy(p)[1] for p in mixed], ".", color="0.6",
            label="mixed (measured)")
    front = sorted((p for p in study.uniform + study.points if p.pareto and shown(p)),
                   key=lambda p: p.energy_pj)
    ax.plot([xy(p)[0] for p in front], [xy(p)[1] for p in front], "-", color="C2",
            label="Pareto front")
    c = study.chosen
    ax.plot(*xy(c), "*", ms=14, color="C3", label=f"chosen (budget {study.budget:g} points)",
            zorder=3)
    uniform = sorted((p for p in study.uniform if shown(p)), key=lambda p: p.energy_pj)
    ax.plot([xy(p)[0] for p in uniform], [xy(p)[1] for p in uniform], "o", color="C0",
            label="uniform widths", zorder=4)
    xs = [xy(p)[0] for p in [*uniform, *mixed, c]]
    lo, hi = min(xs), max(xs)
    ys = [xy(p)[1] for p in [*uniform, *mixed, c]]
    yspan = (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float, int]] = []
    for p in uniform:
        x, y = xy(p)
        if floor is None and y >= zoomed:
            continue  # labelled in the zoom
        right = x > lo + 0.85 * (hi - lo)  # near the right edge: label to the left
        dy = 3
        # labels of nearby points (within 4 % of either span) are stacked 9 points apart
        while any(abs(x - px) < 0.04 * ((hi - lo) or 1) and abs(y - py) < 0.04 * yspan
                  and pdy == dy for px, py, pdy in placed):
            dy -= 9
        placed.append((x, y, dy))
        ax.annotate(p.label(), (x, y), fontsize=7, xytext=(-4 if right else 4, dy),
                    textcoords="offset points", ha="right" if right else "left", zorder=5)
    ax.axhline(100 * (study.base.accuracy - study.budget / 100), color="k", ls=":", lw=0.8)
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel(f"{study.metric} %")
    ax.grid(alpha=0.3)
    if floor is not None:
        ax.legend(fontsize=8, loc="lower right")
