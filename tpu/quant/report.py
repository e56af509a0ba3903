"""The precision study of the digits models: accuracy, agreement with FP32 and logit SQNR.

Every quantized row runs the exact integer pipeline of :mod:`tpu.quant.qmodel` (the arithmetic the
array and onnxruntime's QOperator kernels perform), so the figures are those of the hardware; the
binary-weight rows run its Conv/Dense layers as W1A8 GEMMs on the default multi-precision array
(:mod:`tpu.quant.on_array`).

Calibration and training are separate columns: weights are calibrated by ``maxabs`` (symmetric
min/max: the largest |w| maps to the top level), ``mse`` (the clipping threshold with the least
squared error) or, for one bit, ``meanabs`` (mean|w|, the binary scale of XNOR-Net);
activations by min/max, percentile or KL over the calibration images. PTQ and QAT rows appear with both weight
calibrations, so what QAT adds over a better calibration is visible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.model import Sequential
from tpu.nn.train import TrainConfig
from tpu.quant.qat import qat
from tpu.quant.qmodel import Scheme, static_ptq
from tpu.report import markdown_table

CALIB_IMAGES = 256  # first training images; the test split is never used for calibration
QAT_CONFIG = TrainConfig(epochs=15, lr=3e-3, seed=0)
ARRAY = "edge-32"  # where the binary-weight rows run
log = logging.getLogger(__name__)  # progress: a QAT row trains for tens of seconds


@dataclass(frozen=True)
class Row:
    model: str
    method: str  # the row's label: widths, granularity, mode
    accuracy: float
    agreement: float
    sqnr_db: float
    overflows: int
    mode: str = "-"  # PTQ | QAT | FP32
    weight_calib: str = "-"
    act_calib: str = "-"
    runs_on: str = "numpy"  # numpy integer kernels, or the array


@dataclass(frozen=True)
class Spec:
    """One row to compute: ``label``, PTQ or QAT, the scheme, where the accumulators come from."""

    label: str
    mode: str
    scheme: Scheme
    on_array: bool = False

    @property
    def weight_calib(self) -> str:
        return "meanabs" if self.scheme.w_bits == 1 else self.scheme.w_calib


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """``10 log10(sum ref^2 / sum (ref - out)^2)``; inf when identical."""
    noise = float(np.sum((ref.astype(np.float64) - out) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)


def study_rows() -> list[Spec]:
    """Every row of the table."""
    rows = []
    for per_channel in (False, True):
        gran = "per-channel" if per_channel else "per-tensor"
        for calib in ("minmax", "percentile", "kl"):
            rows.append(Spec(f"W8A8 {gran}", "PTQ", Scheme(per_channel=per_channel, calib=calib)))
    for w in (4, 2):
        for mode in ("PTQ", "QAT"):
            for w_calib in ("maxabs", "mse"):
                rows.append(Spec(f"W{w}A8 per-channel", mode,
                                 Scheme(w_bits=w, per_channel=True, w_calib=w_calib)))
    for mode in ("PTQ", "QAT"):
        rows.append(Spec("W1A8 per-channel (binary)", mode, Scheme(w_bits=1, per_channel=True),
                         on_array=True))
    rows.append(Spec("W16A16 per-tensor (acc 64)", "PTQ", Scheme(w_bits=16, a_bits=16, acc_bits=64)))
    return rows


def evaluate(name: str, model: Sequential, data, rows=None) -> list[Row]:
    from tpu.config import load_config
    from tpu.quant.on_array import integer_on_array

    x_tr, x_te, y_tr, y_te = data
    ref = model.forward(x_te)
    ref_pred = ref.argmax(1)
    out = [Row(name, "FP32", float(np.mean(ref_pred == y_te)), 1.0, float("inf"), 0, "FP32")]
    rows = rows or study_rows()
    for i, spec in enumerate(rows, start=1):
        log.info("%s: %s %s, weights %s (%d of %d)", name, spec.label, spec.mode, spec.weight_calib,
                 i, len(rows))
        if spec.mode == "QAT":
            qm = qat(model, x_tr, y_tr, spec.scheme, QAT_CONFIG)
        else:
            qm = static_ptq(model, x_tr[:CALIB_IMAGES], spec.scheme)
        if spec.on_array:
            logits, _ = integer_on_array(qm, x_te, load_config(ARRAY))
            runs_on = f"array ({ARRAY}, W{spec.scheme.w_bits}A{spec.scheme.a_bits})"
        else:
            logits, runs_on = qm.forward(x_te), "numpy"
        pred = logits.argmax(1)
        out.append(Row(name, spec.label, float(np.mean(pred == y_te)),
                       float(np.mean(pred == ref_pred)), sqnr_db(ref, logits), qm.overflows,
                       spec.mode, spec.weight_calib, spec.scheme.calib, runs_on))
    return out


def run_report(models=("cnn", "mlp")) -> list[Row]:
    data = load_digits_split()
    rows: list[Row] = []
    for name in models:
        model = Sequential.from_onnx(bundled_model(name))
        rows += evaluate(name, model, data)
    return rows


def format_table(rows: list[Row]) -> str:
    body = [(r.model, r.method, r.mode, r.weight_calib, r.act_calib, f"{100 * r.accuracy:.2f}%",
             f"{100 * r.agreement:.2f}%", "inf" if r.sqnr_db == float("inf") else f"{r.sqnr_db:.1f}")
            for r in rows]
    return markdown_table(("model", "widths", "mode", "weight calib", "act calib", "test acc",
                           "agree FP32", "logit SQNR dB"), body, right=(5, 6, 7))
