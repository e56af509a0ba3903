"""The numpy model builder: gradients, ONNX round trip through onnxruntime, the digits split."""

import numpy as np
import onnxruntime as ort
import pytest

from tpu.errors import TpuError
from tpu.nn.digits import bundled_model, load_digits_split
from tpu.nn.layers import softmax_cross_entropy
from tpu.nn.model import Sequential, digits_cnn, digits_mlp
from tpu.nn.train import TrainConfig, train


def test_split_is_fixed_and_stratified():
    x_tr, x_te, y_tr, y_te = load_digits_split()
    assert x_tr.shape == (1437, 1, 8, 8) and x_te.shape == (360, 1, 8, 8)
    assert x_te.dtype == np.float32 and x_te.min() >= 0 and x_te.max() <= 1
    assert np.all(np.bincount(y_te) >= 35)
    np.testing.assert_array_equal(load_digits_split()[3], y_te)


@pytest.mark.parametrize("build", [digits_cnn, digits_mlp])
def test_gradients_match_finite_differences(build):
    model = build(1)
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 8, 8)).astype(np.float32)
    y = np.array([1, 4, 7])
    loss, g = softmax_cross_entropy(model.forward(x, train=True), y)
    model.backward(g)
    layer = model.layers[0] if build is digits_cnn else model.layers[1]
    w = layer.params["W"]
    for idx in [(0,) * w.ndim, tuple(s - 1 for s in w.shape)]:
        old = w[idx]
        w[idx] = old + 1e-2
        lp, _ = softmax_cross_entropy(model.forward(x), y)
        w[idx] = old - 1e-2
        lm, _ = softmax_cross_entropy(model.forward(x), y)
        w[idx] = old
        g_w = layer.grads["W"][idx]
        assert abs((lp - lm) / 2e-2 - g_w) < 2e-3 + 0.05 * abs(g_w)  # ReLU kinks, float32


@pytest.mark.parametrize("name", ["cnn", "mlp"])
def test_bundled_model_runs_in_onnxruntime_like_numpy(name):
    path = bundled_model(name)
    model = Sequential.from_onnx(path)
    x = load_digits_split()[1][:50]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x})[0]
    np.testing.assert_allclose(model.forward(x), ref, rtol=1e-5, atol=1e-5)


def test_bundled_models_are_accurate():
    _, x_te, _, y_te = load_digits_split()
    for name in ("cnn", "mlp"):
        acc = np.mean(Sequential.from_onnx(bundled_model(name)).predict(x_te) == y_te)
        assert acc > 0.95, name


def test_training_is_deterministic_and_round_trips(tmp_path):
    x_tr, _, y_tr, _ = load_digits_split()
    models = [digits_mlp(3), digits_mlp(3)]
    for m in models:
        train(m, x_tr[:200], y_tr[:200], TrainConfig(epochs=2, seed=5))
    np.testing.assert_array_equal(models[0].layers[1].params["W"], models[1].layers[1].params["W"])
    models[0].to_onnx(tmp_path / "m.onnx")
    back = Sequential.from_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(back.forward(x_tr[:9]), models[0].forward(x_tr[:9]))


def test_bad_onnx_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(TpuError, match="bad.onnx"):
        Sequential.from_onnx(bad)
    with pytest.raises(TpuError, match="unknown bundled model"):
        bundled_model("resnet")
