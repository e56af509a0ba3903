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
# * **widths** — W2/W4/W8/W16 × A8/A16 against FP32: accuracy on the 360 held-out digits, top-1
#   agreement with FP32 and logit SQNR, beside energy per inference and array area;
# * which **layer** hurts most when narrowed, the **storage** saving and the **energy per MAC** by
#   width.
#
# Quantized rows run exact integer arithmetic: the compiler's program on the array, or
# `tpu.quant`'s integer model, which computes the same layers but returns the last layer's int32
# sums as float logits where the compiled graph requantizes them to 8 bits first (so its SQNR
# reads a little higher at the same widths). Every statement in
# the conclusions is computed below. It runs in under a minute and writes no files.

# %%
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
# 16), and an FP32 MAC is a float multiplier and adder.

# %%
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
# ## 4. Widths against cost: W2…W16 × A8/A16 beside FP32
#
# `tpu.study.study` quantizes the float graph for every width pair (static PTQ, per-channel
# max-abs weights, min/max activations), compiles it for an array whose operands are exactly that
# wide and runs the 360 digits: accuracy, agreement and SQNR beside energy per inference, array
# area, cycles and DRAM bytes. The FP32 row is an estimate on the same array shape (FP32 MACs,
# 4-byte elements). The QAT rows of section 3 (MSE-clipped weights, as the calibration column
# says) are added at A8: their accuracy from the integer model, their cost that of the PTQ run of
# the same widths (cost depends on shapes, not values).

# %%
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

# %%
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


# %% [markdown]
# ## 5. Which layer hurts most when narrowed?
#
# Starting from W8A8 (per channel, on the array), one layer at a time gets 4-bit or 2-bit weights
# while the others keep 8 bits. The narrowed layer's node is taken from a graph quantized at the
# lower width; activation ranges are the same in both graphs, so only that layer's weights change.

# %%
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
   activations spill to DRAM. Within one point of FP32 the cheapest machine is {label(cheapest)}.
5. **Sensitivity**: {worst[2]} is the layer to keep wide.
'''))
assert abs(w8a8.accuracy - fp_row.accuracy) <= 0.01
print(f"notebook ran in {time.perf_counter() - START:.0f} s")
