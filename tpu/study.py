"""Precision trade-offs: one model on arrays built for each weight/activation width, against FP32.

Every PTQ row quantizes the float graph (static post-training, per-channel symmetric weights
calibrated by max|w| ("maxabs"), min/max activations from the calibration set), compiles it for
an array whose operands are exactly that wide (a plain array: ``multi_precision = false``), and
runs it on the fast backend: accuracy, top-1 agreement and logit SQNR against the FP32 graph,
and the run's cycles, DRAM bytes and energy, with the array's area. Accumulators are 32 bits
wide, 48 when the operands add up to more than 16 bits.

PTQ-MSE rows (weights of 4 bits or fewer) change only the weight calibration: the clipping
threshold with the least squared error, as QAT rows use too, so calibration and training are
told apart. Their accuracy comes from tpu.quant's integer model (the compiler calibrates
weights by max|w| only), their cost from the PTQ run at the same widths.

FP16 and BF16 rows are computed: the model's Conv/Dense layers run on an fp16/bf16 array
(fp32 products and sums in the dataflow's order, tpu.quant.on_array.float_on_array) for the
accuracy columns. Their cost is the compiled program for 16-bit elements on the same machine
(a 16-bit integer array with 32-bit accumulators: the same tiles, schedule, buffers and DRAM
bytes; its integer values are discarded), charged with the format's multipliers and fp32
adders from the tech table.

The FP32 row is an estimate, not a simulation: the same array shape with fp32 MACs
(``fp_mac_energy_pj`` / ``fp_mac_area_um2`` / ``fp_mac_leakage_mw``) and 32-bit PE registers,
moving 4 bytes per element; its leakage is those PEs' and the buffers' static power for the
run's cycles. Its schedule is the 8-bit program run on a machine whose buffers and DRAM bytes per
cycle are a quarter as large, which is the same machine moving 4-byte elements (same elements
per buffer, same elements per cycle); its byte counts are that run's times 4. The weight buffer
is kept at two tiles at least, so the estimate assumes a weight buffer big enough to
double-buffer fp32 tiles.

QAT rows (where post-training quantization loses accuracy: weights of 4 bits or fewer) come
from :func:`tpu.quant.qat.qat` on the tpu.nn model behind the ONNX file, with MSE weight
calibration; their accuracy is that of tpu.quant's integer-exact model (the compiler does not
take that model yet), their cost that of the post-training run of the same widths (cost depends
on shapes, not values).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass

import numpy as np

from tpu.config import Config
from tpu.cost import (
    area,
    energy,
    fp_mac_area_um2,
    fp_mac_energy_pj,
    fp_mac_leakage_mw,
    load_tech,
    register_energy_pj,
    sram_leakage_mw,
)
from tpu.cost.buffers import buffers
from tpu.cost.energy import Counts
from tpu.errors import TpuError
from tpu.report import markdown_table

WEIGHT_BITS = (2, 4, 8, 16)
ACT_BITS = (8, 16)
QAT_MAX_WEIGHT_BITS = 4
FLOAT_FORMATS = ("fp16", "bf16")
FP32_BYTES = 4
FP32_METHOD = "fp32 (estimate: fp32 MACs, 4-byte elements)"
FLOAT_METHOD = "{fmt} (values: the {fmt} array; cost: the 16-bit program on {fmt} PEs)"
PTQ_METHOD = "ptq"
PTQ_MSE_METHOD = "ptq-mse (accuracy: tpu.quant integer model; cost: the ptq run)"
QAT_METHOD = "qat-mse (accuracy: tpu.quant integer model; cost: the ptq run)"
CALIBRATION = {PTQ_METHOD: "w maxabs, a minmax", PTQ_MSE_METHOD: "w mse, a minmax",
               QAT_METHOD: "w mse, a minmax (trained)"}
log = logging.getLogger(__name__)  # progress: each row compiles and runs the whole batch


@dataclass(frozen=True)
class StudyRow:
    weight_bits: int
    act_bits: int
    method: str
    accuracy: float | None  # None without labels
    agreement: float  # top-1 agreement with FP32
    sqnr_db: float  # logit SQNR against FP32 (inf when identical)
    energy_pj: float  # per inference
    area_mm2: float
    cycles: int  # the whole batch
    dram_bytes: int  # the whole batch
    batch: int
    energy_parts_pj: dict | None = None  # per inference: mac, register, sram, dram, total
    dram_operands: dict | None = None  # the whole batch: weights, inputs, outputs
    calibration: str = "-"  # weights' and activations' ranges ("w maxabs, a minmax", ...)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sqnr_db"] = None if np.isinf(self.sqnr_db) else self.sqnr_db  # JSON has no infinity
        return d


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """``10 log10(Σ ref² / Σ (ref − out)²)``; inf when identical."""
    ref = np.asarray(ref, np.float64)
    noise = float(np.sum((ref - np.asarray(out, np.float64)) ** 2))
    return float("inf") if noise == 0 else 10 * float(np.log10(float(np.sum(ref**2)) / noise))


def array_for(config: Config, weight_bits: int, act_bits: int) -> Config:
    """``config`` built for operands of these widths: a plain array (no slicing or packing
    logic), accumulators widened for 16-bit operands."""
    acc = 32 if weight_bits + act_bits <= 16 else 48
    return config.replace(weight_bits=weight_bits, act_bits=act_bits, acc_bits=acc,
                          multi_precision=False, packing=False, format="int")


@dataclass(frozen=True)
class Workload:
    """What the study runs: the float graph, its input batch, calibration data, labels."""

    graph: object
    x: np.ndarray
    calib: np.ndarray
    labels: np.ndarray | None = None
    model_path: str | None = None  # ONNX file, for QAT through tpu.nn
    calib_labels: np.ndarray | None = None  # QAT trains on the calibration set

    def __post_init__(self):
        if self.graph.quantized:
            raise TpuError(f"model {self.graph.name!r} is already quantized; the precision study "
                           f"needs the float model")
        if self.labels is not None and len(self.labels) != len(self.x):
            raise TpuError(f"{len(self.labels)} labels for {len(self.x)} inputs")


def _metrics(logits, ref, labels):
    pred = np.argmax(logits, axis=1)
    acc = None if labels is None else float(np.mean(pred == labels))
    return acc, float(np.mean(pred == np.argmax(ref, axis=1))), sqnr_db(ref, logits)


def _counts(result) -> Counts:
    return sum((s.counts for s in result.layers), Counts())


def quantized_run(work: Workload, config: Config, weight_bits: int, act_bits: int, machine=None):
    from tpu.compiler import compile as compile_graph
    from tpu.compiler.quantize import quantize

    machine = machine or array_for(config, weight_bits, act_bits)
    graph = quantize(work.graph, work.calib, per_channel=True, method="minmax", act_bits=act_bits,
                     weight_bits=weight_bits, act_signed=False, weight_signed=True)
    return machine, compile_graph(graph, machine).run(work.x)


def ptq_row(work: Workload, config: Config, ref, weight_bits: int, act_bits: int) -> StudyRow:
    machine, result = quantized_run(work, config, weight_bits, act_bits)
    acc, agree, sq = _metrics(result.outputs[0], ref, work.labels)
    t = result.totals
    return StudyRow(weight_bits, act_bits, PTQ_METHOD, acc, agree, sq,
                    t["energy_pj"]["total"] / len(work.x), area(machine).total, t["cycles"],
                    sum(t["dram_bytes"].values()), len(work.x),
                    {k: v / len(work.x) for k, v in t["energy_pj"].items()}, dict(t["dram_bytes"]),
                    CALIBRATION[PTQ_METHOD])


def float_machine(config: Config, fmt: str) -> Config:
    """``config`` with fp16/bf16 PEs (16-bit operands, fp32 products and sums)."""
    return config.replace(format=fmt, act_bits=16, weight_bits=16, acc_bits=32,
                          act_signed=True, weight_signed=True)


def float_row(work: Workload, config: Config, ref, fmt: str, program=None) -> StudyRow:
    """The model on an fp16/bf16 array (values) and the 16-bit program on its PEs (cost), as
    the module docstring says. ``program``: that compiled run, when already made."""
    from tpu.nn.model import Sequential
    from tpu.quant.on_array import float_on_array

    if work.model_path is None:
        raise TpuError("float rows need the model as a tpu.nn network (the bundled digits "
                       "models are)")
    machine = float_machine(config, fmt)
    logits, _ = float_on_array(Sequential.from_onnx(work.model_path), work.x, machine)
    acc, agree, sq = _metrics(logits, ref, work.labels)
    if program is None:
        program = quantized_run(work, config, 16, 16, machine=fp_program_machine(config))[1]
    t, n = program.totals, len(work.x)
    e = energy(_counts(program), machine).to_dict()
    return StudyRow(16, 16, FLOAT_METHOD.format(fmt=fmt), acc, agree, sq, e["total"] / n,
                    area(machine).total, t["cycles"], sum(t["dram_bytes"].values()), n,
                    energy_parts_pj={k: v / n for k, v in e.items()},
                    dram_operands=dict(t["dram_bytes"]), calibration=f"{fmt} round to nearest even")


def fp_program_machine(config: Config) -> Config:
    """The integer array whose 16-bit program has the fp16 machine's schedule and traffic:
    16-bit elements, 32-bit accumulators (the fp32 sums' bytes)."""
    return array_for(config, 16, 16).replace(acc_bits=32)


def fp32_machine(config: Config) -> Config:
    """The 8-bit machine with a quarter of the buffer bytes and DRAM bytes per cycle: timing
    8-bit elements on it equals timing 4-byte elements on ``config``."""
    m = config.memory
    if m.dram_bytes_per_cycle % FP32_BYTES:
        raise TpuError(f"the FP32 estimate needs memory.dram_bytes_per_cycle divisible by "
                       f"{FP32_BYTES}, got {m.dram_bytes_per_cycle}")
    a = config.array
    # at least two 8-bit tiles, so the weights stay double-buffered (an fp32 machine with the
    # same buffer would not fit them: the estimate grants it a large enough weight buffer)
    weight_buffer = max(m.weight_buffer_bytes // FP32_BYTES, 2 * a.rows * a.cols)
    quarter = dataclasses.replace(
        m, weight_buffer_bytes=weight_buffer,
        unified_buffer_bytes=m.unified_buffer_bytes // FP32_BYTES,
        accumulator_bytes=m.accumulator_bytes, dram_bytes_per_cycle=m.dram_bytes_per_cycle // FP32_BYTES)
    return dataclasses.replace(array_for(config, 8, 8), memory=quarter)


def fp32_row(work: Workload, config: Config, ref) -> StudyRow:
    """FP32 reference accuracy and the cost estimate described in the module docstring."""
    tech = load_tech(config.tech.name)
    machine, result = quantized_run(work, fp32_machine(config), 8, 8)
    c = _counts(result)
    scale = {"sram_reads", "sram_writes", "dram_bytes"}
    memory = Counts(**{f: (getattr(c, f) if f not in scale else
                           {k: v * FP32_BYTES for k, v in getattr(c, f).to_dict().items()})
                       for f in ("sram_reads", "sram_writes", "dram_bytes", "accumulator_reads",
                                 "accumulator_writes")})
    e_mem = energy(memory, array_for(config, 8, 8))  # buffer sizes and DRAM type of ``config``
    regs = c.act_register_writes + c.weight_register_writes + c.psum_register_writes
    pe_regs = 32 * (4 if config.array.dataflow == "ws" else 3)  # act, weight(, shadow), sum
    pe_um2 = fp_mac_area_um2(tech, "fp32") + pe_regs * tech.register.area_um2_per_bit
    pe_mw = fp_mac_leakage_mw(tech, "fp32") + pe_regs * tech.register.leakage_mw_per_bit
    a = config.array
    fp_area = a.rows * a.cols * pe_um2 / 1e6 + area(config).sram
    static_mw = a.rows * a.cols * pe_mw + sum(sram_leakage_mw(tech, b.size_bytes, b.port_bits)
                                              for b in buffers(config).values())
    parts = {"mac": c.macs * fp_mac_energy_pj(tech, "fp32"),
             "register": regs * register_energy_pj(tech, 32), "sram": e_mem.sram, "dram": e_mem.dram,
             "leakage": static_mw * c.cycles / config.clock.hz * 1e9}  # mW x ns = pJ
    total = sum(parts.values())
    acc, agree, sq = _metrics(ref, ref, work.labels)
    n = len(work.x)
    return StudyRow(32, 32, FP32_METHOD, acc, agree, sq, total / n, fp_area,
                    result.totals["cycles"], c.dram_bytes.total * FP32_BYTES, n,
                    {k: v / n for k, v in {**parts, "total": total}.items()},
                    memory.dram_bytes.to_dict(), "-")


def _nn_model(work: Workload):
    """The tpu.nn network behind the ONNX file, or None when tpu.nn cannot rebuild it."""
    from tpu.nn.model import Sequential

    if work.model_path is None:
        return None
    try:
        return Sequential.from_onnx(work.model_path)
    except TpuError:  # a model tpu.nn cannot rebuild simply has no tpu.quant rows
        return None


def ptq_mse_accuracy(work: Workload, ref, weight_bits: int, act_bits: int):
    """(accuracy, agreement, SQNR) of post-training quantization with MSE weight calibration
    (tpu.quant's integer model), or None without a tpu.nn model."""
    from tpu.quant.qmodel import Scheme, static_ptq

    model = _nn_model(work)
    if model is None:
        return None
    scheme = Scheme(w_bits=weight_bits, a_bits=act_bits, per_channel=True, w_calib="mse")
    return _metrics(static_ptq(model, work.calib, scheme).forward(work.x), ref, work.labels)


def qat_accuracy(work: Workload, ref, weight_bits: int, act_bits: int, epochs: int):
    """(accuracy, agreement, SQNR) of a QAT model from tpu.quant, or None when the ONNX file
    is not a tpu.nn model or there are no labels to train on."""
    from tpu.nn.train import TrainConfig
    from tpu.quant.qat import qat
    from tpu.quant.qmodel import Scheme

    model = _nn_model(work)
    if model is None or work.labels is None or work.calib_labels is None:
        return None
    scheme = Scheme(w_bits=weight_bits, a_bits=act_bits, per_channel=True, w_calib="mse")
    qm = qat(model, work.calib, work.calib_labels, scheme, TrainConfig(epochs=epochs, lr=3e-3, seed=0))
    return _metrics(qm.forward(work.x), ref, work.labels)


def study(work: Workload, config: Config, *, weight_bits=WEIGHT_BITS, act_bits=ACT_BITS,
          qat_epochs: int = 15, floats=FLOAT_FORMATS) -> list[StudyRow]:
    """FP32 first, then the ``floats`` formats (when the model is a tpu.nn network), then every
    (weight, activation) width post-training, with PTQ-MSE and QAT rows for weights of
    ``QAT_MAX_WEIGHT_BITS`` or fewer (``qat_epochs=0`` leaves the QAT rows out)."""
    from tpu.compiler import reference

    ref = np.asarray(reference.evaluate(work.graph, work.x)[0], np.float64)
    log.info("FP32 estimate (%d inputs)", len(work.x))
    rows = [fp32_row(work, config, ref)]
    if floats and _nn_model(work) is not None:
        program = quantized_run(work, config, 16, 16, machine=fp_program_machine(config))[1]
        rows += [float_row(work, config, ref, fmt, program) for fmt in floats]
    for ab in act_bits:
        for wb in weight_bits:
            log.info("W%dA%d post-training", wb, ab)
            row = ptq_row(work, config, ref, wb, ab)
            rows.append(row)
            if wb > QAT_MAX_WEIGHT_BITS:
                continue
            log.info("W%dA%d post-training with MSE weights", wb, ab)
            variants = [(PTQ_MSE_METHOD, ptq_mse_accuracy(work, ref, wb, ab))]
            if qat_epochs:
                log.info("W%dA%d QAT, %d epochs", wb, ab, qat_epochs)
                variants.append((QAT_METHOD, qat_accuracy(work, ref, wb, ab, qat_epochs)))
            for method, metrics in variants:
                if metrics is not None:
                    acc, agree, sq = metrics
                    rows.append(dataclasses.replace(row, method=method, accuracy=acc, agreement=agree,
                                                    sqnr_db=sq, calibration=CALIBRATION[method]))
    return rows


def digits_workload(batch: int | None = None) -> Workload:
    """The bundled digits CNN: held-out images (the first ``batch``), training images as the
    calibration (and QAT) set."""
    from tpu.frontend import load_onnx
    from tpu.nn.digits import bundled_model, load_digits_split

    x_train, x_test, y_train, y_test = load_digits_split()
    path = bundled_model("cnn")
    n = len(x_test) if batch is None else batch
    return Workload(load_onnx(path), x_test[:n], x_train, y_test[:n], str(path), y_train)


def row_label(row: StudyRow) -> str:
    mode = row.method.split()[0].upper()
    if row.weight_bits == 32 or mode in ("FP16", "BF16"):
        return mode
    return f"W{row.weight_bits}A{row.act_bits} {mode}"


def study_figure(rows: list[StudyRow], title: str = "precision trade-offs"):
    """Two panels (a Figure outside pyplot: the user's backend untouched): accuracy (or FP32
    agreement) against energy per inference, and logit SQNR against array area; one labelled
    marker per row."""
    from tpu.report import figure

    fig = figure(figsize=(11, 4.5), layout="tight")
    left, right = fig.subplots(1, 2)
    use_acc = all(r.accuracy is not None for r in rows)
    for r in rows:
        y = 100 * (r.accuracy if use_acc else r.agreement)
        marker = "*" if r.weight_bits == 32 or r.method.startswith(FLOAT_FORMATS) else \
            ("^" if r.method.startswith("qat") else ("s" if r.method.startswith("ptq-mse") else "o"))
        left.plot(r.energy_pj / 1e3, y, marker, ms=9)
        left.annotate(row_label(r), (r.energy_pj / 1e3, y), fontsize=7,
                      xytext=(4, 3), textcoords="offset points")
        sq = min(r.sqnr_db, 100.0)  # FP32 against itself is infinite: drawn at the top
        right.plot(r.area_mm2, sq, marker, ms=9)
        right.annotate(row_label(r), (r.area_mm2, sq), fontsize=7, xytext=(4, 3),
                       textcoords="offset points")
    left.set_xscale("log")
    left.set_xlabel("energy per inference (nJ)")
    left.set_ylabel("test accuracy %" if use_acc else "top-1 agreement with FP32 %")
    right.set_xlabel("area (mm², array + buffers)")
    right.set_ylabel("logit SQNR vs FP32 (dB; FP32 drawn at 100)")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title)
    return fig


def format_table(rows: list[StudyRow]) -> str:
    head = ("row", "calibration", "accuracy", "agree FP32", "SQNR dB", "nJ/inference", "area mm²",
            "cycles", "DRAM bytes")
    body = []
    for r in rows:
        body.append((
            row_label(r), r.calibration,
            "-" if r.accuracy is None else f"{100 * r.accuracy:.2f}%",
            f"{100 * r.agreement:.2f}%",
            "inf" if np.isinf(r.sqnr_db) else f"{r.sqnr_db:.1f}",
            f"{r.energy_pj / 1e3:,.1f}", f"{r.area_mm2:.3f}", f"{r.cycles:,}", f"{r.dram_bytes:,}",
        ))
    return markdown_table(head, body, right=range(2, len(head)))
