"""The ``rtl`` backend: replay the cycle model's stimulus through the simulated Verilog.

``run_rtl`` builds (or reuses, see :mod:`sim.runner`) a simulator of the matrix unit for the
config, drives it with exactly the per-cycle inputs the Python core saw and returns what left
the array on every cycle. Result rows are only read on cycles where they are valid, so
``Outputs.data`` is zero elsewhere (the cycle model shows the pipeline's contents there).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tpu import limits
from tpu.array.stimulus import Outputs
from tpu.config import Config
from tpu.errors import TpuError

DEFAULT_SIMULATOR = "verilator"
WAVE_SUFFIX = {"verilator": "vcd", "icarus": "fst"}


def default_simulator() -> str:
    """``$TPU_RTL_SIMULATOR`` (verilator | icarus), else Verilator."""
    return os.environ.get("TPU_RTL_SIMULATOR", DEFAULT_SIMULATOR)


def _waves_file(waves, simulator: str, design: str) -> Path | None:
    """A fresh file in the ``waves`` folder (created if needed), one per simulated run."""
    if waves is None:
        return None
    folder = Path(waves)
    if folder.exists() and not folder.is_dir():
        raise TpuError(f"{folder}: --waves needs a folder, this is a file")
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while (path := folder / f"{design}-{n:03d}.{WAVE_SUFFIX[simulator]}").exists():
        n += 1
    path.touch()  # claim the name
    return path


def _simulate(make, signature, key: str, stimulus, groups, *, simulator, waves, design: str):
    """Drive ``stimulus`` into the design ``make()`` builds (only on a simulator cache miss)."""
    from amaranth.back import verilog

    from sim import runner
    from sim.ports import packed_inputs, port_widths

    inputs = packed_inputs(stimulus, port_widths(signature))
    wave_path = _waves_file(waves, simulator, design)
    build = runner.build(lambda: verilog.convert(make(), name=runner.TOPLEVEL),
                         key=key, simulator=simulator, waves=wave_path is not None)
    return runner.run(build, inputs, groups, waves_file=wave_path)


def simulate_matrix_unit(config: Config, stimulus, *, simulator: str | None = None, waves=None,
                         accumulators: bool = False) -> dict[str, np.ndarray]:
    """Replay ``stimulus`` through the matrix unit; returns ``out_valid``, ``out_data`` and,
    with ``accumulators`` (ws/is), the accumulator writes ``acc_valid``/``acc_addr``/
    ``acc_data`` — each (T,) or (T, C) int64, row t latched at the end of cycle t."""
    from hdl.top import array_params, matrix_signature, matrix_top
    from sim.ports import unpack

    simulator = simulator or default_simulator()
    params = array_params(config)
    limits.check_rtl(params.rows, params.cols, "an RTL build of the {size} matrix unit "
                     "(--backend cycle steps the same array in Python)")
    groups = [("out_valid", ["out_data"])]
    if accumulators and params.stationary:
        groups.append(("acc_valid", ["acc_addr", "acc_data"]))
    raw = _simulate(lambda: matrix_top(config), matrix_signature(config), f"mu-{params.key()}",
                    stimulus, groups,
                    simulator=simulator, waves=waves, design=f"matrix_unit_{params.dataflow}")
    C, bits = params.cols, params.acc_bits
    out = {}
    for name, words in raw.items():
        out[name] = unpack(words, C, bits) if name.endswith("_data") else \
            np.asarray(words, np.int64)
    return out


def run_rtl(config: Config, stimulus, waves=None, *, simulator: str | None = None) -> Outputs:
    """The array-boundary outputs of the RTL, cycle for cycle comparable with the cycle model."""
    raw = simulate_matrix_unit(config, stimulus, simulator=simulator, waves=waves)
    return Outputs(raw["out_valid"].astype(bool), raw["out_data"])


def run_activation_rtl(config: Config, acc, *, bias, qm, shift, zero_point: int, act_min: int,
                       act_max: int, relu: bool = False, simulator: str | None = None,
                       waves=None) -> np.ndarray:
    """Rows of int32 accumulators (n, C) through the activation unit → (n, C) activations.

    ``bias``, ``qm`` and ``shift`` are per column (length C) or scalars."""
    from dataclasses import make_dataclass

    from amaranth.hdl import Shape

    from hdl.top import activation_params, activation_signature, activation_top
    from sim.ports import unpack

    simulator = simulator or default_simulator()
    a = config.array
    acc = np.asarray(acc, np.int64)
    if acc.ndim != 2 or acc.shape[1] != a.cols:
        raise TpuError(f"accumulator rows must be (n, {a.cols}), got {acc.shape}")
    n, T = len(acc), len(acc) + 2  # two pipeline stages

    def per_col(v):
        return np.tile(np.broadcast_to(np.asarray(v, np.int64), (a.cols,)), (T, 1))

    fields = ["in_valid", "in_data", "bias", "qm", "shift", "zp", "act_min", "act_max", "relu",
              "fp"]
    stim = make_dataclass("ActivationStimulus", fields)(
        np.r_[np.ones(n, bool), np.zeros(2, bool)], np.vstack([acc, np.zeros((2, a.cols))]),
        per_col(bias), per_col(qm), per_col(shift), np.full(T, zero_point),
        np.full(T, act_min), np.full(T, act_max), np.full(T, int(relu)), np.zeros(T, np.int64),
    )
    p = activation_params(config)
    out_shape = Shape.cast(p["out_shape"])
    key = f"act-{a.cols}-{p['acc_bits']}-{out_shape.width}-{int(out_shape.signed)}"
    raw = _simulate(lambda: activation_top(config), activation_signature(config), key, stim,
                    [("out_valid", ["out_data"])], simulator=simulator, waves=waves,
                    design="activation_unit")
    valid = np.asarray(raw["out_valid"], bool)
    data = unpack(raw["out_data"], a.cols, out_shape.width, out_shape.signed)
    if not np.array_equal(valid, np.r_[False, np.ones(n, bool), False]):
        raise TpuError(f"activation unit returned {valid.sum()} rows for {n} (pipeline bug)")
    return data[valid]
