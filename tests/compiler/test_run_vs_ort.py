# ruff: noqa: F811  (pytest fixtures are parameters named like the imported fixture)
"""`tpu run`'s engine (program on the array) against onnxruntime, bit for bit.

The array computes exact integer sums. Where onnxruntime is exact too (VNNI or ARM CPUs, s8 × s8)
the outputs are equal as they are; on x86 CPUs with AVX2 but no VNNI onnxruntime's u8 × s8
kernels saturate int16 product pairs (see tests/ort_models.py), and the run reproduces that with
``saturate_pairs`` (values from the emulation, timing from the array). The full-range model is
also checked against the exact reference.
"""

import numpy as np
import pytest

import tpu
from tests.ort_models import ORT_SATURATES_U8S8, ort_models, ort_run  # noqa: F401
from tpu.compiler import compile as compile_graph
from tpu.compiler.reference import evaluate
from tpu.frontend import load_onnx

CONFIG = tpu.load_config()  # edge-32: signed 8-bit array; u8 activations are offset onto it


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
@pytest.mark.parametrize("act", ["u8", "s8"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("base", ["residual_cnn", "cnn", "mlp"])
def test_program_output_equals_onnxruntime(ort_models, base, fmt, act, per_channel):
    # where onnxruntime's u8 x s8 kernel saturates pairs (AVX2 without VNNI; s8 QDQ models run
    # as u8 there too) the run takes its values from that emulation, its timing from the array
    path = ort_models.get(base, fmt, act, per_channel)
    x = ort_models.test_input(base)
    graph = load_onnx(path)
    y = compile_graph(graph, CONFIG).run(x, saturate_pairs=ORT_SATURATES_U8S8).outputs[0]
    expected = ort_run(path, x)
    assert np.array_equal(y, expected), f"{(y != expected).any(axis=1).sum()} of {len(x)} differ"


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("base", ["residual_cnn", "cnn"])
def test_full_range_u8s8_program_equals_exact_reference(ort_models, base, per_channel):
    path = ort_models.get(base, "qoperator", "u8", per_channel)
    x = ort_models.test_input(base)
    graph = load_onnx(path)
    y = compile_graph(graph, CONFIG.replace(dataflow="os")).run(x).outputs[0]
    np.testing.assert_array_equal(y, evaluate(graph, x)[0])


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_cycle_backend_on_a_quantized_onnx_model(ort_models, dataflow):
    """The per-cycle array gives the same digits logits and cycle counts as the fast path."""
    path = ort_models.get("cnn", "qoperator", "s8", True)
    x = ort_models.test_input("cnn")[:3]
    compiled = compile_graph(load_onnx(path), CONFIG.replace(rows=8, cols=8, dataflow=dataflow))
    fast, cycle = compiled.run(x), compiled.run(x, backend="cycle")
    np.testing.assert_array_equal(fast.outputs[0], cycle.outputs[0])
    np.testing.assert_array_equal(fast.outputs[0], ort_run(path, x))
    assert [s.cycles for s in fast.layers] == [s.cycles for s in cycle.layers]
