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
# # The same machine in Verilog: simulation, waveforms and synthesized area
#
# The systolic array also exists as hardware description (`hdl/`, Amaranth 0.5), generated from
# the same config as the Python models. This notebook
#
# 1. generates the Verilog of a small machine (a 4×4 weight-stationary int8 array, int32
#    accumulators) and looks at what came out,
# 2. replays GEMMs through the RTL with cocotb on Verilator — driven with exactly the per-cycle
#    stimulus the Python cycle model saw — and checks values **and** the cycle each result row
#    leaves,
# 3. reads the simulator's VCD file back and plots a stretch of it: the skewed wavefront entering
#    the array and the de-skewed results leaving it,
# 4. classifies one 8×8 digits image with the int8 CNN on the whole RTL machine (`hdl/machine.py`:
#    DMA, matrix unit, accumulators, activation unit, running the compiled program itself) beside
#    the cycle-level Python machine it implements, and plots every instruction's start and end
#    cycle on each unit from the RTL's own event log,
# 5. compares the analytic area model (`tpu.cost`, Horowitz 45 nm) with yosys's synthesized PE at
#    4, 8 and 16 bits.
#
# The first RTL run builds one simulator (about a minute on 2 cores); it is cached in the per-user
# simulator cache (`TPU_SIM_CACHE` overrides it) and reused by every later run. Everything else
# this notebook writes goes to a temporary folder that is deleted at the end. The conclusions at
# the bottom are written from the numbers computed here.

# %%
import dataclasses
import os
import re
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

import tpu
from hdl.export import area as synth_area
from hdl.export import verilog_sources
from hdl.top import array_params
from tpu.array import gemm, gemm_cycles
from tpu.compiler import compile
from tpu.compiler.quantize import quantize
from tpu.cost.area import mac_area_um2, pe_area_um2, pe_register_bits
from tpu.cost.tech import load_tech
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.report import markdown_table

# %matplotlib inline
plt.rcParams["figure.dpi"] = 150  # inline PNGs at 150 dpi
START = time.perf_counter()
WORK = tempfile.TemporaryDirectory(prefix="tpu-nb03-")  # every file this notebook writes
TMP = Path(WORK.name)
os.environ["TPU_RTL_SIMULATOR"] = "verilator"  # one build serves every run (it writes VCD)

R = C = 4
ACC_ROWS = 64  # rows per accumulator half: the CNN's biggest layer (64 pixels) is one MATMUL
CONFIG = tpu.load_config("edge-32").replace(rows=R, cols=C, dataflow="ws", act_bits=8,
                                            weight_bits=8, acc_bits=32)
CONFIG = dataclasses.replace(CONFIG, memory=dataclasses.replace(
    CONFIG.memory, accumulator_bytes=2 * ACC_ROWS * C * CONFIG.array.acc_bits // 8))
PARAMS = array_params(CONFIG)


def show(fig):
    display(fig)
    plt.close(fig)  # displayed once, explicitly


def table(rows, columns):
    # columns: {header: function of a row -> text}
    display(Markdown(markdown_table(columns, [[f(r) for f in columns.values()] for r in rows])))


a = CONFIG.array
print(f"design: {a.rows}×{a.cols} {a.dataflow}, int{a.act_bits}×int{a.weight_bits} → "
      f"int{a.acc_bits}, double-buffered accumulators of {PARAMS.acc_rows} rows per half")

# %% [markdown]
# ## 1. The generated Verilog
#
# `hdl.export.verilog_sources` (what `tpu hdl verilog` writes) turns the config into two
# top-levels: the matrix unit (skew, PE grid, de-skew, accumulators) and the activation unit.

# %%
sources = verilog_sources(CONFIG)
for name, text in sources.items():
    (TMP / f"{name}.v").write_text(text)
mu = sources["matrix_unit"]
modules = re.findall(r"^module \\?(\S+?)\s*\(", mu, re.M)
pes = [m for m in modules if re.search(r"\.pe_\d+_\d+$", m)]
assert len(pes) == R * C, pes
top_text = re.split(r"^endmodule", mu, flags=re.M)[0]  # the top module comes first
ports = re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s*)?(\w+);", top_text, re.M)
for name, text in sources.items():
    print(f"{name}.v: {len(text.splitlines()):,} lines, {len(text) / 1024:,.0f} KiB")
others = [m.rsplit(".", 1)[-1] for m in modules if m not in pes]
print(f"matrix_unit modules: {len(pes)} PEs ({pes[0].rsplit('.', 1)[-1]} … "
      f"{pes[-1].rsplit('.', 1)[-1]}) + {', '.join(others)}")
table(sorted(ports, key=lambda p: p[0]),
      {"direction": lambda p: p[0], "port": lambda p: f"`{p[2]}`",
       "bits": lambda p: str(int(p[1] or 0) + 1)})

# %% [markdown]
# The activation and weight buses are one lane per array row/column (`x_data` is R × 8 bits,
# `w_data` C × 8), results come out a whole row at a time (`out_data`, C × 32 bits) and the
# accumulator write port (`acc_*`) shows what is added into the double-buffered accumulators.
#
# ## 2. GEMMs on the RTL, cycle for cycle
#
# `gemm(a, b, config, backend="rtl")` builds the Python model's per-cycle stimulus for the GEMM
# (weight-row writes, streamed activation vectors, accumulator addresses), has cocotb drive those
# values into the simulated Verilog one clock at a time, records every row that leaves the array
# and assembles C from them exactly as the cycle model does. Four shapes with random full-range
# int8 operands: one tile, partial tiles in every dimension, and the 64×9·9×8 GEMM of the digits
# CNN's first convolution.

# %%
rng = np.random.default_rng(7)
SHAPES = [(4, 4, 4), (10, 9, 6), (23, 13, 11), (64, 9, 8)]
runs = []
for m, k, n in SHAPES:
    a_ = rng.integers(-128, 128, (m, k))
    b_ = rng.integers(-128, 128, (k, n))
    ref = gemm(a_, b_, CONFIG, backend="cycle", trace=True)
    t0 = time.perf_counter()
    rtl = gemm(a_, b_, CONFIG, backend="rtl", trace=True)
    seconds = time.perf_counter() - t0
    v = ref.outputs.valid
    runs.append({
        "shape": (m, k, n), "folds": ref.folds, "stimulus": ref.stimulus.cycles,
        "rows": int(v.sum()), "cycle": ref.cycles, "rtl": rtl.cycles,
        "analytic": gemm_cycles(m, k, n, CONFIG), "seconds": seconds,
        "values": np.array_equal(rtl.output, a_ @ b_) and np.array_equal(ref.output, a_ @ b_),
        "per_cycle": np.array_equal(rtl.outputs.valid, v)
                     and np.array_equal(rtl.outputs.data[v], ref.outputs.data[v]),
    })
yes = {True: "yes", False: "**NO**"}
table(runs, {
    "M×K·K×N": lambda r: "{}×{}·{}×{}".format(r["shape"][0], r["shape"][1], *r["shape"][1:]),
    "tiles": lambda r: str(r["folds"]), "rows out of the array": lambda r: str(r["rows"]),
    "cycles: cycle model": lambda r: str(r["cycle"]), "RTL": lambda r: str(r["rtl"]),
    "closed form": lambda r: str(r["analytic"]),
    "C = A·B (both)": lambda r: yes[r["values"]],
    "every row on the same cycle": lambda r: yes[r["per_cycle"]],
})
assert all(r["values"] and r["per_cycle"] and r["cycle"] == r["rtl"] == r["analytic"]
           for r in runs)
later = [r["seconds"] for r in runs[1:]]
print(f"first RTL run {runs[0]['seconds']:.0f} s (includes building the simulator unless "
      f"the simulator cache had it), later runs {min(later):.1f}–{max(later):.1f} s each "
      f"(mostly starting the simulator)")


# %% [markdown]
# ## 3. The waveform: the skewed wavefront
#
# To make the picture readable, one more GEMM with labelled operands: `A[m, k] = 10·(m+1) + k`
# (so `53` is row 4, lane 3, counting from 0) and `B` the identity, so result column `j` of row
# `m` is `A[m, j]` again and every value can be followed from the input port to the output port.
# With `waves=` the RTL run writes a VCD file; a 30-line reader turns it into
# `{signal: (times, values)}`.

# %%
def read_vcd(path, names):
    # {name: (times, values, width)} of the wanted signals ("scope.sub.signal" names).
    # Values are unsigned integers, one per change; x/z bits read as 0.
    wanted, codes, scope, width = set(names), {}, [], {}
    with open(path) as f:
        for line in f:
            tok = line.split()
            if tok[:1] == ["$scope"]:
                scope.append(tok[2])
            elif tok[:1] == ["$upscope"]:
                scope.pop()
            elif tok[:1] == ["$var"] and ".".join([*scope, tok[4]]) in wanted:
                name = ".".join([*scope, tok[4]])
                codes.setdefault(tok[3], []).append(name)
                width[name] = int(tok[2])
            elif tok[:1] == ["$enddefinitions"]:
                break
        trace = {n: ([], []) for n in width}
        t = 0
        for line in f:
            if line[0] == "#":
                t = int(line[1:])
                continue
            if line[0] in "bB":
                bits, code_ = line[1:].split()
            elif line[0] in "01xXzZ":
                bits, code_ = line[0], line[1:].strip()
            else:
                continue
            for n in codes.get(code_, ()):
                trace[n][0].append(t)
                trace[n][1].append(int(re.sub("[xXzZ]", "0", bits), 2))
    missing = wanted - trace.keys()
    if missing:
        raise KeyError(f"{path.name} has no {sorted(missing)}")
    trace = {n: (np.array(ts), vs, width[n]) for n, (ts, vs) in trace.items()}
    return trace, t  # t: the last timestamp, where the simulation stopped


M_W = 8
A_W = 10 * (np.arange(M_W)[:, None] + 1) + np.arange(R)
B_W = np.eye(R, C, dtype=np.int64)
ref_w = gemm(A_W, B_W, CONFIG, backend="cycle", trace=True)
rtl_w = gemm(A_W, B_W, CONFIG, backend="rtl", trace=True, waves=TMP / "waves")
assert np.array_equal(rtl_w.output, A_W) and rtl_w.cycles == ref_w.cycles
(vcd_path,) = (TMP / "waves").glob("*.vcd")

PORT, ARRAY = "$rootio", "top.array"
SIGNALS = ([f"{PORT}.{s}" for s in ("clk", "w_valid", "x_valid", "x_data", "out_valid",
                                    "out_data")]
           + [f"{ARRAY}.pe_{i}_0.x_in" for i in range(R)]
           + [f"{ARRAY}.pe_{R - 1}_{j}.psum_out" for j in range(C)])
waves, vcd_end = read_vcd(vcd_path, SIGNALS)
print(f"{vcd_path.name}: {vcd_path.stat().st_size / 1024:,.0f} KiB, "
      f"{len(waves[PORT + '.clk'][0]) // 2} clock cycles; read {len(waves)} signals")


# %% [markdown]
# Which clock edge latches stimulus row 0 is not assumed: the notebook finds the rising edge at
# which the port values seen in the VCD equal the stimulus, then checks that every input row and
# every output row in the file equals the cycle model's, edge by edge.

# %%
def signed(v, bits):
    v = np.asarray(v, dtype=object)
    return np.where(v >= 1 << (bits - 1), v - (1 << bits), v).astype(np.int64)


def sample(name, times, lane=None, lane_bits=None):
    # value of a signal at the given times (the last change at or before each); buses are
    # read as two's complement (this design's data are signed), single bits as 0/1
    ts, vs, w = waves[name]
    vs = [vs[i] for i in np.searchsorted(ts, times, side="right") - 1]
    if lane is not None:
        vs = [(v >> (lane * lane_bits)) & ((1 << lane_bits) - 1) for v in vs]
        w = lane_bits
    return signed(vs, w) if w > 1 else np.array(vs, np.int64)


clk_t, clk_v, _ = waves[f"{PORT}.clk"]
edges = clk_t[np.array(clk_v) == 1]  # rising edges
T = ref_w.stimulus.cycles
st, out = ref_w.stimulus, ref_w.outputs
xb, ab = CONFIG.array.act_bits, CONFIG.array.acc_bits


def port_inputs(first):
    # what each rising edge first, first+1, ... latches at the input ports
    e = edges[first:first + T] - 1
    return (np.array_equal(sample(f"{PORT}.w_valid", e) != 0, st.w_valid)
            and np.array_equal(sample(f"{PORT}.x_valid", e) != 0, st.x_valid)
            and all(np.array_equal(sample(f"{PORT}.x_data", e, i, xb), st.x_data[:, i])
                    for i in range(R)))


E0 = next(k for k in range(len(edges) - T + 1) if port_inputs(k))
PERIOD = int(edges[1] - edges[0])
after = edges[E0:E0 + T] + PERIOD // 2  # outputs settle after the edge that latched them
vcd_valid = sample(f"{PORT}.out_valid", after) != 0
vcd_out = np.stack([sample(f"{PORT}.out_data", after, j, ab) for j in range(C)], axis=1)
assert np.array_equal(vcd_valid, out.valid)
assert np.array_equal(vcd_out[out.valid], out.data[out.valid])
print(f"stimulus row t is latched by rising edge {E0} + t (edges 0–{E0 - 1}: reset); all {T} "
      f"input rows and {int(out.valid.sum())} result rows in the VCD equal the cycle model's")


# %%
def delay(src, dst, mask):
    # the d with dst[t + d] == src[t] wherever mask[t] (the first that fits)
    for d in range(len(src)):
        t = np.flatnonzero(mask[: len(src) - d])
        if len(t) and np.array_equal(dst[t + d], src[t]):
            return d
    raise AssertionError("no delay fits")


before = edges[E0:E0 + T] - 1  # values the edges latch
x_port = np.stack([sample(f"{PORT}.x_data", before, i, xb) for i in range(R)], axis=1)
x_pe = np.stack([sample(f"{ARRAY}.pe_{i}_0.x_in", before) for i in range(R)], axis=1)
psum = np.stack([sample(f"{ARRAY}.pe_{R - 1}_{j}.psum_out", after) for j in range(C)], axis=1)
skew = [delay(x_port[:, i], x_pe[:, i], st.x_valid) for i in range(R)]
# a result row at the port on cycle t left column j's bottom PE deskew[j] cycles earlier
deskew = [delay(vcd_out[::-1, j], psum[::-1, j], out.valid[::-1]) for j in range(C)]
latency = int(np.flatnonzero(out.valid)[0] - np.flatnonzero(st.x_valid)[0])
print(f"measured: lane i reaches PE(i,0) {skew} cycles after the port; column j's result "
      f"waits {deskew} cycles in the de-skew; first row in → first row out {latency} cycles "
      f"(the cycle model's latency R + C − 2 = {PARAMS.latency})")


# %%
def draw_bus(ax, y, name, x0, x1, color, lane=None, lane_bits=None, h=0.34):
    ts, _, _ = waves[name]
    xs = np.r_[(ts - edges[E0]) / PERIOD, np.inf]
    vals = sample(name, ts, lane, lane_bits)
    for xa, xb_, v in zip(xs[:-1], xs[1:], vals, strict=True):
        xa, xb_ = max(xa, x0), min(xb_, x1)
        if xb_ <= xa:
            continue
        if v == 0:  # idle (or a zero): a flat line
            ax.plot([xa, xb_], [y, y], color="0.55", lw=1)
            continue
        d = min(0.12, (xb_ - xa) / 2)
        ax.fill([xa, xa + d, xb_ - d, xb_, xb_ - d, xa + d], [y, y + h, y + h, y, y - h, y - h],
                fc=color, alpha=0.3, ec=color, lw=1)
        ax.text((xa + xb_) / 2, y, str(v), ha="center", va="center", fontsize=7)


def draw_bit(ax, y, name, x0, x1, color, h=0.34):
    ts, vs, _ = waves[name]
    xs = np.clip(np.r_[(ts - edges[E0]) / PERIOD, x1], x0, x1)
    ys = y - h + 2 * h * np.r_[vs, vs[-1]]
    ax.step(xs, ys, where="post", color=color, lw=1.5)


X0 = np.flatnonzero(st.w_valid)[0] - 1.5
X1 = (vcd_end - edges[E0]) / PERIOD  # the simulation stops after the last result row
rows = [("w_valid (port)", lambda y: draw_bit(ax, y, f"{PORT}.w_valid", X0, X1, "tab:blue")),
        ("x_valid (port)", lambda y: draw_bit(ax, y, f"{PORT}.x_valid", X0, X1, "tab:blue"))]
rows += [(f"x_data[{i}] (port)", lambda y, i=i: draw_bus(ax, y, f"{PORT}.x_data", X0, X1,
                                                          "tab:blue", i, xb)) for i in range(R)]
rows += [(f"PE({i},0).x_in", lambda y, i=i: draw_bus(ax, y, f"{ARRAY}.pe_{i}_0.x_in", X0, X1,
                                                      "tab:orange")) for i in range(R)]
rows += [(f"PE({R - 1},{j}).psum_out", lambda y, j=j: draw_bus(
    ax, y, f"{ARRAY}.pe_{R - 1}_{j}.psum_out", X0, X1, "tab:red")) for j in range(C)]
rows += [(f"out_data[{j}] (port)", lambda y, j=j: draw_bus(ax, y, f"{PORT}.out_data", X0, X1,
                                                            "tab:green", j, ab)) for j in range(C)]
rows += [("out_valid (port)", lambda y: draw_bit(ax, y, f"{PORT}.out_valid", X0, X1,
                                                 "tab:green"))]
fig, ax = plt.subplots(figsize=(12, 0.34 * len(rows) + 1.2), dpi=80)  # keeps the PNG small
for n, (_, draw) in enumerate(rows):
    draw(-n)
ax.set_yticks([-n for n in range(len(rows))], [label for label, _ in rows], fontsize=8)
for e in np.arange(np.ceil(X0), X1):
    ax.axvline(e, color="0.88", lw=0.6, zorder=0)
ax.set_xlim(X0, X1)
ax.set_xlabel(f"rising clock edge (edge t latches stimulus row t); {CONFIG.array.rows}×"
              f"{CONFIG.array.cols} ws array, A[m, k] = 10(m+1)+k, B = I")
ax.set_title(f"{vcd_path.name}: skewed wavefront in, de-skewed result rows out")
for s in ("top", "right", "left"):
    ax.spines[s].set_visible(False)
show(fig)

# %% [markdown]
# How to read the figure, top to bottom: weight rows are written into a bank (`w_valid`), then
# the rows of A arrive at the port as whole vectors (blue; cocotb drives the ports after a falling
# edge, half a cycle before the rising edge that latches them). The input skew is the orange band:
# a lane that reaches its PE row later than lane 0 is what makes each partial sum meet its next
# operand as it moves down a column. The red band is the partial sums leaving the bottom row of
# PEs, column by column, and the green band what the de-skew makes of them at the output port.
# The delays measured from these signals are printed above the figure.
#
# ## 4. One digits image through the whole RTL machine
#
# The bundled int8 CNN (post-training quantized with 256 training images), compiled for this 4×4
# machine. With `backend="rtl"` the whole program runs on the simulated machine (`hdl/machine.py`:
# DMA, matrix unit, accumulators, activation unit), free-running in Verilator, one simulator run
# per machine segment; the max pools run on the host between segments. `backend="machine"` is the
# cycle-level Python machine the RTL implements: the two must agree on every value and cycle.

# %%
x_train, x_test, y_train, y_test = load_digits_split()
graph = quantize(load_onnx(bundled_model("cnn")), x_train[:256])
compiled = compile(graph, CONFIG)
program = compiled.program(1)
matmuls = [i for i in program.instrs if i.op == "MATMUL"]
IMAGE = 0
t0 = time.perf_counter()
net_cycle = compiled.run(x_test[IMAGE:IMAGE + 1], backend="machine")
t_cycle = time.perf_counter() - t0
t0 = time.perf_counter()
net_rtl = compiled.run(x_test[IMAGE:IMAGE + 1], backend="rtl")
t_rtl = time.perf_counter() - t0
logits_c, logits_r = net_cycle.outputs[0][0], net_rtl.outputs[0][0]
table(zip(net_cycle.layers, net_rtl.layers, strict=True), {
    "layer": lambda p: p[0].name, "op": lambda p: p[0].op,
    "cycles: Python machine": lambda p: f"{p[0].cycles:,}", "RTL": lambda p: f"{p[1].cycles:,}",
})
print(f"{net_rtl.machine.segments} machine segments on the RTL: {t_rtl:.1f} s incl. the build "
      f"(Python machine {t_cycle:.2f} s); DUT counter {net_rtl.machine.rtl['dut_cycles']:,} cycles")
print(f"digit {y_test[IMAGE]}: Python machine predicts {logits_c.argmax()}, RTL predicts "
      f"{logits_r.argmax()}; logits identical: {np.array_equal(logits_c, logits_r)}")
assert np.array_equal(logits_c, logits_r)
assert [s.cycles for s in net_rtl.layers] == [s.cycles for s in net_cycle.layers]
assert net_rtl.totals == net_cycle.totals

fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 3.2),
                                    gridspec_kw={"width_ratios": [1, 2.2, 2]})
ax0.imshow(np.asarray(x_test[IMAGE]).reshape(8, 8), cmap="gray_r")
ax0.set_title(f"input: digit {y_test[IMAGE]}")
ax0.axis("off")
names = [s.name for s in net_cycle.layers]
pos = np.arange(len(names))
ax1.bar(pos - 0.2, [s.cycles for s in net_cycle.layers], 0.4, label="Python machine")
ax1.bar(pos + 0.2, [s.cycles for s in net_rtl.layers], 0.4, label="RTL (Verilator)")
ax1.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
ax1.set_ylabel("cycles")
ax1.set_title("per-layer cycles")
ax1.legend(fontsize=8)
ax2.bar(np.arange(10) - 0.2, logits_c, 0.4, label="Python machine")
ax2.bar(np.arange(10) + 0.2, logits_r, 0.4, label="RTL")
ax2.set_xticks(range(10))
ax2.set_xlabel("class")
ax2.set_title("output logits (dequantized)")
ax2.legend(fontsize=8)
fig.tight_layout()
show(fig)

# %% [markdown]
# ### The instruction timeline
#
# Every instruction of the RTL run as a bar from the cycle it started to the cycle it ended, on
# its unit: the DMA (inputs, weights and activation constants in, outputs out), the matrix unit
# (a MATMUL from its first weight row to its last result row in the accumulators) and the
# activation unit (an ACTIVATE). The cycles are the RTL testbench's event log; the Python
# machine's trace is drawn over it in black (the two coincide, which the cell asserts). Colours
# are layers; dotted lines are segment boundaries, where the host ran a max pool (no machine
# cycles) and the next segment started from HALT.

# %%
UNIT_NAMES = {"dma": "DMA", "mxu": "matrix unit", "act": "activation unit"}
rtl_ins, py_ins = net_rtl.machine.instrs, net_cycle.machine.instrs


def when(r):
    return r["segment"], r["unit"], r["index"], r["op"], r["start"], r["end"]


assert [when(r) for r in rtl_ins] == [when(r) for r in py_ins]
n_instrs = len(rtl_ins)
total = net_rtl.machine.cycles
palette = plt.get_cmap("tab10")
fig, ax = plt.subplots(figsize=(13, 3.2))
busy = {}
for row, unit in enumerate(UNIT_NAMES):
    mine = [r for r in rtl_ins if r["unit"] == unit]
    ax.broken_barh([(r["start"], r["end"] - r["start"]) for r in mine], (row - 0.35, 0.7),
                   facecolors=[palette(r["layer"] % 10) for r in mine], edgecolor="white",
                   linewidth=0.3)
    ax.hlines([row] * len(mine), [r["start"] for r in py_ins if r["unit"] == unit],
              [r["end"] for r in py_ins if r["unit"] == unit], color="black", linewidth=0.6)
    covered = np.zeros(total, bool)
    for r in mine:
        covered[r["start"]:r["end"]] = True
    busy[unit] = covered.mean()
for seg in sorted({r["segment"] for r in rtl_ins})[1:]:
    ax.axvline(min(r["start"] for r in rtl_ins if r["segment"] == seg), color="gray", ls=":")
layers_seen = sorted({r["layer"] for r in rtl_ins})
ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=palette(i % 10)) for i in layers_seen],
          labels=[program.layers[i].name for i in layers_seen], fontsize=8, loc="upper right",
          ncol=len(layers_seen))
ax.set_yticks(range(len(UNIT_NAMES)), list(UNIT_NAMES.values()))
ax.set_ylim(-0.6, len(UNIT_NAMES) - 0.2)
ax.set_xlim(0, total)
ax.set_xlabel("cycle (RTL event log; black: the Python machine's trace)")
ax.set_title(f"digit {y_test[IMAGE]} on the 4×4 RTL machine: {n_instrs} instructions, "
             f"{total:,} cycles")
fig.tight_layout()
show(fig)
busy_text = ", ".join(f"{UNIT_NAMES[u]} {busy[u]:.0%}" for u in UNIT_NAMES)
print(f"busy: {busy_text} of {total:,} cycles")

# %% [markdown]
# ## 5. Area: the analytic model against synthesis at 4, 8 and 16 bits
#
# `tpu.cost` prices a PE from a technology table (Horowitz, ISSCC 2014, 45 nm): a multiplier
# interpolated in the product `a_bits·w_bits`, an `acc_bits` adder and the PE's register bits at
# 7.55 µm² each. `hdl.export.area` (what `tpu hdl area` prints) synthesizes the Amaranth PE with
# yosys (`synth -booth`, generic gates) and counts transistors with `stat -tech cmos`. The two are
# in different units, so we compare them twice:
#
# * **shape**: growth from the 8-bit PE, which needs no conversion, and register bits against the
#   flip-flops yosys kept;
# * **absolute**, under a stated assumption: a NanGate 45 nm `NAND2_X1` (4 transistors) is
#   0.798 µm², so ≈ 0.2 µm² per transistor of plain standard-cell logic, without routing overhead.
#
# Each width keeps the 32-bit accumulator and signed operands.

# %%
UM2_PER_TRANSISTOR = 0.798 / 4  # assumption: NanGate 45 nm NAND2_X1, no routing overhead
tech = load_tech(CONFIG.tech.name)
BITS = (4, 8, 16)
areas = []
t0 = time.perf_counter()
for bits in BITS:
    cfg = CONFIG.replace(act_bits=bits, weight_bits=bits)
    pe = synth_area(cfg)["pe"]
    arr = cfg.array
    mac = mac_area_um2(tech, bits, bits, arr.acc_bits)
    mult = tech.int_mult.area(bits * bits)
    areas.append({
        "bits": bits, "transistors": pe["transistors"], "cells": pe["cells"],
        "flops": pe["cells_by_type"].get("$_DFF_P_", 0), "reg_bits": pe_register_bits(arr),
        "model": pe_area_um2(tech, arr), "mult": mult, "add": mac - mult,
        "regs": pe_area_um2(tech, arr) - mac,
    })
t_synth = time.perf_counter() - t0
by = {r["bits"]: r for r in areas}
for r in areas:
    r["synth_um2"] = r["transistors"] * UM2_PER_TRANSISTOR
    r["implied"] = r["model"] / r["transistors"]  # µm² per transistor that would make them agree
    r["growth_model"] = r["model"] / by[8]["model"]
    r["growth_synth"] = r["transistors"] / by[8]["transistors"]
table(areas, {
    "bits": lambda r: str(r["bits"]),
    "yosys cells": lambda r: f"{r['cells']:,}", "transistors": lambda r: f"{r['transistors']:,}",
    "flip-flops / model register bits": lambda r: f"{r['flops']} / {r['reg_bits']}",
    "model µm² (mult + add + regs)": lambda r: f"{r['model']:,.0f} ({r['mult']:,.0f} + "
                                              f"{r['add']:,.0f} + {r['regs']:,.0f})",
    "synth µm² at 0.2/transistor": lambda r: f"{r['synth_um2']:,.0f}",
    "implied µm²/transistor": lambda r: f"{r['implied']:.3f}",
    "growth vs 8-bit: model": lambda r: f"{r['growth_model']:.2f}×",
    "synth": lambda r: f"{r['growth_synth']:.2f}×",
})
print(f"3 PE syntheses in {t_synth:.0f} s")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 3.8))
pos = np.arange(len(BITS))
bottom = np.zeros(len(BITS))
for part, color in (("mult", "tab:blue"), ("add", "tab:cyan"), ("regs", "tab:gray")):
    vals = np.array([r[part] for r in areas])
    ax0.bar(pos - 0.2, vals, 0.4, bottom=bottom, color=color, label=f"model: {part}")
    bottom += vals
ax0.bar(pos + 0.2, [r["synth_um2"] for r in areas], 0.4, color="tab:orange",
        label="yosys transistors × 0.2 µm²")
ax0.set_xticks(pos, [f"int{b}" for b in BITS])
ax0.set_ylabel("µm² per PE")
ax0.set_title("one ws PE, 32-bit accumulator")
ax0.legend(fontsize=8)
ax1.plot(BITS, [r["growth_model"] for r in areas], "o-", label="analytic model (µm²)")
ax1.plot(BITS, [r["growth_synth"] for r in areas], "s-", label="yosys (transistors)")
ax1.plot(BITS, [r["cells"] / by[8]["cells"] for r in areas], "^--", label="yosys (cells)")
ax1.set_xscale("log", base=2)
ax1.set_yscale("log", base=2)
ax1.set_xticks(BITS, [str(b) for b in BITS])
ticks = [0.5, 0.75, 1, 1.5, 2, 2.5]
ax1.set_yticks(ticks, [f"{t:g}×" for t in ticks])
ax1.set_xlabel("operand bits")
ax1.set_ylabel("area relative to the int8 PE")
ax1.set_title("growth with operand width")
ax1.legend(fontsize=8)
fig.tight_layout()
show(fig)

# %% [markdown]
# ## Conclusions
#
# Computed from the runs above (the cell asserts what it states).

# %%
ok_gemm = all(r["values"] and r["per_cycle"] and r["cycle"] == r["rtl"] == r["analytic"]
              for r in runs)
assert ok_gemm
assert skew == list(range(R)) and deskew == list(range(C - 1, -1, -1))
flops_extra = sorted({r["flops"] - r["reg_bits"] for r in areas})
g16m, g16s = by[16]["growth_model"], by[16]["growth_synth"]
g4m, g4s = by[4]["growth_model"], by[4]["growth_synth"]
lo, hi = min(r["implied"] for r in areas), max(r["implied"] for r in areas)
agree8 = by[8]["synth_um2"] / by[8]["model"]
alike = abs(g16s / g16m - 1) < 0.1 and abs(g4s / g4m - 1) < 0.1
shapes = ", ".join("{}×{}·{}×{}".format(*r["shape"][:2], *r["shape"][1:]) for r in runs)
if flops_extra == [0]:
    flops_note = "one flip-flop per register bit at every width"
elif flops_extra == [1]:
    flops_note = ("one more at every width (the RTL PE also passes on a 1-bit weight-bank "
                  "tag, which the model does not count)")
else:
    flops_note = f"a difference of {flops_extra} bits"
elapsed = time.perf_counter() - START
lines = [
    f"* **The RTL is the cycle model.** {len(runs)} random int8 GEMMs ({shapes}) gave C = A·B "
    f"on the simulated Verilog, with every one of the {sum(r['rows'] for r in runs)} rows of "
    f"partial sums leaving the array on the cycle the Python model predicted; total cycles "
    f"({', '.join(str(r['rtl']) for r in runs)}) equal the closed form `gemm_cycles`.",
    f"* **The waveform shows the skew the models assume.** In the VCD, lane *i* reaches PE row "
    f"*i* {skew} cycles after the port, column *j*'s results wait {deskew} cycles in the "
    f"de-skew, and the first result row leaves {latency} cycles after the first activation row "
    f"enters ({'=' if latency == PARAMS.latency else '≠'} R + C − 2 = {PARAMS.latency}).",
    f"* **A whole network agrees.** Digit {y_test[IMAGE]} → class {logits_r.argmax()} on both "
    f"backends, logits bit-identical, per-layer cycles identical "
    f"({sum(s.cycles for s in net_rtl.layers):,} in total, the DUT's own counter) on the RTL "
    f"machine ({net_rtl.machine.rtl['sim_wall_s']:.2f} s of simulation, "
    f"{net_rtl.machine.rtl['build_wall_s']:.0f} s of build; the Python machine takes {t_cycle:.2f} s); "
    f"{n_instrs} instructions start and end on the same cycles on both, and the units are "
    f"busy {busy_text} of the run.",
    f"* **Area: {'similar (within 10%)' if alike else 'different'} scaling with operand width.** "
    f"The multipliers are calibrated to synthesis (docs/cost.md); at 0.2 µm² per "
    f"transistor the synthesized int8 PE is {agree8:.2f}× the analytic one. From 8 to 16 bits "
    f"synthesis grows {g16s:.2f}× and the model {g16m:.2f}× (the model "
    f"{'under' if g16s > g16m else 'over'}estimates the wide PE relative to int8); at 4 bits "
    f"synthesis keeps {g4s:.2f}× and the model {g4m:.2f}× of the int8 area. The µm² per "
    f"transistor that would reconcile the two ranges from {lo:.3f} to {hi:.3f} across the widths"
    f"{', so no single conversion factor fits' if hi / lo > 1.15 else ''}. Yosys kept "
    f"{', '.join(str(r['flops']) for r in areas)} flip-flops for the model's "
    f"{', '.join(str(r['reg_bits']) for r in areas)} register bits: {flops_note}. In the "
    f"model, registers are {by[4]['regs'] / by[4]['model']:.0%} of the int4 PE and "
    f"{by[16]['regs'] / by[16]['model']:.0%} of the int16 one.",
    f"* Notebook run time {elapsed:.0f} s on this machine.",
]
display(Markdown("\n".join(lines)))
WORK.cleanup()
