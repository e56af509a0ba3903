"""Issue 13's acceptance run: a quarter-width ResNet-18 quantized by onnxruntime (QOperator)
runs on the 32×32 RTL machine (edge-32) for one image, from a cold simulator build cache.

Usage: python benchmarks/rtl_resnet18.py [--image 224] [--warm]

Prints the wall time of the whole RTL run including the Verilator build (a fresh cache folder
unless --warm), checks that the output equals onnxruntime's and the cycle-level Python
machine's, and that the DUT's cycle counter equals the cycles the report gives. The model is
``tpu.machine.workloads.resnet18_onnx`` (random weights); activations u8, weights s8, MinMax
calibration on 8 random images; on CPUs without VNNI the weights are 7-bit (reduce_range), so
that onnxruntime's u8×s8 kernel does not saturate pairs of products.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.ort_models: the oracle

from tests.ort_models import ORT_SATURATES_U8S8, ort_run, quantize  # noqa: E402
from tpu.compiler import compile as compile_graph  # noqa: E402
from tpu.config import load_config  # noqa: E402
from tpu.frontend import load_onnx  # noqa: E402
from tpu.machine.workloads import resnet18_onnx  # noqa: E402


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--warm", action="store_true", help="reuse the user's simulator cache")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="tpu-resnet18-"))
    if not args.warm:
        os.environ["TPU_SIM_CACHE"] = str(tmp / "sim-cache")  # cold: nothing built yet
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    model = resnet18_onnx(tmp / "resnet18_w025.onnx", image=args.image)
    calib = rng.standard_normal((8, 3, args.image, args.image)).astype(np.float32)
    qmodel = quantize(model, tmp / "resnet18_w025.qop.onnx", calib, fmt="qoperator", act="u8",
                      reduce_range=ORT_SATURATES_U8S8)
    x = rng.standard_normal((1, 3, args.image, args.image)).astype(np.float32)
    ort = ort_run(qmodel, x)
    compiled = compile_graph(load_onnx(qmodel), load_config("edge-32"))
    prep = time.perf_counter() - t
    t = time.perf_counter()
    rtl = compiled.run(x, backend="rtl")
    rtl_wall = time.perf_counter() - t
    t = time.perf_counter()
    machine = compiled.run(x, backend="machine")
    machine_wall = time.perf_counter() - t
    fast = compiled.run(x)
    same_fast = np.array_equal(rtl.outputs[0], fast.outputs[0])
    rep = rtl.report()
    info = rep["rtl"]
    same_ort = np.array_equal(rtl.outputs[0], ort)
    same_machine = np.array_equal(rtl.outputs[0], machine.outputs[0])
    cycles = rep["totals"]["cycles"]
    host = rep["machine"]["host_steps"]
    print(f"model: quarter-width ResNet-18, {args.image}×{args.image}, onnxruntime QOperator "
          f"(u8 activations, s8 weights{', 7-bit' if ORT_SATURATES_U8S8 else ''}); "
          f"{len(compiled.program(1).layers)} layers; edge-32 (32×32 ws)")
    print(f"RTL run incl. {'cold' if not args.warm else 'cached'} build: {rtl_wall:.0f} s "
          f"(build {info['build_wall_s']:.0f} s, simulation {info['sim_wall_s']:.1f} s over "
          f"{rep['machine']['segments']} segments); Python machine: {machine_wall:.0f} s; "
          f"model, ORT quantization and compile: {prep:.1f} s")
    print(f"cycles: report {cycles:,}, DUT counter {info['dut_cycles']:,}, Python machine "
          f"{machine.totals['cycles']:,}, the compiler's scoreboard {fast.totals['cycles']:,}; "
          f"host steps: {len(host)} "
          f"({', '.join(sorted({h['op'] for h in host}))})")
    print(f"output equals onnxruntime: {same_ort}; equals the Python machine: {same_machine}; "
          f"equals the fast backend: {same_fast}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    ok = same_ort and same_machine and same_fast and cycles == info["dut_cycles"] == machine.totals["cycles"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
