# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Precision trade-offs: how narrow can the digits models go, and what does it buy?
#
# The bundled digits CNN (two convolutions and a dense layer, trained in FP32 on sklearn's 8×8
# digits) is quantized in the ways users ask about, and each result is set beside what it costs
# on the array:
#
# * **schemes** — symmetric max-abs weights (non-saturating), affine min-max weights with a zero
#   point, and saturating activation thresholds (percentile, KL), per tensor or per channel;
# * **modes** — weight-only, static post-training with calibration (PTQ), quantization-aware
#   training (QAT);
# * **widths** — W2/W4/W8/W16 × A8/A16, FP16 and BF16 against FP32: accuracy on the 360 held-out
#   digits, top-1 agreement with FP32 and logit SQNR, beside energy per inference and array area;
# * which **layer** hurts most when narrowed, and **mixed precision**: a width per layer, chosen
#   under an accuracy budget, on one multi-precision array;
# * **binary** weights (W1A8, ±1) on the array, the **storage** saving and the **energy per MAC**
#   by width.
#
# Quantized rows run exact integer arithmetic: the compiler's program on the array, or
# `tpu.quant`'s integer model, which computes the same layers but returns the last layer's int32
# sums as float logits where the compiled graph requantizes them to 8 bits first (so its SQNR
# reads a little higher at the same widths). FP16 and BF16 run on arrays of fp16/bf16 PEs with fp32
# sums. Every statement in the conclusions is computed below. It runs in about a minute and writes
# no files.

# %%
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display
from matplotlib.lines import Line2D

import tpu
from tpu.array.precision import Precision, mode_for
from tpu.compiler import compile, ir, reference
from tpu.compiler.quantize import quantize
from tpu.compiler.widths import LayerBits
from tpu.cost import fp_mac_energy_pj, load_tech, mac_energy_pj
from tpu.frontend import load_onnx
from tpu.mixed import BASE as W8A8_BITS
from tpu.mixed import candidates, format_tables, mixed_study, narrower
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.model import Sequential
from tpu.nn.train import TrainConfig
from tpu.quant.modes import qat, static_ptq, weight_only
from tpu.quant.on_array import integer_on_array
from tpu.quant.qmodel import Scheme
from tpu.report import markdown_table
from tpu.study import (
    CALIBRATION,
    FLOAT_FORMATS,
    QAT_METHOD,
    Workload,
    array_for,
    format_table,
    row_label,
    sqnr_db,
    study,
)
from tpu.sweep.pareto import non_dominated

# %matplotlib inline
plt.rcParams["figure.dpi"] = 150  # inline PNGs at 150 dpi
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

# %% [markdown]
# ## 1. What narrowing buys, before any accuracy is lost
#
# Two costs shrink with the operand width: the bytes a model occupies (and moves) and the energy
# of each multiply-accumulate. Multipliers grow about with the product of the operand widths,
# adders with their width (the accumulator is 32 bits, 48 once the operands add up to more than
# 16), and an FP32 MAC is a float multiplier and adder. FP16 and BF16 MACs multiply in their
# format and add in fp32, as the float arrays of section 4 do.

# %%
tech = load_tech(BASE.tech.name)
fp32_mac = fp_mac_energy_pj(tech, "fp32")
half_mac = {fmt: fp_mac_energy_pj(tech, fmt, "fp32") for fmt in FLOAT_FORMATS}  # fp32 sums
fp32_add = tech.fp_unit("fp32").add_pj
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

fig, ax = plt.subplots(figsize=(9, 3.5))
labels = [r["width"] for r in cost_rows] + [f.upper() for f in FLOAT_FORMATS] + ["FP32"]
ax.bar(labels, [r["pj"] for r in cost_rows] + list(half_mac.values()) + [fp32_mac],
       color=["tab:blue"] * 4 + ["tab:orange"] * 4 + ["tab:green", "tab:purple", "tab:red"])
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
    f"accumulator adder does not shrink with the operands. A 16-bit float MAC with an fp32 sum costs "
    f"{half_mac['fp16']:.2f} pJ (FP16) or {half_mac['bf16']:.2f} pJ (BF16): "
    f"{half_mac['fp16'] / int8['pj']:.1f}× and {half_mac['bf16'] / int8['pj']:.1f}× an int8 MAC: "
    f"the fp32 adder alone ({fp32_add:.1f} pJ) costs more than a whole int8 MAC."))
assert weight_ratio == 4
assert int8["pj"] < fp32_add < half_mac["bf16"] <= half_mac["fp16"] < fp32_mac

# %% [markdown]
# ## 2. Schemes at W8A8 and W4A8, run on the array
#
# Every row below is quantized by `tpu.compiler.quantize.quantize` (static post-training, the first
# 256 training images as calibration) and run by the compiler on an array built for its widths.
# Activations are unsigned with a zero point (affine) in every row, as onnxruntime does by
# default; what changes is how each range is chosen:
#
# * **symmetric max-abs** weights: ±max|w| maps to ±(2^(b−1)−1), zero point 0 — nothing clips;
# * **affine min-max** weights: [min w, max w] maps to the full signed range with a zero point
#   (the array adds one column of ones that yields Σx for the zero-point term);
# * activation ranges from **min/max** (nothing clips), or **saturating** thresholds: the 99.99th
#   **percentile** of |x|, or the **KL**-divergence-optimal threshold (TensorRT's method);
# * **per tensor** (one scale per weight tensor) or **per channel** (one per output channel).

# %%
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

# %%
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

# %% [markdown]
# ## 3. Modes: weight-only, post-training, quantization-aware training
#
# Same network, per-channel weights, 8-bit activations (except weight-only, whose activations stay
# FP32), run by `tpu.quant`'s integer model:
#
# * **weight-only** (`tpu.quant.modes.weight_only`): no data needed; weights are rounded, the rest
#   is float;
# * **static PTQ** (`static_ptq`): activation ranges from the calibration images; weights by
#   max-abs, or with a **clipped (MSE-optimal) threshold** — the saturating scheme for weights;
# * **QAT** (`qat`): fake quantization with the straight-through estimator, fine-tuned for a few
#   epochs from the FP32 weights (MSE-clipped weights), then converted to integers.

# %%
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

# %%
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

# %% [markdown]
# ## 4. Widths against cost: W2…W16 × A8/A16, FP16 and BF16 beside FP32
#
# `tpu.study.study` quantizes the float graph for every width pair (static PTQ, per-channel
# max-abs weights, min/max activations), compiles it for an array whose operands are exactly that
# wide and runs the 360 digits: accuracy, agreement and SQNR beside energy per inference, array
# area, cycles and DRAM bytes. PTQ-MSE rows change only the weight calibration (MSE clipping, as in
# section 3): their accuracy comes from `tpu.quant`'s integer model, their cost from the PTQ run.
# **FP16 and BF16 are computed**: the network's Conv/Dense layers run on an array of fp16/bf16 PEs
# (products and sums in fp32, in the order the weight-stationary dataflow adds them), and their cost
# is the 16-bit program's on those PEs. The FP32 row is an estimate on the same array shape (FP32
# MACs, 4-byte elements). The QAT rows of section 3 (MSE-clipped weights, as the calibration column
# says) are added at A8: their accuracy from the integer model, their cost that of the PTQ run of
# the same widths (cost depends on shapes, not values).

# %%
t = time.perf_counter()
work = Workload(graph, x_test, x_train[:CALIB], y_test, str(path))  # the ONNX file: FP16/BF16, PTQ-MSE
rows = study(work, BASE, qat_epochs=0)
for w, m_ in modes["QAT"].items():
    ptq = next(r for r in rows if (r.weight_bits, r.act_bits, r.method) == (w, 8, "ptq"))
    rows.append(dataclasses.replace(ptq, method=QAT_METHOD, accuracy=m_["accuracy"],
                                    agreement=m_["agreement"], sqnr_db=m_["sqnr"],
                                    calibration=CALIBRATION[QAT_METHOD]))
rows.sort(key=lambda r: (r.weight_bits != 32, not r.method.startswith(FLOAT_FORMATS),
                         r.method.startswith("bf16"), r.act_bits, r.weight_bits, r.method))
print(f"study in {time.perf_counter() - t:.1f} s")
display(Markdown(format_table(rows)))

# %%
WIDTH_COLOURS = {1: ("#17becf", "#9edae5"), 2: ("#2ca02c", "#98df8a"), 4: ("#ff7f0e", "#ffbb78"),
                 8: ("#1f77b4", "#aec7e8"), 16: ("#9467bd", "#c5b0d5")}  # weight bits: (dark, light)
FLOAT_COLOURS = {"FP32": "black", "FP16": "#d62728", "BF16": "#8c564b"}
MODE_MARKERS = {"PTQ": "o", "PTQ-MSE": "s", "QAT-MSE": "^"}


def key(handles):
    # legend entries: one marker each, no line
    return [Line2D([], [], ls="none", **h) for h in handles]


def study_style(r):
    name = row_label(r)
    if name in FLOAT_COLOURS:
        return dict(marker="*", ms=14, color=FLOAT_COLOURS[name], mec=FLOAT_COLOURS[name])
    dark, light = WIDTH_COLOURS[r.weight_bits]  # A8 filled dark, A16 light
    return dict(marker=MODE_MARKERS[name.split()[1]], ms=8, color=dark if r.act_bits == 8 else light,
                mec=dark)


fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
for r in rows:
    left.plot(r.energy_pj / 1e3, 100 * r.accuracy, ls="none", alpha=0.8, **study_style(r))
    if not np.isinf(r.sqnr_db):  # FP32 is the reference
        right.plot(r.area_mm2, r.sqnr_db, ls="none", alpha=0.8, **study_style(r))
left.set_xscale("log")
ticks = [80, 100, 200, 400, 800]
left.set_xticks(ticks, [str(v) for v in ticks])
left.set_xticks([], minor=True)
left.set_xlabel("energy per inference (nJ)")
left.set_ylabel("test accuracy %")
right.set_xlabel("area (mm², array + buffers)")
right.set_ylabel("logit SQNR vs FP32 (dB)")
for ax in (left, right):
    ax.grid(alpha=0.3)
fig.legend(handles=key([dict(marker="o", ms=8, color=WIDTH_COLOURS[w][i], mec=WIDTH_COLOURS[w][0],
                             label=f"W{w}A{a}") for i, a in enumerate((8, 16)) for w in (2, 4, 8, 16)]
                       + [dict(marker="*", ms=12, color=c, label=n) for n, c in FLOAT_COLOURS.items()]
                       + [dict(marker=m, ms=8, color="0.45", label=n) for n, m in MODE_MARKERS.items()]),
           loc="outside right upper", fontsize=8)
fig.suptitle("digits CNN on arrays built for each width: accuracy against energy, SQNR against area")
show(fig)

# %%
fp_row = next(r for r in rows if r.weight_bits == 32)
fp16, bf16 = (next(r for r in rows if row_label(r) == f.upper()) for f in FLOAT_FORMATS)
near = [r for r in rows if r.weight_bits != 32 and r.accuracy >= fp_row.accuracy - 0.01]
cheapest = min(near, key=lambda r: (r.energy_pj, r.area_mm2))
smallest = min(near, key=lambda r: (r.area_mm2, r.energy_pj))


def row(w, a, method="ptq"):
    return next(r for r in rows if (r.weight_bits, r.act_bits, r.method) == (w, a, method))


w8a8, w8a16, w2a8, w16a16 = row(8, 8), row(8, 16), row(2, 8), row(16, 16)
display(Markdown(
    f"* Within one point of FP32's {100 * fp_row.accuracy:.2f}%, the cheapest machine per inference "
    f"is **{row_label(cheapest)}** ({cheapest.energy_pj / 1e3:.1f} nJ, {100 * cheapest.accuracy:.2f}%): "
    f"{fp_row.energy_pj / cheapest.energy_pj:.1f}× less energy than the FP32 estimate "
    f"({fp_row.energy_pj / 1e3:,.0f} nJ) on {fp_row.area_mm2 / cheapest.area_mm2:.1f}× less area"
    + (" and is also the smallest.\n" if smallest is cheapest else
       f"; the smallest is **{row_label(smallest)}** ({smallest.area_mm2:.2f} mm²).\n")
    + f"* Per inference, W2A8 uses only {100 * (1 - w2a8.energy_pj / w8a8.energy_pj):.1f}% less energy "
    f"than W8A8 although its MACs cost {100 * (1 - w2['pj'] / int8['pj']):.0f}% less: on this machine "
    f"the energy goes to moving data through registers and buffers, not to the multipliers.\n"
    f"* 16-bit activations cost {w8a16.energy_pj / w8a8.energy_pj:.1f}× the energy of 8-bit ones "
    f"(W8) and {w8a16.cycles / w8a8.cycles:.1f}× the cycles: the batch's activations no longer fit "
    f"the {BASE.memory.unified_buffer_bytes >> 10} KiB unified buffer and "
    f"{w8a16.dram_bytes / w8a8.dram_bytes:.0f}× the DRAM bytes move, for "
    f"{w8a16.sqnr_db - w8a8.sqnr_db:+.1f} dB of SQNR.\n"
    f"* **FP16 and BF16**, computed on their arrays, agree with FP32 on {100 * fp16.agreement:.2f}% "
    f"and {100 * bf16.agreement:.2f}% of the digits. FP16's 11-bit significand keeps "
    f"{fp16.sqnr_db:.1f} dB of logit SQNR, BF16's 8-bit one {bf16.sqnr_db:.1f} dB (W8A8 "
    f"{w8a8.sqnr_db:.1f} dB, W16A16 {w16a16.sqnr_db:.1f} dB). Their 2-byte activations spill the "
    f"unified buffer as A16 does: {fp16.energy_pj / w8a8.energy_pj:.1f}× (FP16) and "
    f"{bf16.energy_pj / w8a8.energy_pj:.1f}× (BF16) the energy of W8A8 and "
    f"{fp16.cycles / w8a8.cycles:.1f}× its cycles, on {fp16.area_mm2 / w8a8.area_mm2:.1f}× and "
    f"{bf16.area_mm2 / w8a8.area_mm2:.1f}× its area; BF16's smaller multiplier makes it "
    f"{100 * (1 - bf16.energy_pj / fp16.energy_pj):.1f}% cheaper than FP16 per inference."))
assert fp_row.energy_pj > cheapest.energy_pj and w8a16.dram_bytes > w8a8.dram_bytes
assert min(fp16.agreement, bf16.agreement) >= 0.99 and fp16.sqnr_db > bf16.sqnr_db > w8a8.sqnr_db
assert fp16.cycles == bf16.cycles > w8a8.cycles and w8a8.energy_pj < bf16.energy_pj < fp16.energy_pj


# %% [markdown]
# ## 5. Which layer hurts most when narrowed?
#
# From here on every layer runs on one **multi-precision** array — the default edge-32, whose
# 8-bit PEs run wider operands in slices and narrower ones packed several to a PE (two 4-bit pairs
# per PE; a one-bit weight is a ±1 field) — so each layer can have its own widths
# (`quantize(..., layer_bits=...)`, `tpu run --layer-bits FILE.toml`). `tpu.mixed.mixed_study`
# (what `tpu study mixed` runs) starts from all layers at W8A8 and narrows one layer at a time to
# each narrower width — weights of 1 (binary ±1, scale mean|w|), 2, 4 or 8 bits, activations of 4
# or 8 bits (the activations the layer reads) — compiling and running the whole program each time:
# a layer's *sensitivity* is the accuracy and logit SQNR this costs, beside the energy it saves.
# Weights and activations are calibrated as in section 4 (max-abs, min/max, 256 images).

# %%
t = time.perf_counter()
MIXED_WEIGHTS, MIXED_ACTS, BUDGET = (1, 2, 4, 8), (4, 8), 1.0  # BUDGET: accuracy points below W8A8
mixed = mixed_study(work, BASE, budget=BUDGET, weight_bits=MIXED_WEIGHTS, act_bits=MIXED_ACTS)
measured = {tuple(sorted(p.layers.items(), key=lambda kv: kv[0])) for p in mixed.uniform + mixed.points}
print(f"{len(measured)} assignments compiled and run in {time.perf_counter() - t:.1f} s")
base, layers = mixed.base, mixed.layers
widths = [c for c in candidates(MIXED_WEIGHTS, MIXED_ACTS) if narrower(c, W8A8_BITS)]


def bits(b):
    return f"W{b.weight_bits}A{b.act_bits}"


def narrowed(p):
    (name,) = [n for n, b in p.layers.items() if b != W8A8_BITS]  # a sensitivity point moves one layer
    return name, p.layers[name]


sens = {narrowed(p): p for p in mixed.points if p.kind == "sensitivity"}
assert set(sens) == {(n, c) for n in layers for c in widths}


def program(layer_bits):
    # the program the study measured for this assignment (its quantization, this machine)
    q = quantize(graph, x_train[:CALIB], per_channel=True, layer_bits=layer_bits)
    return compile(q, BASE).run(x_test)


base_run = program(base.layers)
assert base_run.totals["cycles"] == base.cycles  # a point is a measured run, not a prediction
macs = {s.name: s.macs for s in base_run.layers if s.name in layers}
sizes = {name: size for name, size, _ in params}
table([(n, c) for n in layers for c in widths], {
    "layer": lambda r: r[0], "weights": lambda r: f"{sizes[r[0]]:,}",
    "MACs / digit": lambda r: f"{macs[r[0]] // len(x_test):,}", "narrowed to": lambda r: bits(r[1]),
    "accuracy": lambda r: f"{100 * sens[r].accuracy:.2f}%",
    "drop (points)": lambda r: f"{100 * (base.accuracy - sens[r].accuracy):.2f}",
    "SQNR dB": lambda r: f"{sens[r].sqnr_db:.1f}",
    "energy saved": lambda r: f"{100 * (1 - sens[r].energy_pj / base.energy_pj):.1f}%",
})

# %%
drop = np.array([[100 * (base.accuracy - sens[n, c].accuracy) for c in widths] for n in layers])
sq = np.array([[sens[n, c].sqnr_db for c in widths] for n in layers])
fig, axes = plt.subplots(1, 2, figsize=(13, 3.4), layout="constrained")
for ax, vals, cmap, title, dark_high in (
        (axes[0], drop, "Reds", f"accuracy drop from all-W8A8 ({100 * base.accuracy:.2f}%), points", True),
        (axes[1], sq, "viridis", f"logit SQNR vs FP32, dB (all-W8A8: {base.sqnr_db:.1f})", False)):
    im = ax.imshow(vals, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(widths)), [bits(c) for c in widths])
    ax.set_yticks(range(len(layers)), layers)
    for (i, j), v in np.ndenumerate(vals):
        dark = (im.norm(v) > 0.55) if dark_high else (im.norm(v) < 0.45)
        ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.9)
fig.suptitle("one layer narrowed, the others at W8A8 (multi-precision edge-32, compiled runs)")
show(fig)

# %%
w2a8_bits, w4a8_bits, w8a4_bits, w4a4_bits = (LayerBits(w, a) for w, a in ((2, 8), (4, 8), (8, 4), (4, 4)))


def worst(c):
    return min(layers, key=lambda n: (sens[n, c].accuracy, sens[n, c].sqnr_db))


worst2, worst4 = worst(w2a8_bits), worst(w4a8_bits)
mildest = max(layers, key=lambda n: np.mean([sens[n, c].sqnr_db for c in widths]))
others = [n for n in layers if n != mildest]
lucky = [(n, c) for n in layers for c in widths if sens[n, c].accuracy >= base.accuracy]
heavy = max(layers, key=lambda n: macs[n])
light = min(layers, key=lambda n: macs[n])
act_drop = drop[:, widths.index(w8a4_bits)].max()
saved = {n: 1 - sens[n, w4a4_bits].energy_pj / base.energy_pj for n in layers}
display(Markdown(
    f"* **{mildest}** tolerates narrowing best: at each of the {len(widths)} widths its SQNR is the "
    f"highest of the {len(layers)} layers (W4A4: {sens[mildest, w4a4_bits].sqnr_db:.1f} dB against "
    + " and ".join(f"{sens[n, w4a4_bits].sqnr_db:.1f} dB for {n}" for n in others) + ").\n"
    f"* With 2-bit weights **{worst2}** collapses ({100 * sens[worst2, w2a8_bits].accuracy:.1f}%, "
    f"{sens[worst2, w2a8_bits].sqnr_db:.1f} dB); with 4-bit weights {worst4} loses most "
    f"({100 * (base.accuracy - sens[worst4, w4a8_bits].accuracy):.2f} points). 4-bit "
    f"activations alone (W8A4) "
    + ("lose no accuracy on any layer" if act_drop <= 0 else f"lose at most {act_drop:.2f} points on a layer")
    + f", though the SQNR falls to {sq[:, widths.index(w8a4_bits)].min():.1f} dB.\n"
    f"* On 360 digits accuracy is a coarse ruler (one digit is {100 / len(x_test):.2f} points): "
    f"{len(lucky)} of the {len(sens)} single-layer points score at or above all-W8A8 — "
    + ", ".join(f"{n}:{bits(c)} {100 * sens[n, c].accuracy:.2f}% at {sens[n, c].sqnr_db:.1f} dB"
                for n, c in lucky)
    + f" — although every one of them loses SQNR against all-W8A8's {base.sqnr_db:.1f} dB.\n"
    f"* The energy is where the MACs are: {heavy} does {100 * macs[heavy] / sum(macs.values()):.0f}% of "
    f"them, so packing it at W4A4 saves {100 * saved[heavy]:.1f}% of the energy per inference, where "
    f"the same move on {light} ({100 * macs[light] / sum(macs.values()):.0f}% of the MACs) saves "
    f"{100 * saved[light]:.1f}%. Narrowing only the weights (W4A8, W2A8) saves next to nothing: the "
    f"8-bit activation still fills a PE."))
assert all(sens[mildest, c].sqnr_db > max(sens[n, c].sqnr_db for n in others) for c in widths)
assert all(p.sqnr_db < base.sqnr_db for p in sens.values())
assert saved[heavy] > saved[light]
assert all(abs(sens[n, LayerBits(w, 8)].energy_pj / base.energy_pj - 1) < 0.01 for n in layers
           for w in (1, 2, 4))

# %% [markdown]
# ## 6. Mixed precision: a width per layer under an accuracy budget
#
# The allocation is greedy: from all-W8A8, the single-layer moves above are tried in order of
# energy saved per accuracy point lost, and a move is kept when the whole assignment — compiled
# and run again — stays within the budget (here 1 point below W8A8's accuracy) and costs less
# energy than the current one. Every point below is such a run, none is predicted; the uniform
# widths ran on the same multi-precision array. The table is `tpu study mixed`'s: the uniform
# points, the mixed points on the accuracy/energy Pareto front, and the choice (the command
# calibrates on all 1,437 training images, this notebook on the first 256, so its figures differ
# slightly).

# %%
display(Markdown(format_tables(mixed)))
chosen = mixed.chosen
chosen_run = program(chosen.layers)
assert chosen_run.totals["cycles"] == chosen.cycles
mixed_pts = [p for p in mixed.points if len(set(p.layers.values())) > 1]
every = mixed.uniform + mixed.points
ZOOM = 92.0  # accuracy % shown; the points below are listed under the figure
front_e = sorted((p for p in every if p.pareto), key=lambda p: p.energy_pj)
on_front_c = non_dominated(np.array([[-p.accuracy, p.cycles] for p in every]))  # both minimised
front_c = sorted((p for p, keep in zip(every, on_front_c, strict=True) if keep), key=lambda p: p.cycles)
ACT_MARKERS = {8: "o", 4: "D"}
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True, layout="constrained")
for ax, x, front, unit in ((axes[0], lambda p: p.energy_pj / 1e3, front_e, "energy per inference (nJ)"),
                           (axes[1], lambda p: p.cycles / 1e3, front_c, "cycles for 360 digits (thousands)")):
    ax.plot([x(p) for p in mixed_pts], [100 * p.accuracy for p in mixed_pts], ".", color="0.6", ms=6)
    ax.step([x(p) for p in front], [100 * p.accuracy for p in front], where="post", color="tab:green", lw=1.2)
    for p in mixed.uniform:
        (b,) = set(p.layers.values())
        ax.plot(x(p), 100 * p.accuracy, ACT_MARKERS[b.act_bits], ms=8, color=WIDTH_COLOURS[b.weight_bits][0])
    ax.plot(x(chosen), 100 * chosen.accuracy, "*", ms=17, color="tab:red", mec="k", mew=0.5)
    ax.axhline(100 * (base.accuracy - BUDGET / 100), color="k", ls=":", lw=0.9)
    ax.set_xlabel(unit)
    ax.set_ylim(ZOOM, 100 * max(p.accuracy for p in every) + 0.6)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("test accuracy %")
axes[0].set_title("Pareto front: accuracy against energy", fontsize=10)
axes[1].set_title("Pareto front: accuracy against cycles", fontsize=10)
uniform_keys = [dict(marker=ACT_MARKERS[b.act_bits], ms=8, color=WIDTH_COLOURS[b.weight_bits][0],
                     label=f"uniform {bits(b)}")
                for b in sorted({next(iter(set(p.layers.values()))) for p in mixed.uniform
                                 if 100 * p.accuracy >= ZOOM}, key=lambda b: (b.weight_bits, b.act_bits))]
fig.legend(handles=key(uniform_keys + [dict(marker=".", ms=8, color="0.6", label="mixed (measured)"),
                                       dict(marker="*", ms=14, color="tab:red", mec="k", label="chosen")])
           + [Line2D([], [], color="tab:green", label="Pareto front"),
              Line2D([], [], color="k", ls=":", label=f"budget: W8A8 − {BUDGET:g} point")],
           loc="outside right upper", fontsize=8)
fig.suptitle("per-layer widths on the multi-precision edge-32 array (every point a compiled run)")
show(fig)
below = [p for p in mixed.uniform if 100 * p.accuracy < ZOOM]
display(Markdown("Below the plotted range: " + ", ".join(
    f"uniform {p.label()} ({100 * p.accuracy:.1f}%)" for p in below)
    + f" and {sum(100 * p.accuracy < ZOOM for p in mixed_pts)} of the {len(mixed_pts)} mixed points."))

# %%
def lanes_of(b):
    # operands per PE on this array (activations are unsigned, weights signed)
    return mode_for(BASE.array, Precision(b.act_bits, b.weight_bits, act_signed=False)).lanes


toml = "\n".join(f'["{n}"]\nweight_bits = {b.weight_bits}\nact_bits = {b.act_bits}'
                 for n, b in chosen.layers.items())
stats = {s.name: s for s in chosen_run.layers}
base_stats = {s.name: s for s in base_run.layers}
table(layers, {
    "layer": lambda n: n, "widths": lambda n: bits(chosen.layers[n]),
    "PE lanes": lambda n: str(lanes_of(chosen.layers[n])),
    "cycles at W8A8": lambda n: f"{base_stats[n].cycles:,}", "cycles": lambda n: f"{stats[n].cycles:,}",
    "nJ/inference at W8A8": lambda n: f"{base_stats[n].energy_pj.total / len(x_test) / 1e3:.1f}",
    "nJ/inference": lambda n: f"{stats[n].energy_pj.total / len(x_test) / 1e3:.1f}",
})
uniform_in = [p for p in mixed.uniform if p.accuracy >= base.accuracy - BUDGET / 100]
best_uniform = min(uniform_in, key=lambda p: p.energy_pj)
as_cheap = max((p for p in mixed.uniform if p.energy_pj <= chosen.energy_pj), key=lambda p: p.accuracy)
better = max((p for p in front_c if p.cycles <= chosen.cycles), key=lambda p: p.accuracy)
one_lane = [n for n in layers if lanes_of(chosen.layers[n]) == 1]
display(Markdown(
    f"The assignment, as a `tpu run --layer-bits` file:\n\n```toml\n{toml}\n```\n\n"
    f"Under a {BUDGET:g}-point budget the search keeps "
    + ", ".join(f"**{n} at {bits(b)}**" for n, b in chosen.layers.items())
    + f": {100 * chosen.accuracy:.2f}% against all-W8A8's {100 * base.accuracy:.2f}% "
    f"({100 * (base.accuracy - chosen.accuracy):.2f} points), "
    f"{100 * (1 - chosen.energy_pj / base.energy_pj):.1f}% less energy per inference and "
    f"{100 * (1 - chosen.cycles / base.cycles):.1f}% fewer cycles. It is on the energy front"
    + (" and on the cycles front" if chosen in front_c else
       f"; on the cycles front {better.label()} runs {better.cycles:,} cycles too, at "
       f"{100 * better.accuracy:.2f}%: a layer left at one lane ("
       + ", ".join(one_lane) + ") keeps its W8A8 cycles, as the table shows")
    + f". The cheapest uniform width within the budget is {best_uniform.label()} "
    f"({100 * best_uniform.accuracy:.2f}%, {best_uniform.energy_pj / 1e3:.1f} nJ, "
    f"{100 * (best_uniform.energy_pj / chosen.energy_pj - 1):.0f}% more than the mixed choice); the "
    f"most accurate uniform width at most as costly as the choice, {as_cheap.label()}, reaches "
    f"{100 * as_cheap.accuracy:.2f}%. {len(measured)} assignments were measured out of the "
    f"{len(widths) + 1}^{len(layers)} = {(len(widths) + 1) ** len(layers)} possible."))
assert chosen.accuracy >= base.accuracy - BUDGET / 100 and chosen.energy_pj < base.energy_pj
assert len(set(chosen.layers.values())) > 1 and chosen.pareto
assert best_uniform.energy_pj > chosen.energy_pj  # no uniform width within the budget is as cheap
assert as_cheap.accuracy < base.accuracy - BUDGET / 100
assert chosen in front_c or (better.accuracy > chosen.accuracy and better.cycles == chosen.cycles
                             and all(stats[n].cycles == base_stats[n].cycles for n in one_lane))

# %% [markdown]
# ## 7. Binary weights on the array
#
# A one-bit weight is ±1 (there is no zero); each output channel keeps a scale, mean|w| (XNOR-Net).
# On the multi-precision array a ±1 weight is a one-bit field the PE reads as −1 or +1, and with
# one-bit activations too eight such pairs would share a PE (XNOR and popcount); the compiler keeps
# activations at 2 bits or more. The post-training W1 rows are the mixed study's uniform points
# (compiled and run). The QAT row is `tpu.quant`'s binary-weight model, fine-tuned as the QAT rows
# of section 3 are, with its Conv/Dense layers run as W1A8 GEMMs on the same array
# (`tpu.quant.on_array.integer_on_array`) and its cost that of the W1A8 program.

# %%
t = time.perf_counter()
binary = Scheme(w_bits=1, a_bits=8, per_channel=True)
trained1 = qat(model, x_train, y_train, binary, TrainConfig(epochs=QAT_EPOCHS, lr=3e-3, seed=0))
logits1, array_run = integer_on_array(trained1, x_test, BASE)
assert np.array_equal(logits1, trained1.forward(x_test))  # the array's sums are the integer model's
qat1 = metrics(logits1)
print(f"binary QAT and its run on the array in {time.perf_counter() - t:.1f} s")
uni = {p.label(): p for p in mixed.uniform}


def lanes(w, a):
    return lanes_of(LayerBits(w, a))


binary_rows = [("W8A8", "PTQ", uni["W8A8"], None), ("W2A8", "PTQ", uni["W2A8"], None),
               ("W1A8", "PTQ", uni["W1A8"], None), ("W1A8", f"QAT ({QAT_EPOCHS} epochs)", uni["W1A8"], qat1),
               ("W4A4", "PTQ", uni["W4A4"], None), ("W1A4", "PTQ", uni["W1A4"], None)]
table(binary_rows, {
    "widths": lambda r: r[0], "mode": lambda r: r[1],
    "accuracy": lambda r: f"{100 * (r[3]['accuracy'] if r[3] else r[2].accuracy):.2f}%",
    "SQNR dB": lambda r: f"{r[3]['sqnr'] if r[3] else r[2].sqnr_db:.1f}",
    "weight bytes": lambda r: f"{stored_bytes(int(r[0][1])):,}",
    "PE lanes": lambda r: str(lanes(int(r[0][1]), int(r[0][3]))),
    "nJ/inference": lambda r: f"{r[2].energy_pj / 1e3:.1f}", "cycles": lambda r: f"{r[2].cycles:,}",
})
w1a8, w1a4, w4a4, m8 = uni["W1A8"], uni["W1A4"], uni["W4A4"], uni["W8A8"]
display(Markdown(
    f"* Post-training, binary weights keep {100 * w1a8.accuracy:.1f}% (W1A8) — more than 2-bit "
    f"max-abs weights ({100 * uni['W2A8'].accuracy:.1f}%), because mean|w| does not let the largest "
    f"weight set the scale — and {QAT_EPOCHS} epochs of QAT bring them to {100 * qat1['accuracy']:.1f}%, "
    f"{100 * (FP32['accuracy'] - qat1['accuracy']):.1f} points below FP32; the array's sums equal "
    f"the integer model's on all {len(x_test)} digits ({len(array_run.results)} GEMMs, "
    f"{array_run.cycles:,} array cycles).\n"
    f"* The weights shrink {n_weights / -(-n_weights // 8):.0f}× from int8 ({stored_bytes(8):,} → "
    f"{stored_bytes(1):,} bytes with the int32 biases), but on this array W1A8 saves only "
    f"{100 * (1 - w1a8.energy_pj / m8.energy_pj):.2f}% of W8A8's energy per inference and "
    f"{m8.cycles - w1a8.cycles} cycles: an 8-bit activation fills a PE word, so a ±1 weight runs "
    f"one to a PE ({lanes(1, 8)} lane). With 4-bit activations W1A4 packs {lanes(1, 4)} lanes, exactly "
    f"as W4A4 does, and costs the same ({w1a4.energy_pj / 1e3:.1f} against {w4a4.energy_pj / 1e3:.1f} "
    f"nJ) at {100 * w1a4.accuracy:.1f}% against {100 * w4a4.accuracy:.1f}% post-training."))
assert qat1["accuracy"] > w1a8.accuracy > uni["W2A8"].accuracy
assert lanes(1, 8) == 1 and lanes(1, 4) == lanes(4, 4) == 2
assert abs(w1a8.energy_pj / m8.energy_pj - 1) < 0.01 and abs(w1a4.energy_pj / w4a4.energy_pj - 1) < 0.01

# %% [markdown]
# ## Conclusions

# %%
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
   activations spill to DRAM. Within one point of FP32 the cheapest machine is {row_label(cheapest)}.
5. **FP16 and BF16** (computed on fp16/bf16 arrays) match FP32's predictions on
   {100 * min(fp16.agreement, bf16.agreement):.0f}% of the digits at {fp16.sqnr_db:.0f} and
   {bf16.sqnr_db:.0f} dB, but cost {fp16.energy_pj / w8a8.energy_pj:.1f}× and
   {bf16.energy_pj / w8a8.energy_pj:.1f}× W8A8's energy here.
6. **Sensitivity**: {mildest} is the layer to narrow first; {worst2} is the one to keep wide.
7. **Mixed precision**: {chosen.label()} stays within {BUDGET:g} point of W8A8
   ({100 * chosen.accuracy:.2f}%) for {100 * (1 - chosen.energy_pj / base.energy_pj):.0f}% less energy
   and {100 * (1 - chosen.cycles / base.cycles):.0f}% fewer cycles, which no uniform width does.
8. **Binary weights** need QAT ({100 * w1a8.accuracy:.0f}% → {100 * qat1['accuracy']:.0f}%) and
   store the weights {n_weights / -(-n_weights // 8):.0f}× smaller than int8, but on this array they cost
   what wider weights cost at the same activation width (W1A8 {w1a8.energy_pj / 1e3:.1f} nJ against
   W8A8 {m8.energy_pj / 1e3:.1f}; W1A4 {w1a4.energy_pj / 1e3:.1f} against W4A4 {w4a4.energy_pj / 1e3:.1f}):
   the energy is set by how many operand pairs share a PE, and one-bit weights pack no further
   than the activations beside them allow.
'''))
assert abs(w8a8.accuracy - fp_row.accuracy) <= 0.01
print(f"notebook ran in {time.perf_counter() - START:.0f} s")
