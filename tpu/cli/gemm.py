"""`tpu gemm`: one integer GEMM on the array, with its report."""

from __future__ import annotations

import dataclasses

import numpy as np

from tpu.array import BACKENDS, gemm
from tpu.array.activity import array_counts, gemm_dram
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
from tpu.config import load_config
from tpu.cost import area, energy
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


def gemm_report(result, config) -> dict:
    counts = dataclasses.replace(array_counts(result.plan, config), dram_bytes=gemm_dram(result.plan, config))
    seconds = result.cycles / config.clock.hz
    return {
        "config": config.to_dict(),
        **result.report(),
        "seconds": seconds,
        "sram_bytes": counts.sram_reads.to_dict(),
        "dram_bytes": counts.dram_bytes.to_dict(),
        "energy_pj": energy(counts, config).to_dict(),
        "area_mm2": area(config).to_dict(),
    }


def run(args) -> int:
    config = load_config(args.config)
    if args.dataflow:
        config = config.replace(dataflow=args.dataflow)
    a, b = _operands(args, config)
    precision = Precision.of(config.array, args.act_bits, args.weight_bits)
    result = gemm(a, b, config, backend=args.backend, waves=args.waves, precision=precision)
    report = gemm_report(result, config)
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
          f"{config.clock.hz / 1e6:g} MHz)")
    print(f"  macs         {report['macs']:>14,}")
    print(f"  utilization  {report['utilization']:>14.1%}")
    print(f"  folds        {report['folds']:>14,}")
    print(f"  overflows    {report['overflows']:>14,}")
    d = report["dram_bytes"]
    print(f"  dram bytes   {sum(d.values()):>14,}   (A {d['inputs']:,}, B {d['weights']:,}, "
          f"C {d['outputs']:,})")
    print(f"  energy       {e['total'] / 1e6:>14.3f} µJ  (mac {e['mac'] / 1e6:.3f}, register "
          f"{e['register'] / 1e6:.3f}, sram {e['sram'] / 1e6:.3f}, dram {e['dram'] / 1e6:.3f})")
    print(f"  area         {report['area_mm2']['total']:>14.3f} mm²")
    return 0


def _operands(args, config):
    if args.shape is not None:
        if args.a or args.b:
            raise TpuError("give either --shape or --a and --b, not both")
        from tpu.config import int_range
        from tpu.roofline import parse_gemm

        m, k, n = parse_gemm(args.shape)
        rng = np.random.default_rng(0)
        arr = config.array
        (alo, ahi), (wlo, whi) = (int_range(arr.act_bits, arr.act_signed),
                                  int_range(arr.weight_bits, arr.weight_signed))
        return rng.integers(alo, ahi + 1, (m, k)), rng.integers(wlo, whi + 1, (k, n))
    if not (args.a and args.b):
        raise TpuError("give the operands: --a A.npy --b B.npy, or --shape MxKxN for random ones")
    return load_npy(args.a, "A"), load_npy(args.b, "B")
