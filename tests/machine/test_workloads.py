"""The acceptance workload at a small image: a quarter-width ResNet-18 quantized by onnxruntime
(QOperator) runs on the cycle-level machine and equals onnxruntime (the full-size run on the RTL
is ``benchmarks/rtl_resnet18.py``)."""

import numpy as np

from tests.ort_models import ORT_SATURATES_U8S8, ort_run, quantize
from tpu.compiler import compile as compile_graph
from tpu.config import load_config
from tpu.frontend import load_onnx
from tpu.machine.workloads import resnet18_onnx


def test_quarter_width_resnet18_quantized_by_onnxruntime_equals_it(tmp_path):
    rng = np.random.default_rng(0)
    model = resnet18_onnx(tmp_path / "r18.onnx", image=32, classes=10)
    calib = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    qmodel = quantize(model, tmp_path / "r18.qop.onnx", calib, fmt="qoperator", act="u8",
                      reduce_range=ORT_SATURATES_U8S8)
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    compiled = compile_graph(load_onnx(qmodel), load_config("edge-32"))
    result = compiled.run(x, backend="machine")
    np.testing.assert_array_equal(result.outputs[0], ort_run(qmodel, x))
    rep = result.report()
    assert rep["totals"]["cycles"] == rep["machine"]["cycles"]
    assert sum(h["op"] == "Add" for h in rep["machine"]["host_steps"]) == 8
