"""Write the notebooks in this folder from the cell sources below, with empty outputs.

The cells live here, as plain strings, so they can be reviewed and diffed as code; the
``.ipynb`` files are generated from them. After editing a cell, run

    .venv/bin/python notebooks/_build.py            # rewrite every notebook
    .venv/bin/python notebooks/_build.py --check    # exit 1 if a notebook is out of date

``tests/test_notebooks.py`` executes every notebook in a fresh kernel and checks that the
committed files match this script.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str):
    return ("markdown", text.strip("\n"))


def code(text: str):
    return ("code", text.strip("\n"))


# ---------------------------------------------------------------------------------------------
# 01: architecture exploration

ARCH = [
    md(r"""
# Architecture exploration: array shape, dataflow and buffers

One machine description (`tpu.load_config`) drives everything below: we change the systolic
array's shape (8×8 … 128×128, square and not), its dataflow (weight-, output- or
input-stationary) and its buffer sizes, and ask what that does to **cycles, utilization, energy
per inference, area and DRAM traffic** for two networks:

* the bundled **digits CNN** (int8, 360 held-out 8×8 digits per batch), run through the compiler
  on every machine, and
* a **ResNet-18**-sized network (`tpu.compiler.zoo.resnet18()`, int8 with random weights — cycles,
  traffic and energy depend on the shapes, not on the values; one 224×224 image, 1.8 GMACs).

Then: where the bandwidth wall sits (rooflines with layers as points), which shape is best per
mm² and per joule (Pareto fronts), and how our cycle counts compare with SCALE-Sim's. Every
statement in the conclusions is computed from the numbers in this notebook. It runs in one to two
minutes on two cores and writes no files.
"""),
    code(r"""
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import tpu
from tpu import roofline, scalesim
from tpu.array import gemm_cycles, plan_gemm
from tpu.array.activity import array_counts
from tpu.compiler import compile, zoo
from tpu.compiler.quantize import quantize
from tpu.cost import Counts, area, energy
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.report import markdown_table

%matplotlib inline
START = time.perf_counter()
BASE = tpu.load_config("edge-32")
DATAFLOWS = ("ws", "os", "is")
SHAPES = [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128),
          (8, 32), (32, 8), (16, 64), (64, 16), (32, 128), (128, 32)]
COLORS = {"ws": "tab:blue", "os": "tab:orange", "is": "tab:green"}


def machine(rows, cols, dataflow="ws", **memory):
    # edge-32 with another array and, optionally, other [memory] values
    cfg = BASE.replace(rows=rows, cols=cols, dataflow=dataflow)
    if memory:
        cfg = dataclasses.replace(cfg, memory=dataclasses.replace(cfg.memory, **memory))
    return cfg


def show(fig):
    display(fig)
    plt.close(fig)  # displayed once, explicitly


def table(rows, columns):
    # columns: {header: function of a row -> text}
    display(Markdown(markdown_table(columns, [[f(r) for f in columns.values()] for r in rows])))


a, m = BASE.array, BASE.memory
print(f"base machine {BASE.name}: {a.rows}×{a.cols} {a.dataflow}, int{a.act_bits}×int{a.weight_bits} "
      f"→ int{a.acc_bits}, {BASE.clock.hz / 1e9:g} GHz, {m.dram_bytes_per_cycle} DRAM bytes/cycle "
      f"({m.dram_type}), buffers: weights {m.weight_buffer_bytes >> 10} KiB, unified "
      f"{m.unified_buffer_bytes >> 10} KiB, accumulators {m.accumulator_bytes >> 10} KiB; "
      f"technology {BASE.tech.name}")
"""),
    md(r"""
## The two workloads

The compiler lowers every convolution to a GEMM (im2col): M = batch × output pixels,
K = input channels × kernel area, N = output channels. Those three numbers per layer are what
the array sees, so they explain most of what follows.
"""),
    code(r"""
x_train, x_test, y_train, y_test = load_digits_split()
digits = quantize(load_onnx(bundled_model("cnn")), x_train[:256])  # static PTQ, W8A8 per channel
resnet = zoo.resnet18()
image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
BATCH = {"digits": len(x_test), "resnet18": 1}


def gemms(graph, batch):
    # (name, M, K, N) of every matrix layer, as the compiler lowers it
    layers = [l for l in compile(graph, BASE).program(batch).layers if l.kind == "matmul"]
    assert all(l.groups == 1 for l in layers)
    return [(l.name, l.m, l.k, l.n) for l in layers]


GEMMS = {"digits": gemms(digits, BATCH["digits"]), "resnet18": gemms(resnet, 1)}
for net, layers in GEMMS.items():
    macs = sum(m * k * n for _, m, k, n in layers)
    ks, ns = [k for _, _, k, _ in layers], [n for *_, n in layers]
    print(f"{net}: {len(layers)} matrix layers, {macs / BATCH[net]:,.0f} MACs per inference, "
          f"K {min(ks)}…{max(ks)}, N {min(ns)}…{max(ns)}")
table(GEMMS["digits"], {"digits layer": lambda r: r[0], "M (360 images)": lambda r: f"{r[1]:,}",
                        "K": lambda r: str(r[2]), "N": lambda r: str(r[3])})
"""),
    md(r"""
## 1. The digits CNN on 33 machines

Every (shape, dataflow) pair compiles and runs the whole batch on the fast backend: the cycle
counts come from the compiler's scoreboard (DMA, matrix unit and activation unit overlapping as
far as dependencies and the 16 bytes/cycle of DRAM allow), the energy from the counted
register, SRAM and DRAM activity. The logits must be identical on every machine — only time
and energy may change.
"""),
    code(r"""
def summarize(net, cfg, totals):
    batch = BATCH[net]
    a = cfg.array
    return dict(
        net=net, rows=a.rows, cols=a.cols, dataflow=a.dataflow, shape=f"{a.rows}×{a.cols}",
        pes=a.rows * a.cols, cycles=totals["cycles"], stalls=totals["stall_cycles"],
        utilization=totals["utilization"], nj=totals["energy_pj"]["total"] / batch / 1e3,
        energy=totals["energy_pj"],
        area=area(cfg).total, dram=sum(totals["dram_bytes"].values()) / batch,
        per_s=cfg.clock.hz * batch / totals["cycles"], config=cfg)


t = time.perf_counter()
digits_runs, logits = [], None
for R, C in SHAPES:
    for df in DATAFLOWS:
        cfg = machine(R, C, df)
        res = compile(digits, cfg).run(x_test)
        out = res.outputs[0]
        logits = out if logits is None else logits
        assert np.array_equal(out, logits), f"{R}×{C} {df} changed the logits"
        digits_runs.append(summarize("digits", cfg, res.totals))
accuracy = float(np.mean(logits.argmax(1) == y_test))
print(f"{len(digits_runs)} machines in {time.perf_counter() - t:.1f} s; identical logits on all, "
      f"accuracy {100 * accuracy:.2f}%")


def by(runs, R, C, df):
    return next(r for r in runs if (r["rows"], r["cols"], r["dataflow"]) == (R, C, df))


table([(R, C) for R, C in SHAPES], {
    "shape": lambda s: f"{s[0]}×{s[1]}",
    **{f"util {df}": (lambda s, df=df: f"{100 * by(digits_runs, *s, df)['utilization']:.1f}%")
       for df in DATAFLOWS},
    **{f"nJ/inf {df}": (lambda s, df=df: f"{by(digits_runs, *s, df)['nj']:.0f}") for df in DATAFLOWS},
    "area mm²": lambda s: f"{by(digits_runs, *s, 'ws')['area']:.2f}",
    "DRAM B/inf (ws)": lambda s: f"{by(digits_runs, *s, 'ws')['dram']:.0f}",
})
"""),
    code(r"""
def grid_plot(runs, title, cycles_label):
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    x = np.arange(len(SHAPES))
    for i, df in enumerate(DATAFLOWS):
        rs = [by(runs, R, C, df) for R, C in SHAPES]
        off = (i - 1) * 0.27
        axes[0].bar(x + off, [r["cycles"] for r in rs], 0.27, color=COLORS[df], label=df)
        axes[1].bar(x + off, [100 * r["utilization"] for r in rs], 0.27, color=COLORS[df])
        axes[2].bar(x + off, [r["nj"] for r in rs], 0.27, color=COLORS[df])
    for ax, label in zip(axes, (cycles_label, "utilization %", "energy per inference (nJ)"), strict=True):
        ax.set_xticks(x, [f"{R}×{C}" for R, C in SHAPES], rotation=60, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    axes[2].set_yscale("log")
    axes[0].legend(title="dataflow")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


show(grid_plot(digits_runs, "digits CNN, 360 images per batch (compiled, scoreboard timing)",
               "cycles per batch"))
"""),
    code(r"""
def share(run, part):
    return run["energy"][part] / run["energy"]["total"]


best_util = max(digits_runs, key=lambda r: r["utilization"])
best_nj = min(digits_runs, key=lambda r: r["nj"])
worst_nj = max(digits_runs, key=lambda r: r["nj"])
big = by(digits_runs, 128, 128, "ws")
max_n = max(n for *_, n in GEMMS["digits"])
max_k = max(k for _, _, k, _ in GEMMS["digits"])
display(Markdown(
    f"**Digits CNN.** Its weight matrices are tiny (K ≤ {max_k}, N ≤ {max_n}), so most of a large "
    f"array idles: utilization peaks at {100 * best_util['utilization']:.0f}% "
    f"({best_util['shape']} {best_util['dataflow']}) and falls to {100 * big['utilization']:.1f}% on "
    f"128×128 ws. Energy follows: {best_nj['nj']:.0f} nJ per inference at best "
    f"({best_nj['shape']} {best_nj['dataflow']}), {worst_nj['nj']:.0f} nJ at worst "
    f"({worst_nj['shape']} {worst_nj['dataflow']}, {worst_nj['nj'] / best_nj['nj']:.1f}×): every "
    f"streamed value is latched by every PE it passes, useful or not, so pipeline registers take "
    f"{100 * share(big, 'register'):.0f}% of the energy on 128×128 ws against "
    f"{100 * share(by(digits_runs, 8, 8, 'ws'), 'register'):.0f}% on 8×8 ws."))
assert big["utilization"] < best_util["utilization"] / 10
assert share(big, "register") > share(by(digits_runs, 8, 8, "ws"), "register")
"""),
    md(r"""
## 2. ResNet-18 across the same 33 machines (analytic, matrix unit only)

A compiled ResNet-18 run takes seconds, so the full sweep uses the array's closed-form timing
instead: `tpu.array.plan_gemm` tiles each layer's GEMM exactly as the cycle-level model and
the RTL run it, and `tpu.array.activity.array_counts` counts the register and on-chip buffer
activity that energy is charged on. This view is **stall-free** (DRAM is assumed to keep up)
and leaves DRAM energy out; section 3 runs the compiler on a few machines to add both.
"""),
    code(r"""
def analytic(net, cfg):
    plans = [plan_gemm(m, k, n, cfg) for _, m, k, n in GEMMS[net]]
    cycles = sum(p.cycles for p in plans)
    counts = sum((array_counts(p, cfg) for p in plans), Counts())
    macs = sum(p.macs for p in plans)
    totals = {"cycles": cycles, "stall_cycles": 0, "dram_bytes": {},
              "utilization": macs / (cycles * cfg.array.rows * cfg.array.cols),
              "energy_pj": energy(counts, cfg).to_dict()}
    return dict(summarize(net, cfg, totals), counts=counts)


t = time.perf_counter()
resnet_grid = [analytic("resnet18", machine(R, C, df)) for R, C in SHAPES for df in DATAFLOWS]
print(f"{len(resnet_grid)} machines in {time.perf_counter() - t:.1f} s")
show(grid_plot(resnet_grid, "ResNet-18, one 224×224 image (analytic: matrix unit and on-chip "
               "buffers, no DRAM stalls)", "cycles per inference"))
"""),
    code(r"""
def best_df(runs, R, C, key="cycles"):
    return min(DATAFLOWS, key=lambda df: by(runs, R, C, df)[key])


wins = {df: [f"{R}×{C}" for R, C in SHAPES if best_df(resnet_grid, R, C) == df] for df in DATAFLOWS}
tall, wide = by(resnet_grid, 128, 32, "ws"), by(resnet_grid, 32, 128, "ws")
r8, r128 = by(resnet_grid, 8, 8, "ws"), by(resnet_grid, 128, 128, "ws")
ks = sorted(k for _, _, k, _ in GEMMS["resnet18"])
ns = sorted(n for *_, n in GEMMS["resnet18"])


def tiled(R, C):
    # cycles if every ws tile streamed its M rows back to back: partly filled tiles count whole
    return sum(-(-k // R) * -(-n // C) * m for _, m, k, n in GEMMS["resnet18"])


def short_tiles(R):
    # layers whose tiles stream fewer rows than the R weight rows the next tile must load
    return [name_ for name_, m, k, n in GEMMS["resnet18"] if m < R]


ideal = sum(m * k * n for _, m, k, n in GEMMS["resnet18"]) / (128 * 32)
energies = [r["nj"] for r in resnet_grid]
cycles_ = [r["cycles"] for r in resnet_grid]
display(Markdown(
    f"**ResNet-18.** Its GEMMs are large (median K = {ks[len(ks) // 2]}, median N = "
    f"{ns[len(ns) // 2]}), so even 128×128 stays {100 * r128['utilization']:.0f}% busy (ws) and "
    f"runs {r8['cycles'] / r128['cycles']:.0f}× faster than 8×8 on {128 * 128 // 64}× the PEs. "
    f"Fewest cycles per shape: " + "; ".join(f"{df} on {', '.join(s)}" for df, s in wins.items() if s)
    + f".\n\nIn ws the array's rows hold the reduction K and its columns the output channels N. "
    f"128×32 (tall) takes {tall['cycles']:,} cycles, 32×128 (wide) {wide['cycles']:,}; both would "
    f"need {ideal:,.0f} with every PE busy. Counting partly filled tiles as whole ones gives "
    f"{tiled(128, 32):,} (tall) and {tiled(32, 128):,} (wide) — ResNet's first stages have "
    f"{min(ns)} output channels, a fraction of 128 columns — and the rest is layers whose tiles "
    f"stream fewer rows than the weight rows the next tile loads "
    f"({', '.join(short_tiles(128)) or 'none'} on the tall array, "
    f"{', '.join(short_tiles(32)) or 'none'} on the wide one).\n\n"
    f"Energy per inference varies {max(energies) / min(energies):.1f}× across the 33 machines, "
    f"cycles {max(cycles_) / min(cycles_):.0f}×: the MACs cost the same everywhere and register and "
    f"buffer traffic ({100 * (share(r8, 'register') + share(r8, 'sram')):.0f}% of the energy on "
    f"8×8 ws, {100 * (share(r128, 'register') + share(r128, 'sram')):.0f}% on 128×128 ws) moves the "
    f"same data whatever the shape, only more or less often."))
assert r128["cycles"] < r8["cycles"]
assert tall["cycles"] >= ideal and wide["cycles"] >= ideal
"""),
    md(r"""
## 3. Buffers and the bandwidth wall

Now the compiler, with its scoreboard and the configured 16 DRAM bytes per cycle. First the
unified buffer (activations): while a layer's input and output do not fit, they stream
through DRAM.
"""),
    code(r"""
t = time.perf_counter()
UB_SIZES = [64 << 10, 256 << 10, 1 << 20, 4 << 20]
resnet_runs = {}  # (rows, cols, dataflow, unified_buffer_bytes) -> (summary, RunResult)


def run_resnet(R, C, df="ws", ub=BASE.memory.unified_buffer_bytes):
    key = (R, C, df, ub)
    if key not in resnet_runs:
        cfg = machine(R, C, df, unified_buffer_bytes=ub)
        res = compile(resnet, cfg).run(image)
        resnet_runs[key] = (summarize("resnet18", cfg, res.totals), res)
    return resnet_runs[key]


ub_sweep = [run_resnet(32, 32, "ws", ub) for ub in UB_SIZES]
by_ub = dict(zip(UB_SIZES, ub_sweep, strict=True))
table([(ub, s, r) for ub, (s, r) in by_ub.items()], {
    "unified buffer": lambda x: f"{x[0] >> 10:,} KiB",
    "DRAM weights": lambda x: f"{x[2].totals['dram_bytes']['weights']:,}",
    "DRAM activations in": lambda x: f"{x[2].totals['dram_bytes']['inputs']:,}",
    "DRAM out": lambda x: f"{x[2].totals['dram_bytes']['outputs']:,}",
    "cycles": lambda x: f"{x[1]['cycles']:,}",
    "stalls": lambda x: f"{100 * x[1]['stalls'] / x[1]['cycles']:.0f}%",
    "µJ/inference": lambda x: f"{x[1]['nj'] / 1e3:,.0f}",
    "area mm²": lambda x: f"{x[1]['area']:.2f}",
})
image_bytes = image.size  # int8 input image
UB_FIT = min(ub for ub, (s, r) in by_ub.items()
             if r.totals["dram_bytes"]["inputs"] == image_bytes)
small, default, fit = (by_ub[u][0] for u in (UB_SIZES[0], 256 << 10, UB_FIT))
display(Markdown(
    f"From {UB_FIT >> 10:,} KiB on, every activation stays on chip: the only activation bytes read "
    f"from DRAM are the {image_bytes:,}-byte image, and cycles drop from {default['cycles']:,} "
    f"(default 256 KiB) to {fit['cycles']:,} ({100 * (1 - fit['cycles'] / default['cycles']):.0f}% "
    f"fewer); {UB_SIZES[0] >> 10} KiB needs {small['cycles'] / fit['cycles']:.1f}× the cycles of "
    f"{UB_FIT >> 10:,} KiB. A larger buffer buys nothing more and costs area and energy per access. "
    f"What remains is the weights: each is read from DRAM once per inference."))
biggest = by_ub[UB_SIZES[-1]][0]
assert biggest["cycles"] == fit["cycles"] and biggest["nj"] > fit["nj"] and biggest["area"] > fit["area"]
print(f"({time.perf_counter() - t:.1f} s)")
"""),
    md(r"""
With activations on chip (unified buffer = the size found above), we compile ResNet-18 for the
square weight-stationary arrays and compare the scoreboard's cycles with the stall-free
analytic count of section 2. The difference is time the matrix unit waits for DRAM.
"""),
    code(r"""
t = time.perf_counter()
SQUARES = [(16, 16), (32, 32), (64, 64), (128, 128)]
compiled = [run_resnet(R, C, "ws", UB_FIT)[0] for R, C in SQUARES]
table(compiled, {
    "array": lambda r: r["shape"],
    "analytic cycles": lambda r: f"{by(resnet_grid, r['rows'], r['cols'], 'ws')['cycles']:,}",
    "compiled cycles": lambda r: f"{r['cycles']:,}",
    "stalled": lambda r: f"{100 * r['stalls'] / r['cycles']:.0f}%",
    "utilization": lambda r: f"{100 * r['utilization']:.0f}%",
    "µJ/inference": lambda r: f"{r['nj'] / 1e3:,.0f}",
    "DRAM bytes": lambda r: f"{r['dram']:,.0f}",
    "area mm²": lambda r: f"{r['area']:.2f}",
})
print(f"({time.perf_counter() - t:.1f} s)")
"""),
    md(r"""
### Rooflines with layers as points

`tpu.roofline.roof(config)` gives the machine's two ceilings (peak MACs/s and DRAM bytes/s);
`layer_points(result)` places every matrix layer of a run at its arithmetic intensity (MACs per
DRAM byte it moved) and the rate the scoreboard timed for it. Left of the ridge a layer cannot
be faster than its bytes allow.
"""),
    code(r"""
for R, C in ((32, 32), (128, 128)):
    summary, res = run_resnet(R, C, "ws", UB_FIT)
    roof_ = roofline.roof(summary["config"])
    show(roofline.roofline_figure(roof_, roofline.layer_points(res),
                                  title=f"ResNet-18 on {R}×{C} ws, unified buffer {UB_FIT >> 10} KiB"))
"""),
    code(r"""
def wall(R, C):
    summary, res = run_resnet(R, C, "ws", UB_FIT)
    points = roofline.layer_points(res)
    roof_ = roofline.roof(summary["config"])
    memory = [p for p in points if p.bound == "memory"]
    return roof_, points, memory, summary


(roof32, p32, m32, s32), (roof128, p128, m128, s128) = wall(32, 32), wall(128, 128)
macs = sum(p.macs for p in p128)
weight_bytes = sum(p.weight_bytes for p in p128)
net_intensity = macs / weight_bytes
display(Markdown(
    f"**The bandwidth wall.** With 16 bytes/cycle, the ridge is at {roof32.ridge_macs_per_byte:,.0f} "
    f"MACs per DRAM byte for 32×32 and {roof128.ridge_macs_per_byte:,.0f} for 128×128 — 16× the PEs, "
    f"same DRAM. ResNet-18 at batch 1 reuses each weight byte {net_intensity:,.0f} times on average, "
    f"so {len(m32)} of {len(p32)} layers are memory-bound on 32×32 but {len(m128)} of {len(p128)} on "
    f"128×128, where the matrix unit stalls for {100 * s128['stalls'] / s128['cycles']:.0f}% of the "
    f"cycles and 16× the PEs buy only {s32['cycles'] / s128['cycles']:.1f}× the speed. Moving the "
    f"wall needs more DRAM bandwidth or more reuse per weight byte (a larger batch)."))
assert len(m128) > len(m32)
assert s32["cycles"] / s128["cycles"] < 16 / 2
"""),
    md(r"""
## 4. Which shape is best per mm² and per joule?

Performance per area (inferences per second per mm² of array + buffers) against energy
efficiency (inferences per joule). A machine is on the **Pareto front** when no other machine
is at least as good on both and better on one. Digits: the 33 compiled machines of section 1.
ResNet-18: the 33 analytic machines of section 2, given the unified buffer found above and
charged the compulsory DRAM traffic of the compiled 32×32 run (every weight once, the image,
the logits) but no stalls — an optimistic bound — and, in black, the compiled square ws
machines of section 3, stalls included.
"""),
    code(r"""
def pareto(runs):
    pts = [(1e9 / r["nj"], r["per_s"] / r["area"]) for r in runs]  # inferences/J, inf/s/mm²
    return [r for r, (x, y) in zip(runs, pts, strict=True)
            if not any(x2 >= x and y2 >= y and (x2, y2) != (x, y) for x2, y2 in pts)]


def pareto_panel(ax, runs, title, extra=()):
    front = pareto(runs)
    for df in DATAFLOWS:
        rs = [r for r in runs if r["dataflow"] == df]
        ax.scatter([1e9 / r["nj"] for r in rs], [r["per_s"] / r["area"] for r in rs],
                   color=COLORS[df], label=df, s=25)
    front_sorted = sorted(front, key=lambda r: 1e9 / r["nj"])
    ax.plot([1e9 / r["nj"] for r in front_sorted], [r["per_s"] / r["area"] for r in front_sorted],
            "k--", lw=1, label="Pareto front")
    for j, r in enumerate(front_sorted):  # labels alternate above and below the front
        ax.annotate(f"{r['shape']} {r['dataflow']}", (1e9 / r["nj"], r["per_s"] / r["area"]),
                    fontsize=7, xytext=(3, 4 if j % 2 else -10), textcoords="offset points")
    for r in extra:
        ax.scatter(1e9 / r["nj"], r["per_s"] / r["area"], color="k", marker="s", s=30)
        ax.annotate(f"{r['shape']} compiled", (1e9 / r["nj"], r["per_s"] / r["area"]), fontsize=7,
                    xytext=(3, -9), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("inferences per joule")
    ax.set_ylabel("inferences per second per mm²")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return front


compulsory = by_ub[UB_FIT][1].totals["dram_bytes"]  # weights, inputs, outputs


def with_buffer(r):
    # an analytic ResNet-18 machine with the UB_FIT unified buffer and compulsory DRAM traffic
    cfg = machine(r["rows"], r["cols"], r["dataflow"], unified_buffer_bytes=UB_FIT)
    counts = dataclasses.replace(r["counts"], dram_bytes=compulsory)
    return dict(r, config=cfg, area=area(cfg).total, nj=energy(counts, cfg).total / 1e3)


resnet_bound = [with_buffer(r) for r in resnet_grid]
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
digits_front = pareto_panel(left, digits_runs, "digits CNN (compiled)")
resnet_front = pareto_panel(right, resnet_bound, "ResNet-18 (analytic bound; black: compiled)",
                            compiled)
fig.tight_layout()
show(fig)
"""),
    code(r"""
def best(runs, key):
    return max(runs, key=key)


def per_mm2(r):
    return r["per_s"] / r["area"]


def per_joule(r):
    return 1e9 / r["nj"]


def name(r):
    return f"{r['shape']} {r['dataflow']}"


def sram_share(R, C):
    a_ = area(machine(R, C))
    return a_.sram / a_.total


d_area, d_energy = best(digits_runs, per_mm2), best(digits_runs, per_joule)
ra_area, ra_energy = best(resnet_bound, per_mm2), best(resnet_bound, per_joule)
rc_area, rc_energy = best(compiled, per_mm2), best(compiled, per_joule)
display(Markdown(
    f"* **Digits CNN**: best per mm² is {name(d_area)} ({per_mm2(d_area):,.0f} inferences/s/mm²), "
    f"best per joule {name(d_energy)} ({per_joule(d_energy):,.0f} inferences/J); the front has "
    f"{len(digits_front)} machines: {', '.join(name(r) for r in digits_front)}.\n"
    f"* **ResNet-18, analytic bound** (no stalls): best per mm² {name(ra_area)}, best per joule "
    f"{name(ra_energy)}.\n"
    f"* **ResNet-18, compiled** (stalls and DRAM included, square ws): best per mm² "
    f"{name(rc_area)} ({per_mm2(rc_area):.1f} inferences/s/mm²), best per joule {name(rc_energy)} "
    f"({per_joule(rc_energy):.0f} inferences/J). The analytic view ranks {name(ra_area)} first "
    f"per mm²; once the DRAM wall is counted, "
    + ("the ranking holds." if rc_area["shape"] == ra_area["shape"] else
       f"{rc_area['shape']} wins: the larger array's extra PEs wait for weights.")
    + f"\n* The buffers' area is the same on every machine, so small arrays spread it over few PEs: "
    f"SRAM is {100 * sram_share(8, 8):.0f}% of the 8×8 machine's area and "
    f"{100 * sram_share(128, 128):.0f}% of the 128×128's."))
assert d_area in digits_front and d_energy in digits_front
assert ra_area in resnet_front and ra_energy in resnet_front
"""),
    md(r"""
## 5. Our cycles beside SCALE-Sim's

SCALE-Sim 3.0 (`tpu.scalesim`, which reproduces its compute report exactly and is tested
against the real package) runs each layer as a sequence of **folds**, one strictly after the
other: a ws fold shifts its weights in (R cycles), fills and drains the array (R + C − 2) and
streams T rows. Our ws machine double-buffers the weights in the PEs (as TPU v1 does): the next
tile shifts in while the current one computes, and the pipeline fills and drains once per
layer. So the gap should be about **folds × (2R + C − 2)** cycles per layer — unless a fold
streams fewer rows than it has weight rows to load, when loading, not streaming, sets the pace.
Same ResNet-18 GEMMs, 32×32 array.
"""),
    code(r"""
R = C = 32
rows = []
for df in DATAFLOWS:
    cfg = machine(R, C, df)
    for name_, m_, k_, n_ in GEMMS["resnet18"]:
        lt = scalesim.layer_timing(scalesim.Layer.gemm(name_, m_, n_, k_), R, C, df)
        ours = gemm_cycles(m_, k_, n_, cfg)
        overhead = R + C - 2 if df == "os" else 2 * R + C - 2  # per fold, paid once by us
        rows.append(dict(layer=name_, dataflow=df, folds=lt.folds, scalesim=lt.cycles, ours=ours,
                         gap=lt.cycles - ours, model=lt.folds * overhead))

ws_rows = [r for r in rows if r["dataflow"] == "ws"]
table(ws_rows, {"layer (ws)": lambda r: r["layer"], "folds": lambda r: f"{r['folds']:,}",
                "SCALE-Sim": lambda r: f"{r['scalesim']:,}", "ours": lambda r: f"{r['ours']:,}",
                "ratio": lambda r: f"{r['scalesim'] / r['ours']:.2f}",
                "gap": lambda r: f"{r['gap']:,}", "folds×(2R+C−2)": lambda r: f"{r['model']:,}"})

fig, ax = plt.subplots(figsize=(12, 3.6))
x = np.arange(len(ws_rows))
for i, df in enumerate(DATAFLOWS):
    rs = [r for r in rows if r["dataflow"] == df]
    ax.bar(x + (i - 1) * 0.27, [r["scalesim"] / r["ours"] for r in rs], 0.27, color=COLORS[df],
           label=df)
ax.axhline(1, color="k", lw=0.8)
ax.set_xticks(x, [r["layer"] for r in ws_rows], rotation=70, fontsize=7)
ax.set_ylabel("SCALE-Sim cycles / ours")
ax.set_title("ResNet-18 layers on 32×32: SCALE-Sim's fold-serial count over ours")
ax.legend(title="dataflow")
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
show(fig)
"""),
    code(r"""
summary = {}
for df in DATAFLOWS:
    rs = [r for r in rows if r["dataflow"] == df]
    s, o = sum(r["scalesim"] for r in rs), sum(r["ours"] for r in rs)
    summary[df] = dict(ratio=s / o, explained=sum(r["gap"] for r in rs) / sum(r["model"] for r in rs))
load_bound = [r["layer"] for r in ws_rows if r["gap"] < 0.9 * r["model"]]
display(Markdown(
    "SCALE-Sim needs " + ", ".join(f"{v['ratio']:.2f}× our cycles in {df}" for df, v in summary.items())
    + f" for the whole network. In ws the per-fold overhead we hide accounts for "
    f"{100 * summary['ws']['explained']:.0f}% of the gap (os: {100 * summary['os']['explained']:.0f}%, "
    f"is: {100 * summary['is']['explained']:.0f}%); os gains least because SCALE-Sim's os folds have "
    f"no weight shift-in to hide, only the drain we overlap. Layers where the model overshoots the "
    f"gap: {', '.join(load_bound) or 'none'} — there a fold streams fewer rows than the "
    f"{R} weight rows the next one must load, so we too wait for weights."))
assert all(r["ours"] <= r["scalesim"] for r in ws_rows)
assert summary["ws"]["explained"] > 0.9
assert summary["os"]["ratio"] < min(summary["ws"]["ratio"], summary["is"]["ratio"])
"""),
    md(r"""
## Conclusions
"""),
    code(r"""
d_big, d_small = by(digits_runs, 128, 128, "ws"), by(digits_runs, 8, 8, "ws")


def spread(runs, key):
    # largest max/min ratio between dataflows on one shape, and between shapes for one dataflow
    per_shape = max(max(by(runs, R, C, df)[key] for df in DATAFLOWS)
                    / min(by(runs, R, C, df)[key] for df in DATAFLOWS) for R, C in SHAPES)
    per_df = max(max(by(runs, R, C, df)[key] for R, C in SHAPES)
                 / min(by(runs, R, C, df)[key] for R, C in SHAPES) for df in DATAFLOWS)
    return per_shape, per_df


df_cycles, shape_cycles = spread(resnet_grid, "cycles")
df_nj, _ = spread(digits_runs, "nj")
nj_shape = max(SHAPES, key=lambda s: max(by(digits_runs, *s, df)["nj"] for df in DATAFLOWS)
               / min(by(digits_runs, *s, df)["nj"] for df in DATAFLOWS))
nj_hi = max((by(digits_runs, *nj_shape, df) for df in DATAFLOWS), key=lambda r: r["nj"])
nj_lo = min((by(digits_runs, *nj_shape, df) for df in DATAFLOWS), key=lambda r: r["nj"])
display(Markdown(f'''
1. **Match the array to the layers.** The digits CNN (K ≤ {max_k}, N ≤ {max_n}) keeps at most
   {100 * best_util['utilization']:.0f}% of any array busy and is cheapest per inference on
   {name(best_nj)}; 128×128 costs {d_big['nj'] / d_small['nj']:.1f}× the energy of 8×8 (ws) for
   the same answers. ResNet-18 keeps 128×128 {100 * r128['utilization']:.0f}% busy when DRAM keeps up.
2. **Shape before dataflow for speed**: on ResNet-18 the dataflows differ by at most
   {df_cycles:.1f}× in cycles on any one shape, the shapes by up to {shape_cycles:.0f}× (the
   fewest-cycles dataflow is {", ".join(f"{df} on {len(s)}" for df, s in wins.items() if s)} of
   {len(SHAPES)} shapes). For energy the dataflow matters more: on the digits CNN
   {nj_hi['dataflow']} costs {df_nj:.1f}× the energy of {nj_lo['dataflow']} on {nj_hi['shape']},
   because the dataflow decides which operand streams past every PE: its pipeline registers take
   {nj_hi['energy']['register'] / nj_lo['energy']['register']:.0f}× the energy.
3. **Buffers**: a {UB_FIT >> 10:,} KiB unified buffer keeps every ResNet-18 activation on chip
   ({100 * (1 - fit['cycles'] / default['cycles']):.0f}% fewer cycles than 256 KiB); larger only adds area.
4. **The bandwidth wall**: at batch 1 and 16 bytes/cycle, {len(m128)} of {len(p128)} ResNet-18 layers
   are memory-bound on 128×128 and the matrix unit stalls
   {100 * s128['stalls'] / s128['cycles']:.0f}% of the time; per mm² the compiled best is
   {name(rc_area)}, per joule {name(rc_energy)}.
5. **SCALE-Sim** counts {summary['ws']['ratio']:.2f}× our ws cycles on ResNet-18 (32×32), almost
   all of it ({100 * summary['ws']['explained']:.0f}%) the weight shift-in and pipeline fill/drain it
   pays per fold and our double-buffered weights hide.
'''))
assert df_cycles < shape_cycles
print(f"notebook ran in {time.perf_counter() - START:.0f} s")
"""),
]

# ---------------------------------------------------------------------------------------------
# 02: precision trade-offs

PRECISION = [
    md(r"""
# Precision trade-offs: how narrow can the digits models go, and what does it buy?

The bundled digits CNN (two convolutions and a dense layer, trained in FP32 on sklearn's 8×8
digits) is quantized in the ways users ask about, and each result is set beside what it costs
on the array:

* **schemes** — symmetric max-abs weights (non-saturating), affine min-max weights with a zero
  point, and saturating activation thresholds (percentile, KL), per tensor or per channel;
* **modes** — weight-only, static post-training with calibration (PTQ), quantization-aware
  training (QAT);
* **widths** — W2/W4/W8/W16 × A8/A16 against FP32: accuracy on the 360 held-out digits, top-1
  agreement with FP32 and logit SQNR, beside energy per inference and array area;
* which **layer** hurts most when narrowed, the **storage** saving and the **energy per MAC** by
  width.

Quantized rows run exact integer arithmetic: the compiler's program on the array, or
`tpu.quant`'s integer model, which computes the same layers but returns the last layer's int32
sums as float logits where the compiled graph requantizes them to 8 bits first (so its SQNR
reads a little higher at the same widths). Every statement in
the conclusions is computed below. It runs in under a minute and writes no files.
"""),
    code(r"""
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import tpu
from tpu.compiler import compile, ir, reference
from tpu.compiler.quantize import quantize
from tpu.cost import fp_mac_energy_pj, load_tech, mac_energy_pj
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.model import Sequential
from tpu.nn.train import TrainConfig
from tpu.quant.modes import qat, static_ptq, weight_only
from tpu.quant.qmodel import Scheme
from tpu.report import markdown_table
from tpu.study import CALIBRATION, QAT_METHOD, Workload, array_for, format_table, sqnr_db, study, study_figure

%matplotlib inline
START = time.perf_counter()
BASE = tpu.load_config("edge-32")
WIDTHS = (2, 4, 8, 16)
CALIB = 256  # calibration images, from the training split
QAT_EPOCHS = 6  # fine-tuning epochs per QAT run (tpu quant report uses 15)


def show(fig):
    display(fig)
    plt.close(fig)  # displayed once, explicitly


def table(rows, columns):
    # columns: {header: function of a row -> text}
    display(Markdown(markdown_table(columns, [[f(r) for f in columns.values()] for r in rows])))


x_train, x_test, y_train, y_test = load_digits_split()
path = bundled_model("cnn")
graph = load_onnx(path)  # the compiler's float graph
model = Sequential.from_onnx(path)  # the same network for tpu.quant (weight-only, PTQ, QAT)
ref = np.asarray(reference.evaluate(graph, x_test)[0], np.float64)  # FP32 logits
assert np.allclose(model.forward(x_test), ref, rtol=0, atol=1e-5)


def metrics(logits):
    pred = np.argmax(logits, axis=1)
    return dict(accuracy=float(np.mean(pred == y_test)),
                agreement=float(np.mean(pred == ref.argmax(1))), sqnr=sqnr_db(ref, logits))


FP32 = metrics(ref)
print(f"FP32: {100 * FP32['accuracy']:.2f}% on {len(x_test)} held-out digits; "
      f"{len(x_train)} training images, the first {CALIB} used for calibration")
"""),
    md(r"""
## 1. What narrowing buys, before any accuracy is lost

Two costs shrink with the operand width: the bytes a model occupies (and moves) and the energy
of each multiply-accumulate. Multipliers grow about with the product of the operand widths,
adders with their width (the accumulator is 32 bits, 48 once the operands add up to more than
16), and an FP32 MAC is a float multiplier and adder.
"""),
    code(r"""
tech = load_tech(BASE.tech.name)
fp32_mac = fp_mac_energy_pj(tech, "fp32")
params = [(n.name, np.asarray(n.weight).size, 0 if n.bias is None else np.asarray(n.bias).size)
          for n in graph.nodes if isinstance(n, ir.Conv | ir.Gemm)]
n_weights = sum(w for _, w, _ in params)
n_bias = sum(b for *_, b in params)
fp32_bytes = 4 * (n_weights + n_bias)


def stored_bytes(bits):
    # packed weights plus int32 biases (biases stay 32-bit at every width)
    return -(-n_weights * bits // 8) + 4 * n_bias


def mac_pj(w_bits, a_bits):
    return mac_energy_pj(tech, a_bits, w_bits, array_for(BASE, w_bits, a_bits).array.acc_bits)


cost_rows = [dict(width=f"W{w}A{a}", w=w, a=a, bytes=stored_bytes(w), pj=mac_pj(w, a))
             for a in (8, 16) for w in WIDTHS]
table(cost_rows, {
    "operands": lambda r: r["width"],
    "model bytes": lambda r: f"{r['bytes']:,}",
    "smaller than FP32": lambda r: f"{fp32_bytes / r['bytes']:.1f}×",
    "pJ per MAC": lambda r: f"{r['pj']:.3f}",
    "cheaper than an FP32 MAC": lambda r: f"{fp32_mac / r['pj']:.0f}×",
})

fig, ax = plt.subplots(figsize=(8, 3.5))
labels = [r["width"] for r in cost_rows] + ["FP32"]
ax.bar(labels, [r["pj"] for r in cost_rows] + [fp32_mac],
       color=["tab:blue"] * 4 + ["tab:orange"] * 4 + ["tab:red"])
ax.set_yscale("log")
ax.set_ylabel(f"pJ per MAC ({tech.name})")
ax.set_title("energy of one multiply-accumulate by operand width")
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
show(fig)

weight_ratio = 4 * n_weights / -(-n_weights * 8 // 8)
int8 = next(r for r in cost_rows if r["width"] == "W8A8")
w2 = next(r for r in cost_rows if r["width"] == "W2A8")
display(Markdown(
    f"The CNN has {n_weights:,} weights and {n_bias} biases. FP32 → INT8 stores the weights "
    f"**{weight_ratio:.0f}× smaller** ({4 * n_weights:,} → {n_weights:,} bytes; "
    f"{fp32_bytes / int8['bytes']:.2f}× with the int32 biases). An int8 MAC costs "
    f"{int8['pj']:.2f} pJ against {fp32_mac:.1f} pJ in FP32 ({fp32_mac / int8['pj']:.0f}×); going on "
    f"to W2A8 saves only another {100 * (1 - w2['pj'] / int8['pj']):.0f}% per MAC, because the 32-bit "
    f"accumulator adder does not shrink with the operands."))
assert weight_ratio == 4
"""),
    md(r"""
## 2. Schemes at W8A8 and W4A8, run on the array

Every row below is quantized by `tpu.compiler.quantize.quantize` (static post-training, the first
256 training images as calibration) and run by the compiler on an array built for its widths.
Activations are unsigned with a zero point (affine) in every row, as onnxruntime does by
default; what changes is how each range is chosen:

* **symmetric max-abs** weights: ±max|w| maps to ±(2^(b−1)−1), zero point 0 — nothing clips;
* **affine min-max** weights: [min w, max w] maps to the full signed range with a zero point
  (the array adds one column of ones that yields Σx for the zero-point term);
* activation ranges from **min/max** (nothing clips), or **saturating** thresholds: the 99.99th
  **percentile** of |x|, or the **KL**-divergence-optimal threshold (TensorRT's method);
* **per tensor** (one scale per weight tensor) or **per channel** (one per output channel).
"""),
    code(r"""
SCHEMES = {
    "sym max-abs W, min/max A": dict(method="minmax", symmetric_weights=True),
    "affine min-max W, min/max A": dict(method="minmax", symmetric_weights=False),
    "sym max-abs W, percentile A": dict(method="percentile", symmetric_weights=True),
    "sym max-abs W, KL A": dict(method="kl", symmetric_weights=True),
}


def on_array(w_bits, a_bits, per_channel=True, q_graph=None, **kw):
    # quantize (unless given a quantized graph), compile for an array of these widths, run
    cfg = array_for(BASE, w_bits, a_bits)
    if q_graph is None:
        q_graph = quantize(graph, x_train[:CALIB], per_channel=per_channel, act_bits=a_bits,
                           weight_bits=w_bits, act_signed=False, weight_signed=True, **kw)
    res = compile(q_graph, cfg).run(x_test)
    return dict(**metrics(res.outputs[0]), nj=res.totals["energy_pj"]["total"] / len(x_test) / 1e3,
                cycles=res.totals["cycles"])


t = time.perf_counter()
scheme_rows = [dict(scheme=s, w=w, gran=g, **on_array(w, 8, g == "per channel", **kw))
               for w in (8, 4) for s, kw in SCHEMES.items() for g in ("per tensor", "per channel")]
print(f"{len(scheme_rows)} quantized runs in {time.perf_counter() - t:.1f} s")
table(scheme_rows, {
    "weights": lambda r: f"W{r['w']}A8", "scheme": lambda r: r["scheme"],
    "granularity": lambda r: r["gran"], "accuracy": lambda r: f"{100 * r['accuracy']:.2f}%",
    "agree FP32": lambda r: f"{100 * r['agreement']:.2f}%",
    "SQNR dB": lambda r: f"{r['sqnr']:.1f}", "nJ/inference": lambda r: f"{r['nj']:.1f}",
    "cycles (360 digits)": lambda r: f"{r['cycles']:,}",
})
"""),
    code(r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, w in zip(axes, (8, 4), strict=True):
    x = np.arange(len(SCHEMES))
    for i, g in enumerate(("per tensor", "per channel")):
        vals = [next(r["sqnr"] for r in scheme_rows if (r["w"], r["scheme"], r["gran"]) == (w, s, g))
                for s in SCHEMES]
        ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=g)
    ax.set_xticks(x, list(SCHEMES), rotation=20, ha="right", fontsize=8)
    ax.set_title(f"W{w}A8")
    ax.grid(axis="y", alpha=0.3)
axes[0].set_ylabel("logit SQNR vs FP32 (dB)")
axes[0].legend()
fig.tight_layout()
show(fig)


def pick(w, scheme, gran):
    return next(r for r in scheme_rows if (r["w"], r["scheme"], r["gran"]) == (w, scheme, gran))


best8 = max((r for r in scheme_rows if r["w"] == 8), key=lambda r: r["sqnr"])
best4 = max((r for r in scheme_rows if r["w"] == 4), key=lambda r: r["sqnr"])
pc_gain = {w: np.mean([pick(w, s, "per channel")["sqnr"] - pick(w, s, "per tensor")["sqnr"]
                       for s in SCHEMES]) for w in (8, 4)}
sym = pick(4, "sym max-abs W, min/max A", "per channel")
aff = pick(4, "affine min-max W, min/max A", "per channel")
kl = pick(8, "sym max-abs W, KL A", "per channel")
calib_acts = reference.evaluate(graph, x_train[:CALIB], all_tensors=True)


def clipped_share(method):
    # share of each quantized activation's calibration values outside its range
    q = quantize(graph, x_train[:CALIB], per_channel=True, method=method)
    share = {}
    for n in q.nodes:
        if isinstance(n, ir.Conv | ir.Gemm) and n.output in calib_acts:
            zp, scale = int(n.out_q.zero_point), float(n.out_q.scale)
            v = np.asarray(calib_acts[n.output])
            share[n.name] = float(np.mean((v > (n.out_q.qmax - zp) * scale)
                                          | (v < (n.out_q.qmin - zp) * scale)))
    return share


clipped_kl, clipped_pct = clipped_share("kl"), clipped_share("percentile")
mm = pick(8, "sym max-abs W, min/max A", "per channel")
display(Markdown(
    f"* Best W8A8 scheme by logit SQNR: **{best8['scheme']}, {best8['gran']}** ({best8['sqnr']:.1f} dB, "
    f"{100 * best8['accuracy']:.2f}%); best W4A8: **{best4['scheme']}, {best4['gran']}** "
    f"({best4['sqnr']:.1f} dB, {100 * best4['accuracy']:.2f}%). Accuracy alone cannot rank INT8 schemes "
    f"here: one test digit is {100 / len(x_test):.2f} points.\n"
    f"* Per-channel weight scales add {pc_gain[8]:.1f} dB on average at W8 and {pc_gain[4]:.1f} dB at W4.\n"
    f"* Affine weights at W4 (per channel): {aff['sqnr']:.1f} dB against {sym['sqnr']:.1f} dB symmetric — "
    f"the zero point {'buys' if aff['sqnr'] > sym['sqnr'] else 'does not buy'} precision here, and "
    f"costs {100 * (aff['nj'] / sym['nj'] - 1):.1f}% more energy per inference "
    f"({aff['cycles'] - sym['cycles']:+,} cycles per batch): the extra column of ones is one more "
    f"output column through the array.\n"
    f"* Saturating the activations with KL {'helps' if kl['sqnr'] > mm['sqnr'] else 'hurts'} at W8 "
    f"({kl['sqnr']:.1f} dB against {mm['sqnr']:.1f} dB for min/max): its thresholds clip "
    + ", ".join(f"{100 * c:.1f}%" for c in clipped_kl.values())
    + f" of the calibration values at the {len(clipped_kl)} quantized activations "
    f"({', '.join(clipped_kl)}), where the 99.99th percentile clips at most "
    f"{100 * max(clipped_pct.values()):.2f}%."))
assert aff["nj"] >= sym["nj"]
"""),
    md(r"""
## 3. Modes: weight-only, post-training, quantization-aware training

Same network, per-channel weights, 8-bit activations (except weight-only, whose activations stay
FP32), run by `tpu.quant`'s integer model:

* **weight-only** (`tpu.quant.modes.weight_only`): no data needed; weights are rounded, the rest
  is float;
* **static PTQ** (`static_ptq`): activation ranges from the calibration images; weights by
  max-abs, or with a **clipped (MSE-optimal) threshold** — the saturating scheme for weights;
* **QAT** (`qat`): fake quantization with the straight-through estimator, fine-tuned for a few
  epochs from the FP32 weights (MSE-clipped weights), then converted to integers.
"""),
    code(r"""
t = time.perf_counter()
calib = x_train[:CALIB]
modes = {"weight-only": {}, "PTQ max-abs": {}, "PTQ clipped (MSE)": {}, "QAT": {}}
for w in WIDTHS:
    scheme = Scheme(w_bits=w, a_bits=8, per_channel=True)
    clipped = dataclasses.replace(scheme, w_calib="mse")
    modes["weight-only"][w] = metrics(weight_only(model, scheme).forward(x_test))
    modes["PTQ max-abs"][w] = metrics(static_ptq(model, calib, scheme).forward(x_test))
    modes["PTQ clipped (MSE)"][w] = metrics(static_ptq(model, calib, clipped).forward(x_test))
    if w <= 4:  # where post-training loses accuracy
        trained = qat(model, x_train, y_train, clipped, TrainConfig(epochs=QAT_EPOCHS, lr=3e-3, seed=0))
        modes["QAT"][w] = metrics(trained.forward(x_test))
print(f"modes in {time.perf_counter() - t:.1f} s")

table([(mode, w) for mode in modes for w in WIDTHS if w in modes[mode]], {
    "mode": lambda r: r[0], "weights": lambda r: f"W{r[1]}" + ("" if r[0] == "weight-only" else "A8"),
    "accuracy": lambda r: f"{100 * modes[r[0]][r[1]]['accuracy']:.2f}%",
    "agree FP32": lambda r: f"{100 * modes[r[0]][r[1]]['agreement']:.2f}%",
    "SQNR dB": lambda r: f"{modes[r[0]][r[1]]['sqnr']:.1f}",
})

fig, ax = plt.subplots(figsize=(7, 4))
for mode, res in modes.items():
    ws = sorted(res)
    ax.plot(ws, [100 * res[w]["accuracy"] for w in ws], "o-", label=mode)
ax.axhline(100 * FP32["accuracy"], color="k", ls=":", label="FP32")
ax.set_xscale("log", base=2)
ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
ax.set_xlabel("weight bits")
ax.set_ylabel("test accuracy %")
ax.set_title("digits CNN: accuracy by mode and weight width (activations 8-bit)")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
show(fig)
"""),
    code(r"""
acc = {mode: {w: v["accuracy"] for w, v in res.items()} for mode, res in modes.items()}
fp = FP32["accuracy"]
zeros = {w: float(np.mean(np.round(weight_only(model, Scheme(w_bits=w, per_channel=True)).layers[0]
                                   .params["W"], 9) == 0)) for w in (2, 8)}
display(Markdown(
    f"* **W8 and up**: every mode stays within "
    f"{100 * max(abs(acc[m][w] - fp) for m in acc for w in (8, 16) if w in acc[m]):.2f} points of FP32 "
    f"({100 * fp:.2f}%).\n"
    f"* **W4**: max-abs PTQ {100 * acc['PTQ max-abs'][4]:.2f}%, clipped PTQ "
    f"{100 * acc['PTQ clipped (MSE)'][4]:.2f}%, QAT {100 * acc['QAT'][4]:.2f}%.\n"
    f"* **W2** (ternary weights): max-abs PTQ collapses to {100 * acc['PTQ max-abs'][2]:.1f}% — the "
    f"largest weight of each channel sets the scale, and {100 * zeros[2]:.0f}% of the first layer's "
    f"weights round to 0 (against {100 * zeros[8]:.0f}% at W8). Clipping the range recovers "
    f"{100 * acc['PTQ clipped (MSE)'][2]:.1f}% without training, and {QAT_EPOCHS} epochs of QAT "
    f"reach {100 * acc['QAT'][2]:.1f}% ({100 * (fp - acc['QAT'][2]):.1f} points below FP32). "
    f"Weight-only rounding at W2 gives {100 * acc['weight-only'][2]:.1f}%: the loss is in the weights, "
    f"not in the 8-bit activations."))
assert acc["PTQ clipped (MSE)"][2] > acc["PTQ max-abs"][2]
assert acc["QAT"][2] > acc["PTQ max-abs"][2]
assert abs(acc["weight-only"][2] - acc["PTQ max-abs"][2]) < 0.1
"""),
    md(r"""
## 4. Widths against cost: W2…W16 × A8/A16 beside FP32

`tpu.study.study` quantizes the float graph for every width pair (static PTQ, per-channel
max-abs weights, min/max activations), compiles it for an array whose operands are exactly that
wide and runs the 360 digits: accuracy, agreement and SQNR beside energy per inference, array
area, cycles and DRAM bytes. The FP32 row is an estimate on the same array shape (FP32 MACs,
4-byte elements). The QAT rows of section 3 (MSE-clipped weights, as the calibration column
says) are added at A8: their accuracy from the integer model, their cost that of the PTQ run of
the same widths (cost depends on shapes, not values).
"""),
    code(r"""
t = time.perf_counter()
work = Workload(graph, x_test, x_train[:CALIB], y_test)
rows = study(work, BASE, qat_epochs=0)
for w, m_ in modes["QAT"].items():
    ptq = next(r for r in rows if (r.weight_bits, r.act_bits, r.method) == (w, 8, "ptq"))
    rows.append(dataclasses.replace(ptq, method=QAT_METHOD, accuracy=m_["accuracy"],
                                    agreement=m_["agreement"], sqnr_db=m_["sqnr"],
                                    calibration=CALIBRATION[QAT_METHOD]))
rows.sort(key=lambda r: (r.weight_bits != 32, r.act_bits, r.weight_bits, r.method))
print(f"study in {time.perf_counter() - t:.1f} s")
display(Markdown(format_table(rows)))
show(study_figure(rows, "digits CNN: accuracy against energy, SQNR against area"))
"""),
    code(r"""
fp_row = next(r for r in rows if r.weight_bits == 32)
near = [r for r in rows if r.weight_bits != 32 and r.accuracy >= fp_row.accuracy - 0.01]
cheapest = min(near, key=lambda r: (r.energy_pj, r.area_mm2))
smallest = min(near, key=lambda r: (r.area_mm2, r.energy_pj))


def row(w, a, method="ptq"):
    return next(r for r in rows if (r.weight_bits, r.act_bits, r.method) == (w, a, method))


w8a8, w8a16, w2a8 = row(8, 8), row(8, 16), row(2, 8)


def label(r):
    return f"W{r.weight_bits}A{r.act_bits} {r.method.split()[0].upper()}"


display(Markdown(
    f"* Within one point of FP32's {100 * fp_row.accuracy:.2f}%, the cheapest machine per inference "
    f"is **{label(cheapest)}** ({cheapest.energy_pj / 1e3:.1f} nJ, {100 * cheapest.accuracy:.2f}%): "
    f"{fp_row.energy_pj / cheapest.energy_pj:.1f}× less energy than the FP32 estimate "
    f"({fp_row.energy_pj / 1e3:,.0f} nJ) on {fp_row.area_mm2 / cheapest.area_mm2:.1f}× less area"
    + (" and is also the smallest.\n" if smallest is cheapest else
       f"; the smallest is **{label(smallest)}** ({smallest.area_mm2:.2f} mm²).\n")
    + f"* Per inference, W2A8 uses only {100 * (1 - w2a8.energy_pj / w8a8.energy_pj):.1f}% less energy "
    f"than W8A8 although its MACs cost {100 * (1 - w2['pj'] / int8['pj']):.0f}% less: on this machine "
    f"the energy goes to moving data through registers and buffers, not to the multipliers.\n"
    f"* 16-bit activations cost {w8a16.energy_pj / w8a8.energy_pj:.1f}× the energy of 8-bit ones "
    f"(W8) and {w8a16.cycles / w8a8.cycles:.1f}× the cycles: the batch's activations no longer fit "
    f"the {BASE.memory.unified_buffer_bytes >> 10} KiB unified buffer and "
    f"{w8a16.dram_bytes / w8a8.dram_bytes:.0f}× the DRAM bytes move, for "
    f"{w8a16.sqnr_db - w8a8.sqnr_db:+.1f} dB of SQNR."))
assert fp_row.energy_pj > cheapest.energy_pj and w8a16.dram_bytes > w8a8.dram_bytes
"""),
    md(r"""
## 5. Which layer hurts most when narrowed?

Starting from W8A8 (per channel, on the array), one layer at a time gets 4-bit or 2-bit weights
while the others keep 8 bits. The narrowed layer's node is taken from a graph quantized at the
lower width; activation ranges are the same in both graphs, so only that layer's weights change.
"""),
    code(r"""
def quantized(w_bits):
    return quantize(graph, x_train[:CALIB], per_channel=True, act_bits=8, weight_bits=w_bits)


q8 = quantized(8)
narrow = {w: quantized(w) for w in (4, 2)}
layers = [n.name for n in q8.nodes if isinstance(n, ir.Conv | ir.Gemm)]
sens = {}
for w, qw in narrow.items():
    for name in layers:
        a8 = next(n for n in q8.nodes if n.name == name)
        aw = next(n for n in qw.nodes if n.name == name)
        assert np.array_equal(a8.x_q.scale, aw.x_q.scale)
        assert np.array_equal(a8.out_q.scale, aw.out_q.scale)
        mixed = dataclasses.replace(q8, nodes=tuple(aw if n.name == name else n for n in q8.nodes))
        sens[name, w] = on_array(8, 8, q_graph=mixed)
base8 = on_array(8, 8, q_graph=q8)
sizes = {name: size for name, size, _ in params}

table([(name, w) for w in (4, 2) for name in layers], {
    "layer": lambda r: r[0], "weights": lambda r: f"{sizes[r[0]]:,}",
    "narrowed to": lambda r: f"W{r[1]}", "accuracy": lambda r: f"{100 * sens[r]['accuracy']:.2f}%",
    "drop vs W8A8 (points)": lambda r: f"{100 * (base8['accuracy'] - sens[r]['accuracy']):.2f}",
    "SQNR dB": lambda r: f"{sens[r]['sqnr']:.1f}",
})
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
x = np.arange(len(layers))
for i, w in enumerate((4, 2)):
    axes[0].bar(x + (i - 0.5) * 0.38,
                [100 * (base8["accuracy"] - sens[n, w]["accuracy"]) for n in layers], 0.38, label=f"W{w}")
    axes[1].bar(x + (i - 0.5) * 0.38, [sens[n, w]["sqnr"] for n in layers], 0.38, label=f"W{w}")
axes[0].set_ylabel("accuracy drop (points)")
axes[1].set_ylabel("logit SQNR (dB)")
axes[1].axhline(base8["sqnr"], color="k", ls=":", label="all W8")
for ax in axes:
    ax.set_xticks(x, layers)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
fig.suptitle("one layer narrowed, the others at 8 bits")
fig.tight_layout()
show(fig)

worst = {w: min(layers, key=lambda n: (sens[n, w]["sqnr"], sens[n, w]["accuracy"])) for w in (4, 2)}
mildest2 = max(layers, key=lambda n: sens[n, 2]["sqnr"])
display(Markdown(
    f"Narrowing **{worst[2]}** hurts most at W2 ({100 * sens[worst[2], 2]['accuracy']:.1f}% accuracy, "
    f"{sens[worst[2], 2]['sqnr']:.1f} dB) and {worst[4]} at W4 ({sens[worst[4], 4]['sqnr']:.1f} dB); "
    f"{mildest2} tolerates W2 best ({100 * sens[mildest2, 2]['accuracy']:.1f}%, "
    f"{sens[mildest2, 2]['sqnr']:.1f} dB). A mixed-precision design would keep {worst[2]} at 8 bits and "
    f"narrow the others first."))
assert all(sens[n, 2]["sqnr"] < sens[n, 4]["sqnr"] for n in layers)
"""),
    md(r"""
## Conclusions
"""),
    code(r"""
display(Markdown(f'''
1. **Storage**: FP32 → INT8 stores the weights {weight_ratio:.0f}× smaller; an int8 MAC costs
   {fp32_mac / int8['pj']:.0f}× less energy than an FP32 one ({tech.name}).
2. **INT8 is free here**: W8A8 on the array reaches {100 * w8a8.accuracy:.2f}% against FP32's
   {100 * fp_row.accuracy:.2f}% ({100 * w8a8.agreement:.2f}% top-1 agreement, {w8a8.sqnr_db:.1f} dB)
   for {fp_row.energy_pj / w8a8.energy_pj:.1f}× less energy per inference than the FP32 estimate.
   The best W8A8 scheme by SQNR is {best8['scheme']}, {best8['gran']}.
3. **W4 needs care, W2 needs help**: W4A8 max-abs PTQ keeps {100 * acc['PTQ max-abs'][4]:.1f}%;
   at W2 max-abs PTQ collapses to {100 * acc['PTQ max-abs'][2]:.1f}%, clipped weights give
   {100 * acc['PTQ clipped (MSE)'][2]:.1f}% and QAT {100 * acc['QAT'][2]:.1f}%.
4. **Energy is in data movement**: W2A8 saves {100 * (1 - w2a8.energy_pj / w8a8.energy_pj):.1f}% per
   inference over W8A8, while A16 costs {w8a16.energy_pj / w8a8.energy_pj:.1f}× A8 because the
   activations spill to DRAM. Within one point of FP32 the cheapest machine is {label(cheapest)}.
5. **Sensitivity**: {worst[2]} is the layer to keep wide.
'''))
assert abs(w8a8.accuracy - fp_row.accuracy) <= 0.01
print(f"notebook ran in {time.perf_counter() - START:.0f} s")
"""),
]

NOTEBOOKS = {
    "01-architecture-exploration.ipynb": ARCH,
    "02-precision-tradeoffs.ipynb": PRECISION,
}


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    for i, (kind, text) in enumerate(cells):
        make = new_markdown_cell if kind == "markdown" else new_code_cell
        nb.cells.append(make(text, id=f"cell-{i:02d}"))
    return nb


def render(cells) -> str:
    return nbformat.writes(build(cells)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = HERE / name
        text = render(cells)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run notebooks/_build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
