"""``tpu scalesim``: SCALE-Sim 3.0's compute report from its own config and topology files."""

from __future__ import annotations

from tpu.cli.common import OutputFile, write_json
from tpu.config import load_config
from tpu.cost import area
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
             "config's array, SRAM sizes and, in USER bandwidth mode, its bandwidth)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = parse_config(args.cfg)
    layers = parse_topology(args.topology, gemm=args.gemm)
    machine = load_config(args.config) if args.config else machine_from_scalesim(cfg)
    report = simulate(cfg, layers, machine)
    machine_area = area(machine)
    print(format_report(report, machine, machine_area.total))
    if args.json:
        write_json(args.json, scalesim_document(report, machine, machine_area))
    return 0


def format_report(report: Report, machine, area_mm2: float) -> str:
    cfg = report.config
    a, m = machine.array, machine.memory
    lines = [
        f"SCALE-Sim 3.0 compute report (stall-free): {cfg.array_rows}x{cfg.array_cols} "
        f"{cfg.dataflow}, config {cfg.source}",
        f"ours: {machine.name} ({a.rows}x{a.cols} {a.dataflow}, weight buffer "
        f"{m.weight_buffer_bytes >> 10} KiB, unified buffer {m.unified_buffer_bytes >> 10} KiB, "
        f"{m.dram_bytes_per_cycle} DRAM bytes/cycle, {machine.tech.name}), area {area_mm2:.3f} mm²; "
        f"each layer compiled as one GEMM (DMA, buffers, scoreboard)",
    ]
    if cfg.interface_bandwidth == "USER":
        lines.append("note: InterfaceBandwidth is USER; SCALE-Sim would add memory stalls to "
                     "these stall-free compute cycles")
    lines.append("")
    width = max([len("layer"), len("total"), *(len(lt.layer.name) for lt in report.layers)])
    header = (f"{'layer':<{width}}  df  {'folds':>7}  {'cycles':>12}  {'map eff %':>9}  "
              f"{'util %':>7}  {'our cycles':>12}  {'our nJ':>10}  {'our DRAM B':>12}")
    lines += [header, "-" * len(header)]
    for lt in report.layers:
        lines.append(_row(lt.layer.name, lt.dataflow, lt.folds, lt.cycles, lt.mapping_efficiency,
                          lt.utilization, lt, width))
    t = report.totals
    lines += ["-" * len(header),
              _row("total", "", t.folds, t.cycles, t.mapping_efficiency, t.utilization, t, width)]
    return "\n".join(lines)


def _row(name, df, folds, cycles, mapping, util, ours, width) -> str:
    def show(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    return (f"{name:<{width}}  {df:<2}  {folds:>7,}  {cycles:>12,}  {100 * mapping:>9.2f}  "
            f"{100 * util:>7.2f}  {show(ours.our_cycles, ','):>12}  "
            f"{show(None if ours.our_energy_pj is None else ours.our_energy_pj / 1e3, ',.1f'):>10}  "
            f"{show(ours.our_dram_bytes, ','):>12}")
