"""Bad operands, shapes and configs given to tpu.array raise the project's errors, and work too
large to finish is refused before it starts (tpu.limits)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tpu import limits
from tpu.array import gemm, gemm_many, plan_gemm, plan_gemms
from tpu.array.schedule import accumulator_rows, tile_count
from tpu.errors import ConfigError, LimitError, ShapeError

CFG = tpu.load_config("edge-32")


@pytest.mark.parametrize("a, message", [
    ([[1, 2], [3]], "not a rectangular matrix"),
    ([["a", "b"]], "must hold integers"),
    (np.array([[1 + 2j]]), "must hold integers"),
    (np.array([[object()]], dtype=object), "must hold integers"),
    (np.array([[np.nan]]), "must hold integers"),
    (np.ones((2, 2, 2)), "2-D matrix"),
    (np.ones((0, 3)), "empty"),
    (5, "2-D matrix"),
])
def test_bad_operands_are_shape_errors(a, message):
    with pytest.raises(ShapeError, match=message):
        gemm(a, np.ones((2, 2), np.int8), CFG)


def test_config_may_be_a_preset_name_and_nothing_else():
    a = np.ones((3, 4), np.int8)
    assert gemm(a, a.T, "gemmini-16").plan.rows == 16
    with pytest.raises(ConfigError, match="no config preset or file named 'edge-99'"):
        gemm(a, a.T, "edge-99")
    with pytest.raises(ConfigError, match="got int"):
        gemm(a, a.T, 42)


@pytest.mark.parametrize("dims, message", [
    ((4.5, 3, 3), "m must be an integer, got 4.5"),
    ((4, True, 3), "k must be an integer"),
    ((4, 3, "3"), "n must be an integer"),
    ((4, 0, 3), "k must be at least 1"),
    ((4, 3), r"a GEMM is \(m, k, n\)"),
])
def test_plan_dimensions_are_whole_positive_numbers(dims, message):
    with pytest.raises(ShapeError, match=message):
        plan_gemm(*dims, CFG) if len(dims) == 3 else plan_gemms([dims], CFG)
    assert plan_gemm(np.int64(4), np.int32(3), 3, CFG).jobs == ((4, 3, 3),)


def test_gemm_many_takes_pairs():
    with pytest.raises(ShapeError, match="pairs"):
        gemm_many([np.ones(3)], CFG)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.integers(1, 300)] * 3), min_size=1, max_size=3),
       st.integers(1, 16), st.integers(1, 16), st.sampled_from(("ws", "os", "is")),
       st.sampled_from((256, 4096, 131072)))
def test_tile_count_is_what_the_plan_makes(jobs, rows, cols, dataflow, acc_bytes):
    import dataclasses

    cfg = dataclasses.replace(CFG.replace(rows=rows, cols=cols, dataflow=dataflow),
                              memory=dataclasses.replace(CFG.memory, accumulator_bytes=acc_bytes))
    chunk = None if dataflow == "os" else accumulator_rows(cfg)
    assert tile_count(jobs, cfg.array, chunk) == len(plan_gemms(jobs, cfg).tiles)


def test_huge_plan_is_refused_up_front_and_runs_when_raised():
    with pytest.raises(LimitError, match=r"20000×20000·20000×20000 on a 32×32 ws array needs "
                                         r"15,625,000 tiles.*TPU_MAX_TILES=15625000"):
        plan_gemm(20000, 20000, 20000, CFG)
    with limits.raised(tiles=10):
        with pytest.raises(LimitError):
            plan_gemm(50, 50, 50, CFG.replace(rows=16, cols=16))  # 16 tiles
        assert plan_gemm(32, 32, 32, CFG.replace(rows=16, cols=16)).folds == 4


def test_cycle_backend_on_a_4096_array_is_refused():
    big = tpu.load_config({"array": {"rows": 4096, "cols": 4096},
                           "memory": {"accumulator_bytes": 1 << 27}})
    a = np.ones((64, 64), np.int8)
    with pytest.raises(LimitError, match=r"cycle backend .* 4096×4096 array.*PE-cycles"):
        gemm(a, a, big, backend="cycle")
    assert gemm(a, a, big).cycles > 0  # the fast path is closed form: fine


def test_fast_gemm_memory_is_estimated_before_copying():
    a = np.ones((1000, 1000), np.int8)
    with limits.raised(bytes=10_000_000), pytest.raises(LimitError, match="1000×1000·1000×1000 GEMM"):
        gemm(a, a, CFG)
