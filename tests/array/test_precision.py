"""Operands of other widths than the PEs': slices, packed lanes, binary fields (one suite, run
against the fast path and the cycle model)."""

import json

import numpy as np
import pytest
from hypothesis import given, settings

import tpu
from tests.array.cases import expected, mixed_case, random_operands
from tpu.array import gemm, gemm_cycles, gemm_many
from tpu.array.precision import Precision, mode_for
from tpu.cli import main
from tpu.errors import ConfigError, ShapeError

EDGE = tpu.load_config()  # the default 8-bit 32×32 ws array


@settings(max_examples=80, deadline=None)
@given(case=mixed_case())
def test_any_widths_exact_and_models_agree(case):
    """Values equal the wrapped integer product; both models count the same overflows and
    finish on the same cycle — or both refuse the same (os) slice order."""
    config, precision, a, b = case
    try:
        fast = gemm(a, b, config, precision=precision)
    except ConfigError:
        with pytest.raises(ConfigError):
            gemm(a, b, config, precision=precision, backend="cycle")
        return
    cycle = gemm(a, b, config, precision=precision, backend="cycle")
    want = expected(a, b, config.array.acc_bits)
    np.testing.assert_array_equal(fast.output.astype(object), want)
    np.testing.assert_array_equal(cycle.output, fast.output)
    assert fast.overflows == cycle.overflows
    assert fast.cycles == cycle.cycles == gemm_cycles(*a.shape, b.shape[1], config, precision)


@settings(max_examples=30, deadline=None)
@given(case=mixed_case(max_dim=7))
def test_mixed_precisions_back_to_back(case):
    """A stream whose GEMMs run in different modes (each row carries its own tag)."""
    config, precision, a, b = case
    native = Precision.native(config.array)
    other = random_operands(config, 3, a.shape[1] + 2, 4, seed=1)
    pairs, precisions = [(a, b), other, (a, b)], [precision, native, precision]
    try:
        fast = gemm_many(pairs, config, precision=precisions)
    except ConfigError:
        return
    cycle = gemm_many(pairs, config, precision=precisions, backend="cycle")
    for (x, y), f, c in zip(pairs, fast.outputs, cycle.outputs, strict=True):
        np.testing.assert_array_equal(c.astype(object), expected(x, y, config.array.acc_bits))
        np.testing.assert_array_equal(f, c)
    assert fast.finish == cycle.finish and fast.overflows == cycle.overflows


@pytest.mark.parametrize("dataflow, k", [("ws", 256), ("is", 256), ("os", 1024)])
def test_cycle_ratios_on_the_default_array(dataflow, k):
    """On the 8-bit 32×32 array: 8×16 about twice the int8 cycles, 16×16 four times; 4-bit
    operands half, 2-bit a quarter, binary an eighth (packed several to a PE). os needs a
    longer reduction for that: a tile cannot finish faster than its sums drain (R cycles plus
    the pipeline), so a 256-long reduction packed 4× or 8× is drain-bound there."""
    config = EDGE.replace(dataflow=dataflow)
    int8 = gemm_cycles(256, k, 256, config)
    ratio = {(ab, wb): gemm_cycles(256, k, 256, config, Precision(ab, wb)) / int8
             for ab, wb in ((8, 16), (16, 8), (16, 16), (4, 4), (2, 2), (1, 1), (4, 8), (1, 8))}
    for key, want in {(8, 16): 2, (16, 8): 2, (16, 16): 4, (4, 4): 1 / 2, (2, 2): 1 / 4,
                      (1, 1): 1 / 8, (4, 8): 1, (1, 8): 1}.items():
        assert ratio[key] == pytest.approx(want, rel=0.1), (key, ratio[key])


def test_binary_array_runs_xnor_popcount():
    """An array of 1-bit PEs (act_bits = weight_bits = 1): ±1 operands, partial tiles skipped
    (a binary field has no zero), every dataflow; other widths are refused."""
    rng = np.random.default_rng(0)
    for df in ("ws", "is", "os"):
        config = EDGE.replace(rows=3, cols=4, dataflow=df, act_bits=1, weight_bits=1, acc_bits=8)
        a, b = rng.choice([-1, 1], (7, 10)), rng.choice([-1, 1], (10, 5))
        for backend in ("fast", "cycle"):
            np.testing.assert_array_equal(gemm(a, b, config, backend=backend).output, a @ b)
        with pytest.raises(ShapeError, match="binary"):
            gemm(a, b, config, precision=Precision(2, 1))
        with pytest.raises(ShapeError, match="holds 0"):
            gemm(np.zeros((2, 2), int), b[:2], config)


def test_binary_weights_on_an_int8_array():
    """Binary weights with int8 activations: one lane (the weight field is a whole PE word)."""
    rng = np.random.default_rng(1)
    a, b = rng.integers(-128, 128, (6, 9)), rng.choice([-1, 1], (9, 5))
    p = Precision(8, 1)
    assert mode_for(EDGE.array, p).lanes == 1
    config = EDGE.replace(rows=4, cols=4)
    for backend in ("fast", "cycle"):
        np.testing.assert_array_equal(gemm(a, b, config, precision=p, backend=backend).output, a @ b)


def test_plain_array_refuses_slicing_and_packing():
    plain = EDGE.replace(multi_precision=False, packing=False)
    a = np.ones((2, 2), int)
    for p in (Precision(16, 8), Precision(8, 8, act_signed=False)):
        with pytest.raises(ShapeError, match="multi_precision = true"):
            gemm(a, a, plain, precision=p)
    # narrower operands of its own signedness run one per PE, at the int8 rate
    assert gemm(a, a, plain, precision=Precision(4, 4)).cycles == gemm(a, a, plain).cycles
    assert gemm(a, a, EDGE, precision=Precision(4, 4)).plan.modes[0].lanes == 2


def test_declared_widths_bound_the_data():
    with pytest.raises(ShapeError, match=r"A holds values in \[0, 300\].*16-bit|9-bit"):
        gemm(np.array([[0, 300]]), np.ones((2, 2), int), EDGE, precision=Precision(9, 8))
    r = gemm(np.array([[0, 300]]), np.ones((2, 2), int), EDGE, precision=Precision(10, 8))
    np.testing.assert_array_equal(r.output, [[300, 300]])


def test_cli_gemm_declares_widths(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a, b = rng.integers(-2**15, 2**15, (40, 50)), rng.integers(-8, 8, (50, 30))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    base = ["gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy")]
    assert main([*base, "--json", str(tmp_path / "r.json")]) == 2  # 16-bit data, 8-bit array
    assert "act-bits" in capsys.readouterr().err
    assert main([*base, "--act-bits", "16", "--weight-bits", "4", "--output",
                 str(tmp_path / "c.npy"), "--json", str(tmp_path / "r.json")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), a @ b)
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["precision"] == {"act_bits": 16, "weight_bits": 4, "act_slices": 2,
                              "weight_slices": 1, "passes": 2, "lanes": 1}
    assert "2 passes" in capsys.readouterr().out


def test_slicing_without_packing_and_presets():
    """packing = false keeps the slices (TPU v1's 8×16 and 16×16) but runs narrow operands one
    per PE; gemmini-16 is a plain int8 array."""
    v1 = tpu.load_config("tpu-v1").array
    assert v1.multi_precision and not v1.packing
    assert mode_for(v1, Precision(16, 8)).passes == 2 and mode_for(v1, Precision(2, 2)).lanes == 1
    g = tpu.load_config("gemmini-16").array
    assert not g.multi_precision and not g.packing
    with pytest.raises(ConfigError, match="packing needs multi_precision"):
        EDGE.replace(multi_precision=False)
