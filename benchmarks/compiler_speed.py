"""Compiler + fast backend speed: the 360 held-out digits, and one ResNet-18 image.

Run: .venv/bin/python benchmarks/compiler_speed.py
Prints wall-clock seconds (best of --repeat) and peak Python memory (tracemalloc) per stage, and
onnxruntime on the same digits model (the float export, the same 360 images) in the same run
(needs the dev extra).
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

import tpu
from tpu.compiler import compile as compile_graph
from tpu.compiler.quantize import quantize
from tpu.compiler.zoo import resnet18
from tpu.frontend import load_onnx
from tpu.nn.digits import bundled_model, load_digits_split


def best(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def peak_mb(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--config", default="edge-32")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    config = tpu.load_config(args.config)
    x_train, x_test, _, y_test = load_digits_split()

    graph = quantize(load_onnx(bundled_model("cnn")), x_train[:512])
    compiled = compile_graph(graph, config)
    secs, res = best(lambda: compiled.run(x_test), args.repeat)
    acc = np.mean(np.argmax(res.outputs[0], 1) == y_test)
    print(f"digits CNN, {len(x_test)} images, fast backend on {config.name}: {secs:.3f} s "
          f"({len(x_test) / secs:,.0f} images/s), accuracy {acc:.2%}, "
          f"peak {peak_mb(lambda: compiled.run(x_test)):.0f} MiB")
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    session = ort.InferenceSession(str(bundled_model("cnn")), so, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x_test.astype(np.float32)}
    secs, _ = best(lambda: session.run(None, feed), args.repeat)
    print(f"  beside it: onnxruntime {ort.__version__}, the float model on the same images: "
          f"{secs * 1e3:.2f} ms ({len(x_test) / secs:,.0f} images/s)")

    t = time.perf_counter()
    rn = compile_graph(resnet18(), config)
    program = rn.program(1)
    t_compile = time.perf_counter() - t
    image = np.random.default_rng(0).normal(0, 1, (1, 3, 224, 224)).astype(np.float32)
    secs, res = best(lambda: rn.run(image), args.repeat)
    print(f"ResNet-18 int8 (random weights), 1×3×224×224 on {config.name}: compile {t_compile:.2f} s "
          f"({len(program.instrs)} instructions), run {secs:.2f} s; {res.totals['macs'] / 1e9:.2f} GMACs, "
          f"{res.totals['cycles']:,} cycles, utilization {res.totals['utilization']:.1%}, "
          f"peak {peak_mb(lambda: rn.run(image)):.0f} MiB")


if __name__ == "__main__":
    main()
