"""Whole ``tpu run`` processes on full-size real models, beside onnxruntime on the same files.

Models: torchvision MobileNetV2, ResNet-18 and ViT-B/16 at 224x224 (1000 classes), a
BERT-tiny-sized encoder (2 layers, d 128, sequence 128) and Hugging Face transformers' BERT at
bert-base size (12 layers, d 768, sequence 128, token ids and an attention mask), from the
committed skeletons (tests/data/models, random
weights), pre-processed and quantized by onnxruntime as its documentation recommends
(quant_pre_process, then quantize_static: QDQ, u8 activations, s8 per-channel weights, MinMax, 8
calibration inputs), batch 1, on the default edge-32 machine.

Run: .venv/bin/python benchmarks/model_speed.py [--repeat 3]   (needs the dev extra: onnxruntime)

Prints, per model, whether ``tpu run``'s output equals onnxruntime's element for element (with
``--saturate-pairs`` where this CPU's onnxruntime saturates u8·s8 pairs, tests/ort_models.py),
the best wall time and the peak RSS of a ``tpu run MODEL --input X.npy --json R.json`` process
(getrusage of a small launcher's child), and of a process that loads the same model in
onnxruntime and runs the same input; then MobileNetV2's depthwise layers mapped one GEMM per
group and as chosen by default (packed block-diagonal GEMMs or the vector unit); then the float
MobileNetV2 quantized by ``tpu run --calib`` with 8, 16 and 64 calibration images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODELS = ("mobilenet_v2_224", "resnet18_224", "vit_b_16_224", "bert_tiny_s128", "hf_bert_base_s128")
ORT_CHILD = """
import sys, numpy as np, onnxruntime as ort
so = ort.SessionOptions(); so.log_severity_level = 3
s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
feed = dict(x) if sys.argv[2].endswith(".npz") else {s.get_inputs()[0].name: x}
(y,) = s.run(None, feed)
if len(sys.argv) > 3:
    np.save(sys.argv[3], y)
"""


def prepare(name: str, folder: Path) -> tuple[Path, Path]:
    """The QDQ model and a batch-1 input, made with onnxruntime's quantize_static."""
    import logging

    logging.disable(logging.WARNING)  # quantize_static's advice on pre-processing
    from tests.ort_models import quantize, real_model, sample

    float_model = real_model(name, folder)
    x = sample(float_model, 1, seed=2)
    if isinstance(x, list):  # several inputs: a .npz by input name, as tpu run takes them
        names = [i.name for i in onnx.load(str(float_model)).graph.input]
        path = folder / f"{name}.x.npz"
        np.savez(path, **dict(zip(names, x, strict=True)))
    else:
        path = folder / f"{name}.x.npy"
        np.save(path, x)
    qdq = quantize(float_model, folder / f"{name}.qdq.onnx", sample(float_model, 8, seed=1), fmt="qdq",
                   per_channel=True, pre_process=True)
    return qdq, path


# A small launcher runs the command: a child forked from this (large) process would count our
# pages in its peak RSS until it execs; forked from the launcher it starts from a few MiB.
LAUNCHER = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if done.returncode:
    sys.exit(done.stderr.decode())
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one process running ``cmd``."""
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {out.stderr}")
    wall, kib = out.stdout.split()
    return float(wall), int(kib) / 1024


def best(cmd: list[str], repeat: int) -> tuple[float, float]:
    runs = [measure(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def depthwise(model: Path, x: Path) -> None:
    from tpu.compiler import compile as compile_graph
    from tpu.frontend import load_onnx

    graph, inp = load_onnx(model), np.load(x)
    print("\nMobileNetV2 224x224 on edge-32, its 17 depthwise layers:")
    for mode in ("groups", "auto"):
        r = compile_graph(graph, "edge-32", depthwise=mode).run(inp)
        dw = [(s, layer) for s, layer in zip(r.layers, r.program.layers, strict=True) if layer.groups > 1]
        cycles = sum(s.cycles for s, _ in dw)
        macs = sum(layer.macs for _, layer in dw)
        pes = r.program.config.array.rows * r.program.config.array.cols
        how = ", ".join(sorted({layer.mapping for _, layer in dw}))
        print(f"  --depthwise {mode:6s} ({how}): {cycles:>10,} of {r.totals['cycles']:>10,} cycles "
              f"({cycles / r.totals['cycles']:.0%}) for {macs / r.totals['macs']:.0%} of the MACs; "
              f"utilization {macs / (cycles * pes):.2%} on them, {r.totals['utilization']:.1%} overall")


def float_path(tpu_cmd: list[str], folder: Path, repeat: int) -> None:
    """The float export quantized by tpu itself (``--calib``): calibration observes batch by batch,
    so peak memory should not grow with the number of calibration images."""
    from tests.ort_models import real_model, sample

    name = "mobilenet_v2_224"
    float_model = real_model(name, folder)
    x = folder / "x.npy"
    np.save(x, sample(float_model, 1, seed=2))
    print(f"\n{name}, the float export quantized by tpu run --calib (static PTQ, per-channel MinMax):")
    for n in (8, 16, 64):  # observed 16 at a time (tpu.compiler.quantize.CALIB_BATCH)
        calib = folder / f"calib{n}.npy"
        np.save(calib, sample(float_model, n, seed=1))
        t, mem = best([*tpu_cmd, "run", str(float_model), "--input", str(x), "--calib", str(calib)],
                      repeat)
        print(f"  {n:>2} calibration images: {t:.2f} s, {mem:.0f} MiB peak")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS,
                        help="a subset (the depthwise and --calib sections need mobilenet_v2_224)")
    args = parser.parse_args()
    tpu_cmd = [str(Path(sys.executable).with_name("tpu"))]
    print(f"{os.cpu_count()} CPUs; best of {args.repeat} runs; batch 1, edge-32, fast backend\n")
    from tests.ort_models import ORT_SATURATES_U8S8

    exact_flags = ["--saturate-pairs"] if ORT_SATURATES_U8S8 else []
    print(f"{'model':<18} {'tpu run s':>9} {'tpu MiB':>8} {'cycles':>11}   {'onnxruntime s':>13} "
          f"{'ort MiB':>8}   output equal to onnxruntime{' (--saturate-pairs)' if exact_flags else ''}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {}
        for name in args.models:
            model, x = prepare(name, folder)
            inputs[name] = (model, x)
            report = folder / f"{name}.json"
            cmd = [*tpu_cmd, "run", str(model), "--input", str(x), "--json", str(report)]
            t, mem = best(cmd, args.repeat)
            cycles = json.loads(report.read_text())["totals"]["cycles"]
            ot, omem = best([sys.executable, "-c", ORT_CHILD, str(model), str(x)], args.repeat)
            ours, theirs = folder / f"{name}.tpu.npy", folder / f"{name}.ort.npy"
            measure([*cmd, "--output", str(ours), *exact_flags])
            measure([sys.executable, "-c", ORT_CHILD, str(model), str(x), str(theirs)])
            a, b = np.load(ours), np.load(theirs)
            same = (f"{int((a == b).sum()):,} of {b.size:,} elements" if a.shape == b.shape
                    else "shapes differ")
            print(f"{name:<18} {t:>9.2f} {mem:>8.0f} {cycles:>11,}   {ot:>13.2f} {omem:>8.0f}   {same}")
        if "mobilenet_v2_224" in inputs:
            depthwise(*inputs["mobilenet_v2_224"])
            float_path(tpu_cmd, folder, args.repeat)


if __name__ == "__main__":
    main()
