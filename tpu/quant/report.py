"""The precision study of the digits models: accuracy, agreement with FP32 and logit SQNR.

Every quantized row runs the exact integer pipeline of :mod:`tpu.quant.qmodel` (the arithmetic the
array and onnxruntime's QOperator kernels perform), so the figures are those of the hardware.
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
log = logging.getLogger(__name__)  # progress: a QAT row trains for tens of seconds


@dataclass(frozen=True)
class Row:
    model: str
    method: str
    accuracy: float
    agreement: float
    sqnr_db: float
    overflows: int


def sqnr_db(ref: np.ndarray, out: np.ndarray) -> float:
    """``10 log10(sum ref^2 / sum (ref - out)^2)``; inf when identical."""
    noise = float(np.sum((ref.astype(np.float64) - out) ** 2))
    signal = float(np.sum(ref.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10.0 * np.log10(signal / noise)


def study_rows() -> list[tuple[str, str, Scheme]]:
    """(label, mode, scheme) for every row of the table."""
    rows = []
    for per_channel in (False, True):
        gran = "per-channel" if per_channel else "per-tensor"
        for calib in ("minmax", "percentile", "kl"):
            rows.append((f"W8A8 {gran} {calib}", "ptq", Scheme(per_channel=per_channel,
                                                               calib=calib)))
    rows += [
        ("W4A8 per-channel PTQ", "ptq", Scheme(w_bits=4, per_channel=True)),
        ("W2A8 per-channel PTQ", "ptq", Scheme(w_bits=2, per_channel=True)),
        ("W4A8 per-channel QAT mse-w", "qat", Scheme(w_bits=4, per_channel=True, w_calib="mse")),
        ("W2A8 per-channel QAT mse-w", "qat", Scheme(w_bits=2, per_channel=True, w_calib="mse")),
        ("W16A16 per-tensor (acc 64)", "ptq", Scheme(w_bits=16, a_bits=16, acc_bits=64)),
    ]
    return rows


def evaluate(name: str, model: Sequential, data, rows=None) -> list[Row]:
    x_tr, x_te, y_tr, y_te = data
    ref = model.forward(x_te)
    ref_pred = ref.argmax(1)
    out = [Row(name, "FP32", float(np.mean(ref_pred == y_te)), 1.0, float("inf"), 0)]
    rows = rows or study_rows()
    for i, (label, mode, scheme) in enumerate(rows, start=1):
        log.info("%s: %s (%d of %d)", name, label, i, len(rows))
        if mode == "qat":
            qm = qat(model, x_tr, y_tr, scheme, QAT_CONFIG)
        else:
            qm = static_ptq(model, x_tr[:CALIB_IMAGES], scheme)
        logits = qm.forward(x_te)
        pred = logits.argmax(1)
        out.append(Row(name, label, float(np.mean(pred == y_te)),
                       float(np.mean(pred == ref_pred)), sqnr_db(ref, logits), qm.overflows))
    return out


def run_report(models=("cnn", "mlp")) -> list[Row]:
    data = load_digits_split()
    rows: list[Row] = []
    for name in models:
        model = Sequential.from_onnx(bundled_model(name))
        rows += evaluate(name, model, data)
    return rows


def format_table(rows: list[Row]) -> str:
    body = [(r.model, r.method, f"{100 * r.accuracy:.2f}%", f"{100 * r.agreement:.2f}%",
             "inf" if r.sqnr_db == float("inf") else f"{r.sqnr_db:.1f}") for r in rows]
    return markdown_table(("model", "method", "test acc", "agree FP32", "logit SQNR dB"), body,
                          right=(2, 3, 4))
