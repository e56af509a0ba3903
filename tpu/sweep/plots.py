"""Sweep figures: Pareto fronts (pairs of metrics) and per-axis sensitivity. Figures are
matplotlib ``Figure`` objects (the user's pyplot backend is left alone); :func:`save` writes PNG
at 150 dpi and, on request, SVG or PDF."""

from __future__ import annotations

import itertools
from pathlib import Path

from tpu.sweep.pareto import pareto

LABELS = {"cycles": "cycles", "energy_pj": "energy (pJ)", "area_mm2": "area (mm²)",
          "dram_bytes": "DRAM bytes", "utilization": "utilization", "seconds": "run time (s)"}
FORMATS = ("png", "svg", "pdf")
PNG_DPI = 150


def pareto_figure(df, metrics, title: str = ""):
    """One panel per pair of metrics: every ok point, the points of the (all-metric) front
    highlighted and, per panel, the front of that pair as a step line."""
    from matplotlib.figure import Figure

    ok = df[df["status"] == "ok"]
    front = pareto(df, metrics)
    pairs = list(itertools.combinations(metrics, 2))
    fig = Figure(figsize=(4.6 * len(pairs), 4.0), layout="constrained")
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (x, y) in zip(axes, pairs, strict=True):
        ax.scatter(ok[x], ok[y], s=12, color="0.7", label=f"{len(ok)} points")
        ax.scatter(front[x], front[y], s=22, color="tab:red", label=f"front over {len(metrics)} metrics")
        pair = pareto(df, [x, y]).sort_values(x)
        ax.step(pair[x], pair[y], where="post", color="tab:blue", lw=1, label=f"front of {x}, {y}")
        _scale(ax.set_xscale, ok[x])
        _scale(ax.set_yscale, ok[y])
        _no_minor_labels(ax)
        ax.set_xlabel(LABELS.get(x, x))
        ax.set_ylabel(LABELS.get(y, y))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "Pareto fronts (all metrics minimised)")
    return fig


def sensitivity_figure(df, axes_names, metrics, title: str = ""):
    """For each swept axis (rows) and metric (columns): the metric's median and range over the
    points that share each value of the axis."""
    from matplotlib.figure import Figure

    ok = df[df["status"] == "ok"]
    fig = Figure(figsize=(3.6 * len(metrics), 2.6 * len(axes_names)), layout="constrained")
    grid = fig.subplots(len(axes_names), len(metrics), squeeze=False)
    for r, axis in enumerate(axes_names):
        groups = ok.groupby(axis, sort=True)[list(metrics)]
        values = [str(v) for v in groups.median().index]
        for c, metric in enumerate(metrics):
            ax = grid[r][c]
            med, lo, hi = (g[metric].to_numpy(float) for g in (groups.median(), groups.min(), groups.max()))
            ax.errorbar(range(len(values)), med, yerr=[med - lo, hi - med], fmt="o", capsize=3,
                        color=f"C{c}")
            ax.set_xticks(range(len(values)), values, rotation=30 if len(values) > 4 else 0,
                          fontsize=8)
            _scale(ax.set_yscale, ok[metric])
            _no_minor_labels(ax)
            ax.grid(True, axis="y", which="both", alpha=0.3)
            ax.set_xlabel(axis, fontsize=8)
            if c == 0:
                ax.set_ylabel("median, min–max", fontsize=8)
            if r == 0:
                ax.set_title(LABELS.get(metric, metric))
    fig.suptitle(title or "sensitivity: each axis value over every other axis")
    return fig


def _scale(set_scale, values) -> None:
    # log only where the values span more than a decade (else a log axis shows no labels)
    lo, hi = float(values.min()), float(values.max())
    if lo > 0 and hi / lo > 10:
        set_scale("log")


def _no_minor_labels(ax) -> None:
    # log axes label their minor ticks when a decade is short; those labels collide
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def save(fig, path_stem: Path, formats=("png",)) -> list[Path]:
    """Write ``path_stem.<format>`` for each format (PNG at 150 dpi); returns the paths."""
    from tpu.files import write_atomic

    written = []
    for fmt in formats:
        path = path_stem.with_suffix(f".{fmt}")
        write_atomic(path, lambda p, fmt=fmt: fig.savefig(p, format=fmt, dpi=PNG_DPI))
        written.append(path)
    return written
