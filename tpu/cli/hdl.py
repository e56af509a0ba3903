"""`tpu hdl verilog|area`: export the Amaranth design as Verilog; synthesis area figures."""

from __future__ import annotations

from pathlib import Path

from tpu.cli.common import OutputFile, add_config_arg, output_folder, write_atomic, write_json
from tpu.config import load_config
from tpu.errors import TpuError
from tpu.report import document


def register(sub) -> None:
    p = sub.add_parser("hdl", help="the RTL: Verilog export, yosys area")
    hsub = p.add_subparsers(dest="hdl_command", required=True, metavar="ACTION")
    v = hsub.add_parser("verilog", help="write the whole machine (tpu_machine.v), the matrix unit "
                                        "and the activation unit as Verilog")
    add_config_arg(v)
    v.add_argument("-o", "--output", required=True, type=output_folder(), metavar="DIR",
                   help="folder for the .v files (created if missing)")
    v.add_argument("--flatten", action="store_true",
                   help="also the machine as one flattened module (tpu_machine_flat.v; the RAMs "
                        "become memory arrays inside it)")
    v.set_defaults(func=run_verilog)
    a = hsub.add_parser("area", help="synthesize with yosys: cells, transistors, per-PE figures")
    add_config_arg(a)
    a.add_argument("--json", type=OutputFile, metavar="F", help="write the figures as JSON")
    a.add_argument("--full", action="store_true",
                   help="also synthesize the whole array (slow beyond ~16×16)")
    a.add_argument("--machine", action="store_true",
                   help="also synthesize the whole machine, SRAMs as macros (slow beyond ~8×8)")
    a.set_defaults(func=run_area)


def run_verilog(args) -> int:
    from hdl.export import machine_params, machine_source, verilog_sources

    config = load_config(args.config)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise TpuError(f"{out}: -o needs a folder, this is a file")
    sources = verilog_sources(config)  # everything generated before anything is written
    if args.flatten:
        params = machine_params(config)
        if params is None:
            raise TpuError(f"--flatten: config {config.name!r} is not one the machine builds "
                           f"(ws dataflow, operands of at most 8 bits, 32-bit accumulators)")
        sources["tpu_machine_flat"] = machine_source(params, flatten=True)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        path = out / f"{name}.v"
        write_atomic(path, lambda p, text=text: p.write_text(text))
        print(f"wrote {path} ({text.count(chr(10)):,} lines)")
    return 0


def run_area(args) -> int:
    from hdl.export import area
    from tpu.cost import load_tech
    from tpu.cost.area import UM2_PER_TRANSISTOR_45NM, pe_area_um2, pe_register_bits

    config = load_config(args.config)
    report = area(config, full=args.full, machine=args.machine)
    analytic = pe_area_um2(load_tech(config.tech.name), config.array)
    report["analytic"] = {
        "tech": config.tech.name,
        "pe_um2": analytic,
        "pe_register_bits": pe_register_bits(config.array),
        "synth_pe_um2": report["pe"]["transistors"] * UM2_PER_TRANSISTOR_45NM,
        "um2_per_transistor": UM2_PER_TRANSISTOR_45NM,
    }
    if args.json:
        body = {k: v for k, v in report.items() if k != "config"}  # the envelope's is the full one
        write_json(args.json, document("hdl-area", config, **body))
    a = config.array
    print(f"{a.rows}×{a.cols} {a.dataflow} array ({config.name}), operands "
          f"{a.act_bits}/{a.weight_bits} bit, accumulators {a.acc_bits} bit; yosys synth -booth")
    pe, est = report["pe"], report["array_estimate"]
    print(f"  one PE          {pe['cells']:>12,} cells {pe['transistors']:>14,} transistors")
    print(f"  PE × {est['pes']:<9,} {est['cells']:>12,} cells {est['transistors']:>14,} transistors")
    an = report["analytic"]
    print(f"  analytic PE     {an['pe_um2']:>12,.0f} µm² ({an['tech']}, {an['pe_register_bits']} register "
          f"bits) vs synthesized ≈ {an['synth_pe_um2']:,.0f} µm² at {an['um2_per_transistor']:.3f} "
          f"µm²/transistor (NanGate45 NAND2_X1; logic only)")
    if "machine" in report:
        mach = report["machine"]
        kib = sum(mach["sram_bytes"].values()) / 1024
        print(f"  whole machine   {mach['cells']:>12,} cells {mach['transistors']:>14,} transistors"
              f"   (logic, native PEs; {kib:,.0f} KiB of SRAM macros beside it)")
    if "array" in report:
        arr = report["array"]
        print(f"  whole array     {arr['cells']:>12,} cells {arr['transistors']:>14,} transistors"
              f"   ({arr['transistors_per_pe']:,.0f} per PE)")
    return 0
