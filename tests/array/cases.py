"""GEMM cases shared by every model of the array (fast path, cycle model, RTL): PyMTL3 style,
one suite written once and run against each backend."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tpu
from tpu.array.precision import Precision
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


@st.composite
def mixed_case(draw, max_dim=10, max_array=5, dataflows=("ws", "os", "is")):
    """A multi-precision array (PEs of 1..16 bits) and operands of other declared widths."""
    def width(signed_name):
        bits = draw(st.sampled_from((1, 2, 3, 4, 8, 16)))
        return bits, True if bits == 1 else draw(st.booleans())

    (pa, sa), (pw, sw) = width("act"), width("weight")
    need = product_bits(pa, sa, pw, sw)
    config = tpu.load_config().replace(
        rows=draw(st.integers(1, max_array)), cols=draw(st.integers(1, max_array)),
        dataflow=draw(st.sampled_from(dataflows)), act_bits=pa, weight_bits=pw, act_signed=sa,
        weight_signed=sw, acc_bits=draw(st.integers(max(need, 8), 48)))
    # binary PEs take only binary operands; others any width 1..16
    act = (1, True) if pa == 1 else width("act")
    wgt = (1, True) if pw == 1 else width("weight")
    precision = Precision(act[0], wgt[0], act[1], wgt[1])
    m, k, n = (draw(st.integers(1, max_dim)) for _ in range(3))
    a, b = random_operands(config, m, k, n, draw(st.integers(0, 2**32 - 1)),
                           extreme=draw(st.booleans()), precision=precision)
    return config, precision, a, b


def random_operands(config, m, k, n, seed, extreme=False, precision=None):
    """Uniform operands, or (``extreme``) only the range ends, which stress wrap-around; of the
    array's widths or of ``precision``'s. Binary (1-bit) operands are ±1."""
    rng = np.random.default_rng(seed)
    p = precision or Precision.native(config.array)

    def draw(bits, signed, shape):
        lo, hi = int_range(bits, signed)
        if extreme or bits == 1:
            return rng.choice(np.array([lo, hi], np.int64), size=shape)
        return rng.integers(lo, hi, size=shape, endpoint=True)

    return draw(p.act_bits, p.act_signed, (m, k)), draw(p.weight_bits, p.weight_signed, (k, n))


def expected(a, b, acc_bits):
    """The spec: Python-int matmul, wrapped to acc_bits (object dtype: no int64 shortcuts)."""
    c = a.astype(object) @ b.astype(object)
    half = 1 << (acc_bits - 1)
    return np.vectorize(lambda v: (v + half) % (1 << acc_bits) - half, otypes=[object])(c)
