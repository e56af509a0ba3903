"""MLAS's float32 kernels as tpu.ops.mlas reproduces them, bit for bit against onnxruntime (the
functions float islands and lookup tables are built from), and fma32 against exact arithmetic."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tpu.ops import mlas
from tpu.ops.fp import fma32

try:
    import onnxruntime as ort
except ImportError as exc:  # the oracle is a dev dependency: fail loudly, never skip
    raise ImportError("these tests need onnxruntime: pip install -e '.[dev]'") from exc


def _run(op, x, opset=17, inits=(), **attrs):
    names = ["x", *[n for n, _ in inits]]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, n) for n, v in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


X = np.concatenate([np.random.default_rng(0).normal(0, 4, 60000),
                    np.linspace(-20, 20, 40001)]).astype(np.float32)


@pytest.mark.parametrize("op, ours", [("Sigmoid", mlas.logistic), ("Tanh", mlas.tanh), ("Erf", mlas.erf)])
def test_transcendentals_equal_onnxruntime_bit_for_bit(op, ours):
    np.testing.assert_array_equal(ours(X).view(np.uint32), _run(op, X).view(np.uint32))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_onnxruntime_bit_for_bit(approximate):
    y = _run("Gelu", X, opset=20, approximate=approximate)
    np.testing.assert_array_equal(mlas.gelu(X, approximate).view(np.uint32), y.view(np.uint32))


@pytest.mark.parametrize("n", [3, 7, 8, 12, 64, 127])
@pytest.mark.parametrize("with_bias", [False, True])
def test_layer_norm_equals_onnxruntime_bit_for_bit(n, with_bias):
    rng = np.random.default_rng(n)
    x = rng.normal(0.5, 2, (300, n)).astype(np.float32)
    g = rng.normal(1, 0.2, n).astype(np.float32)
    b = rng.normal(0, 0.2, n).astype(np.float32)
    inits = [("g", g), ("b", b)] if with_bias else [("g", g)]
    y = _run("LayerNormalization", x, inits=inits, axis=-1, epsilon=1e-5)
    ours = mlas.layer_norm(x, g, b if with_bias else None, 1e-5)
    np.testing.assert_array_equal(ours.view(np.uint32), y.view(np.uint32))


def _round_f32(q: Fraction) -> np.float32:
    """The float32 nearest to the rational q, ties to even: the rounding oracle."""
    r = np.float32(float(q))
    best = None
    for c in (np.nextafter(r, np.float32(-np.inf)), r, np.nextafter(r, np.float32(np.inf))):
        if not np.isfinite(c):
            continue
        err = abs(Fraction(float(c)) - q)
        key = (err, int(np.array(c).view(np.uint32)) & 1)  # ties: the even significand
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


floats = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=300, deadline=None)
@given(a=floats, b=floats, c=floats)
def test_fma32_rounds_once(a, b, c):
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    assert fma32(np.float32(a), np.float32(b), np.float32(c)) == _round_f32(exact)


def test_fma32_differs_from_two_roundings_where_it_must():
    """A case where a·b + c rounded twice lands on the other side of a tie: fma32 must not."""
    a, b = np.float32(1 + 2**-12), np.float32(1 + 2**-12)
    c = np.float32(-1.0)
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    assert fma32(a, b, c) == _round_f32(exact)
    assert np.float32(a * b) + c != _round_f32(exact)

