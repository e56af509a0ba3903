"""The integer model: exact pipeline agrees with FP32; fixed point close to float; QAT; modes."""

import numpy as np
import pytest

from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.model import Sequential
from tpu.nn.train import TrainConfig
from tpu.quant.calibrate import abs_histogram, kl_threshold, percentile_threshold
from tpu.quant.modes import qat, static_ptq, weight_only
from tpu.quant.observers import HistogramObserver, MovingAverageMinMaxObserver
from tpu.quant.qmodel import Scheme


@pytest.fixture(scope="module")
def setup():
    return Sequential.from_onnx(bundled_model("mlp")), load_digits_split()


def test_int8_agrees_with_fp32(setup):
    model, (x_tr, x_te, _, _) = setup
    qm = static_ptq(model, x_tr[:256], Scheme(per_channel=True))
    assert np.mean(qm(x_te).argmax(1) == model(x_te).argmax(1)) > 0.98
    assert qm.overflows == 0


def test_fixed_point_requant_differs_only_on_rounding(setup):
    model, (x_tr, x_te, _, _) = setup
    a = static_ptq(model, x_tr[:256], Scheme()).forward(x_te)
    b = static_ptq(model, x_tr[:256], Scheme(requant="fixed")).forward(x_te)
    assert np.mean(a.argmax(1) == b.argmax(1)) > 0.99


def test_weight_only_keeps_float_activations(setup):
    model, (_, x_te, _, _) = setup
    wo = weight_only(model, Scheme(w_bits=8, per_channel=True))
    w = wo.layers[1].params["W"]
    s = np.abs(model.layers[1].params["W"]).max(1, keepdims=True) / 127
    np.testing.assert_allclose(w / s, np.round(w / s), atol=1e-3)
    assert np.mean(wo(x_te).argmax(1) == model(x_te).argmax(1)) > 0.98


def test_qat_recovers_two_bit_weights(setup):
    model, (x_tr, x_te, y_tr, y_te) = setup
    scheme = Scheme(w_bits=2, per_channel=True, w_calib="mse")
    ptq = static_ptq(model, x_tr[:256], scheme)
    trained = qat(model, x_tr, y_tr, scheme, TrainConfig(epochs=3, lr=3e-3))
    assert np.mean(trained(x_te).argmax(1) == y_te) > np.mean(ptq(x_te).argmax(1) == y_te)


def test_calibration_thresholds():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_000)
    counts, edges = abs_histogram(x)
    assert 3.5 < percentile_threshold(counts, edges, 99.99) < 4.5
    t = kl_threshold(counts, edges)
    assert 2.0 < t < np.abs(x).max()
    obs = HistogramObserver()
    obs.observe(x[:50_000] * 0.5)
    obs.observe(x[50_000:])  # widens the range: old counts are re-binned
    assert obs.counts.sum() == 100_000


def test_moving_average_observer():
    obs = MovingAverageMinMaxObserver(0.5)
    obs.observe(np.array([-1.0, 1.0]))
    obs.observe(np.array([-3.0, 3.0]))
    assert obs.range() == (np.float32(-2.0), np.float32(2.0))
