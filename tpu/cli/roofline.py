"""`tpu roofline`: peak MACs/s, DRAM bytes/s, the ridge point, and layers placed under the roof."""

from __future__ import annotations

from tpu.cli.common import OutputFile, add_config_arg, write_figure, write_json
from tpu.cli.run import add_quant_args, prepare, workload
from tpu.config import load_config
from tpu.report import roofline_document

DEFAULT_BATCH = 100  # held-out digits in the default run


def register(sub) -> None:
    p = sub.add_parser("roofline", help="the machine's roofline and each layer of a run as a point "
                                        "(default: the bundled digits CNN on held-out digits)")
    add_config_arg(p)
    p.add_argument("--model", metavar="MODEL", help="ONNX model (default: the bundled digits CNN)")
    p.add_argument("--input", metavar="X.npy", help="input batch (needed with --model)")
    p.add_argument("--calib", metavar="X.npy", help="calibration batch to quantize a float model")
    p.add_argument("--gemm", metavar="MxKxN", action="append", default=[],
                   help="place a single GEMM shape (repeatable); with --gemm alone no model runs")
    add_quant_args(p)
    p.add_argument("--json", type=OutputFile, metavar="F.json", help="write the roof and the points as JSON")
    p.add_argument("--plot", type=OutputFile, metavar="F.png", help="write the roofline plot")
    p.set_defaults(func=run)


def model_result(args, config):
    """Run the model the flags name (or the default digits CNN); None when only GEMMs are asked."""
    from tpu.compiler import compile as compile_graph

    if args.model is None and args.input is None and args.gemm:
        return None
    model, x, calib, _ = workload(args, batch=DEFAULT_BATCH, calib_images=None)
    graph = prepare(model, calib, config, args)
    return compile_graph(graph, config).run(x)


def run(args) -> int:
    from tpu.roofline import GEMM_TIMING, gemm_point, layer_points, parse_gemm, roof, roofline_figure

    config = load_config(args.config)
    shapes = [parse_gemm(s) for s in args.gemm]  # bad shapes fail before any work
    machine = roof(config)
    points = []
    result = model_result(args, config)
    if result is not None:
        points += layer_points(result)
    points += [gemm_point(m, k, n, config) for m, k, n in shapes]

    a = config.array
    print(f"roofline of {config.name}: {a.rows}×{a.cols} {a.dataflow} at "
          f"{config.clock.hz / 1e6:g} MHz, {config.memory.dram_bytes_per_cycle} DRAM bytes/cycle")
    print(f"  peak          {machine.peak_macs_per_s:>12.4g} MACs/s  ({machine.peak_tops:.2f} TOPS)")
    gbs = machine.dram_bytes_per_s / 1e9
    print(f"  DRAM          {machine.dram_bytes_per_s:>12.4g} bytes/s ({gbs:.1f} GB/s)")
    print(f"  ridge         {machine.ridge_macs_per_byte:>12,.0f} MACs per DRAM byte")
    if points:
        print(f"\n  {'point':<16} {'source':<6} {'MACs':>14} {'DRAM B':>12} {'MACs/B':>9} "
              f"{'cycles':>11} {'TOPS':>8} {'roof':>8} {'of roof':>8}  bound")
        for p in points:
            inten = "inf" if p.dram_bytes == 0 else f"{p.intensity:,.1f}"
            print(f"  {p.name:<16} {p.source:<6} {p.macs:>14,} {p.dram_bytes:>12,} {inten:>9} "
                  f"{p.cycles:>11,} {p.achieved_tops:>8.3f} "
                  f"{2 * p.attainable_macs_per_s / 1e12:>8.3f} {p.fraction_of_roof:>8.1%}  {p.bound}")
        print("\n  timing: compiler scoreboard with the configured DRAM bandwidth (stalls included)")
        if shapes:
            print(f"  GEMM shapes: {GEMM_TIMING}")
    if args.json:
        write_json(args.json, roofline_document(config, machine, points, timing="compiler scoreboard",
                                                gemm_timing=GEMM_TIMING if shapes else None))
    if args.plot:
        fig = roofline_figure(machine, points)
        write_figure(args.plot, fig, dpi=110)
    return 0
