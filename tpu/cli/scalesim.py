"""``tpu scalesim``: SCALE-Sim 3.0's compute report from its own config and topology files."""

from __future__ import annotations

import sys

from tpu.cli.common import OutputFile, write_json
from tpu.config import load_config
from tpu.report import scalesim_document
from tpu.scalesim import (
    Report,
    machine_from_scalesim,
    parse_config,
    parse_topology,
    simulate,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scalesim",
        help="SCALE-Sim 3.0 compatible compute report (cycles, mapping efficiency, utilization)",
        description=(
            "Read a SCALE-Sim 3.0 config (.cfg) and topology (.csv) and report, per layer and in "
            "total, the stall-free compute cycles, mapping efficiency and utilization SCALE-Sim "
            "reports, beside the cycles our machine takes for the same layers."
        ),
    )
    p.add_argument("-c", "--cfg", required=True, metavar="CFG",
                   help="SCALE-Sim config file (INI: [architecture_presets] ArrayHeight, ...)")
    p.add_argument("-t", "--topology", required=True, metavar="TOPO",
                   help="SCALE-Sim topology CSV (conv rows name,H,W,FH,FW,C,N,stride,)")
    p.add_argument("--gemm", action="store_true",
                   help="the topology has GEMM rows name,M,N,K, (SCALE-Sim's -i gemm)")
    p.add_argument("--json", type=OutputFile, metavar="OUT", default=None,
                   help="also write the report as JSON")
    p.add_argument(
        "--config", default=None, metavar="OURCFG",
        help="our machine: preset name or TOML file (default: edge-32 with the SCALE-Sim "
             "config's ArrayHeight, ArrayWidth and Dataflow)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = parse_config(args.cfg)
    layers = parse_topology(args.topology, gemm=args.gemm)
    machine = load_config(args.config) if args.config else machine_from_scalesim(cfg)
    try:
        report = simulate(cfg, layers, machine)
    except ImportError as exc:  # tpu.array.gemm_cycles not built yet: report SCALE-Sim's side
        print(f"tpu scalesim: note: our cycles unavailable ({exc})", file=sys.stderr)
        report = simulate(cfg, layers)
    print(format_report(report, machine))
    if args.json:
        write_json(args.json, scalesim_document(report, machine))
    return 0


def format_report(report: Report, machine) -> str:
    cfg = report.config
    a = machine.array
    lines = [
        f"SCALE-Sim 3.0 compute report (stall-free): {cfg.array_rows}x{cfg.array_cols} "
        f"{cfg.dataflow}, config {cfg.source}",
        f"our machine: {machine.name} ({a.rows}x{a.cols} {a.dataflow})",
    ]
    if cfg.interface_bandwidth == "USER":
        lines.append("note: InterfaceBandwidth is USER; SCALE-Sim would add memory stalls to "
                     "these stall-free compute cycles")
    lines.append("")
    width = max([len("layer"), len("total"), *(len(lt.layer.name) for lt in report.layers)])
    header = (f"{'layer':<{width}}  df  {'folds':>7}  {'cycles':>12}  {'map eff %':>9}  "
              f"{'util %':>7}  {'our cycles':>12}")
    lines += [header, "-" * len(header)]
    for lt in report.layers:
        lines.append(_row(lt.layer.name, lt.dataflow, lt.folds, lt.cycles, lt.mapping_efficiency,
                          lt.utilization, lt.our_cycles, width))
    t = report.totals
    lines += ["-" * len(header),
              _row("total", "", t.folds, t.cycles, t.mapping_efficiency, t.utilization,
                   t.our_cycles, width)]
    return "\n".join(lines)


def _row(name, df, folds, cycles, mapping, util, ours, width) -> str:
    our = "n/a" if ours is None else f"{ours:,}"
    return (f"{name:<{width}}  {df:<2}  {folds:>7,}  {cycles:>12,}  {100 * mapping:>9.2f}  "
            f"{100 * util:>7.2f}  {our:>12}")
