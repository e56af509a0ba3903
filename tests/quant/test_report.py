"""The digits quantization report: calibration and training in separate columns, binary weights
through the array (PTQ rows only here: QAT rows take minutes)."""

import numpy as np
import pytest

import tpu
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.model import Sequential
from tpu.quant.on_array import float_on_array, integer_on_array
from tpu.quant.qmodel import Scheme, static_ptq
from tpu.quant.report import Spec, evaluate, format_table, study_rows


@pytest.fixture(scope="module")
def cnn():
    return Sequential.from_onnx(bundled_model("cnn")), load_digits_split()


def test_every_row_names_its_calibration_and_mode():
    specs = study_rows()
    for w in (4, 2):  # PTQ and QAT, each with both weight calibrations
        got = {(s.mode, s.weight_calib) for s in specs if s.label.startswith(f"W{w}A8")}
        assert got == {("PTQ", "maxabs"), ("PTQ", "mse"), ("QAT", "maxabs"), ("QAT", "mse")}
    binary = [s for s in specs if s.scheme.w_bits == 1]
    assert {s.mode for s in binary} == {"PTQ", "QAT"} and all(s.on_array for s in binary)
    assert all(s.weight_calib == "meanabs" for s in binary)  # mean|w| (no pipe: Markdown)


def test_mse_calibration_alone_recovers_most_of_w2(cnn):
    """The claim the table must not hide: a better weight calibration, no training, already
    lifts W2A8 from near chance."""
    model, data = cnn
    specs = [Spec("W2A8 per-channel", "PTQ", Scheme(w_bits=2, per_channel=True, w_calib=c))
             for c in ("maxabs", "mse")]
    fp32, maxabs, mse = evaluate("cnn", model, data, specs)
    assert maxabs.weight_calib == "maxabs" and mse.weight_calib == "mse"
    assert maxabs.accuracy < 0.5 < 0.75 < mse.accuracy
    table = format_table([fp32, maxabs, mse])
    assert "| weight calib |" in table and "| mse " in table


def test_binary_weights_run_end_to_end_on_the_array(cnn):
    """W1A8 on the 8-bit multi-precision array: its accumulators equal tpu.quant's numpy
    kernels bit for bit, so the logits do; the row says where it ran."""
    model, (x_tr, x_te, y_tr, y_te) = cnn
    qm = static_ptq(model, x_tr[:256], Scheme(w_bits=1, per_channel=True))
    assert set(np.unique(qm.qlayers[0].wq)) == {-1, 1}
    logits, run = integer_on_array(qm, x_te[:60], tpu.load_config())
    np.testing.assert_array_equal(logits, qm.forward(x_te[:60]))
    assert len(run.results) == 3 and run.cycles > 0
    assert all(r.plan.modes[0].precision.weight_bits == 1 for r in run.results)
    (row,) = evaluate("cnn", model, (x_tr, x_te[:60], y_tr, y_te[:60]),
                      [s for s in study_rows() if s.scheme.w_bits == 1 and s.mode == "PTQ"])[1:]
    assert row.runs_on.startswith("array") and 0.1 < row.accuracy <= 1.0


def test_float_model_on_fp16_and_bf16_arrays(cnn):
    model, (_, x_te, _, _) = cnn
    ref = model.forward(x_te[:50])
    for fmt in ("fp16", "bf16"):
        config = tpu.load_config().replace(format=fmt, act_bits=16, weight_bits=16)
        out, run = float_on_array(model, x_te[:50], config)
        assert out.dtype == np.float32 and np.mean(out.argmax(1) == ref.argmax(1)) > 0.95
        assert 0 < np.abs(out - ref).max() < 0.5  # rounded, not equal
        # the cycle model gives the same bits
        cyc, _ = float_on_array(model, x_te[:3], config, backend="cycle")
        np.testing.assert_array_equal(cyc.view(np.uint32), out[:3].view(np.uint32))
