"""`tpu gemm`: one integer GEMM on the array, with its report."""

from __future__ import annotations

import numpy as np

from tpu.array import BACKENDS, gemm
from tpu.array.numerics import float_dtype
from tpu.array.precision import MAX_OPERAND_BITS, Precision
from tpu.cli.common import (
    OutputFile,
    add_config_arg,
    int_arg,
    load_npy,
    output_folder,
    write_json,
    write_npy,
)
from tpu.compiler.gemm import run_gemm
from tpu.config import int_range, load_config
from tpu.cost import Energy, area
from tpu.errors import TpuError
from tpu.report import gemm_document


def register(sub) -> None:
    p = sub.add_parser("gemm", help="run one integer GEMM C = A·B on the array")
    p.add_argument("--a", metavar="A.npy", help="activations, m×k integers")
    p.add_argument("--b", metavar="B.npy", help="weights, k×n integers")
    p.add_argument("--shape", metavar="MxKxN", help="instead of --a/--b: random operands over the "
                   "array's operand ranges, A m×k and B k×n (the order every tpu command uses)")
    add_config_arg(p)
    p.add_argument("--dataflow", choices=("ws", "os", "is"), help="override the config's dataflow")
    p.add_argument("--backend", choices=BACKENDS, default="fast")
    p.add_argument("--act-bits", type=operand_width, metavar="N",
                   help="A's width, 1..16 (default: the array's; wider runs in slices, narrower "
                        "packed several to a PE; 1 is binary ±1)")
    p.add_argument("--weight-bits", type=operand_width, metavar="N", help="B's width, likewise")
    p.add_argument("--output", type=OutputFile, metavar="C.npy", help="write C (int64, exact)")
    p.add_argument("--json", type=OutputFile, metavar="R.json", help="write the report as JSON")
    p.add_argument("--waves", type=output_folder(), metavar="DIR",
                   help="rtl backend: write waveforms into DIR")
    p.set_defaults(func=run)


def operand_width(text: str) -> int:
    """Argument type of a declared operand width: 1..16 (1: binary ±1)."""
    return int_arg(text, "an operand width", 1, MAX_OPERAND_BITS)


def gemm_report(result, machine, config) -> dict:
    """The GEMM as the machine runs it (``machine``: a one-GEMM program's run — DMA, buffers,
    scoreboard), with the array's own figures (``result``: values, folds, overflows,
    ``array_cycles``)."""
    t = machine.totals
    pes = config.array.rows * config.array.cols
    array = result.report()
    return {
        "config": config.to_dict(),
        **array,
        "array_cycles": array["cycles"],
        "cycles": t["cycles"],
        "stall_cycles": t["stall_cycles"],
        "utilization": result.macs / (t["cycles"] * pes) if t["cycles"] else 0.0,
        "seconds": t["seconds"],
        "sram_bytes": t["sram_bytes"],
        "dram_bytes": t["dram_bytes"],
        "energy_pj": t["energy_pj"],
        "area_mm2": area(config).to_dict(),
    }


def run(args) -> int:
    config = load_config(args.config)
    if args.dataflow:
        config = config.replace(dataflow=args.dataflow)
    precision = Precision.of(config.array, args.act_bits, args.weight_bits)
    a, b = _operands(args, precision, config.array.format)
    result = gemm(a, b, config, backend=args.backend, waves=args.waves, precision=precision)
    # the operands are valid (gemm checked them): the machine's run for timing and traffic
    machine = run_gemm(np.asarray(a, np.int64), np.asarray(b, np.int64), config, precision)
    report = gemm_report(result, machine, config)
    if args.output:
        write_npy(args.output, result.output)
    if args.json:
        write_json(args.json, gemm_document(report))
    e = report["energy_pj"]
    print(f"C = A·B: {report['m']}×{report['k']} · {report['k']}×{report['n']} on "
          f"{config.array.rows}×{config.array.cols} {config.array.dataflow} ({config.name}), "
          f"backend {args.backend}")
    pr = report["precision"]
    print(f"  operands     W{pr['weight_bits']}A{pr['act_bits']} on {config.array.weight_bits}×"
          f"{config.array.act_bits}-bit PEs: {pr['passes']} pass{'es' if pr['passes'] > 1 else ''}"
          f" (A in {pr['act_slices']} slice(s), B in {pr['weight_slices']}), {pr['lanes']} "
          f"lane{'s' if pr['lanes'] > 1 else ''} per PE")
    print(f"  cycles       {report['cycles']:>14,}   ({report['seconds'] * 1e6:.2f} µs at "
          f"{config.clock.hz / 1e6:g} MHz; DMA, buffers and array; {report['stall_cycles']:,} "
          f"waiting for DRAM)")
    print(f"  array cycles {report['array_cycles']:>14,}   (the array alone, operands already on chip)")
    print(f"  macs         {report['macs']:>14,}")
    print(f"  utilization  {report['utilization']:>14.1%}")
    print(f"  folds        {report['folds']:>14,}")
    print(f"  overflows    {report['overflows']:>14,}")
    d = report["dram_bytes"]
    print(f"  dram bytes   {sum(d[k] for k in ('inputs', 'weights', 'outputs')):>14,}   "
          f"(A {d['inputs']:,}, B {d['weights']:,}, "
          f"C {d['outputs']:,})")
    parts = ", ".join(f"{k} {e[k] / 1e6:.3f}" for k in Energy.components() if e[k] or k == "leakage")
    print(f"  energy       {e['total'] / 1e6:>14.3f} µJ  ({parts})")
    print(f"  area         {report['area_mm2']['total']:>14.3f} mm²")
    return 0


def _operands(args, precision: Precision, fmt: str = "int"):
    if args.shape is not None:
        if args.a or args.b:
            raise TpuError("give either --shape or --a and --b, not both")
        from tpu.roofline import parse_gemm

        m, k, n = parse_gemm(args.shape)
        rng = np.random.default_rng(0)

        def draw(what, shape):  # over the declared width's range (binary: ±1; floats: N(0, 1))
            if fmt != "int":
                return rng.standard_normal(shape).astype(float_dtype(fmt)).astype(np.float64)
            bits, signed = precision.operand(what)
            if bits == 1:
                return rng.choice(np.array([-1, 1]), shape)
            lo, hi = int_range(bits, signed)
            return rng.integers(lo, hi + 1, shape)

        return draw("act", (m, k)), draw("weight", (k, n))
    if not (args.a and args.b):
        raise TpuError("give the operands: --a A.npy --b B.npy, or --shape MxKxN for random ones")
    return load_npy(args.a, "A"), load_npy(args.b, "B")
