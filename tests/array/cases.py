"""GEMM cases shared by every model of the array (fast path, cycle model, RTL): PyMTL3 style,
one suite written once and run against each backend."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tpu
from tpu.config import int_range, product_bits


@st.composite
def gemm_case(draw, max_dim=12, max_array=6, dataflows=("ws", "os", "is"), widths=(2, 16)):
    """A config and two operand matrices that fit it."""
    act_bits = draw(st.integers(*widths))
    weight_bits = draw(st.integers(*widths))
    act_signed, weight_signed = draw(st.booleans()), draw(st.booleans())
    need = product_bits(act_bits, act_signed, weight_bits, weight_signed)
    config = tpu.load_config().replace(
        rows=draw(st.integers(1, max_array)),
        cols=draw(st.integers(1, max_array)),
        dataflow=draw(st.sampled_from(dataflows)),
        act_bits=act_bits,
        weight_bits=weight_bits,
        act_signed=act_signed,
        weight_signed=weight_signed,
        acc_bits=draw(st.integers(need, 48)),
    )
    m, k, n = (draw(st.integers(1, max_dim)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    a, b = random_operands(config, m, k, n, seed, extreme=draw(st.booleans()))
    return config, a, b


def random_operands(config, m, k, n, seed, extreme=False):
    """Uniform operands, or (``extreme``) only the range ends, which stress wrap-around."""
    rng = np.random.default_rng(seed)
    arr = config.array

    def draw(bits, signed, shape):
        lo, hi = int_range(bits, signed)
        if extreme:
            return rng.choice(np.array([lo, hi], np.int64), size=shape)
        return rng.integers(lo, hi, size=shape, endpoint=True)

    return draw(arr.act_bits, arr.act_signed, (m, k)), draw(arr.weight_bits, arr.weight_signed, (k, n))


def expected(a, b, acc_bits):
    """The spec: Python-int matmul, wrapped to acc_bits (object dtype: no int64 shortcuts)."""
    c = a.astype(object) @ b.astype(object)
    half = 1 << (acc_bits - 1)
    return np.vectorize(lambda v: (v + half) % (1 << acc_bits) - half, otypes=[object])(c)
