"""``Compiled.run(x, values=False)``: the same cycles, traffic and energy as a full run, layer by
layer, without computing any value (what the sweeps use)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tests.compiler.random_graphs import residual_graph
from tpu.compiler import compile as compile_graph


def same_figures(graph, cfg, x):
    full = compile_graph(graph, cfg).run(x)
    timing = compile_graph(graph, cfg).run(x, values=False)
    assert timing.outputs == []
    assert timing.totals == full.totals
    assert [s.to_dict() for s in timing.layers] == [s.to_dict() for s in full.layers]
    assert [s.counts for s in timing.layers] == [s.counts for s in full.layers]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(2, 12), cols=st.integers(2, 12),
       dataflow=st.sampled_from(["ws", "os", "is"]), weight_zp=st.booleans(),
       batch=st.integers(1, 3), ub=st.sampled_from([64, 4096, 262144]))
def test_timing_only_equals_a_full_run(seed, rows, cols, dataflow, weight_zp, batch, ub):
    rng = np.random.default_rng(seed)
    graph = residual_graph(rng, weight_zp=weight_zp)
    cfg = tpu.load_config("edge-32").replace(**{"array.rows": rows, "array.cols": cols,
                                                "array.dataflow": dataflow,
                                                "memory.unified_buffer_bytes": ub})
    same_figures(graph, cfg, rng.normal(0, 1, (batch, 2, 6, 6)).astype(np.float32))


def test_timing_only_on_the_digits_cnn():
    from tpu.compiler.quantize import quantize
    from tpu.frontend import load_onnx
    from tpu.nn.digits import bundled_model, load_digits_split

    x_train, x_test, _, _ = load_digits_split()
    graph = quantize(load_onnx(bundled_model("cnn")), x_train[:64])
    for cfg in (tpu.load_config("edge-32"), tpu.load_config("gemmini-16").replace(dataflow="os")):
        same_figures(graph, cfg, x_test[:50])
