"""One suite, run against the tile-level fast path and the cycle-level model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tests.array.cases import expected, gemm_case, random_operands
from tpu.array import gemm, gemm_cycles, gemm_many
from tpu.config import product_bits
from tpu.errors import ShapeError

MODELS = ["fast", "cycle"]


@pytest.mark.parametrize("backend", MODELS)
@settings(max_examples=60, deadline=None)
@given(case=gemm_case())
def test_values_match_integer_matmul(backend, case):
    config, a, b = case
    result = gemm(a, b, config, backend=backend)
    assert result.output.dtype == np.int64
    np.testing.assert_array_equal(result.output.astype(object), expected(a, b, config.array.acc_bits))


@settings(max_examples=60, deadline=None)
@given(case=gemm_case())
def test_cycle_model_agrees_with_fast_path(case):
    """Values, overflow counts and cycles: the cycle model observes its cycles itself."""
    config, a, b = case
    fast = gemm(a, b, config, backend="fast")
    cycle = gemm(a, b, config, backend="cycle")
    np.testing.assert_array_equal(fast.output, cycle.output)
    assert fast.overflows == cycle.overflows
    assert fast.cycles == cycle.cycles == gemm_cycles(*a.shape, b.shape[1], config)


@settings(max_examples=40, deadline=None)
@given(case=gemm_case(widths=(8, 8)), acc_extra=st.integers(0, 3))
def test_accumulator_wraps_and_counts_overflows(case, acc_extra):
    """Narrow accumulators with extreme operands overflow; both models count the same adds."""
    config, a, b = case
    arr = config.array
    need = product_bits(arr.act_bits, arr.act_signed, arr.weight_bits, arr.weight_signed)
    config = config.replace(acc_bits=need + acc_extra)
    a, b = random_operands(config, a.shape[0], 4 * a.shape[1] + 8, b.shape[1], seed=1, extreme=True)
    fast, cycle = gemm(a, b, config), gemm(a, b, config, backend="cycle")
    np.testing.assert_array_equal(cycle.output.astype(object), expected(a, b, config.array.acc_bits))
    assert fast.overflows == cycle.overflows
    true = a.astype(object) @ b.astype(object)
    if np.any((true >= 2 ** (config.array.acc_bits - 1)) | (true < -(2 ** (config.array.acc_bits - 1)))):
        assert cycle.overflows > 0


def test_most_negative_products():
    """-2^(b-1) · -2^(b-1) = 2^(2b-2) is the one product that needs all 2b bits; two of them
    wrap a 2b-bit accumulator to its most negative value."""
    for bits in (4, 8, 16):
        config = tpu.load_config().replace(rows=3, cols=2, act_bits=bits, weight_bits=bits,
                                           acc_bits=2 * bits)
        lo = -(1 << (bits - 1))
        for backend in MODELS:
            one = gemm(np.full((2, 1), lo), np.full((1, 3), lo), config, backend=backend)
            assert np.all(one.output == 1 << (2 * bits - 2)) and one.overflows == 0
            two = gemm(np.full((2, 2), lo), np.full((2, 3), lo), config, backend=backend)
            assert np.all(two.output == -(1 << (2 * bits - 1))) and two.overflows == 6


def scalesim_ws_cycles(m, k, n, rows, cols):
    """SCALE-Sim 3.0's fold-serial count for ws (docs/machine.md, "SCALE-Sim 3.0, in closed form")."""
    folds = -(-k // rows) * -(-n // cols)
    return folds * (2 * rows + cols + m - 2) - 1


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 600), k=st.integers(1, 300), n=st.integers(1, 300),
    rows=st.integers(2, 64), cols=st.integers(1, 64),
)
def test_ws_cycles_between_ideal_and_scalesim(m, k, n, rows, cols):
    """Weight double-buffering never makes ws slower than SCALE-Sim's serial folds, and
    nothing beats every PE busy every cycle. Arrays of one row are left out: for a single fold
    SCALE-Sim's idealised count (C+T−1) is one below what any array that spends a cycle loading
    its weights can reach (ours: C+T)."""
    config = tpu.load_config().replace(rows=rows, cols=cols)
    cycles = gemm_cycles(m, k, n, config)
    assert cycles <= scalesim_ws_cycles(m, k, n, rows, cols)
    assert cycles * rows * cols >= m * k * n


def test_known_cycle_counts_256_cubed():
    """Our counts for the shape docs/machine.md quotes SCALE-Sim on (ws/is 22399, os 20351)."""
    config = tpu.load_config()
    counts = {df: gemm_cycles(256, 256, 256, config.replace(dataflow=df)) for df in ("ws", "os", "is")}
    # 64 folds of 256 rows back to back + one fill (load 1, pipeline R+C-2) for ws/is;
    # os adds the final R-row drain.
    assert counts["ws"] == counts["is"] == 1 + 64 * 256 + 32 + 32 - 2
    assert counts["os"] == 63 * 256 + 256 + 32 + 32 - 2 + 32
    for df, scalesim in (("ws", 22399), ("os", 20351), ("is", 22399)):
        assert counts[df] < scalesim


@pytest.mark.parametrize("backend", MODELS)
def test_small_accumulator_splits_rows(backend):
    """Rows beyond one accumulator half are processed in chunks, with weights reloaded."""
    config = tpu.load_config().replace(rows=4, cols=4)
    small = config.__class__(array=config.array, memory=config.memory.__class__(accumulator_bytes=64))
    a, b = random_operands(small, 21, 9, 7, seed=3)
    r = gemm(a, b, small, backend=backend)
    np.testing.assert_array_equal(r.output, a @ b)
    assert r.plan.chunk_rows == 2 and r.folds == 11 * 2 * 3


@pytest.mark.parametrize("backend", MODELS)
def test_out_of_range_operand_is_an_error(backend):
    config = tpu.load_config().replace(act_bits=4, act_signed=False)
    with pytest.raises(ShapeError, match=r"A holds values in \[0, 16\].*4-bit unsigned"):
        gemm(np.array([[0, 16]]), np.ones((2, 2), int), config, backend=backend)
    with pytest.raises(ShapeError, match="A's columns must equal B's rows"):
        gemm(np.ones((2, 3), int), np.ones((2, 2), int), config, backend=backend)
    with pytest.raises(ShapeError, match="integers"):
        gemm(np.full((2, 2), 0.5), np.ones((2, 2), int), config, backend=backend)


def test_trace_records_boundary_per_cycle():
    config = tpu.load_config().replace(rows=3, cols=4)
    a, b = random_operands(config, 5, 7, 6, seed=0)
    r = gemm(a, b, config, backend="cycle", trace=True)
    st_, out = r.stimulus, r.outputs
    assert st_.cycles == out.valid.shape[0] == r.cycles
    # every weight row written once per fold, every streamed row once per fold
    assert st_.w_valid.sum() == 7 * 2  # k rows × two column blocks
    assert st_.x_valid.sum() == out.valid.sum() == 5 * 3 * 2  # m rows × k folds × n folds
    # a row leaves exactly R + C - 2 cycles after it entered
    np.testing.assert_array_equal(np.flatnonzero(out.valid), np.flatnonzero(st_.x_valid) + 3 + 4 - 2)


@settings(max_examples=40, deadline=None)
@given(case=gemm_case(max_dim=8), shapes=st.lists(st.tuples(*(st.integers(1, 9),) * 3), min_size=1,
                                                  max_size=4))
def test_back_to_back_gemms_pipeline_exactly(case, shapes):
    """Several GEMMs as one stream: each equals its own matmul on both models, both models see
    every GEMM finish on the same cycle, and chaining never costs more than running apart."""
    config, _, _ = case
    pairs = [random_operands(config, m, k, n, seed=i) for i, (m, k, n) in enumerate(shapes)]
    fast = gemm_many(pairs, config)
    cycle = gemm_many(pairs, config, backend="cycle")
    for (a, b), f, c in zip(pairs, fast.outputs, cycle.outputs, strict=True):
        np.testing.assert_array_equal(c.astype(object), expected(a, b, config.array.acc_bits))
        np.testing.assert_array_equal(f, c)
    assert fast.finish == cycle.finish and fast.overflows == cycle.overflows
    assert list(fast.finish) == sorted(fast.finish)
    alone = [gemm(a, b, config).cycles for a, b in pairs]
    assert fast.cycles <= sum(alone)
    assert fast.finish[0] == alone[0]  # the first GEMM is not delayed by the ones after it
