"""Constant folding (tpu/frontend/fold.py) where it does not use onnx's reference evaluator."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from tpu.frontend.fold import fold


def gather_elements_by_definition(data, idx, axis):
    """out[i][j][k] = data[idx[i][j][k]][j][k] (axis 0), and so on: the ONNX text, element by
    element."""
    out = np.empty(idx.shape, data.dtype)
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        src[axis] = idx[pos] % data.shape[axis]  # negative indices count from the end
        out[pos] = data[tuple(src)]
    return out


@settings(max_examples=60, deadline=None)
@given(data_shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       data=st.data())
def test_gather_elements_follows_the_definition(data_shape, seed, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(data_shape), len(data_shape) - 1))
    a = axis % len(data_shape)
    # the index tensor may be smaller than the data on every axis (BERT's token types: (1, 16)
    # out of a (1, 64) buffer, which onnx 1.23's reference evaluator fails on)
    idx_shape = [data.draw(st.integers(1, n)) if d != a else data.draw(st.integers(1, 5))
                 for d, n in enumerate(data_shape)]
    x = rng.integers(-100, 100, data_shape)
    idx = rng.integers(-data_shape[a], data_shape[a], idx_shape)
    node = helper.make_node("GatherElements", ["x", "i"], ["y"], axis=axis)
    (got,) = fold(node, [x, idx], 18)
    np.testing.assert_array_equal(got, gather_elements_by_definition(x, idx, a))
