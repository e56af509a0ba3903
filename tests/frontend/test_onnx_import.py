# ruff: noqa: F811  (pytest fixtures are parameters named like the imported fixture)
"""ONNX import against onnxruntime (CPU, ORT_ENABLE_ALL): float models within float tolerance,
onnxruntime-quantized models (QOperator and QDQ) bit for bit."""

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tests.ort_models import (
    ORT_SATURATES_U8S8,
    SINGLE_OPS,
    ort_models,  # noqa: F401  (the session fixture)
    ort_run,
)
from tpu.compiler import ir
from tpu.compiler.reference import evaluate
from tpu.errors import ModelError
from tpu.frontend import load_onnx

QUANT_SINGLE = [k for k in SINGLE_OPS if k != "batchnorm"]  # ORT leaves BN in float


@pytest.mark.parametrize("base", list(SINGLE_OPS) + ["residual_cnn", "cnn", "mlp"])
def test_float_models_match_onnxruntime(ort_models, base):
    path = ort_models.get(base)
    x = ort_models.test_input(base)
    y = evaluate(load_onnx(path), x)[0]
    np.testing.assert_allclose(y, ort_run(path, x), rtol=1e-5, atol=1e-5)


def test_batchnorm_is_folded_and_relu_fused(ort_models):
    g = load_onnx(ort_models.get("batchnorm"))
    assert [type(n).__name__ for n in g.nodes] == ["Conv"]
    g = load_onnx(ort_models.get("residual_cnn"))
    convs = [n for n in g.nodes if isinstance(n, ir.Conv)]
    assert [c.relu for c in convs] == [True, True, False, False, True, True]
    assert g.shapes["y"] == (1, 10) and not g.quantized


# ORT's U8S8 kernels on AVX2 without VNNI saturate product pairs to
# int16, reproduced with saturate_pairs=True (exact arithmetic otherwise).
@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("act", ["u8", "s8"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("base", ["residual_cnn", "cnn", "mlp"])
def test_quantized_models_bit_exact(ort_models, base, fmt, act, per_channel):
    path = ort_models.get(base, fmt, act, per_channel)
    x = ort_models.test_input(base)
    g = load_onnx(path)
    assert g.quantized
    y = evaluate(g, x, saturate_pairs=ORT_SATURATES_U8S8)[0]
    ref = ort_run(path, x)
    assert np.array_equal(y, ref), f"{(y != ref).any(axis=1).sum()} of {len(x)} images differ"


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("act", ["u8", "s8"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("base", QUANT_SINGLE)
def test_quantized_single_ops(ort_models, base, fmt, act, per_channel):
    path = ort_models.get(base, fmt, act, per_channel)
    x = ort_models.test_input(base)
    y = evaluate(load_onnx(path), x, saturate_pairs=ORT_SATURATES_U8S8)[0]
    # one output step is >= 1e-3 here; the tolerance only absorbs float tails ORT keeps in float
    np.testing.assert_allclose(y, ort_run(path, x), rtol=0, atol=1e-6)


def _conv_model(tmp_path, c, o, k, stride, pad, dil, group, seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((o, c // group, k, k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c", kernel_shape=[k, k],
                            strides=[stride, stride], pads=pad, dilations=[dil, dil], group=group)
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c, 9, 9])
    graph = helper.make_graph([node], "g", [x_info],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", o, "h", "w"])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / f"conv{seed}.onnx"
    onnx.save(model, str(path))
    return path


@settings(max_examples=15, deadline=None)
@given(g=st.sampled_from([1, 2, 3]), cpg=st.integers(1, 2), opg=st.integers(1, 2), k=st.integers(1, 3),
       stride=st.integers(1, 3), pad=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       dil=st.integers(1, 2), seed=st.integers(0, 1000))
def test_random_conv_geometry_float(tmp_path_factory, g, cpg, opg, k, stride, pad, dil, seed):
    path = _conv_model(tmp_path_factory.mktemp("conv"), g * cpg, g * opg, k, stride, pad, dil, g, seed)
    x = np.random.default_rng(seed).standard_normal((2, g * cpg, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(evaluate(load_onnx(path), x)[0], ort_run(path, x), rtol=1e-4, atol=1e-4)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 definitely not protobuf \xff" * 10)
    with pytest.raises(ModelError, match="not an ONNX model"):
        load_onnx(junk)


def test_unsupported_model_lists_every_op_once(tmp_path):
    """One message names each unsupported op type, how often it occurs and its first node."""
    nodes = [helper.make_node("Einsum", ["x", "x"], ["e0"], name="ein0", equation="ij,ij->ij"),
             helper.make_node("Det", ["e0"], ["d"], name="det0"),
             helper.make_node("Einsum", ["e0", "x"], ["e1"], name="ein1", equation="ij,ij->ij"),
             helper.make_node("Relu", ["e1"], ["y"], name="relu")]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "d")]
    graph = helper.make_graph(nodes, "g", [x_info], outs)
    path = tmp_path / "two_ops.onnx"
    onnx.save(helper.make_model(graph), str(path))
    msg = (r"two_ops\.onnx: 3 nodes use ops tpu does not support: "
           r"Det ×1 \(first: 'det0'\); Einsum ×2 \(first: 'ein0'\)")
    with pytest.raises(ModelError, match=msg):
        load_onnx(path)
