# ruff: noqa: F811  (pytest fixtures are parameters named like the imported fixture)
"""Real architectures on the whole machine (tests/data/models, onnxruntime's QDQ quantization):
matrix layers with constant weights — 1×1 and 3×3 convolutions, depthwise convolutions packed
block-diagonally, the classifier — run in machine segments; everything else (residual adds,
depthwise convolutions mapped to the vector unit, the attention products of two activations,
LayerNorm and the other float islands, shape arithmetic) runs on the host with the op's own
semantics. The outputs equal the reference evaluation bit for bit."""

import numpy as np
import pytest

import tpu
from tests.ort_models import ort_models  # noqa: F401
from tpu.compiler import compile as compile_graph
from tpu.compiler.reference import evaluate
from tpu.frontend import load_onnx
from tpu.machine import assemble


@pytest.mark.parametrize("name, on_host", [
    ("mobilenet_v2_w035_64", {"Add", "Conv"}),  # residuals; depthwise convs on the vector unit
    ("transformer_d32_l2_s16", {"MatMul", "LayerNorm", "Softmax", "Erf"}),
])
def test_real_model_on_the_machine_equals_the_reference(ort_models, name, on_host):
    graph = load_onnx(ort_models.get(name, "qdq", per_channel=True))
    x = ort_models.test_input(name)[:1]
    compiled = compile_graph(graph, tpu.load_config())
    result = compiled.run(x, backend="machine")
    np.testing.assert_array_equal(result.outputs[0], evaluate(graph, x)[0])
    program = compiled.program(1)
    image = assemble(program)
    in_segments = {i for step in image.steps if hasattr(step, "layers") for i in step.layers}
    mappings = {program.layers[i].mapping for i in in_segments}
    assert mappings <= {"gemm", "packed"} and "gemm" in mappings
    if name.startswith("mobilenet"):
        assert "packed" in mappings  # block-diagonal depthwise packs on the machine
    assert on_host <= {h["op"] for h in result.machine.host}
    assert result.totals["cycles"] == result.machine.cycles
