"""`tpu run`: compile a model for the array and run it; default: the bundled digits CNN."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tpu import workloads
from tpu.array import BACKENDS
from tpu.cli.common import (
    OutputFile,
    add_config_arg,
    bit_width,
    output_folder,
    write_figure,
    write_json,
    write_npy,
    write_text,
)
from tpu.config import load_config
from tpu.files import batch_size

PLOT_FILES = ("cycles.png", "energy.png", "roofline.png")  # what --plots DIR holds


def register(sub) -> None:
    p = sub.add_parser("run", help="compile an ONNX model for the array and run it "
                                   "(default: the bundled digits CNN on the held-out digits)")
    p.add_argument("model", nargs="?", help="ONNX model (float or quantized by onnxruntime)")
    add_config_arg(p)
    p.add_argument("--input", metavar="X.npy", help="input batch (the model's input shape and type; "
                                                    "X.npz: one array per input, by input name)")
    p.add_argument("--calib", metavar="X.npy", help="calibration batch to quantize a float model "
                                                    "(X.npz: one array per input, by name)")
    p.add_argument("--output", type=OutputFile, metavar="Y.npy", help="write the model's output")
    p.add_argument("--backend", choices=(*BACKENDS, "machine"), default="fast",
                   help="fast (tile level), cycle (per-cycle array model), machine (the whole "
                        "program on the cycle-level Python machine) or rtl (the whole program on "
                        "the RTL machine, free-running in Verilator)")
    p.add_argument("--requant", choices=("float", "fixed"), default="float",
                   help="float: onnxruntime/MLAS float32 requantization (bit-exact with ORT); "
                        "fixed: gemmlowp int32 multiplier + shift (TFLite reference kernels)")
    p.add_argument("--saturate-pairs", action="store_true",
                   help="reproduce onnxruntime on x86 CPUs with AVX2 but no VNNI, whose u8 x s8 "
                        "kernels add pairs of products in int16 with saturation (values of those "
                        "layers from that emulation, timing from the array)")
    add_mapping_arg(p)
    add_quant_args(p)
    p.add_argument("--json", type=OutputFile, metavar="R.json", help="write the report as JSON")
    p.add_argument("--csv", type=OutputFile, metavar="LAYERS.csv", help="write the per-layer figures as CSV")
    p.add_argument("--plots", type=output_folder(*PLOT_FILES), metavar="DIR",
                   help="write cycles/utilization and energy plots")
    p.add_argument("--waves", type=output_folder(), metavar="DIR",
                   help="rtl backend: write waveforms into DIR")
    p.set_defaults(func=run)


def add_mapping_arg(p) -> None:
    p.add_argument("--depthwise", choices=("auto", "groups", "packed", "vector"), default="auto",
                   help="grouped/depthwise convolutions: one GEMM per group, several groups per GEMM "
                        "(block-diagonal weights), the vector unit, or auto: the faster of packed "
                        "and vector (default)")


def add_quant_args(p) -> None:
    g = p.add_argument_group("quantization of float models")
    g.add_argument("--method", choices=("minmax", "percentile", "kl", "mse"), default="minmax",
                   help="activation calibration (default minmax)")
    g.add_argument("--per-tensor", action="store_true", help="per-tensor weights (default per-channel)")
    g.add_argument("--act-bits", type=bit_width, help="activation bits (default: the array's)")
    g.add_argument("--weight-bits", type=bit_width, help="weight bits (default: the array's)")
    g.add_argument("--layer-bits", metavar="FILE.toml",
                   help="per-layer widths: a table per layer name with weight_bits (1..16) and "
                        "act_bits (2..16); the other layers take --weight-bits/--act-bits")


def prepare(model, calib, config, args):
    """Load the model; quantize it (per the CLI flags) when it is float."""
    from tpu.compiler.widths import load_layer_bits

    a = config.array
    layer_bits = load_layer_bits(args.layer_bits) if getattr(args, "layer_bits", None) else None
    return workloads.prepare(
        model, calib, per_channel=not args.per_tensor, method=args.method, layer_bits=layer_bits,
        act_bits=min(8, a.act_bits) if args.act_bits is None else args.act_bits,
        weight_bits=min(8, a.weight_bits) if args.weight_bits is None else args.weight_bits)


def workload(args, *, batch: int | None = None, calib_images: int | None = 512):
    """:func:`tpu.workloads.load` of the model, input and calibration the flags name."""
    return workloads.load(args.model, args.input, args.calib, batch=batch,
                          calib_images=calib_images)


def run(args) -> int:
    from rich.console import Console

    from tpu.compiler import compile as compile_graph
    from tpu.report import layer_table, run_document, to_csv

    config = load_config(args.config)
    model, x, calib, labels = workload(args)
    graph = prepare(model, calib, config, args)
    compiled = compile_graph(graph, config, depthwise=args.depthwise)
    console = Console() if Console().is_terminal else Console(width=132)
    with _layer_progress(console, f"{args.backend} backend") as progress:
        result = compiled.run(x, backend=args.backend, requant=args.requant, waves=args.waves,
                              saturate_pairs=args.saturate_pairs, progress=progress,
                              tensors=False)  # each tensor freed after its last reader
    report = result.report()
    y = result.outputs[0]
    if labels is not None:
        report["accuracy"] = float(np.mean(np.argmax(y, axis=1) == labels))
    if args.output:
        write_npy(args.output, y)
    if args.json:
        write_json(args.json, run_document(report))
    if args.csv:
        write_text(args.csv, to_csv(run_document(report), "layers"))
    a = config.array
    title = (f"{graph.name}: batch {batch_size(x)} on {a.rows}×{a.cols} {a.dataflow} ({config.name}), "
             f"backend {args.backend}")
    console.print(layer_table(report, title))
    t = report["totals"]
    console.print(f"{t['cycles']:,} cycles = {t['seconds'] * 1e6:,.1f} µs at "
                  f"{config.clock.hz / 1e6:g} MHz; {t['energy_pj']['total'] / 1e6:,.2f} µJ "
                  f"({t['energy_pj']['total'] / 1e3 / batch_size(x):,.1f} nJ per input, "
                  f"{t['energy_pj']['leakage'] / 1e6:,.2f} µJ of it leakage); area "
                  f"{report['area_mm2']['total']:.2f} mm²")
    if report["float_islands"]:
        names = report["float_islands"]
        console.print(f"float islands (float32 on the vector unit, as onnxruntime runs them): {len(names)} "
                      f"layer(s): {', '.join(names[:6])}{' …' if len(names) > 6 else ''}")
    if "accuracy" in report:
        console.print(f"accuracy on {len(labels)} held-out digits: {report['accuracy']:.2%}")
    if args.plots:
        for path in _write_plots(report, result, Path(args.plots)):
            console.print(f"wrote {path}")
    return 0


@contextmanager
def _layer_progress(console, what: str):
    """A progress bar over layers on a terminal; nothing when output is redirected."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"running ({what})", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _write_plots(report, result, folder):
    from tpu.report import run_figures
    from tpu.roofline import layer_points, roof, roofline_figure

    figures = run_figures(report)
    figures["roofline.png"] = roofline_figure(roof(result.program.config), layer_points(result),
                                              result.program.name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        write_figure(folder / name, fig)
    return [folder / name for name in figures]
