"""The Verilog (cocotb, on Verilator and Icarus) against the Python cycle model.

Each test replays the stimulus the cycle model saw and checks that every result row leaves
on the same cycle with the same value. A few fixed designs are built once (cached in the
per-user simulator cache) and many stimuli run through each. A missing simulator fails with
what to install.
"""

import dataclasses

import numpy as np
import pytest

import tpu
from sim import runner
from sim.cases import gemm_stimulus, operands, random_stimulus
from tpu.array import gemm
from tpu.array.cycle import make_core
from tpu.config import int_range, product_bits
from tpu.quant.requant import quantize_multiplier, requant_fixed, wrap_int32
from tpu.rtl import run_activation_rtl, run_rtl

SIMULATORS = [
    pytest.param(s, marks=[pytest.mark.xdist_group(s)] + ([pytest.mark.icarus] if s == "icarus" else []))
    for s in runner.SIMULATORS
]


def design(rows, cols, dataflow, act=(8, True), weight=(8, True), acc_bits=None, half_rows=6):
    """A config with a small accumulator (``half_rows`` rows per half: several chunks)."""
    acc_bits = acc_bits or product_bits(act[0], act[1], weight[0], weight[1])
    cfg = tpu.load_config().replace(rows=rows, cols=cols, dataflow=dataflow, act_bits=act[0],
                                    act_signed=act[1], weight_bits=weight[0],
                                    weight_signed=weight[1], acc_bits=acc_bits)
    acc_bytes = 2 * half_rows * cols * -(-acc_bits // 8)
    return dataclasses.replace(cfg, memory=dataclasses.replace(cfg.memory,
                                                               accumulator_bytes=acc_bytes))


WS8 = design(4, 3, "ws", acc_bits=32)  # int8, non-square; "is" reuses the same hardware
OS4 = design(3, 5, "os", act=(4, False), weight=(4, True))  # int4, unsigned × signed, wraps
WS16 = design(2, 4, "ws", act=(16, True), weight=(16, True), acc_bits=32)  # wraps at 2·2^30


def check_against_cycle_model(config, stimulus, simulator):
    ref = make_core(config.array).run(stimulus)
    out = run_rtl(config, stimulus, simulator=simulator)
    assert ref.valid.sum() > 0
    assert np.array_equal(out.valid, ref.valid), "a result row left on a different cycle"
    bad = np.flatnonzero((out.data != ref.data).any(axis=1) & ref.valid)
    assert bad.size == 0, f"rows differ on cycles {bad[:5].tolist()}"


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("dataflow", ["ws", "is"])
def test_stationary_random_and_extreme(simulator, dataflow):
    """Random shapes, partial tiles, back-to-back tiles through both weight banks, extremes."""
    config = WS8.replace(dataflow=dataflow)
    stim = random_stimulus(config, np.random.default_rng(1), 6, max_dim=10, extreme_every=3)
    check_against_cycle_model(config, stim, simulator)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_output_stationary_int4_wraps(simulator):
    stim = random_stimulus(OS4, np.random.default_rng(2), 5, max_dim=8, extreme_every=2)
    check_against_cycle_model(OS4, stim, simulator)


def _int16_extreme(simulator):
    a, b = operands(WS16, 3, 5, 6, np.random.default_rng(3), extreme=True)
    result = gemm(a, b, WS16, backend="cycle")
    assert result.overflows > 0  # the test is about wrap-around: make sure it happens
    stim = gemm_stimulus(WS16, a, b)
    check_against_cycle_model(WS16, stim, simulator)


@pytest.mark.icarus
def test_int16_extremes_icarus():
    _int16_extreme("icarus")


@pytest.mark.slow
def test_int16_extremes_verilator():
    _int16_extreme("verilator")


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_gemm_backend_rtl_equals_cycle(simulator, tmp_path, monkeypatch):
    """The rtl backend returns the cycle backend's values and cycle count, and writes waves."""
    monkeypatch.setenv("TPU_RTL_SIMULATOR", simulator)
    rng = np.random.default_rng(4)
    a, b = operands(WS8, 7, 9, 5, rng)
    cyc = gemm(a, b, WS8, backend="cycle")
    rtl = gemm(a, b, WS8, backend="rtl", waves=tmp_path / "waves")
    assert np.array_equal(rtl.output, a @ b)
    assert rtl.cycles == cyc.cycles and rtl.overflows == cyc.overflows
    waves = list((tmp_path / "waves").iterdir())
    assert len(waves) == 1 and waves[0].stat().st_size > 0


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_activation_unit_matches_requant_fixed(simulator):
    config = WS8
    rng = np.random.default_rng(5)
    C = config.array.cols
    acc = rng.integers(-2**20, 2**20, (20, C))
    acc[0] = [-2**31, 2**31 - 1, 0]
    bias = rng.integers(-1000, 1000, C)
    qm, shift = quantize_multiplier(2.0 ** rng.uniform(-14, 1, C))
    lo, hi = int_range(8, True)
    for relu in (False, True):
        got = run_activation_rtl(config, acc, bias=bias, qm=qm, shift=shift, zero_point=-5,
                                 act_min=lo, act_max=hi, relu=relu, simulator=simulator)
        ref = requant_fixed(wrap_int32(acc + bias), qm, shift, -5, max(lo, -5) if relu else lo,
                            hi, axis=-1)
        assert np.array_equal(got, ref)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("dataflow", ["ws", "os"])
def test_larger_arrays(simulator, dataflow):
    config = design(8, 8, dataflow, acc_bits=32, half_rows=16)
    stim = random_stimulus(config, np.random.default_rng(6), 4, max_dim=20, extreme_every=4)
    check_against_cycle_model(config, stim, simulator)


def test_missing_simulator_names_what_to_install(monkeypatch):
    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(runner.SimulatorError, match="apt-get install iverilog"):
        runner.check_simulator("icarus")
    with pytest.raises(runner.SimulatorError, match="apt-get install g\\+\\+"):
        runner.check_simulator("verilator")


def test_interrupted_simulation_leaves_no_scratch_folder(tmp_path, monkeypatch):
    """Ctrl-C during a run: its scratch folder (io.json, logs) is removed all the same."""
    monkeypatch.setattr(runner.tempfile, "tempdir", str(tmp_path))

    def interrupted(*args, **kwargs):
        assert list(tmp_path.iterdir())  # the scratch folder exists while the run goes on
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "_run_in", interrupted)
    build = runner.Build("verilator", tmp_path / "nowhere", False)
    with pytest.raises(KeyboardInterrupt):
        runner.run(build, {"x_valid": [0]}, [])
    assert list(tmp_path.iterdir()) == []
