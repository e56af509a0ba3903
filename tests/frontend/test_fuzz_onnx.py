"""Fuzz the ONNX reader: corrupt files, mutated real models and random single-op graphs are read
or refused with the project's own errors (TpuError) — at import, shape inference and evaluation;
through ``tpu run`` a refusal is one line on stderr, exit status 2, and nothing is written."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tpu import limits
from tpu.cli import main
from tpu.compiler import compile as compile_graph
from tpu.compiler.quantize import quantize
from tpu.compiler.reference import evaluate
from tpu.errors import TpuError
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model
from tpu.ops.registry import RULES

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = {"tiles": 5_000, "pe_cycles": 1e7, "bytes": 5e7}
DIGITS = bundled_model("cnn").read_bytes()


def read_and_run(data: bytes, x_shape=(2, 1, 8, 8)) -> None:
    """Import the bytes, evaluate the graph on a random input, quantize it (if float) and run it
    on the machine; only TpuError may escape."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(data)
        try:
            with limits.raised(**SMALL):
                graph = load_onnx(path)
                xs = [np.random.default_rng(0).normal(size=tuple(d or 2 for d in graph.spec(n).shape))
                      .astype(np.float32 if graph.spec(n).dtype == "float32" else np.int64)
                      for n in graph.inputs]
                evaluate(graph, xs)
                if graph.quantized:  # and on the machine
                    compile_graph(graph, "edge-32").run(xs)
                else:
                    compile_graph(quantize(graph, xs), "edge-32").run(xs)
        except TpuError as exc:
            assert str(exc).strip() and "\n" not in str(exc).strip()


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_are_refused(data):
    read_and_run(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(DIGITS) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(1, len(DIGITS)))
def test_mutated_model_is_read_or_refused(flips, cut):
    data = bytearray(DIGITS[:cut] if cut < len(DIGITS) // 2 else DIGITS)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    read_and_run(bytes(data))


# random single-node graphs over every op the registry imports, with random attributes and shapes
attr_values = st.one_of(st.integers(-3, 4), st.lists(st.integers(-2, 4), min_size=1, max_size=5),
                        st.floats(-2, 2, allow_nan=False),
                        st.sampled_from([b"NOTSET", b"constant", b"linear"]))
ATTRS = ["axis", "axes", "kernel_shape", "strides", "pads", "dilations", "group", "perm", "alpha", "beta",
         "transA", "transB", "keepdims", "epsilon", "mode", "ceil_mode", "count_include_pad", "split",
         "hidden_size", "direction", "start", "end", "allowzero", "min", "max"]


@FUZZ
@given(op=st.sampled_from(sorted(op for op in RULES if not op.startswith(("QLinear", "QGemm")))),
       n_inputs=st.integers(1, 3), rank=st.integers(0, 4),
       dims=st.lists(st.integers(1, 4), min_size=4, max_size=4),
       attrs=st.dictionaries(st.sampled_from(ATTRS), attr_values, max_size=4), consts=st.booleans())
def test_random_single_op_graphs(op, n_inputs, rank, dims, attrs, consts):
    shape = dims[:rank]
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), f"c{i}")
             for i in range(1, n_inputs)] if consts else []
    inputs = ["x"] + [f"c{i}" if consts else "x" for i in range(1, n_inputs)]
    try:
        node = helper.make_node(op, inputs, ["y"], **attrs)
        x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
        graph = helper.make_graph([node], "fuzz", [x_info],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    except (ValueError, TypeError):
        return  # onnx.helper itself refuses the attribute: not a file a user could have
    read_and_run(model.SerializeToString())


def test_cli_refusal_is_one_line_exit_2_nothing_written(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(DIGITS[: len(DIGITS) // 3])
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 8, 8), np.float32))
    out = tmp_path / "r.json"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["run", str(bad), "--input", str(x), "--json", str(out)])
    assert status == 2 and not out.exists()
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "bad.onnx" in lines[0] and "Traceback" not in err.getvalue()

